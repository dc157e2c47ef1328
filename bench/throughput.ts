/**
 * Part (a): TCP throughput between two lab pods, through both pods' host-side veths, with the
 * real agent attached (tcx on both veths, drop probe on) versus no agent at all — alternating
 * runs in the same process, so drift of the machine hits both sides alike. Part (g) runs the same
 * procedure with its own settings (pinned ends, order flipped every other pair, more pairs) and is
 * judged on the confidence interval of the mean pair ratio.
 */
import { INSTRUMENTS, ATTR, DIRECTION } from '../src/names.js';
import type { Lab } from '../src/lab/lab.js';
import { iperf3Client, iperf3Server, type Iperf3Result } from '../src/lab/traffic.js';
import type { OtlpReceiver } from '../src/otlp/receiver.js';
import { AgentProcess, ifindexOf, tcxLinksOn, type AgentProcessOptions } from './agent-process.js';
import { meanCi, measureProcess, median, progress, round, sleep, target, type MeanCi, type PartId, type Target } from './util.js';

export interface ThroughputSettings {
  readonly pairs: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly exportIntervalMs: number;
  /**
   * Pin both iperf3 ends for every run (`iperf3 -A client,server`): on a 2-core machine an unpinned
   * sender and receiver drift between "same core" and "different cores", which moves a single
   * stream's rate by tens of percent from one run to the next.
   */
  readonly affinity?: { readonly client: number; readonly server: number };
  /** iperf3 -l: bytes per write (iperf3's default for TCP is 128 KiB) */
  readonly length?: number;
  /**
   * Seconds between the agent reporting its interfaces attached and the "with" run (0: at once, as
   * part a): the agent's start-up tail (JIT, first exports) then stays out of the run.
   */
  readonly settleSeconds?: number;
  /** Flip the order every other pair (without → with, then with → without), so drift cancels. */
  readonly alternateOrder?: boolean;
  /**
   * After `pairs`, go on (up to `maxPairs`) while the 95% CI of the mean pair ratio is wider than
   * ± `halfWidthPct` points: the noise of a shared machine decides how many pairs resolve it.
   */
  readonly extend?: { readonly maxPairs: number; readonly halfWidthPct: number };
}

export interface ThroughputRun {
  readonly pair: number;
  readonly mode: 'without' | 'with';
  readonly gbps: number;
  readonly bytes: number;
  readonly retransmits: number | undefined;
  /** with: tcx links on the two veths listed by the kernel while measuring (undefined: bpftool cannot tell) */
  readonly tcxLinks: number | undefined;
  /** with: bytes the agent counted on the client pod's host veth (receive = pod egress), final export */
  readonly agentCountedBytes?: number;
  readonly agentExitCode?: number | null;
  /** with: the agent's own CPU over the iperf3 run, % of one core */
  readonly agentCpuPct?: number;
}

export interface ThroughputResult {
  readonly settings: ThroughputSettings;
  readonly direction: string;
  readonly runs: readonly ThroughputRun[];
  readonly medianWithoutGbps: number;
  readonly medianWithGbps: number;
  /** median(with) / median(without) × 100 */
  readonly ratioPct: number;
  /** with / without of each pair × 100, for the spread */
  readonly pairRatiosPct: readonly number[];
  /** mean of the pair ratios (%) with its 95% confidence interval */
  readonly pairRatio: MeanCi;
  /** How "without" was made sure: process exit, and the kernel's tcx link list when bpftool can read it. */
  readonly withoutCheck: string;
  readonly targets: readonly Target[];
}

/** iperf3Client; with `affinity`, the same run with `-A client,server` (iperf3Client has no such option). */
export async function iperf3Run(lab: Lab, toIp: string, port: number, settings: Pick<ThroughputSettings, 'seconds' | 'affinity' | 'length'>): Promise<Iperf3Result> {
  const a = settings.affinity;
  if (!a) return iperf3Client(lab, 0, toIp, { seconds: settings.seconds, port, ...(settings.length ? { length: settings.length } : {}) });
  const argv = ['iperf3', '-c', toIp, '-p', String(port), '-t', String(settings.seconds), '-A', `${a.client},${a.server}`,
    ...(settings.length ? ['-l', String(settings.length)] : []), '--json'];
  const { stdout } = await lab.exec(0, argv, { timeoutMs: settings.seconds * 1000 + 30_000, allowFail: true });
  const doc = JSON.parse(stdout) as { error?: string; end?: { sum_received?: { bits_per_second?: number; bytes?: number } } };
  if (doc.error) throw new Error(`${argv.join(' ')}: ${doc.error}`);
  return { bitsPerSecond: doc.end?.sum_received?.bits_per_second ?? 0, bytes: doc.end?.sum_received?.bytes ?? 0, raw: doc };
}

export async function runThroughput(lab: Lab, receiver: OtlpReceiver, settings: ThroughputSettings,
  agentOpts: (label: string) => AgentProcessOptions, track: (a: AgentProcess | undefined) => void, part: PartId = 'a'): Promise<ThroughputResult> {
  const client = lab.pod(0);
  const server = lab.pod(1);
  const ifindexes = [ifindexOf(client.hostIfname), ifindexOf(server.hostIfname)];
  const srv = await iperf3Server(lab, 1);
  const runs: ThroughputRun[] = [];
  let bpftoolSeesTcx = false;

  // without: no agent process exists (the previous one was awaited to exit), no tcx link on the veths.
  const without = async (pair: number): Promise<ThroughputRun> => {
    const before = await tcxLinksOn(ifindexes);
    if (before !== undefined && before > 0) throw new Error(`'without' run ${pair}: ${before} tcx links still on the lab veths`);
    const wo = await iperf3Run(lab, server.ip, srv.port, settings);
    const woRun: ThroughputRun = { pair, mode: 'without', gbps: wo.bitsPerSecond / 1e9, bytes: wo.bytes, retransmits: retransmits(wo.raw), tcxLinks: before };
    progress(`${part}: pair ${pair} without agent: ${woRun.gbps.toFixed(2)} Gbit/s`);
    return woRun;
  };

  const withAgent = async (pair: number): Promise<ThroughputRun> => {
    receiver.clear();
    const agent = AgentProcess.start(agentOpts(`${part}${pair}`));
    track(agent);
    let withRun: ThroughputRun;
    try {
      const attached = await agent.waitAttached(receiver, 2, 30_000);
      if (settings.settleSeconds) await sleep(settings.settleSeconds * 1000);
      const links = await tcxLinksOn(ifindexes);
      if (links !== undefined && links >= 4) bpftoolSeesTcx = true;
      progress(`${part}: pair ${pair} agent pid ${agent.pid} attached to ${attached} interfaces` +
        `${links !== undefined ? ` (kernel lists ${links} tcx links on them)` : ''}`);
      const { value: w, window: cpu } = await measureProcess(agent.pid, () => iperf3Run(lab, server.ip, srv.port, settings));
      if (!agent.running) throw new Error(`agent exited during the 'with' run:\n${agent.logTail()}`);
      const exit = await agent.stop();
      const counted = receiver.latest(INSTRUMENTS.io.name, { [ATTR.interfaceName]: client.hostIfname, [ATTR.ioDirection]: DIRECTION.receive });
      withRun = {
        pair, mode: 'with', gbps: w.bitsPerSecond / 1e9, bytes: w.bytes, retransmits: retransmits(w.raw), tcxLinks: links,
        ...(counted !== undefined ? { agentCountedBytes: counted } : {}), agentExitCode: exit.code, agentCpuPct: round(cpu.pctOfOneCore, 2),
      };
      if (exit.code !== 0) throw new Error(`agent exit ${JSON.stringify(exit)}:\n${agent.logTail()}`);
    } finally {
      await agent.stop();
      track(undefined);
    }
    progress(`${part}: pair ${pair} with agent:    ${withRun.gbps.toFixed(2)} Gbit/s (agent ${withRun.agentCpuPct}% of a core)` +
      `${withRun.agentCountedBytes !== undefined ? ` (agent counted ${(withRun.agentCountedBytes / 1e9).toFixed(2)} GB on ${client.hostIfname}, iperf3 ${(withRun.bytes / 1e9).toFixed(2)} GB)` : ''}`);
    return withRun;
  };

  try {
    if (settings.warmupSeconds > 0) {
      progress(`${part}: warm-up ${settings.warmupSeconds} s (not counted)`);
      await iperf3Run(lab, server.ip, srv.port, { ...settings, seconds: settings.warmupSeconds });
    }
    let pair = 0;
    const runPair = async (): Promise<void> => {
      pair++;
      const flip = settings.alternateOrder === true && pair % 2 === 0;
      for (const mode of flip ? ['with', 'without'] : ['without', 'with']) runs.push(await (mode === 'with' ? withAgent(pair) : without(pair)));
    };
    while (pair < settings.pairs) await runPair();
    const x = settings.extend;
    while (x && pair < x.maxPairs) {
      const hw = meanCi(pairRatios(runs)).halfWidth;
      if (hw <= x.halfWidthPct) break;
      progress(`${part}: ${pair} pairs: the 95% CI of the mean ratio is ± ${hw.toFixed(2)} points (> ± ${x.halfWidthPct}): more pairs`);
      await runPair();
      if (settings.alternateOrder && pair % 2 === 1 && pair < x.maxPairs) await runPair(); // both orders equally often
    }
  } finally {
    await srv.stop();
  }
  const wo = byPair(runs, 'without');
  const w = byPair(runs, 'with');
  const medianWithoutGbps = median(wo);
  const medianWithGbps = median(w);
  const ratioPct = (medianWithGbps / medianWithoutGbps) * 100;
  const ratios = pairRatios(runs);
  const pairs = ratios.length;
  const pin = (settings.affinity ? `, both ends pinned (iperf3 -A ${settings.affinity.client},${settings.affinity.server})` : '') +
    (settings.length ? `, ${settings.length / 1024} KiB writes (-l ${settings.length})` : '');
  return {
    settings: { ...settings, pairs },
    direction: `pod ${client.ip} (${client.hostIfname}) → pod ${server.ip} (${server.hostIfname}), iperf3 -c, 1 TCP stream${pin}`,
    runs: runs.map((r) => ({ ...r, gbps: round(r.gbps, 3) })),
    medianWithoutGbps: round(medianWithoutGbps, 3),
    medianWithGbps: round(medianWithGbps, 3),
    ratioPct: round(ratioPct, 2),
    pairRatiosPct: ratios.map((x) => round(x, 1)),
    pairRatio: meanCi(ratios),
    withoutCheck: bpftoolSeesTcx
      ? 'agent process exited (awaited) and the kernel listed 0 tcx links on the lab veths before each run'
      : 'agent process exited (awaited); tcx links die with its fds (bpftool here cannot list tcx links per interface)',
    targets: part === 'a' ? [target('a', 'a.throughput-ratio', 'median TCP throughput with agent ÷ median without, same run', ratioPct, '>=', 98, '%')] : [],
  };
}

const byPair = (runs: readonly ThroughputRun[], mode: ThroughputRun['mode']): number[] =>
  runs.filter((r) => r.mode === mode).sort((x, y) => x.pair - y.pair).map((r) => r.gbps);

/** with ÷ without × 100 of every complete pair. */
function pairRatios(runs: readonly ThroughputRun[]): number[] {
  const wo = byPair(runs, 'without');
  return byPair(runs, 'with').slice(0, wo.length).map((x, i) => (x / wo[i]!) * 100);
}

function retransmits(raw: unknown): number | undefined {
  const r = (raw as { end?: { sum_sent?: { retransmits?: number } } }).end?.sum_sent?.retransmits;
  return typeof r === 'number' ? r : undefined;
}
