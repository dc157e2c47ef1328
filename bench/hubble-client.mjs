#!/usr/bin/env node
/**
 * Part (f)'s Hubble client: opens N GetFlows streams (each on its own HTTP/2 connection, as N
 * `hubble observe --follow` clients would) to the agent's Hubble Unix socket and counts what
 * arrives without decoding the flows.
 *
 *   node bench/hubble-client.mjs --socket PATH --streams N --request BASE64 [--impl http2|grpc-js] [--check-every 1000]
 *
 * --request is the GetFlowsRequest's wire bytes (the bench encodes it with src/hubble/proto.ts).
 * --impl http2 (default): node:http2 straight, reading the gRPC length prefixes itself — about the
 *   per-message cost of a Go client, so the rate measured is the server's; grpc-js: @grpc/grpc-js
 *   with pass-through deserializers (its per-message machinery is the client's own cost).
 * Each response's top-level fields are walked (tags and lengths only): field 1 = a flow, field 3 =
 * a LostEvent (decoded: source, num_events_lost). Every --check-every'th flow is opened to read
 * its verdict (field 2), which must be DROPPED (2) here.
 *
 * stdin, one command a line: `mark` prints one JSON line with the counters so far, the client's
 * own clock (ms) and CPU (process.cpuUsage, µs); `stop` cancels the streams and exits.
 * stdout: {"ready":true} once every connection is up, then the marks; {"error":...} on a failure.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    socket: { type: 'string' }, streams: { type: 'string', default: '1' }, request: { type: 'string', default: '' },
    impl: { type: 'string', default: 'http2' }, 'check-every': { type: 'string', default: '1000' },
  },
});
if (!values.socket) { process.stderr.write('hubble-client: --socket is required\n'); process.exit(2); }
const SOCKET = values.socket;
const STREAMS = Number(values.streams);
const REQUEST = Buffer.from(values.request, 'base64');
const CHECK_EVERY = Number(values['check-every']);
const PATH = '/observer.Observer/GetFlows';
const LOST_SOURCES = ['UNKNOWN_LOST_EVENT_SOURCE', 'PERF_EVENT_RING_BUFFER', 'OBSERVER_EVENTS_QUEUE', 'HUBBLE_RING_BUFFER'];

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

// ---- protobuf wire walking (no decoding of the flows) ----
let pos = 0;
function varint(b) {
  let x = 0, mul = 1, c;
  do {
    c = b[pos++];
    x += (c & 0x7f) * mul;
    mul *= 128;
  } while (c & 0x80);
  return x;
}

/** Skips a field of wire type `wt` at `pos`; for LEN returns [start, end] of the body. */
function skip(b, wt) {
  if (wt === 0) varint(b);
  else if (wt === 1) pos += 8;
  else if (wt === 5) pos += 4;
  else if (wt === 2) { const n = varint(b); const s = pos; pos += n; return s; }
  else throw new Error(`wire type ${wt}`);
  return -1;
}

class StreamStats {
  messages = 0; flows = 0; lostMessages = 0; lost = {}; bytes = 0; checked = 0; notDropped = 0; malformed = 0;
  status = undefined; error = undefined;

  message(b, s, e) {
    this.messages++;
    this.bytes += e - s;
    let flowAt = -1, flowEnd = 0, lostAt = -1, lostEnd = 0;
    try {
      pos = s;
      while (pos < e) {
        const tag = varint(b);
        const field = Math.floor(tag / 8), wt = tag & 7;
        const at = skip(b, wt);
        if (field === 1 && wt === 2) { flowAt = at; flowEnd = pos; } else if (field === 3 && wt === 2) { lostAt = at; lostEnd = pos; }
      }
      if (pos !== e) throw new Error('overrun');
      if (flowAt >= 0) {
        this.flows++;
        if (CHECK_EVERY > 0 && this.flows % CHECK_EVERY === 1) this.check(b, flowAt, flowEnd);
      } else if (lostAt >= 0) {
        this.lostMessages++;
        let source = 0, count = 0;
        pos = lostAt;
        while (pos < lostEnd) {
          const tag = varint(b);
          const field = Math.floor(tag / 8), wt = tag & 7;
          if (field === 1 && wt === 0) source = varint(b);
          else if (field === 2 && wt === 0) count = varint(b);
          else skip(b, wt);
        }
        const name = LOST_SOURCES[source] ?? `source_${source}`;
        this.lost[name] = (this.lost[name] ?? 0) + count;
      }
    } catch {
      this.malformed++;
    }
  }

  /** Reads the flow's verdict (field 2). */
  check(b, s, e) {
    this.checked++;
    let verdict = 0;
    pos = s;
    while (pos < e) {
      const tag = varint(b);
      const field = Math.floor(tag / 8), wt = tag & 7;
      if (field === 2 && wt === 0) verdict = varint(b);
      else skip(b, wt);
    }
    if (verdict !== 2) this.notDropped++;
  }

  snapshot() {
    const { messages, flows, lostMessages, lost, bytes, checked, notDropped, malformed, status, error } = this;
    return { messages, flows, lostMessages, lost: { ...lost }, bytes, checked, notDropped, malformed, status, error };
  }
}

/** Reassembles gRPC frames (1-byte flag, 4-byte length, body) from HTTP/2 DATA chunks. */
function framer(stats) {
  let pending;
  return (chunk) => {
    let b = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let off = 0;
    while (b.length - off >= 5) {
      const len = b.readUInt32BE(off + 1);
      if (b.length - off - 5 < len) break;
      stats.message(b, off + 5, off + 5 + len);
      off += 5 + len;
    }
    if (off < b.length) pending = b.subarray(off);
  };
}

function requestFrame() {
  const f = Buffer.alloc(5 + REQUEST.length);
  f.writeUInt32BE(REQUEST.length, 1);
  REQUEST.copy(f, 5);
  return f;
}

async function openHttp2(stats) {
  const session = http2.connect('http://localhost', {
    createConnection: () => net.connect(SOCKET),
    settings: { initialWindowSize: 1 << 20 },
  });
  await new Promise((resolve, reject) => {
    session.once('connect', resolve);
    session.once('error', reject);
  });
  session.setLocalWindowSize(16 << 20);
  session.on('error', (e) => { stats.error ??= e.message; });
  const req = session.request({
    ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers',
  });
  const onTrailers = (h) => {
    if (h['grpc-status'] !== undefined) stats.status = `${h['grpc-status']}${h['grpc-message'] ? ` ${decodeURIComponent(h['grpc-message'])}` : ''}`;
  };
  req.on('response', onTrailers); // trailers-only responses carry the status in the headers
  req.on('trailers', onTrailers);
  req.on('data', framer(stats));
  req.on('error', (e) => { stats.error ??= e.message; });
  req.end(requestFrame());
  return () => { req.close(http2.constants.NGHTTP2_CANCEL); session.close(); };
}

async function openGrpcJs(stats) {
  const grpc = await import('@grpc/grpc-js');
  const id = (b) => b;
  const Ctor = grpc.makeGenericClientConstructor({
    GetFlows: { path: PATH, requestStream: false, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  }, 'Observer');
  // its own connection per stream, like separate clients
  const client = new Ctor(`unix:${SOCKET}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  await new Promise((resolve, reject) => client.waitForReady(Date.now() + 5_000, (e) => (e ? reject(e) : resolve())));
  const call = client.GetFlows(REQUEST);
  call.on('data', (b) => stats.message(b, 0, b.length));
  call.on('error', (e) => { if (e.code !== grpc.status.CANCELLED) stats.error ??= e.message; });
  call.on('status', (s) => { stats.status = `${s.code}${s.details ? ` ${s.details}` : ''}`; });
  return () => { call.cancel(); client.close(); };
}

const stats = Array.from({ length: STREAMS }, () => new StreamStats());
let closers = [];
try {
  closers = await Promise.all(stats.map((s) => (values.impl === 'grpc-js' ? openGrpcJs(s) : openHttp2(s))));
} catch (err) {
  out({ error: `connect: ${err.message}` });
  process.exit(1);
}
out({ ready: true, streams: STREAMS, impl: values.impl });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'mark') {
    out({ mark: true, atMs: Number(process.hrtime.bigint()) / 1e6, cpu: process.cpuUsage(), streams: stats.map((s) => s.snapshot()) });
  } else if (cmd === 'stop') {
    for (const c of closers) { try { c(); } catch { /* closed */ } }
    setTimeout(() => process.exit(0), 50);
  }
});
rl.on('close', () => process.exit(0));
