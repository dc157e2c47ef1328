/**
 * Traffic between lab pods. Every generator runs inside the sending pod (worker.mjs via
 * `ip netns exec`) and reports how many packets/bytes it handed to the kernel; the kernel's own
 * counters (kernel-truth.ts) say what happened to them.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Lab } from './lab.js';

/**
 * The lab's plain JavaScript helpers (worker.mjs, delay-line.mjs) run as-is: next to this module
 * when running from src/ (tests), or from src/lab/ when this module runs from dist/src/lab/ (tsc
 * does not copy .mjs files).
 */
export function labScriptPath(file: string): string {
  const candidates = [new URL(`./${file}`, import.meta.url), new URL(`../../../src/lab/${file}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`lab script ${file} not found (looked at ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

export function workerPath(): string {
  return labScriptPath('worker.mjs');
}

function workerArgv(mode: string, opts: Record<string, unknown>): string[] {
  return [process.execPath, workerPath(), mode, JSON.stringify(opts)];
}

/** Last JSON line of a worker's stdout with event "result". */
function parseResult<T>(stdout: string, what: string): T {
  const line = stdout.trim().split('\n').reverse().find((l) => l.includes('"event":"result"'));
  if (!line) throw new Error(`${what}: worker printed no result (stdout: ${stdout.slice(0, 500)})`);
  const { event: _event, ...rest } = JSON.parse(line) as Record<string, unknown>;
  return rest as T;
}

async function oneShot<T>(lab: Lab, pod: number, mode: string, opts: Record<string, unknown>, timeoutMs = 120_000): Promise<T> {
  const { stdout } = await lab.exec(pod, workerArgv(mode, opts), { timeoutMs });
  return parseResult<T>(stdout, `${mode} from pod ${pod}`);
}

export interface UdpSendOptions {
  /** UDP payload bytes; default 64. */
  readonly size?: number;
  /** Pace to this many datagrams/s; default as fast as sequential sends go (~tens of k/s). */
  readonly ratePps?: number;
  /** Source port; default an ephemeral one. */
  readonly sport?: number;
}

export interface SendResult {
  readonly sent: number;
  readonly elapsedMs: number;
}

/** Sends exactly `count` datagrams (each send's callback awaited); rejects if any send fails. */
export async function sendUdp(lab: Lab, fromPod: number, toIp: string, port: number, count: number, opts: UdpSendOptions = {}): Promise<SendResult> {
  const r = await oneShot<SendResult>(lab, fromPod, 'udp-send', { to: toIp, port, count, size: opts.size ?? 64, ratePps: opts.ratePps, sport: opts.sport });
  if (r.sent !== count) throw new Error(`sendUdp: sent ${r.sent} of ${count}`);
  return r;
}

export interface TcpConnectResult {
  readonly attempts: number;
  /** Answered by RST (closed port → NO_SOCKET drop on the receiver). */
  readonly refused: number;
  readonly connected: number;
  /** No answer within timeoutMs (e.g. the deny port: SYNs dropped by nft, retransmits included). */
  readonly timedOut: number;
  readonly other: number;
}

/** `count` sequential connection attempts; each waits for RST, connect or `timeoutMs` (default 1000). */
export function tcpConnectAttempts(lab: Lab, fromPod: number, toIp: string, port: number, count: number, opts: { timeoutMs?: number } = {}): Promise<TcpConnectResult> {
  return oneShot(lab, fromPod, 'tcp-connect', { to: toIp, port, count, timeoutMs: opts.timeoutMs ?? 1000 });
}

export interface TcpTransferResult {
  readonly sent: number;
  readonly elapsedMs: number;
}

/** Connects, writes `bytes`, closes and waits for the close (normal traffic). */
export function tcpTransfer(lab: Lab, fromPod: number, toIp: string, port: number, bytes: number): Promise<TcpTransferResult> {
  return oneShot(lab, fromPod, 'tcp-transfer', { to: toIp, port, bytes });
}

export interface FloodOptions {
  /** Target rate, or 'max' for as fast as one process goes. */
  readonly pps: number | 'max';
  readonly durationMs: number;
  /** UDP payload bytes; default 16. */
  readonly size?: number;
  /** Parallel sender processes (each gets pps/processes); default 1. */
  readonly processes?: number;
}

export interface FloodResult {
  /** Datagrams the kernel accepted (successful send callbacks). */
  readonly sent: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
  readonly pps: number;
}

/**
 * A drop storm: unawaited sends in batches for `durationMs`. `sent` counts accepted datagrams; for
 * the deny port the nft counter is the ground truth of what reached the policy.
 */
export async function udpFlood(lab: Lab, fromPod: number, toIp: string, port: number, opts: FloodOptions): Promise<FloodResult> {
  const n = Math.max(1, opts.processes ?? 1);
  const pps = opts.pps === 'max' ? 'max' : opts.pps / n;
  const parts = await Promise.all(Array.from({ length: n }, () => oneShot<FloodResult>(lab, fromPod, 'udp-flood',
    { to: toIp, port, pps, durationMs: opts.durationMs, size: opts.size ?? 16 }, opts.durationMs + 60_000)));
  const sent = parts.reduce((a, p) => a + p.sent, 0);
  const elapsedMs = Math.max(...parts.map((p) => p.elapsedMs));
  const firstError = parts.find((p) => p.firstError)?.firstError;
  return {
    sent, errors: parts.reduce((a, p) => a + p.errors, 0), elapsedMs,
    pps: Math.round((sent * 1000) / elapsedMs), ...(firstError ? { firstError } : {}),
  };
}

export interface Server<R> {
  readonly pid: number;
  /** SIGTERM, then resolves with the server's own counts. */
  stop(): Promise<R>;
}

/** A lab helper process that printed {"event":"ready"}: its output so far, and its end. */
export interface ReadyProcess {
  readonly child: ChildProcess;
  stdout(): string;
  readonly exited: Promise<void>;
}

/** Collects a lab helper's output and resolves once it prints {"event":"ready"}; rejects if it exits first or takes 10 s. */
export async function whenReady(child: ChildProcess, what: string): Promise<ReadyProcess> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${what}: not ready after 10 s: ${stderr}`)); }, 10_000);
    const check = (): void => {
      if (stdout.includes('"event":"ready"')) { clearTimeout(timer); resolve(); }
    };
    child.stdout?.on('data', check);
    void exited.then(() => { clearTimeout(timer); reject(new Error(`${what} exited before ready: ${stderr.trim()}`)); });
  });
  return { child, stdout: () => stdout, exited };
}

/** Spawns a worker server in a pod and resolves once it prints "ready" (i.e. it is bound). */
async function startServer<R>(lab: Lab, pod: number, mode: string, opts: Record<string, unknown>): Promise<Server<R>> {
  const child = lab.spawn(pod, workerArgv(mode, opts));
  const p = await whenReady(child, `${mode} in pod ${pod}`);
  let stopped: Promise<R> | undefined;
  return {
    pid: child.pid ?? -1,
    stop: () => (stopped ??= (async () => {
      child.kill('SIGTERM');
      await p.exited;
      return parseResult<R>(p.stdout(), `${mode} in pod ${pod}`);
    })()),
  };
}

export interface UdpSinkResult {
  readonly received: number;
  readonly bytes: number;
}

/**
 * UDP sink on `port` (IPv4, plus IPv6 if the lab has it) counting what the application receives.
 * Its receive buffer is 4 MiB (capped by net.core.rmem_max): a burst larger than that still loses
 * datagrams to the socket buffer (Udp RcvbufErrors, drop reason SOCKET_RCVBUFF) — use ratePps.
 */
export function startUdpSink(lab: Lab, pod: number, port: number): Promise<Server<UdpSinkResult>> {
  return startServer(lab, pod, 'udp-sink', { port, ipv6: lab.ipv6 });
}

export interface TcpServerResult {
  readonly connections: number;
  readonly bytes: number;
}

/** TCP sink (or echo with `{echo: true}`) server on `port`. */
export function startTcpServer(lab: Lab, pod: number, port: number, opts: { echo?: boolean } = {}): Promise<Server<TcpServerResult>> {
  return startServer(lab, pod, 'tcp-server', { port, ipv6: lab.ipv6, echo: opts.echo ?? false });
}

/** `count` TCP connections from a pod, opened one after the other and held open until stop(). */
export function holdTcpConnections(lab: Lab, pod: number, toIp: string, port: number, count: number): Promise<Server<{ held: number }>> {
  return startServer(lab, pod, 'tcp-hold', { to: toIp, port, count });
}

// ---- iperf3 (throughput benchmark) ----

export interface Iperf3Server {
  readonly port: number;
  stop(): Promise<void>;
}

/** `iperf3 -s` in a pod; resolves once it listens. */
export async function iperf3Server(lab: Lab, pod: number, opts: { port?: number } = {}): Promise<Iperf3Server> {
  const port = opts.port ?? 5201;
  const child: ChildProcess = lab.spawn(pod, ['iperf3', '-s', '-p', String(port), '--forceflush']);
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`iperf3 -s in pod ${pod}: not listening after 10 s: ${out}`)); }, 10_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Server listening')) { clearTimeout(timer); resolve(); }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (e) => { clearTimeout(timer); reject(new Error(`iperf3 not installed: apt-get install iperf3 (${e.message})`)); });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`iperf3 -s in pod ${pod} exited: ${out.trim()}`)); });
  });
  return {
    port,
    stop: async () => { child.kill('SIGTERM'); await exited; },
  };
}

export interface Iperf3ClientOptions {
  readonly seconds: number;
  readonly port?: number;
  readonly udp?: boolean;
  /** e.g. '0' (unlimited, UDP) or '1G'; iperf3 -b. */
  readonly bitrate?: string;
  /** Buffer / datagram length, iperf3 -l. */
  readonly length?: number;
  readonly parallel?: number;
}

export interface Iperf3Result {
  /** Receiver-side rate for TCP, sender-side `sum` rate for UDP. */
  readonly bitsPerSecond: number;
  readonly bytes: number;
  /** UDP only. */
  readonly packets?: number;
  readonly lostPackets?: number;
  /** The full `--json` document. */
  readonly raw: unknown;
}

export async function iperf3Client(lab: Lab, fromPod: number, toIp: string, opts: Iperf3ClientOptions): Promise<Iperf3Result> {
  const argv = ['iperf3', '-c', toIp, '-p', String(opts.port ?? 5201), '-t', String(opts.seconds), '--json',
    ...(opts.udp ? ['-u'] : []), ...(opts.bitrate ? ['-b', opts.bitrate] : []),
    ...(opts.length ? ['-l', String(opts.length)] : []), ...(opts.parallel ? ['-P', String(opts.parallel)] : [])];
  const { stdout } = await lab.exec(fromPod, argv, { timeoutMs: opts.seconds * 1000 + 30_000, allowFail: true });
  const doc = JSON.parse(stdout) as { error?: string; end?: Record<string, Record<string, number>> };
  if (doc.error) throw new Error(`iperf3 -c ${toIp}: ${doc.error}`);
  const end = doc.end ?? {};
  if (opts.udp) {
    const s = end['sum'] ?? {};
    return { bitsPerSecond: s['bits_per_second'] ?? 0, bytes: s['bytes'] ?? 0, packets: s['packets'] ?? 0, lostPackets: s['lost_packets'] ?? 0, raw: doc };
  }
  const r = end['sum_received'] ?? {};
  return { bitsPerSecond: r['bits_per_second'] ?? 0, bytes: r['bytes'] ?? 0, raw: doc };
}
