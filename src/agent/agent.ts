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
import { AgentHealth } from './health.js';
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
}

export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
}

export function probeSettings(config: Config, bpfObjectDir: string): ProbeSettings {
  return {
    bpfObjectDir,
    interfaces: config.interfaces,
    excludeInterfaces: config.excludeInterfaces,
    interfaceRescanIntervalMs: config.interfaceRescanIntervalMs,
    trafficMaxInterfaces: config.probes.traffic.maxInterfaces,
    tcMode: config.probes.traffic.attachMode,
    dropHook: config.probes.drop.hook,
    maxFlows: config.probes.flows.maxFlows,
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
  private readonly log: Logger;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger.child({ component: 'agent' });
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
    });
  }

  /** Loads and attaches the enabled probes; starts exporting. Throws when no probe could start. */
  start(): void {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    routeLibbpfLog(this.opts.logger);
    const { config } = this.opts;
    const ctx = { logger: this.opts.logger, settings: probeSettings(config, this.opts.bpfObjectDir) };
    const enabled = (this.opts.probes ?? PROBES).filter((d) => config.probes[d.name as keyof Config['probes']]?.enabled !== false);
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
    if (this.probes.length === 0) {
      const why = [...this.failed].map(([n, m]) => `${n}: ${m}`).join('; ') || 'every probe is disabled';
      throw new AgentStartError(`no probe could start (${why}). Run \`fovea doctor\` to see what this host supports.`);
    }
    this.producer.addSource({ collect: () => this.health.collect() });
    this.pipeline = this.opts.createPipeline(this.producer);
    this.log.info({ probes: this.statuses() }, 'agent started');
  }

  private timedSource(probe: Probe): SeriesSource {
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
          this.health.recordRead(probe.name, Number(process.hrtime.bigint() - t0) / 1e9, false);
          this.readLog.warn(`read:${probe.name}`, { probe: probe.name, err: (err as Error).message }, 'map read failed');
          return [];
        }
      },
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
    const snapshot = new Map<string, MetricFamily[]>();
    for (const p of this.probes) {
      try {
        p.detach();
        snapshot.set(p.name, p.collect());
      } catch (err) {
        this.log.warn({ probe: p.name, err: (err as Error).message }, 'final read failed');
      }
    }
    this.finalSnapshot = snapshot;
    for (const p of this.probes) p.stop();
    this.log.info({ ms: Date.now() - t0 }, 'probes detached');
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
  }
}
