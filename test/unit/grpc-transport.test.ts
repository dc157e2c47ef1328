/**
 * grpc-transport.ts against two servers it shares no code with: the OTLP receiver (grpc-js, the
 * reference gRPC implementation for Node) for what a collector sees, and raw node:http2 servers
 * that answer exactly what a test needs (HTTP errors, trailers-only answers, silence, malformed
 * frames) for how each answer is reported.
 */
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ExportResponse } from '@opentelemetry/otlp-exporter-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GrpcStatusError, GrpcTransport, METRICS_EXPORT_PATH, statusOfHttp } from '../../src/export/grpc-transport.js';
import { otlpProtoDir } from '../../src/otlp/paths.js';
import { OtlpReceiver, decodeMetricsRequest } from '../../src/otlp/receiver.js';
import { missingArtifacts } from '../helpers/victoria.js';

const missing = missingArtifacts(() => otlpProtoDir());

/** An ExportMetricsServiceRequest with one resource attribute whose value is `n` bytes long. */
function request(n: number, fill = 'x'): Buffer {
  const value = Buffer.from(fill.repeat(n));
  const anyValue = Buffer.concat([Buffer.from([0x0a]), varint(value.length), value]); // AnyValue.string_value
  const kv = Buffer.concat([Buffer.from([0x0a, 0x01, 0x6b, 0x12]), varint(anyValue.length), anyValue]); // key "k"
  const resource = Buffer.concat([Buffer.from([0x0a]), varint(kv.length), kv]); // Resource.attributes
  const rm = Buffer.concat([Buffer.from([0x0a]), varint(resource.length), resource]); // ResourceMetrics.resource
  return Buffer.concat([Buffer.from([0x0a]), varint(rm.length), rm]); // request.resource_metrics
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The error of a failed call (fails the test when the call did not fail). */
function errorOf(r: ExportResponse): GrpcStatusError {
  if (r.status !== 'failure') throw new Error(`expected a failure, got ${r.status}`);
  expect(r.error).toBeInstanceOf(GrpcStatusError);
  return r.error as GrpcStatusError;
}

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer) => void;

/**
 * A plaintext HTTP/2 server; `handler` answers each stream once its request body has arrived
 * (`keepBodies: false`: the body is read and dropped, `handler` gets an empty one).
 */
async function rawServer(handler: Handler, keepBodies = true, at = { host: '127.0.0.1', port: 0 }): Promise<{ server: Http2Server; endpoint: string; sessions: () => number; close: () => Promise<void> }> {
  const server = createServer();
  const open = new Set<ServerHttp2Session>();
  let sessions = 0;
  server.on('session', (s) => {
    sessions++;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => { if (keepBodies) chunks.push(c); });
    stream.on('end', () => handler(stream, headers, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`test server cannot listen on ${at.host}:${at.port}: ${err.message}`)));
    server.listen(at.port, at.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    server, endpoint: `http://${at.host}:${port}`, sessions: () => sessions,
    close: () => new Promise((resolve) => { server.close(() => resolve()); for (const s of open) s.destroy(); }),
  };
}

/** A gRPC answer: HTTP 200, one framed message, trailers with the status. */
function answer(stream: ServerHttp2Stream, message: Buffer, status = 0, details = ''): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(status), ...(details ? { 'grpc-message': encodeURIComponent(details) } : {}) }));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  stream.end(Buffer.concat([prefix, message]));
}

describe.skipIf(missing !== undefined)(`GrpcTransport → OTLP receiver (grpc-js)${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let rx: OtlpReceiver;
  const transports: GrpcTransport[] = [];
  const transport = (opts: Partial<ConstructorParameters<typeof GrpcTransport>[0]> = {}): GrpcTransport => {
    const t = new GrpcTransport({ endpoint: rx.endpoint, path: METRICS_EXPORT_PATH, ...opts });
    transports.push(t);
    return t;
  };
  beforeAll(async () => { rx = await OtlpReceiver.start({}); });
  afterEach(() => {
    for (const t of transports.splice(0)) t.shutdown();
    rx.clear();
    rx.failRequests(false);
  });
  afterAll(async () => { await rx?.stop(); });

  for (const compression of ['none', 'gzip'] as const) {
    it(`delivers the request's exact bytes and the metadata (${compression})`, async () => {
      const t = transport({ compression, headers: { authorization: 'Bearer t0k', 'x-tenant': 'a' } });
      const bytes = request(300_000);
      const r = await t.send(bytes, 5_000);
      expect(r.status).toBe('success');
      const got = rx.requests;
      expect(got).toHaveLength(1);
      expect(got[0]!.body.equals(bytes)).toBe(true);
      expect(decodeMetricsRequest(got[0]!.body).resourceMetrics).toHaveLength(1);
      expect(got[0]!.headers).toMatchObject({ authorization: 'Bearer t0k', 'x-tenant': 'a' });
    });
  }

  it('sends many requests over one session, in parallel', async () => {
    const t = transport();
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => t.send(request(1_000 + i), 5_000)));
    expect(rs.every((r) => r.status === 'success')).toBe(true);
    expect(rx.requests.map((e) => e.body.length).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => request(1_000 + i).length));
  });

  it("reports the server's status and its message (percent-decoded) as the error's code", async () => {
    const t = transport();
    rx.failRequests(true, 'Received message larger than max (5000000 vs. 4194304) — ünïcode', { grpc: 8 });
    const r = await t.send(request(10), 5_000);
    expect(r.status).toBe('failure');
    const err = errorOf(r);
    expect(err).toBeInstanceOf(GrpcStatusError);
    expect(err.code).toBe(8);
    expect(err.details).toBe('Received message larger than max (5000000 vs. 4194304) — ünïcode');
    expect(err.message).toBe('8 RESOURCE_EXHAUSTED: Received message larger than max (5000000 vs. 4194304) — ünïcode');
    rx.failRequests(false);
    expect((await t.send(request(10), 5_000)).status).toBe('success');
  });

  it('refused connection: UNAVAILABLE naming the cause; the next call connects once a server listens', async () => {
    const probe = await rawServer(() => undefined);
    const endpoint = probe.endpoint;
    await probe.close();
    const t = new GrpcTransport({ endpoint, path: METRICS_EXPORT_PATH });
    transports.push(t);
    const r = await t.send(request(10), 5_000);
    expect(r.status).toBe('failure');
    const err = errorOf(r);
    expect(err.code).toBe(14);
    expect(err.message).toMatch(/ECONNREFUSED/);
    const port = Number(new URL(endpoint).port);
    const again = await OtlpReceiver.start({ port });
    try {
      expect((await t.send(request(10), 5_000)).status).toBe('success');
      expect(again.requests).toHaveLength(1);
    } finally {
      await again.stop();
    }
  });

  it('after shutdown, a call fails at once', async () => {
    const t = transport();
    expect((await t.send(request(10), 5_000)).status).toBe('success');
    t.shutdown();
    const r = await t.send(request(10), 5_000);
    expect(r).toMatchObject({ status: 'failure', error: { code: 14 } });
    expect(rx.requests).toHaveLength(1);
  });
});

describe('GrpcTransport: what each answer is reported as', () => {
  const servers: Array<{ close: () => Promise<void> }> = [];
  afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });
  const serve = async (h: Handler, keepBodies = true) => { const s = await rawServer(h, keepBodies); servers.push(s); return s; };

  it('sends a unary gRPC request: method, path, content type, te, timeout, metadata, and one framed message', async () => {
    let seen: { headers: IncomingHttpHeaders; body: Buffer } | undefined;
    const s = await serve((stream, headers, body) => { seen = { headers, body }; answer(stream, Buffer.from([0x0a, 0x00])); });
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M', headers: { 'x-a': '1' } });
    const r = await t.send(Buffer.from('hello'), 2_500);
    t.shutdown();
    expect(r).toEqual({ status: 'success', data: Buffer.from([0x0a, 0x00]) });
    expect(seen!.headers).toMatchObject({
      ':method': 'POST', ':path': '/p.S/M', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '2500m', 'x-a': '1',
    });
    expect(seen!.body).toEqual(Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from('hello')]));
  });

  it('a gzip-compressed request carries the flag and grpc-encoding; a compressed answer is read', async () => {
    let seen: { headers: IncomingHttpHeaders; body: Buffer } | undefined;
    const s = await serve((stream, headers, body) => {
      seen = { headers, body };
      const message = gzipSync(Buffer.from('ok'));
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const prefix = Buffer.from([1, 0, 0, 0, 0]);
      prefix.writeUInt32BE(message.length, 1);
      stream.end(Buffer.concat([prefix, message]));
    });
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M', compression: 'gzip' });
    const r = await t.send(Buffer.from('hello hello hello'), 2_000);
    t.shutdown();
    expect(r).toMatchObject({ status: 'success' });
    expect(Buffer.from((r as { data: Uint8Array }).data).toString()).toBe('ok');
    expect(seen!.headers['grpc-encoding']).toBe('gzip');
    expect(seen!.body[0]).toBe(1);
    expect(seen!.body.readUInt32BE(1)).toBe(seen!.body.length - 5);
  });

  it('HTTP errors map to gRPC statuses (401, 404, 503 ...)', async () => {
    let status = 0;
    const s = await serve((stream) => { stream.respond({ ':status': status }); stream.end(); });
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    for (const [http, grpc] of [[400, 13], [401, 16], [403, 7], [404, 12], [429, 14], [503, 14], [500, 2]] as const) {
      status = http;
      const r = await t.send(Buffer.from('x'), 2_000);
      expect(r, String(http)).toMatchObject({ status: 'failure', error: { code: grpc } });
      expect(statusOfHttp(http)).toBe(grpc);
    }
    t.shutdown();
  });

  it('a trailers-only answer (status in the headers) is the error it names', async () => {
    const s = await serve((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'bad%20token' }, { endStream: true });
    });
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    const r = await t.send(Buffer.from('x'), 2_000);
    t.shutdown();
    expect(r).toMatchObject({ status: 'failure', error: { code: 16, details: 'bad token', message: '16 UNAUTHENTICATED: bad token' } });
  });

  it('malformed answers: no status → UNKNOWN; a message cut short → INTERNAL; a stream reset → UNAVAILABLE', async () => {
    let mode = '';
    const s = await serve((stream) => {
      if (mode === 'no-status') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
      } else if (mode === 'short') {
        answer(stream, Buffer.alloc(0));
      } else {
        stream.close(2); // RST_STREAM INTERNAL_ERROR
      }
    });
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    mode = 'no-status';
    expect(await t.send(Buffer.from('x'), 2_000)).toMatchObject({ status: 'failure', error: { code: 2 } });
    mode = 'reset';
    const reset = await t.send(Buffer.from('x'), 2_000);
    expect(reset).toMatchObject({ status: 'failure', error: { code: 14 } });
    t.shutdown();

    const cut = await serve((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 9, 1, 2])); // says 9 bytes, has 2
    });
    const t2 = new GrpcTransport({ endpoint: cut.endpoint, path: '/p.S/M' });
    const r = await t2.send(Buffer.from('x'), 2_000);
    t2.shutdown();
    expect(r).toMatchObject({ status: 'failure', error: { code: 13 } });
    expect((r as { error: Error }).error.message).toMatch(/cut short \(2 of 9 bytes\)/);
  });

  it('no answer: DEADLINE_EXCEEDED at the timeout; after five in a row the next call opens a new session', async () => {
    const s = await serve(() => undefined); // never answers
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    const t0 = Date.now();
    const r = await t.send(Buffer.from('x'), 150);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(r).toMatchObject({ status: 'failure', error: { code: 4 } });
    for (let i = 0; i < 3; i++) await t.send(Buffer.from('x'), 50);
    expect(s.sessions()).toBe(1);
    await t.send(Buffer.from('x'), 50); // the fifth
    await t.send(Buffer.from('x'), 50);
    expect(s.sessions()).toBe(2);
    t.shutdown();
  });

  it('a server that goes away (GOAWAY): the next call opens a new session and succeeds', async () => {
    let goaway = false;
    const s = await serve((stream) => {
      answer(stream, Buffer.alloc(0));
      if (goaway) stream.session?.close(); // graceful: GOAWAY after this answer
    });
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    goaway = true;
    expect((await t.send(Buffer.from('x'), 2_000)).status).toBe('success');
    goaway = false;
    await new Promise((r) => setTimeout(r, 50));
    expect((await t.send(Buffer.from('x'), 2_000)).status).toBe('success');
    expect(s.sessions()).toBe(2);
    t.shutdown();
  });

  it('an answer over 4 MiB is refused (RESOURCE_EXHAUSTED), not buffered', async () => {
    const s = await serve((stream) => answer(stream, Buffer.alloc(5 * 1024 * 1024)));
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    const r = await t.send(Buffer.from('x'), 5_000);
    t.shutdown();
    expect(r).toMatchObject({ status: 'failure', error: { code: 8 } });
  });

  it('refuses headers HTTP/2 cannot carry or that are malformed, and endpoints that are not http(s)', () => {
    expect(() => new GrpcTransport({ endpoint: 'http://127.0.0.1:1', path: '/p', headers: { connection: 'close' } }))
      .toThrow("header 'connection' cannot be sent over HTTP/2 (gRPC)");
    expect(() => new GrpcTransport({ endpoint: 'unix:///tmp/x', path: '/p' })).toThrow(/use http:\/\/ or https:\/\//);
    expect(() => new GrpcTransport({ endpoint: 'http://127.0.0.1:1', path: '/p', headers: { authorization: 'Bearer a\nb' } }))
      .toThrow(/header 'authorization': .*[Ii]nvalid character/);
  });

  it("an endpoint without a port connects to its scheme's: http → 80, https → 443", async () => {
    // 127.0.0.9 (loopback, and not an address a local service is likely to hold): port 80 needs root, as the suite runs
    const s = await rawServer((stream) => answer(stream, Buffer.alloc(0)), true, { host: '127.0.0.9', port: 80 });
    servers.push(s);
    const plain = new GrpcTransport({ endpoint: 'http://127.0.0.9', path: '/p.S/M' });
    const r = await plain.send(request(10), 5_000);
    plain.shutdown();
    expect(r.status).toBe('success');
    expect(s.sessions()).toBe(1);
    const tls = new GrpcTransport({ endpoint: 'https://127.0.0.9', path: '/p.S/M' });
    const e = errorOf(await tls.send(request(10), 5_000));
    tls.shutdown();
    expect(e.code).toBe(14);
    expect(e.message).toMatch(/ECONNREFUSED 127\.0\.0\.9:443/);
  });

  it("writes the request's own bytes: no buffer of the request's size is allocated per call", async () => {
    const s = await serve((stream) => answer(stream, Buffer.alloc(0)), false); // the server in this process copies nothing either
    const t = new GrpcTransport({ endpoint: s.endpoint, path: '/p.S/M' });
    const bytes = request(2_000_000);
    expect((await t.send(bytes, 5_000)).status).toBe('success'); // the session is open
    const big: number[] = [];
    const watch = <K extends 'from' | 'alloc' | 'allocUnsafe' | 'allocUnsafeSlow' | 'concat'>(k: K): () => void => {
      const original = Buffer[k] as (...a: unknown[]) => Buffer;
      (Buffer as unknown as Record<string, unknown>)[k] = (...a: unknown[]): Buffer => {
        const b = original.apply(Buffer, a);
        if (b.length >= bytes.length / 2) big.push(b.length);
        return b;
      };
      return () => { (Buffer as unknown as Record<string, unknown>)[k] = original; };
    };
    const restore = (['from', 'alloc', 'allocUnsafe', 'allocUnsafeSlow', 'concat'] as const).map(watch);
    try {
      expect((await t.send(bytes, 5_000)).status).toBe('success');
    } finally {
      for (const r of restore) r();
      t.shutdown();
    }
    expect(big).toEqual([]);
  });
});
