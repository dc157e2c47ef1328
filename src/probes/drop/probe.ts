/**
 * Probe "drop": loads bpf/build/drop.bpf.o, attaches it to skb:kfree_skb (tp_btf, else raw
 * tracepoint) and turns drop_reason_counts (the kernel's core reasons, an array) and drop_counts
 * (subsystem reasons, a hash) into `fovea.network.drop.packets` / `.bytes`.
 *
 * Kernels before 5.17 give no drop reason (the tracepoint is `(skb, location)`): there the
 * programs *_loc run, which count by the kernel address that freed the packet; the series
 * get `fovea.drop.reason` NO_KERNEL_REASON and `fovea.drop.location`, the function's name.
 */
import { join } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import { attachTracing, type Attachment } from '../../kernel/attach.js';
import { Btf } from '../../kernel/btf.js';
import { KernelSymbols } from '../../events/kallsyms.js';
import { BPF_MAP_TYPE_RINGBUF, mapTypeSupported } from '../../kernel/features.js';
import { BpfObject } from '../../kernel/object.js';
import { SYMBOL_OBJECT } from '../../kernel/symbolize.js';
import type { BpfMap, ReadableMap } from '../../kernel/map.js';
import type { RingReader } from '../../kernel/ringbuf.js';
import { EventRing } from '../event-ring.js';
import { encodeIp } from '../addresses.js';
import { ATTR, INSTRUMENTS } from '../../names.js';
import { readFailureCounters } from '../counters.js';
import type { MetricFamily, Probe, ProbeContext, ProbeStatus, RecordFailure } from '../types.js';
import {
  DROP_ERRORS, DROP_ERRORS_LOSING, DROP_FLOW_KEY, DROP_VALUE, DropFlowView, DROP_REASON_NONE_GIVEN, DROP_TRANSPORT, decodeDropCounts, decodeDropFlows,
  decodeDropLocationCounts, decodeDropReasonCounts, decodePodDrops, dropReasonSlots, encodeDropEventConfig, type DropCount, type DropFlow,
  type DropLocationCount, type EventLimitCount, type PodDropCount,
} from './layout.js';
import { DropReasons, dropReasonsFromBtf } from './reasons.js';

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
/** The same hooks on kernels whose skb:kfree_skb has no reason argument (< 5.17). */
export const DROP_HOOKS_NO_REASON = [
  { program: 'drop_tp_btf_loc', hook: 'tp_btf/kfree_skb', kind: 'tp_btf' },
  { program: 'drop_raw_tp_loc', hook: 'raw_tp/kfree_skb', kind: 'raw_tp' },
] as const;
const ALL_DROP_PROGRAMS = [...DROP_HOOKS, ...DROP_HOOKS_NO_REASON].map((h) => h.program);

/**
 * Whether skb:kfree_skb passes a drop reason on this kernel: its BTF prototype
 * (`btf_trace_kfree_skb`) has a third argument (5.17 on), or, where the tracepoint's typedef is
 * not in BTF, `enum skb_drop_reason` exists (they came in the same kernel commit).
 */
export function kfreeSkbHasReason(btf: Pick<Btf, 'tracepointArity' | 'enumValues'>): boolean {
  const arity = btf.tracepointArity('kfree_skb');
  if (arity !== undefined) return arity >= 3;
  return btf.enumValues('skb_drop_reason') !== undefined;
}

/**
 * The function name of a kernel address (`nf_hook_slow+0x44` → `nf_hook_slow`), or the address
 * in hex when symbols are not available (kptr_restrict): `fovea.drop.location` of drop counters.
 * null while the name has not been read yet (KernelSymbols.resolve).
 */
export function locationName(addr: bigint, symbols: Pick<KernelSymbols, 'known'>): string | null {
  const sym = symbols.known(addr);
  if (sym === null) return null;
  if (!sym) return `0x${addr.toString(16)}`;
  const plus = sym.lastIndexOf('+0x');
  return plus > 0 ? sym.slice(0, plus) : sym;
}

/**
 * drop_location_counts entries → the two metric families, one series per function (summed over call
 * sites). A function whose name is not read yet is left out until it is: its series starts at a
 * later collection with everything counted so far (they are cumulative). Pure.
 */
export function dropLocationFamilies(counts: readonly DropLocationCount[], symbols: Pick<KernelSymbols, 'known'>): MetricFamily[] {
  const sums = new Map<string, { attributes: Attributes; packets: bigint; bytes: bigint }>();
  for (const c of counts) {
    if (c.packets === 0n) continue;
    const name = locationName(c.location, symbols);
    if (name === null) continue;
    const attributes = dropAttributes({ reason: DROP_REASON_NONE_GIVEN, ipVersion: c.ipVersion, transport: c.transport }, NO_REASONS);
    attributes[ATTR.dropLocation] = name;
    const key = `${attributes[ATTR.dropLocation]}|${c.ipVersion}|${c.transport}`;
    const s = sums.get(key);
    if (s) {
      s.packets += c.packets;
      s.bytes += c.bytes;
    } else {
      sums.set(key, { attributes, packets: c.packets, bytes: c.bytes });
    }
  }
  const all = [...sums.values()];
  return [
    { instrument: INSTRUMENTS.dropPackets, series: all.map((s) => ({ attributes: s.attributes, value: Number(s.packets) })) },
    { instrument: INSTRUMENTS.dropBytes, series: all.map((s) => ({ attributes: s.attributes, value: Number(s.bytes) })) },
  ];
}
/** The reason table where the kernel has none: only NO_KERNEL_REASON (DropReasons.name of the sentinel). */
const NO_REASONS = new DropReasons([]);

/** Attributes of one drop_counts entry. Unknown transport / non-IP omit the attributes. */
export function dropAttributes(c: Pick<DropCount, 'reason' | 'ipVersion' | 'transport'>, reasons: DropReasons): Attributes {
  const a: Attributes = { [ATTR.dropReason]: reasons.name(c.reason) };
  const transport = DROP_TRANSPORT[c.transport];
  if (transport) a[ATTR.transport] = transport;
  if (c.ipVersion === 4 || c.ipVersion === 6) a[ATTR.networkType] = `ipv${c.ipVersion}`;
  return a;
}

/**
 * drop_reason_counts and drop_counts together: one entry per (reason, family, transport). A key is
 * in one map only (its reason has a slot in the array or not), but summing makes that no assumption.
 */
export function mergeDropCounts(array: readonly DropCount[], hash: readonly DropCount[]): DropCount[] {
  if (!hash.length) return [...array];
  const out = new Map<string, DropCount>();
  for (const c of [...array, ...hash]) {
    const k = `${c.reason}|${c.ipVersion}|${c.transport}`;
    const prev = out.get(k);
    out.set(k, prev ? { ...c, packets: prev.packets + c.packets, bytes: prev.bytes + c.bytes } : c);
  }
  return [...out.values()];
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
  private reasonCounts: ReadableMap | undefined;
  private errors: ReadableMap | undefined;
  private reasons: DropReasons | undefined;
  private podIps: BpfMap | undefined;
  private podCounts: BpfMap | undefined;
  private flows: BpfMap | undefined;
  private ring: EventRing | undefined;
  private events = false;
  /** the kernel gives no reasons: counting by location (drop_location_counts) */
  private byLocation = false;
  private locationCounts: ReadableMap | undefined;
  private symbols: KernelSymbols | undefined;
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

  /**
   * The running kernel's reason table, or undefined when its skb:kfree_skb gives no reason
   * (kernel < 5.17) — one read of its BTF for both answers.
   */
  static kernelReasonsIfGiven(): DropReasons | undefined {
    const btf = Btf.vmlinux();
    try {
      return kfreeSkbHasReason(btf) ? dropReasonsFromBtf(btf) : undefined;
    } finally {
      btf.close();
    }
  }

  start(): void {
    const log = this.ctx.logger.child({ probe: this.name });
    const given = DropProbe.kernelReasonsIfGiven();
    const kernelReasons = given !== undefined;
    this.byLocation = this.ctx.settings.dropByLocation === true || !kernelReasons;
    this.reasons = given ?? NO_REASONS;
    if (this.byLocation) {
      this.symbols = new KernelSymbols({
        bpfObject: join(this.ctx.settings.bpfObjectDir, SYMBOL_OBJECT),
        onUnavailable: (why) => log.warn({ reason: why }, 'drop counters will name the freeing kernel address in hex, not its function'),
        onFileFallback: (why) => log.info({ reason: why }, 'freeing functions named from /proc/kallsyms: the kernel does not run the symboliser program'),
      });
      this.symbols.prepare();
      if (!kernelReasons) {
        log.warn('this kernel gives no drop reasons (skb:kfree_skb without a reason: kernel < 5.17): drops are counted '
          + `by the kernel function that freed the packet, with ${ATTR.dropReason}=${this.reasons.name(DROP_REASON_NONE_GIVEN)}`);
      }
    }
    const ev = this.ctx.settings.dropEvents;
    this.events = ev?.enabled === true;
    if (this.events && !mapTypeSupported(BPF_MAP_TYPE_RINGBUF)) {
      this.events = false;
      log.warn('this kernel has no BPF ring buffer (needs >= 5.8): drop events are off; drop counters work as usual');
    }
    const path = join(this.ctx.settings.bpfObjectDir, this.events ? DROP_OBJECT : DROP_OBJECT_NO_EVENTS);
    const failures: string[] = [];
    const wanted = this.ctx.settings.dropHook ?? 'auto';
    const hooks = this.byLocation ? DROP_HOOKS_NO_REASON : DROP_HOOKS;
    for (const { program, hook } of hooks.filter((h) => wanted === 'auto' || h.kind === wanted)) {
      const obj = BpfObject.open(path);
      try {
        for (const other of ALL_DROP_PROGRAMS) obj.program(other).setAutoload(other === program);
        if (this.events && ev) obj.map('drop_events').setMaxEntries(ev.ringBufferBytes);
        if (!this.byLocation) obj.map('drop_location_counts').setMaxEntries(1); // unused where reasons exist
        // one slot per (core reason of this kernel, family, transport); unused without reasons
        obj.map('drop_reason_counts').setMaxEntries(this.byLocation ? 1 : dropReasonSlots(this.reasons.coreReasons));
        obj.load();
        if (this.events && ev) {
          obj.map('drop_event_cfg').update(Buffer.alloc(4),
            encodeDropEventConfig({ enabled: true, perWindow: ev.ratePerCpu, windowNs: EVENT_WINDOW_NS }));
        }
        this.link = attachTracing(obj.program(program));
        this.obj = obj;
        this.counts = obj.map('drop_counts');
        this.reasonCounts = obj.map('drop_reason_counts');
        this.locationCounts = obj.map('drop_location_counts');
        this.errors = obj.map('drop_errors');
        this.podIps = obj.map('drop_pod_ips');
        this.podCounts = obj.map('drop_pod_counts');
        this.flows = obj.map('drop_flows');
        if (this.events) this.ring = new EventRing(obj, 'drop_events', 'drop_event_limits', obj.map('drop_events').maxEntries);
        this.state = this.byLocation
          ? { name: this.name, state: 'up', hook, detail: 'no drop reasons (kernel < 5.17): counted by the kernel function that freed the packet' }
          : { name: this.name, state: 'up', hook };
        log.info({ hook, reasons: this.reasons.size, byLocation: this.byLocation, events: this.events }, 'drop probe attached');
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
    if (this.byLocation) {
      if (!this.locationCounts || !this.symbols) return [];
      const counts = decodeDropLocationCounts(this.locationCounts.readAll());
      const symbols = this.symbols;
      const unread = counts.filter((c) => c.packets !== 0n && symbols.known(c.location) === null).map((c) => c.location);
      if (unread.length > 0) void symbols.resolve(unread); // named from a later collection on, without blocking this one
      return dropLocationFamilies(counts, symbols);
    }
    if (!this.counts || !this.reasonCounts || !this.reasons) return [];
    return dropFamilies(mergeDropCounts(decodeDropReasonCounts(this.reasonCounts.readAll()), decodeDropCounts(this.counts.readAll())), this.reasons);
  }

  /** Settles when the names of the freeing functions seen so far are read: the next collect names them (tests). */
  locationsNamed(): Promise<void> {
    return this.symbols?.settled() ?? Promise.resolve();
  }

  /** Whether drops are counted by freeing function instead of reason (kernels < 5.17), after start. */
  get countsByLocation(): boolean {
    return this.obj !== undefined && this.byLocation;
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

  /** The dropped 5-tuples as read now, for a one-pass walk (valid until the next read). */
  dropFlowView(): DropFlowView {
    return new DropFlowView(this.flows ? this.flows.readAll()
      : { count: 0, keys: Buffer.alloc(0), values: Buffer.alloc(0), keySize: DROP_FLOW_KEY.size, valueStride: DROP_VALUE.size, cpus: 1 });
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
    this.reasonCounts = undefined;
    this.locationCounts = undefined;
    this.symbols?.close();
    this.symbols = undefined;
    this.errors = undefined;
    this.podIps = undefined;
    this.podCounts = undefined;
    this.flows = undefined;
    this.registered.clear();
    if (this.state.state === 'up') this.state = { name: this.name, state: 'down', detail: 'stopped' };
  }
}
