/**
 * Probe "traffic": tc programs on ingress and egress of the selected interfaces, counting packets
 * and bytes per interface and direction → `fovea.network.packets` / `fovea.network.io`.
 *
 * Interfaces come and go (veths appear and vanish as pods churn): a rescan every
 * interfaceRescanIntervalMs attaches to new ones and forgets removed ones — on the probe's own timer,
 * or, once the caller takes them over (the agent in pod mode, right after each pod discovery, at the
 * same interval), on the caller's. At start, filters of
 * ours left by a previous run that was killed (clsact only; tcx links die with their process) on
 * interfaces we no longer select are removed.
 */
import { join } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import { attachTc, detachClsact, queryClsact, type Attachment, type TcDirection, type TcMode } from '../../kernel/attach.js';
import { BpfError } from '../../kernel/errors.js';
import { BpfObject } from '../../kernel/object.js';
import type { BpfMap } from '../../kernel/map.js';
import { listInterfaces, makeInterfaceFilter, type NetInterface } from '../../kernel/netdev.js';
import { NetlinkChangeWatch, RTMGRP, type ChangeWatch } from '../../kernel/netlink-changes.js';
import { ATTR, DIRECTION, INSTRUMENTS } from '../../names.js';
import type { Logger } from '../../log.js';
import { readFailureCounters } from '../counters.js';
import type { CounterSeries, MetricFamily, Probe, ProbeContext, ProbeStatus, RecordFailure } from '../types.js';
import { planInterfaces } from './interfaces.js';
import { DnsTap } from '../dns/tap.js';
import {
  TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING, TRAFFIC_F_DNS_HOST, TRAFFIC_F_FLOWS, TRAFFIC_SLOT, TRAFFIC_STATS, TRAFFIC_VALUE, decodeFlows,
  decodeTrafficCounts, decodeTrafficSlots, encodeTrafficKey, encodeTrafficSlot, encodeTrafficValue, mergeCounts, slotOf,
  FlowView, type FlowRecord, type InterfaceCount,
} from './layout.js';

export const TRAFFIC_OBJECT = 'traffic.bpf.o';
const RETRY_AFTER_MS = 30_000;
const BPF_NOEXIST = 1;

interface Attached {
  iface: NetInterface;
  links: Attachment[];
  mode: TcMode;
  /** TRAFFIC_F_*: flow records kept for this interface (a pod's veth), or DNS on a node interface */
  flags: number;
}

/** Interface counters → the two metric families. Pure, for unit tests. */
export function trafficFamilies(counts: readonly InterfaceCount[], names: ReadonlyMap<number, string>,
  kept?: Map<number, { name: string; rx: Attributes; tx: Attributes }>): MetricFamily[] {
  const packets: CounterSeries[] = [];
  const bytes: CounterSeries[] = [];
  for (const c of counts) {
    const name = names.get(c.ifindex);
    if (name === undefined) continue;
    // an interface's attribute sets, kept while its name stays and frozen: their keys and encodings are built once
    let k = kept?.get(c.ifindex);
    if (k?.name !== name) {
      k = {
        name,
        rx: Object.freeze({ [ATTR.interfaceName]: name, [ATTR.ioDirection]: DIRECTION.receive }),
        tx: Object.freeze({ [ATTR.interfaceName]: name, [ATTR.ioDirection]: DIRECTION.transmit }),
      };
      kept?.set(c.ifindex, k);
    }
    const { rx, tx } = k;
    packets.push({ attributes: rx, value: Number(c.rxPackets) }, { attributes: tx, value: Number(c.txPackets) });
    bytes.push({ attributes: rx, value: Number(c.rxBytes) }, { attributes: tx, value: Number(c.txBytes) });
  }
  return [
    { instrument: INSTRUMENTS.packets, series: packets },
    { instrument: INSTRUMENTS.io, series: bytes },
  ];
}

export class TrafficProbe implements Probe {
  readonly name = 'traffic';
  private obj: BpfObject | undefined;
  private counts: BpfMap | undefined;
  private slots: BpfMap | undefined;
  private flowMap: BpfMap | undefined;
  private statsMap: BpfMap | undefined;
  private flowsDeleted = 0;
  private errors: BpfMap | undefined;
  private dns: DnsTap | undefined;
  /** fast-path slot → the ifindex that owns it */
  private readonly slotOwner = new Map<number, number>();
  private readonly attached = new Map<number, Attached>();
  private readonly failedAt = new Map<number, number>();
  private readonly seriesAttrs = new Map<number, { name: string; rx: Attributes; tx: Attributes }>();
  private timer: NodeJS.Timeout | undefined;
  /** link changes since the last rescan, from the kernel (a rescan without any reads no interface) */
  private links: ChangeWatch | undefined;
  private lastInterfaces: NetInterface[] = [];
  private state: ProbeStatus;
  private readonly log: Logger;
  private readonly selected: (name: string) => boolean;
  private attachFailureCount = 0;
  /** Hook for tests and health: called after every rescan. */
  onRescan?: (attached: number) => void;

  constructor(private readonly ctx: ProbeContext) {
    this.state = { name: this.name, state: 'down', detail: 'not started' };
    this.log = ctx.logger.child({ probe: this.name });
    this.selected = makeInterfaceFilter({ include: ctx.settings.interfaces, exclude: ctx.settings.excludeInterfaces });
  }

  start(): void {
    const obj = BpfObject.open(join(this.ctx.settings.bpfObjectDir, TRAFFIC_OBJECT));
    try {
      obj.map('traffic_counts').setMaxEntries(this.ctx.settings.trafficMaxInterfaces);
      obj.map('traffic_flows').setMaxEntries(this.ctx.settings.maxFlows);
      DnsTap.size(obj, this.ctx.settings.dns);
      obj.load();
      if (this.ctx.settings.dns?.enabled) this.dns = new DnsTap(obj, this.ctx.settings.dns);
    } catch (err) {
      obj.close();
      this.state = { name: this.name, state: 'down', detail: (err as Error).message };
      throw err;
    }
    this.obj = obj;
    this.counts = obj.map('traffic_counts');
    this.slots = obj.map('traffic_slots');
    this.flowMap = obj.map('traffic_flows');
    this.statsMap = obj.map('traffic_stats');
    this.errors = obj.map('traffic_errors');
    this.removeStaleFilters();
    // a link counts when this probe could attach to it, or is attached to it (renamed or deleted)
    this.links = new NetlinkChangeWatch(RTMGRP.link, undefined, (ifindex, ifname) => this.selected(ifname) || this.attached.has(ifindex));
    if (this.links.unavailable) this.log.info({ reason: this.links.unavailable }, 'no link notifications: interfaces are listed at every rescan');
    this.rescan();
    this.state = { name: this.name, state: 'up', hook: this.modeSummary() };
    this.timer = setInterval(() => this.safeRescan(), this.ctx.settings.interfaceRescanIntervalMs);
    this.timer.unref();
  }

  /**
   * The caller rescans from now on, every interfaceRescanIntervalMs (the agent's pod tick does, right
   * after each pod discovery): the probe's own timer stops, so the interfaces are not scanned twice
   * an interval.
   */
  leaveRescansToCaller(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Interfaces attached now: name by ifindex. */
  attachedInterfaces(): ReadonlyMap<number, string> {
    return new Map([...this.attached].map(([i, a]) => [i, a.iface.name]));
  }

  private modeSummary(): string {
    const modes = new Set([...this.attached.values()].map((a) => a.mode));
    return modes.size ? [...modes].sort().join('+') : this.ctx.settings.tcMode === 'auto' ? 'tc (no interface yet)' : this.ctx.settings.tcMode;
  }

  /** A crash (SIGKILL) leaves clsact filters behind; remove ours from interfaces we won't attach to. */
  private removeStaleFilters(): void {
    for (const i of listInterfaces()) {
      if (this.selected(i.name)) continue; // attaching replaces (clsact) or removes (tcx) them
      for (const dir of ['ingress', 'egress'] as const) {
        if (queryClsact(i.ifindex, dir) !== undefined && detachClsact(i.ifindex, dir)) {
          this.log.info({ interface: i.name, direction: dir }, 'removed a stale clsact filter left by an earlier run');
        }
      }
    }
  }

  /** `rescan`, a failure logged instead of thrown. */
  safeRescan(): void {
    try {
      this.rescan();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'interface rescan failed');
    }
  }

  /** Attaches to new interfaces and forgets removed ones. */
  rescan(): void {
    if (!this.obj) return;
    const now = Date.now();
    for (const [ifindex, at] of this.failedAt) if (now - at >= RETRY_AFTER_MS) this.failedAt.delete(ifindex);
    const current = new Map([...this.attached].map(([i, a]) => [i, a.iface]));
    // the list only changes with a link notification; failed attaches are retried from the last list
    if (!this.links || this.links.changed()) this.lastInterfaces = listInterfaces();
    const plan = planInterfaces(current, this.lastInterfaces, this.selected, new Set(this.failedAt.keys()));
    for (const i of plan.detach) this.forget(i);
    for (const i of plan.rename) {
      const a = this.attached.get(i.ifindex);
      if (a) { this.log.info({ from: a.iface.name, to: i.name }, 'interface renamed'); a.iface = i; }
    }
    for (const i of plan.attach) this.attachTo(i);
    if (this.ctx.settings.trackFlows || this.ctx.settings.dnsHost) {
      for (const a of this.attached.values()) {
        const want = this.flagsFor(a.iface);
        if (want !== a.flags && a.links.length > 0) this.setFlags(a, want);
      }
    }
    this.onRescan?.(this.attached.size);
  }

  private attachTo(i: NetInterface): void {
    const prog = { ingress: this.obj!.program('traffic_ingress'), egress: this.obj!.program('traffic_egress') };
    const links: Attachment[] = [];
    let mode: TcMode = 'tcx';
    try {
      const flags = this.flagsFor(i);
      this.prepareCounters(i.ifindex, flags);
      for (const dir of ['ingress', 'egress'] as TcDirection[]) {
        const r = attachTc(prog[dir], i.ifindex, i.name, dir, this.ctx.settings.tcMode);
        links.push(r.attachment);
        mode = r.mode;
      }
      this.attached.set(i.ifindex, { iface: i, links, mode, flags });
      this.log.info({ interface: i.name, ifindex: i.ifindex, mode, flows: (flags & TRAFFIC_F_FLOWS) !== 0, ...(flags & TRAFFIC_F_DNS_HOST ? { dnsHost: true } : {}) }, 'attached');
    } catch (err) {
      for (const l of links) l.detach();
      this.releaseCounters(i.ifindex);
      this.failedAt.set(i.ifindex, Date.now());
      this.attachFailureCount++;
      this.log.warn({ interface: i.name, err: (err as Error).message, retryInMs: RETRY_AFTER_MS }, 'attach failed');
    }
  }

  /**
   * Before attaching: claim the interface's fast-path slot (zeroed, owned by it on every CPU), or,
   * when another interface owns that slot, insert its key in the hash map — either way the
   * datapath never has to insert (no insert races, no map-full surprise later).
   */
  private prepareCounters(ifindex: number, flags: number): void {
    const slot = slotOf(ifindex);
    if (!this.slotOwner.has(slot)) {
      const slots = this.slots!;
      slots.update(encodeTrafficKey(slot), encodeTrafficSlot(ifindex, slots.cpus, slots.valueStride, flags));
      this.slotOwner.set(slot, ifindex);
      return;
    }
    try {
      this.counts!.update(encodeTrafficKey(ifindex), encodeTrafficValue(this.counts!.cpus, this.counts!.valueStride, flags), BPF_NOEXIST);
    } catch (err) {
      if (!(err instanceof BpfError && err.code === 'EEXIST')) throw err;
    }
  }

  /** Flow records on a pod's veth; else DNS when it is a configured node interface (and DNS is on). */
  private flagsFor(i: NetInterface): number {
    if (this.ctx.settings.trackFlows?.(i)) return TRAFFIC_F_FLOWS;
    if (this.dns && this.ctx.settings.dnsHost?.(i)) return TRAFFIC_F_DNS_HOST;
    return 0;
  }

  /**
   * Changes an attached interface's flags (e.g. it turned out to be a pod's veth once the CNI
   * finished: flow records on). Read-modify-write of the per-CPU value: increments landing between
   * the two syscalls (microseconds) are lost — only at this change.
   */
  private setFlags(a: Attached, flags: number): void {
    const slot = slotOf(a.iface.ifindex);
    const [map, key, base] = this.slotOwner.get(slot) === a.iface.ifindex
      ? [this.slots!, encodeTrafficKey(slot), TRAFFIC_SLOT.counts]
      : [this.counts!, encodeTrafficKey(a.iface.ifindex), 0];
    const v = map.lookup(key);
    if (!v) return;
    const per = map.valueStride / map.cpus;
    for (let c = 0; c < map.cpus; c++) v.writeUInt32LE(flags, c * per + base + TRAFFIC_VALUE.flags);
    map.update(key, v);
    const flowsBefore = (a.flags & TRAFFIC_F_FLOWS) !== 0;
    a.flags = flags;
    const flows = (flags & TRAFFIC_F_FLOWS) !== 0;
    if (flows !== flowsBefore) this.log.info({ interface: a.iface.name, flows }, 'flow records switched');
    else this.log.info({ interface: a.iface.name, dnsHost: (flags & TRAFFIC_F_DNS_HOST) !== 0 }, 'dns on node interface switched');
  }

  /** Frees the interface's slot (or hash entry): its counters end with it. */
  private releaseCounters(ifindex: number): void {
    const slot = slotOf(ifindex);
    if (this.slotOwner.get(slot) === ifindex) {
      this.slots!.update(encodeTrafficKey(slot), Buffer.alloc(this.slots!.valueStride));
      this.slotOwner.delete(slot);
    }
    this.counts!.delete(encodeTrafficKey(ifindex));
  }

  private forget(i: NetInterface): void {
    const a = this.attached.get(i.ifindex);
    if (!a) return;
    for (const l of a.links) l.detach();
    this.attached.delete(i.ifindex);
    try {
      this.releaseCounters(i.ifindex);
    } catch (err) {
      this.log.warn({ interface: i.name, err: (err as Error).message }, 'could not delete counters');
    }
    this.log.info({ interface: i.name, ifindex: i.ifindex }, 'interface gone or deselected; forgotten');
  }

  /** Cumulative counts of every interface we count (slots and hash merged). */
  interfaceCounts(): InterfaceCount[] {
    if (!this.counts || !this.slots) return [];
    return mergeCounts(decodeTrafficSlots(this.slots.readAll()), decodeTrafficCounts(this.counts.readAll()));
  }

  collect(): MetricFamily[] {
    const names = this.attachedInterfaces();
    for (const i of this.seriesAttrs.keys()) if (!names.has(i)) this.seriesAttrs.delete(i);
    return trafficFamilies(this.interfaceCounts(), names, this.seriesAttrs);
  }

  /** The kernel flow table as read now, for a one-pass walk (valid until the next read). */
  flowView(): FlowView {
    return new FlowView(this.flowMap ? this.flowMap.readAll() : { count: 0, keys: Buffer.alloc(0), values: Buffer.alloc(0), keySize: 44, valueStride: 40, cpus: 1 });
  }

  /** Every flow record in the kernel now (pods' veths only; see trackFlows). */
  readFlows(): FlowRecord[] {
    return this.flowMap ? decodeFlows(this.flowMap.readAll()) : [];
  }

  /** Deletes flow records (ended or idle flows, after their final values were exported). */
  deleteFlows(keys: readonly Buffer[]): void {
    for (const k of keys) if (this.flowMap?.delete(k)) this.flowsDeleted++;
  }

  /** Flow table bookkeeping: records created by the kernel, deleted by us, and live now. */
  flowStats(live: number): { created: number; deleted: number; live: number; evicted: number } {
    const created = this.statsMap
      ? readFailureCounters(this.statsMap, TRAFFIC_STATS, new Set()).find((c) => c.kind === 'flows_created')?.count ?? 0
      : 0;
    return { created, deleted: this.flowsDeleted, live, evicted: Math.max(0, created - this.flowsDeleted - live) };
  }

  recordFailures(): RecordFailure[] {
    if (!this.errors) return [];
    return [...readFailureCounters(this.errors, TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING), ...(this.dns?.recordFailures() ?? [])];
  }

  /** DNS on the flow-tracked interfaces (pods' veths), when probes.dns is on. */
  dnsTap(): DnsTap | undefined {
    return this.dns;
  }

  status(): ProbeStatus {
    if (this.state.state === 'up') return { ...this.state, hook: this.modeSummary() };
    return this.state;
  }

  health(): { attachedInterfaces: number; attachFailures: number } {
    return { attachedInterfaces: this.attached.size, attachFailures: this.attachFailureCount };
  }

  /** Stops counting; the interface names stay known so a final collect still labels the counters. */
  detach(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const a of this.attached.values()) for (const l of a.links) l.detach();
    for (const a of this.attached.values()) a.links = [];
  }

  stop(): void {
    this.detach();
    this.links?.close();
    this.links = undefined;
    this.attached.clear();
    this.slotOwner.clear();
    this.dns?.close();
    this.dns = undefined;
    this.obj?.close();
    this.obj = undefined;
    this.counts = undefined;
    this.slots = undefined;
    this.flowMap = undefined;
    this.statsMap = undefined;
    this.errors = undefined;
    if (this.state.state === 'up') this.state = { name: this.name, state: 'down', detail: 'stopped' };
  }
}

