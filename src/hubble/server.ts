/**
 * The Hubble API server of the agent (opt-in: `hubble.enabled`): @grpc/grpc-js serving
 * observer.Observer, peer.Peer and grpc.health.v1.Health on a TCP address (default :4244, the port
 * a Cilium node serves) and a Unix socket (0600), so `hubble observe`, `hubble status`, Hubble
 * Relay and Hubble UI work against Fovea. TCP is TLS (mTLS with a client CA, certificates
 * reloaded) unless plaintext is asked for explicitly; the Unix socket is plaintext and root-only.
 * As an event output it turns every drop event and flow record into a Hubble flow.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { isIPv6 } from 'node:net';
import type { EventOutput } from '../events/pipeline.js';
import type { NetworkEvent } from '../events/types.js';
import type { Logger } from '../log.js';
import { EVENT_LOSS_STAGE } from '../names.js';
import { parseHostPort } from '../net/address.js';
import { bindUnixSocket, removeOwnSocket } from '../net/unix-socket.js';
import { messageSink } from './grpc-sink.js';
import { HubbleObserver, RpcError, STATUS } from './observer.js';
import { type ChangeNotification, PeerService } from './peer.js';
import { hubbleTypes } from './proto.js';
import { ReloadingCertificates, type TlsFiles } from './tls.js';

/** The health service names `hubble status` and Relay ask for. */
export const OBSERVER_SERVICE_NAME = 'hubble.server.Observer';
const SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3;

export class HubbleServerError extends Error {
  override readonly name = 'HubbleServerError';
}

export interface HubbleServerOptions {
  readonly observer: HubbleObserver;
  readonly peer?: PeerService;
  readonly logger: Logger;
  /** "host:port" / "[v6]:port" / ":port"; empty or absent: no TCP */
  readonly address?: string;
  /** Unix socket path; empty or absent: none */
  readonly socket?: string;
  readonly tls?: TlsFiles & { readonly reloadIntervalMs: number };
  /** serve TCP without TLS (only when asked for) */
  readonly insecure?: boolean;
  /** concurrent GetFlows calls; more are refused with RESOURCE_EXHAUSTED */
  readonly maxClients?: number;
}

const RESOURCE_EXHAUSTED = 8;
const NOT_FOUND = 5;

type Handler = grpc.UntypedHandleCall;

/** A grpc-js service definition from a protobufjs service: requests stay raw bytes, responses as given. */
function definition(svc: protobuf.Service, serialize: (method: string) => (value: unknown) => Buffer): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Buffer, unknown>> = {};
  for (const m of svc.methodsArray) {
    def[m.name] = {
      path: `/${svc.fullName.replace(/^\./, '')}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: serialize(m.name),
      responseDeserialize: (b: Buffer) => b,
    };
  }
  return def as grpc.ServiceDefinition;
}

const encoder = (type: protobuf.Type) => (value: unknown): Buffer => Buffer.from(type.encode(value as object).finish());
const passThrough = (value: unknown): Buffer => value as Buffer;

function grpcError(code: number, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

export class HubbleServer {
  private readonly server: grpc.Server;
  private readonly log: Logger;
  private readonly types = hubbleTypes();
  private certificates: ReloadingCertificates | undefined;
  private socketIno: number | undefined;
  private tcpPort: number | undefined;
  private serving = true;
  private readonly healthWatchers = new Set<grpc.ServerWritableStream<Buffer, unknown>>();
  private readonly peerCalls = new Set<() => void>();
  private flowCalls = 0;
  /** GetFlows calls that wrote straight to HTTP/2 (fast) or through grpc-js per message */
  private readonly writePaths = { fast: 0, fallback: 0 };
  private stopping: Promise<void> | undefined;

  private constructor(private readonly opts: HubbleServerOptions) {
    this.log = opts.logger.child({ component: 'hubble' });
    // keepalive as a Cilium node: clients (Relay) may ping idle connections
    this.server = new grpc.Server({
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    });
    const t = this.types;
    this.server.addService(definition(t.Observer, (m) => (m === 'GetFlows' ? passThrough
      : encoder(m === 'GetAgentEvents' ? t.GetAgentEventsResponse : m === 'GetDebugEvents' ? t.GetDebugEventsResponse
        : m === 'GetNodes' ? t.GetNodesResponse : m === 'GetNamespaces' ? t.GetNamespacesResponse : t.ServerStatusResponse))),
    this.observerHandlers());
    this.server.addService(definition(t.Peer, () => encoder(t.ChangeNotification)), { Notify: this.notify.bind(this) as Handler });
    this.server.addService(definition(t.Health, () => encoder(t.HealthCheckResponse)), {
      Check: this.check.bind(this) as Handler, Watch: this.watch.bind(this) as Handler,
    });
  }

  /** Binds what is configured; throws HubbleServerError (after releasing what it bound) when it cannot. */
  static async start(opts: HubbleServerOptions): Promise<HubbleServer> {
    const s = new HubbleServer(opts);
    try {
      await s.bind();
    } catch (err) {
      await s.stop();
      throw err instanceof HubbleServerError ? err : new HubbleServerError((err as Error).message);
    }
    return s;
  }

  /** The TCP port bound (port 0 resolved), when TCP is configured. */
  get port(): number | undefined {
    return this.tcpPort;
  }

  get socketPath(): string | undefined {
    return this.opts.socket || undefined;
  }

  /** How GetFlows calls wrote (grpc-sink.ts): a test keeps the fast path in use. */
  writePathStats(): { fast: number; fallback: number } {
    return { ...this.writePaths };
  }

  /** TLS reload counters (undefined without TLS). */
  tlsStats(): { reloads: number; failures: number } | undefined {
    const c = this.certificates;
    return c ? { reloads: c.reloads, failures: c.reloadFailures } : undefined;
  }

  /** The server as an event output of the agent. */
  output(): EventOutput {
    const obs = this.opts.observer;
    return {
      name: 'hubble',
      publish: (events: readonly NetworkEvent[]) => obs.publish(events),
      kernelLoss: (count: number) => obs.reportKernelLoss(count),
      stats: () => {
        const s = obs.stats();
        return { hubbleClients: s.clients, hubbleFlowsSent: s.sent, lost: { [EVENT_LOSS_STAGE.hubbleSlowClient]: s.overrun } };
      },
      close: () => this.stop(),
    };
  }

  /** Stops accepting, ends every call, releases the socket. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.serving = false;
    for (const w of this.healthWatchers) {
      w.write({ status: NOT_SERVING });
      w.end();
    }
    this.healthWatchers.clear();
    for (const end of this.peerCalls) end();
    this.peerCalls.clear();
    this.opts.observer.closeAll();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 1_000);
      force.unref();
      this.server.tryShutdown(() => { clearTimeout(force); resolve(); });
    });
    this.certificates?.stop();
    removeOwnSocket(this.opts.socket ?? '', this.socketIno);
    this.socketIno = undefined;
  }

  // ---- binding ----

  private async bind(): Promise<void> {
    const { address, socket, tls, insecure } = this.opts;
    if (!address && !socket) throw new HubbleServerError('hubble: neither hubble.address nor hubble.socket is set: nothing to serve on');
    if (address) {
      let host: string, port: number;
      try {
        ({ host, port } = parseHostPort(address, 'hubble.address'));
      } catch (err) {
        throw new HubbleServerError((err as Error).message);
      }
      let creds: grpc.ServerCredentials;
      if (tls) {
        this.certificates = new ReloadingCertificates(tls, tls.reloadIntervalMs, this.log);
        creds = this.certificates.credentials();
      } else if (insecure) {
        creds = grpc.ServerCredentials.createInsecure();
      } else {
        throw new HubbleServerError('hubble.address is set without TLS: give hubble.tls.certFile and hubble.tls.keyFile, or set hubble.tls.insecure=true to serve flows in plaintext on the network');
      }
      const target = isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
      this.tcpPort = await this.bindTarget(target, creds, `hubble.address ${address}`);
      const mode = tls ? (tls.clientCaFile ? 'mTLS' : 'TLS') : 'plaintext';
      if (mode === 'plaintext') this.log.warn({ address: target, port: this.tcpPort }, 'Hubble API served without TLS: anyone who can reach this address sees every flow');
      else this.log.info({ address: target, port: this.tcpPort, mode }, 'Hubble API listening');
    }
    if (socket) {
      this.socketIno = await bindUnixSocket(socket, {
        what: 'Hubble socket', hint: 'configure another hubble.socket', error: HubbleServerError, logger: this.log,
      }, async (p) => { await this.bindTarget(`unix:${p}`, grpc.ServerCredentials.createInsecure(), `hubble.socket ${socket}`); });
      this.log.info({ socket }, 'Hubble API listening on the Unix socket');
    }
  }

  private bindTarget(target: string, creds: grpc.ServerCredentials, what: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(target, creds, (err, port) => {
        if (err) reject(new HubbleServerError(`cannot serve ${what}: ${err.message}`));
        else resolve(port);
      });
    });
  }

  // ---- observer.Observer ----

  private observerHandlers(): grpc.UntypedServiceImplementation {
    const obs = this.opts.observer;
    const unary = (answer: () => unknown): Handler => ((_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      try {
        cb(null, answer());
      } catch (err) {
        cb(err instanceof RpcError ? grpcError(err.code, err.message) : grpcError(STATUS.internal, (err as Error).message));
      }
    }) as Handler;
    return {
      GetFlows: this.getFlows.bind(this) as Handler,
      GetAgentEvents: this.noEvents.bind(this) as Handler,
      GetDebugEvents: this.noEvents.bind(this) as Handler,
      // as a Cilium node: Relay answers GetNodes, a node does not
      GetNodes: unary(() => { throw new RpcError(STATUS.unimplemented, 'GetNodes not implemented'); }),
      GetNamespaces: unary(() => ({ namespaces: obs.namespaceList() })),
      ServerStatus: unary(() => obs.status()),
    };
  }

  private getFlows(call: grpc.ServerWritableStream<Buffer, unknown>): void {
    const max = this.opts.maxClients ?? 64;
    if (this.flowCalls >= max) {
      call.emit('error', grpcError(RESOURCE_EXHAUSTED, `too many GetFlows calls on this node (${max}); try again later`));
      return;
    }
    let reader: { cancel(): void } | undefined;
    let ended = false;
    const end = (err?: RpcError): void => {
      if (ended) return;
      ended = true;
      this.flowCalls--;
      if (err && err.code !== STATUS.cancelled) call.emit('error', grpcError(err.code, err.message));
      else if (!call.cancelled) call.end();
    };
    this.flowCalls++;
    call.on('cancelled', () => reader?.cancel());
    try {
      const sink = messageSink(call);
      this.writePaths[sink.fast ? 'fast' : 'fallback']++;
      if (!sink.fast && this.writePaths.fallback === 1) {
        this.log.warn('grpc-js internals differ from the pinned version: GetFlows writes message by message (slower)');
      }
      reader = this.opts.observer.getFlows(call.request, sink, end);
    } catch (err) {
      end(err instanceof RpcError ? err : new RpcError(STATUS.internal, (err as Error).message));
    }
  }

  /** Fovea has no agent or debug events: a request ends at once, a follow stays open and empty. */
  private noEvents(call: grpc.ServerWritableStream<Buffer, unknown>): void {
    const req = this.types.GetAgentEventsRequest.decode(call.request) as { first?: boolean; follow?: boolean };
    if (req.first && req.follow) {
      call.emit('error', grpcError(STATUS.invalidArgument, 'first cannot be specified with follow'));
      return;
    }
    if (!req.follow) call.end();
  }

  // ---- peer.Peer ----

  private notify(call: grpc.ServerWritableStream<Buffer, unknown>): void {
    const peer = this.opts.peer;
    if (!peer) {
      call.emit('error', grpcError(STATUS.unimplemented, 'the peer service needs the node list (Kubernetes identity)'));
      return;
    }
    let stop: (() => void) | undefined;
    const end = (): void => {
      stop?.();
      this.peerCalls.delete(end);
      if (!call.cancelled && !call.writableEnded) call.end();
    };
    this.peerCalls.add(end);
    call.on('cancelled', end);
    call.on('error', end);
    stop = peer.notify((n: ChangeNotification) => { if (!call.cancelled) call.write(n); });
  }

  // ---- grpc.health.v1.Health ----

  private statusOf(service: string): number {
    if (service === '' || service === OBSERVER_SERVICE_NAME || (service === 'peer.Peer' && this.opts.peer)) return this.serving ? SERVING : NOT_SERVING;
    return SERVICE_UNKNOWN;
  }

  private check(call: grpc.ServerUnaryCall<Buffer, unknown>, cb: grpc.sendUnaryData<unknown>): void {
    const { service } = this.types.HealthCheckRequest.decode(call.request) as { service?: string };
    const st = this.statusOf(service ?? '');
    if (st === SERVICE_UNKNOWN) cb(grpcError(NOT_FOUND, `unknown service ${JSON.stringify(service)}`));
    else cb(null, { status: st });
  }

  private watch(call: grpc.ServerWritableStream<Buffer, unknown>): void {
    const { service } = this.types.HealthCheckRequest.decode(call.request) as { service?: string };
    call.write({ status: this.statusOf(service ?? '') });
    if (!this.serving) { call.end(); return; }
    this.healthWatchers.add(call);
    call.on('cancelled', () => this.healthWatchers.delete(call));
  }
}
