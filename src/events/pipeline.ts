/**
 * The event stage: drains drop events from the kernel ring on a short timer, reads flow records on
 * their own interval, and hands each batch to every output (the OTLP log exporter, the `fovea
 * observe` server). Its health — events read, suppressed by the kernel's rate limit, lost at each
 * stage, exported, queued — is one more metric source of the agent.
 */
import { RateLimitedLog } from '../agent/rate-limited.js';
import type { Logger } from '../log.js';
import { ATTR, EVENT, EVENT_LOSS_STAGE, INSTRUMENTS } from '../names.js';
import type { EventLimitCount } from '../probes/drop/layout.js';
import type { DropReasons } from '../probes/drop/reasons.js';
import type { CounterSeries, MetricFamily } from '../probes/types.js';
import { slotReason, type DropEventSource } from './drop-events.js';
import type { FlowEventSource } from './flow-events.js';
import { TCP_EVENT_KINDS, type TcpEventSource } from './tcp-events.js';
import type { DnsEventSource } from './dns-events.js';
import type { EventName, EventSink, NetworkEvent } from './types.js';

/** How often the kernel's ring-full counters are read for outputs that report kernel losses. */
const KERNEL_LOSS_CHECK_MS = 1_000;
/** Drains that read fewer events than BUSY_EVENTS for this long switch to the idle interval. */
const QUIET_BEFORE_IDLE_MS = 1_000;
/**
 * A drain that reads this many events (all rings together) switches back to drainIntervalMs. Fewer
 * is a trickle (a host's background drops: ~1 a second on a quiet machine), read once a second: the
 * rings hold thousands of events, so only a burst can fill one, and a burst shows here.
 */
export const BUSY_EVENTS = 64;

/** Numbers an output reports about itself (all optional). */
export interface EventOutputStats {
  /** events the backend accepted */
  readonly exported?: number;
  /** events waiting to be sent */
  readonly queued?: number;
  /** events lost, by stage (queue_full, export_rejected) */
  readonly lost?: Readonly<Record<string, number>>;
  /** connected clients (the observe server) */
  readonly clients?: number;
  /** open GetFlows calls (the Hubble server) */
  readonly hubbleClients?: number;
  /** flows sent to Hubble clients, cumulative */
  readonly hubbleFlowsSent?: number;
}

/** Where events go: a sink with a name, its own numbers, and an orderly close. */
export interface EventOutput extends EventSink {
  readonly name: string;
  /** The events it takes, by name; absent: all. */
  readonly accepts?: readonly EventName[];
  stats?(): EventOutputStats;
  /** Drop events the kernel could not queue (its ring buffer was full), as they are counted. */
  kernelLoss?(count: number): void;
  /** Flushes what it holds (bounded by `timeoutMs`) and releases everything. */
  close(timeoutMs: number): Promise<void>;
}

export interface EventPipelineOptions {
  readonly logger: Logger;
  readonly drops?: DropEventSource;
  /** the drop probe's per-reason rate-limit counters and names (for the health metrics) */
  readonly dropLimits?: { readEventLimits(): EventLimitCount[]; reasonNames(): DropReasons | undefined };
  readonly flows?: FlowEventSource;
  /** TCP events from the tcp probe's ring (drained with the drops, on the same timer) */
  readonly tcp?: TcpEventSource;
  /** the tcp probe's per-type rate-limit counters (`slot` is enum tcp_event_type) */
  readonly tcpLimits?: { readEventLimits(): EventLimitCount[] };
  /** DNS events from the traffic probe's DNS ring, and timed-out queries (drained with the drops) */
  readonly dns?: DnsEventSource;
  /** the DNS ring's per-slot rate-limit counters (`slot`: 0 failed responses, 1 other messages) */
  readonly dnsLimits?: { readEventLimits(): EventLimitCount[] };
  readonly outputs: readonly EventOutput[];
  readonly drainIntervalMs: number;
  /**
   * The drain interval once the drains read fewer than BUSY_EVENTS events each for a second (an idle
   * node: one wakeup a second instead of ten). Events of a trickle, and the first ones of a burst,
   * are read within it; a drain that reads BUSY_EVENTS or more returns to `drainIntervalMs`. Absent
   * or below `drainIntervalMs`: `drainIntervalMs`.
   */
  readonly idleDrainIntervalMs?: number;
  readonly flowIntervalMs: number;
}

export class EventPipeline {
  private drainTimer: NodeJS.Timeout | undefined;
  private flowTimer: NodeJS.Timeout | undefined;
  private flowEvents = 0;
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private stopped = false;
  private ringFullSeen = 0;
  private lossCheckedAt = -Infinity;
  /** drains in a row that read fewer than BUSY_EVENTS events */
  private quietDrains = 0;
  /** a publish of the drop events held for their location is due once it is known */
  private heldDropsDue = false;
  /** drains run by the timer, and how many of them at the idle interval (health, tests) */
  drains = 0;
  idleDrains = 0;

  constructor(private readonly opts: EventPipelineOptions) {
    this.log = opts.logger.child({ component: 'events' });
    this.warn = new RateLimitedLog(this.log);
  }

  start(): void {
    if (this.opts.drops || this.opts.tcp || this.opts.dns) this.scheduleDrain(this.opts.drainIntervalMs);
    if (this.opts.flows) {
      this.flowTimer = setInterval(() => this.readFlows(), this.opts.flowIntervalMs);
      this.flowTimer.unref();
    }
    this.log.info({
      drops: this.opts.drops !== undefined, flows: this.opts.flows !== undefined, tcp: this.opts.tcp !== undefined, dns: this.opts.dns !== undefined,
      outputs: this.opts.outputs.map((o) => o.name),
    }, 'event stage started');
  }

  /** The drain interval the rings' last drains call for: short while events pour in, long when few or none come. */
  drainDelayMs(): number {
    const busy = this.opts.drainIntervalMs;
    const idle = Math.max(busy, this.opts.idleDrainIntervalMs ?? busy);
    return this.quietDrains * busy >= QUIET_BEFORE_IDLE_MS ? idle : busy;
  }

  private scheduleDrain(ms: number): void {
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      if (this.stopped) return;
      const idle = ms > this.opts.drainIntervalMs;
      const n = this.drainDrops() + this.drainTcp() + this.drainDns();
      this.drains++;
      if (idle) this.idleDrains++;
      this.quietDrains = n >= BUSY_EVENTS ? 0 : this.quietDrains + 1;
      if (!this.stopped) this.scheduleDrain(this.drainDelayMs());
    }, ms);
    this.drainTimer.unref();
  }

  /** Drains the drop-event ring now (also the timer's work). Returns how many events it read. */
  drainDrops(): number {
    const drops = this.opts.drops;
    if (!drops) return 0;
    const n = this.take('drain', 'reading drop events failed', () => drops.drain());
    this.checkKernelLoss();
    this.publishHeldDrops(drops);
    return n;
  }

  /** Drop events held for their drop location go out as soon as it is known, not at the next drain. */
  private publishHeldDrops(drops: DropEventSource): void {
    const pending = drops.pending;
    if (!pending || this.heldDropsDue) return;
    this.heldDropsDue = true;
    void pending.then(() => {
      this.heldDropsDue = false;
      this.take('drain', 'reading drop events failed', () => drops.takeReady());
    });
  }

  /** Drains the TCP-event ring now (also the timer's work). Returns how many events it read. */
  drainTcp(): number {
    const tcp = this.opts.tcp;
    if (!tcp) return 0;
    return this.take('tcp', 'reading tcp events failed', () => tcp.drain());
  }

  /** Drains the DNS-event ring and the timed-out queries now (also the timer's work). */
  drainDns(): number {
    const dns = this.opts.dns;
    if (!dns) return 0;
    return this.take('dns', 'reading dns events failed', () => dns.drain());
  }

  /** Tells the outputs that want it how many drop events the kernel lost since the last check. */
  private checkKernelLoss(): void {
    const limits = this.opts.dropLimits;
    const now = Date.now();
    if (!limits || now - this.lossCheckedAt < KERNEL_LOSS_CHECK_MS || !this.opts.outputs.some((o) => o.kernelLoss)) return;
    this.lossCheckedAt = now;
    let total = 0;
    try {
      for (const l of limits.readEventLimits()) total += Number(l.ringFull);
    } catch (err) {
      this.warn.warn('ringfull', { err: (err as Error).message }, 'reading the ring-full counters failed');
      return;
    }
    const delta = total - this.ringFullSeen;
    this.ringFullSeen = total;
    if (delta <= 0) return;
    for (const o of this.opts.outputs) o.kernelLoss?.(delta);
  }

  /** Reads flow records now (also the timer's work). */
  readFlows(): number {
    const flows = this.opts.flows;
    if (!flows) return 0;
    const n = this.take('flows', 'reading flow records failed', () => flows.read());
    this.flowEvents += n;
    return n;
  }

  /** Reads a batch from a source and publishes it; a failed read is logged (rate-limited) and skipped. */
  private take(key: string, failure: string, read: () => NetworkEvent[]): number {
    if (this.stopped) return 0;
    let events: NetworkEvent[];
    try {
      events = read();
    } catch (err) {
      this.warn.warn(key, { err: (err as Error).message }, failure);
      return 0;
    }
    this.publish(events);
    return events.length;
  }

  private publish(events: readonly NetworkEvent[]): void {
    if (events.length === 0) return;
    for (const o of this.opts.outputs) {
      const accepts = o.accepts;
      const batch = accepts ? events.filter((e) => accepts.includes(e.name)) : events;
      if (batch.length === 0) continue;
      try {
        o.publish(batch);
      } catch (err) {
        this.warn.warn(`publish:${o.name}`, { output: o.name, err: (err as Error).message }, 'event output failed');
      }
    }
  }

  /**
   * Stops the timers after a last drain and flow read. Call after the programs are detached and
   * before their maps are freed. Idempotent.
   */
  finalDrain(): void {
    if (this.stopped) return;
    clearTimeout(this.drainTimer);
    clearInterval(this.flowTimer);
    this.drainDrops();
    this.drainTcp();
    this.drainDns();
    this.readFlows();
    this.stopped = true;
  }

  /** Closes every output (each flushes what it holds) within `timeoutMs`. */
  async closeOutputs(timeoutMs: number): Promise<void> {
    this.finalDrain();
    const drops = this.opts.drops;
    if (drops) {
      // the drop events still held for their location (read from a file: no kernel object needed)
      while (drops.pending) await drops.pending;
      this.publish(drops.takeReady());
    }
    await Promise.all(this.opts.outputs.map(async (o) => {
      try {
        await o.close(timeoutMs);
      } catch (err) {
        this.log.warn({ output: o.name, err: (err as Error).message }, 'closing an event output failed');
      }
    }));
  }

  /** Health series of the event stage. */
  collect(): MetricFamily[] {
    const read: CounterSeries[] = [];
    const suppressed: CounterSeries[] = [];
    const lost = new Map<string, number>();
    if (this.opts.drops) read.push({ attributes: { [ATTR.eventName]: EVENT.drop }, value: this.opts.drops.counts().read });
    if (this.opts.flows) read.push({ attributes: { [ATTR.eventName]: EVENT.flow }, value: this.flowEvents });
    if (this.opts.tcp) {
      for (const [name, value] of this.opts.tcp.countsByName()) read.push({ attributes: { [ATTR.eventName]: name }, value });
    }
    if (this.opts.dns) {
      for (const [name, value] of this.opts.dns.countsByName()) read.push({ attributes: { [ATTR.eventName]: name }, value });
    }
    let otherRingFull = 0;
    if (this.opts.dnsLimits) {
      for (const l of this.opts.dnsLimits.readEventLimits()) {
        if (l.suppressed > 0n) suppressed.push({ attributes: { [ATTR.eventName]: EVENT.dns, [ATTR.dnsEventSlot]: l.slot === 0 ? 'failed' : 'other' }, value: Number(l.suppressed) });
        otherRingFull += Number(l.ringFull);
      }
      lost.set(EVENT_LOSS_STAGE.ringFull, otherRingFull);
    }
    if (this.opts.tcpLimits) {
      for (const l of this.opts.tcpLimits.readEventLimits()) {
        const k = TCP_EVENT_KINDS[l.slot];
        if (k && l.suppressed > 0n) {
          suppressed.push({ attributes: { [ATTR.eventName]: k.name, [ATTR.tcpEventKind]: k.kind }, value: Number(l.suppressed) });
        }
        otherRingFull += Number(l.ringFull);
      }
      lost.set(EVENT_LOSS_STAGE.ringFull, otherRingFull);
    }
    if (this.opts.dropLimits) {
      const reasons = this.opts.dropLimits.reasonNames();
      let ringFull = 0;
      for (const l of this.opts.dropLimits.readEventLimits()) {
        if (l.suppressed > 0n) suppressed.push({ attributes: { [ATTR.dropReason]: slotReason(l.slot, reasons) }, value: Number(l.suppressed) });
        ringFull += Number(l.ringFull);
      }
      lost.set(EVENT_LOSS_STAGE.ringFull, ringFull + otherRingFull);
    }
    let exported: number | undefined;
    let queued: number | undefined;
    let clients: number | undefined;
    let hubbleClients: number | undefined;
    let hubbleSent: number | undefined;
    for (const o of this.opts.outputs) {
      const s = o.stats?.();
      if (!s) continue;
      if (s.exported !== undefined) exported = (exported ?? 0) + s.exported;
      if (s.queued !== undefined) queued = (queued ?? 0) + s.queued;
      if (s.clients !== undefined) clients = (clients ?? 0) + s.clients;
      if (s.hubbleClients !== undefined) hubbleClients = (hubbleClients ?? 0) + s.hubbleClients;
      if (s.hubbleFlowsSent !== undefined) hubbleSent = (hubbleSent ?? 0) + s.hubbleFlowsSent;
      for (const [stage, n] of Object.entries(s.lost ?? {})) lost.set(stage, (lost.get(stage) ?? 0) + n);
    }
    const out: MetricFamily[] = [
      { instrument: INSTRUMENTS.eventsRead, series: read },
      { instrument: INSTRUMENTS.eventsSuppressed, series: suppressed },
      { instrument: INSTRUMENTS.eventsLost, series: [...lost].map(([stage, value]) => ({ attributes: { [ATTR.lossStage]: stage }, value })) },
    ];
    if (exported !== undefined) out.push({ instrument: INSTRUMENTS.eventsExported, series: [{ attributes: {}, value: exported }] });
    if (queued !== undefined) out.push({ instrument: INSTRUMENTS.eventsQueued, series: [{ attributes: {}, value: queued }] });
    if (clients !== undefined) out.push({ instrument: INSTRUMENTS.observeClients, series: [{ attributes: {}, value: clients }] });
    if (hubbleClients !== undefined) out.push({ instrument: INSTRUMENTS.hubbleClients, series: [{ attributes: {}, value: hubbleClients }] });
    if (hubbleSent !== undefined) out.push({ instrument: INSTRUMENTS.hubbleFlowsSent, series: [{ attributes: {}, value: hubbleSent }] });
    return out;
  }
}
