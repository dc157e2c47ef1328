/**
 * Schema validation of rendered manifests against the Kubernetes API types, as generated from the
 * Kubernetes v1.34 OpenAPI spec into @kubernetes/client-node's models (already a dependency; no
 * schema download). Catches unknown fields (a misspelt `readOnlyRootFileSystem` is silently
 * dropped by kubectl apply with client-side defaults), wrong value types and missing required
 * fields. Enum values and cross-field rules (the API server's own validation) are not covered.
 *
 * Custom resources have no model there. The ones deploy/ creates (cert-manager's Certificate and
 * Issuer, deploy/components/hubble-cert-manager; the Prometheus Operator's PodMonitor,
 * deploy/components/prometheus-podmonitor) are checked against CRD_TYPES below instead: the
 * fields deploy/ can use, with their types, required fields and enum values, written from the
 * CRDs' openAPIV3Schema; any other custom resource is reported as having no schema.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { K8sObject } from './helpers.js';

interface Attr { name: string; baseName: string; type: string; format: string }
type Model = { getAttributeTypeMap(): Attr[] };

const k8sModels = k8s as unknown as Record<string, Model | undefined>;

/** A custom resource type: JSON field → type (the checker's syntax, plus `Enum<a|b>` for enums). */
interface CrdType { readonly fields: Readonly<Record<string, string>>; readonly required?: readonly string[] }

const KEY_USAGES = ['signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement',
  'data encipherment', 'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth',
  'code signing', 'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping',
  'ocsp signing', 'microsoft sgc', 'netscape sgc'];

/**
 * cert-manager.io/v1, from cert-manager's deploy/crds/cert-manager.io_{certificates,issuers}.yaml.
 * Nested objects deploy/ does not use (keystores, subject, acme, vault, …) are `object`: present
 * or not, not looked into.
 */
const CRD_TYPES: Readonly<Record<string, CrdType>> = {
  CertManagerV1Certificate: { fields: { apiVersion: 'string', kind: 'string', metadata: 'V1ObjectMeta', spec: 'CertManagerV1CertificateSpec', status: 'object' }, required: ['spec'] },
  CertManagerV1CertificateSpec: {
    fields: {
      additionalOutputFormats: 'Array<object>', commonName: 'string', dnsNames: 'Array<string>', duration: 'string',
      emailAddresses: 'Array<string>', encodeUsagesInRequest: 'boolean', ipAddresses: 'Array<string>', isCA: 'boolean',
      issuerRef: 'CertManagerV1IssuerRef', keystores: 'object', literalSubject: 'string', nameConstraints: 'object',
      otherNames: 'Array<object>', privateKey: 'CertManagerV1CertificatePrivateKey', renewBefore: 'string',
      renewBeforePercentage: 'number', revisionHistoryLimit: 'number', secretName: 'string', secretTemplate: 'object',
      signatureAlgorithm: 'Enum<SHA256WithRSA|SHA384WithRSA|SHA512WithRSA|ECDSAWithSHA256|ECDSAWithSHA384|ECDSAWithSHA512|PureEd25519>',
      subject: 'object', uris: 'Array<string>', usages: `Array<Enum<${KEY_USAGES.join('|')}>>`,
    },
    required: ['issuerRef', 'secretName'],
  },
  CertManagerV1IssuerRef: { fields: { group: 'string', kind: 'string', name: 'string' }, required: ['name'] },
  CertManagerV1CertificatePrivateKey: {
    fields: { algorithm: 'Enum<RSA|ECDSA|Ed25519>', encoding: 'Enum<PKCS1|PKCS8>', rotationPolicy: 'Enum<Never|Always>', size: 'number' },
  },
  CertManagerV1Issuer: { fields: { apiVersion: 'string', kind: 'string', metadata: 'V1ObjectMeta', spec: 'CertManagerV1IssuerSpec', status: 'object' }, required: ['spec'] },
  CertManagerV1IssuerSpec: { fields: { acme: 'object', ca: 'CertManagerV1CAIssuer', selfSigned: 'CertManagerV1SelfSignedIssuer', vault: 'object', venafi: 'object' } },
  CertManagerV1CAIssuer: {
    fields: { crlDistributionPoints: 'Array<string>', issuingCertificateURLs: 'Array<string>', ocspServers: 'Array<string>', secretName: 'string' },
    required: ['secretName'],
  },
  CertManagerV1SelfSignedIssuer: { fields: { crlDistributionPoints: 'Array<string>' } },
};
const RELABEL_ACTIONS = ['replace', 'Replace', 'keep', 'Keep', 'drop', 'Drop', 'hashmod', 'HashMod', 'labelmap', 'LabelMap',
  'labeldrop', 'LabelDrop', 'labelkeep', 'LabelKeep', 'lowercase', 'Lowercase', 'uppercase', 'Uppercase', 'keepequal', 'KeepEqual',
  'dropequal', 'DropEqual'];
const SCRAPE_PROTOCOLS = ['PrometheusProto', 'OpenMetricsText0.0.1', 'OpenMetricsText1.0.0', 'PrometheusText0.0.4', 'PrometheusText1.0.0'];

/**
 * monitoring.coreos.com/v1 PodMonitor, from the Prometheus Operator's
 * example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml (operator 0.91):
 * deploy/components/prometheus-podmonitor. Authentication, TLS and proxy settings are `object`.
 */
const MONITORING_TYPES: Readonly<Record<string, CrdType>> = {
  MonitoringV1PodMonitor: { fields: { apiVersion: 'string', kind: 'string', metadata: 'V1ObjectMeta', spec: 'MonitoringV1PodMonitorSpec', status: 'object' }, required: ['spec'] },
  MonitoringV1PodMonitorSpec: {
    fields: {
      attachMetadata: 'object', bodySizeLimit: 'string', convertClassicHistogramsToNHCB: 'boolean',
      fallbackScrapeProtocol: `Enum<${SCRAPE_PROTOCOLS.join('|')}>`, jobLabel: 'string', keepDroppedTargets: 'number',
      labelLimit: 'number', labelNameLengthLimit: 'number', labelValueLengthLimit: 'number',
      namespaceSelector: 'MonitoringV1NamespaceSelector', nativeHistogramBucketLimit: 'number', nativeHistogramMinBucketFactor: 'IntOrString',
      podMetricsEndpoints: 'Array<MonitoringV1PodMetricsEndpoint>', podTargetLabels: 'Array<string>', sampleLimit: 'number',
      scrapeClass: 'string', scrapeClassicHistograms: 'boolean', scrapeNativeHistograms: 'boolean',
      scrapeProtocols: `Array<Enum<${SCRAPE_PROTOCOLS.join('|')}>>`, selector: 'V1LabelSelector',
      selectorMechanism: 'Enum<RelabelConfig|RoleSelector>', targetLimit: 'number',
    },
    required: ['selector'],
  },
  MonitoringV1NamespaceSelector: { fields: { any: 'boolean', matchNames: 'Array<string>' } },
  MonitoringV1PodMetricsEndpoint: {
    fields: {
      authorization: 'object', basicAuth: 'object', bearerTokenSecret: 'object', enableHttp2: 'boolean', filterRunning: 'boolean',
      followRedirects: 'boolean', honorLabels: 'boolean', honorTimestamps: 'boolean', interval: 'string',
      metricRelabelings: 'Array<MonitoringV1RelabelConfig>', noProxy: 'string', oauth2: 'object', params: 'object', path: 'string',
      port: 'string', portNumber: 'number', proxyConnectHeader: 'object', proxyFromEnvironment: 'boolean', proxyUrl: 'string',
      relabelings: 'Array<MonitoringV1RelabelConfig>', scheme: 'string', scrapeTimeout: 'string', targetPort: 'IntOrString',
      tlsConfig: 'object', trackTimestampsStaleness: 'boolean',
    },
  },
  MonitoringV1RelabelConfig: {
    fields: {
      action: `Enum<${RELABEL_ACTIONS.join('|')}>`, modulus: 'number', regex: 'string', replacement: 'string', separator: 'string',
      sourceLabels: 'Array<string>', targetLabel: 'string',
    },
  },
};

/** apiVersion → the prefix of its CRD_TYPES names. */
const CRD_GROUPS: Readonly<Record<string, string>> = { 'cert-manager.io/v1': 'CertManagerV1', 'monitoring.coreos.com/v1': 'MonitoringV1' };

const crdModel = (t: CrdType): Model => ({
  getAttributeTypeMap: () => Object.entries(t.fields).map(([name, type]) => ({ name, baseName: name, type, format: '' })),
});
const ALL_CRD_TYPES: Readonly<Record<string, CrdType>> = { ...CRD_TYPES, ...MONITORING_TYPES };
const models: Record<string, Model | undefined> = {
  ...k8sModels,
  ...Object.fromEntries(Object.entries(ALL_CRD_TYPES).map(([name, t]) => [name, crdModel(t)])),
};
const require = createRequire(import.meta.url);
const MODELS_DIR = join(dirname(require.resolve('@kubernetes/client-node')), 'gen', 'models');

const requiredCache = new Map<string, Set<string>>();
/**
 * Required JSON fields of a model: `'field': T;` (not `'field'?: T;`) in its generated .d.ts;
 * for a custom resource type, its `required` list.
 */
function required(model: string): Set<string> {
  let r = requiredCache.get(model);
  if (!r) {
    const crd = ALL_CRD_TYPES[model];
    if (crd) {
      r = new Set(crd.required ?? []);
    } else {
      const dts = readFileSync(join(MODELS_DIR, `${model}.d.ts`), 'utf8');
      const names = new Set([...dts.matchAll(/^\s+'([A-Za-z_][A-Za-z0-9_]*)':\s/gm)].map((m) => m[1]!));
      const attrs = models[model]!.getAttributeTypeMap();
      r = new Set(attrs.filter((a) => names.has(a.name)).map((a) => a.baseName));
    }
    requiredCache.set(model, r);
  }
  return r;
}

/** `apps/v1` + `DaemonSet` → `V1DaemonSet`; `cert-manager.io/v1` + `Issuer` → `CertManagerV1Issuer`. */
export function modelName(apiVersion: string, kind: string): string {
  const crd = CRD_GROUPS[apiVersion];
  if (crd) return `${crd}${kind}`;
  const version = apiVersion.split('/').pop()!;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

function check(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) { out.push(`${path}: expected a list`); return; }
    value.forEach((v, i) => check(v, arr[1]!, `${path}[${i}]`, out));
    return;
  }
  const en = /^Enum<(.+)>$/.exec(type);
  if (en) {
    if (typeof value !== 'string' || !en[1]!.split('|').includes(value)) out.push(`${path}: ${JSON.stringify(value)} is not one of ${en[1]}`);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) { out.push(`${path}: expected a map`); return; }
    for (const [k, v] of Object.entries(value)) check(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  switch (type) {
    case 'string': case 'Date': case 'V1MicroTime':
      if (typeof value !== 'string') out.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') out.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${path}: expected true/false, got ${JSON.stringify(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && typeof value !== 'number') out.push(`${path}: expected an int or a string`);
      return;
    case 'any': case 'object':
      return;
  }
  const model = models[type];
  if (!model?.getAttributeTypeMap) { out.push(`${path}: no schema for type ${type}`); return; }
  if (typeof value !== 'object' || Array.isArray(value)) { out.push(`${path}: expected an object (${type})`); return; }
  const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const a = attrs.get(k);
    if (!a) out.push(`${path}.${k}: unknown field of ${type}`);
    else check(v, a.type, `${path}.${k}`, out);
  }
  for (const k of required(type)) {
    if ((value as Record<string, unknown>)[k] === undefined) out.push(`${path}: missing required field ${k} (${type})`);
  }
}

/** Schema problems of one object, as `Kind/name.path: message`. */
export function schemaProblems(o: K8sObject): string[] {
  const out: string[] = [];
  const model = modelName(o.apiVersion, o.kind);
  if (!models[model]?.getAttributeTypeMap) return [`${o.kind}/${o.metadata.name}: no schema for ${o.apiVersion} ${o.kind}`];
  check(o, model, `${o.kind}/${o.metadata.name}`, out);
  return out;
}
