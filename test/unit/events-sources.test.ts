/**
 * The event stage's pure parts: kernel symbols, endpoint identity and TCP flag names, flow records
 * → new/active/ended flow events (fake flow table), and the stage's health series.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { eventEndpoint, LocalPods, tcpFlagNames, transportOf } from '../../src/events/endpoints.js';
import { DropEventSource } from '../../src/events/drop-events.js';
import { FlowEventSource } from '../../src/events/flow-events.js';
import { DROP_EVENT } from '../../src/probes/drop/layout.js';
import { prng } from '../helpers/prng.js';
import { KernelSymbols } from '../../src/events/kallsyms.js';
import { BUSY_EVENTS, EventPipeline, type EventOutput } from '../../src/events/pipeline.js';
import type { NetworkEvent } from '../../src/events/types.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import type { MapSnapshot } from '../../src/kernel/map.js';
import { encodeIp } from '../../src/probes/addresses.js';
import { FLOW_KEY, FLOW_VALUE, FlowView, TRAFFIC_EGRESS, TRAFFIC_INGRESS } from '../../src/probes/traffic/layout.js';

const silent = pino({ level: 'silent' });

function kallsyms(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'fovea-ksym-'));
  const p = join(dir, 'kallsyms');
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

/** Resolves one address and answers for it, as a drop event's first sight of a drop site does. */
async function lookup(k: KernelSymbols, addr: bigint): Promise<string | undefined | null> {
  await k.resolve([addr]);
  return k.known(addr);
}

describe('KernelSymbols', () => {
  const path = kallsyms([
    'ffffffff81000000 T _stext',
    'ffffffff81000100 t helper_a',
    'ffffffff81000200 D some_data',
    'ffffffff81000300 T nft_do_chain\t[nf_tables]',
  ]);
  it('names the text symbol at or below an address, with the offset', async () => {
    const k = new KernelSymbols({ path });
    expect(k.known(0xffffffff81000104n)).toBeNull(); // not read yet
    expect(await lookup(k, 0xffffffff81000104n)).toBe('helper_a+0x4');
    expect(await lookup(k, 0xffffffff81000250n)).toBe('helper_a+0x150'); // data symbols are skipped
    expect(await lookup(k, 0xffffffff81000310n)).toBe('nft_do_chain+0x10');
    expect(await lookup(k, 0xffffffff80000000n)).toBeUndefined();
    expect(k.known(0n)).toBeUndefined();
    expect(k.unavailable).toBeUndefined();
  });
  it('hidden addresses (kptr_restrict) or no file: off, with the reason', async () => {
    const reasons: string[] = [];
    const hidden = new KernelSymbols({ path: kallsyms(['0000000000000000 T _stext', '0000000000000000 t helper_a']), onUnavailable: (r) => reasons.push(r) });
    expect(await lookup(hidden, 0xffffffff81000104n)).toBeUndefined();
    expect(hidden.unavailable).toMatch(/kptr_restrict/);
    const none = new KernelSymbols({ path: '/nonexistent/kallsyms', onUnavailable: (r) => reasons.push(r) });
    expect(await lookup(none, 1n)).toBeUndefined();
    expect(none.unavailable).toMatch(/cannot read/);
    expect(none.known(2n)).toBeUndefined(); // known at once from then on
    expect(reasons).toHaveLength(2); // told once each
  });
  it('names read from the file at lookup: a file changed since the addresses were read is read again', async () => {
    const lines = ['ffffffff81000000 T _stext', 'ffffffff81000100 t helper_a', 'ffffffff81000300 T nft_do_chain\t[nf_tables]'];
    const p = kallsyms(lines);
    const k = new KernelSymbols({ path: p });
    expect(await lookup(k, 0xffffffff81000104n)).toBe('helper_a+0x4');
    // a module loaded since: its symbols come first in the file, every later symbol moves down
    writeFileSync(p, ['ffffffffc0000000 t mod_fn\t[m]', 'ffffffffc0000100 d mod_data\t[m]', ...lines].join('\n') + '\n');
    expect(await lookup(k, 0xffffffff81000310n)).toBe('nft_do_chain+0x10');
    expect(await lookup(k, 0xffffffffc0000010n)).toBe('mod_fn+0x10');
    expect(k.known(0xffffffff81000104n)).toBe('helper_a+0x4'); // cached
  });
  it('resolves many addresses in one pass; calls made meanwhile follow in turn; the event loop runs between chunks', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `${(0xffffffff81000000n + BigInt(i) * 0x100n).toString(16)} t fn_${i}`);
    const k = new KernelSymbols({ path: kallsyms(lines), chunkBytes: 512 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    try {
      const first = k.resolve([0xffffffff81000005n, 0xffffffff8107cf10n]);
      const second = k.resolve([0xffffffff81000005n, 0xffffffff81012345n]);
      await first;
      expect([k.known(0xffffffff81000005n), k.known(0xffffffff8107cf10n)]).toEqual(['fn_0+0x5', 'fn_1999+0x10']);
      await second;
      expect(k.known(0xffffffff81012345n)).toBe('fn_291+0x45');
    } finally {
      clearInterval(ticker);
    }
    expect(ticks).toBeGreaterThan(0); // 2,000 lines in 512-byte chunks: the loop ran while they were read
  });
  it('read a chunk at a time: the same names as the whole text parsed at once, wherever the chunks end', async () => {
    // 3,000 symbols in random order: text (t/T) and others, modules, names of 1–60 bytes, one overlong line
    let seed = 12345;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const addr = (0xffffffff80000000n + BigInt(rnd(2 ** 26)) * 16n).toString(16);
      const type = 'tTdDbr'[rnd(6)]!;
      const name = `f${i}_${'x'.repeat(rnd(60))}`;
      lines.push(`${addr} ${type} ${name}${rnd(4) === 0 ? `\t[mod${rnd(9)}]` : ''}`);
    }
    lines.splice(1500, 0, `ffffffff81234560 T ${'y'.repeat(300)}`);
    const path = kallsyms(lines);
    // reference: the text split into lines, text symbols sorted by address
    const reference = (text: string[]) => {
      const syms = text.map((l) => l.split(/[ \t]/)).filter((f) => f[1] === 't' || f[1] === 'T')
        .map((f) => ({ addr: BigInt(`0x${f[0]}`), name: f[2]! }));
      return (addr: bigint): string | undefined => {
        let best: { addr: bigint; name: string } | undefined;
        for (const s of syms) if (s.addr <= addr && (!best || s.addr > best.addr)) best = s;
        return best ? `${best.name}+0x${(addr - best.addr).toString(16)}` : undefined;
      };
    };
    const probes = Array.from({ length: 400 }, () => 0xffffffff80000000n + BigInt(rnd(2 ** 26)) * 16n + BigInt(rnd(40)));
    probes.push(0xffffffff81234561n, 0xffffffff7fffffffn);
    const want = probes.map(reference(lines));
    expect(want.filter((w) => w === undefined).length).toBe(1); // the address below every symbol
    expect(want.at(-2)).toBe(`${'y'.repeat(300)}+0x1`);
    for (const chunk of [512, 1000, 4096, 64 * 1024]) {
      const k = new KernelSymbols({ path, chunkBytes: chunk });
      await k.resolve(probes); // all in one pass
      expect(probes.map((a) => k.known(a)), `chunk ${chunk}`).toEqual(want);
      const one = new KernelSymbols({ path, chunkBytes: chunk });
      const each: (string | undefined | null)[] = [];
      for (const a of probes.slice(0, 40)) each.push(await lookup(one, a)); // one at a time
      expect(each, `chunk ${chunk}, one at a time`).toEqual(want.slice(0, 40));
    }
    // a chunk smaller than the overlong line: that line is skipped, every other is read
    const small = new KernelSymbols({ path, chunkBytes: 256 });
    await small.resolve(probes);
    expect(probes.map((a) => small.known(a))).toEqual(probes.map(reference(lines.filter((l) => !l.includes('yyy')))));
  });
  it('the running kernel: random addresses in its own text named as an independent reading of /proc/kallsyms names them', async (ctx) => {
    // the kernel's own text (no [module], no [bpf]: programs come and go while tests run), symbols
    // with an address of their own (aliases aside), each address inside one
    const text = readFileSync('/proc/kallsyms', 'latin1').split('\n').map((l) => l.split(/[ \t]/))
      .filter((f) => (f[1] === 't' || f[1] === 'T') && f.length === 3).map((f) => ({ addr: BigInt(`0x${f[0]}`), name: f[2]! }));
    if (text.length === 0 || text.every((s) => s.addr === 0n)) ctx.skip(); // addresses hidden (not root)
    text.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    const unique = text.map((s, i) => ({ ...s, size: (text[i + 1]?.addr ?? 0n) - s.addr }))
      .filter((s, i) => text[i - 1]?.addr !== s.addr && s.size > 0n && s.size < 1n << 20n);
    const rnd = prng(20261203);
    const want = new Map<bigint, string>();
    while (want.size < 300) {
      const s = unique[Math.floor(rnd() * unique.length)]!;
      const off = BigInt(Math.floor(rnd() * Number(s.size)));
      want.set(s.addr + off, `${s.name}+0x${off.toString(16)}`);
    }
    const k = new KernelSymbols();
    await k.resolve(want.keys());
    expect(k.unavailable).toBeUndefined();
    expect(new Map([...want.keys()].map((a) => [a, k.known(a)]))).toEqual(want);
  });
});

const pod = (i: number, node = 'node-a'): PodInfo => ({
  uid: `u${i}`, name: `web-${i}`, namespace: 'shop', nodeName: node, ips: [`10.1.0.${i}`],
  hostNetwork: false, workload: { kind: 'Deployment', name: 'web' }, phase: 'Running',
});

describe('event endpoints', () => {
  const identity = new StaticIdentity({
    nodeName: 'node-a', pods: [pod(1), pod(2, 'node-b')],
    services: [{ uid: 's', name: 'api', namespace: 'shop', clusterIPs: ['10.96.0.10'] }],
  });
  const local = new LocalPods(identity);
  it('pod (local or not), service, external', () => {
    expect(eventEndpoint(identity, '10.1.0.1', 80, local)).toEqual({
      ip: '10.1.0.1', port: 80, kind: 'pod', namespace: 'shop', pod: 'web-1', podUid: 'u1',
      workloadKind: 'Deployment', workloadName: 'web', node: 'node-a', local: true,
    });
    expect(eventEndpoint(identity, '10.1.0.2', undefined, local)).toMatchObject({ kind: 'pod', node: 'node-b', local: false });
    expect(eventEndpoint(identity, '10.96.0.10', 443, local)).toEqual({ ip: '10.96.0.10', port: 443, kind: 'service', namespace: 'shop', service: 'api' });
    expect(eventEndpoint(identity, '8.8.8.8', 53, local)).toEqual({ ip: '8.8.8.8', port: 53, kind: 'external' });
    expect(eventEndpoint(undefined, '', undefined, new LocalPods(undefined))).toEqual({ ip: '', kind: 'external' });
  });
  it('TCP flags and transports', () => {
    expect(tcpFlagNames(0x12)).toBe('SYN|ACK');
    expect(tcpFlagNames(0x01 | 0x04 | 0x80)).toBe('FIN|RST|CWR');
    expect(tcpFlagNames(0)).toBeUndefined();
    expect([transportOf(6, 4), transportOf(17, 6), transportOf(1, 4), transportOf(58, 6), transportOf(58, 4), transportOf(47, 4), transportOf(6, 0)])
      .toEqual(['tcp', 'udp', 'icmp', 'icmp', 'other', 'other', 'unknown']);
  });
});

/** A fake traffic_flows snapshot (shared LRU hash: one value slot per entry). */
class FakeFlows {
  private readonly entries = new Map<string, { key: Buffer; value: Buffer }>();
  set(f: { src: string; dst: string; sport: number; dport: number; ifindex: number; dir: number; packets: number; bytes: number; first: number; last: number; flags: number }): void {
    const key = Buffer.alloc(FLOW_KEY.size);
    encodeIp(f.src).copy(key, FLOW_KEY.src);
    encodeIp(f.dst).copy(key, FLOW_KEY.dst);
    key.writeUInt16BE(f.sport, FLOW_KEY.sport);
    key.writeUInt16BE(f.dport, FLOW_KEY.dport);
    key.writeUInt32LE(f.ifindex, FLOW_KEY.ifindex);
    key[FLOW_KEY.proto] = 6;
    key[FLOW_KEY.ipVersion] = 4;
    key[FLOW_KEY.direction] = f.dir;
    const value = Buffer.alloc(FLOW_VALUE.size);
    value.writeBigUInt64LE(BigInt(f.packets), FLOW_VALUE.packets);
    value.writeBigUInt64LE(BigInt(f.bytes), FLOW_VALUE.bytes);
    value.writeBigUInt64LE(BigInt(f.first), FLOW_VALUE.firstSeenNs);
    value.writeBigUInt64LE(BigInt(f.last), FLOW_VALUE.lastSeenNs);
    value[FLOW_VALUE.tcpFlags] = f.flags;
    this.entries.set(key.toString('hex'), { key, value });
  }
  delete(src: string, sport: number): void {
    for (const [k, e] of this.entries) if (e.key.readUInt16BE(FLOW_KEY.sport) === sport && k.includes(encodeIp(src).toString('hex'))) this.entries.delete(k);
  }
  view(): FlowView {
    const list = [...this.entries.values()];
    const snap: MapSnapshot = {
      count: list.length, keys: Buffer.concat(list.map((e) => e.key)), values: Buffer.concat(list.map((e) => e.value)),
      keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1,
    };
    return new FlowView(snap);
  }
}

describe('FlowEventSource', () => {
  const identity = new StaticIdentity({ nodeName: 'node-a', pods: [pod(1), pod(2)] });
  const flows = new FakeFlows();
  const mono = { ns: 5_000_000_000n };
  const src = new FlowEventSource({
    flowView: () => flows.view(), identity, node: 'node-a',
    podInterfaces: () => new Map([[11, pod(1)], [12, pod(2)]]),
    interfaceNames: () => new Map([[11, 'veth-web1'], [12, 'veth-web2']]),
    monotonicNs: () => mono.ns, nowMs: () => 1_000_000,
  });
  // clock: monotonic 5 s ↔ Unix 1_000_000 ms, so monotonic t ns ↔ 1_000_000 - 5000 + t/1e6 ms
  const wall = (ns: number): number => 995_000 + ns / 1e6;

  it('new flow → "new" with everything so far; direction is the pod\'s', () => {
    flows.set({ src: '10.1.0.1', dst: '10.1.0.2', sport: 40000, dport: 80, ifindex: 11, dir: TRAFFIC_INGRESS, packets: 3, bytes: 180, first: 1e9, last: 2e9, flags: 0x02 });
    const [e, ...rest] = src.read();
    expect(rest).toEqual([]);
    expect(e).toEqual({
      name: 'fovea.network.flow', verdict: 'FORWARDED', timeMs: wall(2e9), node: 'node-a',
      source: expect.objectContaining({ ip: '10.1.0.1', port: 40000, pod: 'web-1', local: true }),
      destination: expect.objectContaining({ ip: '10.1.0.2', port: 80, pod: 'web-2' }),
      ipVersion: 4, transport: 'tcp', protocol: 6, tcpFlags: 'SYN', interface: 'veth-web1', ifindex: 11, direction: 'egress',
      flow: { state: 'new', packets: 3, bytes: 180, totalPackets: 3, totalBytes: 180, firstSeenMs: wall(1e9), lastSeenMs: wall(2e9) },
    } satisfies NetworkEvent);
  });
  it('no change → nothing; more packets → "active" with the delta; a second flow on the peer veth is ingress', () => {
    expect(src.read()).toEqual([]);
    flows.set({ src: '10.1.0.1', dst: '10.1.0.2', sport: 40000, dport: 80, ifindex: 11, dir: TRAFFIC_INGRESS, packets: 10, bytes: 900, first: 1e9, last: 3e9, flags: 0x12 });
    flows.set({ src: '10.1.0.1', dst: '10.1.0.2', sport: 40000, dport: 80, ifindex: 12, dir: TRAFFIC_EGRESS, packets: 10, bytes: 900, first: 1e9, last: 3e9, flags: 0x12 });
    const evs = src.read();
    expect(evs.map((e) => [e.flow?.state, e.interface, e.direction, e.flow?.packets, e.flow?.bytes, e.tcpFlags])).toEqual([
      ['active', 'veth-web1', 'egress', 7, 720, 'SYN|ACK'],
      ['new', 'veth-web2', 'ingress', 10, 900, 'SYN|ACK'],
    ]);
    expect(src.tracked).toBe(2);
  });
  it('a record gone from the table → "ended" with its last totals, once', () => {
    flows.delete('10.1.0.1', 40000);
    const evs = src.read();
    expect(evs.map((e) => [e.flow?.state, e.flow?.packets, e.flow?.totalPackets, e.timeMs])).toEqual([
      ['ended', 0, 10, 1_000_000], ['ended', 0, 10, 1_000_000],
    ]);
    expect(src.read()).toEqual([]);
    expect(src.tracked).toBe(0);
  });
});

describe('DropEventSource: drop locations named without blocking the drain', () => {
  const path = kallsyms(['ffffffff81000000 T _stext', 'ffffffff81000100 t nf_hook_slow', 'ffffffff81000300 T tcp_v4_rcv']);
  /** a drop record; its `len` numbers it */
  const record = (n: number, location: bigint): Buffer => {
    const b = Buffer.alloc(DROP_EVENT.size);
    b.writeBigUInt64LE(BigInt(n) * 1_000_000n, DROP_EVENT.timestampNs);
    b.writeBigUInt64LE(location, DROP_EVENT.location);
    b.writeUInt32LE(n, DROP_EVENT.len);
    return b;
  };
  function source(): { src: DropEventSource; ring: Buffer[] } {
    const ring: Buffer[] = [];
    const reader = {
      consume: (onRecord: (v: DataView, off: number, len: number) => void) => {
        for (const b of ring.splice(0)) onRecord(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
      },
    };
    const src = new DropEventSource({
      probe: { eventRing: () => reader as never, readEventLimits: () => [], reasonNames: () => undefined },
      node: 'node-a', symbols: new KernelSymbols({ path }), hostNetns: 1, interfaceNames: () => new Map(), monotonicNs: () => 0n, nowMs: () => 0,
    });
    return { src, ring };
  }
  const seen = (evs: readonly NetworkEvent[]) => evs.map((e) => [e.length, e.location]);

  it('an event of a new drop site waits for its name, and every event after it; then all go out in order, each with its own location', async () => {
    const { src, ring } = source();
    ring.push(record(1, 0n), record(2, 0xffffffff81000144n), record(3, 0n));
    expect(seen(src.drain())).toEqual([[1, undefined]]); // 1 has no location; 2 waits for its name, 3 behind it
    expect(src.pending).toBeDefined();
    ring.push(record(4, 0xffffffff81000310n), record(5, 0xffffffff81000144n), record(6, 0xffffffff80000000n));
    expect(src.drain()).toEqual([]);
    await src.pending;
    const out = src.takeReady();
    expect(seen(out)).toEqual([
      [2, 'nf_hook_slow+0x44'], [3, undefined], [4, 'tcp_v4_rcv+0x10'], [5, 'nf_hook_slow+0x44'], [6, undefined],
    ]);
    expect('location' in out[4]!).toBe(false); // below every symbol: no location at all
    expect(Object.keys(out[0]!).slice(-4)).toEqual(['location', 'suppressed', 'cpu', 'node']); // the key order as always
    expect(src.counts().read).toBe(6);
    // a drop site named before: its events go out at once
    ring.push(record(7, 0xffffffff81000310n), record(8, 0xffffffff81000144n));
    expect(seen(src.drain())).toEqual([[7, 'tcp_v4_rcv+0x10'], [8, 'nf_hook_slow+0x44']]);
    expect(src.pending).toBeUndefined();
  });

  it('the pipeline publishes held events once named, without waiting for the next drain; closing publishes what is still held', async () => {
    const got: number[] = [];
    const out: EventOutput = { name: 'otlp', publish: (e) => { for (const ev of e) got.push(ev.length!); }, close: async () => {} };
    const { src, ring } = source();
    const p = new EventPipeline({ logger: silent, outputs: [out], drainIntervalMs: 1_000_000, flowIntervalMs: 1_000_000, drops: src });
    ring.push(record(1, 0n), record(2, 0xffffffff81000144n), record(3, 0n));
    p.drainDrops();
    expect(got).toEqual([1]);
    await src.pending;
    await Promise.resolve();
    expect(got).toEqual([1, 2, 3]);
    ring.push(record(4, 0xffffffff81000200n));
    p.drainDrops();
    await p.closeOutputs(100); // the final drain holds 4 for its name: published before the outputs close
    expect(got).toEqual([1, 2, 3, 4]);
  });
});

describe('EventPipeline', () => {
  it('publishes to every output (one failing output does not stop the others), and reports health', async () => {
    const got: NetworkEvent[][] = [];
    let closed = 0;
    const bad: EventOutput = { name: 'bad', publish: () => { throw new Error('full'); }, close: async () => { closed++; } };
    const good: EventOutput = {
      name: 'otlp', publish: (e) => { got.push([...e]); }, close: async () => { closed++; },
      stats: () => ({ exported: 7, queued: 2, lost: { queue_full: 1, export_rejected: 0 } }),
    };
    const observe: EventOutput = { name: 'observe', publish: () => {}, close: async () => { closed++; }, stats: () => ({ clients: 3 }) };
    const ev = { name: 'fovea.network.packet.drop', reason: 'NO_SOCKET' } as unknown as NetworkEvent;
    let batches = [[ev, ev], [] as NetworkEvent[]];
    const drops = { drain: () => batches.shift() ?? [], takeReady: () => [], counts: () => ({ read: 2, malformed: 0 }) };
    const p = new EventPipeline({
      logger: silent, outputs: [bad, good, observe], drainIntervalMs: 1_000_000, flowIntervalMs: 1_000_000,
      drops: drops as never,
      dropLimits: {
        reasonNames: () => undefined,
        readEventLimits: () => [
          { slot: 2, emitted: 2n, suppressed: 40n, ringFull: 1n, pending: 0n },
          { slot: 511, emitted: 1n, suppressed: 5n, ringFull: 2n, pending: 5n },
        ],
      },
    });
    expect(p.drainDrops()).toBe(2);
    expect(got).toEqual([[ev, ev]]);
    const fams = Object.fromEntries(p.collect().map((f) => [f.instrument.name, f.series]));
    expect(fams['fovea.agent.events.read']).toEqual([{ attributes: { 'fovea.event.name': 'fovea.network.packet.drop' }, value: 2 }]);
    expect(fams['fovea.agent.events.suppressed']).toEqual([
      { attributes: { 'fovea.drop.reason': 'UNKNOWN_2' }, value: 40 },
      { attributes: { 'fovea.drop.reason': 'OTHER' }, value: 5 },
    ]);
    expect(fams['fovea.agent.events.lost']).toEqual([
      { attributes: { 'fovea.loss.stage': 'ring_full' }, value: 3 },
      { attributes: { 'fovea.loss.stage': 'queue_full' }, value: 1 },
      { attributes: { 'fovea.loss.stage': 'export_rejected' }, value: 0 },
    ]);
    expect(fams['fovea.agent.events.exported']).toEqual([{ attributes: {}, value: 7 }]);
    expect(fams['fovea.agent.events.queued']).toEqual([{ attributes: {}, value: 2 }]);
    expect(fams['fovea.agent.observe.clients']).toEqual([{ attributes: {}, value: 3 }]);
    batches = [[ev]];
    await p.closeOutputs(100); // final drain first, then close
    expect(got).toHaveLength(2);
    expect(closed).toBe(3);
    expect(p.drainDrops()).toBe(0); // stopped
  });

  it('drains every drainIntervalMs while events pour in, every idleDrainIntervalMs after a second of trickle, back at a burst', async () => {
    vi.useFakeTimers();
    try {
      const got: NetworkEvent[][] = [];
      const out: EventOutput = { name: 'otlp', publish: (e) => { got.push([...e]); }, close: async () => {} };
      const ev = { name: 'fovea.network.packet.drop', reason: 'NO_SOCKET' } as unknown as NetworkEvent;
      const ring: NetworkEvent[] = [];
      const drainedAt: number[] = [];
      const drops = { drain: () => { drainedAt.push(Date.now()); return ring.splice(0); }, counts: () => ({ read: 0, malformed: 0 }) };
      const p = new EventPipeline({ logger: silent, outputs: [out], drainIntervalMs: 100, idleDrainIntervalMs: 1_000, flowIntervalMs: 1_000_000, drops: drops as never });
      const t0 = Date.now();
      p.start();
      ring.push(...Array<NetworkEvent>(BUSY_EVENTS).fill(ev));
      await vi.advanceTimersByTimeAsync(100);
      expect(got).toHaveLength(1); // a burst, read at the first drain (100 ms)
      // then a trickle (one event per drain, fewer than BUSY_EVENTS): 10 drains (a second) at 100 ms, then 1 s apart
      for (let i = 0; i < 10; i++) { ring.push(ev); await vi.advanceTimersByTimeAsync(100); }
      expect(drainedAt.map((t) => t - t0)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000, 1_100]);
      expect(p.drainDelayMs()).toBe(1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      ring.push(ev, ev, ev); // trickle in the idle spell: read once a second, still idle
      await vi.advanceTimersByTimeAsync(2_000);
      expect(drainedAt.slice(11).map((t) => t - t0)).toEqual([2_100, 3_100, 4_100]);
      expect(got.flat()).toHaveLength(BUSY_EVENTS + 10 + 3);
      expect(p.idleDrains).toBe(3);
      // a burst in an idle spell waits for the next idle drain (at most 1 s), then drains are 100 ms apart again
      await vi.advanceTimersByTimeAsync(300);
      ring.push(...Array<NetworkEvent>(BUSY_EVENTS).fill(ev));
      await vi.advanceTimersByTimeAsync(699);
      expect(got.flat()).toHaveLength(BUSY_EVENTS + 13);
      await vi.advanceTimersByTimeAsync(1);
      expect(got.flat()).toHaveLength(2 * BUSY_EVENTS + 13);
      expect(Date.now() - t0).toBe(5_100);
      expect(p.drainDelayMs()).toBe(100);
      await vi.advanceTimersByTimeAsync(100);
      expect(drainedAt.at(-1)! - t0).toBe(5_200);
      p.finalDrain();
      const n = drainedAt.length;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(drainedAt.length).toBe(n); // no timer after the final drain
    } finally {
      vi.useRealTimers();
    }
  });

  it('never drains slower than drainIntervalMs when the idle interval is shorter or absent', () => {
    const mk = (idle?: number): EventPipeline => new EventPipeline({
      logger: silent, outputs: [], drainIntervalMs: 500, flowIntervalMs: 1_000_000, ...(idle !== undefined ? { idleDrainIntervalMs: idle } : {}),
    });
    expect(mk().drainDelayMs()).toBe(500);
    expect(mk(100).drainDelayMs()).toBe(500);
  });
});
