/**
 * The identity stage: turns what the probes count per interface, per registered pod address and
 * per flow record into pod-level and workload-to-workload series.
 *
 *   traffic probe, per interface  ─┐
 *   traffic probe, flow records   ─┼─ + which pod is behind which veth (PodNetwork)
 *   drop probe, per pod / 5-tuple ─┘   + what an address is (IdentitySource)  ──►  series
 *
 * Counting rules:
 * - A pod's traffic is what its host-side veth sees, with the direction flipped (host-side
 *   receive = the pod transmitted).
 * - Workload-to-workload flows count each packet once: at the sending pod's veth, or — when the
 *   sender is not a local pod (another node, outside) — at the receiving pod's veth.
 * - Series stay monotonic when kernel records end (RecordAccumulator) and disappear `seriesTtlMs`
 *   after their last change once nothing feeds them (deleted pods, ended flows).
 */
import type { Attributes } from '@opentelemetry/api';
import type { IdentitySource, PodInfo } from '../k8s/types.js';
import { ATTR, DIRECTION, INSTRUMENTS } from '../names.js';
import type { DropReasons } from '../probes/drop/reasons.js';
import { DROP_SIDE_SOURCE, DROP_TRANSPORT, type DropFlowView, type PodDropCount } from '../probes/drop/layout.js';
import type { FlowView, InterfaceCount } from '../probes/traffic/layout.js';
import { countOnce, FlowSeries, type FlowClassifier } from './flow-series.js';
import type { CounterSeries, MetricFamily } from '../probes/types.js';
import { encodeIp } from '../probes/addresses.js';
import { RecordAccumulator, type RecordReading } from './accumulator.js';
import { DropFlowSeries, type DropFlowClassifier } from './drop-flow-series.js';
import { endpointLabels, isClusterPod, pairAttributes, podAttributes, serverPort, type EndpointLabels } from './endpoints.js';

/** What this stage needs from the traffic probe. */
export interface TrafficReadings {
  interfaceCounts(): InterfaceCount[];
  /** the kernel flow table, read now (valid until the next read) */
  flowView(): FlowView;
  deleteFlows(keys: readonly Buffer[]): void;
  flowStats(live: number): { created: number; deleted: number; live: number; evicted: number };
}

/** What this stage needs from the drop probe. */
export interface DropReadings {
  setPodAddresses(want: ReadonlyMap<string, number>): void;
  readPodDrops(): PodDropCount[];
  /** the dropped 5-tuples, read now (valid until the next read) */
  dropFlowView(): DropFlowView;
  deleteDropFlows(keys: readonly Buffer[]): void;
  deletePodDrops(podId: number): void;
  reasonNames(): DropReasons | undefined;
}

export interface PodMetricsSettings {
  readonly seriesTtlMs: number;
  readonly flowIdleTimeoutMs: number;
  readonly podNames: boolean;
  readonly addresses: boolean;
  readonly clientPorts: boolean;
}

export interface PodMetricsDeps {
  readonly identity: IdentitySource;
  /** host-side interface (ifindex) → the local pod behind it, now */
  readonly podInterfaces: () => ReadonlyMap<number, PodInfo>;
  readonly traffic?: TrafficReadings;
  readonly drop?: DropReadings;
  readonly settings: PodMetricsSettings;
  readonly now?: () => number;
  /** CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns() */
  readonly monotonicNs?: () => bigint;
}

const TRANSPORT: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp' };

export class PodMetrics {
  private readonly podTraffic: RecordAccumulator;
  private readonly podDrops: RecordAccumulator;
  private readonly flows: FlowSeries;
  private readonly dropFlows: DropFlowSeries;
  /** pod uid → numeric id given to the drop probe (never reused while the agent runs) */
  private readonly podIds = new Map<string, number>();
  private readonly podById = new Map<number, PodInfo>();
  /** ids of pods that left, with when: their kernel keys are deleted after the TTL */
  private readonly goneAt = new Map<number, number>();
  private nextId = 1;
  private lastFlowStats = { created: 0, deleted: 0, live: 0, evicted: 0 };
  private readonly now: () => number;
  private readonly monotonicNs: () => bigint;

  constructor(private readonly deps: PodMetricsDeps) {
    const ttl = deps.settings.seriesTtlMs;
    this.podTraffic = new RecordAccumulator(ttl);
    this.podDrops = new RecordAccumulator(ttl);
    this.flows = new FlowSeries(ttl);
    this.dropFlows = new DropFlowSeries(ttl, deps.settings.flowIdleTimeoutMs);
    this.now = deps.now ?? Date.now;
    this.monotonicNs = deps.monotonicNs ?? (() => process.hrtime.bigint());
  }

  /**
   * Registers the local pods' addresses with the drop probe (pod ids are stable per uid). Call
   * whenever local pods may have changed (cheap when nothing did).
   */
  syncPods(): void {
    const now = this.now();
    const local = this.deps.identity.localPods().filter((p) => !p.hostNetwork && p.ips.length > 0);
    const live = new Set<string>();
    const addresses = new Map<string, number>();
    for (const p of local) {
      live.add(p.uid);
      let id = this.podIds.get(p.uid);
      if (id === undefined) {
        id = this.nextId++;
        this.podIds.set(p.uid, id);
      }
      this.podById.set(id, p);
      this.goneAt.delete(id);
      for (const ip of p.ips) addresses.set(ip, id);
    }
    for (const [uid, id] of this.podIds) {
      if (live.has(uid) || this.goneAt.has(id)) continue;
      this.goneAt.set(id, now);
    }
    for (const [id, at] of this.goneAt) {
      if (now - at < this.deps.settings.seriesTtlMs) continue;
      this.deps.drop?.deletePodDrops(id);
      const p = this.podById.get(id);
      if (p) this.podIds.delete(p.uid);
      this.podById.delete(id);
      this.goneAt.delete(id);
    }
    this.deps.drop?.setPodAddresses(addresses);
  }

  /** Agent health numbers of this stage. */
  flowStats(): { created: number; deleted: number; live: number; evicted: number } {
    return this.lastFlowStats;
  }

  collect(): MetricFamily[] {
    const now = this.now();
    const out: MetricFamily[] = [];
    if (this.deps.traffic) {
      out.push(...this.collectPodTraffic(now));
      out.push(...this.collectFlows(now));
    }
    if (this.deps.drop) {
      out.push(...this.collectPodDrops(now));
      out.push(...this.collectDropFlows(now));
    }
    return out;
  }

  private collectPodTraffic(now: number): MetricFamily[] {
    const pods = this.deps.podInterfaces();
    const readings: RecordReading[] = [];
    for (const c of this.deps.traffic!.interfaceCounts()) {
      const pod = pods.get(c.ifindex);
      if (!pod) continue;
      const base = podAttributes(pod);
      // host-side receive = the pod transmitted
      for (const [dir, packets, bytes] of [
        [DIRECTION.transmit, c.rxPackets, c.rxBytes], [DIRECTION.receive, c.txPackets, c.txBytes],
      ] as const) {
        readings.push({
          recordKey: `${c.ifindex}/${dir}`, seriesKey: `${pod.uid}/${dir}`,
          attributes: { ...base, [ATTR.ioDirection]: dir }, packets: Number(packets), bytes: Number(bytes),
        });
      }
    }
    return pair(INSTRUMENTS.podPackets, INSTRUMENTS.podIo, this.podTraffic.update(readings, now));
  }

  private collectPodDrops(now: number): MetricFamily[] {
    const reasons = this.deps.drop!.reasonNames();
    const readings: RecordReading[] = [];
    for (const d of this.deps.drop!.readPodDrops()) {
      const pod = this.podById.get(d.podId);
      if (!pod) continue;
      const dir = d.side === DROP_SIDE_SOURCE ? DIRECTION.transmit : DIRECTION.receive;
      const attributes: Attributes = {
        ...podAttributes(pod),
        [ATTR.dropReason]: reasons?.name(d.reason) ?? `UNKNOWN_${d.reason}`,
        [ATTR.ioDirection]: dir,
      };
      const transport = DROP_TRANSPORT[d.transport];
      if (transport) attributes[ATTR.transport] = transport;
      if (d.ipVersion === 4 || d.ipVersion === 6) attributes[ATTR.networkType] = `ipv${d.ipVersion}`;
      readings.push({
        recordKey: `${d.podId}/${d.reason}/${d.side}/${d.transport}/${d.ipVersion}`,
        seriesKey: JSON.stringify(Object.entries(attributes).sort()),
        attributes, packets: Number(d.packets), bytes: Number(d.bytes),
      });
    }
    return pair(INSTRUMENTS.podDropPackets, INSTRUMENTS.podDropBytes, this.podDrops.update(readings, now));
  }

  /** Attributes of a flow between two addresses. */
  private flowAttributes(src: string, dst: string, proto: number, sport: number, dport: number, extra: Attributes): Attributes {
    const ports = serverPort(proto, sport, dport);
    const a: Attributes = {
      ...pairAttributes(this.deps.identity, this.deps.settings, src, dst),
      [ATTR.transport]: TRANSPORT[proto] ?? 'other',
      [ATTR.serverPort]: ports.server,
      ...extra,
    };
    if (this.deps.settings.clientPorts && ports.client) a[ATTR.clientPort] = ports.client;
    return a;
  }

  private collectFlows(now: number): MetricFamily[] {
    const traffic = this.deps.traffic!;
    const pods = this.deps.podInterfaces();
    // senders whose own node counts their packets: this node's pods, and (cluster mode) other nodes' pods
    const sentByPod = new Map<string, boolean>();
    for (const p of pods.values()) for (const ip of p.ips) sentByPod.set(encodeIp(ip).toString('latin1'), true);
    const view = traffic.flowView();
    const isPodSender = (i: number, key: string): boolean => {
      let v = sentByPod.get(key);
      if (v === undefined) sentByPod.set(key, (v = isClusterPod(this.deps.identity, view.src(i))));
      return v;
    };
    const idleNs = this.deps.settings.flowIdleTimeoutMs * 1e6;
    const { series, idle } = this.flows.update(
      view, this.classifier(),
      (i) => countOnce(view, i, (ifindex) => pods.has(ifindex), (key) => isPodSender(i, key)),
      now, Number(this.monotonicNs()), idleNs,
    );
    const live = view.count - idle.length;
    // ended flows: their values are in the series now; the kernel records can go
    if (idle.length) traffic.deleteFlows(idle);
    this.lastFlowStats = traffic.flowStats(live);
    return pair(INSTRUMENTS.flowPackets, INSTRUMENTS.flowBytes, series);
  }

  /** Series of a flow record, with the two addresses resolved once per export (not per record). */
  private classifier(): FlowClassifier {
    const opt = this.deps.settings;
    const labels = new Map<string, { id: number; l: EndpointLabels; ip: string; lk: string; lid: number }>();
    /** labelKey text → a number, this export: two addresses of one workload get the same */
    const labelIds = new Map<string, number>();
    let nextId = 0;
    const resolve = (view: FlowView, i: number, key: string, side: 'src' | 'dst') => {
      let e = labels.get(key);
      if (!e) {
        const ip = side === 'src' ? view.src(i) : view.dst(i);
        const l = endpointLabels(this.deps.identity.resolve(ip));
        const lk = labelKey(l, opt.podNames);
        let lid = labelIds.get(lk);
        if (lid === undefined) labelIds.set(lk, (lid = labelIds.size));
        e = { id: nextId++, l, ip, lk, lid };
        labels.set(key, e);
      }
      return e;
    };
    // the series key of (source labels, destination labels, protocol, server port), built once per export:
    // the same text as built for every record before, without building it (and hashing it anew) per record
    const keys = new Map<number, Map<number, string>>();
    const memo = !opt.addresses && !opt.clientPorts;
    return {
      series: (view, i) => {
        const s = resolve(view, i, view.srcKey(i), 'src');
        const d = resolve(view, i, view.dstKey(i), 'dst');
        const proto = view.proto(i);
        const ports = serverPort(proto, view.sport(i), view.dport(i));
        // workload labels by content, so two addresses of one workload share a series
        let key: string | undefined;
        if (memo && s.lid < 1_048_576 && d.lid < 1_048_576) {
          const pair = s.lid * 1_048_576 + d.lid;
          let byPort = keys.get(pair);
          if (!byPort) keys.set(pair, (byPort = new Map()));
          const rest = proto * 65_536 + ports.server;
          key = byPort.get(rest);
          if (key === undefined) byPort.set(rest, (key = flowSeriesKey(s.lk, d.lk, proto, ports.server)));
        } else {
          key = flowSeriesKey(s.lk, d.lk, proto, ports.server);
          if (opt.addresses) key += `|${s.ip}|${d.ip}`;
          if (opt.clientPorts) key += `|${ports.client}`;
        }
        return {
          key,
          attributes: () => this.flowAttributes(s.ip, d.ip, proto, view.sport(i), view.dport(i), {}),
        };
      },
    };
  }

  private collectDropFlows(now: number): MetricFamily[] {
    const drop = this.deps.drop!;
    const reasons = drop.reasonNames();
    const opt = this.deps.settings;
    const identity = this.deps.identity;
    const view = drop.dropFlowView();
    const classifier: DropFlowClassifier = {
      addressLabel: (v, i, side) => {
        const ip = side === 'src' ? v.src(i) : v.dst(i);
        const l = endpointLabels(identity.resolve(ip));
        return opt.addresses ? `${labelKey(l, opt.podNames)}|${ip}` : labelKey(l, opt.podNames);
      },
      reasonName: (code) => reasons?.name(code) ?? `UNKNOWN_${code}`,
      rest: (v, i) => {
        const proto = v.proto(i);
        const ports = serverPort(proto, v.sport(i), v.dport(i));
        return `${TRANSPORT[proto] ?? 'other'}|${ports.server}|${opt.clientPorts && ports.client ? ports.client : ''}`;
      },
      attributes: (v, i, reason) => this.flowAttributes(v.src(i), v.dst(i), v.proto(i), v.sport(i), v.dport(i), { [ATTR.dropReason]: reason }),
    };
    const { series, idle } = this.dropFlows.update(view, classifier, now);
    if (idle.length) drop.deleteDropFlows(idle.map((i) => view.key(i)));
    return pair(INSTRUMENTS.flowDropPackets, INSTRUMENTS.flowDropBytes, series);
  }
}

/** A flow series' key: both ends' labels (labelKey), protocol and server port. */
function flowSeriesKey(src: string, dst: string, proto: number, server: number): string {
  return `${src}|${dst}|${proto}|${server}`;
}

function labelKey(l: EndpointLabels, withPod: boolean): string {
  return `${l.namespace}/${l.kind}/${l.name}${withPod && l.pod ? `/${l.pod}` : ''}`;
}

function pair(
  packets: MetricFamily['instrument'], bytes: MetricFamily['instrument'],
  series: ReadonlyArray<{ attributes: Attributes; packets: number; bytes: number }>,
): MetricFamily[] {
  const p: CounterSeries[] = [];
  const b: CounterSeries[] = [];
  for (const s of series) {
    p.push({ attributes: s.attributes, value: s.packets });
    b.push({ attributes: s.attributes, value: s.bytes });
  }
  return [{ instrument: packets, series: p }, { instrument: bytes, series: b }];
}
