/** The demo's rendering: pure functions of a model → text, plain and ANSI. */
import { describe, expect, it } from 'vitest';
import type { DemoModel, DemoSummary } from '../../src/demo/model.js';
import {
  ansiFrame, fmtBytes, fmtClock, fmtInt, fmtRate, renderSnapshot, renderSummary, renderView, truncateVisible, visibleLength,
} from '../../src/demo/view.js';

const ESC = '\x1b[';

const lab = { name: 'demo', pods: 3, netnsPrefix: 'fovea-demo-', interfaceGlob: 'fvdemo-*', nftTable: 'inet fovea_demo', denyPort: 7777, closedPort: 9999 };
const traffic = { intensity: 0.42, tcpTransfers: 12, tcpBytes: 3_000_000, udpDatagrams: 1500, udpBytes: 9000, denyUdp: 300, denyTcp: 4, closedUdp: 80, closedTcp: 9, errors: 0 };
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
    truth: { verdict: 'match', sample: { agent: side(300, 4), nft: side(300, 4) } },
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

describe('renderSnapshot', () => {
  it('a few plain lines summing drops by reason and interfaces', () => {
    const out = renderSnapshot(model());
    expect(out).not.toContain('\x1b');
    expect(out.trim().split('\n')).toEqual([
      '[00:12] exports 12 · probes drop=up traffic=up',
      '  drops: NETFILTER_DROP 300 (26/s), NO_SOCKET 9 (0.5/s)',
      '  interfaces (1): rx 1,234 pkts 1.91 MiB · tx 99 pkts 4.88 KiB',
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

  it('ANSI, and what is left behind', () => {
    const out = renderSummary({ ...summary, lab: { ...summary.lab, removed: false, leftovers: ['link fvdemo-0'] } }, { color: true });
    expect(out).toContain(`${ESC}31mleft behind: link fvdemo-0${ESC}0m`);
  });
});
