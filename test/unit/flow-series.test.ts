/** FlowSeries: one pass over raw flow records; monotonic across deleted (idle) and evicted records. */
import { describe, expect, it } from 'vitest';
import { FlowSeries, type FlowClassifier } from '../../src/pods/flow-series.js';
import { FLOW_KEY, FLOW_VALUE, FlowView } from '../../src/probes/traffic/layout.js';

/** records: [dport (the series), packets, lastSeenNs] */
function view(records: Array<[number, number, number]>): FlowView {
  const keys = Buffer.alloc(FLOW_KEY.size * records.length);
  const values = Buffer.alloc(FLOW_VALUE.size * records.length);
  records.forEach(([dport, packets, lastSeen], i) => {
    keys.writeUInt16BE(dport, i * FLOW_KEY.size + FLOW_KEY.dport);
    keys.writeUInt16BE(i, i * FLOW_KEY.size + FLOW_KEY.sport); // distinct records
    values.writeBigUInt64LE(BigInt(packets), i * FLOW_VALUE.size + FLOW_VALUE.packets);
    values.writeBigUInt64LE(BigInt(packets * 100), i * FLOW_VALUE.size + FLOW_VALUE.bytes);
    values.writeBigUInt64LE(BigInt(lastSeen), i * FLOW_VALUE.size + FLOW_VALUE.lastSeenNs);
  });
  return new FlowView({ count: records.length, keys, values, keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1 });
}

const byPort: FlowClassifier = { series: (v, i) => ({ key: String(v.dport(i)), attributes: () => ({ port: v.dport(i) }) }) };
const all = () => true;

describe('FlowSeries', () => {
  it('sums live records per series; idle records are returned for deletion and their totals kept', () => {
    const f = new FlowSeries(10_000);
    // idle timeout 5 ns; "now" 100 ns
    let r = f.update(view([[80, 5, 100], [80, 7, 10], [443, 1, 100]]), byPort, all, 0, 100, 5);
    expect(r.series).toEqual([{ attributes: { port: 80 }, packets: 12, bytes: 1200 }, { attributes: { port: 443 }, packets: 1, bytes: 100 }]);
    expect(r.idle).toHaveLength(1); // the record last seen at 10
    // the idle record is gone from the kernel; the other grows
    r = f.update(view([[80, 6, 200], [443, 1, 100]]), byPort, all, 1, 200, 500);
    expect(r.series[0]).toEqual({ attributes: { port: 80 }, packets: 13, bytes: 1300 });
  });

  it('an evicted record (LRU) never makes the series go down', () => {
    const f = new FlowSeries(10_000);
    f.update(view([[80, 5, 100], [80, 7, 100]]), byPort, all, 0, 100, 1e9);
    const r = f.update(view([[80, 6, 100]]), byPort, all, 1, 100, 1e9); // one record evicted, the other +1
    expect(r.series[0]!.packets).toBe(12); // held at its last value (the evicted record's last counts were already in)
    const r2 = f.update(view([[80, 9, 100]]), byPort, all, 2, 100, 1e9);
    expect(r2.series[0]!.packets).toBe(15); // and grows again from there
  });

  it('a series with no records ends once it has not changed for the TTL', () => {
    const f = new FlowSeries(1_000);
    f.update(view([[80, 5, 100]]), byPort, all, 0, 100, 1e9);
    expect(f.update(view([]), byPort, all, 500, 100, 1e9).series).toHaveLength(1);
    expect(f.update(view([]), byPort, all, 1_000, 100, 1e9).series).toHaveLength(0);
    expect(f.size).toBe(0);
  });

  it('records the counting rule skips are not summed', () => {
    const f = new FlowSeries(1_000);
    const r = f.update(view([[80, 5, 100], [80, 7, 100]]), byPort, (i) => i === 0, 0, 100, 1e9);
    expect(r.series[0]!.packets).toBe(5);
  });
});
