/**
 * The drop storm of parts (e) and (f): trafgen (netsniff-ng, Debian) sends minimal UDP frames from a
 * packet socket's TX ring on one end of a veth pair; an nft `netdev` ingress rule on the other end
 * counts and drops them (→ NETFILTER_DROP). That rule's counter is the truth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/lab/run.js';

export const STORM_A = 'fvstrm0';
export const STORM_B = 'fvstrm1';
/** --interfaces glob covering the storm veth pair */
export const STORM_INTERFACES = 'fvstrm*';
const TABLE = 'fovea_bench_storm';
const PORT = 7777;
const SRC_MAC = '02:00:00:00:5e:01';
const DST_MAC = '02:00:00:00:5e:02';
/** Bytes of the storm frame on the wire (skb->len): Ethernet 14 + IPv4 20 + UDP 8 + payload 16. */
export const STORM_FRAME_BYTES = 58;

/** The veth pair and the nft netdev drop rule (after removing any left behind). */
export async function setUp(): Promise<void> {
  await tearDown();
  await run(['ip', 'link', 'add', STORM_A, 'address', SRC_MAC, 'type', 'veth', 'peer', 'name', STORM_B, 'address', DST_MAC]);
  await run(['ip', 'link', 'set', STORM_A, 'up']);
  await run(['ip', 'link', 'set', STORM_B, 'up']);
  const rules = `table netdev ${TABLE} {
  chain storm {
    type filter hook ingress device "${STORM_B}" priority 0;
    udp dport ${PORT} counter drop comment "storm"
  }
}
`;
  const file = join(tmpdir(), `fovea-bench-storm-${process.pid}.nft`);
  writeFileSync(file, rules);
  await run(['nft', '-f', file]);
}

export async function tearDown(): Promise<void> {
  await run(['nft', 'delete', 'table', 'netdev', TABLE], { allowFail: true });
  await run(['ip', 'link', 'del', STORM_A], { allowFail: true });
}

/**
 * Paces the storm at `pps`: a tbf qdisc on the sending veth at that rate (2% above, so its queue
 * empties within each second) with room for two seconds of frames. trafgen's own `-b <n>pps`
 * sends each second's packets in one burst at the start of the second and then sleeps (measured:
 * 50,000 in the first ~10 ms, then nothing), which would hit the agent as one burst per second;
 * the qdisc (trafgen -q sends through it) spreads them evenly, so no frame is dropped by it.
 */
export async function pace(pps: number): Promise<void> {
  const bits = Math.round(pps * STORM_FRAME_BYTES * 8 * 1.02);
  await run(['tc', 'qdisc', 'replace', 'dev', STORM_A, 'root', 'tbf', 'rate', `${bits}bit`, 'burst', '16kb', 'limit', String(2 * pps * STORM_FRAME_BYTES)]);
}

/** Frames the pacing qdisc dropped (should stay 0) and still holds. */
export async function paceStats(): Promise<{ dropped: number; backlog: number }> {
  const { stdout } = await run(['tc', '-s', '-j', 'qdisc', 'show', 'dev', STORM_A, 'root']);
  const q = (JSON.parse(stdout) as Array<{ kind: string; drops?: number; qlen?: number }>).find((x) => x.kind === 'tbf');
  return { dropped: q?.drops ?? 0, backlog: q?.qlen ?? 0 };
}

/** The storm rule's packet counter. */
export async function nftCount(): Promise<number> {
  const { stdout } = await run(['nft', '-j', 'list', 'table', 'netdev', TABLE]);
  const j = JSON.parse(stdout) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
  for (const o of j.nftables) for (const e of o.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  throw new Error('storm rule counter not found');
}

/** The trafgen packet file: one minimal UDP frame to the dropped port. */
export function trafgenConfig(): string {
  const file = join(tmpdir(), `fovea-bench-storm-${process.pid}.trafgen`);
  writeFileSync(file, `{
  eth(da=${DST_MAC}, sa=${SRC_MAC}, type=0x0800),
  ipv4(saddr=198.19.254.1, daddr=198.19.254.2, ttl=64, proto=17),
  udp(sp=40000, dp=${PORT}),
  "fovea-storm-0000"
}
`);
  return file;
}

export interface TrafgenOptions {
  /** worker processes (-P): one per core for a flat-out storm; 1 for a paced one */
  readonly threads: number;
  /** packets in all, then exit (-n) */
  readonly count?: number;
  /** packets per second (-b <n>pps; trafgen paces each worker) */
  readonly ratePps?: number;
}

/** A running trafgen; `stop()` ends it (SIGINT to its process group) and resolves with its wall time in s. */
export interface Trafgen {
  readonly done: Promise<number>;
  stop(): Promise<number>;
}

export function startTrafgen(cfg: string, o: TrafgenOptions): Trafgen {
  const args = ['-o', STORM_A, '-i', cfg, '-P', String(o.threads), '-q',
    ...(o.count !== undefined ? ['-n', String(o.count)] : []), ...(o.ratePps !== undefined ? ['-b', `${o.ratePps}pps`] : [])];
  const t0 = Date.now();
  let child: ChildProcess | undefined;
  const done = new Promise<number>((resolve, reject) => {
    // its own process group: with -P N trafgen forks one worker per CPU, and SIGINT must reach them all
    const p = spawn('trafgen', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    child = p;
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', (e) => reject(new Error(`trafgen: ${e.message} (apt-get install netsniff-ng)`)));
    p.on('close', (code, signal) => {
      if (code === 0 || signal === 'SIGINT' || code === 130) resolve((Date.now() - t0) / 1000);
      else reject(new Error(`trafgen exited ${code ?? signal}: ${err.trim().slice(-500)}`));
    });
  });
  return {
    done,
    stop: () => {
      try { if (child?.pid !== undefined) process.kill(-child.pid, 'SIGINT'); } catch { /* gone */ }
      return done;
    },
  };
}

/** trafgen for `seconds` (SIGINT ends it), or until `count` packets; resolves with its wall time. */
export async function trafgen(cfg: string, seconds: number, threads: number, count?: number): Promise<number> {
  const t = startTrafgen(cfg, { threads, ...(count !== undefined ? { count } : {}) });
  const timer = count === undefined ? setTimeout(() => { void t.stop().catch(() => undefined); }, seconds * 1000) : undefined;
  try {
    return await t.done;
  } finally {
    clearTimeout(timer);
  }
}
