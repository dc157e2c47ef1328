/**
 * The agent's configuration schema: the only place where settings, their bounds, their defaults
 * and their one-line descriptions live. Sources (file, env, flags) feed raw values into it;
 * `--help` reads descriptions and defaults back out of it.
 */
import { z } from 'zod';
import { parseHostPort } from '../net/address.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export const EXPORT_PROTOCOLS = ['grpc', 'http/protobuf'] as const;
export const COMPRESSIONS = ['gzip', 'none'] as const;

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/**
 * "500ms", "2s", "1.5m", "1h" or a bare number (milliseconds) → milliseconds. Anything else is
 * returned unchanged so the schema reports it with the value the user wrote.
 */
export function parseDuration(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const m = DURATION_RE.exec(value);
  if (!m) return value;
  const unit = (m[2] ?? 'ms') as keyof typeof UNIT_MS;
  return Number(m[1]) * UNIT_MS[unit];
}

/** A `*Ms` setting: integer milliseconds, also accepting duration strings. */
function durationMs(min: number, max?: number) {
  const n = z.number().int().min(min);
  return z.preprocess(parseDuration, max === undefined ? n : n.max(max));
}

/** Linux IFNAMSIZ is 16 including the NUL. */
export const IFNAME_MAX = 15;
const GLOB_CHARS = /[*?[]/;

/** Why `pattern` is not a usable interface name or glob (`*`, `?`, `[...]`), or undefined. */
export function interfacePatternProblem(pattern: string): string | undefined {
  if (pattern === '') return 'must not be empty';
  if (/[\s/]/.test(pattern)) return `interface names cannot contain whitespace or "/" (got ${JSON.stringify(pattern)})`;
  if (!GLOB_CHARS.test(pattern) && pattern.length > IFNAME_MAX) {
    return `interface names are at most ${IFNAME_MAX} characters (got ${JSON.stringify(pattern)}, ${pattern.length})`;
  }
  let open = false;
  for (const ch of pattern) {
    if (ch === '[') { if (open) return `nested "[" in glob ${JSON.stringify(pattern)}`; open = true; }
    else if (ch === ']' && open) open = false;
  }
  if (open) return `unclosed "[" in glob ${JSON.stringify(pattern)}`;
  return undefined;
}

const interfacePattern = z.string().superRefine((s, ctx) => {
  const problem = interfacePatternProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const httpUrl = z.string().superRefine((s, ctx) => {
  let ok = false;
  try { const u = new URL(s); ok = u.protocol === 'http:' || u.protocol === 'https:'; } catch { /* reported below */ }
  if (!ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an http:// or https:// URL (got ${JSON.stringify(s)})` });
});

const filePath = z.string().min(1);

/** '' (off) or a listen address, `host:port` or `[v6]:port`; an empty host means every address. */
const listenAddress = z.string().default('').superRefine((s, ctx) => {
  if (s === '') return;
  try { parseHostPort(s, 'address'); } catch (err) { ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message.replace(/^address /, '') }); }
});

export const ConfigSchema = z.object({
  logLevel: z.enum(LOG_LEVELS).default('info')
    .describe('Log level'),
  nodeName: z.string().default('')
    .describe('Kubernetes node name; empty runs standalone'),
  interfaces: z.array(interfacePattern).default([])
    .describe('Interfaces to watch (names or globs *, ?, [..]); empty = every non-loopback interface of the host netns'),
  excludeInterfaces: z.array(interfacePattern).default(['lo'])
    .describe('Interfaces never to watch (names or globs)'),
  interfaceRescanIntervalMs: durationMs(100, 60_000).default(2_000)
    .describe('How often to look for new or removed interfaces'),
  probes: z.object({
    drop: z.object({
      enabled: z.boolean().default(true).describe('Kernel drop-reason probe (skb:kfree_skb)'),
      hook: z.enum(['auto', 'tp_btf', 'raw_tp']).default('auto')
        .describe('Drop probe hook: auto = tp_btf, falling back to the raw tracepoint'),
    }).strict().default({}),
    traffic: z.object({
      enabled: z.boolean().default(true).describe('Per-interface traffic probe (tc)'),
      maxInterfaces: z.number().int().min(1).max(65_536).default(4_096)
        .describe('Size of the traffic probe\'s per-interface kernel map'),
      attachMode: z.enum(['auto', 'tcx', 'clsact']).default('auto')
        .describe('tc attachment: auto = tcx where the kernel has it (>= 6.6), else clsact'),
    }).strict().default({}),
    flows: z.object({
      enabled: z.boolean().default(true)
        .describe('Flow records (5-tuple) on pods\' host-side veths, for workload-to-workload metrics'),
      maxFlows: z.number().int().min(1_024).max(4_194_304).default(262_144)
        .describe('Size of the kernel flow table (LRU; evictions are counted)'),
      idleTimeoutMs: durationMs(1_000, 3_600_000).default(120_000)
        .describe('A flow idle this long ends: its record is deleted and its series stop'),
    }).strict().default({}),
    netstack: z.object({
      enabled: z.boolean().default(true)
        .describe('Kernel network counters (TCP, UDP, IP from /proc/net/snmp, netstat, snmp6) of the node and of each pod whose network namespace is known'),
    }).strict().default({}),
    dns: z.object({
      enabled: z.boolean().default(true)
        .describe('DNS on pods\' host-side veths (the traffic probe\'s tc programs, flow-tracked interfaces): queries, responses by code, latency, timeouts'),
      timeoutMs: durationMs(100, 600_000).default(5_000)
        .describe('A DNS query without a response this long is a timeout'),
      maxPending: z.number().int().min(1_024).max(1_048_576).default(16_384)
        .describe('Queries the kernel remembers while they wait for their response; beyond it their latency is lost (counted)'),
      maxKeys: z.number().int().min(1_024).max(1_048_576).default(16_384)
        .describe('Size of the kernel table of (client, server, view, query type) DNS records; a full table is counted'),
      hostInterfaces: z.array(interfacePattern).default([])
        .describe('Node interfaces (names or globs, among the watched ones) where DNS is looked at too: host-network DNS clients and servers (node-local caches, hostNetwork CoreDNS); messages of this node\'s pods there are not counted again'),
      names: z.object({
        top: z.number().int().min(0).max(1_000).default(0)
          .describe('Question names on metrics (opt-in: the kernel then hashes every DNS message\'s name): at each collection the N names with the most new queries get their own fovea.dns.name.* series (until max); 0: names only in events'),
        max: z.number().int().min(1).max(100_000).default(200)
          .describe('At most this many (name, query type, view) series; queries of names without one are counted in fovea.dns.name.overflow'),
        tableSize: z.number().int().min(64).max(1_048_576).default(4_096)
          .describe('Size of the kernel table of names (per query type and view); a name that finds it full is counted (dns_names_full), its messages still in every other DNS metric'),
      }).strict().default({}),
    }).strict().default({}),
    tcp: z.object({
      enabled: z.boolean().default(true)
        .describe('TCP health probe: retransmissions, resets, opens, failed connects, handshake time, RTT, states (tracepoints)'),
      maxConnections: z.number().int().min(1_024).max(1_048_576).default(16_384)
        .describe('Size of the kernel table of (local, remote, server port) TCP records; a full table is counted'),
      maxSockets: z.number().int().min(1_024).max(4_194_304).default(131_072)
        .describe('TCP sockets followed for the state gauge and handshake time; beyond it they are counted and left out'),
      idleTimeoutMs: durationMs(1_000, 3_600_000).default(120_000)
        .describe('A TCP record unchanged this long is deleted from the kernel (its totals stay in the series)'),
    }).strict().default({}),
  }).strict().default({}),
  kubernetes: z.object({
    mode: z.enum(['auto', 'cluster', 'node', 'off']).default('auto')
      .describe('Identity from the Kubernetes API: cluster = all pods/services (both ends of a flow), node = this node\'s pods only, auto = cluster when running in a cluster (or a kubeconfig is given), else off'),
    kubeconfig: z.string().default('')
      .describe('Kubeconfig file; empty = in-cluster service account, else ~/.kube/config when mode is set'),
  }).strict().default({}),
  pods: z.object({
    seriesTtlMs: durationMs(0, 86_400_000).default(300_000)
      .describe('Series of a deleted pod keep their last value this long, then disappear'),
    podNames: z.boolean().default(false).describe('Add pod names to workload-to-workload flow series (cardinality)'),
    addresses: z.boolean().default(false).describe('Add IP addresses to flow series (cardinality)'),
    clientPorts: z.boolean().default(false).describe('Add client ports to flow series (cardinality)'),
  }).strict().default({}),
  standalone: z.object({
    netns: z.array(z.string()).default([])
      .describe('Outside Kubernetes: named network namespaces (globs) to treat as workloads, e.g. ["*"]'),
  }).strict().default({}),
  events: z.object({
    drops: z.object({
      enabled: z.boolean().default(true)
        .describe('Drop events: a rate-limited sample of drops from the kernel, with 5-tuple, reason and both ends\' identity'),
      ratePerCpu: z.number().int().min(1).max(1_000_000).default(100)
        .describe('Drop events per second per CPU per drop reason; drops beyond it are counted and carried on the next event'),
      ringBufferBytes: z.number().int().min(4_096).max(1 << 30).default(1 << 20)
        .refine((n) => (n & (n - 1)) === 0 && n % 4_096 === 0, 'must be a power of 2 and a multiple of 4096')
        .describe('Size of the kernel ring buffer for drop events'),
      symbolize: z.boolean().default(true)
        .describe('Name the kernel function that dropped each packet (from /proc/kallsyms)'),
    }).strict().default({}),
    flows: z.object({
      enabled: z.boolean().default(false)
        .describe('Flow events (verdict FORWARDED) from the kernel flow table: new, periodic and ended flows'),
      intervalMs: durationMs(1_000, 600_000).default(5_000)
        .describe('How often flow records are read and active flows reported'),
    }).strict().default({}),
    dns: z.object({
      mode: z.enum(['off', 'failed', 'all']).default('failed')
        .describe('DNS events: failed = NXDOMAIN, SERVFAIL, REFUSED responses and timeouts; all = every message too'),
      ratePerCpu: z.number().int().min(1).max(1_000_000).default(100)
        .describe('DNS events per second per CPU (failed and other each); beyond it they are counted and carried on the next event'),
      ringBufferBytes: z.number().int().min(4_096).max(1 << 30).default(1 << 20)
        .refine((n) => (n & (n - 1)) === 0 && n % 4_096 === 0, 'must be a power of 2 and a multiple of 4096')
        .describe('Size of the kernel ring buffer for DNS events'),
    }).strict().default({}),
    tcp: z.object({
      enabled: z.boolean().default(true)
        .describe('TCP events: resets, failed connects and retransmissions, rate-limited in the kernel, with both ends\' identity'),
      ratePerCpu: z.number().int().min(1).max(1_000_000).default(100)
        .describe('TCP events per second per CPU per type; beyond it they are counted and carried on the next event'),
      ringBufferBytes: z.number().int().min(4_096).max(1 << 30).default(1 << 18)
        .refine((n) => (n & (n - 1)) === 0 && n % 4_096 === 0, 'must be a power of 2 and a multiple of 4096')
        .describe('Size of the kernel ring buffer for TCP events'),
    }).strict().default({}),
    drainIntervalMs: durationMs(10, 5_000).default(100)
      .describe('How often the event ring buffers (drops, TCP, DNS) are drained while events come'),
    idleDrainIntervalMs: durationMs(10, 5_000).default(1_000)
      .describe('How often they are drained once the drains read fewer than 64 events each for a second: a trickle of events, and the first ones of a burst, wait at most this long (at least drainIntervalMs)'),
    export: z.object({
      enabled: z.boolean().default(true).describe('Export events as OTLP log records (same collector as metrics)'),
      endpoint: httpUrl.optional()
        .describe('OTLP endpoint for events; unset = OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, else derived from the metrics endpoint'),
      maxQueue: z.number().int().min(1).max(1_000_000).default(10_000)
        .describe('Events kept while the collector is unreachable; beyond it the oldest are dropped and counted'),
      maxBatch: z.number().int().min(1).max(10_000).default(512).describe('Events per OTLP export request'),
      maxInFlight: z.number().int().min(1).max(16).default(1)
        .describe('OTLP export requests in flight at once (each its own batch; 1 = one round trip per batch, order kept through retries)'),
    }).strict().default({}),
  }).strict().default({}),
  hubble: z.object({
    enabled: z.boolean().default(false)
      .describe('Serve the Hubble API (hubble observe, hubble status, Hubble Relay and UI) from drop events and flow records'),
    address: z.string().default(':4244')
      .describe('TCP host:port of the Hubble API (:4244 is a Cilium node\'s); empty = the Unix socket only. Needs hubble.tls.* or hubble.tls.insecure'),
    socket: z.string().default('/run/fovea/hubble.sock')
      .describe('Unix socket of the Hubble API (mode 0600, plaintext); empty = none'),
    bufferSize: z.number().int().min(1).max(1_048_576).default(4_095)
      .describe('Flows kept for hubble observe --last/--since/--first (Cilium\'s event buffer capacity)'),
    clusterName: z.string().min(1).default('default')
      .describe('Cluster name on flows and peers (Cilium\'s cluster-name): node names get a "<cluster>/" prefix unless it is "default"'),
    maxClients: z.number().int().min(1).max(4_096).default(64)
      .describe('Concurrent GetFlows calls; more are refused with RESOURCE_EXHAUSTED'),
    tls: z.object({
      certFile: z.string().default('').describe('Server certificate (PEM) for the TCP address'),
      keyFile: z.string().default('').describe('Its private key (PEM)'),
      clientCaFile: z.string().default('').describe('CA bundle (PEM) for client certificates: set = mTLS, clients without one are refused'),
      reloadIntervalMs: durationMs(0, 86_400_000).default(60_000)
        .describe('How often the TLS files are re-read; changed, valid files apply to new connections (0 = never)'),
      insecure: z.boolean().default(false)
        .describe('Serve the TCP address in plaintext (no TLS): anyone who reaches it sees every flow'),
    }).strict().default({}),
  }).strict().default({}),
  health: z.object({
    address: z.string().default('')
      .describe('Serve GET /livez and /readyz on this host:port (e.g. 127.0.0.1:9810 for Kubernetes probes); empty = off'),
  }).strict().default({}),
  prometheus: z.object({
    address: listenAddress
      .describe('Serve GET /metrics (Prometheus text format, OpenMetrics when asked) on this host:port, e.g. 127.0.0.1:9464, or :9464 for every address; empty = off. Without an OTLP endpoint configured, the only way out'),
  }).strict().default({}),
  observe: z.object({
    enabled: z.boolean().default(true).describe('Serve `fovea observe` on a local Unix socket'),
    socket: z.string().min(1).default('/run/fovea/observe.sock').describe('Unix socket for `fovea observe` (mode 0600)'),
    address: z.string().default('')
      .describe('Also serve `fovea observe` on this TCP host:port (e.g. 127.0.0.1:4245); empty = only the Unix socket'),
    historySize: z.number().int().min(1).max(1_000_000).default(8_192)
      .describe('Recent events kept for `fovea observe --last/--since`'),
  }).strict().default({}),
  /** Sits below the standard OTEL_EXPORTER_OTLP_* variables; the export module applies those. */
  export: z.object({
    protocol: z.enum(EXPORT_PROTOCOLS).optional().describe('OTLP protocol'),
    endpoint: httpUrl.optional().describe('OTLP endpoint URL'),
    headers: z.record(z.string()).optional(),
    compression: z.enum(COMPRESSIONS).optional(),
    timeoutMs: durationMs(1).optional(),
    intervalMs: durationMs(100).optional()
      .describe('Export (and map read) interval; unset = OTEL_METRIC_EXPORT_INTERVAL, else 15s'),
    certificate: filePath.optional(),
    clientKey: filePath.optional(),
    clientCertificate: filePath.optional(),
    insecure: z.boolean().optional(),
    cardinalityLimit: z.number().int().min(1).max(100_000).default(2_000)
      .describe('Maximum series per instrument'),
  }).strict().default({}),
  bpfObjectDir: z.string().default('')
    .describe('Directory of the compiled *.bpf.o; empty = <package root>/bpf/build'),
  shutdownTimeoutMs: durationMs(100, 600_000).default(2_000)
    .describe('Deadline for an orderly shutdown'),
}).strict();

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The fully defaulted configuration (deep-frozen at run time). */
export type Config = DeepReadonly<z.output<typeof ConfigSchema>>;
/** What a config file (or any single source) may contain. */
export type ConfigInput = z.input<typeof ConfigSchema>;

// ---------------------------------------------------------------------------------------------
// Schema introspection, used for help text, unknown-key hints and source bookkeeping.

/** Strip default/optional/preprocess wrappers; returns the description found on the way, if any. */
export function unwrapSchema(s: z.ZodTypeAny): { inner: z.ZodTypeAny; description: string | undefined } {
  let description = s.description;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s._def.innerType as z.ZodTypeAny;
    else if (s instanceof z.ZodEffects) s = s._def.schema as z.ZodTypeAny;
    else return { inner: s, description };
    description ??= s.description;
  }
}

/** The schema node at a dotted/segmented path, or undefined. */
export function schemaAt(path: readonly (string | number)[], root: z.ZodTypeAny = ConfigSchema): z.ZodTypeAny | undefined {
  let s: z.ZodTypeAny = root;
  for (const seg of path) {
    const { inner } = unwrapSchema(s);
    if (inner instanceof z.ZodObject && typeof seg === 'string') {
      const next = (inner.shape as Record<string, z.ZodTypeAny>)[seg];
      if (next === undefined) return undefined;
      s = next;
    } else if (inner instanceof z.ZodArray) {
      s = inner.element as z.ZodTypeAny;
    } else if (inner instanceof z.ZodRecord) {
      s = inner.valueSchema as z.ZodTypeAny;
    } else {
      return undefined;
    }
  }
  return s;
}

/** Keys of the object schema at `path` (for "did you mean"). */
export function knownKeysAt(path: readonly (string | number)[]): string[] {
  const s = schemaAt(path);
  if (s === undefined) return [];
  const { inner } = unwrapSchema(s);
  return inner instanceof z.ZodObject ? Object.keys(inner.shape as object) : [];
}

/** Every leaf setting path ("probes.traffic.maxInterfaces"); arrays and records are leaves. */
export function leafPaths(s: z.ZodTypeAny = ConfigSchema, prefix = ''): string[] {
  const { inner } = unwrapSchema(s);
  if (!(inner instanceof z.ZodObject)) return [prefix];
  return Object.entries(inner.shape as Record<string, z.ZodTypeAny>)
    .flatMap(([k, v]) => leafPaths(v, prefix === '' ? k : `${prefix}.${k}`));
}

/** The all-defaults configuration. */
export function defaultConfig(): Config {
  return ConfigSchema.parse({});
}
