/** The demo's rendering: pure functions of a model → text, plain and ANSI. */
import { describe, expect, it } from 'vitest';
import type { DemoModel, DemoSummary } from '../../src/demo/model.js';
import type { DropEventRow } from '../../src/demo/received-events.js';
import {
  ansiFrame, fmtBytes, fmtClock, fmtInt, fmtRate, fmtTime, observeText, renderSnapshot, renderSummary, renderView, TOP_DROPS, TOP_FLOW_DROPS, TOP_FLOWS,
  TOP_INTERFACES, TOP_POD_DROPS, truncateVisible, visibleLength,
} from '../../src/demo/view.js';

const ESC = '\x1b[';

const lab = { name: 'demo', pods: 3, netnsPrefix: 'fovea-demo-', interfaceGlob: 'fvdemo-*', nftTable: 'inet fovea_demo', denyPort: 7777, closedPort: 9999 };
const traffic = {
  intensity: 0.42, tcpTransfers: 12, tcpBytes: 3_000_000, udpDatagrams: 1500, udpBytes: 9000, denyUdp: 300, denyTcp: 4, closedUdp: 80, closedTcp: 9,
  denyByPod: { 'fovea-demo-0': { udp: 200, tcp: 4 }, 'fovea-demo-1': { udp: 100, tcp: 0 } }, errors: 0,
};
const ns = 'NetworkNamespace';
const dc = (packets: number, pps = 0) => ({ packets, bytes: packets * 100, pps });
const workloads: DemoModel['workloads'] = {
  pods: 3,
  flows: [
    { source: 'fovea-demo-0', destination: 'fovea-demo-1', sourceKind: ns, destinationKind: ns, transport: 'udp', port: 9000, packets: 1200, bytes: 900_000, pps: 235, bps: 200_000 },
    { source: 'fovea-demo-2', destination: 'fovea-demo-1', sourceKind: ns, destinationKind: ns, transport: 'tcp', port: 8080, packets: 169, bytes: 5_000_000, pps: 36, bps: 1_048_576 },
    { source: 'fovea-demo-2', destination: 'External', sourceKind: ns, destinationKind: 'External', transport: 'icmp', port: 0, packets: 2, bytes: 196, pps: 0, bps: 0 },
  ],
  podDrops: [
    { pod: 'fovea-demo-0', reason: 'NETFILTER_DROP', from: dc(204, 25.5), to: dc(0) },
    { pod: 'fovea-demo-1', reason: 'NETFILTER_DROP', from: dc(100, 3), to: dc(204, 25.5) },
    { pod: 'fovea-demo-2', reason: 'NO_SOCKET', from: dc(0), to: dc(9, 0.5) },
  ],
  flowDrops: [
    { source: 'fovea-demo-0', destination: 'fovea-demo-1', reason: 'NETFILTER_DROP', transport: 'udp', port: 7777, packets: 200, bytes: 20_000, pps: 25.5 },
    { source: 'fovea-demo-1', destination: 'fovea-demo-2', reason: 'NO_SOCKET', transport: 'tcp', port: 9999, packets: 9, bytes: 360, pps: 0.5 },
  ],
};
/** Local wall-clock times, so the expected text does not depend on the time zone. */
const at = (h: number, m: number, s: number, ms: number): number => new Date(2024, 4, 1, h, m, s, ms).getTime();
const recent: DropEventRow[] = [
  { timeMs: at(12, 0, 1, 234), reason: 'NETFILTER_DROP', transport: 'udp', source: 'fovea-demo-0:41234', destination: 'fovea-demo-1:7777', suppressed: 12, interface: 'fvdemo-0' },
  { timeMs: at(12, 0, 1, 500), reason: 'NO_SOCKET', transport: 'tcp', source: '10.0.0.9:5000', destination: 'fovea-demo-2:9999', suppressed: 0 },
];
const events: DemoModel['events'] = {
  enabled: true, received: 40, suppressed: 260, dropsCounted: 309, recent, observe: { socket: '/run/fovea/observe.sock', isDefault: true },
};
const side = (udp: number, tcp: number) => ({
  udp: { packets: udp, bytes: udp * 100 }, tcp: { packets: tcp, bytes: tcp * 60 }, total: { packets: udp + tcp, bytes: udp * 100 + tcp * 60 },
});

function model(over: Partial<DemoModel> = {}): DemoModel {
  return {
    lab, endpoint: 'http://127.0.0.1:4317', elapsedMs: 12_300, durationMs: 60_000,
    exports: { received: 12, lastAgoMs: 400, failures: 0 },
    probes: [{ name: 'drop', up: true, hook: 'tp_btf/kfree_skb' }, { name: 'traffic', up: true, hook: 'tcx' }],
    attachedInterfaces: 3,
    drops: [
      { reason: 'NETFILTER_DROP', transport: 'udp', networkType: 'ipv4', packets: 300, bytes: 30_000, pps: 25.5 },
      { reason: 'NO_SOCKET', transport: 'tcp', networkType: 'ipv4', packets: 9, bytes: 360, pps: 0.5 },
    ],
    dropTotal: { packets: 309, bytes: 30_360, pps: 26 },
    interfaces: [
      { name: 'fvdemo-0', rxPackets: 1234, rxBytes: 2_000_000, txPackets: 99, txBytes: 5000, rxBps: 150_000, txBps: 300, rxPps: 100, txPps: 3 },
    ],
    workloads,
    truth: { verdict: 'match', sample: { agent: side(300, 4), nft: side(300, 4) } },
    events,
    traffic,
    logFile: '/tmp/fovea-demo-1.log',
    ...over,
  };
}

describe('formatting', () => {
  it('numbers, bytes, rates and clocks', () => {
    expect(fmtInt(0)).toBe('0');
    expect(fmtInt(1234567)).toBe('1,234,567');
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(1536)).toBe('1.50 KiB');
    expect(fmtBytes(50 * 1024 * 1024)).toBe('50.0 MiB');
    expect(fmtRate(0)).toBe('0');
    expect(fmtRate(3.46)).toBe('3.5');
    expect(fmtRate(12345.6)).toBe('12,346');
    expect(fmtClock(65_000)).toBe('01:05');
    expect(fmtClock(3_725_000)).toBe('1:02:05');
    expect(fmtTime(at(9, 5, 7, 42))).toBe('09:05:07.042');
    expect(visibleLength(`${ESC}31mred${ESC}0m`)).toBe(3);
  });
});

describe('renderView', () => {
  it('plain: every section, no escape codes', () => {
    const out = renderView(model(), { color: false });
    expect(out).not.toContain('\x1b');
    expect(out.split('\n')[0]).toBe('fovea demo · 00:12 / 01:00 · live from the OTLP/gRPC receiver at 127.0.0.1:4317');
    expect(out).toMatch(/NETFILTER_DROP\s+udp\s+ipv4\s+300\s+29\.3 KiB\s+26/);
    expect(out).toMatch(/NO_SOCKET\s+tcp\s+ipv4\s+9\s+360 B\s+0\.5/);
    expect(out).toMatch(/fvdemo-0\s+1,234\s+1\.91 MiB\s+146 KiB\/s\s+99\s+4\.88 KiB\s+300 B\/s/);
    expect(out).toContain('NETFILTER_DROP agent 304 (udp 300, tcp 4) vs nft rules 304 (udp 300, tcp 4)  ✓ exact');
    expect(out).toContain('drop up (tp_btf/kfree_skb), traffic up (tcx) · 3 interfaces attached');
    expect(out).toContain('12 received (last 0.4 s ago), 0 failed · agent logs: /tmp/fovea-demo-1.log');
    expect(out).toContain('to deny :7777 udp 300, tcp 4 · to closed :9999 udp 80, tcp 9');
  });

  it('plain: table rows line up', () => {
    const lines = renderView(model(), { color: false }).split('\n');
    const rows = lines.filter((l) => /^ {2}(NETFILTER_DROP|NO_SOCKET|total) /.test(l));
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((l) => l.length)).size).toBe(1);
  });

  it('ANSI: colours, same visible text as plain', () => {
    const ansi = renderView(model(), { color: true });
    expect(ansi).toContain(`${ESC}31mNETFILTER_DROP${ESC}0m`);
    expect(ansi).toContain(`${ESC}32m✓ exact${ESC}0m`);
    // eslint-disable-next-line no-control-regex
    expect(ansi.replace(/\x1b\[[0-9;]*m/g, '')).toBe(renderView(model(), { color: false }));
  });

  it('before anything arrives, and the other verdicts', () => {
    const empty = renderView(model({ drops: [], interfaces: [], probes: [], exports: { received: 0, failures: 0 }, truth: { verdict: 'waiting' } }), { color: false });
    expect(empty).toContain('no drops received yet');
    expect(empty).toContain('no interface traffic received yet');
    expect(empty).toContain('waiting for the first export');
    expect(empty).toContain('no health received yet');
    const behind = renderView(model({ truth: { verdict: 'behind', sample: { agent: side(300, 4), nft: side(310, 4) } } }), { color: false });
    expect(behind).toContain("+10 since the agent's read");
    const mismatch = renderView(model({ truth: { verdict: 'mismatch', sample: { agent: side(320, 4), nft: side(310, 4) } } }), { color: false });
    expect(mismatch).toContain('✗ agent +10');
    const noDuration = renderView(model({ durationMs: undefined }), { color: false });
    expect(noDuration.split('\n')[0]).toMatch(/^fovea demo · 00:12 · /);
  });

  it('WORKLOADS: flows, drops by pod (from / to) and between workloads, lined up', () => {
    const out = renderView(model(), { color: false });
    expect(out).toContain('WORKLOADS pod level: each fovea-demo-* netns is a workload (kind NetworkNamespace) · 3 of 3 pods seen · 3 flows');
    expect(out).toMatch(/ {2}fovea-demo-0 → fovea-demo-1\s+udp\s+9000\s+1,200\s+879 KiB\s+195 KiB\/s\s+235\n/);
    expect(out).toMatch(/ {2}fovea-demo-2 → External\s+icmp\s+-\s+2\s+196 B\s+0 B\/s\s+0\n/);
    expect(out).toMatch(/ {2}fovea-demo-1\s+NETFILTER_DROP\s+100\s+3\.0\s+204\s+26\n/);
    expect(out).toMatch(/ {2}fovea-demo-0 → fovea-demo-1\s+NETFILTER_DROP\s+udp\s+7777\s+200\s+26\n/);
    const lines = out.split('\n');
    const flowRows = lines.filter((l) => / {2}fovea-demo-\d → \S+\s+(udp|tcp|icmp) /.test(l));
    expect(flowRows).toHaveLength(3);
    expect(new Set(flowRows.map((l) => l.length)).size).toBe(1);
    const podRows = lines.filter((l) => /^ {2}fovea-demo-\d {10,}(NETFILTER_DROP|NO_SOCKET)/.test(l));
    expect(podRows).toHaveLength(3);
    expect(new Set(podRows.map((l) => l.length)).size).toBe(1);
    expect(out).not.toContain('top ');
  });

  it('WORKLOADS: trimmed to the top rows with a note; the whole screen stays within ~50 lines of 120 columns', () => {
    const many = <T,>(rows: readonly T[], n: number): T[] => Array.from({ length: n }, (_, i) => rows[i % rows.length]!);
    const big = model({
      lab: { ...lab, pods: 16 },
      drops: [...many(model().drops, 7), { reason: 'NOT_SPECIFIED', transport: '', networkType: '', packets: 1, bytes: 60, pps: 0 }],
      interfaces: Array.from({ length: 16 }, (_, i) => ({ ...model().interfaces[0]!, name: `fvdemo-${i}`, rxBps: i * 1000 })),
      workloads: {
        pods: 16, flows: many(workloads.flows, 120), podDrops: many(workloads.podDrops, 20), flowDrops: many(workloads.flowDrops, 30),
      },
      events: {
        ...events, received: 1_234_567, suppressed: 98_765_432, dropsCounted: 99_999_999,
        recent: many([{ ...recent[0]!, source: 'a-very-long-namespace/a-very-long-pod-name-7f9c4:41234', suppressed: 1_000_000 }], 6),
        observe: { socket: '/tmp/fovea-demo-4242.observe.sock', isDefault: false },
      },
    });
    const out = renderView(big, { color: false });
    expect(out).toMatch(new RegExp(`flows .*top ${TOP_FLOWS} of 120\n`));
    expect(out).toMatch(new RegExp(`drops by pod .*top ${TOP_POD_DROPS} of 20\n`));
    expect(out).toMatch(new RegExp(`drops between workloads .*top ${TOP_FLOW_DROPS} of 30\n`));
    const lines = out.trimEnd().split('\n');
    // 42 lines before the DROP EVENTS panel (header, 6 events, live-stream line, blank line)
    expect(lines.length).toBeLessThanOrEqual(51);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(120);
  });

  it('WORKLOADS before anything arrives', () => {
    const out = renderView(model({ workloads: { pods: 0, flows: [], podDrops: [], flowDrops: [] } }), { color: false });
    expect(out).toContain('0 of 3 pods seen · 0 flows');
    expect(out.match(/none received yet/g)).toHaveLength(3);
  });

  it('ansiFrame redraws in place: home, clear each line, clear below; cuts lines to the terminal width', () => {
    expect(ansiFrame('a\nb\n')).toBe(`${ESC}Ha${ESC}K\nb${ESC}K\n${ESC}J`);
    expect(ansiFrame('abcdef\nxy\n', 4)).toBe(`${ESC}Habcd${ESC}K\nxy${ESC}K\n${ESC}J`);
  });

  it('truncateVisible keeps colours, counts only visible characters and resets at the cut', () => {
    const red = `${ESC}31mNETFILTER${ESC}0m_DROP`;
    expect(truncateVisible(red, 20)).toBe(red);
    expect(truncateVisible(red, 3)).toBe(`${ESC}31mNET${ESC}0m`);
    expect(truncateVisible(red, 11)).toBe(`${ESC}31mNETFILTER${ESC}0m_D${ESC}0m`);
    expect(truncateVisible('plain text', 5)).toBe('plain');
  });
});

describe('DROP EVENTS panel', () => {
  it('counts, the newest events (time, source → destination, proto, reason, +N suppressed), the live-stream command', () => {
    const out = renderView(model(), { color: false });
    expect(out).toContain('DROP EVENTS as received (OTLP logs): 40 events + 260 suppressed = 300 of 309 drops counted\n');
    expect(out).toMatch(/\n {2}12:00:01\.234 {2}fovea-demo-0:41234 → fovea-demo-1:7777\s+udp\s+NETFILTER_DROP\s+\+12 suppressed\n/);
    expect(out).toMatch(/\n {2}12:00:01\.500 {2}10\.0\.0\.9:5000 → fovea-demo-2:9999\s+tcp\s+NO_SOCKET\n/);
    expect(out).toContain('\n  live stream: npx fovea observe --follow\n');
    // the panel sits between WORKLOADS and GROUND TRUTH; event rows line up
    expect(out.indexOf('DROP EVENTS')).toBeGreaterThan(out.indexOf('WORKLOADS'));
    expect(out.indexOf('DROP EVENTS')).toBeLessThan(out.indexOf('GROUND TRUTH'));
    const rows = out.split('\n').filter((l) => /^ {2}\d\d:\d\d:\d\d\.\d{3} /.test(l)).map((l) => l.indexOf('udp') >= 0 ? l.indexOf('udp') : l.indexOf('tcp'));
    expect(rows).toHaveLength(2);
    expect(new Set(rows).size).toBe(1);
  });

  it('colours the reason and the suppressed count', () => {
    const ansi = renderView(model(), { color: true });
    expect(ansi).toContain(`${ESC}33m+12 suppressed${ESC}0m`);
  });

  it('before any event, with events off, and the live-stream line for another socket or none', () => {
    const none = renderView(model({ events: { ...events, received: 0, suppressed: 0, recent: [] } }), { color: false });
    expect(none).toMatch(/DROP EVENTS .* 0 events \+ 0 suppressed = 0 of 309 drops counted\n {2}none received yet\n/);
    const off = renderView(model({ events: { ...events, enabled: false, recent: [] } }), { color: false });
    expect(off).toContain("DROP EVENTS off (the agent reports no drop-event stage; see the agent's log)");
    expect(off).not.toContain('live stream');
    expect(observeText({ socket: '/tmp/fovea-demo-7.observe.sock', isDefault: false })).toBe('npx fovea observe --follow --socket /tmp/fovea-demo-7.observe.sock');
    expect(observeText({ socket: '/run/fovea/observe.sock', isDefault: false })).toBe('npx fovea observe --follow');
    expect(observeText({ off: 'permission denied' })).toBe('off (permission denied)');
    expect(observeText(undefined)).toBe('off');
    const other = renderView(model({ events: { ...events, observe: { socket: '/tmp/x.sock', isDefault: false } } }), { color: false });
    expect(other).toContain('  live stream: npx fovea observe --follow --socket /tmp/x.sock\n');
  });
});

describe('renderSnapshot', () => {
  it('a few plain lines summing drops by reason and interfaces', () => {
    const out = renderSnapshot(model());
    expect(out).not.toContain('\x1b');
    expect(out.trim().split('\n')).toEqual([
      '[00:12] exports 12 · probes drop=up traffic=up',
      '  drops: NETFILTER_DROP 300 (26/s), NO_SOCKET 9 (0.5/s)',
      '  interfaces (1): rx 1,234 pkts 1.91 MiB · tx 99 pkts 4.88 KiB',
      '  workloads: 3 pods, 3 flows; busiest fovea-demo-0 → fovea-demo-1 udp/9000 1,200 pkts (235/s), fovea-demo-2 → fovea-demo-1 tcp/8080 169 pkts (36/s)',
      '  pod drops: fovea-demo-0 NETFILTER_DROP from 204 / to 0, fovea-demo-1 NETFILTER_DROP from 100 / to 204, fovea-demo-2 NO_SOCKET from 0 / to 9',
      '  dropped between workloads: fovea-demo-0 → fovea-demo-1 NETFILTER_DROP udp/7777 200, fovea-demo-1 → fovea-demo-2 NO_SOCKET tcp/9999 9',
      '  drop events: 40 + 260 suppressed of 309 drops counted; newest 12:00:01.500 10.0.0.9:5000 → fovea-demo-2:9999 tcp NO_SOCKET · live: npx fovea observe --follow',
      '  truth: NETFILTER_DROP agent 304 (udp 300, tcp 4) vs nft rules 304 (udp 300, tcp 4)  ✓ exact',
    ]);
  });
});

describe('renderSummary', () => {
  const summary: DemoSummary = {
    durationS: 8.1,
    receiver: { endpoint: 'http://127.0.0.1:4317', exportsReceived: 9 },
    agent: { probes: [{ name: 'drop', up: true, hook: 'tp_btf/kfree_skb' }], exportFailures: 0 },
    drops: [{ reason: 'NETFILTER_DROP', transport: 'udp', networkType: 'ipv4', packets: 300, bytes: 30_000 }],
    dropsByReason: { NETFILTER_DROP: { packets: 304, bytes: 30_240 }, NO_SOCKET: { packets: 9, bytes: 360 } },
    interfaces: [{
      name: 'fvdemo-0',
      agent: { rxPackets: 10, rxBytes: 1000, txPackets: 5, txBytes: 500 },
      kernel: { rxPackets: 10, rxBytes: 1000, txPackets: 5, txBytes: 500 },
      match: true,
    }],
    groundTruth: { netfilterDrop: { agent: side(300, 4), nft: side(300, 4), match: true } },
    events: {
      received: 44, flowEvents: 0, logExports: 7,
      byReason: { NETFILTER_DROP: { events: 40, suppressed: 250 }, NO_SOCKET: { events: 4, suppressed: 5 } },
      agent: { read: 44, suppressed: { NETFILTER_DROP: 264, NO_SOCKET: 5 }, lost: { ring_full: 0, queue_full: 0 } },
      netfilterDrop: { reason: 'NETFILTER_DROP', events: 40, suppressed: 264, ringFull: 0, total: 304, drops: 304, match: true },
      observe: { socket: '/run/fovea/observe.sock', isDefault: true },
    },
    pods: {
      workloads: ['fovea-demo-0', 'fovea-demo-1', 'fovea-demo-2'],
      traffic: [],
      drops: [],
      dropsByPod: [
        { pod: 'fovea-demo-0', reason: 'NETFILTER_DROP', from: { packets: 204, bytes: 20_400 }, to: { packets: 0, bytes: 0 } },
        { pod: 'fovea-demo-1', reason: 'NETFILTER_DROP', from: { packets: 100, bytes: 9_840 }, to: { packets: 204, bytes: 20_400 } },
      ],
      netfilterDrop: {
        bySource: [
          { pod: 'fovea-demo-0', agent: { udp: 200, tcp: 4, total: 204 }, sent: { udp: 200, tcp: 4, total: 204 }, match: true },
          { pod: 'fovea-demo-1', agent: { udp: 100, tcp: 0, total: 100 }, sent: { udp: 101, tcp: 0, total: 101 }, match: false },
        ],
        agent: { packets: 304, bytes: 30_240 }, nft: { packets: 304, bytes: 30_240 }, match: true,
      },
    },
    flows: {
      traffic: workloads.flows.map(({ pps: _p, bps: _b, ...f }) => f),
      drops: workloads.flowDrops.map(({ pps: _p, ...f }) => f),
    },
    traffic,
    lab: { ...lab, removed: true, leftovers: [] },
    logFile: '/tmp/fovea-demo-1.log',
  };

  it('plain: totals vs kernel counters, cleanup and logs', () => {
    const out = renderSummary(summary, { color: false });
    expect(out).not.toContain('\x1b');
    expect(out).toContain('summary: 8.1 s, 9 exports received');
    expect(out).toMatch(/NETFILTER_DROP\s+304\s+29\.5 KiB/);
    expect(out).toContain('agent 304 pkts / 29.5 KiB  vs  nft deny rules 304 pkts / 29.5 KiB  ✓ exact');
    expect(out).toContain('udp 300 vs 300 ✓ · tcp 4 vs 4 ✓');
    expect(out).toMatch(/fvdemo-0\s+10\s+1000 B\s+5\s+500 B\s+agent/);
    expect(out).toMatch(/\s+10\s+1000 B\s+5\s+500 B\s+kernel ✓/);
    expect(out).toContain('removed: no fovea-demo-* netns, fvdemo-* interface or inet fovea_demo table left');
    expect(out).toContain('/tmp/fovea-demo-1.log');
  });

  it('plain: drops by pod and reason, NETFILTER_DROP per source pod vs the generator, drops and flows between workloads', () => {
    const out = renderSummary(summary, { color: false });
    expect(out).toMatch(/ {2}fovea-demo-1\s+NETFILTER_DROP\s+100\s+204\n/);
    expect(out).toContain('NETFILTER_DROP from pods 304 pkts / 29.5 KiB  vs  nft deny rules 304 pkts / 29.5 KiB  ✓ exact');
    expect(out).toContain('by source pod, as received vs sent to :7777 by the generator:');
    expect(out).toMatch(/fovea-demo-0\s+udp 200 vs 200 ✓ · tcp 4 vs 4 ✓/);
    expect(out).toMatch(/fovea-demo-1\s+udp 100 vs 101 ✗ · tcp 0 vs 0 ✓/);
    expect(out).toContain('Drops between workloads, as received\n');
    expect(out).toMatch(/fovea-demo-0 → fovea-demo-1\s+NETFILTER_DROP\s+udp\s+7777\s+200\s+19\.5 KiB/);
    expect(out).toMatch(/fovea-demo-2 → fovea-demo-1\s+tcp\s+8080\s+169\s+4\.77 MiB/);
    const trimmed = renderSummary({ ...summary, flows: { ...summary.flows, traffic: Array(12).fill(summary.flows.traffic[0]) } }, { color: false });
    expect(trimmed).toContain('Flows between workloads, as received (top 8 of 12)');
  });

  it('drop events: the exact reconciliation next to the nft check, and what was received', () => {
    const out = renderSummary(summary, { color: false });
    const lines = out.split('\n');
    const i = lines.findIndex((l) => l.startsWith('Drop events'));
    expect(lines[i]).toBe('Drop events   NETFILTER_DROP: 40 events received + 264 suppressed + 0 lost (ring full) = 304  vs  agent 304 drops  ✓ exact');
    expect(lines[i + 1]).toBe('              44 drop events received as OTLP log records (NETFILTER_DROP 40, NO_SOCKET 4) · the agent read 44');
    expect(lines[i - 1]).toMatch(/^ {14}udp 300 vs 300 ✓ · tcp 4 vs 4 ✓$/); // right under the nft check

    const off = renderSummary({ ...summary, events: { ...summary.events,
      netfilterDrop: { reason: 'NETFILTER_DROP', events: 39, suppressed: 264, ringFull: 0, total: 303, drops: 304, match: false },
      agent: { read: 44, suppressed: {}, lost: { ring_full: 0, queue_full: 1 } } } }, { color: false });
    expect(off).toContain('= 303  vs  agent 304 drops  ✗ differ');
    expect(off).toContain('the agent read 44 · lost: queue_full 1');
    const { netfilterDrop: _checked, ...unchecked } = summary.events;
    expect(renderSummary({ ...summary, events: unchecked }, { color: false }))
      .toContain('Drop events   not checked: the agent reported no drop-event stage');
    expect(renderSummary(summary, { color: true })).toContain(`304 drops  ${ESC}32m✓ exact${ESC}0m`);
  });

  it('ANSI, and what is left behind', () => {
    const out = renderSummary({ ...summary, lab: { ...summary.lab, removed: false, leftovers: ['link fvdemo-0'] } }, { color: true });
    expect(out).toContain(`${ESC}31mleft behind: link fvdemo-0${ESC}0m`);
  });
});
