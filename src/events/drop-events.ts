/**
 * Drop events: drains the drop probe's ring buffer and turns each record into a NetworkEvent with
 * the reason's kernel name, both ends' identity, the interface and the dropping kernel function.
 *
 * The function's name is read from /proc/kallsyms asynchronously the first time a drop site is
 * seen (src/events/kallsyms.ts): such an event, and every event read after it, is held — built,
 * in order — until the names are known, then given out by the next `drain` or `takeReady`
 * (`pending` says when). Events of known drop sites go out at once.
 */
import { statSync } from 'node:fs';
import type { IdentitySource } from '../k8s/types.js';
import type { RingReader } from '../kernel/ringbuf.js';
import { EVENT, VERDICT } from '../names.js';
import { decodeDropEvent, DROP_EVENT_SLOTS, type EventLimitCount, type RawDropEvent } from '../probes/drop/layout.js';
import type { DropReasons } from '../probes/drop/reasons.js';
import { eventEndpoint, hasPorts, LocalPods, tcpFlagNames, transportOf } from './endpoints.js';
import { InterfaceNames } from './interface-names.js';
import type { KernelSymbols } from './kallsyms.js';
import type { NetworkEvent } from './types.js';

/** What this stage needs from the drop probe. */
export interface DropEventReadings {
  eventRing(): RingReader | undefined;
  readEventLimits(): EventLimitCount[];
  reasonNames(): DropReasons | undefined;
}

export interface DropEventSourceOptions {
  readonly probe: DropEventReadings;
  readonly identity?: IdentitySource;
  /** this agent's node (or host) name, on every event */
  readonly node: string;
  readonly symbols?: KernelSymbols;
  /** Most records per drain (bounds one timer tick's work). Default 65536. */
  readonly maxPerDrain?: number;
  /** Interface names of the agent's network namespace; default: /sys/class/net. */
  readonly interfaceNames?: () => ReadonlyMap<number, string>;
  /** inode of the agent's network namespace; default: /proc/self/ns/net. */
  readonly hostNetns?: number;
  /** CLOCK_MONOTONIC ns (the clock of bpf_ktime_get_ns) and Unix ms, for tests */
  readonly monotonicNs?: () => bigint;
  readonly nowMs?: () => number;
}

export interface DropEventStats {
  /** events read from the ring */
  read: number;
  /** records the agent could not decode (a bug or an ABI mismatch: should stay 0) */
  malformed: number;
}

/** Name of a rate-limit slot as the `fovea.drop.reason` of fovea.agent.events.suppressed. */
export function slotReason(slot: number, reasons: DropReasons | undefined): string {
  if (slot === DROP_EVENT_SLOTS - 1) return 'OTHER';
  return reasons?.name(slot) ?? `UNKNOWN_${slot}`;
}

export class DropEventSource {
  private readonly local: LocalPods;
  private readonly stats: DropEventStats = { read: 0, malformed: 0 };
  private readonly ifnames: InterfaceNames;
  private readonly hostNetns: number;
  private readonly monotonicNs: () => bigint;
  private readonly nowMs: () => number;
  /** events built but not given out yet, in the order read: from the first one waiting for its drop location on */
  private held: NetworkEvent[] = [];
  /** held events waiting for their drop location → its kernel address */
  private readonly awaiting = new Map<NetworkEvent, bigint>();
  private resolving: Promise<void> | undefined;

  constructor(private readonly opts: DropEventSourceOptions) {
    this.local = new LocalPods(opts.identity);
    this.hostNetns = opts.hostNetns ?? netnsInode('/proc/self/ns/net');
    this.monotonicNs = opts.monotonicNs ?? (() => process.hrtime.bigint());
    this.nowMs = opts.nowMs ?? Date.now;
    this.ifnames = new InterfaceNames(opts.interfaceNames, this.nowMs);
  }

  /**
   * Reads every complete record now; returns the events that are ready, in the order read (an event
   * whose drop location is still being read holds back itself and every event after it).
   */
  drain(): NetworkEvent[] {
    const ring = this.opts.probe.eventRing();
    if (!ring) return this.takeReady();
    const raws: RawDropEvent[] = [];
    ring.consume((view, off, len) => {
      try {
        raws.push(decodeDropEvent(view, off, len));
      } catch {
        this.stats.malformed++;
      }
    }, this.opts.maxPerDrain ?? 65_536);
    if (raws.length === 0) return this.takeReady();
    this.stats.read += raws.length;
    // monotonic → wall clock, once per drain (follows wall-clock steps)
    const offsetMs = this.nowMs() - Number(this.monotonicNs()) / 1e6;
    const reasons = this.opts.probe.reasonNames();
    return this.ready(raws.map((r) => this.toEvent(r, reasons, offsetMs)));
  }

  /** `drain`, then waits for the names being read: every event read now, in order (tests). */
  async drainAll(): Promise<NetworkEvent[]> {
    const out = this.drain();
    while (this.pending) {
      await this.pending;
      for (const ev of this.takeReady()) out.push(ev);
    }
    return out;
  }

  /** Settles when the drop locations being read are known (the events held for them are then ready); undefined when none are being read. */
  get pending(): Promise<void> | undefined {
    return this.resolving;
  }

  /** The held events that are ready now, in order, without reading the ring. */
  takeReady(): NetworkEvent[] {
    return this.ready([]);
  }

  /** `fresh` after the held events, up to the first one still waiting for its location. */
  private ready(fresh: NetworkEvent[]): NetworkEvent[] {
    if (this.held.length === 0 && this.awaiting.size === 0) return fresh;
    for (const ev of fresh) this.held.push(ev);
    if (this.awaiting.size === 0) {
      const out = this.held;
      this.held = [];
      return out;
    }
    this.resolving ??= this.resolveAwaiting();
    let n = 0;
    while (n < this.held.length && !this.awaiting.has(this.held[n]!)) n++;
    return this.held.splice(0, n);
  }

  /** Reads the names of every awaited location (those that come meanwhile too), then fills them in. */
  private async resolveAwaiting(): Promise<void> {
    const symbols = this.opts.symbols!;
    for (;;) {
      const unknown = [...this.awaiting.values()].filter((addr) => symbols.known(addr) === null);
      if (unknown.length === 0) break;
      await symbols.resolve(unknown);
    }
    for (const [ev, addr] of this.awaiting) {
      const location = symbols.known(addr);
      const e = ev as { location?: string };
      if (location) e.location = location;
      else delete e.location; // no symbol there after all
    }
    this.awaiting.clear();
    this.resolving = undefined;
  }

  counts(): Readonly<DropEventStats> {
    return this.stats;
  }

  private toEvent(r: RawDropEvent, reasons: DropReasons | undefined, offsetMs: number): NetworkEvent {
    const ports = hasPorts(r.proto) && r.ipVersion !== 0;
    const identity = this.opts.identity;
    const tcpFlags = r.proto === 6 ? tcpFlagNames(r.tcpFlags) : undefined;
    // null: not read yet (the event waits for it, with the key in its place)
    const location = this.opts.symbols?.known(r.location);
    const ifname = r.netns === this.hostNetns ? this.ifnames.name(r.ifindex) : undefined;
    const source = eventEndpoint(identity, r.src, ports ? r.sport : undefined, this.local);
    const destination = eventEndpoint(identity, r.dst, ports ? r.dport : undefined, this.local);
    // from the local pod's point of view: it sent the packet (egress), or the packet was on its way to it
    const direction = source.local ? 'egress' as const : destination.local ? 'ingress' as const : undefined;
    // assigned one by one, not spread (per event: spreads with conditional parts cost microseconds)
    const ev: { -readonly [K in keyof NetworkEvent]: NetworkEvent[K] } = {
      name: EVENT.drop,
      timeMs: Number(r.timestampNs) / 1e6 + offsetMs,
      verdict: VERDICT.dropped,
      reason: reasons?.name(r.reason) ?? `UNKNOWN_${r.reason}`,
      reasonCode: r.reason,
      source,
      destination,
      ipVersion: r.ipVersion === 4 || r.ipVersion === 6 ? r.ipVersion : 0,
      transport: transportOf(r.proto, r.ipVersion),
      protocol: r.proto,
    } as { -readonly [K in keyof NetworkEvent]: NetworkEvent[K] };
    if (tcpFlags) ev.tcpFlags = tcpFlags;
    ev.length = r.len;
    if (ifname) ev.interface = ifname;
    if (r.ifindex) ev.ifindex = r.ifindex;
    if (r.netns) ev.netns = r.netns;
    if (direction) ev.direction = direction;
    if (location !== undefined) ev.location = location ?? '';
    if (location === null) this.awaiting.set(ev, r.location);
    ev.suppressed = r.suppressed;
    ev.cpu = r.cpu;
    ev.node = this.opts.node; // last, as before: JSON output shows this key order

    return ev;
  }
}

function netnsInode(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}
