/**
 * Part (c): the agent process's own cost — CPU (utime+stime from /proc/<pid>/stat over wall
 * time) and memory (VmRSS sampled, VmHWM) — idle, and during a drop storm (UDP flood to the lab's
 * nft deny port). After the storm the agent's NETFILTER_DROP/udp count must move by exactly what
 * the nft rule counter moved.
 */
import type { Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/run.js';
import { udpFlood, type FloodResult } from '../src/lab/traffic.js';
import { ATTR, INSTRUMENTS } from '../src/names.js';
import type { Attrs, OtlpReceiver } from '../src/otlp/receiver.js';
import { AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { clockTicks, MB, measureProcess, progress, round, sleep, target, type CpuWindow, type Target } from './util.js';

export interface AgentCostSettings {
  readonly idleSeconds: number;
  readonly stormSeconds: number;
  /** flood without the agent first, for the drop rate the machine reaches on its own (0 = skip) */
  readonly referenceStormSeconds: number;
  readonly settleSeconds: number;
  readonly exportIntervalMs: number;
  readonly floodProcesses: number;
}

export interface StormResult {
  readonly flood: FloodResult;
  readonly nftDelta: number;
  /** nftDelta ÷ flood elapsed seconds */
  readonly dropsPerSecond: number;
}

export interface AgentCostResult {
  readonly settings: AgentCostSettings;
  readonly agentPid: number;
  readonly agentCommand: string;
  /** where the flood goes, e.g. 'pod 0 (198.18.x.10) → 198.18.x.11:7777/udp' */
  readonly floodPath: string;
  /** getconf CLK_TCK: the resolution of the CPU numbers */
  readonly clockTicks: number;
  readonly referenceStorm?: StormResult;
  readonly idle: CpuWindow;
  readonly storm: CpuWindow & StormResult;
  readonly dropCheck: {
    readonly series: string;
    /** agent delta between the export before the storm and the first export collected after it */
    readonly agentDelta: number;
    /** same, up to the agent's final (shutdown) export */
    readonly agentDeltaFinal: number | undefined;
    readonly nftDelta: number;
    /** packets counted meanwhile by drop rules of other nft tables (a parallel test would skew the check) */
    readonly otherDropRulesDelta: number;
    /** background: the same series' Δ over the idle window (no bench traffic) */
    readonly idleDelta: number;
    readonly idleSeconds: number;
    /** every drop series the agent exported that moved over the storm window: "reason/transport/type" → Δ */
    readonly allDropDeltas: Record<string, number>;
  };
  readonly health: { readonly recordFailures: number; readonly exportFailures: number; readonly agentExitCode: number | null };
  readonly targets: readonly Target[];
}

const DROP_ATTRS: Attrs = { [ATTR.dropReason]: 'NETFILTER_DROP', [ATTR.transport]: 'udp' };

/** Sum of the counters of every nft rule with a `drop` verdict, outside `exceptTable`. */
async function otherDropRuleCounters(exceptTable: string): Promise<number> {
  const { stdout } = await run(['nft', '-j', 'list', 'ruleset']);
  const doc = JSON.parse(stdout) as { nftables?: Array<Record<string, unknown>> };
  let sum = 0;
  for (const item of doc.nftables ?? []) {
    const rule = item['rule'] as { table?: string; expr?: Array<Record<string, unknown>> } | undefined;
    if (!rule || rule.table === exceptTable) continue;
    const expr = rule.expr ?? [];
    if (!expr.some((e) => 'drop' in e)) continue;
    for (const e of expr) {
      const c = e['counter'] as { packets?: number } | undefined;
      if (c) sum += c.packets ?? 0;
    }
  }
  return sum;
}

/** Every drop series the receiver holds: "reason/transport/type" → latest value. */
function dropSnapshot(receiver: OtlpReceiver): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of receiver.series(INSTRUMENTS.dropPackets.name)) {
    const k = [ATTR.dropReason, ATTR.transport, ATTR.networkType].map((a) => String(x.attrs[a] ?? '-')).join('/');
    out.set(k, (out.get(k) ?? 0) + x.value);
  }
  return out;
}

function snapshotDelta(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) if (v !== (a.get(k) ?? 0)) out[k] = v - (a.get(k) ?? 0);
  return out;
}

/** Waits for the next export to arrive, returns when it did (ms). */
async function nextExport(receiver: OtlpReceiver, intervalMs: number): Promise<number> {
  const n = receiver.requestCount;
  await receiver.waitFor((r) => r.requestCount > n, intervalMs * 2 + 10_000);
  return Date.now();
}

async function denyUdp(lab: Lab): Promise<number> {
  return (await lab.denyCounters())['deny-udp']?.packets ?? 0;
}

async function storm(lab: Lab, seconds: number, processes: number): Promise<StormResult> {
  const n0 = await denyUdp(lab);
  const flood = await udpFlood(lab, 0, lab.pod(1).ip, lab.denyPort, { pps: 'max', durationMs: seconds * 1000, processes });
  await sleep(300); // let the forward path finish what the senders queued
  const nftDelta = (await denyUdp(lab)) - n0;
  return { flood, nftDelta, dropsPerSecond: Math.round(nftDelta / (flood.elapsedMs / 1000)) };
}

export async function runAgentCost(lab: Lab, receiver: OtlpReceiver, settings: AgentCostSettings,
  agentOpts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<AgentCostResult> {
  const dropName = INSTRUMENTS.dropPackets.name;
  let referenceStorm: StormResult | undefined;
  if (settings.referenceStormSeconds > 0) {
    progress(`c: reference drop storm WITHOUT the agent, ${settings.referenceStormSeconds} s, ${settings.floodProcesses} flood processes`);
    referenceStorm = await storm(lab, settings.referenceStormSeconds, settings.floodProcesses);
    progress(`c: reference: ${referenceStorm.dropsPerSecond} drops/s (nft counted ${referenceStorm.nftDelta})`);
  }

  receiver.clear();
  const agent = AgentProcess.start(agentOpts);
  track(agent);
  try {
    const attached = await agent.waitAttached(receiver, 2, 30_000);
    progress(`c: agent pid ${agent.pid} attached to ${attached} interfaces; settling ${settings.settleSeconds} s`);
    await sleep(settings.settleSeconds * 1000);

    const idleT0 = await nextExport(receiver, settings.exportIntervalMs);
    const idle0 = receiver.latest(dropName, DROP_ATTRS) ?? 0;
    progress(`c: idle ${settings.idleSeconds} s (export interval ${settings.exportIntervalMs / 1000} s)`);
    const idle = (await measureProcess(agent.pid, () => sleep(settings.idleSeconds * 1000))).window;
    progress(`c: idle: ${idle.pctOfOneCore.toFixed(2)}% of a core, VmRSS max ${(idle.rssMax / MB).toFixed(1)} MB, VmHWM ${(idle.hwmEnd / MB).toFixed(1)} MB`);

    // Baseline: the agent's value at an export collected while no deny traffic flows, and nft now.
    const idleT1 = await nextExport(receiver, settings.exportIntervalMs);
    const agent0 = receiver.latest(dropName, DROP_ATTRS) ?? 0;
    const snap0 = dropSnapshot(receiver);
    const idleDelta = agent0 - idle0;
    progress(`c: background ${dropName}{NETFILTER_DROP,udp} over the idle window: Δ ${idleDelta} in ${((idleT1 - idleT0) / 1000).toFixed(1)} s`);
    const nft0 = await denyUdp(lab);
    const other0 = await otherDropRuleCounters(lab.nftTable);

    progress(`c: drop storm ${settings.stormSeconds} s, ${settings.floodProcesses} flood processes → ${lab.pod(1).ip}:${lab.denyPort}/udp (nft drop)`);
    const m = await measureProcess(agent.pid, () => storm(lab, settings.stormSeconds, settings.floodProcesses));
    const stormResult = { ...m.window, ...m.value };
    const nft1 = await denyUdp(lab);
    const other1 = await otherDropRuleCounters(lab.nftTable);
    const tEndNs = BigInt(Date.now()) * 1_000_000n;
    progress(`c: storm: ${stormResult.dropsPerSecond} drops/s, agent ${stormResult.pctOfOneCore.toFixed(2)}% of a core, machine ${stormResult.machineBusyPct.toFixed(0)}% busy`);

    // The first export collected after the storm (and the 300 ms settle) ended.
    await receiver.waitFor((r) => {
      const s = r.series(dropName).filter((x) => Object.entries(DROP_ATTRS).every(([k, v]) => x.attrs[k] === v));
      return s.length > 0 && s.every((x) => BigInt(x.time) > tEndNs);
    }, settings.exportIntervalMs * 2 + 10_000).catch((err: unknown) => {
      throw new Error(`no export of ${dropName}{NETFILTER_DROP,udp} after the storm: ${(err as Error).message}`);
    });
    const agent1 = receiver.latest(dropName, DROP_ATTRS) ?? 0;
    const allDropDeltas = snapshotDelta(snap0, dropSnapshot(receiver));
    const recordFailures = receiver.latest(INSTRUMENTS.recordFailures.name) ?? 0;

    progress('c: stopping the agent (final export)');
    const exit = await agent.stop();
    track(undefined);
    const agentFinal = receiver.latest(dropName, DROP_ATTRS);
    const exportFailures = receiver.latest(INSTRUMENTS.exportFailures.name) ?? 0;
    const nftDelta = nft1 - nft0;
    const agentDelta = agent1 - agent0;
    const agentDeltaFinal = agentFinal === undefined ? undefined : agentFinal - agent0;
    progress(`c: drops: agent Δ ${agentDelta} (final export Δ ${agentDeltaFinal ?? 'n/a'}), nft Δ ${nftDelta}`);

    const mb = (b: number): number => b / MB;
    return {
      settings, agentPid: agent.pid, agentCommand: agent.argv.join(' '),
      clockTicks: clockTicks(),
      floodPath: `pod 0 (${lab.pod(0).ip}) → ${lab.pod(1).ip}:${lab.denyPort}/udp`,
      ...(referenceStorm ? { referenceStorm } : {}),
      idle, storm: stormResult,
      dropCheck: {
        series: `${dropName}{${ATTR.dropReason}=NETFILTER_DROP, ${ATTR.transport}=udp}`,
        agentDelta, agentDeltaFinal, nftDelta, otherDropRulesDelta: other1 - other0,
        idleDelta, idleSeconds: round((idleT1 - idleT0) / 1000, 1), allDropDeltas,
      },
      health: { recordFailures, exportFailures, agentExitCode: exit.code },
      targets: [
        target('c', 'c.idle-cpu', `agent CPU idle, utime+stime over ${round(idle.wallSeconds, 1)} s wall, % of one core`, idle.pctOfOneCore, '<=', 1, '% core', 3),
        target('c', 'c.idle-rss', `agent VmRSS idle, largest of ${idle.rssSamples} samples (MB = 10^6 bytes)`, mb(idle.rssMax), '<=', 120, 'MB', 1),
        target('c', 'c.storm-rate', 'drop storm rate reached with the agent running (nft rule counter ÷ flood time)', stormResult.dropsPerSecond, '>=', 200_000, 'drops/s', 0),
        target('c', 'c.storm-cpu', `agent CPU during the storm, utime+stime over ${round(stormResult.wallSeconds, 1)} s wall, % of one core`, stormResult.pctOfOneCore, '<=', 10, '% core', 3),
        target('c', 'c.drops-exact', 'agent Δ of NETFILTER_DROP/udp (first export after the storm) = nft deny-udp rule Δ', agentDelta, '==', nftDelta, 'drops', 0),
        ...(agentDeltaFinal !== undefined
          ? [target('c', 'c.drops-exact-final', 'same, agent\'s final export at shutdown = nft deny-udp rule Δ', agentDeltaFinal, '==', nftDelta, 'drops', 0)]
          : []),
      ],
    };
  } finally {
    await agent.stop();
    track(undefined);
  }
}
