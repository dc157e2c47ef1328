/**
 * The demo's model: received OTLP exports (decoded shapes, as OtlpReceiver hands them over) →
 * totals, rates, rows, ground-truth verdicts and the final summary. No kernel, no sockets.
 */
import { describe, expect, it } from 'vitest';
import {
  agentEventStats, agentNetfilter, buildModel, buildSummary, dropRows, flowDropRows, flowRows, interfaceRows, nftSide, podDropRows, podDropSeries,
  podNetfilterRows, podsSeen, podTrafficRows, probeHealth, ReceivedMetrics, reconcileEvents, truthVerdict, workloadLabel, type LabInfo,
} from '../../src/demo/model.js';
import { endpointLabel, RECENT_DROP_EVENTS, ReceivedEvents } from '../../src/demo/received-events.js';
import type { TrafficStats } from '../../src/demo/traffic-loop.js';
import { ATTR, EVENT, INSTRUMENTS } from '../../src/names.js';
import type { ExportLogsServiceRequest, ExportMetricsServiceRequest, KeyValue, LogRecord, Metric } from '../../src/otlp/receiver.js';

type Pt = [attrs: Record<string, string | number | boolean>, value: number];

function kv(attrs: Record<string, string | number | boolean>): KeyValue[] {
  return Object.entries(attrs).map(([key, v]) => (typeof v === 'number'
    ? { key, value: { value: 'intValue', intValue: String(v) } }
    : typeof v === 'boolean' ? { key, value: { value: 'boolValue', boolValue: v } }
      : { key, value: { value: 'stringValue', stringValue: v } }));
}

const ns = (ms: number): string => (BigInt(ms) * 1_000_000n).toString();

function sum(name: string, tMs: number, points: Pt[]): Metric {
  return {
    name, description: '', unit: '', data: 'sum',
    sum: {
      aggregationTemporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE', isMonotonic: true,
      dataPoints: points.map(([a, v]) => ({ attributes: kv(a), startTimeUnixNano: ns(0), timeUnixNano: ns(tMs), value: 'asInt', asInt: String(v) })),
    },
  };
}

function gauge(name: string, tMs: number, points: Pt[]): Metric {
  return {
    name, description: '', unit: '', data: 'gauge',
    gauge: { dataPoints: points.map(([a, v]) => ({ attributes: kv(a), startTimeUnixNano: ns(0), timeUnixNano: ns(tMs), value: 'asDouble', asDouble: v })) },
  };
}

function request(...metrics: Metric[]): ExportMetricsServiceRequest {
  return { resourceMetrics: [{ resource: { attributes: kv({ 'service.name': 'fovea' }) }, scopeMetrics: [{ scope: { name: 'fovea', version: '0' }, metrics }] }] };
}

const nf = (transport: string) => ({ [ATTR.dropReason]: 'NETFILTER_DROP', [ATTR.transport]: transport, [ATTR.networkType]: 'ipv4' });
const ns_ = (transport: string) => ({ [ATTR.dropReason]: 'NO_SOCKET', [ATTR.transport]: transport, [ATTR.networkType]: 'ipv4' });
const ifc = (name: string, dir: 'receive' | 'transmit') => ({ [ATTR.interfaceName]: name, [ATTR.ioDirection]: dir });

/** One agent export at time t (ms) with the given drop and interface totals. */
function agentExport(t: number, o: { nfUdp: number; nfTcp: number; noSock: number; rx0: number; tx0: number; probesUp?: boolean }): ExportMetricsServiceRequest {
  const up = o.probesUp ?? true;
  return request(
    sum(INSTRUMENTS.dropPackets.name, t, [[nf('udp'), o.nfUdp], [nf('tcp'), o.nfTcp], [ns_('udp'), o.noSock]]),
    sum(INSTRUMENTS.dropBytes.name, t, [[nf('udp'), o.nfUdp * 100], [nf('tcp'), o.nfTcp * 60], [ns_('udp'), o.noSock * 90]]),
    sum(INSTRUMENTS.packets.name, t, [[ifc('fvdemo-1', 'receive'), o.rx0], [ifc('fvdemo-1', 'transmit'), o.tx0], [ifc('fvdemo-0', 'receive'), 1], [ifc('fvdemo-0', 'transmit'), 2]]),
    sum(INSTRUMENTS.io.name, t, [[ifc('fvdemo-1', 'receive'), o.rx0 * 1000], [ifc('fvdemo-1', 'transmit'), o.tx0 * 1000], [ifc('fvdemo-0', 'receive'), 10], [ifc('fvdemo-0', 'transmit'), 20]]),
    gauge(INSTRUMENTS.probeUp.name, t, up
      ? [[{ [ATTR.probe]: 'drop', [ATTR.hook]: 'tp_btf/kfree_skb' }, 1], [{ [ATTR.probe]: 'traffic', [ATTR.hook]: 'tcx' }, 1]]
      : [[{ [ATTR.probe]: 'drop' }, 0], [{ [ATTR.probe]: 'traffic' }, 0]]),
    gauge(INSTRUMENTS.attachedInterfaces.name, t, [[{ [ATTR.probe]: 'traffic' }, 2]]),
    sum(INSTRUMENTS.exportFailures.name, t, [[{}, 0]]),
  );
}

const LAB: LabInfo = { name: 'demo', pods: 2, netnsPrefix: 'fovea-demo-', interfaceGlob: 'fvdemo-*', nftTable: 'inet fovea_demo', denyPort: 7777, closedPort: 9999 };
const TRAFFIC: TrafficStats = {
  intensity: 0.5, tcpTransfers: 1, tcpBytes: 10, udpDatagrams: 2, udpBytes: 20, denyUdp: 3, denyTcp: 1, closedUdp: 4, closedTcp: 1,
  denyByPod: { 'fovea-demo-0': { udp: 3, tcp: 1 } }, errors: 0,
};

describe('ReceivedMetrics', () => {
  it('keeps the latest cumulative value and a rate from the points\' own timestamps', () => {
    const m = new ReceivedMetrics();
    m.ingest(agentExport(1_000, { nfUdp: 10, nfTcp: 0, noSock: 5, rx0: 100, tx0: 50 }), 1_005);
    expect(dropRows(m).find((r) => r.reason === 'NETFILTER_DROP' && r.transport === 'udp')).toMatchObject({ packets: 10, bytes: 1000, pps: 0 });
    m.ingest(agentExport(3_000, { nfUdp: 50, nfTcp: 2, noSock: 5, rx0: 300, tx0: 50 }), 9_999); // arrival time does not matter
    const udp = dropRows(m).find((r) => r.reason === 'NETFILTER_DROP' && r.transport === 'udp');
    expect(udp).toEqual({ reason: 'NETFILTER_DROP', transport: 'udp', networkType: 'ipv4', packets: 50, bytes: 5000, pps: 20 });
    expect(m.exports).toBe(2);
    expect(m.lastExportAt).toBe(9_999);
  });

  it('rates cover the last few seconds only, and fall to 0 once the counter stops moving', () => {
    const m = new ReceivedMetrics();
    for (let t = 0; t <= 10_000; t += 1_000) {
      m.ingest(agentExport(t, { nfUdp: t < 5_000 ? t / 10 : 500, nfTcp: 0, noSock: 0, rx0: 0, tx0: 0 }), t);
    }
    expect(dropRows(m).find((r) => r.transport === 'udp' && r.reason === 'NETFILTER_DROP')).toMatchObject({ packets: 500, pps: 0 });
  });

  it('drops series absent from the latest export of their metric (a probe that stopped)', () => {
    const m = new ReceivedMetrics();
    m.ingest(agentExport(1_000, { nfUdp: 1, nfTcp: 0, noSock: 0, rx0: 0, tx0: 0 }), 1_000);
    expect(probeHealth(m)).toEqual([{ name: 'drop', up: true, hook: 'tp_btf/kfree_skb' }, { name: 'traffic', up: true, hook: 'tcx' }]);
    m.ingest(agentExport(2_000, { nfUdp: 1, nfTcp: 0, noSock: 0, rx0: 0, tx0: 0, probesUp: false }), 2_000);
    expect(probeHealth(m)).toEqual([{ name: 'drop', up: false }, { name: 'traffic', up: false }]);
  });

  it('a counter series new in a later export counts its rate from the previous export (it was 0 then)', () => {
    const m = new ReceivedMetrics();
    m.ingest(request(sum('c', 1_000, [[{ k: 'a' }, 5]])), 1_000);
    m.ingest(request(sum('c', 2_000, [[{ k: 'a' }, 5], [{ k: 'b' }, 40]])), 2_000);
    expect(m.series('c')).toEqual([{ attrs: { k: 'a' }, value: 5, rate: 0 }, { attrs: { k: 'b' }, value: 40, rate: 40 }]);
    // gauges and the first export of a metric are not seeded
    m.ingest(request(gauge('g', 1_000, [[{}, 1]])), 1_000);
    m.ingest(request(gauge('g', 2_000, [[{}, 1], [{ k: 'x' }, 7]])), 2_000);
    expect(m.series('g').find((x) => x.attrs['k'] === 'x')).toEqual({ attrs: { k: 'x' }, value: 7, rate: 0 });
  });

  it('ignores a late older point and restarts the history after a counter reset', () => {
    const m = new ReceivedMetrics();
    m.ingest(request(sum('c', 2_000, [[{}, 10]])), 2_000);
    m.ingest(request(sum('c', 1_000, [[{}, 5]])), 2_100);
    expect(m.series('c')).toEqual([{ attrs: {}, value: 10, rate: 0 }]);
    m.ingest(request(sum('c', 3_000, [[{}, 2]])), 3_000);
    m.ingest(request(sum('c', 4_000, [[{}, 6]])), 4_000);
    expect(m.series('c')).toEqual([{ attrs: {}, value: 6, rate: 4 }]);
  });
});

describe('rows', () => {
  const m = new ReceivedMetrics();
  m.ingest(agentExport(1_000, { nfUdp: 10, nfTcp: 3, noSock: 20, rx0: 100, tx0: 50 }), 1_000);
  m.ingest(agentExport(2_000, { nfUdp: 30, nfTcp: 3, noSock: 25, rx0: 150, tx0: 60 }), 2_000);

  it('drop rows: by packets, descending, with bytes of the same series', () => {
    expect(dropRows(m).map((r) => [r.reason, r.transport, r.packets, r.bytes])).toEqual([
      ['NETFILTER_DROP', 'udp', 30, 3000], ['NO_SOCKET', 'udp', 25, 2250], ['NETFILTER_DROP', 'tcp', 3, 180],
    ]);
  });

  it('interface rows: rx/tx packets, bytes and rates per interface, by name', () => {
    expect(interfaceRows(m)).toEqual([
      { name: 'fvdemo-0', rxPackets: 1, rxBytes: 10, txPackets: 2, txBytes: 20, rxBps: 0, txBps: 0, rxPps: 0, txPps: 0 },
      { name: 'fvdemo-1', rxPackets: 150, rxBytes: 150_000, txPackets: 60, txBytes: 60_000, rxBps: 50_000, txBps: 10_000, rxPps: 50, txPps: 10 },
    ]);
  });

  it('NETFILTER_DROP by transport, and the nft side by rule comment', () => {
    expect(agentNetfilter(m)).toEqual({
      udp: { packets: 30, bytes: 3000 }, tcp: { packets: 3, bytes: 180 }, total: { packets: 33, bytes: 3180 },
    });
    expect(nftSide({ 'deny-udp': { packets: 30, bytes: 3000 }, 'deny-tcp': { packets: 4, bytes: 240 } })).toEqual({
      udp: { packets: 30, bytes: 3000 }, tcp: { packets: 4, bytes: 240 }, total: { packets: 34, bytes: 3240 },
    });
    expect(nftSide({}).total).toEqual({ packets: 0, bytes: 0 });
  });
});

describe('truthVerdict', () => {
  const side = (p: number) => ({ udp: { packets: p, bytes: 0 }, tcp: { packets: 0, bytes: 0 }, total: { packets: p, bytes: 0 } });
  it('waiting / match / behind / mismatch', () => {
    expect(truthVerdict(0, { agent: side(0), nft: side(0) })).toBe('waiting');
    expect(truthVerdict(3, undefined)).toBe('waiting');
    expect(truthVerdict(3, { agent: side(5), nft: side(5) })).toBe('match');
    expect(truthVerdict(3, { agent: side(5), nft: side(7) })).toBe('behind');
    expect(truthVerdict(3, { agent: side(8), nft: side(7) })).toBe('mismatch');
  });
});

describe('buildModel / buildSummary', () => {
  const m = new ReceivedMetrics();
  m.ingest(agentExport(1_000, { nfUdp: 10, nfTcp: 2, noSock: 4, rx0: 100, tx0: 50 }), 1_000);

  it('builds the view model from what was received', () => {
    const truth = { agent: agentNetfilter(m), nft: nftSide({ 'deny-udp': { packets: 10, bytes: 1000 }, 'deny-tcp': { packets: 2, bytes: 120 } }) };
    const model = buildModel(m, { nowMs: 1_500, startedAtMs: 500, durationMs: 8_000, lab: LAB, endpoint: 'http://127.0.0.1:1', truth, traffic: TRAFFIC, logFile: '/tmp/x.log' });
    expect(model).toMatchObject({
      elapsedMs: 1_000, durationMs: 8_000,
      exports: { received: 1, lastAgoMs: 500, failures: 0 },
      attachedInterfaces: 2,
      dropTotal: { packets: 16, bytes: 1_000 + 120 + 360 },
      truth: { verdict: 'match' },
      logFile: '/tmp/x.log',
    });
    expect(model.probes.every((p) => p.up)).toBe(true);
  });

  it('summarises totals by reason and compares with nft and link counters', () => {
    const links = new Map([
      ['fvdemo-1', { rxPackets: 100, rxBytes: 100_000, txPackets: 50, txBytes: 50_000, rxDropped: 0, txDropped: 0 }],
      ['fvdemo-0', { rxPackets: 1, rxBytes: 10, txPackets: 3, txBytes: 20, rxDropped: 0, txDropped: 0 }],
    ]);
    const s = buildSummary(m, {
      durationMs: 8_049, endpoint: 'http://127.0.0.1:1', lab: LAB, traffic: TRAFFIC, leftovers: [], links,
      nft: { 'deny-udp': { packets: 10, bytes: 1000 }, 'deny-tcp': { packets: 2, bytes: 120 } },
    });
    expect(s.durationS).toBe(8);
    expect(s.dropsByReason).toEqual({ NETFILTER_DROP: { packets: 12, bytes: 1120 }, NO_SOCKET: { packets: 4, bytes: 360 } });
    expect(s.groundTruth.netfilterDrop.match).toBe(true);
    expect(s.interfaces.map((i) => [i.name, i.match])).toEqual([['fvdemo-0', false], ['fvdemo-1', true]]);
    expect(s.lab).toMatchObject({ removed: true, leftovers: [] });
    expect(JSON.parse(JSON.stringify(s))).toEqual(s); // the --json document is plain data
  });

  it('the summary reports probe health from while the agent ran when given', () => {
    const s = buildSummary(m, {
      durationMs: 1, endpoint: '', lab: LAB, traffic: TRAFFIC, leftovers: ['link fvdemo-0'], links: new Map(), nft: {},
      probes: [{ name: 'drop', up: true }],
    });
    expect(s.agent.probes).toEqual([{ name: 'drop', up: true }]);
    expect(s.groundTruth.netfilterDrop.match).toBe(false);
    expect(s.lab.removed).toBe(false);
  });
});

// ---- pod level ------------------------------------------------------------------------------

const pod = (name: string) => ({
  [ATTR.podUid]: `netns:${name}`, [ATTR.podName]: name, [ATTR.namespace]: '', [ATTR.workloadKind]: 'NetworkNamespace', [ATTR.workloadName]: name,
});
const podDrop = (name: string, reason: string, dir: 'transmit' | 'receive', transport: string) =>
  ({ ...pod(name), [ATTR.dropReason]: reason, [ATTR.ioDirection]: dir, [ATTR.transport]: transport, [ATTR.networkType]: 'ipv4' });
const end = (side: 'src' | 'dst', name: string, kind = 'NetworkNamespace', namespace = ''): Record<string, string> => side === 'src'
  ? { [ATTR.srcNamespace]: namespace, [ATTR.srcWorkloadKind]: kind, [ATTR.srcWorkload]: name }
  : { [ATTR.dstNamespace]: namespace, [ATTR.dstWorkloadKind]: kind, [ATTR.dstWorkload]: name };
const flow = (from: string, to: string, transport: string, port: number, extra: Record<string, string | number> = {}) =>
  ({ ...end('src', from), ...end('dst', to), [ATTR.transport]: transport, [ATTR.serverPort]: port, ...extra });

/** Pod-level export at t: pod 0 sends `d` datagrams to pod 1's deny port (udp) and 1 SYN; `f` packets of a flow. */
function podExport(t: number, d: number, f: number): ExportMetricsServiceRequest {
  const drops: Pt[] = [
    [podDrop('fovea-demo-0', 'NETFILTER_DROP', 'transmit', 'udp'), d], [podDrop('fovea-demo-1', 'NETFILTER_DROP', 'receive', 'udp'), d],
    [podDrop('fovea-demo-0', 'NETFILTER_DROP', 'transmit', 'tcp'), 1], [podDrop('fovea-demo-1', 'NETFILTER_DROP', 'receive', 'tcp'), 1],
    [podDrop('fovea-demo-1', 'NO_SOCKET', 'receive', 'udp'), 4], [podDrop('fovea-demo-2', 'NO_SOCKET', 'transmit', 'udp'), 4],
  ];
  const flows: Pt[] = [
    [flow('fovea-demo-0', 'fovea-demo-1', 'tcp', 8080), f], [flow('fovea-demo-1', 'fovea-demo-0', 'tcp', 8080), f / 2],
    [flow('fovea-demo-0', 'fovea-demo-1', 'udp', 7777), d + 1],
    // two series that differ only in an opt-in attribute fold into one row
    [flow('fovea-demo-2', 'External', 'udp', 53, { [ATTR.dstWorkloadKind]: 'External', [ATTR.srcPod]: 'a' }), 3],
    [flow('fovea-demo-2', 'External', 'udp', 53, { [ATTR.dstWorkloadKind]: 'External', [ATTR.srcPod]: 'b' }), 2],
    [{ 'otel.metric.overflow': true }, 99],
  ];
  const flowDrops: Pt[] = [
    [flow('fovea-demo-0', 'fovea-demo-1', 'udp', 7777, { [ATTR.dropReason]: 'NETFILTER_DROP' }), d],
    [flow('fovea-demo-0', 'fovea-demo-1', 'tcp', 7777, { [ATTR.dropReason]: 'NETFILTER_DROP' }), 1],
    [flow('fovea-demo-2', 'fovea-demo-1', 'udp', 9999, { [ATTR.dropReason]: 'NO_SOCKET' }), 4],
  ];
  const bytes = (pts: Pt[], k: number): Pt[] => pts.map(([a, v]) => [a, v * k]);
  return request(
    sum(INSTRUMENTS.podPackets.name, t, [[{ ...pod('fovea-demo-0'), [ATTR.ioDirection]: 'transmit' }, 2 * f], [{ ...pod('fovea-demo-0'), [ATTR.ioDirection]: 'receive' }, f],
      [{ ...pod('fovea-demo-1'), [ATTR.ioDirection]: 'transmit' }, f]]),
    sum(INSTRUMENTS.podIo.name, t, [[{ ...pod('fovea-demo-0'), [ATTR.ioDirection]: 'transmit' }, 2000 * f], [{ ...pod('fovea-demo-0'), [ATTR.ioDirection]: 'receive' }, 100 * f],
      [{ ...pod('fovea-demo-1'), [ATTR.ioDirection]: 'transmit' }, 100 * f]]),
    sum(INSTRUMENTS.podDropPackets.name, t, drops), sum(INSTRUMENTS.podDropBytes.name, t, bytes(drops, 100)),
    sum(INSTRUMENTS.flowPackets.name, t, flows), sum(INSTRUMENTS.flowBytes.name, t, bytes(flows, 1000)),
    sum(INSTRUMENTS.flowDropPackets.name, t, flowDrops), sum(INSTRUMENTS.flowDropBytes.name, t, bytes(flowDrops, 100)),
  );
}

describe('pod level rows', () => {
  const m = new ReceivedMetrics();
  m.ingest(podExport(1_000, 10, 100), 1_000);
  m.ingest(podExport(3_000, 30, 300), 3_000);

  it('a flow end is namespace/name, the name alone without a namespace, else the kind', () => {
    expect(workloadLabel('shop', 'Deployment', 'cart')).toBe('shop/cart');
    expect(workloadLabel('', 'NetworkNamespace', 'fovea-demo-0')).toBe('fovea-demo-0');
    expect(workloadLabel('', 'External', 'external')).toBe('External');
    expect(workloadLabel('', 'Node', '')).toBe('Node');
    expect(workloadLabel(undefined, undefined, undefined)).toBe('?');
  });

  it('flows: source → destination, transport and server port, busiest first; opt-in attributes folded, overflow left out', () => {
    expect(flowRows(m).map((r) => [r.source, r.destination, r.transport, r.port, r.packets, r.bytes, r.pps, r.bps])).toEqual([
      ['fovea-demo-0', 'fovea-demo-1', 'tcp', 8080, 300, 300_000, 100, 100_000],
      ['fovea-demo-1', 'fovea-demo-0', 'tcp', 8080, 150, 150_000, 50, 50_000],
      ['fovea-demo-0', 'fovea-demo-1', 'udp', 7777, 31, 31_000, 10, 10_000],
      ['fovea-demo-2', 'External', 'udp', 53, 5, 5_000, 0, 0],
    ]);
    expect(flowRows(m)[0]).toMatchObject({ sourceKind: 'NetworkNamespace', destinationKind: 'NetworkNamespace' });
  });

  it('drops between workloads: with reason and port, most first', () => {
    expect(flowDropRows(m).map((r) => [r.source, r.destination, r.reason, r.transport, r.port, r.packets, r.bytes, r.pps])).toEqual([
      ['fovea-demo-0', 'fovea-demo-1', 'NETFILTER_DROP', 'udp', 7777, 30, 3000, 10],
      ['fovea-demo-2', 'fovea-demo-1', 'NO_SOCKET', 'udp', 9999, 4, 400, 0],
      ['fovea-demo-0', 'fovea-demo-1', 'NETFILTER_DROP', 'tcp', 7777, 1, 100, 0],
    ]);
  });

  it('drops by pod and reason: from the pod and to it side by side, every transport summed', () => {
    expect(podDropRows(m).map((r) => [r.pod, r.reason, r.from.packets, r.from.pps, r.to.packets, r.to.pps])).toEqual([
      ['fovea-demo-0', 'NETFILTER_DROP', 31, 10, 0, 0],
      ['fovea-demo-1', 'NETFILTER_DROP', 0, 0, 31, 10],
      ['fovea-demo-1', 'NO_SOCKET', 0, 0, 4, 0],
      ['fovea-demo-2', 'NO_SOCKET', 4, 0, 0, 0],
    ]);
    expect(podDropRows(m)[0]?.from.bytes).toBe(3100);
    expect(podDropSeries(m).filter((d) => d.pod === 'fovea-demo-0')).toEqual([
      { pod: 'fovea-demo-0', reason: 'NETFILTER_DROP', direction: 'transmit', transport: 'tcp', networkType: 'ipv4', packets: 1, bytes: 100 },
      { pod: 'fovea-demo-0', reason: 'NETFILTER_DROP', direction: 'transmit', transport: 'udp', networkType: 'ipv4', packets: 30, bytes: 3000 },
    ]);
  });

  it('pod traffic (sent = transmit) and the pods seen', () => {
    expect(podTrafficRows(m)).toEqual([
      { pod: 'fovea-demo-0', sent: { packets: 600, bytes: 600_000 }, received: { packets: 300, bytes: 30_000 } },
      { pod: 'fovea-demo-1', sent: { packets: 300, bytes: 30_000 }, received: { packets: 0, bytes: 0 } },
    ]);
    expect(podsSeen(m)).toEqual(['fovea-demo-0', 'fovea-demo-1', 'fovea-demo-2']);
  });

  it('NETFILTER_DROP per source pod vs what the generator sent from it', () => {
    const drops = podDropSeries(m);
    expect(podNetfilterRows(drops, { 'fovea-demo-0': { udp: 30, tcp: 1 }, 'fovea-demo-2': { udp: 0, tcp: 1 } })).toEqual([
      { pod: 'fovea-demo-0', agent: { udp: 30, tcp: 1, total: 31 }, sent: { udp: 30, tcp: 1, total: 31 }, match: true },
      { pod: 'fovea-demo-2', agent: { udp: 0, tcp: 0, total: 0 }, sent: { udp: 0, tcp: 1, total: 1 }, match: false },
    ]);
    expect(podNetfilterRows(drops, undefined)).toEqual([{ pod: 'fovea-demo-0', agent: { udp: 30, tcp: 1, total: 31 } }]);
  });

  it('the model carries the workload rows; the summary has pods and flows sections', () => {
    const model = buildModel(m, { nowMs: 3_000, startedAtMs: 0, lab: { ...LAB, pods: 3 }, endpoint: '', traffic: TRAFFIC });
    expect(model.workloads).toMatchObject({ pods: 3 });
    expect(model.workloads.flows).toHaveLength(4);
    expect(model.workloads.podDrops).toHaveLength(4);
    expect(model.workloads.flowDrops).toHaveLength(3);

    const traffic = { ...TRAFFIC, denyByPod: { 'fovea-demo-0': { udp: 30, tcp: 1 } } };
    const s = buildSummary(m, {
      durationMs: 3_000, endpoint: '', lab: LAB, traffic, leftovers: [], links: new Map(),
      nft: { 'deny-udp': { packets: 30, bytes: 3000 }, 'deny-tcp': { packets: 1, bytes: 100 } },
    });
    expect(s.pods.workloads).toEqual(['fovea-demo-0', 'fovea-demo-1', 'fovea-demo-2']);
    expect(s.pods.netfilterDrop).toEqual({
      bySource: [{ pod: 'fovea-demo-0', agent: { udp: 30, tcp: 1, total: 31 }, sent: { udp: 30, tcp: 1, total: 31 }, match: true }],
      agent: { packets: 31, bytes: 3100 }, nft: { packets: 31, bytes: 3100 }, match: true,
    });
    expect(s.pods.dropsByPod[0]).toEqual({ pod: 'fovea-demo-0', reason: 'NETFILTER_DROP', from: { packets: 31, bytes: 3100 }, to: { packets: 0, bytes: 0 } });
    expect(s.pods.drops).toHaveLength(6);
    expect(s.flows.traffic[0]).toEqual({
      source: 'fovea-demo-0', destination: 'fovea-demo-1', sourceKind: 'NetworkNamespace', destinationKind: 'NetworkNamespace',
      transport: 'tcp', port: 8080, packets: 300, bytes: 300_000,
    });
    expect(s.flows.drops.map((d) => d.packets)).toEqual([30, 4, 1]);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);

    const off = buildSummary(m, { durationMs: 1, endpoint: '', lab: LAB, traffic, leftovers: [], links: new Map(), nft: { 'deny-udp': { packets: 29, bytes: 2900 } } });
    expect(off.pods.netfilterDrop.match).toBe(false);
  });

  it('without pod metrics: empty sections', () => {
    const e = new ReceivedMetrics();
    e.ingest(agentExport(1_000, { nfUdp: 1, nfTcp: 0, noSock: 0, rx0: 0, tx0: 0 }), 1_000);
    const s = buildSummary(e, { durationMs: 1, endpoint: '', lab: LAB, traffic: { ...TRAFFIC, denyByPod: {} }, leftovers: [], links: new Map(), nft: {} });
    expect(s.pods).toMatchObject({ workloads: [], drops: [], dropsByPod: [], netfilterDrop: { bySource: [], agent: { packets: 0, bytes: 0 }, match: true } });
    expect(s.flows).toEqual({ traffic: [], drops: [] });
  });
});

// ---- drop events ----------------------------------------------------------------------------

type A = Record<string, string | number | boolean>;

/** A drop event's record as the receiver decodes it (attribute names of src/export/log-records.ts). */
function dropRecord(tMs: number, reason: string, o: { sport?: number; dport?: number; suppressed?: number; src?: A; dst?: A; transport?: string } = {}): LogRecord {
  const attrs: A = {
    [ATTR.verdict]: 'DROPPED', [ATTR.dropReason]: reason, [ATTR.transport]: o.transport ?? 'udp', [ATTR.networkType]: 'ipv4',
    [ATTR.srcAddress]: '10.250.0.2', [ATTR.srcKind]: 'pod', ...(o.sport !== undefined ? { [ATTR.srcPort]: o.sport } : {}), ...o.src,
    [ATTR.dstAddress]: '10.250.0.3', [ATTR.dstKind]: 'pod', ...(o.dport !== undefined ? { [ATTR.dstPort]: o.dport } : {}), ...o.dst,
    [ATTR.interfaceName]: 'fvdemo-0', ...(o.suppressed ? { [ATTR.eventsSuppressed]: o.suppressed } : {}),
  };
  return {
    timeUnixNano: (BigInt(tMs) * 1_000_000n + 250_000n).toString(), observedTimeUnixNano: '0', severityNumber: 'SEVERITY_NUMBER_WARN', severityText: 'WARN',
    body: { value: 'stringValue', stringValue: 'DROPPED …' }, attributes: kv(attrs), eventName: EVENT.drop,
  };
}

function flowRecord(): LogRecord {
  return { ...dropRecord(0, ''), eventName: EVENT.flow, attributes: kv({ [ATTR.verdict]: 'FORWARDED' }) };
}

function logs(...records: LogRecord[]): ExportLogsServiceRequest {
  return { resourceLogs: [{ resource: { attributes: kv({ 'service.name': 'fovea' }) }, scopeLogs: [{ scope: { name: 'fovea', version: '0' }, logRecords: records }] }] };
}

const podEnd = (name: string): A => ({ [ATTR.srcPod]: name, [ATTR.srcWorkload]: name, [ATTR.srcWorkloadKind]: 'NetworkNamespace' });
const podDst = (name: string): A => ({ [ATTR.dstPod]: name, [ATTR.dstWorkload]: name, [ATTR.dstWorkloadKind]: 'NetworkNamespace' });

/** The agent's event-stage health, as in its exports (src/events/pipeline.ts collect()). */
function eventHealth(t: number, o: { read: number; suppressed: Record<string, number>; ringFull: number; queueFull?: number }): Metric[] {
  return [
    sum(INSTRUMENTS.eventsRead.name, t, [[{ [ATTR.eventName]: EVENT.drop }, o.read]]),
    sum(INSTRUMENTS.eventsSuppressed.name, t, Object.entries(o.suppressed).map(([r, n]): Pt => [{ [ATTR.dropReason]: r }, n])),
    sum(INSTRUMENTS.eventsLost.name, t, [[{ [ATTR.lossStage]: 'ring_full' }, o.ringFull], [{ [ATTR.lossStage]: 'queue_full' }, o.queueFull ?? 0]]),
  ];
}

describe('ReceivedEvents', () => {
  it('counts every record, drop events and their suppressed drops by reason; keeps only the newest few as rows', () => {
    const ev = new ReceivedEvents();
    ev.ingest(logs(
      dropRecord(1_000, 'NETFILTER_DROP', { sport: 40000, dport: 7777, suppressed: 5, src: podEnd('fovea-demo-0'), dst: podDst('fovea-demo-1') }),
      dropRecord(1_001, 'NO_SOCKET', { dport: 9999 }),
      flowRecord(),
    ));
    expect([ev.received, ev.dropEvents, ev.flowEvents, ev.exports]).toEqual([3, 2, 1, 1]);
    expect(ev.byReason()).toEqual({ NETFILTER_DROP: { events: 1, suppressed: 5 }, NO_SOCKET: { events: 1, suppressed: 0 } });
    expect(ev.recent()).toEqual([
      { timeMs: 1_000.25, reason: 'NETFILTER_DROP', transport: 'udp', source: 'fovea-demo-0:40000', destination: 'fovea-demo-1:7777', suppressed: 5, interface: 'fvdemo-0' },
      { timeMs: 1_001.25, reason: 'NO_SOCKET', transport: 'udp', source: '10.250.0.2', destination: '10.250.0.3:9999', suppressed: 0, interface: 'fvdemo-0' },
    ]);

    // a storm: thousands of records, in many requests and in one; the store stays the same size
    for (let i = 0; i < 50; i++) ev.ingest(logs(...Array.from({ length: 100 }, (_, j) => dropRecord(2_000 + i * 100 + j, 'NETFILTER_DROP', { suppressed: 1 }))));
    ev.ingest(logs(...Array.from({ length: 3_000 }, (_, j) => dropRecord(10_000 + j, 'NETFILTER_DROP', { dport: j }))));
    expect(ev.dropEvents).toBe(2 + 5_000 + 3_000);
    expect(ev.byReason()['NETFILTER_DROP']).toEqual({ events: 1 + 5_000 + 3_000, suppressed: 5 + 5_000 });
    expect(ev.recent()).toHaveLength(RECENT_DROP_EVENTS);
    expect(ev.recent().map((r) => r.destination)).toEqual([2994, 2995, 2996, 2997, 2998, 2999].map((p) => `10.250.0.3:${p}`));
    // byReason: most events first
    expect(Object.keys(ev.byReason())).toEqual(['NETFILTER_DROP', 'NO_SOCKET']);
  });

  it('newest rows across requests: a small request keeps the tail of the previous one', () => {
    const ev = new ReceivedEvents();
    ev.ingest(logs(...[1, 2, 3, 4, 5].map((t) => dropRecord(t, 'NETFILTER_DROP'))));
    ev.ingest(logs(dropRecord(6, 'NO_SOCKET'), dropRecord(7, 'NO_SOCKET')));
    expect(ev.recent().map((r) => Math.floor(r.timeMs))).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('event ends: pod (namespace/name), workload, service, node, else the address; then the port', () => {
    expect(endpointLabel({ [ATTR.srcNamespace]: 'shop', [ATTR.srcPod]: 'cart-7f9', [ATTR.srcPort]: 80 }, 'source')).toBe('shop/cart-7f9:80');
    expect(endpointLabel({ [ATTR.dstWorkload]: 'fovea-demo-1', [ATTR.dstAddress]: '10.0.0.1' }, 'destination')).toBe('fovea-demo-1');
    expect(endpointLabel({ [ATTR.dstKind]: 'service', [ATTR.dstNamespace]: 'shop', [ATTR.dstService]: 'web', [ATTR.dstPort]: 443 }, 'destination')).toBe('svc shop/web:443');
    expect(endpointLabel({ [ATTR.srcKind]: 'node', [ATTR.srcNode]: 'node-1', [ATTR.srcAddress]: '10.0.0.5' }, 'source')).toBe('node node-1');
    expect(endpointLabel({ [ATTR.srcKind]: 'external', [ATTR.srcAddress]: 'fd00::1', [ATTR.srcPort]: 53 }, 'source')).toBe('[fd00::1]:53');
    expect(endpointLabel({}, 'source')).toBe('?');
  });
});

describe('drop events in the model and the summary', () => {
  const m = new ReceivedMetrics();
  m.ingest(request(...agentExport(1_000, { nfUdp: 30, nfTcp: 2, noSock: 4, rx0: 0, tx0: 0 }).resourceMetrics[0]!.scopeMetrics[0]!.metrics,
    ...eventHealth(1_000, { read: 14, suppressed: { NETFILTER_DROP: 22, NO_SOCKET: 1 }, ringFull: 0 })), 1_000);
  const ev = new ReceivedEvents();
  ev.ingest(logs(
    ...Array.from({ length: 10 }, (_, i) => dropRecord(900 + i, 'NETFILTER_DROP', { suppressed: i < 2 ? 10 : 0, src: podEnd('fovea-demo-0'), dst: podDst('fovea-demo-1'), dport: 7777 })),
    ...Array.from({ length: 3 }, (_, i) => dropRecord(950 + i, 'NO_SOCKET', { suppressed: i === 0 ? 1 : 0 })),
  ));

  it('the agent\'s event stage as received; undefined when it reports none', () => {
    expect(agentEventStats(m)).toEqual({ read: 14, suppressed: { NETFILTER_DROP: 22, NO_SOCKET: 1 }, lost: { ring_full: 0, queue_full: 0 } });
    const plain = new ReceivedMetrics();
    plain.ingest(agentExport(1_000, { nfUdp: 1, nfTcp: 0, noSock: 0, rx0: 0, tx0: 0 }), 1_000);
    expect(agentEventStats(plain)).toBeUndefined();
    expect(reconcileEvents(plain, ev, 'NETFILTER_DROP')).toBeUndefined();
  });

  it('NETFILTER_DROP: events received + suppressed + ring_full == the agent\'s drop count, exactly or not', () => {
    expect(reconcileEvents(m, ev, 'NETFILTER_DROP')).toEqual({ reason: 'NETFILTER_DROP', events: 10, suppressed: 22, ringFull: 0, total: 32, drops: 32, match: true });
    // an event that never arrived (lost in export) breaks the equality: both numbers are reported
    const short = new ReceivedEvents();
    short.ingest(logs(...Array.from({ length: 9 }, (_, i) => dropRecord(900 + i, 'NETFILTER_DROP'))));
    expect(reconcileEvents(m, short, 'NETFILTER_DROP')).toMatchObject({ events: 9, total: 31, drops: 32, match: false });
    // events lost to a full ring count on the agent's side
    const full = new ReceivedMetrics();
    full.ingest(request(...agentExport(1_000, { nfUdp: 30, nfTcp: 2, noSock: 4, rx0: 0, tx0: 0 }).resourceMetrics[0]!.scopeMetrics[0]!.metrics,
      ...eventHealth(1_000, { read: 11, suppressed: { NETFILTER_DROP: 20 }, ringFull: 2, queueFull: 7 })), 1_000);
    expect(reconcileEvents(full, ev, 'NETFILTER_DROP')).toMatchObject({ events: 10, suppressed: 20, ringFull: 2, total: 32, match: true });
  });

  it('the live panel: events received and suppressed carried vs drops counted, the newest rows, the observe socket', () => {
    const model = buildModel(m, { nowMs: 2_000, startedAtMs: 0, lab: LAB, endpoint: '', traffic: TRAFFIC, observe: { socket: '/tmp/o.sock', isDefault: false } }, ev);
    expect(model.events).toMatchObject({ enabled: true, received: 13, suppressed: 21, dropsCounted: 36, observe: { socket: '/tmp/o.sock', isDefault: false } });
    expect(model.events.recent).toHaveLength(RECENT_DROP_EVENTS);
    expect(model.events.recent[0]).toMatchObject({ source: 'fovea-demo-0', destination: 'fovea-demo-1:7777', reason: 'NETFILTER_DROP' });
    expect(model.events.recent.at(-1)).toMatchObject({ reason: 'NO_SOCKET' });
    // before the first export: unknown; after an export without an event stage: off
    expect(buildModel(new ReceivedMetrics(), { nowMs: 0, startedAtMs: 0, lab: LAB, endpoint: '', traffic: TRAFFIC }).events)
      .toEqual({ received: 0, suppressed: 0, dropsCounted: 0, recent: [] });
    const plain = new ReceivedMetrics();
    plain.ingest(agentExport(1_000, { nfUdp: 1, nfTcp: 0, noSock: 0, rx0: 0, tx0: 0 }), 1_000);
    expect(buildModel(plain, { nowMs: 0, startedAtMs: 0, lab: LAB, endpoint: '', traffic: TRAFFIC }).events.enabled).toBe(false);
  });

  it('the summary reports events received and the reconciliation (plain data for --json)', () => {
    const s = buildSummary(m, {
      durationMs: 1_000, endpoint: '', lab: LAB, traffic: TRAFFIC, leftovers: [], links: new Map(), nft: {}, observe: { socket: '/run/fovea/observe.sock', isDefault: true },
    }, ev);
    expect(s.events).toEqual({
      received: 13, flowEvents: 0, logExports: 1,
      byReason: { NETFILTER_DROP: { events: 10, suppressed: 20 }, NO_SOCKET: { events: 3, suppressed: 1 } },
      agent: { read: 14, suppressed: { NETFILTER_DROP: 22, NO_SOCKET: 1 }, lost: { ring_full: 0, queue_full: 0 } },
      netfilterDrop: { reason: 'NETFILTER_DROP', events: 10, suppressed: 22, ringFull: 0, total: 32, drops: 32, match: true },
      observe: { socket: '/run/fovea/observe.sock', isDefault: true },
    });
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    // without events: counted as none, no reconciliation
    const none = buildSummary(m, { durationMs: 1, endpoint: '', lab: LAB, traffic: TRAFFIC, leftovers: [], links: new Map(), nft: {} });
    expect(none.events).toMatchObject({ received: 0, byReason: {}, netfilterDrop: { events: 0, match: false } });
  });
});
