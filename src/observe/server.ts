/**
 * The agent side of `fovea observe`: an EventSink that keeps a bounded history of recent events and
 * streams them, filtered, to clients on a local Unix socket (and on a TCP address only when one is
 * configured — never by default: events name pods and addresses).
 *
 * Memory is bounded whatever the clients do:
 * - history: a ring of `historySize` events (references; the events are shared with other sinks);
 * - per client: at most `maxClientBufferBytes` written to its socket and not yet taken by the
 *   kernel, plus, while its history is being sent, a queue of at most `historySize` further events
 *   (references). A client that reads too slowly loses events — counted, and told with one
 *   {type:'lost'} line once it has caught up; nothing else waits for it;
 * - at most `maxClients` clients.
 * With no client connected, publish() only appends to the history.
 */
import { parseHostPort } from '../net/address.js';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { bindUnixSocket, removeOwnSocket } from '../net/unix-socket.js';
import type { EventSink, NetworkEvent } from '../events/types.js';
import type { Logger } from '../log.js';
import { compileFilter, type EventMatcher } from './filter.js';
import {
  DEFAULT_OBSERVE_SOCKET, LineSplitter, MAX_REQUEST_BYTES, encodeMessage, eventLine, parseRequest, type ObserveRequest,
} from './protocol.js';

export { DEFAULT_OBSERVE_SOCKET };
export const DEFAULT_HISTORY_SIZE = 8192;
/** Per client: ~2000 events of ~500 bytes queued in user space before events are dropped for it. */
export const DEFAULT_MAX_CLIENT_BUFFER_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CLIENTS = 32;
/** A client that has not sent its request by then is disconnected. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface ObserveServerOptions {
  /** Unix socket path (DEFAULT_OBSERVE_SOCKET in the agent) */
  readonly socketPath: string;
  /** also listen on this TCP address, "host:port" or "[v6]:port"; unauthenticated: only when configured */
  readonly tcpAddress?: string;
  /** events kept for --last/--since (default DEFAULT_HISTORY_SIZE) */
  readonly historySize?: number;
  readonly logger: Logger;
  readonly maxClientBufferBytes?: number;
  readonly maxClients?: number;
  readonly requestTimeoutMs?: number;
}

/** The socket cannot be served: in use by another agent, not a socket, no permission, bad address. */
export class ObserveServerError extends Error {
  override readonly name = 'ObserveServerError';
}

export type ClientState = 'request' | 'replay' | 'live' | 'closed';

export interface ObserveClientStats {
  readonly state: ClientState;
  readonly follow: boolean;
  /** bytes written to the socket that the kernel has not taken yet */
  readonly bufferedBytes: number;
  /** events waiting in user space (history being sent, and events that arrived meanwhile) */
  readonly queuedEvents: number;
  readonly sentEvents: number;
  readonly lostEvents: number;
}

/** "127.0.0.1:4245", "[::1]:4245", ":4245" (every address) → host and port. */
export function parseTcpAddress(text: string): { host: string; port: number } {
  try {
    return parseHostPort(text, 'observe TCP address');
  } catch (err) {
    throw new ObserveServerError((err as Error).message);
  }
}

/** A ring of the most recent events, oldest overwritten first. */
class History {
  private readonly ring: (NetworkEvent | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<NetworkEvent | undefined>(capacity);
  }

  push(ev: NetworkEvent): void {
    this.ring[this.next] = ev;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** The newest `last` events that match, oldest first. */
  select(match: EventMatcher, last: number): NetworkEvent[] {
    const out: NetworkEvent[] = [];
    for (let i = 1; i <= this.size && out.length < last; i++) {
      const ev = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      if (match(ev)) out.push(ev);
    }
    return out.reverse();
  }
}

class Client {
  state: ClientState = 'request';
  follow = false;
  match: EventMatcher = () => false;
  /** events to send before live ones: the history answer, then what arrived meanwhile */
  private queue: (NetworkEvent | undefined)[] = [];
  private head = 0;
  private queueLimit = 0;
  /** events dropped since the client last caught up (> 0: drop everything until it has) */
  private pendingLost = 0;
  sent = 0;
  lost = 0;

  constructor(readonly socket: Socket, private readonly maxBuffer: number, private readonly liveQueueLimit: number) {}

  get queued(): number {
    return this.queue.length - this.head;
  }

  start(req: ObserveRequest, match: EventMatcher, history: NetworkEvent[]): void {
    this.follow = req.follow;
    this.match = match;
    this.queue = history;
    this.queueLimit = history.length + this.liveQueueLimit;
    this.state = 'replay';
    this.pump();
  }

  /** A live event (follow clients only). Never blocks, never throws. */
  offer(ev: NetworkEvent, line: () => string): void {
    if (!this.match(ev)) return;
    if (this.pendingLost > 0) { this.drop(); return; }
    if (this.state === 'replay') {
      if (this.queue.length < this.queueLimit) this.queue.push(ev);
      else this.drop();
      return;
    }
    if (this.socket.destroyed) return;
    if (this.socket.writableLength > this.maxBuffer) { this.drop(); return; }
    this.socket.write(line());
    this.sent++;
  }

  private drop(): void {
    this.pendingLost++;
    this.lost++;
  }

  /** Send what is queued while the socket takes it; called again on 'drain'. */
  pump(): void {
    if ((this.state !== 'replay' && this.state !== 'live') || this.socket.destroyed) return;
    const s = this.socket;
    while (this.head < this.queue.length) {
      if (s.writableLength > this.maxBuffer) return; // write() returned false: 'drain' comes
      const ev = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      s.write(eventLine(ev));
      this.sent++;
    }
    this.queue = [];
    this.head = 0;
    if (s.writableLength > this.maxBuffer) return;
    if (this.pendingLost > 0) {
      s.write(encodeMessage({ type: 'lost', count: this.pendingLost }));
      this.pendingLost = 0;
    }
    if (this.state === 'replay') {
      if (this.follow) {
        this.state = 'live';
      } else {
        this.state = 'closed';
        s.end(encodeMessage({ type: 'end' }));
      }
    }
  }

  refuse(message: string): void {
    this.state = 'closed';
    this.queue = [];
    this.head = 0;
    if (!this.socket.destroyed) this.socket.end(encodeMessage({ type: 'error', message }));
  }

  stats(): ObserveClientStats {
    return {
      state: this.state, follow: this.follow, bufferedBytes: this.socket.writableLength,
      queuedEvents: this.queued, sentEvents: this.sent, lostEvents: this.lost,
    };
  }
}

const listen = (server: Server, arg: string | { host: string; port: number }): Promise<void> =>
  new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const done = (): void => { server.off('error', onError); resolve(); };
    if (typeof arg === 'string') server.listen(arg, done);
    else server.listen(arg.port, arg.host, done);
  });

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

export class ObserveServer implements EventSink {
  private readonly log: Logger;
  private readonly history: History;
  private readonly maxBuffer: number;
  private readonly maxClients: number;
  private readonly requestTimeoutMs: number;
  private readonly all = new Set<Client>();
  /** follow clients past their request: the only ones publish() looks at */
  private readonly live = new Set<Client>();
  private unixServer: Server | undefined;
  private tcpServer: Server | undefined;
  /** inode of our socket file, so stop() never removes another agent's */
  private socketIno: number | undefined;
  private stopping: Promise<void> | undefined;
  /** events dropped for slow clients, cumulative (clients that left included) */
  private lostTotal = 0;

  private constructor(private readonly opts: ObserveServerOptions) {
    this.log = opts.logger.child({ component: 'observe' });
    const size = opts.historySize ?? DEFAULT_HISTORY_SIZE;
    if (!Number.isInteger(size) || size < 1) throw new ObserveServerError(`observe history size must be a whole number ≥ 1 (got ${size})`);
    this.history = new History(size);
    // at least the socket's own high-water mark, so that a refused write always leads to 'drain'
    this.maxBuffer = Math.max(64 * 1024, opts.maxClientBufferBytes ?? DEFAULT_MAX_CLIENT_BUFFER_BYTES);
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /**
   * Listens on the Unix socket (directory created 0755, socket 0600; a stale socket file is
   * replaced, a live one is an error) and on the TCP address when given.
   */
  static async start(opts: ObserveServerOptions): Promise<ObserveServer> {
    const server = new ObserveServer(opts);
    try {
      await server.listenUnix();
      if (opts.tcpAddress !== undefined && opts.tcpAddress !== '') await server.listenTcp(opts.tcpAddress);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** The TCP address actually bound (port 0 resolved), when TCP is configured. */
  tcpAddress(): AddressInfo | undefined {
    const a = this.tcpServer?.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  publish(events: readonly NetworkEvent[]): void {
    for (const ev of events) this.history.push(ev);
    if (this.live.size === 0) return;
    for (const ev of events) {
      let line: string | undefined;
      const lineOf = (): string => (line ??= eventLine(ev)); // serialised once, for the clients that want it
      for (const c of this.live) {
        try {
          c.offer(ev, lineOf);
        } catch (err) {
          this.log.debug({ err }, 'observe client write failed; disconnecting it');
          c.socket.destroy();
          this.forget(c);
        }
      }
    }
  }

  /** Connected clients (including those that have not sent their request yet). */
  clients(): number {
    return this.all.size;
  }

  /** Events dropped for clients that read too slowly since start, cumulative. */
  lostEvents(): number {
    let live = 0;
    for (const c of this.all) live += c.lost;
    return this.lostTotal + live;
  }

  clientStats(): ObserveClientStats[] {
    return [...this.all].map((c) => c.stats());
  }

  /** Closes every client and listener and removes the socket file. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    for (const c of this.all) {
      this.lostTotal += c.lost;
      c.socket.destroy();
    }
    this.all.clear();
    this.live.clear();
    const servers = [this.unixServer, this.tcpServer].filter((s): s is Server => s !== undefined && s.listening);
    await Promise.all(servers.map(close));
    this.removeSocketFile();
  }

  private removeSocketFile(): void {
    removeOwnSocket(this.opts.socketPath, this.socketIno);
    this.socketIno = undefined;
  }

  // -------------------------------------------------------------------------------------------

  private async listenUnix(): Promise<void> {
    const path = this.opts.socketPath;
    const server = this.newServer();
    this.unixServer = server;
    this.socketIno = await bindUnixSocket(path, {
      what: 'observe socket', hint: 'configure another observe socket path', error: ObserveServerError, logger: this.log,
    }, (p) => listen(server, p));
    this.log.info({ path, historySize: this.history.capacity }, 'observe socket listening');
  }

  private async listenTcp(address: string): Promise<void> {
    const { host, port } = parseTcpAddress(address);
    const server = this.newServer();
    this.tcpServer = server;
    try {
      await listen(server, { host, port });
    } catch (err) {
      throw new ObserveServerError(`cannot listen on observe TCP address ${address}: ${(err as Error).message}`);
    }
    this.log.warn({ address: this.tcpAddress() }, 'observe also listens on TCP: anyone who can reach this address sees every event (no authentication)');
  }

  private newServer(): Server {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    server.on('error', (err) => this.log.warn({ err }, 'observe listener error'));
    return server;
  }

  private accept(socket: Socket): void {
    const client = new Client(socket, this.maxBuffer, this.history.capacity);
    socket.on('error', (err) => this.log.debug({ err }, 'observe client socket error'));
    socket.on('close', () => this.forget(client));
    socket.on('drain', () => client.pump());
    if (this.all.size >= this.maxClients) {
      client.refuse(`too many fovea observe clients on this agent (${this.maxClients}); try again later`);
      return;
    }
    this.all.add(client);
    if (socket.remoteAddress !== undefined) socket.setNoDelay(true);
    const timer = setTimeout(() => client.refuse(`no request within ${this.requestTimeoutMs} ms`), this.requestTimeoutMs);
    timer.unref();
    const splitter = new LineSplitter(MAX_REQUEST_BYTES);
    socket.on('data', (chunk: Buffer) => {
      if (client.state !== 'request') return; // nothing more is expected from a client
      const lines = splitter.push(chunk);
      if (lines === undefined) {
        clearTimeout(timer);
        client.refuse(`request longer than ${MAX_REQUEST_BYTES} bytes`);
        return;
      }
      const line = lines[0];
      if (line === undefined) return;
      clearTimeout(timer);
      const req = parseRequest(line);
      if (!req.ok) {
        this.log.debug({ message: req.message }, 'observe client sent a bad request');
        client.refuse(req.message);
        return;
      }
      const match = compileFilter(req.value.filter);
      client.start(req.value, match, this.history.select(match, req.value.last ?? Infinity));
      if (req.value.follow && (client.state as ClientState) !== 'closed') this.live.add(client); // start() moved it on
    });
    // The client ended its side: before a request, it sent none; while following, it has gone
    // (a history-only request is still answered, for clients that half-close after the request).
    socket.on('end', () => {
      if (client.state === 'request') client.refuse('connection ended before a request');
      else if (client.follow) socket.destroy();
    });
  }

  private forget(client: Client): void {
    client.state = 'closed';
    if (this.all.delete(client)) this.lostTotal += client.lost;
    this.live.delete(client);
  }
}
