/**
 * Writing many messages to one gRPC server stream, fast.
 *
 * @grpc/grpc-js sends each message of a server stream as its own HTTP/2 write and waits for that
 * write to finish before it takes the next (its ServerWritableStream has no _writev). Measured on
 * this machine (`node bench/manual/hubble-encode.mjs`: 400-byte messages to a client in another
 * process): 5.2 µs of server CPU per message; in batches of 256 straight to an HTTP/2 stream, 0.6 µs.
 * The Hubble server streams tens of thousands of flows per second to each client, so it writes
 * length-prefixed gRPC frames in batches to the call's HTTP/2 stream itself, after grpc-js has
 * sent the response headers; grpc-js still does everything else (status and trailers, TLS,
 * cancellation). That stream is not public API: baseCallOf checks the shape of the pinned grpc-js
 * version (test/unit/hubble-server.test.ts fails when an upgrade makes calls take the fallback) and
 * anything else falls back to plain `call.write` per message — slower, never wrong.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { ServerHttp2Stream } from 'node:http2';

/** Where a server-streaming handler writes its messages. */
export interface MessageSink {
  /** Writes already-framed messages (5-byte prefix + body each), in order. False: wait for `onDrain`. */
  write(frames: readonly Uint8Array[]): boolean;
  /** bytes (fast path) or messages (fallback) accepted and not yet taken by the transport */
  readonly pending: number;
  /** the bound on `pending` above which a writer should wait */
  readonly limit: number;
  onDrain(cb: () => void): void;
  /** true when writing straight to the HTTP/2 stream */
  readonly fast: boolean;
}

/** A gRPC message frame: uncompressed flag, big-endian length, body. */
export function frame(body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(body.length + 5);
  out[0] = 0;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

interface BaseCallShape {
  readonly stream: ServerHttp2Stream;
  maybeSendMetadata(): void;
}

function baseCallOf(call: ServerWritableStream<unknown, unknown>): BaseCallShape | undefined {
  const inner = (call as unknown as { call?: Partial<BaseCallShape> }).call;
  const stream = inner?.stream as Partial<ServerHttp2Stream> | undefined;
  if (!inner || typeof inner.maybeSendMetadata !== 'function' || !stream
    || typeof stream.write !== 'function' || typeof stream.writableLength !== 'number' || typeof stream.once !== 'function') return undefined;
  return inner as BaseCallShape;
}

/** Bytes (fast path) kept in user space per client before the writer waits. */
export const DEFAULT_SINK_BYTES = 4 * 1024 * 1024;
/** Messages kept per client on the fallback path before the writer waits. */
const FALLBACK_MESSAGES = 8_192;

export function messageSink(call: ServerWritableStream<unknown, unknown>, limitBytes = DEFAULT_SINK_BYTES): MessageSink {
  const base = baseCallOf(call);
  if (base) {
    let headersSent = false;
    const stream = base.stream;
    return {
      fast: true,
      limit: limitBytes,
      get pending() { return stream.writableLength; },
      write(frames) {
        if (frames.length === 0 || stream.destroyed) return !stream.destroyed;
        if (!headersSent) { base.maybeSendMetadata(); headersSent = true; }
        const batch = frames.length === 1 ? frames[0]! : Buffer.concat(frames as Uint8Array[]);
        stream.write(batch);
        return stream.writableLength <= limitBytes;
      },
      onDrain(cb) { stream.once('drain', cb); },
    };
  }
  // grpc-js's own path: the call's serializer must pass bodies through (see HubbleServer)
  return {
    fast: false,
    limit: FALLBACK_MESSAGES,
    get pending() { return call.writableLength; },
    write(frames) {
      for (const f of frames) call.write(Buffer.from(f.buffer, f.byteOffset + 5, f.byteLength - 5));
      return call.writableLength <= FALLBACK_MESSAGES;
    },
    onDrain(cb) { call.once('drain', cb); },
  };
}
