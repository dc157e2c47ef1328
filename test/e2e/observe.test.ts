/**
 * `fovea observe` end to end, no root needed: a real ObserveServer on a temporary Unix socket with
 * events published into it, and the real CLI (node bin/fovea.js observe, from dist/) as a child
 * process — every filter flag, --last, --since, --follow, -o json, the default of 20, slow clients,
 * connection errors and exit codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { linkSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectErrorMessage } from '../../src/commands/observe.js';
import type { EventEndpoint, NetworkEvent } from '../../src/events/types.js';
import { DEFAULT_OBSERVE_SOCKET, ObserveServer, ObserveServerError } from '../../src/observe/server.js';
import { EMPTY_FILTER } from '../../src/observe/filter.js';
import { LineSplitter, encodeRequest } from '../../src/observe/protocol.js';

const ROOT = join(import.meta.dirname, '..', '..');
const logger = pino({ level: 'silent' });
const NOW = Date.now();

// ---------------------------------------------------------------------------------------------
// Events: a small, varied set; `cpu` is each event's index so a test can name the ones it expects.

function ep(over: Partial<EventEndpoint>): EventEndpoint {
  return { ip: '', kind: 'external', ...over };
}

const base = { node: 'node-1', ipVersion: 4 as const };
const SAMPLE: NetworkEvent[] = [
  { ...base, name: 'fovea.network.packet.drop', timeMs: NOW - 600_000, verdict: 'DROPPED', reason: 'NETFILTER_DROP', reasonCode: 6,
    source: ep({ ip: '10.1.0.1', port: 40001, kind: 'pod', namespace: 'shop', pod: 'web-1' }),
    destination: ep({ ip: '10.2.0.9', port: 443, kind: 'pod', namespace: 'payments', pod: 'api-0' }),
    transport: 'tcp', protocol: 6, tcpFlags: 'SYN', interface: 'veth-web1', suppressed: 3, cpu: 0 },
  { ...base, name: 'fovea.network.packet.drop', timeMs: NOW - 120_000, verdict: 'DROPPED', reason: 'NO_SOCKET', reasonCode: 2,
    source: ep({ ip: '10.1.0.2', port: 5000, kind: 'pod', namespace: 'shop', pod: 'web-2' }),
    destination: ep({ ip: '192.168.5.5', port: 9999 }), transport: 'udp', protocol: 17, interface: 'eth0', cpu: 1 },
  { ...base, name: 'fovea.network.flow', timeMs: NOW - 60_000.25, verdict: 'FORWARDED',
    source: ep({ ip: '10.1.0.2', port: 41000, kind: 'pod', namespace: 'shop', pod: 'web-2' }),
    destination: ep({ ip: '10.3.0.7', port: 5432, kind: 'pod', namespace: 'default', pod: 'db-0' }),
    transport: 'tcp', protocol: 6, tcpFlags: 'SYN|ACK|FIN',
    flow: { state: 'ended', packets: 14, bytes: 9_100, totalPackets: 14, totalBytes: 9_100, firstSeenMs: NOW - 65_000, lastSeenMs: NOW - 60_000 }, cpu: 2 },
  { ...base, name: 'fovea.network.flow', timeMs: NOW - 30_000, verdict: 'FORWARDED', ipVersion: 6,
    source: ep({ ip: 'fd00:10::1' }), destination: ep({ ip: 'fd00:20::2' }), transport: 'icmp', protocol: 58,
    flow: { state: 'new', packets: 1, bytes: 104, totalPackets: 1, totalBytes: 104, firstSeenMs: NOW - 30_000, lastSeenMs: NOW - 30_000 }, cpu: 3 },
  { ...base, name: 'fovea.network.packet.drop', timeMs: NOW - 10_000, verdict: 'DROPPED', reason: 'TCP_CSUM', reasonCode: 9,
    source: ep({ ip: '10.9.9.9', port: 53, kind: 'pod', namespace: 'kube-system', pod: 'coredns-5d78c-x2x' }),
    destination: ep({ ip: '10.1.0.1', port: 33333, kind: 'pod', namespace: 'shop', pod: 'web-1' }),
    transport: 'udp', protocol: 17, location: 'udp_queue_rcv_one_skb+0x1a2', cpu: 4 },
  { ...base, name: 'fovea.network.packet.drop', timeMs: NOW - 1_000, verdict: 'DROPPED', reason: 'NETFILTER_DROP', reasonCode: 6, ipVersion: 6,
    source: ep({ ip: '2001:db8::5', port: 8080, kind: 'node', node: 'node-2' }),
    destination: ep({ ip: 'fd00:10::1', port: 80, kind: 'pod', namespace: 'shop', pod: 'checkout-0', workloadName: 'checkoüt' }),
    transport: 'tcp', protocol: 6, tcpFlags: 'SYN', interface: 'eth0', cpu: 5 },
  { ...base, name: 'fovea.network.packet.drop', timeMs: NOW - 500, verdict: 'DROPPED', reason: 'NEIGH_FAILED', reasonCode: 30, ipVersion: 0,
    source: ep({}), destination: ep({}), transport: 'unknown', protocol: 0, interface: 'eth1', cpu: 6 },
];

/** Filler: `n` forwarded UDP events, each with its index in `cpu`. */
function filler(n: number, from = 0, t0 = NOW): NetworkEvent[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      ...base, name: 'fovea.network.flow', timeMs: t0 + i, verdict: 'FORWARDED', transport: 'udp', protocol: 17, cpu: i,
      source: ep({ ip: `10.50.${(i >> 8) & 255}.${i & 255}`, port: 10_000 + (i % 50_000) }), destination: ep({ ip: '10.60.0.1', port: 53 }),
      flow: { state: 'active', packets: 1, bytes: 80, totalPackets: i + 1, totalBytes: 80 * (i + 1), firstSeenMs: t0, lastSeenMs: t0 + i },
    } satisfies NetworkEvent;
  });
}

// ---------------------------------------------------------------------------------------------
// The CLI as a child process

interface CliResult { code: number | null; stdout: string; stderr: string }

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (extra['FOVEA_OBSERVE_SOCKET'] === undefined) delete env['FOVEA_OBSERVE_SOCKET'];
  return env;
}

function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), 'observe', ...args], {
    cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A long-running CLI (--follow) with its output so far. */
class LiveCli {
  stdout = '';
  stderr = '';
  readonly exit: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => { this.stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exit = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  async waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr}`);
      await sleep(10);
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const jsonLines = (stdout: string): NetworkEvent[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as NetworkEvent);
const ids = (stdout: string): number[] => jsonLines(stdout).map((e) => e.cpu!);

// ---------------------------------------------------------------------------------------------

let dir: string;
let n = 0;
const servers: ObserveServer[] = [];
const children: ChildProcess[] = [];

/** A fresh socket path (in a directory that does not exist yet: the server creates it). */
const socketPath = (): string => join(dir, `run${++n}`, 'observe.sock');

async function startServer(opts: Partial<Parameters<typeof ObserveServer.start>[0]> = {}): Promise<ObserveServer> {
  const s = await ObserveServer.start({ socketPath: socketPath(), logger, ...opts });
  servers.push(s);
  return s;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fovea-observe-'));
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('fovea observe against a real ObserveServer', () => {
  it('serves a 0600 socket in a 0755 directory, no TCP by default, and removes the socket on stop', async () => {
    const s = await startServer();
    expect(statSync(s.socketPath).isSocket()).toBe(true);
    expect(statSync(s.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(s.socketPath, '..')).mode & 0o777).toBe(0o755);
    expect(s.tcpAddress()).toBeUndefined();
    expect(DEFAULT_OBSERVE_SOCKET).toBe('/run/fovea/observe.sock');
    await s.stop();
    expect(() => statSync(s.socketPath)).toThrow(/ENOENT/);
    await s.stop(); // idempotent
  });

  it('default: the last 20 matching events as an aligned table, oldest first, then exit 0', async () => {
    const s = await startServer();
    s.publish(filler(30));
    const r = await runCli(['--socket', s.socketPath]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME {10}SOURCE +DESTINATION +PROTO +VERDICT +SUMMARY$/);
    expect(lines).toHaveLength(21);
    const verdictCol = lines[0]!.indexOf('VERDICT');
    for (const l of lines.slice(1)) {
      expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3}  10\.50\.0\.\d+:\d+ +10\.60\.0\.1:53 +UDP +FORWARDED  active, 1 packet, 80 B$/);
      expect(l.indexOf('FORWARDED')).toBe(verdictCol);
    }
    expect(r.stdout).not.toContain('\x1b['); // not a terminal: no colour
    // the last 20, in order: sources 10.50.0.10 .. 10.50.0.29
    expect(lines.slice(1).map((l) => /10\.50\.0\.(\d+)/.exec(l)![1])).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 10)));
    const json = await runCli(['--socket', s.socketPath, '-o', 'json']);
    expect(ids(json.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
  });

  it('every filter flag, values OR-ed, flags AND-ed, either end', async () => {
    const s = await startServer();
    s.publish(SAMPLE);
    const q = async (...args: string[]): Promise<number[]> => {
      const r = await runCli(['--socket', s.socketPath, '-o', 'json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return ids(r.stdout);
    };
    expect(await q()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(await q('--verdict', 'DROPPED')).toEqual([0, 1, 4, 5, 6]);
    expect(await q('--verdict', 'forwarded')).toEqual([2, 3]);
    expect(await q('--reason', 'netfilter_drop')).toEqual([0, 5]);
    expect(await q('--reason', 'NO_SOCKET', '--reason', 'TCP_CSUM')).toEqual([1, 4]);
    expect(await q('--pod', 'web-1')).toEqual([0, 4]); // source of 0, destination of 4
    expect(await q('--pod', 'shop/web-*')).toEqual([0, 1, 2, 4]);
    expect(await q('--pod', 'kube-system/coredns-*', '--pod', 'default/db-0')).toEqual([2, 4]);
    expect(await q('--pod', 'payments/web-1')).toEqual([]);
    expect(await q('--namespace', 'payments')).toEqual([0]);
    expect(await q('--namespace', 'shop')).toEqual([0, 1, 2, 4, 5]);
    expect(await q('--namespace', 'default,kube-system')).toEqual([2, 4]);
    expect(await q('--ip', '10.2.0.9')).toEqual([0]);
    expect(await q('--ip', '10.1.0.0/24')).toEqual([0, 1, 2, 4]);
    expect(await q('--ip', '192.168.0.0/16', '--ip', '10.3.0.7')).toEqual([1, 2]);
    expect(await q('--ip', 'fd00:10::/32')).toEqual([3, 5]);
    expect(await q('--ip', '2001:db8::/32')).toEqual([5]);
    expect(await q('--ip', '0.0.0.0/0')).toEqual([0, 1, 2, 4]);
    expect(await q('--port', '443')).toEqual([0]);
    expect(await q('--port', '53', '--port', '5432')).toEqual([2, 4]);
    expect(await q('--port', '33333')).toEqual([4]); // destination port
    expect(await q('--protocol', 'udp')).toEqual([1, 4]);
    expect(await q('--protocol', 'icmp')).toEqual([3]);
    expect(await q('--protocol', 'tcp,icmp')).toEqual([0, 2, 3, 5]);
    expect(await q('--protocol', 'other')).toEqual([6]);
    // AND across flags
    expect(await q('--verdict', 'DROPPED', '--namespace', 'shop', '--protocol', 'tcp')).toEqual([0, 5]);
    expect(await q('--verdict', 'DROPPED', '--namespace', 'shop', '--protocol', 'tcp', '--ip', 'fd00::/8')).toEqual([5]);
    expect(await q('--reason', 'NETFILTER_DROP', '--port', '80')).toEqual([5]);
    expect(await q('--reason', 'NETFILTER_DROP', '--port', '53')).toEqual([]);
  });

  it('a table of no events says so on stderr, exit 0', async () => {
    const s = await startServer();
    s.publish(SAMPLE);
    const r = await runCli(['--socket', s.socketPath, '--namespace', 'nowhere']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no matching events/);
  });

  it('--last N: the newest N matching events; history is bounded by historySize', async () => {
    const s = await startServer({ historySize: 100 });
    s.publish(filler(250));
    const r = await runCli(['--socket', s.socketPath, '-o', 'json', '--last', '3']);
    expect(ids(r.stdout)).toEqual([247, 248, 249]);
    const all = await runCli(['--socket', s.socketPath, '-o', 'json', '--last', '1000']);
    expect(ids(all.stdout)).toEqual(Array.from({ length: 100 }, (_, i) => 150 + i));
    const some = await runCli(['--socket', s.socketPath, '-o', 'json', '--last', '2', '--port', '10200,10210,10220']);
    expect(ids(some.stdout)).toEqual([210, 220]);
  });

  it('--since: a duration or an RFC3339 time; with --last, the newest N of those', async () => {
    const s = await startServer();
    const shift = Date.now() - NOW; // SAMPLE's times relative to now (windows leave seconds of margin)
    s.publish(SAMPLE.map((e) => ({ ...e, timeMs: e.timeMs + shift })));
    const q = async (...args: string[]): Promise<number[]> => ids((await runCli(['--socket', s.socketPath, '-o', 'json', ...args])).stdout);
    expect(await q('--since', '5m')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await q('--since', '45s')).toEqual([3, 4, 5, 6]);
    expect(await q('--since', '20s')).toEqual([4, 5, 6]);
    expect(await q('--since', new Date(NOW + shift - 90_000).toISOString())).toEqual([2, 3, 4, 5, 6]);
    expect(await q('--since', '1h', '--last', '2')).toEqual([5, 6]);
    // --since without --last: every matching event, not 20
    s.publish(filler(40, 100, Date.now()));
    expect(await q('--since', '1m', '--verdict', 'FORWARDED')).toHaveLength(41); // event 3 and the 40
  });

  it('-o json: every event exactly as published (fractions, unicode, optional fields)', async () => {
    const s = await startServer();
    s.publish(SAMPLE);
    const r = await runCli(['--socket', s.socketPath, '-o', 'json']);
    expect(r.stdout).toBe(SAMPLE.map((e) => JSON.stringify(e) + '\n').join(''));
    expect(jsonLines(r.stdout)).toEqual(SAMPLE);
  });

  it('--follow: events published after connecting arrive in order; Ctrl-C ends it with exit 0', async () => {
    const s = await startServer();
    s.publish(SAMPLE); // history: not shown with --follow alone
    const cli = new LiveCli(spawnCli(['--socket', s.socketPath, '-f', '-o', 'json', '--verdict', 'FORWARDED']));
    children.push(cli.child);
    await until(() => s.clientStats()[0]?.state === 'live', 'the client to be live');
    const published: NetworkEvent[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const evs = filler(40, batch * 40);
      published.push(...evs);
      s.publish([...evs, SAMPLE[0]!]); // plus a drop, filtered out by the agent
      await sleep(5);
    }
    await cli.waitFor(() => cli.lines().length >= 200, '200 events');
    expect(cli.stdout).toBe(published.map((e) => JSON.stringify(e) + '\n').join(''));
    expect(s.clientStats()[0]).toMatchObject({ state: 'live', follow: true, sentEvents: 200, lostEvents: 0, queuedEvents: 0 });
    cli.child.kill('SIGINT');
    expect(await cli.exit).toBe(0);
    expect(cli.stderr).toBe('');
    await until(() => s.clients() === 0, 'the server to see the client leave');
  });

  it('--follow with --last: the history first, then live events; table rows line up', async () => {
    const s = await startServer();
    s.publish(SAMPLE);
    const cli = new LiveCli(spawnCli(['--socket', s.socketPath, '-f', '--last', '2']));
    children.push(cli.child);
    await until(() => s.clientStats()[0]?.state === 'live', 'the client to be live');
    s.publish(filler(3));
    await cli.waitFor(() => cli.lines().length >= 6, 'header + 2 + 3 rows');
    const lines = cli.lines();
    expect(lines[0]).toMatch(/^TIME {10}SOURCE {28}DESTINATION {23}PROTO {7}VERDICT {4}SUMMARY$/);
    expect(lines[1]).toMatch(/^\S+ {2}\[2001:db8::5\]:8080 +shop\/checkout-0:80 +TCP SYN +DROPPED +NETFILTER_DROP on eth0$/);
    expect(lines[2]).toMatch(/ +- +- +non-IP +DROPPED +NEIGH_FAILED on eth1$/);
    const col = lines[0]!.indexOf('VERDICT');
    for (const l of lines.slice(1)) expect(l.slice(col)).toMatch(/^(DROPPED|FORWARDED)/);
    cli.child.kill('SIGTERM');
    expect(await cli.exit).toBe(0);
  });

  it('FOVEA_OBSERVE_SOCKET points the CLI at the socket', async () => {
    const s = await startServer();
    s.publish(SAMPLE.slice(0, 2));
    const r = await runCli(['-o', 'json'], { FOVEA_OBSERVE_SOCKET: s.socketPath });
    expect(ids(r.stdout)).toEqual([0, 1]);
  });

  it('TCP only when configured: --server host:port', async () => {
    const s = await startServer({ tcpAddress: '127.0.0.1:0' });
    const addr = s.tcpAddress()!;
    expect(addr.address).toBe('127.0.0.1');
    s.publish(SAMPLE);
    const r = await runCli(['--server', `127.0.0.1:${addr.port}`, '-o', 'json', '--reason', 'no_socket']);
    expect(r.code, r.stderr).toBe(0);
    expect(ids(r.stdout)).toEqual([1]);
  });
});

describe('slow clients', () => {
  it('a paused socket: the agent buffers at most its bound, drops the rest, then says how many were lost', async () => {
    const bound = 64 * 1024;
    const s = await startServer({ maxClientBufferBytes: bound });
    const sock: Socket = createConnection({ path: s.socketPath });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(encodeRequest({ v: 1, filter: EMPTY_FILTER, follow: true }));
    sock.pause();
    await until(() => s.clientStats()[0]?.state === 'live', 'the client to be live');

    const total = 30_000;
    const lineMax = Math.max(...filler(10, total - 10).map((e) => JSON.stringify(e).length)) + 64;
    let maxBuffered = 0;
    // Heap growth is measured after a full collection on both sides: without it the figure is
    // mostly this test's own garbage (30,000 events built and serialised) and varies by run.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < total; i += 500) {
      s.publish(filler(500, i));
      const st = s.clientStats()[0]!;
      maxBuffered = Math.max(maxBuffered, st.bufferedBytes);
      expect(st.queuedEvents).toBe(0);
      await new Promise((r) => setImmediate(r)); // let the socket hand data to the kernel
    }
    expect(maxBuffered).toBeGreaterThan(bound / 2); // it did fill up...
    expect(maxBuffered).toBeLessThanOrEqual(bound + lineMax); // ...and never beyond its bound
    gc();
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(16 * 1024 * 1024);
    const lostAtServer = s.clientStats()[0]!.lostEvents;
    expect(lostAtServer).toBeGreaterThan(total / 2);

    // the client catches up: everything it got + what it was told it lost = everything published
    let received = 0;
    let lost = 0;
    let lastId = -1;
    let ordered = true;
    const splitter = new LineSplitter(1 << 20);
    sock.on('data', (d: Buffer) => {
      for (const line of splitter.push(d) ?? []) {
        const m = JSON.parse(line) as { type: string; count?: number; event?: NetworkEvent };
        if (m.type === 'lost') lost += m.count!;
        if (m.type === 'event') {
          received++;
          if (m.event!.cpu! <= lastId) ordered = false;
          lastId = m.event!.cpu!;
        }
      }
    });
    sock.resume();
    await until(() => lost > 0 && s.clientStats()[0]?.bufferedBytes === 0, 'the lost line');
    s.publish(filler(1, total)); // after catching up, events flow again
    await until(() => received + lost === total + 1, `received ${received} + lost ${lost} = ${total + 1}`);
    expect(lost).toBe(lostAtServer);
    expect(ordered).toBe(true);
    expect(lastId).toBe(total);
    sock.destroy();
    await until(() => s.clients() === 0, 'the client to leave');
    expect(s.lostEvents()).toBe(lost); // cumulative, also after the client left
  });

  it('a CLI whose stdout is not read: it stops reading the socket, the agent drops, the CLI reports the loss', async () => {
    const s = await startServer({ maxClientBufferBytes: 64 * 1024 });
    const cli = new LiveCli(spawnCli(['--socket', s.socketPath, '-f', '-o', 'json']));
    children.push(cli.child);
    await until(() => s.clientStats()[0]?.state === 'live', 'the client to be live');
    cli.child.stdout!.pause();
    const total = 40_000;
    for (let i = 0; i < total; i += 1000) {
      s.publish(filler(1000, i));
      await sleep(1);
    }
    expect(s.clientStats()[0]!.bufferedBytes).toBeLessThanOrEqual(64 * 1024 + 1024);
    expect(s.clientStats()[0]!.lostEvents).toBeGreaterThan(0);
    cli.child.stdout!.resume();
    const lostTotal = (): number => [...cli.stderr.matchAll(/(\d+) events? lost/g)].reduce((a, m) => a + Number(m[1]), 0);
    // caught up: the CLI has printed every event the agent sent and reported every loss it counted
    await cli.waitFor(() => {
      const st = s.clientStats()[0]!;
      return st.bufferedBytes === 0 && lostTotal() === st.lostEvents && cli.lines().length === st.sentEvents;
    }, 'the CLI to catch up');
    expect(lostTotal()).toBeGreaterThan(0);
    s.publish(filler(1, total));
    await cli.waitFor(() => cli.lines().length + lostTotal() === total + 1, 'all events accounted for');
    expect(jsonLines(cli.stdout).at(-1)!.cpu).toBe(total);
    cli.child.kill('SIGINT');
    expect(await cli.exit).toBe(0);
  });
});

describe('errors and exit codes', () => {
  it('no socket: says whether the agent runs and where it listens, exit 1', async () => {
    const missing = join(dir, 'nothing-here.sock');
    const r = await runCli(['--socket', missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`fovea observe: no agent socket at ${missing}: is the agent running on this node? it listens on /run/fovea/observe.sock unless configured otherwise (point to another path with --socket or FOVEA_OBSERVE_SOCKET)\n`);
  });

  it('a stale socket: the CLI says nobody listens; a new server replaces it', async () => {
    const path = socketPath();
    const tmp = await startServer({ socketPath: path });
    const stale = `${path}.stale`;
    linkSync(path, stale); // a second name for the socket file outlives the listener
    await tmp.stop();
    const r = await runCli(['--socket', stale]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nothing is listening on .*stale \(a socket left by an agent that stopped\?\): is the agent running on this node\?/);
    const s = await startServer({ socketPath: stale });
    s.publish(SAMPLE.slice(0, 1));
    expect(ids((await runCli(['--socket', stale, '-o', 'json'])).stdout)).toEqual([0]);
  });

  it('a second server on a live socket fails clearly; so does a path that is not a socket', async () => {
    const s = await startServer();
    await expect(ObserveServer.start({ socketPath: s.socketPath, logger })).rejects.toThrow(ObserveServerError);
    await expect(ObserveServer.start({ socketPath: s.socketPath, logger })).rejects.toThrow(/already serving .*observe\.sock/);
    expect(statSync(s.socketPath).isSocket()).toBe(true); // untouched, still served
    s.publish(SAMPLE.slice(0, 1));
    expect(ids((await runCli(['--socket', s.socketPath, '-o', 'json'])).stdout)).toEqual([0]);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(ObserveServer.start({ socketPath: file, logger })).rejects.toThrow(/exists and is not a socket; not removing it/);
    await expect(ObserveServer.start({ socketPath: socketPath(), tcpAddress: 'nonsense', logger })).rejects.toThrow(/host:port/);
  });

  it('permission denied names root', () => {
    // as root the kernel lets every connect through: the message is checked directly
    const msg = connectErrorMessage(Object.assign(new Error('EACCES'), { code: 'EACCES' }), { path: '/run/fovea/observe.sock' });
    expect(msg).toBe('permission denied on /run/fovea/observe.sock: the socket is for root only (events name pods and addresses); run fovea observe as root (sudo)');
  });

  it('the agent going away mid-stream: "the agent closed the connection", exit 1', async () => {
    const s = await startServer();
    const cli = new LiveCli(spawnCli(['--socket', s.socketPath, '-f']));
    children.push(cli.child);
    await until(() => s.clientStats()[0]?.state === 'live', 'the client to be live');
    await s.stop();
    expect(await cli.exit).toBe(1);
    expect(cli.stderr).toMatch(/^fovea observe: the agent closed the connection/m);
  });

  it('bad flags exit 2 with what is wrong, nothing on stdout', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--port', '70000'], /flag --port: port 70000 is out of range/],
      [['--ip', '10.0.0.0/40'], /flag --ip: bad prefix length/],
      [['--verdict', 'DENIED'], /flag --verdict: unknown verdict "DENIED"/],
      [['--protocol', 'sctp'], /flag --protocol: unknown protocol "sctp"/],
      [['--since', 'yesterday'], /flag --since: not a duration or time/],
      [['--last', 'many'], /flag --last: expected a whole number/],
      [['-o', 'yaml'], /flag --output: expected one of table, json/],
      [['--verdit', 'DROPPED'], /unknown flag --verdit; did you mean "--verdict"\?/],
      [['--bogus'], /unknown flag --bogus/],
      [['stray'], /positional/i],
      [['--pod'], /argument missing|needs a value/i],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['--socket', join(dir, 'unused.sock'), ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(re);
      expect(r.stderr).toMatch(/Run `fovea observe --help` for the flags\./);
    }
  });

  it('--help lists every flag with examples, exit 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--verdict', '--reason', '--pod', '--namespace', '--ip', '--port', '--protocol', '--since', '--last',
      '-f, --follow', '-o, --output', '--socket', '--server', '--no-color', '-h, --help', 'FOVEA_OBSERVE_SOCKET']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/Examples:\n {2}fovea observe/);
    const usage = await runCliTop(['--help']);
    expect(usage).toMatch(/observe +Watch flows and drops/);
  });

  it('bad requests on the wire get an error line and the connection is closed', async () => {
    const s = await startServer();
    const ask = (payload: string): Promise<string> => new Promise((resolve, reject) => {
      const sock = createConnection({ path: s.socketPath });
      let got = '';
      sock.on('data', (d: Buffer) => { got += d.toString(); });
      sock.on('error', reject);
      sock.on('close', () => resolve(got));
      sock.on('connect', () => sock.write(payload));
    });
    expect(JSON.parse(await ask('{"v":2,"filter":{},"follow":false}\n'))).toEqual({
      type: 'error', message: 'unsupported protocol version 2: this agent speaks version 1 (is fovea observe from another release?)',
    });
    expect(JSON.parse(await ask('not json\n'))).toEqual({ type: 'error', message: 'request is not JSON' });
    expect(JSON.parse(await ask('{"v":1,"follow":"yes"}\n')).message).toMatch(/follow must be true or false/);
    expect(JSON.parse(await ask('{"v":1,"follow":false,"extra":1}\n')).message).toMatch(/unknown request field\(s\): extra/);
    expect(JSON.parse(await ask('{"v":1,"follow":false,"filter":{"ports":[70000]}}\n')).message).toMatch(/filter\.ports: port 70000 is out of range/);
    expect(JSON.parse(await ask('{"v":1,"follow":false,"filter":{"ips":[{"address":"x","prefixLength":8}]}}\n')).message).toMatch(/filter\.ips: not an IP/);
    expect(JSON.parse(await ask('{"v":1,"follow":false,"last":-1}\n')).message).toMatch(/last must be a whole number/);
    expect(JSON.parse(await ask('x'.repeat(70_000))).message).toMatch(/request longer than 65536 bytes/);
    // a good request from a plain client (half-closing after the request, like `socat`) works
    s.publish(SAMPLE.slice(0, 2));
    const ok = await ask('{"v":1,"filter":{"verdicts":["DROPPED"]},"follow":false}\n');
    expect(ok.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string })).toEqual([
      { type: 'event', event: SAMPLE[0] }, { type: 'event', event: SAMPLE[1] }, { type: 'end' },
    ]);
    await until(() => s.clients() === 0, 'every connection closed');
  });

  it('publish with no client connected only appends to the history', async () => {
    const s = await startServer({ historySize: 8192 });
    const evs = filler(100_000);
    const t0 = performance.now();
    for (let i = 0; i < evs.length; i += 1000) s.publish(evs.slice(i, i + 1000));
    const ms = performance.now() - t0;
    expect(s.clients()).toBe(0);
    expect(ms).toBeLessThan(500); // typically a few ms: no serialisation without clients
    const r = await runCli(['--socket', s.socketPath, '-o', 'json', '--last', '100000']);
    expect(ids(r.stdout)).toHaveLength(8192);
  });
});

/** `fovea --help` (the command list). */
async function runCliTop(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), ...args], { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((r) => child.on('close', r));
  return out;
}
