/**
 * A Hubble API client for tests, built the way any gRPC client is: @grpc/proto-loader over the same
 * .proto files the server loads (src/hubble/proto/), with @grpc/grpc-js. Messages come back as
 * plain objects with the proto's field names, enums as names and 64-bit numbers as strings.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { PROTO_DIR, PROTO_FILES } from '../../src/hubble/proto.js';

const definition = protoLoader.loadSync(PROTO_FILES.map((f) => join(PROTO_DIR, f)), {
  keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR],
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  observer: { Observer: grpc.ServiceClientConstructor };
  peer: { Peer: grpc.ServiceClientConstructor };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = Record<string, any>;

export interface HubbleClient {
  readonly observer: grpc.Client;
  readonly peer: grpc.Client;
  readonly health: grpc.Client;
  close(): void;
}

/** target: "127.0.0.1:4244" or "unix:/path". */
export function hubbleClient(target: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}): HubbleClient {
  const observer = new pkg.observer.Observer(target, credentials, options);
  const peer = new pkg.peer.Peer(target, credentials, options);
  const health = new pkg.grpc.health.v1.Health(target, credentials, options);
  return { observer, peer, health, close: () => { observer.close(); peer.close(); health.close(); } };
}

/** A unary call as a promise. */
export function unary(client: grpc.Client, method: string, request: Message = {}, deadlineMs = 5_000): Promise<Message> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: Message, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Message) => void) => void>)[method]!(
      request, { deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/** Everything a server stream sends until it ends (or fails: the error is thrown). */
export function collect(client: grpc.Client, method: string, request: Message, deadlineMs = 10_000): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    const out: Message[] = [];
    const call = (client as unknown as Record<string, (r: Message, o: grpc.CallOptions) => grpc.ClientReadableStream<Message>>)[method]!(
      request, { deadline: Date.now() + deadlineMs });
    call.on('data', (m: Message) => out.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

/** A server stream kept open: its messages so far, a wait for a condition, and cancel. */
export interface OpenStream {
  readonly messages: Message[];
  error: grpc.ServiceError | undefined;
  ended: boolean;
  waitFor(pred: (all: Message[]) => boolean, timeoutMs?: number): Promise<void>;
  cancel(): void;
}

export function open(client: grpc.Client, method: string, request: Message): OpenStream {
  const call = (client as unknown as Record<string, (r: Message) => grpc.ClientReadableStream<Message>>)[method]!(request);
  const s: OpenStream = {
    messages: [],
    error: undefined,
    ended: false,
    async waitFor(pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(s.messages)) {
        if (s.error && s.error.code !== grpc.status.CANCELLED) throw s.error;
        if (Date.now() > deadline) throw new Error(`stream ${method}: condition not met within ${timeoutMs} ms (${s.messages.length} messages)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    cancel: () => call.cancel(),
  };
  call.on('data', (m: Message) => s.messages.push(m));
  call.on('error', (e: grpc.ServiceError) => { s.error = e; });
  call.on('end', () => { s.ended = true; });
  return s;
}

/** The flows of GetFlows responses. */
export const flowsOf = (msgs: readonly Message[]): Message[] => msgs.filter((m) => m['flow']).map((m) => m['flow'] as Message);
export const lostOf = (msgs: readonly Message[]): Message[] => msgs.filter((m) => m['lost_events']).map((m) => m['lost_events'] as Message);
