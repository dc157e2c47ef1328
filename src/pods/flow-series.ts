/**
 * Workload-to-workload series from the kernel flow table, built in one pass over the raw records
 * (no object per record: at 100k+ active flows the table has 200k+ records per export).
 *
 * Monotonic without per-record state: a series is `retired + Σ live records`. When the agent
 * deletes an ended (idle) record it adds the record's last values to `retired` at once. When the
 * kernel's LRU evicts a record (table full), the live sum drops: the series is held at its last
 * value instead of going down (what the evicted record gained since the last read is lost, and
 * evictions are counted in fovea.agent.flows.evicted).
 */
import type { Attributes } from '@opentelemetry/api';
import type { FlowView } from '../probes/traffic/layout.js';
import { TRAFFIC_INGRESS } from '../probes/traffic/layout.js';

export interface FlowClassifier {
  /** Series key and attributes of record i (called once per record; cache inside). */
  series(view: FlowView, i: number): { key: string; attributes: () => Attributes } | undefined;
}

interface State {
  attributes: Attributes;
  retiredPackets: number;
  retiredBytes: number;
  lastPackets: number;
  lastBytes: number;
  lastChange: number;
}

export interface FlowSeriesValue {
  readonly attributes: Attributes;
  readonly packets: number;
  readonly bytes: number;
}

export class FlowSeries {
  private readonly states = new Map<string, State>();

  constructor(private readonly ttlMs: number) {}

  /**
   * One pass: sums live records per series, picks ended records (idle past `idleNs`) for deletion
   * and retires their values. Returns the series and the keys to delete from the kernel.
   */
  update(
    view: FlowView, classify: FlowClassifier, countRecord: (i: number) => boolean,
    nowMs: number, nowNs: number, idleNs: number,
  ): { series: FlowSeriesValue[]; idle: Buffer[] } {
    const live = new Map<string, { packets: number; bytes: number }>();
    const idle: Buffer[] = [];
    for (let i = 0; i < view.count; i++) {
      const ended = nowNs - view.lastSeenNs(i) > idleNs;
      if (ended) idle.push(view.key(i));
      if (!countRecord(i)) continue;
      const c = classify.series(view, i);
      if (!c) continue;
      let st = this.states.get(c.key);
      if (!st) {
        st = { attributes: c.attributes(), retiredPackets: 0, retiredBytes: 0, lastPackets: 0, lastBytes: 0, lastChange: nowMs };
        this.states.set(c.key, st);
      }
      const packets = view.packets(i);
      const bytes = view.bytes(i);
      if (ended) {
        // deleted below: its final values move into the series for good
        st.retiredPackets += packets;
        st.retiredBytes += bytes;
        if (!live.has(c.key)) live.set(c.key, { packets: 0, bytes: 0 });
        continue;
      }
      const l = live.get(c.key);
      if (l) { l.packets += packets; l.bytes += bytes; } else live.set(c.key, { packets, bytes });
    }
    const out: FlowSeriesValue[] = [];
    for (const [key, st] of this.states) {
      const l = live.get(key);
      let packets = st.retiredPackets + (l?.packets ?? 0);
      let bytes = st.retiredBytes + (l?.bytes ?? 0);
      // an evicted record: never go down
      if (packets < st.lastPackets) { st.retiredPackets += st.lastPackets - packets; packets = st.lastPackets; }
      if (bytes < st.lastBytes) { st.retiredBytes += st.lastBytes - bytes; bytes = st.lastBytes; }
      if (packets !== st.lastPackets || bytes !== st.lastBytes) st.lastChange = nowMs;
      st.lastPackets = packets;
      st.lastBytes = bytes;
      if (!l && nowMs - st.lastChange >= this.ttlMs) {
        this.states.delete(key);
        continue;
      }
      out.push({ attributes: st.attributes, packets, bytes });
    }
    return { series: out, idle };
  }

  get size(): number {
    return this.states.size;
  }
}

/**
 * Whether a record counts toward workload flows: at the sender's veth, or at the receiver's when
 * the sender is no pod (outside, a node, host network) — a pod's packets are counted by its own
 * node's agent.
 */
export function countOnce(view: FlowView, i: number, isPodInterface: (ifindex: number) => boolean, isPodSender: (key: string) => boolean): boolean {
  if (!isPodInterface(view.ifindex(i))) return false;
  if (view.direction(i) === TRAFFIC_INGRESS) return true; // host-side ingress: the pod sent it
  return !isPodSender(view.srcKey(i));
}
