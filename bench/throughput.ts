/**
 * Part (a): TCP throughput between two lab pods, through both pods' host-side veths, with the
 * real agent attached (tcx on both veths, drop probe on) versus no agent at all — alternating
 * runs in the same process, so drift of the machine hits both sides alike.
 */
import { INSTRUMENTS, ATTR, DIRECTION } from '../src/names.js';
import type { Lab } from '../src/lab/lab.js';
import { iperf3Client, iperf3Server } from '../src/lab/traffic.js';
import type { OtlpReceiver } from '../src/otlp/receiver.js';
import { AgentProcess, ifindexOf, tcxLinksOn, type AgentProcessOptions } from './agent-process.js';
import { median, progress, round, target, type Target } from './util.js';

export interface ThroughputSettings {
  readonly pairs: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly exportIntervalMs: number;
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
  /** How "without" was made sure: process exit, and the kernel's tcx link list when bpftool can read it. */
  readonly withoutCheck: string;
  readonly targets: readonly Target[];
}

export async function runThroughput(lab: Lab, receiver: OtlpReceiver, settings: ThroughputSettings,
  agentOpts: (label: string) => AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<ThroughputResult> {
  const client = lab.pod(0);
  const server = lab.pod(1);
  const ifindexes = [ifindexOf(client.hostIfname), ifindexOf(server.hostIfname)];
  const srv = await iperf3Server(lab, 1);
  const runs: ThroughputRun[] = [];
  let bpftoolSeesTcx = false;
  try {
    if (settings.warmupSeconds > 0) {
      progress(`a: warm-up ${settings.warmupSeconds} s (not counted)`);
      await iperf3Client(lab, 0, server.ip, { seconds: settings.warmupSeconds, port: srv.port });
    }
    for (let pair = 1; pair <= settings.pairs; pair++) {
      // without: no agent process exists (the previous one was awaited to exit), no tcx link on the veths.
      const before = await tcxLinksOn(ifindexes);
      if (before !== undefined && before > 0) throw new Error(`'without' run ${pair}: ${before} tcx links still on the lab veths`);
      const wo = await iperf3Client(lab, 0, server.ip, { seconds: settings.seconds, port: srv.port });
      const woRun: ThroughputRun = { pair, mode: 'without', gbps: wo.bitsPerSecond / 1e9, bytes: wo.bytes, retransmits: retransmits(wo.raw), tcxLinks: before };
      runs.push(woRun);
      progress(`a: pair ${pair}/${settings.pairs} without agent: ${woRun.gbps.toFixed(2)} Gbit/s`);

      receiver.clear();
      const agent = AgentProcess.start(agentOpts(`a${pair}`));
      track(agent);
      let withRun: ThroughputRun;
      try {
        const attached = await agent.waitAttached(receiver, 2, 30_000);
        const links = await tcxLinksOn(ifindexes);
        if (links !== undefined && links >= 4) bpftoolSeesTcx = true;
        progress(`a: pair ${pair}/${settings.pairs} agent pid ${agent.pid} attached to ${attached} interfaces` +
          `${links !== undefined ? ` (kernel lists ${links} tcx links on them)` : ''}`);
        const w = await iperf3Client(lab, 0, server.ip, { seconds: settings.seconds, port: srv.port });
        if (!agent.running) throw new Error(`agent exited during the 'with' run:\n${agent.logTail()}`);
        const exit = await agent.stop();
        const counted = receiver.latest(INSTRUMENTS.io.name, { [ATTR.interfaceName]: client.hostIfname, [ATTR.ioDirection]: DIRECTION.receive });
        withRun = {
          pair, mode: 'with', gbps: w.bitsPerSecond / 1e9, bytes: w.bytes, retransmits: retransmits(w.raw), tcxLinks: links,
          ...(counted !== undefined ? { agentCountedBytes: counted } : {}), agentExitCode: exit.code,
        };
        if (exit.code !== 0) throw new Error(`agent exit ${JSON.stringify(exit)}:\n${agent.logTail()}`);
      } finally {
        await agent.stop();
        track(undefined);
      }
      runs.push(withRun);
      progress(`a: pair ${pair}/${settings.pairs} with agent:    ${withRun.gbps.toFixed(2)} Gbit/s` +
        `${withRun.agentCountedBytes !== undefined ? ` (agent counted ${(withRun.agentCountedBytes / 1e9).toFixed(2)} GB on ${client.hostIfname}, iperf3 ${(withRun.bytes / 1e9).toFixed(2)} GB)` : ''}`);
    }
  } finally {
    await srv.stop();
  }
  const wo = runs.filter((r) => r.mode === 'without').map((r) => r.gbps);
  const w = runs.filter((r) => r.mode === 'with').map((r) => r.gbps);
  const medianWithoutGbps = median(wo);
  const medianWithGbps = median(w);
  const ratioPct = (medianWithGbps / medianWithoutGbps) * 100;
  const pairRatiosPct = w.map((x, i) => round((x / wo[i]!) * 100, 1));
  return {
    settings,
    direction: `pod ${client.ip} (${client.hostIfname}) → pod ${server.ip} (${server.hostIfname}), iperf3 -c, 1 TCP stream`,
    runs: runs.map((r) => ({ ...r, gbps: round(r.gbps, 3) })),
    medianWithoutGbps: round(medianWithoutGbps, 3),
    medianWithGbps: round(medianWithGbps, 3),
    ratioPct: round(ratioPct, 2),
    pairRatiosPct,
    withoutCheck: bpftoolSeesTcx
      ? 'agent process exited (awaited) and the kernel listed 0 tcx links on the lab veths before each run'
      : 'agent process exited (awaited); tcx links die with its fds (bpftool here cannot list tcx links per interface)',
    targets: [target('a', 'a.throughput-ratio', 'median TCP throughput with agent ÷ median without, same run', ratioPct, '>=', 98, '%')],
  };
}

function retransmits(raw: unknown): number | undefined {
  const r = (raw as { end?: { sum_sent?: { retransmits?: number } } }).end?.sum_sent?.retransmits;
  return typeof r === 'number' ? r : undefined;
}
