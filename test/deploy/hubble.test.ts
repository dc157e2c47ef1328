/**
 * deploy/overlays/hubble (production + deploy/components/hubble + hubble-cert-manager): the agents
 * serve the Hubble API with mTLS from the certificates cert-manager issues, Relay finds them through
 * the peer Service and verifies the names they announce, the UI reads from Relay. Checked against
 * the code: the settings the manifest sets (SETTINGS and the agent's own loader), the agent's RBAC
 * (REQUIRED_RBAC + NODE_WATCH_RBAC), the TLS server names (tlsServerName of src/hubble/peer.ts).
 * The openssl recipe for clusters without cert-manager is run, and its certificates are loaded by
 * the agent's TLS loader. manifests.test.ts covers what every overlay shares (schema, namespaces,
 * the agent's capabilities, probes and resources).
 *
 * Relay's and the UI's settings come from upstream sources named in the manifests' comments:
 * cilium/cilium hubble-relay/cmd/serve/serve.go, pkg/hubble/relay/{defaults,server}, the chart's
 * templates; cilium/hubble-ui v0.13.5 backend/main.go.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseIdentity } from '../../src/commands/identity-setup.js';
import { CONFIG_FILE_ENV, SETTINGS } from '../../src/config/index.js';
import { loadTlsMaterial } from '../../src/hubble/tls.js';
import { tlsServerName } from '../../src/hubble/peer.js';
import { NODE_WATCH_RBAC, REQUIRED_RBAC } from '../../src/k8s/kubernetes.js';
import { parseHostPort } from '../../src/net/address.js';
import {
  REPO, agentConfig, byKind, describeWithTools, fileSource, kustomize, one, podSpec, run,
  type Container, type K8sObject, type PodSpec,
} from './helpers.js';
import { schemaProblems } from './k8s-schema.js';

const DEPLOY = join(REPO, 'deploy');
const NAMESPACE = 'fovea';
const CERT_MANAGER_COMPONENT = join(DEPLOY, 'components/hubble-cert-manager/kustomization.yaml');

/** Node names as clouds spell them: Relay is told `<node>.<cluster>.hubble-grpc.cilium.io`, dots → dashes. */
const SAMPLE_NODES = ['node-a', 'ip-10-0-1-23.eu-west-1.compute.internal', 'aks-nodepool1-22539176-vmss000001'];
/** Cilium's defaults.PeerServiceName: Relay verifies the peer Service as TLSServerName("hubble-peer", cluster). */
const PEER_SERVICE_NAME = 'hubble-peer';
/** The Secret layout cert-manager writes (kubernetes.io/tls + the issuing CA). */
const TLS_KEYS = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;
/** TLS extended key usages (RFC 5280 4.2.1.12), as Node's X509Certificate.keyUsage lists them. */
const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

/**
 * The keys hubble-relay's config file may hold: its `serve` flags (hubble-relay/cmd/serve/serve.go;
 * the chart's hubble-relay/configmap.yaml and _extensions.tpl for 1.17/1.18) and the root's log
 * options. Viper ignores any other key silently, so a misspelt one would do nothing.
 */
const RELAY_KEYS = new Set([
  'cluster-name', 'peer-service', 'listen-address', 'health-listen-address', 'metrics-listen-address',
  'gops', 'gops-port', 'pprof', 'pprof-address', 'pprof-port', 'retry-timeout', 'sort-buffer-len-max',
  'sort-buffer-drain-timeout', 'tls-hubble-client-cert-file', 'tls-hubble-client-key-file', 'tls-hubble-server-ca-files',
  'disable-client-tls', 'tls-relay-server-cert-file', 'tls-relay-server-key-file', 'tls-relay-client-ca-files',
  'disable-server-tls', 'debug', 'log-format', 'log-level',
]);
/** Where hubble-relay reads its configuration (hubble-relay/cmd/root.go configFilePath). */
const RELAY_CONFIG_FILE = '/etc/hubble-relay/config.yaml';

interface Rule { apiGroups?: readonly string[]; resources?: readonly string[]; verbs?: readonly string[] }
const triples = (rules: readonly Rule[]): string[] => [...new Set(rules.flatMap((r) =>
  (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => (r.verbs ?? []).map((v) => `${g}/${res}:${v}`)))))].sort();

/** A DNS name against a certificate name: exact, or `*.rest` for exactly one more leading label. */
function dnsMatch(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase(), h = host.toLowerCase();
  if (!p.startsWith('*.')) return p === h;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);

interface CertSpec { secretName: string; dnsNames?: string[]; usages?: string[]; isCA?: boolean; issuerRef: { name: string; kind?: string } }
const certSpec = (o: K8sObject): CertSpec => o['spec'] as CertSpec;

const workloads = (objs: readonly K8sObject[]): K8sObject[] => objs.filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet', 'Job'].includes(o.kind));
const templateLabels = (o: K8sObject): Record<string, string> =>
  (o['spec'] as { template: { metadata: { labels?: Record<string, string> } } }).template.metadata.labels ?? {};
const allContainers = (spec: PodSpec): Container[] =>
  [...spec.containers, ...((spec as { initContainers?: Container[] }).initContainers ?? [])];

/** The Service that a name:port or host:port in namespace `fovea` resolves to, with the port. */
function serviceAt(objs: readonly K8sObject[], hostport: string): { svc: K8sObject; port: { port: number; targetPort: number | string; name?: string } } {
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc(?:\.cluster\.local\.?)?)?)?:(\d+)$/.exec(hostport);
  if (!m) throw new Error(`not a Service address: ${hostport}`);
  expect(m[2] ?? NAMESPACE, `${hostport}: namespace`).toBe(NAMESPACE);
  const svc = one(objs, 'Service', m[1]!);
  const port = (svc['spec'] as { ports: Array<{ port: number; targetPort: number | string; name?: string }> }).ports.find((p) => p.port === Number(m[3]));
  if (!port) throw new Error(`Service ${m[1]} has no port ${m[3]}`);
  return { svc, port };
}

/** The container port a Service's targetPort names (a number or a port name). */
function targetPort(c: Container, target: number | string): number | undefined {
  return typeof target === 'number' ? c.ports?.find((p) => p.containerPort === target)?.containerPort : c.ports?.find((p) => p.name === target)?.containerPort;
}

/** The openssl recipe of hubble-cert-manager's kustomization.yaml: its `#   ` comment lines, continuations joined. */
function recipe(): string[] {
  const cmds: string[] = [];
  let cur = '';
  for (const line of readFileSync(CERT_MANAGER_COMPONENT, 'utf8').split('\n').filter((l) => l.startsWith('#   '))) {
    cur = cur ? `${cur} ${line.slice(4).trim()}` : line.slice(4).trim();
    if (cur.endsWith('\\')) { cur = cur.slice(0, -1).trimEnd(); continue; }
    cmds.push(cur);
    cur = '';
  }
  return cmds;
}

describeWithTools('deploy: Hubble (overlay hubble)', ['kubectl'], () => {
  const objs = kustomize(join(DEPLOY, 'overlays/hubble'));
  const agent = one(objs, 'DaemonSet', 'fovea-agent');
  const agentSpec = podSpec(agent);
  const agentC = agentSpec.containers[0]!;
  const relay = one(objs, 'Deployment', 'hubble-relay');
  const relaySpec = podSpec(relay);
  const relayC = relaySpec.containers[0]!;
  const ui = one(objs, 'Deployment', 'hubble-ui');
  const uiSpec = podSpec(ui);
  const certs = byKind(objs, 'Certificate');
  const certFor = (secret: string): K8sObject => {
    const found = certs.filter((c) => certSpec(c).secretName === secret);
    expect(found, `one Certificate writes Secret ${secret}`).toHaveLength(1);
    return found[0]!;
  };

  /** Relay's settings: `--key=value` arguments over the mounted config file. */
  const relaySettings = (): Record<string, unknown> => {
    const src = fileSource(relaySpec, relayC, RELAY_CONFIG_FILE);
    expect(src?.kind, `${RELAY_CONFIG_FILE} is mounted from a ConfigMap`).toBe('ConfigMap');
    const text = (one(objs, 'ConfigMap', src!.name)['data'] as Record<string, string>)[src!.key]!;
    const file = parse(text) as Record<string, unknown>;
    const args = Object.fromEntries((relayC.args ?? []).filter((a) => a.startsWith('--')).map((a) => {
      const [k, ...v] = a.slice(2).split('=');
      return [k!, v.length ? v.join('=') : true];
    }));
    return { ...file, ...args };
  };

  it('is the production overlay plus Hubble: every production object is in it', () => {
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
    const have = new Set(objs.map(key));
    expect(kustomize(join(DEPLOY, 'overlays/production')).map(key).filter((k) => !have.has(k))).toEqual([]);
  });

  it('the agent serves the Hubble API with TLS and mTLS, its files from the hubble-server-certs Secret', () => {
    const { config, warnings } = agentConfig(objs, agentSpec, agentC);
    expect(warnings).toEqual([]);
    const h = config.hubble;
    expect(h.enabled).toBe(true);
    expect(h.tls.insecure).toBe(false);
    const files = { cert: h.tls.certFile, key: h.tls.keyFile, ca: h.tls.clientCaFile };
    for (const [what, path] of Object.entries(files) as Array<[keyof typeof TLS_KEYS, string]>) {
      expect(path, `hubble.tls ${what}`).not.toBe('');
      expect(fileSource(agentSpec, agentC, path), path).toEqual({ kind: 'Secret', name: 'hubble-server-certs', key: TLS_KEYS[what] });
      const mount = agentC.volumeMounts!.find((m) => path.startsWith(`${m.mountPath}/`))!;
      expect(mount.readOnly, `${mount.mountPath} read-only`).toBe(true);
    }
    certFor('hubble-server-certs');
    // the Unix socket (hubble observe on the node) lands in a writable emptyDir
    const sock = agentC.volumeMounts!.find((m) => m.mountPath === dirname(h.socket));
    expect(agentSpec.volumes!.find((v) => v.name === sock?.name)?.emptyDir, dirname(h.socket)).toBeDefined();
  });

  it('every variable the manifest sets is a setting the agent reads, and its value is the one loaded', () => {
    const { config, sources } = agentConfig(objs, agentSpec, agentC);
    for (const e of agentC.env ?? []) {
      if (e.name === CONFIG_FILE_ENV) continue;
      const setting = SETTINGS.find((s) => s.env?.includes(e.name));
      expect(setting, `${e.name} is in SETTINGS (src/config/settings.ts)`).toBeDefined();
      expect(sources[setting!.path], `${setting!.path} comes from ${e.name}`).toBe('env');
      if (e.value === undefined) continue;
      const loaded = get(config, setting!.path);
      expect(setting!.kind === 'bool' ? String(loaded) : loaded, `${e.name}=${e.value}`).toBe(e.value);
    }
  });

  it('the agent\'s ClusterRole is exactly REQUIRED_RBAC of its mode + NODE_WATCH_RBAC', () => {
    const { config } = agentConfig(objs, agentSpec, agentC);
    const identity = chooseIdentity(config, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    const mode = identity.kind === 'kubernetes' ? identity.mode : 'cluster';
    const binding = byKind(objs, 'ClusterRoleBinding').find((b) => (b['subjects'] as Array<{ name: string }>).some((s) => s.name === agentSpec.serviceAccountName))!;
    const role = one(objs, 'ClusterRole', (binding['roleRef'] as { name: string }).name);
    expect(triples(role['rules'] as Rule[])).toEqual(triples([...REQUIRED_RBAC[mode], NODE_WATCH_RBAC]));
  });

  it('hubble-peer selects the agent pods only and targets the port the agent serves, on the node of the caller', () => {
    const { config } = agentConfig(objs, agentSpec, agentC);
    const spec = one(objs, 'Service', 'hubble-peer')['spec'] as {
      selector: Record<string, string>; internalTrafficPolicy?: string; ports: Array<{ port: number; targetPort: number | string; protocol?: string }>;
    };
    const selects = (w: K8sObject) => Object.entries(spec.selector).every(([k, v]) => templateLabels(w)[k] === v);
    expect(workloads(objs).filter(selects).map((w) => `${w.kind}/${w.metadata.name}`)).toEqual(['DaemonSet/fovea-agent']);
    expect(spec.internalTrafficPolicy).toBe('Local');
    expect(spec.ports).toHaveLength(1);
    const [port] = spec.ports;
    expect(port!.port).toBe(443);
    const served = parseHostPort(config.hubble.address, 'hubble.address');
    expect(['::', '0.0.0.0']).toContain(served.host);               // every address: the node's IPs (hostNetwork)
    expect(targetPort(agentC, port!.targetPort)).toBe(served.port);
    const declared = agentC.ports!.find((p) => p.containerPort === served.port)!;
    expect(declared).toMatchObject({ name: 'hubble-grpc', hostPort: served.port, protocol: 'TCP' });
    expect(agentSpec.hostNetwork).toBe(true);
  });

  it('Relay: --peer-service is the hubble-peer Service in namespace fovea, over TLS', () => {
    const s = relaySettings();
    expect(Object.keys(s).filter((k) => !RELAY_KEYS.has(k))).toEqual([]);
    const target = s['peer-service'] as string;
    expect(target).toBe(`hubble-peer.${NAMESPACE}.svc.cluster.local:443`);
    expect(target.startsWith('unix://')).toBe(false);              // unix:// would make Relay dial without TLS
    expect(serviceAt(objs, target).svc.metadata.name).toBe('hubble-peer');
  });

  it('Relay: client certificate from hubble-relay-client-certs, the agents\' CA, their cluster name; server TLS off', () => {
    const s = relaySettings();
    const { config } = agentConfig(objs, agentSpec, agentC);
    expect(s['cluster-name']).toBe(config.hubble.clusterName);
    expect(s['disable-client-tls']).toBeUndefined();
    expect(s['disable-server-tls']).toBe(true);
    const files: Record<string, string> = {
      'tls-hubble-client-cert-file': TLS_KEYS.cert, 'tls-hubble-client-key-file': TLS_KEYS.key, 'tls-hubble-server-ca-files': TLS_KEYS.ca,
    };
    for (const [k, key] of Object.entries(files)) {
      expect(fileSource(relaySpec, relayC, s[k] as string), k).toEqual({ kind: 'Secret', name: 'hubble-relay-client-certs', key });
    }
    certFor('hubble-relay-client-certs');
  });

  it('Relay: its Service reaches the port it listens on; the probes ask its gRPC health port', () => {
    const s = relaySettings();
    const listen = parseHostPort(s['listen-address'] as string, 'listen-address').port;
    const { port } = serviceAt(objs, 'hubble-relay:80');
    expect(targetPort(relayC, port.targetPort)).toBe(listen);
    const health = parseHostPort((s['health-listen-address'] as string | undefined) ?? ':4222', 'health-listen-address').port;
    for (const p of [relayC.readinessProbe, relayC.livenessProbe, relayC.startupProbe]) expect(p?.grpc?.port).toBe(health);
  });

  it('certificates: the server certificate covers every node\'s TLS server name and the peer Service\'s; Relay\'s is a client certificate; one CA', () => {
    const { config } = agentConfig(objs, agentSpec, agentC);
    const cluster = config.hubble.clusterName;
    const server = certSpec(certFor('hubble-server-certs'));
    const names = [...SAMPLE_NODES, PEER_SERVICE_NAME].map((n) => tlsServerName(n, cluster));
    for (const name of names) expect(server.dnsNames!.some((d) => dnsMatch(d, name)), name).toBe(true);
    expect(server.usages).toEqual(expect.arrayContaining(['server auth', 'client auth']));
    const client = certSpec(certFor('hubble-relay-client-certs'));
    expect(client.usages).toEqual(expect.arrayContaining(['client auth']));
    // both from the CA Issuer, whose CA certificate comes from the self-signed Issuer
    expect(client.issuerRef).toEqual(server.issuerRef);
    const caIssuer = one(objs, server.issuerRef.kind ?? 'Issuer', server.issuerRef.name)['spec'] as { ca?: { secretName: string } };
    const ca = certSpec(certFor(caIssuer.ca!.secretName));
    expect(ca.isCA).toBe(true);
    expect((one(objs, ca.issuerRef.kind ?? 'Issuer', ca.issuerRef.name)['spec'] as { selfSigned?: unknown }).selfSigned).toBeDefined();
  });

  it('cert-manager objects pass their CRD schema, which does catch a misspelt field or usage', () => {
    const cm = objs.filter((o) => o.apiVersion === 'cert-manager.io/v1');
    expect(cm.map((o) => o.kind).sort()).toEqual(['Certificate', 'Certificate', 'Certificate', 'Issuer', 'Issuer']);
    expect(cm.flatMap(schemaProblems)).toEqual([]);
    const server = certFor('hubble-server-certs');
    const spec = certSpec(server);
    const { dnsNames, ...rest } = spec;
    expect(schemaProblems({ ...server, spec: { ...rest, dnsName: dnsNames } })).toHaveLength(1);
    expect(schemaProblems({ ...server, spec: { ...spec, usages: ['client-auth'] } })).toHaveLength(1);
  });

  it('images: a release tag (never latest); Relay and UI pinned to a digest as well', () => {
    for (const w of workloads(objs)) {
      for (const c of allContainers(podSpec(w))) {
        const m = /^([^@]+?):([^:@/]+)(@sha256:[0-9a-f]{64})?$/.exec(c.image);
        expect(m, `${w.metadata.name}/${c.name}: ${c.image} has a tag`).not.toBeNull();
        expect(m![2], c.image).not.toBe('latest');
        if (w.metadata.name.startsWith('hubble-')) expect(m![3], `${c.image} has a digest`).toBeDefined();
      }
    }
  });

  it('no container is privileged; Relay and UI run non-root, read-only, without capabilities', () => {
    for (const w of workloads(objs)) {
      for (const c of allContainers(podSpec(w))) expect(c.securityContext?.['privileged'], `${w.metadata.name}/${c.name}`).not.toBe(true);
    }
    for (const spec of [relaySpec, uiSpec]) {
      const pod = (spec as { securityContext?: Record<string, unknown> }).securityContext ?? {};
      expect(pod['seccompProfile']).toEqual({ type: 'RuntimeDefault' });
      for (const c of spec.containers) {
        const sc = c.securityContext ?? {};
        const user = (sc['runAsUser'] ?? pod['runAsUser']) as number | undefined;
        expect(sc['runAsNonRoot'] ?? pod['runAsNonRoot'], `${c.name} runAsNonRoot`).toBe(true);
        if (user !== undefined) expect(user, `${c.name} runAsUser`).toBeGreaterThan(0);
        expect(sc['readOnlyRootFilesystem'], `${c.name} read-only root`).toBe(true);
        expect(sc['allowPrivilegeEscalation'], c.name).toBe(false);
        expect(sc.capabilities?.drop, c.name).toEqual(['ALL']);
        expect(sc.capabilities?.add, c.name).toBeUndefined();
      }
    }
    // Relay: no Kubernetes API access at all
    expect(relaySpec.automountServiceAccountToken).toBe(false);
    const bound = [...byKind(objs, 'ClusterRoleBinding'), ...byKind(objs, 'RoleBinding')]
      .filter((b) => (b['subjects'] as Array<{ name: string }>).some((x) => x.name === relaySpec.serviceAccountName));
    expect(bound).toEqual([]);
  });

  it('UI: the backend reads Relay through its Service, nginx serves :80 and proxies /api to the backend; RBAC: namespaces, read-only', () => {
    const [frontend, backend] = ['frontend', 'backend'].map((n) => uiSpec.containers.find((c) => c.name === n)!);
    const env = (name: string) => backend!.env?.find((e) => e.name === name)?.value;
    expect(env('FLOWS_API_ADDR')).toBe('hubble-relay:80');
    expect(targetPort(relayC, serviceAt(objs, env('FLOWS_API_ADDR')!).port.targetPort)).toBe(4245);
    expect(env('TLS_TO_RELAY_ENABLED')).toBeUndefined();          // Relay serves plaintext (disable-server-tls)
    const conf = fileSource(uiSpec, frontend!, '/etc/nginx/conf.d/default.conf')!;
    const nginx = (one(objs, 'ConfigMap', conf.name)['data'] as Record<string, string>)[conf.key]!;
    expect(nginx).toContain(`proxy_pass http://127.0.0.1:${env('EVENTS_SERVER_PORT')};`);
    const listen = Number(/listen\s+(\d+);/.exec(nginx)![1]);
    expect(targetPort(frontend!, serviceAt(objs, 'hubble-ui:80').port.targetPort)).toBe(listen);
    expect(nginx).toMatch(new RegExp(`location ${frontend!.livenessProbe!.httpGet!.path} \\{`));
    expect(uiSpec.volumes!.find((v) => v.name === frontend!.volumeMounts!.find((m) => m.mountPath === '/tmp')?.name)?.emptyDir).toBeDefined();
    const binding = byKind(objs, 'ClusterRoleBinding').find((b) => (b['subjects'] as Array<{ name: string }>).some((s) => s.name === uiSpec.serviceAccountName))!;
    const role = one(objs, 'ClusterRole', (binding['roleRef'] as { name: string }).name);
    expect(triples(role['rules'] as Rule[])).toEqual(['/namespaces:list', '/namespaces:watch']);
  });

  describe('without cert-manager: the openssl recipe in hubble-cert-manager/kustomization.yaml', () => {
    const openssl = run('openssl', ['version']);
    const missing = openssl.code !== 0 ? `openssl not found (${openssl.stderr.trim()})` : undefined;
    if (missing && process.env['CI'] === 'true') {
      it('needs openssl', () => { throw new Error(missing); });
      return;
    }
    let dir: string;
    beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'fovea-hubble-certs-')); });
    afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

    it.skipIf(missing !== undefined)(`makes the two Secrets, which the agent's TLS loader and Relay's checks accept${missing ? ` — skipped: ${missing}` : ''}`, () => {
      const cmds = recipe();
      const shell = cmds.filter((c) => /^(openssl|printf) /.test(c));
      const r = run('bash', ['-euo', 'pipefail', '-c', shell.join('\n')], { cwd: dir });
      expect(r.stderr.split('\n').filter((l) => /error/i.test(l)), 'openssl').toEqual([]);
      expect(r.code).toBe(0);
      // the kubectl lines: both Secrets, in the TLS layout, in namespace fovea
      const secrets: Record<string, Record<string, string>> = {};
      for (const c of cmds.filter((x) => x.startsWith('kubectl '))) {
        const m = /^kubectl -n (\S+) create secret generic (\S+) --type=kubernetes\.io\/tls((?: --from-file=\S+=\S+)+)$/.exec(c);
        expect(m, c).not.toBeNull();
        expect(m![1]).toBe(NAMESPACE);
        secrets[m![2]!] = Object.fromEntries([...m![3]!.matchAll(/--from-file=(\S+)=(\S+)/g)].map((f) => [f[1]!, join(dir, f[2]!)]));
      }
      expect(Object.keys(secrets).sort()).toEqual(['hubble-relay-client-certs', 'hubble-server-certs']);
      for (const files of Object.values(secrets)) expect(Object.keys(files).sort()).toEqual(Object.values(TLS_KEYS).sort());
      const server = secrets['hubble-server-certs']!, client = secrets['hubble-relay-client-certs']!;
      // the agent loads them (src/hubble/tls.ts: PEM, key matches, client CA parses)
      expect(() => loadTlsMaterial({ certFile: server[TLS_KEYS.cert]!, keyFile: server[TLS_KEYS.key]!, clientCaFile: server[TLS_KEYS.ca]! })).not.toThrow();
      expect(() => loadTlsMaterial({ certFile: client[TLS_KEYS.cert]!, keyFile: client[TLS_KEYS.key]! })).not.toThrow();
      const pem = (f: string) => new X509Certificate(readFileSync(f));
      const ca = pem(server[TLS_KEYS.ca]!);
      expect(ca.ca).toBe(true);
      expect(pem(client[TLS_KEYS.ca]!).fingerprint256).toBe(ca.fingerprint256);
      const serverCert = pem(server[TLS_KEYS.cert]!), clientCert = pem(client[TLS_KEYS.cert]!);
      expect(serverCert.verify(ca.publicKey)).toBe(true);
      expect(clientCert.verify(ca.publicKey)).toBe(true);
      expect(serverCert.keyUsage).toEqual(expect.arrayContaining([EKU.serverAuth, EKU.clientAuth]));
      expect(clientCert.keyUsage).toEqual(expect.arrayContaining([EKU.clientAuth]));
      // the names Relay checks, for the cluster name the overlay uses
      const { config } = agentConfig(objs, agentSpec, agentC);
      for (const n of [...SAMPLE_NODES, PEER_SERVICE_NAME]) {
        const name = tlsServerName(n, config.hubble.clusterName);
        expect(serverCert.checkHost(name), name).toBeDefined();
      }
      // the same names cert-manager is asked for
      expect(serverCert.subjectAltName).toBe(certSpec(certFor('hubble-server-certs')).dnsNames!.map((d) => `DNS:${d}`).join(', '));
    });
  });
});
