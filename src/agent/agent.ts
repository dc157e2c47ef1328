/**
 * The agent: starts the enabled probes, feeds their kernel counters and its own health into the
 * OTLP metrics pipeline, and shuts down in order (stop counting → final read → free kernel
 * objects → final export → shut the exporter down).
 */
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Config } from '../config/index.js';
import { SeriesProducer, type SeriesSource } from '../export/series-producer.js';
import { routeLibbpfLog } from '../kernel/libbpf-log.js';
import type { Logger } from '../log.js';
import { METER_NAME } from '../names.js';
import { PROBES } from '../probes/index.js';
import type { MetricFamily, Probe, ProbeDefinition, ProbeSettings, ProbeStatus } from '../probes/types.js';
import type { StaticIdentity } from '../k8s/static.js';
import type { IdentitySource } from '../k8s/types.js';
import type { DiscoveryResult } from '../netns/pod-interfaces.js';
import { PodMetrics } from '../pods/pod-metrics.js';
import { PodNetwork } from '../pods/pod-network.js';
import { PodNetstack } from '../pods/pod-netstack.js';
import { NetnsRestoreError } from '../kernel/netns.js';
import { NetstackProbe } from '../probes/netstack/probe.js';
import { DropProbe } from '../probes/drop/probe.js';
import { TrafficProbe } from '../probes/traffic/probe.js';
import { TcpProbe } from '../probes/tcp/probe.js';
import { TcpSeries } from '../pods/tcp-series.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DropEventSource } from '../events/drop-events.js';
import { FlowEventSource } from '../events/flow-events.js';
import { TcpEventSource } from '../events/tcp-events.js';
import { DnsEventSource } from '../events/dns-events.js';
import { makeInterfaceFilter } from '../kernel/netdev.js';
import { DnsNameSeries } from '../pods/dns-names.js';
import { DnsSeries } from '../pods/dns-series.js';
import { KernelSymbols } from '../events/kallsyms.js';
import { SYMBOL_OBJECT } from '../kernel/symbolize.js';
import { EventPipeline, type EventOutput } from '../events/pipeline.js';
import { AgentHealth } from './health.js';
import type { HealthState } from './health-server.js';
import { RateLimitedLog } from './rate-limited.js';

/** What the agent needs from the export side (see src/export/metrics-pipeline.ts). */
export interface AgentPipeline {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  stats(): { exportsFailed: number };
}

export interface AgentOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Builds the export pipeline around the agent's metric producer. */
  readonly createPipeline: (producer: MetricProducer) => AgentPipeline;
  readonly bpfObjectDir: string;
  /** Defaults to the static registry. */
  readonly probes?: readonly ProbeDefinition[];
  readonly version?: string;
  /** Pod-level attribution: identity of addresses, and how to find pod interfaces. Absent = node level only. */
  readonly pods?: {
    readonly identity: IdentitySource;
    readonly discover: () => Promise<DiscoveryResult>;
    readonly standalone?: { readonly identity: StaticIdentity; readonly netns: readonly string[] };
  };
  /**
   * Where drop and flow events go (OTLP log exporter, observe server); the agent closes them at
   * stop. Or given to start(), when they are created after loadProbes().
   */
  readonly eventOutputs?: readonly EventOutput[];
  /**
   * Called after a fatal error is logged (NetnsRestoreError: this thread could not return to the
   * agent's own network namespace). Default: exit the process at once with FATAL_EXIT_CODE.
   */
  readonly onFatal?: (err: Error) => void;
}

/** Exit code after a fatal error (EX_SOFTWARE): the process must not go on. */
export const FATAL_EXIT_CODE = 70;

/** Source name of the pods' netstack counters (read times and errors under `fovea.probe`). */
const POD_NETSTACK = 'netstack.pods';
/** Source name of the tcp probe's pod and workload-pair series. */
const POD_TCP = 'tcp.pods';
/** Source name of the DNS series (node, pods, pairs) from the traffic probe's DNS tap. */
const DNS = 'dns';
/** Source name of the DNS series by question name (top N). */
const DNS_NAMES = 'dns.names';

export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
}

export function probeSettings(
  config: Config, bpfObjectDir: string, trackFlows?: ProbeSettings['trackFlows'], dnsHost?: ProbeSettings['dnsHost'],
): ProbeSettings {
  return {
    bpfObjectDir,
    interfaces: config.interfaces,
    excludeInterfaces: config.excludeInterfaces,
    interfaceRescanIntervalMs: config.interfaceRescanIntervalMs,
    trafficMaxInterfaces: config.probes.traffic.maxInterfaces,
    tcMode: config.probes.traffic.attachMode,
    dropHook: config.probes.drop.hook,
    maxFlows: config.probes.flows.maxFlows,
    dropEvents: config.events.drops,
    tcp: config.probes.tcp,
    tcpEvents: config.events.tcp,
    ...(config.probes.dns.enabled ? {
      dns: {
        enabled: true, events: config.events.dns.mode, ratePerCpu: config.events.dns.ratePerCpu,
        ringBufferBytes: config.events.dns.ringBufferBytes, maxPending: config.probes.dns.maxPending, maxKeys: config.probes.dns.maxKeys,
        ...(config.probes.dns.names.top > 0 ? { names: { tableSize: config.probes.dns.names.tableSize } } : {}),
        ...(config.probes.dns.hostInterfaces.length > 0 ? { hostInterfaces: true } : {}),
      },
    } : {}),
    ...(trackFlows ? { trackFlows } : {}),
    ...(dnsHost ? { dnsHost } : {}),
  };
}

export class Agent {
  private readonly probes: Probe[] = [];
  private readonly failed = new Map<string, string>();
  private readonly producer: SeriesProducer;
  private readonly health: AgentHealth;
  private pipeline: AgentPipeline | undefined;
  private readonly readLog: RateLimitedLog;
  private finalSnapshot: Map<string, MetricFamily[]> | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;
  private probesLoaded = false;
  private eventOutputs: readonly EventOutput[];
  private readonly log: Logger;
  private podNetwork: PodNetwork | undefined;
  private podMetrics: PodMetrics | undefined;
  private podNetstack: PodNetstack | undefined;
  private tcpSeries: TcpSeries | undefined;
  private dnsSeries: DnsSeries | undefined;
  private dnsNames: DnsNameSeries | undefined;
  /** DNS events (when on): the series stage hands it timed-out queries */
  private dnsEvents: DnsEventSource | undefined;
  private podTimer: NodeJS.Timeout | undefined;
  private events: EventPipeline | undefined;
  private symbols: KernelSymbols | undefined;
  private finalEvents: MetricFamily[] | undefined;
  private lastCollectAt: number | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger.child({ component: 'agent' });
    this.eventOutputs = opts.eventOutputs ?? [];
    this.readLog = new RateLimitedLog(this.log);
    this.producer = new SeriesProducer({
      scope: { name: METER_NAME, version: opts.version },
      cardinalityLimit: opts.config.export.cardinalityLimit,
    });
    this.health = new AgentHealth({
      probes: () => this.probes,
      failedProbes: () => this.failed,
      exportFailures: () => this.pipeline?.stats().exportsFailed ?? 0,
      seriesOverflow: () => this.producer.overflowCount,
      flows: () => this.podMetrics?.flowStats(),
      identity: () => this.opts.pods?.identity.stats(),
    });
  }

  /**
   * Loads and attaches the enabled probes (their BPF objects). Throws when no probe could start.
   * start() does it when it was not done before; `fovea agent` does it first, before it loads the
   * export modules (src/commands/agent.ts).
   */
  loadProbes(): void {
    if (this.probesLoaded) throw new Error('probes already loaded');
    this.probesLoaded = true;
    routeLibbpfLog(this.opts.logger);
    const { config } = this.opts;
    const pods = this.opts.pods;
    if (pods) {
      this.podNetwork = new PodNetwork({ identity: pods.identity, discover: pods.discover, logger: this.opts.logger, standalone: pods.standalone });
    }
    const net = this.podNetwork;
    const trackFlows = net && config.probes.flows.enabled ? (i: { ifindex: number }) => net.isPodInterface(i.ifindex) : undefined;
    const dnsHostNames = config.probes.dns.enabled && config.probes.dns.hostInterfaces.length > 0
      ? makeInterfaceFilter({ include: config.probes.dns.hostInterfaces, exclude: [] }) : undefined;
    const dnsHost = dnsHostNames
      ? (i: { ifindex: number; name: string }) => dnsHostNames(i.name) && !(net?.isPodInterface(i.ifindex) ?? false) : undefined;
    const ctx = { logger: this.opts.logger, settings: probeSettings(config, this.opts.bpfObjectDir, trackFlows, dnsHost) };
    const enabled = (this.opts.probes ?? PROBES).filter((d) => config.probes[d.name as keyof Config['probes']]?.enabled !== false);
    const auxiliary = new Set(enabled.filter((d) => d.auxiliary).map((d) => d.name));
    for (const def of enabled) {
      const probe = def.create(ctx);
      try {
        probe.start();
        this.probes.push(probe);
        this.producer.addSource(this.timedSource(probe));
      } catch (err) {
        probe.stop();
        const msg = (err as Error).message;
        this.failed.set(def.name, msg);
        this.log.warn({ probe: def.name, err: msg }, 'probe failed to start; continuing without it');
      }
    }
    // an auxiliary probe (no eBPF) alone does not hide eBPF probes that all failed to start
    if (this.probes.length === 0 || (this.failed.size > 0 && this.probes.every((p) => auxiliary.has(p.name)))) {
      const why = [...this.failed].map(([n, m]) => `${n}: ${m}`).join('; ') || 'every probe is disabled';
      throw new AgentStartError(`no probe could start (${why}). Run \`fovea doctor\` to see what this host supports.`);
    }
  }

  /**
   * Loads the probes (unless loadProbes() did), starts pod attribution, events and exporting.
   * Throws when no probe could start. `eventOutputs`: the event outputs, when not given at construction.
   */
  start(eventOutputs?: readonly EventOutput[]): void {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    if (eventOutputs) this.eventOutputs = eventOutputs;
    if (!this.probesLoaded) this.loadProbes();
    const pods = this.opts.pods;
    const net = this.podNetwork;
    if (pods && net) this.startPods(pods.identity, net);
    this.startEvents();
    this.producer.addSource({
      collect: () => {
        this.lastCollectAt = Date.now();
        return this.health.collect();
      },
    });
    this.pipeline = this.opts.createPipeline(this.producer);
    this.log.info({ probes: this.statuses() }, 'agent started');
  }

  /** Pod attribution: the identity stage as one more source, refreshed on the rescan interval. */
  private startPods(identity: IdentitySource, net: PodNetwork): void {
    const traffic = this.probes.find((p): p is TrafficProbe => p instanceof TrafficProbe);
    const drop = this.probes.find((p): p is DropProbe => p instanceof DropProbe);
    const cfg = this.opts.config;
    const metrics = new PodMetrics({
      identity, podInterfaces: () => net.interfaces(), traffic, drop,
      settings: {
        seriesTtlMs: cfg.pods.seriesTtlMs, flowIdleTimeoutMs: cfg.probes.flows.idleTimeoutMs,
        podNames: cfg.pods.podNames, addresses: cfg.pods.addresses, clientPorts: cfg.pods.clientPorts,
      },
    });
    this.podMetrics = metrics;
    this.producer.addSource(this.timedSource({ name: 'pods', collect: () => metrics.collect() }));
    const tcp = this.probes.find((p): p is TcpProbe => p instanceof TcpProbe);
    if (tcp) {
      // after the probe's own source: it reads the records the probe read in the same collection
      const tcpSeries = new TcpSeries({ identity, tcp, settings: { seriesTtlMs: cfg.pods.seriesTtlMs, podNames: cfg.pods.podNames, addresses: cfg.pods.addresses } });
      this.tcpSeries = tcpSeries;
      this.producer.addSource(this.timedSource({ name: POD_TCP, collect: () => tcpSeries.collect() }));
    }
    const tap = traffic?.dnsTap();
    if (tap) {
      const dnsSeries = new DnsSeries({
        identity, dns: tap,
        settings: {
          seriesTtlMs: cfg.pods.seriesTtlMs, podNames: cfg.pods.podNames, addresses: cfg.pods.addresses,
          timeoutMs: cfg.probes.dns.timeoutMs, idleTimeoutMs: cfg.probes.flows.idleTimeoutMs,
        },
        onTimeouts: (q) => this.dnsEvents?.addTimeouts(q),
      });
      this.dnsSeries = dnsSeries;
      this.producer.addSource(this.timedSource({ name: DNS, collect: () => dnsSeries.collect() }));
      const names = cfg.probes.dns.names;
      if (names.top > 0) {
        const dnsNames = new DnsNameSeries(tap, {
          top: names.top, max: names.max, idleTimeoutMs: cfg.probes.flows.idleTimeoutMs, seriesTtlMs: cfg.pods.seriesTtlMs,
        });
        this.dnsNames = dnsNames;
        this.producer.addSource(this.timedSource({ name: DNS_NAMES, collect: () => dnsNames.collect() }));
      }
    }
    const netstack = this.probes.find((p): p is NetstackProbe => p instanceof NetstackProbe);
    if (netstack) {
      const podNetstack = new PodNetstack({ reader: netstack, pods: () => net.namespaces().values(), logger: this.opts.logger });
      this.podNetstack = podNetstack;
      this.producer.addSource(this.timedSource({ name: POD_NETSTACK, collect: () => podNetstack.collect() }));
    }
    const tick = async (): Promise<void> => {
      await net.refresh();
      // the traffic probe's rescans in pod mode (leaveRescansToCaller below), whatever fails after it;
      // right after discovery: flow records are switched on for pod interfaces found since the last
      traffic?.safeRescan();
      try {
        metrics.syncPods();
        const tap = traffic?.dnsTap();
        if (tap && this.opts.config.probes.dns.hostInterfaces.length > 0) {
          const failed = tap.syncPodAddresses(identity.localPods().filter((p) => !p.hostNetwork).flatMap((p) => p.ips));
          if (failed > 0) this.readLog.warn('dns-pod-addrs', { failed }, 'dns pod address table full: these pods\' DNS on node interfaces counts twice');
        }
      } catch (err) {
        this.readLog.warn('pods', { err: (err as Error).message }, 'pod sync failed');
      }
    };
    void tick();
    this.podTimer = setInterval(() => void tick(), cfg.interfaceRescanIntervalMs);
    this.podTimer.unref();
    traffic?.leaveRescansToCaller(); // the tick rescans: the probe's own timer would do it a second time
  }

  /** The event stage: drop events from the drop probe's ring, flow events from the flow table. */
  private startEvents(): void {
    const cfg = this.opts.config.events;
    const node = this.opts.config.nodeName || hostname();
    const identity = this.opts.pods?.identity;
    const drop = this.probes.find((p): p is DropProbe => p instanceof DropProbe);
    const traffic = this.probes.find((p): p is TrafficProbe => p instanceof TrafficProbe);
    const dropsOn = cfg.drops.enabled && drop?.eventsEnabled === true;
    const net = this.podNetwork;
    // flow records feed flow events and the Hubble API's FORWARDED flows
    const hubble = this.opts.config.hubble.enabled;
    const flowsWanted = cfg.flows.enabled || hubble;
    const flowsOn = flowsWanted && traffic !== undefined && net !== undefined && this.opts.config.probes.flows.enabled;
    if (cfg.flows.enabled && !flowsOn) {
      this.log.warn('flow events need the traffic probe, flow records and pod interfaces (Kubernetes or standalone.netns); flow events are off');
    } else if (hubble && !flowsOn) {
      this.log.warn('the Hubble API shows DROPPED flows only: FORWARDED flows need the traffic probe, flow records and pod interfaces (Kubernetes or standalone.netns)');
    }
    if (hubble && !dropsOn) {
      this.log.warn('the Hubble API shows no DROPPED flows: drop events are off (events.drops.enabled) or the drop probe is down');
    }
    const tcp = this.probes.find((p): p is TcpProbe => p instanceof TcpProbe);
    const tcpOn = cfg.tcp.enabled && tcp?.eventsEnabled === true;
    const tap = traffic?.dnsTap();
    const dnsOn = tap?.eventsEnabled === true;
    if (!dropsOn && !flowsOn && !tcpOn && !dnsOn) return;
    if (dnsOn) this.dnsEvents = new DnsEventSource({ tap, identity, node });
    // names drop sites: the kernel's symboliser program, loaded now (src/events/kallsyms.ts prepare),
    // or /proc/kallsyms read from the first drop event on where it does not load (a few MB, not taken at start)
    const symbols = dropsOn && cfg.drops.symbolize
      ? new KernelSymbols({
        bpfObject: join(this.opts.bpfObjectDir, SYMBOL_OBJECT),
        onUnavailable: (reason) => this.log.warn({ reason }, 'drop events will not name the kernel function that dropped'),
        onFileFallback: (reason) => this.log.info({ reason }, 'drop sites named from /proc/kallsyms: the kernel does not run the symboliser program'),
      })
      : undefined;
    symbols?.prepare();
    this.symbols = symbols;
    const events = new EventPipeline({
      logger: this.opts.logger,
      ...(dropsOn ? {
        drops: new DropEventSource({ probe: drop, identity, node, ...(symbols ? { symbols } : {}) }),
        dropLimits: drop,
      } : {}),
      ...(flowsOn ? {
        flows: new FlowEventSource({ flowView: () => traffic.flowView(), identity, podInterfaces: () => net.interfaces(), node }),
      } : {}),
      ...(tcpOn ? { tcp: new TcpEventSource({ probe: tcp, identity, node }), tcpLimits: tcp } : {}),
      ...(this.dnsEvents && tap ? { dns: this.dnsEvents, dnsLimits: tap } : {}),
      outputs: this.eventOutputs,
      drainIntervalMs: cfg.drainIntervalMs,
      idleDrainIntervalMs: cfg.idleDrainIntervalMs,
      flowIntervalMs: cfg.flows.intervalMs,
    });
    this.events = events;
    events.start();
    this.producer.addSource({ collect: () => this.finalEvents ?? events.collect() });
  }

  /** Drains drop and TCP events and reads flow records now (tests); returns how many events. */
  drainEvents(): number {
    return (this.events?.drainDrops() ?? 0) + (this.events?.drainTcp() ?? 0) + (this.events?.drainDns() ?? 0) + (this.events?.readFlows() ?? 0);
  }

  /** Refreshes pod interfaces and registrations now (tests, and the first export after start). */
  async refreshPods(): Promise<void> {
    if (!this.podNetwork || !this.podMetrics) return;
    await this.podNetwork.refresh();
    this.podMetrics.syncPods();
    this.probes.find((p): p is TrafficProbe => p instanceof TrafficProbe)?.rescan();
  }

  private timedSource(probe: Pick<Probe, 'name' | 'collect'>): SeriesSource {
    return {
      collect: () => {
        const frozen = this.finalSnapshot?.get(probe.name);
        if (frozen) return frozen;
        const t0 = process.hrtime.bigint();
        try {
          const fams = probe.collect();
          this.health.recordRead(probe.name, Number(process.hrtime.bigint() - t0) / 1e9, true);
          return fams;
        } catch (err) {
          if (err instanceof NetnsRestoreError) this.fatal(err);
          this.health.recordRead(probe.name, Number(process.hrtime.bigint() - t0) / 1e9, false);
          this.readLog.warn(`read:${probe.name}`, { probe: probe.name, err: (err as Error).message }, 'map read failed');
          return [];
        }
      },
    };
  }

  /**
   * The thread that runs every line of the agent could not return to the agent's own network
   * namespace (src/kernel/netns.ts): exports, the API watch and the Hubble server would all run in
   * a pod's namespace from now on. Log and end the process; no orderly shutdown from there.
   */
  private fatal(err: Error): void {
    this.log.fatal({ err: err.message, exitCode: FATAL_EXIT_CODE }, 'fatal: lost the agent\'s own network namespace; exiting');
    if (this.opts.onFatal) this.opts.onFatal(err);
    else process.exit(FATAL_EXIT_CODE);
  }

  /** What the health endpoint judges (src/agent/health-server.ts). */
  healthState(): HealthState {
    return {
      lastCollectAt: this.lastCollectAt,
      probesUp: this.probes.filter((p) => p.status().state === 'up').length,
      stopping: this.stopping !== undefined,
    };
  }

  statuses(): ProbeStatus[] {
    return [
      ...this.probes.map((p) => p.status()),
      ...[...this.failed].map(([name, detail]) => ({ name, state: 'down' as const, detail })),
    ];
  }

  /** Exports now. */
  async flush(): Promise<void> {
    await this.pipeline?.forceFlush();
  }

  /**
   * Orderly, idempotent shutdown bounded by config.shutdownTimeoutMs: detach every program, take a
   * final reading, free kernel objects, export the final reading, shut the exporter down.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const t0 = Date.now();
    if (this.podTimer) clearInterval(this.podTimer);
    this.podTimer = undefined;
    const snapshot = new Map<string, MetricFamily[]>();
    for (const p of this.probes) {
      try {
        p.detach();
        snapshot.set(p.name, p.collect());
      } catch (err) {
        if (err instanceof NetnsRestoreError) this.fatal(err);
        this.log.warn({ probe: p.name, err: (err as Error).message }, 'final read failed');
      }
    }
    if (this.podMetrics) {
      try {
        snapshot.set('pods', this.podMetrics.collect());
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'final pod read failed');
      }
    }
    if (this.dnsSeries) {
      try {
        snapshot.set(DNS, this.dnsSeries.collect());
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'final dns read failed');
      }
    }
    if (this.dnsNames) {
      try {
        snapshot.set(DNS_NAMES, this.dnsNames.collect());
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'final dns name read failed');
      }
    }
    if (this.tcpSeries) {
      try {
        snapshot.set(POD_TCP, this.tcpSeries.collect());
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'final pod tcp read failed');
      }
    }
    if (this.podNetstack) {
      try {
        snapshot.set(POD_NETSTACK, this.podNetstack.collect());
      } catch (err) {
        if (err instanceof NetnsRestoreError) this.fatal(err);
        this.log.warn({ err: (err as Error).message }, 'final pod netstack read failed');
      }
    }
    this.finalSnapshot = snapshot;
    if (this.events) {
      try {
        this.events.finalDrain();
        this.finalEvents = this.events.collect();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'final event drain failed');
      }
    }
    for (const p of this.probes) p.stop();
    this.opts.pods?.identity.stop();
    this.log.info({ ms: Date.now() - t0 }, 'probes detached');
    const eventsClosed = this.closeEventOutputs(t0);
    if (this.pipeline) {
      const deadline = Math.max(100, this.opts.config.shutdownTimeoutMs - (Date.now() - t0));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), deadline); });
      const r = await Promise.race([this.pipeline.shutdown().then(() => 'done' as const, (e: Error) => e), timeout]);
      clearTimeout(timer);
      if (r === 'timeout') this.log.warn({ deadlineMs: deadline }, 'final export did not finish in time');
      else if (r instanceof Error) this.log.warn({ err: r.message }, 'final export failed');
      else this.log.info({ ms: Date.now() - t0 }, 'final export done');
    }
    await eventsClosed;
    this.symbols?.close(); // the final events are out: no name is asked for any more
  }

  /** Flushes and closes the event outputs within what is left of the shutdown deadline. */
  private async closeEventOutputs(t0: number): Promise<void> {
    const outputs = this.eventOutputs;
    const left = Math.max(100, this.opts.config.shutdownTimeoutMs - (Date.now() - t0));
    if (this.events) await this.events.closeOutputs(left);
    else await Promise.all(outputs.map((o) => o.close(left).catch(() => undefined)));
  }
}
