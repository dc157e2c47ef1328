/**
 * Workload-to-workload drop series (`fovea.flow.drop.*`) from the drop probe's table of dropped
 * 5-tuples, kept up to date record by record.
 *
 * What it computes is RecordAccumulator's (accumulator.ts) over one reading per kernel record — a
 * series is `retired + Σ live records`, a record whose count went down was re-created (its old
 * values are retired), a record that left the table or moved to another series (its ends' identity
 * changed) is retired, a series with no live record ends `ttlMs` after its last change — and the
 * records' idle bookkeeping (an unchanged record is deleted from the kernel after `idleMs`), with the
 * same results in the same order. What differs is the cost: the table keeps a record for every
 * dropped 5-tuple until it is idle (a node's connection churn: one or more per connection, e.g. a
 * QUEUE_PURGE at each close), and the reading form decoded every record, built its attributes and
 * a JSON key of them at every export. Here a record costs one map lookup per export while it stays
 * as it was; attributes are built once per series, and each address is resolved once per export.
 */
import type { Attributes } from '@opentelemetry/api';
import type { DropFlowView } from '../probes/drop/layout.js';

/** An address of the table, resolved at most once per update. */
interface Address {
  /** what the series of a record with this address depends on (its labels, as text); '' before the first check */
  label: string;
  checked: number;
}

interface SeriesState {
  readonly key: string;
  readonly attributes: Attributes;
  retiredPackets: number;
  retiredBytes: number;
  livePackets: number;
  liveBytes: number;
  live: number;
  lastChange: number;
  lastTotal: number;
}

interface RecordState {
  readonly src: Address;
  readonly dst: Address;
  readonly reasonCode: number;
  /** the labels and reason name its series was chosen with */
  srcLabel: string;
  dstLabel: string;
  reason: string;
  series: SeriesState;
  packets: number;
  bytes: number;
  /** idle bookkeeping: packets when last changed (-1: count it as changed at the next read), and when */
  idlePackets: number;
  idleAt: number;
  seen: number;
}

/** What the series of a record are made of; called once per address and update, and once per new series. */
export interface DropFlowClassifier {
  /** The text of what an address contributes to a series' attributes (equal texts ⇔ equal attributes). */
  addressLabel(view: DropFlowView, i: number, side: 'src' | 'dst'): string;
  /** The reason's name (attribute value) for a reason code. */
  reasonName(code: number): string;
  /**
   * The rest of the series key of record i besides its two address labels and reason (e.g. transport
   * and server port): equal texts ⇔ equal attributes.
   */
  rest(view: DropFlowView, i: number): string;
  /** The attributes of record i's series (called when the series is created). */
  attributes(view: DropFlowView, i: number, reason: string): Attributes;
}

export interface DropFlowSeriesValue {
  readonly attributes: Attributes;
  readonly packets: number;
  readonly bytes: number;
}

export class DropFlowSeries {
  private readonly series = new Map<string, SeriesState>();
  private readonly records = new Map<string, RecordState>();
  private readonly addresses = new Map<string, Address>();
  private generation = 0;

  constructor(private readonly ttlMs: number, private readonly idleMs: number) {}

  /**
   * Feeds the complete table as read now. Returns every series still alive, and the records to
   * delete from the kernel (unchanged for longer than `idleMs`; their values are in the series).
   */
  update(view: DropFlowView, classify: DropFlowClassifier, now: number): { series: DropFlowSeriesValue[]; idle: number[] } {
    const gen = ++this.generation;
    const idle: number[] = [];
    const reasonNames = new Map<number, string>();
    const reasonOf = (code: number): string => {
      let r = reasonNames.get(code);
      if (r === undefined) reasonNames.set(code, (r = classify.reasonName(code)));
      return r;
    };
    const address = (view: DropFlowView, i: number, side: 'src' | 'dst', a: Address | undefined): Address => {
      if (!a) {
        // the address text depends on the record's IP version as well as its 16 bytes
        const key = (side === 'src' ? view.srcKey(i) : view.dstKey(i)) + String.fromCharCode(view.ipVersion(i));
        a = this.addresses.get(key);
        if (!a) this.addresses.set(key, (a = { label: '', checked: 0 }));
      }
      if (a.checked !== gen) {
        a.label = classify.addressLabel(view, i, side);
        a.checked = gen;
      }
      return a;
    };
    for (let i = 0; i < view.count; i++) {
      const rk = view.keyText(i);
      const packets = view.packets(i);
      const bytes = view.bytes(i);
      let rec = this.records.get(rk);
      if (rec) {
        address(view, i, 'src', rec.src);
        address(view, i, 'dst', rec.dst);
        const reason = reasonOf(rec.reasonCode);
        if (rec.src.label !== rec.srcLabel || rec.dst.label !== rec.dstLabel || reason !== rec.reason) {
          // its ends (or the reason's name) now read differently: it may belong to another series
          const s = this.seriesFor(view, i, classify, rec.src.label, rec.dst.label, reason, now);
          rec.srcLabel = rec.src.label;
          rec.dstLabel = rec.dst.label;
          rec.reason = reason;
          if (s !== rec.series) {
            this.retire(rec);
            rec.series = s;
            rec.packets = packets;
            rec.bytes = bytes;
            s.livePackets += packets;
            s.liveBytes += bytes;
            s.live++;
          }
        }
        const s = rec.series;
        if (packets < rec.packets || bytes < rec.bytes) {
          // re-created under the same key between two reads: keep what it had
          s.retiredPackets += rec.packets;
          s.retiredBytes += rec.bytes;
        }
        s.livePackets += packets - rec.packets;
        s.liveBytes += bytes - rec.bytes;
        rec.packets = packets;
        rec.bytes = bytes;
      } else {
        const src = address(view, i, 'src', undefined);
        const dst = address(view, i, 'dst', undefined);
        const reasonCode = view.reason(i);
        const reason = reasonOf(reasonCode);
        const s = this.seriesFor(view, i, classify, src.label, dst.label, reason, now);
        rec = {
          src, dst, reasonCode, srcLabel: src.label, dstLabel: dst.label, reason, series: s,
          packets, bytes, idlePackets: -1, idleAt: now, seen: gen,
        };
        this.records.set(rk, rec);
        s.livePackets += packets;
        s.liveBytes += bytes;
        s.live++;
      }
      rec.seen = gen;
      if (rec.idlePackets !== packets) {
        rec.idlePackets = packets;
        rec.idleAt = now;
      } else if (now - rec.idleAt > this.idleMs) {
        idle.push(i);
        rec.idlePackets = -1; // deleted from the kernel now: if it is read again, its idle time starts again
      }
    }
    for (const [rk, rec] of this.records) {
      if (rec.seen === gen) continue;
      this.retire(rec);
      this.records.delete(rk);
    }
    for (const [key, a] of this.addresses) if (a.checked !== gen) this.addresses.delete(key);
    const out: DropFlowSeriesValue[] = [];
    for (const [key, s] of this.series) {
      const packets = s.retiredPackets + s.livePackets;
      const bytes = s.retiredBytes + s.liveBytes;
      const total = packets + bytes;
      if (total !== s.lastTotal) { s.lastTotal = total; s.lastChange = now; }
      if (s.live === 0 && now - s.lastChange >= this.ttlMs) {
        this.series.delete(key);
        continue;
      }
      out.push({ attributes: s.attributes, packets, bytes });
    }
    return { series: out, idle };
  }

  private seriesFor(view: DropFlowView, i: number, classify: DropFlowClassifier, srcLabel: string, dstLabel: string, reason: string, now: number): SeriesState {
    // JSON: no separator inside a label can make two different keys equal
    const key = JSON.stringify([srcLabel, dstLabel, reason, classify.rest(view, i)]);
    let s = this.series.get(key);
    if (!s) {
      s = {
        key, attributes: classify.attributes(view, i, reason), retiredPackets: 0, retiredBytes: 0, livePackets: 0, liveBytes: 0,
        live: 0, lastChange: now, lastTotal: -1,
      };
      this.series.set(key, s);
    }
    return s;
  }

  /** The record's last values move into its series for good. */
  private retire(rec: RecordState): void {
    const s = rec.series;
    s.retiredPackets += rec.packets;
    s.retiredBytes += rec.bytes;
    s.livePackets -= rec.packets;
    s.liveBytes -= rec.bytes;
    s.live--;
  }

  /** Series alive. */
  get size(): number {
    return this.series.size;
  }

  /** Kernel records followed. */
  get tracked(): number {
    return this.records.size;
  }
}
