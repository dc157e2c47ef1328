/**
 * The netstack probe and the pods' netstack counters, unprivileged: the namespace reader with a
 * scripted setns(2) (enter, always come back, the fatal case when coming back fails), the probe
 * over fake /proc texts, the pod stage over a fake reader, and the agent's wiring (the pod source,
 * the auxiliary rule at start, exit on a lost namespace). No root, no namespaces entered.
 */
import type { Attributes } from '@opentelemetry/api';
import { closeSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricData, MetricProducer } from '@opentelemetry/sdk-metrics';
import { pino, type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { Agent, type AgentPipeline } from '../../src/agent/agent.js';
import { defaultConfig, type Config } from '../../src/config/index.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { CLONE_NEWNET, KeptFiles, NetnsError, NetnsFiles, NetnsRestoreError, type SetnsFn } from '../../src/kernel/netns.js';
import { ATTR, INSTRUMENTS } from '../../src/names.js';
import { netnsPath } from '../../src/netns/pod-interfaces.js';
import { PodNetstack, type NetnsCounterReader } from '../../src/pods/pod-netstack.js';
import { NETSTACK_FILES, NetstackProbe, type NetstackIo } from '../../src/probes/netstack/probe.js';
import { parseNetstack, type NetstackCounter } from '../../src/probes/netstack/snmp.js';

const parseNetstackCounters = ([snmp, netstat, snmp6]: Array<string | undefined>): NetstackCounter[] => parseNetstack({ snmp, netstat, snmp6 }).counters;
import type { ProbeDefinition } from '../../src/probes/types.js';
import { FakeProbe } from '../helpers/fakes.js';

vi.mock('../../src/kernel/libbpf-log.js', () => ({ routeLibbpfLog: () => undefined }));

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

const SNMP = [
  'Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards',
  'Ip: 1 64 10 0 0 0 0 3 7 9 4',
  'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors',
  'Tcp: 1 200 120000 -1 5 6 7 8 0 100 90 11 12 13 0',
  'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'Udp: 1 21 22 2 23 24 0 0 0',
  '',
].join('\n');
const NETSTAT = 'TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 31 32\n';
const SNMP6 = 'Ip6InDiscards                   \t41\nIp6OutDiscards                  \t42\nUdp6NoPorts                     \t43\nUdp6InErrors 44\n';

const fileNames = (files: readonly string[]) => files.map((f) => f.split('/').pop());

describe('NetnsFiles (setns scripted; plain files stand for namespaces and their /proc/net files)', () => {
  function tmpFiles(): { dir: string; a: string; b: string } {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-netns-'));
    writeFileSync(join(dir, 'a'), 'A text');
    writeFileSync(join(dir, 'b'), 'B text');
    return { dir, a: join(dir, 'a'), b: join(dir, 'b') };
  }
  const openFds = () => readdirSync('/proc/self/fd').length;
  /** this process's fds open on `path` */
  const fdsOn = (path: string) => readdirSync('/proc/self/fd').filter((fd) => {
    try { return readlinkSync(`/proc/self/fd/${fd}`) === path; } catch { return false; }
  }).map(Number);

  it('enters a namespace once: in, open the files, back to the fd of its own namespace; later reads re-read the kept files with no setns', () => {
    const calls: Array<[number, number]> = [];
    const setns: SetnsFn = (fd, type) => { calls.push([fd, type]); return 0; };
    const { dir, a, b } = tmpFiles();
    const r = new NetnsFiles([a, join(dir, 'missing'), b], { setns });
    const before = openFds();
    expect(r.read(join(dir, 'a'))).toEqual(['A text', undefined, 'B text']);
    expect(calls).toHaveLength(2);
    expect(calls.every(([, t]) => t === CLONE_NEWNET)).toBe(true);
    const home = calls[1]![0];
    expect(calls[0]![0]).not.toBe(home);
    writeFileSync(b, 'B changed, and longer');
    expect(r.read(join(dir, 'a'))).toEqual(['A text', undefined, 'B changed, and longer']); // from offset 0, the text as it is now
    expect(calls).toHaveLength(2);
    expect(r.read(join(dir, 'b'))).toEqual(['A text', undefined, 'B changed, and longer']);
    expect(calls).toHaveLength(4);
    expect(calls[3]![0]).toBe(home); // one kept fd of the own namespace
    expect(openFds()).toBe(before + 1 + 2 * 2); // home + two files per namespace; the namespaces' own fds are closed
    expect(r.keptPaths()).toEqual([join(dir, 'a'), join(dir, 'b')]);
    r.close();
    expect(openFds()).toBe(before);
  });

  it('a namespace that does not exist: NetnsError ENOENT naming the path, setns never called', () => {
    const setns = vi.fn<SetnsFn>(() => 0);
    const r = new NetnsFiles(NETSTACK_FILES, { setns });
    const err = (() => { try { r.read('/var/run/netns/fovea-no-such-pod'); } catch (e) { return e; } })() as NetnsError;
    expect(err).toBeInstanceOf(NetnsError);
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe('/var/run/netns/fovea-no-such-pod');
    expect(err.message).toMatch(/cannot open network namespace \/var\/run\/netns\/fovea-no-such-pod: ENOENT — no such network namespace/);
    expect(setns).not.toHaveBeenCalled();
    r.close();
  });

  it('a kept namespace that is gone: its files are closed, NetnsError ENOENT', () => {
    const { dir, a } = tmpFiles();
    const ns = join(dir, 'ns');
    writeFileSync(ns, '');
    const r = new NetnsFiles([a], { setns: () => 0 });
    r.read(ns);
    expect(fdsOn(a)).toHaveLength(1);
    rmSync(ns);
    expect(() => r.read(ns)).toThrow(/cannot open network namespace .*: ENOENT/);
    expect(fdsOn(a)).toEqual([]);
    expect(r.keptPaths()).toEqual([]);
    r.close();
  });

  it('another namespace under the same path (another inode): the old files are closed, the new one entered', () => {
    const { dir, a } = tmpFiles();
    const ns = join(dir, 'ns');
    writeFileSync(ns, '');
    let entered = 0;
    const r = new NetnsFiles([a], { setns: () => { entered++; return 0; } });
    r.read(ns);
    r.read(ns);
    expect(entered).toBe(2);
    writeFileSync(`${ns}.new`, '');
    renameSync(`${ns}.new`, ns); // another file (another inode, both existed at once) under the same path
    expect(r.read(ns)).toEqual(['A text']);
    expect(entered).toBe(4);
    expect(fdsOn(a)).toHaveLength(1); // the old one closed
    r.close();
  });

  it('a kept file that cannot be read any more: closed, and the namespace entered once more for this read', () => {
    const { a, b } = tmpFiles();
    let entered = 0;
    const r = new NetnsFiles([a], { setns: () => { entered++; return 0; } });
    expect(r.read(b)).toEqual(['A text']);
    const [fd] = fdsOn(a);
    closeSync(fd!); // the kept fd is gone behind its back: EBADF at the next read
    expect(r.read(b)).toEqual(['A text']);
    expect(entered).toBe(4);
    expect(fdsOn(a)).toHaveLength(1);
    r.close();
  });

  it('keepOnly closes the files of the namespaces left out; at most maxKept namespaces are kept, the others entered at every read', () => {
    const { dir, a } = tmpFiles();
    const ns = [0, 1, 2].map((i) => { const p = join(dir, `ns${i}`); writeFileSync(p, ''); return p; });
    let entered = 0;
    const r = new NetnsFiles([a], { setns: () => { entered++; return 0; }, maxKept: 2 });
    for (const p of ns) r.read(p);
    expect(r.keptPaths()).toEqual([ns[0], ns[1]]);
    expect(fdsOn(a)).toHaveLength(2); // the third's was closed after its read
    entered = 0;
    for (const p of ns) r.read(p);
    expect(entered).toBe(2); // only the third
    r.keepOnly(new Set([ns[1]!, ns[2]!]));
    expect(r.keptPaths()).toEqual([ns[1]]);
    expect(fdsOn(a)).toHaveLength(1);
    r.read(ns[2]!);
    expect(r.keptPaths()).toEqual([ns[1], ns[2]]);
    r.close();
    expect(fdsOn(a)).toEqual([]);
  });

  it('setns refused (EPERM): NetnsError saying CAP_SYS_ADMIN is missing; the thread never left, so no way back is tried', () => {
    const setns = vi.fn<SetnsFn>(() => 1 /* EPERM */);
    const { a } = tmpFiles();
    const r = new NetnsFiles([a], { setns });
    expect(() => r.read(a)).toThrow(NetnsError);
    expect(() => r.read(a)).toThrow(/setns\(2\) into .*: EPERM — entering another network namespace needs CAP_SYS_ADMIN \(in Kubernetes: deploy\/components\/netns-discovery\)/);
    expect(setns).toHaveBeenCalledTimes(2); // one per read: the failed entries
    expect(r.keptPaths()).toEqual([]);
    r.close();
  });

  it('a read error inside: NetnsError, after going back; nothing kept', () => {
    const calls: number[] = [];
    const { dir, a } = tmpFiles();
    const r = new NetnsFiles([dir], { setns: (fd) => { calls.push(fd); return 0; } });
    expect(() => r.read(a)).toThrow(/cannot read \/proc\/net inside .*: EISDIR/); // a directory: EISDIR
    expect(calls).toHaveLength(2);
    expect(r.keptPaths()).toEqual([]);
    r.close();
  });

  it('KeptFiles: whole files of any size through one reused buffer; a missing one is undefined', () => {
    const { dir, a } = tmpFiles();
    const big = 'x'.repeat(40_000) + '\nend';
    writeFileSync(join(dir, 'big'), big);
    const scratch = { buf: Buffer.alloc(1_000) };
    const kept = KeptFiles.open([join(dir, 'big'), join(dir, 'none'), a]);
    expect(kept.read(scratch)).toEqual([big, undefined, 'A text']);
    expect(scratch.buf.length).toBe(64_000); // grown by doubling, kept for the next read
    expect(kept.read(scratch)).toEqual([big, undefined, 'A text']);
    kept.close();
    const own = KeptFiles.open(['/proc/thread-self/net/snmp']);
    expect(own.read(scratch)[0]).toMatch(/^Ip: Forwarding /);
    expect(own.read(scratch)[0]).toMatch(/^Ip: Forwarding /); // a seq_file read again from offset 0
    own.close();
  });

  it('KeptFiles.readChanged: texts at the first read and whenever a byte differs (same length too); undefined when every file reads the same bytes', () => {
    const { dir, a, b } = tmpFiles();
    const scratch = { buf: Buffer.alloc(4) }; // smaller than the files: grown on the way
    const kept = KeptFiles.open([a, join(dir, 'none'), b]);
    expect(kept.readChanged(scratch)).toEqual(['A text', undefined, 'B text']); // first read
    expect(kept.readChanged(scratch)).toBeUndefined();
    writeFileSync(b, 'B tExt'); // same length, one byte
    expect(kept.readChanged(scratch)).toEqual(['A text', undefined, 'B tExt']);
    expect(kept.readChanged(scratch)).toBeUndefined();
    writeFileSync(a, 'A text!'); // longer
    expect(kept.readChanged(scratch)).toEqual(['A text!', undefined, 'B tExt']);
    writeFileSync(a, 'A text'); // back, shorter
    expect(kept.read(scratch)).toEqual(['A text', undefined, 'B tExt']); // read() counts as the previous reading too
    expect(kept.readChanged(scratch)).toBeUndefined();
    kept.close();
  });

  it('KeptFiles.readChanged with a dependent file: read when one of its files changed at this reading or the one before, or after maxSkipped readings; read() reads it always', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-dep-'));
    const [g, d, h] = ['guard', 'dependent', 'other guard'].map((n) => { writeFileSync(join(dir, n), `${n} 0`); return join(dir, n); }) as [string, string, string];
    const scratch = { buf: Buffer.alloc(64) };
    const kept = KeptFiles.open([g, d, h], { index: 1, on: [0, 2], maxSkipped: 2 });
    expect(kept.readChanged(scratch)).toEqual(['guard 0', 'dependent 0', 'other guard 0']); // first: all read (and all changed)
    writeFileSync(d, 'dependent 0b');
    expect(kept.readChanged(scratch)).toEqual(['guard 0', 'dependent 0b', 'other guard 0']); // the reading after a change
    writeFileSync(d, 'dependent 1'); // moved alone: not seen while its guards stay still…
    expect(kept.readChanged(scratch)).toBeUndefined(); // skipped 1
    expect(kept.readChanged(scratch)).toBeUndefined(); // skipped 2
    expect(kept.readChanged(scratch)).toEqual(['guard 0', 'dependent 1', 'other guard 0']); // …until maxSkipped readings without it
    expect(kept.readChanged(scratch)).toBeUndefined();
    writeFileSync(g, 'guard 1'); // a guard moves: the dependent is read now…
    writeFileSync(d, 'dependent 2');
    expect(kept.readChanged(scratch)).toEqual(['guard 1', 'dependent 2', 'other guard 0']);
    writeFileSync(d, 'dependent 3'); // …and at the next reading too (moved after this one's read)
    expect(kept.readChanged(scratch)).toEqual(['guard 1', 'dependent 3', 'other guard 0']);
    writeFileSync(d, 'dependent 4'); // two readings without a guard change: skipped again
    expect(kept.readChanged(scratch)).toBeUndefined();
    writeFileSync(h, 'other guard 1'); // the other guard moves
    expect(kept.readChanged(scratch)).toEqual(['guard 1', 'dependent 4', 'other guard 1']);
    writeFileSync(d, 'dependent 5');
    expect(kept.read(scratch)).toEqual(['guard 1', 'dependent 5', 'other guard 1']); // read(): everything, always
    kept.close();
    // through NetnsFiles: its kept namespaces' files take the option
    const r = new NetnsFiles([g, d, h], { setns: () => 0, dependent: { index: 1, on: [0], maxSkipped: 1 } });
    const ns = join(dir, 'ns');
    writeFileSync(ns, '');
    expect(r.readChanged(ns)).toEqual(['guard 1', 'dependent 5', 'other guard 1']); // entered: all read
    expect(r.readChanged(ns)).toBeUndefined(); // the reading after the first: all read again, nothing moved
    writeFileSync(d, 'dependent 6');
    expect(r.readChanged(ns)).toBeUndefined();
    expect(r.readChanged(ns)).toEqual(['guard 1', 'dependent 6', 'other guard 1']);
    r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('NetnsFiles.readChanged: texts when the namespace is entered (first, or afresh after it changed under its path), undefined while its kept files read the same bytes', () => {
    let entered = 0;
    const { dir, a, b } = tmpFiles();
    const r = new NetnsFiles([a], { setns: () => { entered++; return 0; } });
    expect(r.readChanged(b)).toEqual(['A text']);
    expect(r.readChanged(b)).toBeUndefined();
    writeFileSync(a, 'A moved');
    expect(r.readChanged(b)).toEqual(['A moved']);
    expect(entered).toBe(2); // in and back once
    renameSync(b, join(dir, 'old-b')); // another namespace under the same path: entered afresh, its texts
    writeFileSync(b, 'B again');
    expect(r.readChanged(b)).toEqual(['A moved']);
    expect(entered).toBe(4);
    expect(r.readChanged(b)).toBeUndefined();
    r.close();
  });

  it('coming back fails: NetnsRestoreError (fatal), not a NetnsError; the files opened inside are closed', () => {
    let n = 0;
    const { a, b } = tmpFiles();
    const r = new NetnsFiles([a], { setns: () => (++n === 2 ? 22 /* EINVAL */ : 0) });
    const err = (() => { try { r.read(b); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(NetnsRestoreError);
    expect(err).not.toBeInstanceOf(NetnsError);
    expect((err as Error).message).toMatch(/setns\(2\) back to the agent's own network namespace failed \(EINVAL\)/);
    expect(fdsOn(a)).toEqual([]);
    r.close();
  });
});

describe('netnsPath: a discovery name → the file `ip -n` enters', () => {
  it('names live in /var/run/netns, paths stay', () => {
    expect(netnsPath('fovea-pods-0')).toBe('/var/run/netns/fovea-pods-0');
    expect(netnsPath('/run/docker/netns/abc')).toBe('/run/docker/netns/abc');
  });
});

class FakeIo implements NetstackIo {
  own: Array<string | undefined> = [SNMP, NETSTAT, SNMP6];
  inside = new Map<string, Array<string | undefined> | Error>();
  keptOnly: Array<string[]> = [];
  closed = 0;
  readOwn() {
    return this.own;
  }
  readIn(path: string) {
    const t = this.inside.get(path);
    if (t === undefined) throw new NetnsError(path, 'ENOENT', `cannot open network namespace ${path}: ENOENT`);
    if (t instanceof Error) throw t;
    return t;
  }
  keepOnly(paths: ReadonlySet<string>) {
    this.keptOnly.push([...paths]);
  }
  close() {
    this.closed++;
  }
}

const ctx = () => ({ logger: pino({ level: 'silent' }), settings: {} as never });

describe('NetstackProbe', () => {
  it('reads /proc/thread-self/net of its own namespace', () => {
    expect(NETSTACK_FILES).toEqual(['/proc/thread-self/net/snmp', '/proc/thread-self/net/netstat', '/proc/thread-self/net/snmp6']);
  });

  it('node: one series per counter, named by fovea.counter.name, the kernel\'s values as they are', () => {
    const p = new NetstackProbe(ctx(), new FakeIo());
    p.start();
    expect(p.status()).toEqual({ name: 'netstack', state: 'up', hook: 'procfs' });
    const [fam] = p.collect();
    expect(fam!.instrument).toBe(INSTRUMENTS.netstackCounter);
    expect(Object.fromEntries(fam!.series.map((s) => [s.attributes[ATTR.counterName], s.value]))).toEqual({
      'Tcp.ActiveOpens': 5, 'Tcp.PassiveOpens': 6, 'Tcp.AttemptFails': 7, 'Tcp.EstabResets': 8, 'Tcp.RetransSegs': 11, 'Tcp.InErrs': 12, 'Tcp.OutRsts': 13,
      'TcpExt.ListenOverflows': 31, 'TcpExt.ListenDrops': 32,
      'Udp.InErrors': 22, 'Udp.RcvbufErrors': 23, 'Udp.SndbufErrors': 24, 'Udp.NoPorts': 21,
      'Udp6.InErrors': 44, 'Udp6.NoPorts': 43, // Udp6 Rcvbuf/Sndbuf not in this text: left out
      'Ip.InDiscards': 3, 'Ip.OutDiscards': 4, 'Ip6.InDiscards': 41, 'Ip6.OutDiscards': 42,
    });
    expect(fam!.series.every((s) => Object.keys(s.attributes).length === 1)).toBe(true);
  });

  it('start fails without /proc/net/snmp', () => {
    const io = new FakeIo();
    io.own = [undefined, undefined, undefined];
    expect(() => new NetstackProbe(ctx(), io).start()).toThrow(/\/proc\/thread-self\/net\/snmp not found/);
  });

  it('counts pods it could not read (netns_unreadable) and blocks it could not parse (malformed); a lost namespace is not counted, it is fatal', () => {
    const io = new FakeIo();
    io.inside.set('/ns/ok', [SNMP.replace('Tcp: 1 200', 'Tcp: 200'), NETSTAT, undefined]);
    io.inside.set('/ns/lost', new NetnsRestoreError('stuck'));
    const p = new NetstackProbe(ctx(), io);
    p.start();
    const got = p.readNetns('/ns/ok');
    expect(got.map((c) => c.counter)).toEqual(['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'Udp.InErrors', 'Udp.RcvbufErrors',
      'Udp.SndbufErrors', 'Udp.NoPorts', 'Ip.InDiscards', 'Ip.OutDiscards']); // Tcp malformed, no snmp6
    expect(() => p.readNetns('/ns/gone')).toThrow(NetnsError);
    expect(() => p.readNetns('/ns/gone')).toThrow(NetnsError);
    expect(() => p.readNetns('/ns/lost')).toThrow(NetnsRestoreError);
    expect(p.recordFailures()).toEqual([
      { kind: 'netns_unreadable', count: 2, lost: true },
      { kind: 'malformed', count: 1, lost: true },
    ]);
  });

  it('a pod whose texts did not change gives the same counters without parsing again; changed texts are parsed; malformed ones are counted at every reading', () => {
    const io = new FakeIo();
    io.inside.set('/ns/a', [SNMP, NETSTAT, undefined]);
    io.inside.set('/ns/bad', [SNMP.replace('Tcp: 1 200', 'Tcp: 200'), NETSTAT, undefined]);
    const p = new NetstackProbe(ctx(), io);
    p.start();
    const first = p.readNetns('/ns/a');
    expect(p.readNetns('/ns/a')).toBe(first); // the same reading, kept
    io.inside.set('/ns/a', [SNMP.replace('Tcp: 1 200', 'Tcp: 1 201'), NETSTAT, undefined]);
    const moved = p.readNetns('/ns/a');
    expect(moved).not.toBe(first);
    expect(moved).toEqual(parseNetstackCounters([SNMP.replace('Tcp: 1 200', 'Tcp: 1 201'), NETSTAT, undefined]));
    p.readNetns('/ns/bad');
    p.readNetns('/ns/bad');
    expect(p.recordFailures().find((f) => f.kind === 'malformed')?.count).toBe(2);
    p.keepOnly(new Set());
    expect(p.readNetns('/ns/a')).not.toBe(moved); // forgotten with the namespace: parsed afresh
  });

  it('with an io that compares bytes (readChangedIn): unchanged files give the kept counters with no text; the first reading and readings after a malformed one read whole texts', () => {
    class BytesIo extends FakeIo {
      calls: string[] = [];
      changed = new Set<string>();
      override readIn(path: string) { this.calls.push(`readIn ${path}`); return super.readIn(path); }
      readChangedIn(path: string) {
        this.calls.push(`readChangedIn ${path}`);
        const t = super.readIn(path);
        return this.changed.delete(path) ? t : undefined;
      }
    }
    const io = new BytesIo();
    io.inside.set('/ns/a', [SNMP, NETSTAT, SNMP6]);
    io.inside.set('/ns/bad', [SNMP.replace('Tcp: 1 200', 'Tcp: 200'), NETSTAT, undefined]);
    const p = new NetstackProbe(ctx(), io);
    p.start();
    const first = p.readNetns('/ns/a');
    expect(first).toEqual(parseNetstackCounters([SNMP, NETSTAT, SNMP6]));
    expect(p.readNetns('/ns/a')).toBe(first);
    io.inside.set('/ns/a', [SNMP.replace('Tcp: 1 200', 'Tcp: 1 201'), NETSTAT, SNMP6]);
    io.changed.add('/ns/a');
    const moved = p.readNetns('/ns/a');
    expect(moved).toEqual(parseNetstackCounters([SNMP.replace('Tcp: 1 200', 'Tcp: 1 201'), NETSTAT, SNMP6]));
    expect(p.readNetns('/ns/a')).toBe(moved);
    p.readNetns('/ns/bad');
    p.readNetns('/ns/bad');
    expect(p.recordFailures().find((f) => f.kind === 'malformed')?.count).toBe(2); // counted at every reading
    expect(io.calls).toEqual(['readIn /ns/a', 'readChangedIn /ns/a', 'readChangedIn /ns/a', 'readChangedIn /ns/a', 'readIn /ns/bad', 'readIn /ns/bad']);
  });

  it('keepOnly goes to the io; stop closes what it keeps', () => {
    const io = new FakeIo();
    const p = new NetstackProbe(ctx(), io);
    p.start();
    p.keepOnly(new Set(['/ns/a']));
    expect(io.keptOnly).toEqual([['/ns/a']]);
    p.detach();
    expect(io.closed).toBe(0); // readable for the final collection
    p.stop();
    expect(io.closed).toBe(1);
  });
});

const pod = (name: string, ip: string): PodInfo => ({
  uid: `uid-${name}`, name, namespace: 'shop', nodeName: 'n1', ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name: name.replace(/-\d+$/, '') }, phase: 'Running',
});

describe('PodNetstack', () => {
  const counters = (v: number): NetstackCounter[] => [{ counter: 'Udp.NoPorts', value: v }, { counter: 'Tcp.AttemptFails', value: v + 1 }];

  it('every pod with a known namespace, with pod identity; unreadable pods skipped (logged once a minute), the others reported', () => {
    const web = pod('web-1', '10.0.0.10');
    const db = pod('db-1', '10.0.0.11');
    const reads: string[] = [];
    const kept: string[][] = [];
    const reader: NetnsCounterReader = {
      readNetns: (p) => {
        reads.push(p);
        if (p === '/ns/db') throw new NetnsError(p, 'EPERM', 'setns(2) into /ns/db: EPERM — needs CAP_SYS_ADMIN');
        return counters(5);
      },
      keepOnly: (paths) => { kept.push([...paths]); },
    };
    const { logger, lines } = capture();
    let pods = [{ pod: web, netns: '/ns/web' }, { pod: db, netns: '/ns/db' }];
    const s = new PodNetstack({ reader, pods: () => pods, logger });
    const [fam] = s.collect();
    expect(fam!.instrument).toBe(INSTRUMENTS.podNetstackCounter);
    expect(fam!.series).toEqual([
      { attributes: { 'k8s.pod.uid': 'uid-web-1', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop', 'fovea.workload.kind': 'Deployment', 'fovea.workload.name': 'web', 'fovea.counter.name': 'Udp.NoPorts' }, value: 5 },
      { attributes: { 'k8s.pod.uid': 'uid-web-1', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop', 'fovea.workload.kind': 'Deployment', 'fovea.workload.name': 'web', 'fovea.counter.name': 'Tcp.AttemptFails' }, value: 6 },
    ]);
    s.collect();
    const warned = lines.filter((l) => l['msg'] === 'cannot read a pod\'s network counters in its namespace; skipped');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ pod: 'shop/db-1', netns: '/ns/db', err: expect.stringMatching(/EPERM/) });
    expect(reads).toEqual(['/ns/web', '/ns/db', '/ns/web', '/ns/db']);
    // a pod that left: not read, no series, and the reader lets go of its namespace
    pods = [{ pod: db, netns: '/ns/db' }];
    expect(s.collect()[0]!.series).toEqual([]);
    expect(kept).toEqual([['/ns/web', '/ns/db'], ['/ns/web', '/ns/db'], ['/ns/db']]); // after every collection, the namespaces it read
    pods = [];
    s.collect();
    expect(kept.at(-1)).toEqual([]);
  });

  it('a namespace deleted after discovery saw it (ENOENT; EINVAL from setns on the file left unmounted) is skipped at debug; a path still naming a namespace, or another error, warns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-gone-'));
    const deleted = join(dir, 'deleted');
    const unmounted = join(dir, 'unmounted');
    writeFileSync(unmounted, ''); // what `ip netns del` leaves for a moment: the mount point, no namespace on it
    const failures = new Map<string, NetnsError>([
      [deleted, new NetnsError(deleted, 'ENOENT', `cannot open network namespace ${deleted}: ENOENT`)],
      [unmounted, new NetnsError(unmounted, 'EINVAL', `setns(2) into ${unmounted}: EINVAL`)],
      // still a namespace (nsfs): a real failure, whatever the code
      ['/proc/self/ns/net', new NetnsError('/proc/self/ns/net', 'EINVAL', 'setns(2) into /proc/self/ns/net: EINVAL')],
      // not an error a deletion causes, even where nothing is at the path
      [join(dir, 'denied'), new NetnsError(join(dir, 'denied'), 'EPERM', 'setns(2): EPERM — needs CAP_SYS_ADMIN')],
    ]);
    const reader: NetnsCounterReader = {
      readNetns: (p) => { throw failures.get(p)!; },
      keepOnly: () => undefined,
    };
    const { logger, lines } = capture();
    const pods = [...failures.keys()].map((netns, i) => ({ pod: pod(`p-${i}`, `10.0.0.${i + 1}`), netns }));
    const s = new PodNetstack({ reader, pods: () => pods, logger });
    expect(s.collect()[0]!.series).toEqual([]);
    const at = (level: number) => lines.filter((l) => l['level'] === level).map((l) => [l['netns'], l['msg']]);
    expect(at(20)).toEqual([ // debug
      [deleted, 'a pod\'s network namespace was deleted before its counters were read; skipped'],
      [unmounted, 'a pod\'s network namespace was deleted before its counters were read; skipped'],
    ]);
    expect(at(40)).toEqual([ // warn
      ['/proc/self/ns/net', 'cannot read a pod\'s network counters in its namespace; skipped'],
      [join(dir, 'denied'), 'cannot read a pod\'s network counters in its namespace; skipped'],
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a pod\'s attribute sets are the same frozen objects export after export, new ones when its PodInfo changes', () => {
    const web = pod('web-1', '10.0.0.10');
    let pods = [{ pod: web, netns: '/ns/web' }];
    const s = new PodNetstack({ reader: { readNetns: () => counters(3), keepOnly: () => undefined }, pods: () => pods, logger: pino({ level: 'silent' }) });
    const a = s.collect()[0]!.series;
    const b = s.collect()[0]!.series;
    expect(b.map((x) => x.attributes)).toEqual(a.map((x) => x.attributes));
    b.forEach((x, i) => { expect(x.attributes).toBe(a[i]!.attributes); expect(Object.isFrozen(x.attributes)).toBe(true); });
    expect(a[0]!.attributes).toMatchObject({ 'k8s.pod.name': 'web-1', [ATTR.counterName]: expect.any(String) });
    // the identity replaced the pod (a new object, e.g. a label changed): its sets are rebuilt from it
    const renamed = { ...web, workload: { kind: 'Deployment', name: 'web2' } };
    pods = [{ pod: renamed, netns: '/ns/web' }];
    const c = s.collect()[0]!.series;
    expect(c[0]!.attributes).not.toBe(a[0]!.attributes);
    expect(c[0]!.attributes).toMatchObject({ 'fovea.workload.name': 'web2' });
  });

  it('an unchanged reading (the same counters object) gives the last series again; a changed one or a replaced pod, new series with the new values', () => {
    const web = pod('web-1', '10.0.0.10');
    const db = pod('db-1', '10.0.0.11');
    const readings = new Map<string, NetstackCounter[]>([['/ns/web', counters(3)], ['/ns/db', counters(7)]]);
    let pods = [{ pod: web, netns: '/ns/web' }, { pod: db, netns: '/ns/db' }];
    const s = new PodNetstack({ reader: { readNetns: (p) => readings.get(p)!, keepOnly: () => undefined }, pods: () => pods, logger: pino({ level: 'silent' }) });
    const values = (series: readonly { attributes: Attributes; value: number }[]) => series.map((x) => [x.attributes['k8s.pod.name'], x.attributes[ATTR.counterName], x.value]);
    const a = s.collect()[0]!.series;
    expect(values(a)).toEqual([['web-1', 'Udp.NoPorts', 3], ['web-1', 'Tcp.AttemptFails', 4], ['db-1', 'Udp.NoPorts', 7], ['db-1', 'Tcp.AttemptFails', 8]]);
    const b = s.collect()[0]!.series;
    b.forEach((x, i) => expect(x).toBe(a[i]));
    // web's counters moved (the reader gives a new object): its series carry the new values, db's stay
    readings.set('/ns/web', counters(10));
    const c = s.collect()[0]!.series;
    expect(values(c)).toEqual([['web-1', 'Udp.NoPorts', 10], ['web-1', 'Tcp.AttemptFails', 11], ['db-1', 'Udp.NoPorts', 7], ['db-1', 'Tcp.AttemptFails', 8]]);
    expect(c[0]!.attributes).toBe(a[0]!.attributes);
    expect(c[2]).toBe(a[2]);
    // db replaced by identity (same counters object): series rebuilt from the new PodInfo
    const db2 = { ...db, name: 'db-2' };
    pods = [{ pod: web, netns: '/ns/web' }, { pod: db2, netns: '/ns/db' }];
    expect(values(s.collect()[0]!.series)).toEqual([['web-1', 'Udp.NoPorts', 10], ['web-1', 'Tcp.AttemptFails', 11], ['db-2', 'Udp.NoPorts', 7], ['db-2', 'Tcp.AttemptFails', 8]]);
    // a pod gone for one collection and back: built afresh, right values
    pods = [{ pod: web, netns: '/ns/web' }];
    s.collect();
    pods = [{ pod: web, netns: '/ns/web' }, { pod: db2, netns: '/ns/db' }];
    expect(values(s.collect()[0]!.series).slice(2)).toEqual([['db-2', 'Udp.NoPorts', 7], ['db-2', 'Tcp.AttemptFails', 8]]);
  });

  it('a lost namespace (NetnsRestoreError) is rethrown at once: no other pod is read', () => {
    const reads: string[] = [];
    const reader: NetnsCounterReader = { readNetns: (p) => { reads.push(p); throw new NetnsRestoreError('stuck'); }, keepOnly: () => { throw new Error('not after a lost namespace'); } };
    const s = new PodNetstack({ reader, pods: () => [{ pod: pod('a-1', '10.0.0.1'), netns: '/a' }, { pod: pod('b-1', '10.0.0.2'), netns: '/b' }], logger: pino({ level: 'silent' }) });
    expect(() => s.collect()).toThrow(NetnsRestoreError);
    expect(reads).toEqual(['/a']);
  });
});

/** Every export is one collect of the producer. */
class MemoryPipeline implements AgentPipeline {
  readonly exports: MetricData[][] = [];
  constructor(private readonly producer: MetricProducer) {}
  async forceFlush(): Promise<void> {
    const r = await this.producer.collect();
    this.exports.push(r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics));
  }
  async shutdown(): Promise<void> { await this.forceFlush(); }
  stats() { return { exportsFailed: 0 }; }
}

const points = (ms: MetricData[] | undefined, name: string) =>
  (ms?.find((m) => m.descriptor.name === name)?.dataPoints ?? []).map((p) => ({ attrs: p.attributes, value: p.value as number }));

describe('Agent wiring of the netstack probe', () => {
  function agentWith(defs: ProbeDefinition[], opts: { pods?: ConstructorParameters<typeof Agent>[0]['pods']; onFatal?: (e: Error) => void; config?: Config } = {}) {
    const { logger, lines } = capture();
    let pipeline: MemoryPipeline | undefined;
    const agent = new Agent({
      config: opts.config ?? defaultConfig(), logger, bpfObjectDir: '/nonexistent', probes: defs,
      createPipeline: (p) => (pipeline = new MemoryPipeline(p)),
      ...(opts.pods ? { pods: opts.pods } : {}),
      ...(opts.onFatal ? { onFatal: opts.onFatal } : {}),
    });
    return { agent, lines, pipeline: () => pipeline! };
  }
  const netstackDef = (io: NetstackIo): ProbeDefinition => ({ name: 'netstack', description: '', auxiliary: true, create: (c) => new NetstackProbe(c, io) });
  const failing = (name: string): ProbeDefinition => ({ name, description: '', create: () => new FakeProbe(name, { startError: new Error(`${name} failed`) }) });
  const working = (name: string): ProbeDefinition => ({ name, description: '', create: () => new FakeProbe(name) });

  it('the auxiliary probe alone does not keep the agent up when the eBPF probes failed', () => {
    const h = agentWith([failing('drop'), failing('traffic'), netstackDef(new FakeIo())]);
    expect(() => h.agent.start()).toThrow(/no probe could start \(drop: drop failed; traffic: traffic failed\)/);
  });

  it('with the eBPF probes disabled, it runs on its own; with one eBPF probe up, it runs beside it', async () => {
    const base = defaultConfig();
    const config = { ...base, probes: { ...base.probes, drop: { ...base.probes.drop, enabled: false }, traffic: { ...base.probes.traffic, enabled: false } } } as Config;
    const alone = agentWith([working('drop'), working('traffic'), netstackDef(new FakeIo())], { config });
    alone.agent.start();
    expect(alone.agent.statuses().map((s) => s.name)).toEqual(['netstack']);
    await alone.agent.stop();
    const beside = agentWith([failing('drop'), working('traffic'), netstackDef(new FakeIo())]);
    beside.agent.start();
    expect(beside.agent.statuses().map((s) => `${s.name}:${s.state}`)).toEqual(['traffic:up', 'netstack:up', 'drop:down']);
    await beside.agent.stop();
  });

  it('pods: every pod whose namespace discovery found is read inside it; failures counted; a pod gone loses its series', async () => {
    const io = new FakeIo();
    io.inside.set('/var/run/netns/web', [SNMP, NETSTAT, undefined]);
    const web = pod('web-1', '10.0.0.10');
    const db = pod('db-1', '10.0.0.11');
    const identity = new StaticIdentity({ nodeName: 'n1', pods: [web, db] });
    let interfaces = [
      { ifindex: 21, ifname: 'veth-web', ips: ['10.0.0.10'], netns: 'web', source: 'netns' as const, sources: ['netns' as const] },
      { ifindex: 22, ifname: 'veth-db', ips: ['10.0.0.11'], netns: '/var/run/netns/db', source: 'netns' as const, sources: ['netns' as const] },
      { ifindex: 23, ifname: 'cali-x', ips: ['10.0.0.12'], source: 'route' as const, sources: ['route' as const] }, // no netns: not read
    ];
    const h = agentWith([netstackDef(io)], { pods: { identity, discover: async () => ({ interfaces, warnings: [] }) } });
    h.agent.start();
    await h.agent.refreshPods();
    await h.agent.flush();
    const pods = points(h.pipeline().exports[0], INSTRUMENTS.podNetstackCounter.name);
    expect(new Set(pods.map((p) => p.attrs[ATTR.podName]))).toEqual(new Set(['web-1'])); // db: ENOENT, skipped
    expect(pods.find((p) => p.attrs[ATTR.counterName] === 'Tcp.AttemptFails')).toMatchObject({ value: 7, attrs: { [ATTR.podUid]: 'uid-web-1', [ATTR.namespace]: 'shop' } });
    expect(pods).toHaveLength(15); // no snmp6 in the web namespace
    expect(points(h.pipeline().exports[0], INSTRUMENTS.netstackCounter.name)).toHaveLength(19);
    const failures = points(h.pipeline().exports[0], INSTRUMENTS.recordFailures.name);
    expect(failures.find((f) => f.attrs[ATTR.probe] === 'netstack' && f.attrs[ATTR.failureKind] === 'netns_unreadable')?.value).toBe(1);
    // /var/run/netns/db does not exist here: verifiably gone (a pod deleted since discovery), so debug, not warn
    expect(h.lines.filter((l) => l['pod'] === 'shop/db-1').map((l) => [l['level'], l['msg']]))
      .toEqual([[20, 'a pod\'s network namespace was deleted before its counters were read; skipped']]);
    interfaces = interfaces.filter((i) => i.ifindex !== 21);
    await h.agent.refreshPods();
    await h.agent.flush();
    expect(points(h.pipeline().exports[1], INSTRUMENTS.podNetstackCounter.name)).toEqual([]);
    expect(io.keptOnly.at(-1)).toEqual(['/var/run/netns/db']); // web's namespace let go
    await h.agent.stop();
    expect(io.closed).toBe(1);
  });

  it('a lost namespace ends the process: logged at fatal, onFatal called (default: exit 70)', async () => {
    const io = new FakeIo();
    io.inside.set('/var/run/netns/web', new NetnsRestoreError('setns(2) back failed'));
    const identity = new StaticIdentity({ nodeName: 'n1', pods: [pod('web-1', '10.0.0.10')] });
    const interfaces = [{ ifindex: 21, ifname: 'veth-web', ips: ['10.0.0.10'], netns: 'web', source: 'netns' as const, sources: ['netns' as const] }];
    const fatal: Error[] = [];
    const h = agentWith([netstackDef(io)], { pods: { identity, discover: async () => ({ interfaces, warnings: [] }) }, onFatal: (e) => fatal.push(e) });
    h.agent.start();
    await h.agent.refreshPods();
    await h.agent.flush();
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toBeInstanceOf(NetnsRestoreError);
    expect(h.lines.find((l) => l['level'] === 60)).toMatchObject({ msg: 'fatal: lost the agent\'s own network namespace; exiting', exitCode: 70 });
    expect(h.lines.some((l) => l['msg'] === 'map read failed' && String(l['err']).includes('setns'))).toBe(true); // and, had it not exited, counted
    await h.agent.stop();
  });
});
