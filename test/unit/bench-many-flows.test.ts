import { describe, expect, it } from 'vitest';
import { FlowRecordCounter } from '../../bench/many-flows.js';
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
