/**
 * Part (e): drop events under a storm of ≥ 1M drops/s for 10 s.
 *
 * The storm: trafgen (netsniff-ng, Debian) sends minimal UDP frames from a packet socket's TX ring
 * on one end of a veth pair; an nft `netdev` ingress rule on the other end counts and drops them
 * (→ NETFILTER_DROP). That rule's counter is the truth. One trafgen thread per core.
 *
 * Measured: the agent's CPU and memory over the storm; events it read and delivered (OTLP log
 * records at the bench's receiver, and lines at a `fovea observe --follow` client); the in-kernel
 * rate limit's suppressed counts, which must reconcile exactly — events + suppressed + ring_full
 * = the nft counter — and the agent's drop count = the nft counter; latency from the drop (the
 * kernel's timestamp) to the `fovea observe` line and to the OTLP receiver, during the storm and
 * for single drops afterwards.
 *
 * The storm's cost: its rate with the agent ÷ without, where "without" is the mean of the same storm
 * just before the agent starts and just after it stops (a drift of the machine in between cancels
 * out); and, in a window of its own after the reconciliation (kernel.bpf_stats_enabled=1, which
 * itself slows every program run by two clock reads), each of the agent's programs' ns per run and
 * runs per drop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkEvent } from '../src/events/types.js';
import { INSTRUMENTS } from '../src/names.js';
import { flattenAttrs, type OtlpReceiver } from '../src/otlp/receiver.js';
import { AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { enableBpfStats, programDelta, programsOf, restoreBpfStats } from './bpf-stats.js';
import { nftCount, setUp, STORM_B as B, STORM_INTERFACES, tearDown, trafgen, trafgenConfig } from './storm.js';
import { MB, measureProcess, progress, round, sleep, target, type CpuWindow, type Target } from './util.js';

export interface EventsStormSettings {
  readonly stormSeconds: number;
  readonly settleSeconds: number;
  readonly exportIntervalMs: number;
  /** --drop-event-rate: events per second per CPU per reason */
  readonly ratePerCpu: number;
  /** single drops after the storm, for the idle latency */
  readonly singleDrops: number;
  /** the same storm without the agent, before the agent starts and again after it stops (the generator's and kernel's own rate) */
  readonly referenceSeconds: number;
  /** the storm once more with kernel.bpf_stats_enabled=1: ns per run of each program */
  readonly statsSeconds: number;
}

/** One of the agent's programs during the bpf_stats window of the storm. */
export interface StormProgram {
  readonly name: string;
  readonly nsPerRun: number;
  /** runs ÷ drops the nft rule counted in the window */
  readonly runsPerDrop: number;
}

export interface Latency {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly maxMs: number;
}

export interface EventsStormResult {
  readonly settings: EventsStormSettings;
  readonly generator: string;
  readonly threads: number;
  readonly storm: CpuWindow & { readonly nftDelta: number; readonly dropsPerSecond: number; readonly trafgenSeconds: number };
  /** the same storm without the agent, before it starts: what the generator and kernel reach alone */
  readonly reference: { readonly nftDelta: number; readonly dropsPerSecond: number; readonly trafgenSeconds: number };
  /** the same again after the agent stopped */
  readonly referenceAfter: { readonly nftDelta: number; readonly dropsPerSecond: number; readonly trafgenSeconds: number };
  /** storm.dropsPerSecond ÷ the mean of reference and referenceAfter */
  readonly rateRatio: number;
  /** the bpf_stats window: drops/s with stats on, and the agent's programs that ran */
  readonly programs: { readonly dropsPerSecond: number; readonly seconds: number; readonly list: readonly StormProgram[]; readonly nsPerDrop: number };
  readonly reconcile: {
    readonly nftDelta: number;
    readonly agentDropDelta: number;
    readonly eventsRead: number;
    readonly suppressed: number;
    readonly ringFull: number;
    /** NETFILTER_DROP drop events received as OTLP log records */
    readonly otlpReceived: number;
    /** drop events of every reason received as OTLP log records (other drops happen on the host too) */
    readonly otlpReceivedAll: number;
    readonly observeReceived: number;
    readonly queueFull: number;
    /** Σ over received events of (1 + suppressed): the drops the events stand for */
    readonly carried: number;
  };
  readonly latency: { readonly stormObserve: Latency; readonly stormOtlp: Latency; readonly singleObserve: Latency; readonly singleOtlp: Latency };
  readonly targets: Target[];
}

/** A `fovea observe --follow -o json` client: every event line with the time it arrived. */
class ObserveClient {
  readonly lines: Array<{ at: number; event: NetworkEvent }> = [];
  private readonly child: ChildProcess;
  private buf = '';
  stderr = '';

  constructor(root: string, socket: string) {
    this.child = spawn(process.execPath, [join(root, 'bin', 'fovea.js'), 'observe', '--socket', socket, '--follow', '-o', 'json',
      '--reason', 'NETFILTER_DROP', '--since', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => {
      const at = Date.now();
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line) this.lines.push({ at, event: JSON.parse(line) as NetworkEvent });
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
  }

  stop(): void {
    this.child.kill('SIGINT');
  }
}

function latency(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN);
  return { samples: s.length, p50Ms: round(at(0.5), 1), p95Ms: round(at(0.95), 1), maxMs: round(s.length ? s[s.length - 1]! : NaN, 1) };
}

/** OTLP drop records (every reason) received from request index `sinceRequest` on, with arrival time. */
function otlpDrops(receiver: OtlpReceiver, sinceRequest: number): Array<{ at: number; timeMs: number; suppressed: number; reason: string }> {
  const out: Array<{ at: number; timeMs: number; suppressed: number; reason: string }> = [];
  for (const req of receiver.logRequests.slice(sinceRequest)) {
    for (const rl of req.request.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) {
      const attrs = flattenAttrs(lr.attributes);
      if (lr.eventName !== 'fovea.network.packet.drop') continue;
      out.push({
        at: req.receivedAt, timeMs: Number(BigInt(lr.timeUnixNano) / 1000n) / 1000,
        suppressed: Number(attrs['fovea.events.suppressed'] ?? 0), reason: String(attrs['fovea.drop.reason'] ?? ''),
      });
    }
  }
  return out;
}

export async function runEventsStorm(root: string, receiver: OtlpReceiver, settings: EventsStormSettings,
  agentOpts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<EventsStormResult> {
  const socket = join(tmpdir(), `fovea-bench-observe-${process.pid}.sock`);
  const threads = 2;
  await setUp();
  let agent: AgentProcess | undefined;
  let client: ObserveClient | undefined;
  try {
    const cfg = trafgenConfig();
    const referenceStorm = async (when: string) => {
      progress(`e: reference storm WITHOUT the agent (${when}), ${settings.referenceSeconds} s`);
      const ref0 = await nftCount();
      const refSeconds = await trafgen(cfg, settings.referenceSeconds, threads);
      await sleep(500);
      const refDelta = (await nftCount()) - ref0;
      const r = { nftDelta: refDelta, dropsPerSecond: Math.round(refDelta / refSeconds), trafgenSeconds: refSeconds };
      progress(`e: reference (${when}): ${r.dropsPerSecond} drops/s without the agent`);
      return r;
    };
    const reference = await referenceStorm('before');
    receiver.clear();
    agent = AgentProcess.start({
      ...agentOpts, interfaces: STORM_INTERFACES,
      extraArgs: [...(agentOpts.extraArgs ?? []), '--drop-event-rate', String(settings.ratePerCpu), '--observe-socket', socket],
    });
    track(agent);
    await agent.waitAttached(receiver, 2, 30_000);
    client = new ObserveClient(root, socket);
    await sleep(1_000);
    const metric = (name: string, attrs: Record<string, string> = {}): number => receiver.latest(name, attrs) ?? 0;
    const snapshot = () => ({
      drops: metric(INSTRUMENTS.dropPackets.name, { 'fovea.drop.reason': 'NETFILTER_DROP' }),
      read: metric(INSTRUMENTS.eventsRead.name, { 'fovea.event.name': 'fovea.network.packet.drop' }),
      suppressed: metric(INSTRUMENTS.eventsSuppressed.name, { 'fovea.drop.reason': 'NETFILTER_DROP' }),
      ringFull: metric(INSTRUMENTS.eventsLost.name, { 'fovea.loss.stage': 'ring_full' }),
      queueFull: metric(INSTRUMENTS.eventsLost.name, { 'fovea.loss.stage': 'queue_full' }),
    });
    const exportAfter = async (): Promise<void> => {
      const n = receiver.requestCount;
      await receiver.waitFor((r) => r.requestCount >= n + 2, settings.exportIntervalMs * 3 + 10_000);
    };
    await exportAfter();
    const before = snapshot();
    const nft0 = await nftCount();
    const logReq0 = receiver.logRequests.length;
    const obs0 = client.lines.length;

    progress(`e: drop storm ${settings.stormSeconds} s, trafgen ${threads} threads → ${B} (nft netdev ingress drop), event rate ${settings.ratePerCpu}/s per CPU per reason`);
    const m = await measureProcess(agent.pid, () => trafgen(cfg, settings.stormSeconds, threads));
    await sleep(settings.settleSeconds * 1000);
    const nftDelta = (await nftCount()) - nft0;
    const storm = { ...m.window, nftDelta, dropsPerSecond: Math.round(nftDelta / m.value), trafgenSeconds: m.value };
    progress(`e: storm ${storm.dropsPerSecond} drops/s (nft ${nftDelta}), agent ${storm.pctOfOneCore.toFixed(2)}% of a core, RSS max ${(storm.rssMax / MB).toFixed(1)} MB`);
    await exportAfter();
    const after = snapshot();
    const stormAll = otlpDrops(receiver, logReq0);
    const stormOtlp = stormAll.filter((e) => e.reason === 'NETFILTER_DROP');
    const stormObs = client.lines.slice(obs0);

    progress(`e: ${settings.singleDrops} single drops, one every 300 ms, for the latency of a lone drop`);
    const logReq1 = receiver.logRequests.length;
    const obs1 = client.lines.length;
    for (let i = 0; i < settings.singleDrops; i++) {
      await trafgen(cfg, 1, 1, 1);
      await sleep(300);
    }
    await sleep(1_500);
    const singleOtlp = otlpDrops(receiver, logReq1).filter((e) => e.reason === 'NETFILTER_DROP');
    const singleObs = client.lines.slice(obs1);

    progress(`e: the storm again with kernel.bpf_stats_enabled=1, ${settings.statsSeconds} s: ns per run of the agent's programs`);
    const pick = (n: string): boolean => /^(drop_|traffic_)/.test(n);
    let programs: EventsStormResult['programs'];
    enableBpfStats();
    try {
      const p0 = await programsOf(agent.pid, pick);
      const n0 = await nftCount();
      const secs = await trafgen(cfg, settings.statsSeconds, threads);
      await sleep(300);
      const p1 = await programsOf(agent.pid, pick);
      const drops = (await nftCount()) - n0;
      const list = programDelta(p0, p1, secs).filter((p) => p.runs > 0)
        .map((p) => ({ name: p.name, nsPerRun: round(p.nsPerRun, 1), runsPerDrop: round(p.runs / drops, 3) }));
      programs = { dropsPerSecond: Math.round(drops / secs), seconds: secs, list, nsPerDrop: round(list.reduce((a, p) => a + p.nsPerRun * p.runsPerDrop, 0), 1) };
    } finally {
      restoreBpfStats();
    }
    progress(`e: ${programs.list.map((p) => `${p.name} ${p.nsPerRun} ns × ${p.runsPerDrop}`).join(', ')}: ${programs.nsPerDrop} ns per drop`);
    client.stop();
    client = undefined;
    await agent.stop();
    track(undefined);
    agent = undefined;
    await sleep(1_000);
    const referenceAfter = await referenceStorm('after');
    const rateRatio = storm.dropsPerSecond / ((reference.dropsPerSecond + referenceAfter.dropsPerSecond) / 2);

    const reconcile = {
      nftDelta, agentDropDelta: after.drops - before.drops, eventsRead: after.read - before.read,
      suppressed: after.suppressed - before.suppressed, ringFull: after.ringFull - before.ringFull,
      otlpReceived: stormOtlp.length, otlpReceivedAll: stormAll.length, observeReceived: stormObs.length,
      queueFull: after.queueFull - before.queueFull,
      carried: stormOtlp.reduce((a, e) => a + 1 + e.suppressed, 0),
    };
    const latencyResult = {
      stormObserve: latency(stormObs.map((l) => l.at - l.event.timeMs)),
      stormOtlp: latency(stormOtlp.map((e) => e.at - e.timeMs)),
      singleObserve: latency(singleObs.map((l) => l.at - l.event.timeMs)),
      singleOtlp: latency(singleOtlp.map((e) => e.at - e.timeMs)),
    };
    const allObserve = latency([...stormObs, ...singleObs].map((l) => l.at - l.event.timeMs));
    const targets: Target[] = [
      target('e', 'e.storm-rate', 'drop storm rate with the agent running (nft netdev rule counter ÷ trafgen time)', storm.dropsPerSecond, '>=', 1_000_000, 'drops/s', 0),
      target('e', 'e.storm-ratio', `drop storm rate with the agent ÷ without (mean of ${settings.referenceSeconds} s before the agent started and after it stopped: ${reference.dropsPerSecond} and ${referenceAfter.dropsPerSecond} drops/s)`, round(rateRatio, 3), '>=', 0.9, '', 3),
      target('e', 'e.storm-cpu', `agent CPU during the storm, utime+stime over ${round(storm.wallSeconds, 1)} s wall, % of one core`, storm.pctOfOneCore, '<=', 25, '% core', 2),
      target('e', 'e.drops-exact', 'agent Δ fovea.network.drop.packets{NETFILTER_DROP} = nft rule Δ', reconcile.agentDropDelta, '==', nftDelta, 'drops', 0),
      target('e', 'e.events-reconcile', 'NETFILTER_DROP events received (OTLP) + suppressed{NETFILTER_DROP} + lost{ring_full} (agent metrics, Δ) = nft rule Δ', reconcile.otlpReceived + reconcile.suppressed + reconcile.ringFull, '==', nftDelta, 'drops', 0),
      target('e', 'e.events-delivered', 'drop events (every reason) at the OTLP receiver = drop events the agent read (fovea.agent.events.read Δ)', reconcile.otlpReceivedAll, '==', reconcile.eventsRead, 'events', 0),
      target('e', 'e.observe-latency-p95', `drop (kernel timestamp) → \`fovea observe\` line, 95th percentile over ${allObserve.samples} events (storm and single drops)`, allObserve.p95Ms, '<=', 1000, 'ms', 1),
    ];
    return { settings, generator: 'trafgen (netsniff-ng) → veth → nft netdev ingress drop', threads, storm, reference, referenceAfter, rateRatio, programs, reconcile, latency: latencyResult, targets };
  } finally {
    client?.stop();
    await agent?.stop();
    track(undefined);
    await tearDown();
  }
}
