/**
 * The demo's traffic: four independent lanes between random pairs of lab pods, each looping
 * "one operation, a pause" until stopped, with an intensity that swings over INTENSITY_PERIOD_MS so
 * the view moves:
 *
 *   tcp     normal TCP transfers to a sink server           (traffic only)
 *   udp     paced UDP datagrams to a sink                   (traffic only)
 *   deny    UDP datagrams and TCP SYNs to the nft deny port → NETFILTER_DROP
 *   closed  UDP datagrams and TCP SYNs to a closed port     → NO_SOCKET
 *
 * The deny lane works in bursts with quiet gaps, so exports often land between bursts and the
 * live ground-truth line can show the agent and nft agreeing. A failed operation is counted and
 * the lane goes on; stop() waits for the operations in flight (each bounded to a second or two).
 */
import type { Lab } from '../lab/lab.js';
import { sendUdp, startTcpServer, startUdpSink, tcpConnectAttempts, tcpTransfer, type Server } from '../lab/traffic.js';

export const TCP_PORT = 8080;
export const UDP_PORT = 9000;
/** Nothing listens here. */
export const CLOSED_PORT = 9999;
export const INTENSITY_PERIOD_MS = 30_000;
/** SYNs to the deny port go unanswered; give up before the first retransmit (1 s). */
const DENY_CONNECT_TIMEOUT_MS = 250;

export interface TrafficStats {
  /** 0..1, the current swing of the load */
  readonly intensity: number;
  readonly tcpTransfers: number;
  readonly tcpBytes: number;
  readonly udpDatagrams: number;
  readonly udpBytes: number;
  /** datagrams / connection attempts sent to the nft deny port */
  readonly denyUdp: number;
  readonly denyTcp: number;
  /** datagrams / connection attempts sent to the closed port */
  readonly closedUdp: number;
  readonly closedTcp: number;
  /** What went to the nft deny port, by source pod (its netns name = its workload name). */
  readonly denyByPod: Readonly<Record<string, { readonly udp: number; readonly tcp: number }>>;
  readonly errors: number;
  readonly lastError?: string;
}

export interface TrafficLoopOptions {
  readonly lab: Lab;
  /** Default Math.random; tests pass a seeded one. */
  readonly random?: () => number;
  readonly now?: () => number;
}

/** Intensity in 0.1..1 at time t: a slow sine so rates rise and fall. */
export function intensityAt(elapsedMs: number): number {
  return 0.55 + 0.45 * Math.sin((2 * Math.PI * elapsedMs) / INTENSITY_PERIOD_MS - Math.PI / 2);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class TrafficLoop {
  private readonly s: Mutable<TrafficStats> = {
    intensity: 0, tcpTransfers: 0, tcpBytes: 0, udpDatagrams: 0, udpBytes: 0,
    denyUdp: 0, denyTcp: 0, closedUdp: 0, closedTcp: 0, denyByPod: {}, errors: 0,
  };
  private readonly denyByPod = new Map<string, { udp: number; tcp: number }>();
  private readonly abort = new AbortController();
  private lanes: Promise<void>[] = [];
  private stopping: Promise<void> | undefined;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly t0: number;

  private constructor(private readonly lab: Lab, private readonly servers: Server<unknown>[], opts: TrafficLoopOptions) {
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
  }

  /** Starts a TCP and a UDP sink in every pod, then the lanes. Needs at least two pods. */
  static async start(opts: TrafficLoopOptions): Promise<TrafficLoop> {
    const { lab } = opts;
    if (lab.pods.length < 2) throw new Error(`the demo traffic needs at least 2 pods, the lab has ${lab.pods.length}`);
    const servers: Server<unknown>[] = [];
    try {
      for (const p of lab.pods) {
        servers.push(await startTcpServer(lab, p.index, TCP_PORT), await startUdpSink(lab, p.index, UDP_PORT));
      }
    } catch (err) {
      await Promise.allSettled(servers.map((s) => s.stop()));
      throw err;
    }
    const loop = new TrafficLoop(lab, servers, opts);
    loop.lanes = [loop.lane(() => loop.tcp()), loop.lane(() => loop.udp()), loop.lane(() => loop.deny()), loop.lane(() => loop.closed())];
    return loop;
  }

  stats(): TrafficStats {
    const denyByPod = Object.fromEntries([...this.denyByPod].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([pod, c]) => [pod, { ...c }]));
    return { ...this.s, denyByPod, intensity: Math.round(this.intensity() * 100) / 100 };
  }

  /** Stops every lane after its current operation, then the servers. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      await Promise.all(this.lanes);
      await Promise.allSettled(this.servers.map((s) => s.stop()));
    })();
    return this.stopping;
  }

  private intensity(): number {
    return intensityAt(this.now() - this.t0);
  }

  private between(lo: number, hi: number): number {
    return Math.round(lo + (hi - lo) * this.random());
  }

  /** Two different pods and the destination's IP. */
  private pair(): { from: number; to: string } {
    const n = this.lab.pods.length;
    const from = Math.floor(this.random() * n) % n;
    const to = (from + 1 + (Math.floor(this.random() * (n - 1)) % (n - 1))) % n;
    return { from, to: this.lab.pod(to).ip };
  }

  private async lane(op: () => Promise<number>): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let pauseMs = 500;
      try {
        pauseMs = await op();
      } catch (err) {
        if (signal.aborted) break; // the lab may be going away
        this.s.errors++;
        this.s.lastError = (err as Error).message.split('\n')[0]?.slice(0, 200);
        pauseMs = 1_000;
      }
      await sleep(pauseMs, signal);
    }
  }

  // Each operation returns the pause before the next one, in ms.

  private async tcp(): Promise<number> {
    const k = this.intensity();
    const { from, to } = this.pair();
    const bytes = this.between(16_384, 64_000 + k * 4_000_000);
    await tcpTransfer(this.lab, from, to, TCP_PORT, bytes);
    this.s.tcpTransfers++;
    this.s.tcpBytes += bytes;
    return this.between(100, 600) / (0.3 + k);
  }

  private async udp(): Promise<number> {
    const k = this.intensity();
    const { from, to } = this.pair();
    const count = this.between(20, 40 + k * 1_200);
    const size = this.between(64, 1_200);
    await sendUdp(this.lab, from, to, UDP_PORT, count, { size, ratePps: 200 + k * 3_000 });
    this.s.udpDatagrams += count;
    this.s.udpBytes += count * size;
    return this.between(100, 500);
  }

  private async deny(): Promise<number> {
    const k = this.intensity();
    const { from, to } = this.pair();
    if (this.random() < 0.7) {
      const count = this.between(5, 10 + k * 300);
      await sendUdp(this.lab, from, to, this.lab.denyPort, count, { size: this.between(32, 512), ratePps: 500 + k * 2_000 });
      this.s.denyUdp += count;
      this.denyFrom(from).udp += count;
    } else {
      const count = this.between(1, 3);
      const r = await tcpConnectAttempts(this.lab, from, to, this.lab.denyPort, count, { timeoutMs: DENY_CONNECT_TIMEOUT_MS });
      this.s.denyTcp += r.attempts;
      this.denyFrom(from).tcp += r.attempts;
    }
    return this.between(400, 1_500);
  }

  private denyFrom(pod: number): { udp: number; tcp: number } {
    const name = this.lab.pod(pod).netns;
    let c = this.denyByPod.get(name);
    if (!c) this.denyByPod.set(name, (c = { udp: 0, tcp: 0 }));
    return c;
  }

  private async closed(): Promise<number> {
    const k = this.intensity();
    const { from, to } = this.pair();
    if (this.random() < 0.6) {
      const count = this.between(3, 5 + k * 150);
      await sendUdp(this.lab, from, to, CLOSED_PORT, count, { size: this.between(32, 256), ratePps: 300 + k * 1_000 });
      this.s.closedUdp += count;
    } else {
      const count = this.between(1, 2 + k * 6);
      const r = await tcpConnectAttempts(this.lab, from, to, CLOSED_PORT, count, { timeoutMs: 1_000 });
      this.s.closedTcp += r.attempts;
    }
    return this.between(300, 1_200);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
