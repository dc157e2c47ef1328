// @ts-check
/**
 * Lab traffic worker: a plain ES module (no build step) that `src/lab/traffic.ts` runs inside a pod:
 *
 *   ip netns exec <netns> node worker.mjs <mode> '<json options>'
 *
 * Protocol: one JSON object per stdout line. Servers print {"event":"ready"} once listening and
 * their {"event":"result",...} on SIGTERM; one-shot modes print only the result. Errors go to
 * stderr with a non-zero exit.
 *
 * Modes:
 *   udp-send     {to, port, count, size, ratePps?, sport?}  exactly `count` datagrams, each send awaited
 *   udp-flood    {to, port, size, pps|'max', durationMs}  unawaited sends in batches; counts callbacks
 *   udp-sink     {port, ipv6}                        counts datagrams and bytes received
 *   tcp-connect  {to, port, count, timeoutMs}        sequential connects; counts refused/connected/timedOut
 *   tcp-server   {port, ipv6, echo}                  sink (or echo) server; counts connections and bytes
 *   tcp-transfer {to, port, bytes}                   writes `bytes` then closes
 *
 * Deliberately unconnected UDP sockets: a connected socket turns the ICMP port-unreachable of a
 * closed port into ECONNREFUSED on the next send, which would break "exactly count sent".
 */
import dgram from 'node:dgram';
import net from 'node:net';

const [mode, json] = process.argv.slice(2);
/** @type {Record<string, any>} */
const o = JSON.parse(json ?? '{}');

/** @param {Record<string, unknown>} r */
function emit(r) { process.stdout.write(JSON.stringify(r) + '\n'); }
/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** @param {string} ip */
const udpType = (ip) => (net.isIPv6(ip) ? 'udp6' : 'udp4');

async function udpSend() {
  const sock = dgram.createSocket(udpType(o.to));
  const buf = Buffer.alloc(o.size ?? 64, 0x61);
  if (o.sport) await new Promise((resolve) => sock.bind(o.sport, () => resolve(undefined)));
  const start = process.hrtime.bigint();
  let sent = 0;
  for (let i = 0; i < o.count; i++) {
    if (o.ratePps) {
      const due = Number(start) + (i * 1e9) / o.ratePps;
      const ahead = (due - Number(process.hrtime.bigint())) / 1e6;
      if (ahead >= 1) await sleep(ahead);
    }
    await new Promise((resolve, reject) => sock.send(buf, o.port, o.to, (err) => (err ? reject(err) : resolve(undefined))));
    sent++;
  }
  sock.close();
  emit({ event: 'result', sent, elapsedMs: Number(process.hrtime.bigint() - start) / 1e6 });
}

async function udpFlood() {
  const sock = dgram.createSocket(udpType(o.to));
  const buf = Buffer.alloc(o.size ?? 16, 0x61);
  const batch = 64;
  const maxInFlight = 4096;
  let issued = 0, ok = 0, errors = 0;
  /** @type {string | undefined} */
  let firstError;
  /** @param {Error | null} err */
  const cb = (err) => { if (err) { errors++; firstError ??= err.message; } else ok++; };
  const start = Number(process.hrtime.bigint());
  const end = start + o.durationMs * 1e6;
  for (;;) {
    const now = Number(process.hrtime.bigint());
    if (now >= end) break;
    let n = batch;
    if (o.pps !== 'max') n = Math.min(batch, Math.floor(((now - start) * o.pps) / 1e9) - issued);
    if (issued - ok - errors > maxInFlight) n = 0;
    for (let i = 0; i < n; i++) sock.send(buf, o.port, o.to, cb);
    issued += Math.max(n, 0);
    // Let libuv complete sends and run callbacks; a timer when pacing, immediate when flat out.
    await new Promise((r) => (n > 0 ? setImmediate(r) : setTimeout(r, 1)));
  }
  while (ok + errors < issued) await new Promise((r) => setImmediate(r));
  const elapsedMs = (Number(process.hrtime.bigint()) - start) / 1e6;
  sock.close();
  emit({ event: 'result', sent: ok, errors, firstError, elapsedMs, pps: Math.round((ok * 1000) / elapsedMs) });
}

/**
 * @param {() => Record<string, unknown>} result
 * @param {() => void} close
 */
function onStop(result, close) {
  const stop = () => { close(); emit({ event: 'result', ...result() }); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function udpSink() {
  let received = 0, bytes = 0;
  // A large receive buffer (capped by net.core.rmem_max) so bursts are not lost to SOCKET_RCVBUFF.
  const recvBufferSize = 4 * 1024 * 1024;
  const socks = [dgram.createSocket({ type: 'udp4', recvBufferSize })];
  if (o.ipv6) socks.push(dgram.createSocket({ type: 'udp6', ipv6Only: true, recvBufferSize }));
  await Promise.all(socks.map((s) => new Promise((resolve) => {
    s.on('message', (m) => { received++; bytes += m.length; });
    s.bind(o.port, s.type === 'udp6' ? '::' : '0.0.0.0', () => resolve(undefined));
  })));
  onStop(() => ({ received, bytes }), () => socks.forEach((s) => s.close()));
  emit({ event: 'ready' });
}

async function tcpServer() {
  let connections = 0, bytes = 0;
  const servers = [net.createServer()];
  if (o.ipv6) servers.push(net.createServer());
  for (const s of servers) {
    s.on('connection', (c) => {
      connections++;
      c.on('data', (d) => { bytes += d.length; if (o.echo) c.write(d); });
      c.on('end', () => c.end());
      c.on('error', () => { /* peer reset: counted by the kernel, not here */ });
    });
  }
  await Promise.all(servers.map((s, i) => new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port: o.port, host: i === 0 ? '0.0.0.0' : '::', ipv6Only: i === 1 }, () => resolve(undefined));
  })));
  onStop(() => ({ connections, bytes }), () => servers.forEach((s) => s.close()));
  emit({ event: 'ready' });
}

async function tcpConnect() {
  let refused = 0, connected = 0, timedOut = 0, other = 0;
  for (let i = 0; i < o.count; i++) {
    const outcome = await new Promise((resolve) => {
      const s = net.connect({ host: o.to, port: o.port });
      const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, o.timeoutMs ?? 1000);
      s.once('connect', () => { clearTimeout(t); s.destroy(); resolve('connected'); });
      s.once('error', (/** @type {NodeJS.ErrnoException} */ e) => { clearTimeout(t); resolve(e.code === 'ECONNREFUSED' ? 'refused' : 'other'); });
    });
    if (outcome === 'refused') refused++;
    else if (outcome === 'connected') connected++;
    else if (outcome === 'timeout') timedOut++;
    else other++;
  }
  emit({ event: 'result', attempts: o.count, refused, connected, timedOut, other });
}

async function tcpHold() {
  const socks = [];
  for (let i = 0; i < o.count; i++) {
    socks.push(await new Promise((resolve, reject) => {
      const s = net.connect({ host: o.to, port: o.port }, () => resolve(s));
      s.once('error', reject);
    }));
  }
  for (const s of socks) s.on('error', () => { /* peer reset at the end of a test */ });
  onStop(() => ({ held: socks.length }), () => socks.forEach((s) => s.destroy()));
  emit({ event: 'ready' });
}

async function tcpTransfer() {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  const start = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const s = net.connect({ host: o.to, port: o.port }, async () => {
      let left = o.bytes;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    });
    s.on('data', () => { /* echo server: discard */ });
    s.once('error', reject);
    s.once('close', (hadError) => (hadError ? undefined : resolve(undefined)));
  });
  emit({ event: 'result', sent: o.bytes, elapsedMs: Number(process.hrtime.bigint() - start) / 1e6 });
}

/** @type {Record<string, () => Promise<void>>} */
const modes = {
  'udp-send': udpSend, 'udp-flood': udpFlood, 'udp-sink': udpSink,
  'tcp-connect': tcpConnect, 'tcp-server': tcpServer, 'tcp-transfer': tcpTransfer, 'tcp-hold': tcpHold,
};
const fn = mode ? modes[mode] : undefined;
if (!fn) {
  process.stderr.write(`usage: worker.mjs <${Object.keys(modes).join('|')}> '<json>'\n`);
  process.exit(2);
}
fn().catch((err) => { process.stderr.write(`worker ${mode}: ${err?.stack ?? err}\n`); process.exit(1); });
