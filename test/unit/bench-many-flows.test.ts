import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowRecordCounter, readPortLog } from '../../bench/many-flows.js';
import { ATTR, EVENT } from '../../src/names.js';
import type { Attrs } from '../../src/otlp/receiver.js';

const CLIENT = '10.1.0.2';
const SERVER = '10.1.0.3';

/** the attributes of a flow record as the agent exports it (only the fields the counter reads, plus one it must ignore) */
function flow(state: string, src: string, sport: number, dst: string, dport: number): Attrs {
  return { [ATTR.flowState]: state, [ATTR.srcAddress]: src, [ATTR.srcPort]: sport, [ATTR.dstAddress]: dst, [ATTR.dstPort]: dport, [ATTR.interfaceName]: 'fvbnch-0' };
}

/** the 4 records one connection gets: each direction at each of the two veths */
function connection(state: string, clientPort: number, serverPort: number): Attrs[] {
  const out = flow(state, CLIENT, clientPort, SERVER, serverPort);
  const back = flow(state, SERVER, serverPort, CLIENT, clientPort);
  return [out, back, { ...out, [ATTR.interfaceName]: 'fvbnch-1' }, { ...back, [ATTR.interfaceName]: 'fvbnch-1' }];
}

describe('FlowRecordCounter (bench part j: the loop\'s connections among the flow records)', () => {
  it('counts a connection once for its 4 records, and every record by state', () => {
    const c = new FlowRecordCounter(SERVER, new Set([7000, 7001]));
    for (const a of [...connection('new', 40000, 7000), ...connection('new', 40001, 7001), ...connection('new', 40000, 7001)]) c.add(EVENT.flow, a);
    // a later read of the same connection: no new connection
    for (const a of connection('active', 40000, 7000)) c.add(EVENT.flow, a);
    expect(c.take()).toEqual({ records: 16, byState: { new: 12, active: 4 }, loopConnections: 3, otherRecords: 0 });
  });

  it('leaves out other flows, other events and ports of the client side', () => {
    const c = new FlowRecordCounter(SERVER, new Set([7000]));
    for (const a of connection('new', 50000, 5201)) c.add(EVENT.flow, a); // iperf3
    for (const a of connection('new', 7000, 7001)) c.add(EVENT.flow, a); // the client's port is 7000, the server's not a loop port
    c.add(EVENT.drop, flow('new', CLIENT, 40000, SERVER, 7000));
    c.add(EVENT.flow, flow('new', CLIENT, 40000, '10.1.0.9', 7000)); // another server
    expect(c.take()).toEqual({ records: 9, byState: { new: 9 }, loopConnections: 0, otherRecords: 9 });
  });

  it('starts over after take', () => {
    const c = new FlowRecordCounter(SERVER, new Set([7000]));
    for (const a of connection('new', 40000, 7000)) c.add(EVENT.flow, a);
    expect(c.take().loopConnections).toBe(1);
    for (const a of connection('ended', 40000, 7000)) c.add(EVENT.flow, a);
    expect(c.take()).toEqual({ records: 4, byState: { ended: 4 }, loopConnections: 1, otherRecords: 0 });
    expect(c.take()).toEqual({ records: 0, byState: {}, loopConnections: 0, otherRecords: 0 });
  });
});

describe('the loop\'s connections made between two marks against the flow records', () => {
  it('reads connections from..to of a tcp-load port log (u16 client port, u16 server port, u32 ms, little-endian)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-port-log-'));
    try {
      const conns: [number, number, number][] = [[40000, 7000, 0], [40002, 7001, 1], [65534, 7002, 2], [40000, 7000, 70_000]];
      const buf = Buffer.alloc(conns.length * 8);
      conns.forEach(([c, s, ms], i) => { buf.writeUInt16LE(c, i * 8); buf.writeUInt16LE(s, i * 8 + 2); buf.writeUInt32LE(ms, i * 8 + 4); });
      const path = join(dir, 'ports.bin');
      writeFileSync(path, buf);
      expect(readPortLog(path, 1, 4)).toEqual(['40002>7001', '65534>7002', '40000>7000']);
      expect(readPortLog(path, 2, 2)).toEqual([]);
      expect(() => readPortLog(path, 3, 5)).toThrow(/1 connections from 3, want 2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a 4-tuple used twice is one flow (not missing); a 4-tuple without a record is missing', () => {
    const c = new FlowRecordCounter(SERVER, new Set([7000, 7001]));
    // the second connection on 40000 → 7000 adds packets to the same records: they come back as `active`
    for (const a of [...connection('new', 40000, 7000), ...connection('new', 40002, 7001), ...connection('active', 40000, 7000)]) c.add(EVENT.flow, a);
    const made = ['40000>7000', '40002>7001', '40000>7000', '40004>7000'];
    // counting would say 1 short (4 made, 2 recorded — 3 distinct made); looking each up finds the one really without a record
    expect(c.missing(made)).toEqual(['40004>7000']);
    expect(c.missing(made.slice(0, 3))).toEqual([]);
    expect(c.take().loopConnections).toBe(2);
  });
});
