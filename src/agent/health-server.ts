/**
 * Liveness and readiness over HTTP for Kubernetes probes (GET /livez, GET /readyz), only when
 * `health.address` is set. With hostNetwork, bind 127.0.0.1 and give the probes `host: 127.0.0.1`
 * (the kubelet runs in the node's network namespace): nothing reachable from the network.
 *
 * - live: the agent collects its maps on schedule (the last collection is recent) — a stuck event
 *   loop or a dead export timer fails it, an unreachable collector does not;
 * - ready: live, at least one probe is up, and a first collection has happened.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { parseHostPort } from '../net/address.js';

export interface HealthState {
  /** Date.now() of the last metric collection, undefined before the first */
  readonly lastCollectAt: number | undefined;
  readonly probesUp: number;
  readonly stopping: boolean;
}

export interface HealthVerdict {
  readonly ok: boolean;
  readonly detail: string;
}

/** The verdicts, pure. `staleAfterMs`: how old the last collection may be while live. */
export function judge(s: HealthState, startedAt: number, now: number, staleAfterMs: number): { live: HealthVerdict; ready: HealthVerdict } {
  let live: HealthVerdict;
  if (s.stopping) live = { ok: false, detail: 'stopping' };
  else if (s.lastCollectAt === undefined) {
    live = now - startedAt <= staleAfterMs
      ? { ok: true, detail: 'starting: no collection yet' }
      : { ok: false, detail: `no collection ${now - startedAt} ms after start (limit ${staleAfterMs} ms)` };
  } else {
    const age = now - s.lastCollectAt;
    live = age <= staleAfterMs ? { ok: true, detail: `last collection ${age} ms ago` }
      : { ok: false, detail: `last collection ${age} ms ago (limit ${staleAfterMs} ms)` };
  }
  let ready: HealthVerdict;
  if (!live.ok) ready = { ok: false, detail: `not live: ${live.detail}` };
  else if (s.probesUp === 0) ready = { ok: false, detail: 'no probe is up' };
  else if (s.lastCollectAt === undefined) ready = { ok: false, detail: 'waiting for the first collection' };
  else ready = { ok: true, detail: `${s.probesUp} probe(s) up; ${live.detail}` };
  return { live, ready };
}

export class HealthServer {
  private constructor(private readonly server: Server) {}

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  static async start(opts: {
    address: string; state: () => HealthState; staleAfterMs: number; logger: Logger; now?: () => number;
  }): Promise<HealthServer> {
    const { host, port } = parseHostPort(opts.address, 'health.address');
    const now = opts.now ?? Date.now;
    const startedAt = now();
    const server = createServer((req, res) => {
      const path = req.url?.split('?')[0];
      if (req.method !== 'GET' || (path !== '/livez' && path !== '/readyz')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /livez or /readyz\n');
        return;
      }
      const v = judge(opts.state(), startedAt, now(), opts.staleAfterMs)[path === '/livez' ? 'live' : 'ready'];
      res.writeHead(v.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${v.ok ? 'ok' : 'fail'}: ${v.detail}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot serve health.address ${opts.address}: ${err.message}`)));
      server.listen(port, host, () => resolve());
    });
    const self = new HealthServer(server);
    opts.logger.info({ address: self.address }, 'health endpoint listening (/livez, /readyz)');
    return self;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
