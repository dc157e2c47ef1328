/**
 * deploy/: every overlay renders with `kubectl kustomize` (Debian 13's kubectl), every object
 * passes the Kubernetes API schema (test/deploy/k8s-schema.ts), and the manifests agree with the
 * code and with each other: the agent's RBAC is exactly REQUIRED_RBAC of its identity mode, its
 * configuration loads with the agent's own loader, it exports to the port the node's collector
 * listens on, the collectors' ${env:…} are all set, probes hit the health endpoints, resources
 * cover what the benchmark measured. Each component also renders on top of the base alone.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseIdentity } from '../../src/commands/identity-setup.js';
import { METRICS_PATH } from '../../src/export/prometheus.js';
import { parseHostPort } from '../../src/net/address.js';
import { NODE_WATCH_RBAC, REQUIRED_RBAC } from '../../src/k8s/kubernetes.js';
import {
  REPO, agentConfig, byKind, configMap, describeWithTools, envRefs, envValue, kustomize, mergeConfigs, one, podSpec,
  type CollectorConfig, type Container, type K8sObject, type PodSpec,
} from './helpers.js';
import { schemaProblems } from './k8s-schema.js';
import { OTELCOL_CONTRIB_IMAGE, OTELCOL_CONTRIB_VERSION } from './otelcol-contrib.js';

const DEPLOY = join(REPO, 'deploy');
const OVERLAYS = readdirSync(join(DEPLOY, 'overlays')).sort();
const COMPONENTS = readdirSync(join(DEPLOY, 'components')).sort();
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const NAMESPACE = 'fovea';

/** The capabilities the agent may hold, and the component that alone may add SYS_ADMIN. */
const BASE_CAPABILITIES = ['BPF', 'PERFMON', 'NET_ADMIN'];

/** What k8sattributes needs for collector-config/agent.yaml (contrib 0.136.0 README, "Role-based access control"). */
const OTEL_AGENT_RBAC = [
  { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch'] },
];

interface Rule { apiGroups?: readonly string[]; resources?: readonly string[]; verbs?: readonly string[]; resourceNames?: readonly string[] }
/** Rules as a set of group/resource/verb triples (order and grouping do not matter). */
function triples(rules: readonly Rule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    if (r.resourceNames?.length) out.add(`resourceNames:${r.resourceNames.join(',')}`);
    for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs ?? []) out.add(`${g}/${res}:${v}`);
  }
  return [...out].sort();
}

/** Resource quantities → bytes / cores. */
function bytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (!m) throw new Error(`unsupported quantity ${q}`);
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}
function cores(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

/** Benchmark targets measured by `npm run bench` (bench/results/latest.json). */
function benchMeasured(id: string): number {
  const j = JSON.parse(readFileSync(join(REPO, 'bench/results/latest.json'), 'utf8')) as { targets: Array<{ id: string; measured: number }> };
  const t = j.targets.find((x) => x.id === id);
  if (!t) throw new Error(`bench/results/latest.json has no target ${id}`);
  return t.measured;
}
/**
 * eBPF map memory, preallocated and charged to the agent's memory cgroup: the `memlock` the
 * kernel (6.18) reports for Fovea's maps at their default sizes, created with bpf(2) on the
 * development machine — 52.9 MB with 2 CPUs, of which the per-CPU maps' values
 * (drop 8192×16 B, pod drops 65536×16 B, traffic 4096×40 B + 1024×48 B) are ~1.4 MB per CPU.
 */
const MAPS_FIXED_MB = 49.1;
const MAPS_PER_CPU_MB = 1.4;

const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name);

/** The collector config a container loads: its --config files, merged, from the ConfigMap mounted at their directory. */
function loadedCollectorConfig(objs: readonly K8sObject[], spec: PodSpec, c: Container): { files: string[]; config: CollectorConfig } {
  const files = (c.args ?? []).filter((a) => a.startsWith('--config=')).map((a) => a.slice('--config='.length));
  expect(files.length).toBeGreaterThan(0);
  const docs = files.map((f) => {
    const mount = c.volumeMounts!.find((m) => m.mountPath === dirname(f));
    expect(mount, `${c.name}: ${f} is not in a mounted directory`).toBeDefined();
    const vol = spec.volumes!.find((v) => v.name === mount!.name)!;
    expect(vol.configMap, `${c.name}: ${dirname(f)} is not a ConfigMap`).toBeDefined();
    const data = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap!.name)?.['data'] as Record<string, string> | undefined;
    const text = data?.[posix.basename(f)];
    expect(text, `${c.name}: ConfigMap ${vol.configMap!.name} has no key ${posix.basename(f)}`).toBeDefined();
    expect(text).toBe(readFileSync(join(REPO, 'collector-config', posix.basename(f)), 'utf8'));
    return parse(text!) as unknown;
  });
  return { files, config: mergeConfigs(...docs) };
}

/** Every ${env:X} of a collector config is set on the container (value, field, or a key that exists). */
function unsetEnv(objs: readonly K8sObject[], c: Container, config: CollectorConfig): string[] {
  const out: string[] = [];
  for (const name of envRefs(config)) {
    const e = envOf(c, name);
    if (!e) { out.push(`${name}: not set`); continue; }
    const cm = e.valueFrom?.configMapKeyRef;
    if (cm) {
      const found = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === cm.name)?.['data'] as Record<string, string> | undefined;
      if (found?.[cm.key] === undefined) out.push(`${name}: ConfigMap ${cm.name} key ${cm.key} not in the render`);
    } else if (e.value === undefined && !e.valueFrom?.fieldRef && !e.valueFrom?.secretKeyRef) {
      out.push(`${name}: no value`);
    }
  }
  return out;
}

const hostPort = (endpoint: string): { host: string; port: number } => {
  const m = /^(?:[a-z]+:\/\/)?(.*):(\d+)\/?$/.exec(endpoint);
  if (!m) throw new Error(`not host:port: ${endpoint}`);
  return { host: m[1]!, port: Number(m[2]) };
};

function checkOverlay(name: string, objs: readonly K8sObject[]): void {
  const fovea = one(objs, 'DaemonSet', 'fovea-agent');
  const foveaSpec = podSpec(fovea);
  const foveaC = foveaSpec.containers[0]!;
  const otelAgent = one(objs, 'DaemonSet', 'fovea-otel-agent');
  const otelSpec = podSpec(otelAgent);
  const otelC = otelSpec.containers[0]!;
  const gateway = one(objs, 'Deployment', 'fovea-gateway');
  const gwSpec = podSpec(gateway);
  const gwC = gwSpec.containers[0]!;

  it('every object passes the Kubernetes API schema (v1.34)', () => {
    expect(objs.flatMap(schemaProblems)).toEqual([]);
  });

  it(`namespaced objects are in ${NAMESPACE}; bindings name service accounts that exist`, () => {
    one(objs, 'Namespace', NAMESPACE);
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass']);
    for (const o of objs) {
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NAMESPACE);
    }
    for (const b of byKind(objs, 'ClusterRoleBinding')) {
      const roleRef = b['roleRef'] as { kind: string; name: string };
      one(objs, roleRef.kind, roleRef.name);
      for (const s of b['subjects'] as Array<{ kind: string; name: string; namespace: string }>) {
        expect(s.kind).toBe('ServiceAccount');
        expect(one(objs, 'ServiceAccount', s.name).metadata.namespace).toBe(s.namespace);
      }
    }
    for (const w of [fovea, otelAgent, gateway]) one(objs, 'ServiceAccount', podSpec(w).serviceAccountName!);
  });

  it('the agent: configuration loads with the agent\'s own loader, no unknown variables', () => {
    const { config, warnings } = agentConfig(objs, foveaSpec, foveaC);
    expect(warnings).toEqual([]);
    expect(config.nodeName).toBe('node-a');      // K8S_NODE_NAME from the downward API
    expect(envOf(foveaC, 'K8S_NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
  });

  it('the agent: its ClusterRole is exactly REQUIRED_RBAC of the identity mode it runs in (+ NODE_WATCH_RBAC with Hubble)', () => {
    const { config } = agentConfig(objs, foveaSpec, foveaC);
    const identity = chooseIdentity(config, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    expect(identity.kind).toBe('kubernetes');
    const mode = identity.kind === 'kubernetes' ? identity.mode : 'cluster';
    const binding = byKind(objs, 'ClusterRoleBinding').find((b) => (b['subjects'] as Array<{ name: string }>).some((s) => s.name === foveaSpec.serviceAccountName))!;
    const role = one(objs, 'ClusterRole', (binding['roleRef'] as { name: string }).name);
    // the Hubble server's peer list watches nodes (kubernetesIdentityFactory(…, config.hubble.enabled))
    const expected: Rule[] = [...REQUIRED_RBAC[mode], ...(config.hubble.enabled ? [NODE_WATCH_RBAC] : [])];
    expect(triples(role['rules'] as Rule[])).toEqual(triples(expected));
    // and no other binding gives the agent's service account anything
    const bindings = [...byKind(objs, 'ClusterRoleBinding'), ...byKind(objs, 'RoleBinding')]
      .filter((b) => (b['subjects'] as Array<{ name: string }>).some((s) => s.name === foveaSpec.serviceAccountName));
    expect(bindings).toHaveLength(1);
  });

  it('the agent: capabilities instead of privileged, each one documented; read-only root', () => {
    const sc = foveaC.securityContext!;
    expect(sc['privileged']).toBe(false);
    expect(sc['readOnlyRootFilesystem']).toBe(true);
    expect(sc['allowPrivilegeEscalation']).toBe(false);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    const netns = foveaC.volumeMounts?.find((m) => m.mountPath === '/var/run/netns');
    const expected = netns ? [...BASE_CAPABILITIES, 'SYS_ADMIN'] : BASE_CAPABILITIES;
    expect([...(sc.capabilities?.add ?? [])].sort()).toEqual([...expected].sort());
    const source = readFileSync(join(DEPLOY, 'base/fovea-agent.yaml'), 'utf8');
    for (const cap of BASE_CAPABILITIES) expect(source, `comment for ${cap}`).toMatch(new RegExp(`# CAP_${cap}: \\S`));
    if (netns) {
      expect(netns.mountPropagation).toBe('HostToContainer');
      expect(readFileSync(join(DEPLOY, 'components/netns-discovery/kustomization.yaml'), 'utf8')).toMatch(/#\s+SYS_ADMIN\s+setns\(2\)/);
    }
    // only the netns mounts come from the host
    const hostPaths = (foveaSpec.volumes ?? []).filter((v) => v.hostPath).map((v) => v.hostPath!.path);
    expect(hostPaths).toEqual(netns ? ['/var/run/netns'] : []);
    expect(foveaSpec.hostNetwork).toBe(true);
  });

  it('the agent: runs on every node, above ordinary workloads', () => {
    expect(foveaSpec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(otelSpec.tolerations).toEqual([{ operator: 'Exists' }]);
    const pc = one(objs, 'PriorityClass', foveaSpec.priorityClassName!);
    expect(pc['value'] as number).toBeGreaterThan(0);
    expect(otelSpec.priorityClassName).toBe(foveaSpec.priorityClassName);
  });

  it('the agent: requests and limits cover what the benchmark measured, plus its eBPF maps', () => {
    const { requests, limits } = foveaC.resources!;
    const MB = 1e6;
    // request: the idle agent on a 16-CPU node
    expect(bytes(requests!['memory']!)).toBeGreaterThanOrEqual((benchMeasured('c.idle-rss') + MAPS_FIXED_MB + 16 * MAPS_PER_CPU_MB) * MB);
    // limit: 100k active flows on a 128-CPU node
    expect(bytes(limits!['memory']!)).toBeGreaterThanOrEqual((benchMeasured('d.rss@100k') + MAPS_FIXED_MB + 128 * MAPS_PER_CPU_MB) * MB);
    expect(cores(requests!['cpu']!)).toBeGreaterThanOrEqual(benchMeasured('d.cpu@100k') / 100);
    expect(cores(limits!['cpu']!)).toBeGreaterThanOrEqual(10 * cores(requests!['cpu']!));
    for (const c of [otelC, gwC]) {
      expect(c.resources?.requests?.['memory'], c.name).toBeDefined();
      expect(c.resources?.limits?.['memory'], c.name).toBeDefined();
    }
  });

  it('the agent: liveness and readiness probe its health endpoint (health.address of its config), on loopback', () => {
    const { config } = agentConfig(objs, foveaSpec, foveaC);
    const { host, port } = parseHostPort(config.health.address, 'health.address');
    expect(host).toBe('127.0.0.1'); // hostNetwork: nothing reachable from the network
    expect(foveaC.livenessProbe?.httpGet).toMatchObject({ host, port, path: '/livez' });
    expect(foveaC.readinessProbe?.httpGet).toMatchObject({ host, port, path: '/readyz' });
  });

  it('the agent: image is the Dockerfile\'s, tagged with package.json\'s version', () => {
    expect(foveaC.image).toMatch(new RegExp(`(^|/)fovea:${PACKAGE_VERSION.replace(/\./g, '\\.')}$`));
  });

  it('the agent exports to the port its node\'s collector listens on, over the protocol it serves', () => {
    const { config } = agentConfig(objs, foveaSpec, foveaC);
    const { config: agentCfg } = loadedCollectorConfig(objs, otelSpec, otelC);
    const protocols = (agentCfg.receivers!['otlp'] as { protocols: Record<string, { endpoint: string }> }).protocols;
    const protocol = config.export.protocol === 'http/protobuf' ? 'http' : 'grpc';
    expect(protocols[protocol], `the node collector serves OTLP/${protocol}`).toBeDefined();
    const target = new URL(config.export.endpoint!);
    expect(hostPort(protocols[protocol]!.endpoint)).toEqual({ host: target.hostname, port: Number(target.port) });
    expect(target.hostname).toBe('127.0.0.1');
    expect(otelSpec.hostNetwork).toBe(true);   // loopback is shared only in the node's netns
    expect(foveaSpec.hostNetwork).toBe(true);
  });

  it('the observe socket\'s directory is writable (emptyDir) when the agent serves one', () => {
    const { config } = agentConfig(objs, foveaSpec, foveaC);
    const socket = (config as unknown as { observe?: { enabled?: boolean; socket?: string } }).observe;
    if (!socket?.socket || socket.enabled === false) return;
    const mount = foveaC.volumeMounts!.find((m) => m.mountPath === dirname(socket.socket!));
    expect(mount, `${dirname(socket.socket)} mounted`).toBeDefined();
    expect(foveaSpec.volumes!.find((v) => v.name === mount!.name)?.emptyDir).toBeDefined();
  });

  it('collectors: pinned image, every --config file mounted and every ${env:…} set', () => {
    for (const [spec, c] of [[otelSpec, otelC], [gwSpec, gwC]] as const) {
      expect(c.image).toBe(`${OTELCOL_CONTRIB_IMAGE}:${OTELCOL_CONTRIB_VERSION}`);
      const { config } = loadedCollectorConfig(objs, spec, c);
      expect(unsetEnv(objs, c, config), c.name).toEqual([]);
    }
  });

  it('node collector: node filter and NODE_IP from the downward API, health probes on its endpoint, queue on a hostPath', () => {
    const { config } = loadedCollectorConfig(objs, otelSpec, otelC);
    const k8sattr = config.processors!['k8sattributes'] as { filter: { node_from_env_var: string } };
    expect(envOf(otelC, k8sattr.filter.node_from_env_var)?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(envOf(otelC, 'NODE_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.hostIP');
    const health = hostPort((config.extensions!['health_check'] as { endpoint: string }).endpoint);
    expect(otelC.livenessProbe?.httpGet?.port).toBe(health.port);
    expect(otelC.readinessProbe?.httpGet?.port).toBe(health.port);
    const dir = (config.extensions!['file_storage/queue'] as { directory: string }).directory;
    const mount = otelC.volumeMounts!.find((m) => m.mountPath === dir)!;
    expect(otelSpec.volumes!.find((v) => v.name === mount.name)?.hostPath?.type).toBe('DirectoryOrCreate');
    const binding = byKind(objs, 'ClusterRoleBinding').find((b) => (b['subjects'] as Array<{ name: string }>).some((s) => s.name === otelSpec.serviceAccountName))!;
    expect(triples(one(objs, 'ClusterRole', (binding['roleRef'] as { name: string }).name)['rules'] as Rule[])).toEqual(triples(OTEL_AGENT_RBAC));
  });

  it('gateway: reached through its Service, health probes on its endpoint, scrape port announced, no API access', () => {
    const { config: gw } = loadedCollectorConfig(objs, gwSpec, gwC);
    const { config: agentCfg } = loadedCollectorConfig(objs, otelSpec, otelC);
    const svc = one(objs, 'Service', 'fovea-gateway');
    const ports = (svc['spec'] as { ports: Array<{ name: string; port: number; targetPort: string }> }).ports;
    const containerPort = (name: string) => gwC.ports!.find((p) => p.name === name)!.containerPort;
    // the node collector sends to <service>:<grpc port>
    expect(envRefs(agentCfg.exporters!['otlp/gateway']).has('FOVEA_GATEWAY_ENDPOINT')).toBe(true);
    const target = hostPort(envValue(objs, otelC, 'FOVEA_GATEWAY_ENDPOINT')!);
    expect(target.host).toBe(svc.metadata.name);
    const grpc = ports.find((p) => p.port === target.port)!;
    const receivers = (gw.receivers!['otlp'] as { protocols: Record<string, { endpoint: string }> }).protocols;
    expect(containerPort(grpc.targetPort)).toBe(hostPort(receivers['grpc']!.endpoint).port);
    const http = ports.find((p) => p.name === 'otlp-http')!;
    expect(containerPort(http.targetPort)).toBe(hostPort(receivers['http']!.endpoint).port);
    const prom = hostPort((gw.exporters!['prometheus'] as { endpoint: string }).endpoint).port;
    expect(containerPort(ports.find((p) => p.name === 'prometheus')!.targetPort)).toBe(prom);
    const annotations = (gateway['spec'] as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    expect(annotations['prometheus.io/port']).toBe(String(prom));
    const health = hostPort((gw.extensions!['health_check'] as { endpoint: string }).endpoint);
    expect(gwC.livenessProbe?.httpGet?.port).toBe(health.port);
    expect(gwC.readinessProbe?.httpGet?.port).toBe(health.port);
    expect(gwSpec.automountServiceAccountToken).toBe(false);
    const bound = [...byKind(objs, 'ClusterRoleBinding'), ...byKind(objs, 'RoleBinding')]
      .filter((b) => (b['subjects'] as Array<{ name: string }>).some((s) => s.name === gwSpec.serviceAccountName));
    expect(bound).toEqual([]);
  });

  it('collectors run without capabilities, read-only', () => {
    for (const c of [otelC, gwC]) {
      expect(c.securityContext?.capabilities?.drop, c.name).toEqual(['ALL']);
      expect(c.securityContext?.capabilities?.add, c.name).toBeUndefined();
      expect(c.securityContext?.['readOnlyRootFilesystem'], c.name).toBe(true);
      expect(c.securityContext?.['allowPrivilegeEscalation'], c.name).toBe(false);
    }
  });

  if (name !== 'base') {
    it('dashboards and alert rules are shipped as ConfigMaps, unchanged', () => {
      const dashboards = configMap(objs, 'fovea-dashboards');
      const files = readdirSync(join(DEPLOY, 'dashboards')).filter((f) => f.endsWith('.json')).sort();
      expect(Object.keys(dashboards.data).sort()).toEqual(files);
      for (const f of files) expect(dashboards.data[f]).toBe(readFileSync(join(DEPLOY, 'dashboards', f), 'utf8'));
      expect(dashboards.metadata.labels?.['grafana_dashboard']).toBe('1');
      const rules = configMap(objs, 'fovea-prometheus-rules');
      expect(rules.data).toEqual({ 'fovea-rules.yaml': readFileSync(join(DEPLOY, 'alerts/fovea-rules.yaml'), 'utf8') });
    });
  }
}

describeWithTools('deploy: kubectl kustomize', ['kubectl'], () => {
  it('overlays are the five docs/deployment.md "Deploying to a cluster" describes', () => {
    expect(OVERLAYS).toEqual(['hubble', 'mimir', 'node-identity', 'production', 'prometheus']);
  });

  for (const overlay of OVERLAYS) {
    describe(`overlay ${overlay}`, () => {
      const objs = ((): K8sObject[] => {
        try { return kustomize(join(DEPLOY, 'overlays', overlay)); } catch (err) { return [{ apiVersion: 'error', kind: 'RenderError', metadata: { name: String(err) } }]; }
      })();
      it('renders', () => {
        const failed = objs.find((o) => o.kind === 'RenderError');
        expect(failed?.metadata.name).toBeUndefined();
      });
      if (!objs.some((o) => o.kind === 'RenderError')) checkOverlay(overlay, objs);
    });
  }

  describe('each component on top of the base alone', () => {
    let dir: string;
    beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'fovea-kustomize-')); });
    afterAll(() => { rmSync(dir, { recursive: true, force: true }); });
    for (const component of COMPONENTS) {
      it(`${component}: renders and passes the schema`, () => {
        const rel = (p: string) => relative(dir, join(DEPLOY, p));
        writeFileSync(join(dir, 'kustomization.yaml'), [
          'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', `namespace: ${NAMESPACE}`,
          'resources:', `  - ${rel('base')}`, 'components:', `  - ${rel(`components/${component}`)}`, '',
        ].join('\n'));
        const objs = kustomize(dir);
        expect(objs.flatMap(schemaProblems)).toEqual([]);
        const c = podSpec(one(objs, 'DaemonSet', 'fovea-agent')).containers[0]!;
        expect(c.securityContext?.['privileged']).toBe(false);
        if (component === 'drop-locations') expect(c.securityContext?.capabilities?.add).toEqual([...BASE_CAPABILITIES, 'SYSLOG']);
      });
    }
  });

  describe('Prometheus mode: prometheus-scrape + prometheus-podmonitor on the base', () => {
    let objs: K8sObject[] = [];
    beforeAll(() => {
      const dir = mkdtempSync(join(tmpdir(), 'fovea-kustomize-'));
      try {
        const rel = (p: string) => relative(dir, join(DEPLOY, p));
        writeFileSync(join(dir, 'kustomization.yaml'), [
          'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', `namespace: ${NAMESPACE}`,
          'resources:', `  - ${rel('base')}`, 'components:', `  - ${rel('components/prometheus-scrape')}`, `  - ${rel('components/prometheus-podmonitor')}`, '',
        ].join('\n'));
        objs = kustomize(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('the agent serves /metrics on the node\'s own address (hostNetwork pod IP), on the port its pod declares, annotated for scraping', () => {
      expect(objs.flatMap(schemaProblems)).toEqual([]);
      const ds = one(objs, 'DaemonSet', 'fovea-agent');
      const spec = podSpec(ds);
      const c = spec.containers[0]!;
      expect(spec.hostNetwork).toBe(true);
      const names = (c.env ?? []).map((e) => e.name);
      // $(POD_IP) expands only when POD_IP comes first
      expect(names.indexOf('POD_IP')).toBeGreaterThanOrEqual(0);
      expect(names.indexOf('POD_IP')).toBeLessThan(names.indexOf('FOVEA_PROMETHEUS_ADDRESS'));
      expect(envOf(c, 'POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
      const address = envOf(c, 'FOVEA_PROMETHEUS_ADDRESS')!.value!;
      expect(address).toMatch(/^\$\(POD_IP\):\d+$/);
      const { host, port } = parseHostPort(address.replace('$(POD_IP)', '10.0.0.7'), 'prometheus.address');
      expect(host).toBe('10.0.0.7');
      expect(c.ports).toContainEqual({ name: 'metrics', containerPort: port, protocol: 'TCP' });
      const annotations = ((ds['spec'] as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations) ?? {};
      expect(annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': METRICS_PATH });
      // the agent's own loader takes the setting from that variable, and knows every FOVEA_* variable
      const { config, warnings } = agentConfig(objs, spec, c);
      expect(warnings).toEqual([]);
      expect(config.prometheus.address).toBe(address);
      // the cluster name on every series, from the same setting the collector path reads
      expect(envOf(c, 'OTEL_RESOURCE_ATTRIBUTES')?.value).toBe('k8s.cluster.name=$(CLUSTER_NAME)');
      expect(names.indexOf('CLUSTER_NAME')).toBeLessThan(names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
      expect(envValue(objs, c, 'CLUSTER_NAME')).toBe('kubernetes');
    });

    it('the PodMonitor selects the agent\'s pods, scrapes that port and path, at the agent\'s export interval', () => {
      const pm = one(objs, 'PodMonitor', 'fovea-agent') as K8sObject & {
        spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; path: string; interval: string }> };
      };
      expect(pm.metadata.namespace).toBe(NAMESPACE);
      const ds = one(objs, 'DaemonSet', 'fovea-agent');
      const podLabels = (ds['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      expect(podLabels).toMatchObject(pm.spec.selector.matchLabels);
      // no other pod of the namespace matches
      for (const o of objs.filter((x) => x !== ds && ['DaemonSet', 'Deployment'].includes(x.kind))) {
        const labels = (o['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
        expect(Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => labels[k] === v), o.metadata.name).toBe(false);
      }
      expect(pm.spec.podMetricsEndpoints).toHaveLength(1);
      const ep = pm.spec.podMetricsEndpoints[0]!;
      expect(podSpec(ds).containers[0]!.ports?.map((p) => p.name)).toContain(ep.port);
      expect(ep.path).toBe(METRICS_PATH);
      const { config } = agentConfig(objs, podSpec(ds), podSpec(ds).containers[0]!);
      expect(ep.interval).toBe(`${(config.export.intervalMs ?? 0) / 1000}s`);
    });
  });

  it('the base renders on its own too', () => {
    const objs = kustomize(join(DEPLOY, 'base'));
    expect(objs.flatMap(schemaProblems)).toEqual([]);
  });
});
