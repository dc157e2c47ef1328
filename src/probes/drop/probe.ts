/**
 * Probe "drop": loads bpf/build/drop.bpf.o, attaches it to skb:kfree_skb (tp_btf, else raw
 * tracepoint) and turns drop_counts into `fovea.network.drop.packets` / `.bytes`.
 */
import { join } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import { attachTracing, type Attachment } from '../../kernel/attach.js';
import { Btf } from '../../kernel/btf.js';
import { BPF_MAP_TYPE_RINGBUF, mapTypeSupported } from '../../kernel/features.js';
import { BpfObject } from '../../kernel/object.js';
import type { BpfMap, ReadableMap } from '../../kernel/map.js';
import type { RingReader } from '../../kernel/ringbuf.js';
import { EventRing } from '../event-ring.js';
import { encodeIp } from '../addresses.js';
import { ATTR, INSTRUMENTS } from '../../names.js';
import { readFailureCounters } from '../counters.js';
import type { MetricFamily, Probe, ProbeContext, ProbeStatus, RecordFailure } from '../types.js';
import {
  DROP_ERRORS, DROP_ERRORS_LOSING, DROP_TRANSPORT, decodeDropCounts, decodeDropFlows, decodePodDrops,
  encodeDropEventConfig, type DropCount, type DropFlow, type EventLimitCount, type PodDropCount,
} from './layout.js';
import { dropReasonsFromBtf, type DropReasons } from './reasons.js';

export const DROP_OBJECT = 'drop.bpf.o';
/** The same program built without drop events (no ring buffer map): kernels < 5.8, events off. */
export const DROP_OBJECT_NO_EVENTS = 'drop-noevents.bpf.o';
/** Rate-limit window of drop events (ratePerCpu is per second). */
const EVENT_WINDOW_NS = 1_000_000_000n;

/** Hooks in order of preference: program name in drop.bpf.c and how we describe it. */
export const DROP_HOOKS = [
  { program: 'drop_tp_btf', hook: 'tp_btf/kfree_skb', kind: 'tp_btf' },
  { program: 'drop_raw_tp', hook: 'raw_tp/kfree_skb', kind: 'raw_tp' },
] as const;

/** Attributes of one drop_counts entry. Unknown transport / non-IP omit the attributes. */
export function dropAttributes(c: Pick<DropCount, 'reason' | 'ipVersion' | 'transport'>, reasons: DropReasons): Attributes {
  const a: Attributes = { [ATTR.dropReason]: reasons.name(c.reason) };
  const transport = DROP_TRANSPORT[c.transport];
  if (transport) a[ATTR.transport] = transport;
  if (c.ipVersion === 4 || c.ipVersion === 6) a[ATTR.networkType] = `ipv${c.ipVersion}`;
  return a;
}

/** drop_counts entries → the two metric families. Pure, for unit tests. */
export function dropFamilies(counts: readonly DropCount[], reasons: DropReasons): MetricFamily[] {
  const packets = [];
  const bytes = [];
  for (const c of counts) {
    if (c.packets === 0n) continue; // key inserted, increment not yet visible
    const attributes = dropAttributes(c, reasons);
    packets.push({ attributes, value: Number(c.packets) });
    bytes.push({ attributes, value: Number(c.bytes) });
  }
  return [
    { instrument: INSTRUMENTS.dropPackets, series: packets },
    { instrument: INSTRUMENTS.dropBytes, series: bytes },
  ];
}

export class DropProbe implements Probe {
  readonly name = 'drop';
  private obj: BpfObject | undefined;
  private link: Attachment | undefined;
  private counts: ReadableMap | undefined;
  private errors: ReadableMap | undefined;
  private reasons: DropReasons | undefined;
  private podIps: BpfMap | undefined;
  private podCounts: BpfMap | undefined;
  private flows: BpfMap | undefined;
  private ring: EventRing | undefined;
  private events = false;
  /** what drop_pod_ips holds now: address → pod id */
  private readonly registered = new Map<string, number>();
  private state: ProbeStatus;

  constructor(private readonly ctx: ProbeContext) {
    this.state = { name: this.name, state: 'down', detail: 'not started' };
  }

  /** The reason table of the running kernel, read once. */
  static kernelReasons(): DropReasons {
    const btf = Btf.vmlinux();
    try {
      return dropReasonsFromBtf(btf);
    } finally {
      btf.close();
    }
  }

  start(): void {
    const log = this.ctx.logger.child({ probe: this.name });
    this.reasons = DropProbe.kernelReasons();
    const ev = this.ctx.settings.dropEvents;
    this.events = ev?.enabled === true;
    if (this.events && !mapTypeSupported(BPF_MAP_TYPE_RINGBUF)) {
      this.events = false;
      log.warn('this kernel has no BPF ring buffer (needs >= 5.8): drop events are off; drop counters work as usual');
    }
    const path = join(this.ctx.settings.bpfObjectDir, this.events ? DROP_OBJECT : DROP_OBJECT_NO_EVENTS);
    const failures: string[] = [];
    const wanted = this.ctx.settings.dropHook ?? 'auto';
    for (const { program, hook } of DROP_HOOKS.filter((h) => wanted === 'auto' || h.kind === wanted)) {
      const obj = BpfObject.open(path);
      try {
        for (const other of DROP_HOOKS) obj.program(other.program).setAutoload(other.program === program);
        if (this.events && ev) obj.map('drop_events').setMaxEntries(ev.ringBufferBytes);
        obj.load();
        if (this.events && ev) {
          obj.map('drop_event_cfg').update(Buffer.alloc(4),
            encodeDropEventConfig({ enabled: true, perWindow: ev.ratePerCpu, windowNs: EVENT_WINDOW_NS }));
        }
        this.link = attachTracing(obj.program(program));
        this.obj = obj;
        this.counts = obj.map('drop_counts');
        this.errors = obj.map('drop_errors');
        this.podIps = obj.map('drop_pod_ips');
        this.podCounts = obj.map('drop_pod_counts');
        this.flows = obj.map('drop_flows');
        if (this.events) this.ring = new EventRing(obj, 'drop_events', 'drop_event_limits', obj.map('drop_events').maxEntries);
        this.state = { name: this.name, state: 'up', hook };
        log.info({ hook, reasons: this.reasons.size, events: this.events }, 'drop probe attached');
        return;
      } catch (err) {
        obj.close();
        failures.push(`${hook}: ${(err as Error).message}`);
        log.warn({ hook, err: (err as Error).message }, 'drop probe hook unavailable, trying the next one');
      }
    }
    this.state = { name: this.name, state: 'down', detail: failures.join('; ') };
    throw new Error(`drop probe: no hook could be attached (${failures.join('; ')})`);
  }

  collect(): MetricFamily[] {
    if (!this.counts || !this.reasons) return [];
    return dropFamilies(decodeDropCounts(this.counts.readAll()), this.reasons);
  }

  /** The reason table in use (after start). */
  reasonNames(): DropReasons | undefined {
    return this.reasons;
  }

  /**
   * Makes the kernel attribute drops to these addresses (local pods): address → pod id. Adds new
   * ones, removes those no longer given; an address that moved to another pod is updated.
   */
  setPodAddresses(want: ReadonlyMap<string, number>): void {
    const map = this.podIps;
    if (!map) return;
    for (const [ip, id] of this.registered) {
      if (want.get(ip) === id) continue;
      map.delete(encodeIp(ip));
      this.registered.delete(ip);
    }
    for (const [ip, id] of want) {
      if (this.registered.get(ip) === id) continue;
      const v = Buffer.alloc(4);
      v.writeUInt32LE(id);
      map.update(encodeIp(ip), v);
      this.registered.set(ip, id);
    }
  }

  /** Drops attributed to registered pods, by pod id, reason, side and transport (cumulative). */
  readPodDrops(): PodDropCount[] {
    return this.podCounts ? decodePodDrops(this.podCounts.readAll()) : [];
  }

  /** Forgets a pod's counters (after its series ended). */
  deletePodDrops(podId: number): void {
    const map = this.podCounts;
    if (!map) return;
    const snap = map.readAll();
    for (let i = 0; i < snap.count; i++) {
      const key = snap.keys.subarray(i * snap.keySize, (i + 1) * snap.keySize);
      if (key.readUInt32LE(0) === podId) map.delete(Buffer.from(key));
    }
  }

  /** Recently dropped 5-tuples involving a registered pod (LRU), cumulative per 5-tuple and reason. */
  readDropFlows(): DropFlow[] {
    return this.flows ? decodeDropFlows(this.flows.readAll()) : [];
  }

  /** Deletes dropped 5-tuple records (ones that stopped changing; their totals are kept by the reader). */
  deleteDropFlows(keys: readonly Buffer[]): void {
    for (const k of keys) this.flows?.delete(k);
  }

  /** Whether the kernel side sends drop events (settings.dropEvents, and a kernel with ring buffers). */
  get eventsEnabled(): boolean {
    return this.obj !== undefined && this.events;
  }

  /** The drop-event ring, mapped on first use (after start, with events enabled). */
  eventRing(): RingReader | undefined {
    return this.eventsEnabled ? this.ring?.reader() : undefined;
  }

  /** Per reason slot: events emitted, drops suppressed by the rate limit, events lost to a full ring (cumulative). */
  readEventLimits(): EventLimitCount[] {
    return this.ring?.readLimits() ?? [];
  }

  recordFailures(): RecordFailure[] {
    return this.errors ? readFailureCounters(this.errors, DROP_ERRORS, DROP_ERRORS_LOSING) : [];
  }

  status(): ProbeStatus {
    return this.state;
  }

  detach(): void {
    this.link?.detach();
    this.link = undefined;
  }

  stop(): void {
    this.detach();
    this.ring?.close();
    this.ring = undefined;
    this.obj?.close();
    this.obj = undefined;
    this.counts = undefined;
    this.errors = undefined;
    this.podIps = undefined;
    this.podCounts = undefined;
    this.flows = undefined;
    this.registered.clear();
    if (this.state.state === 'up') this.state = { name: this.name, state: 'down', detail: 'stopped' };
  }
}
