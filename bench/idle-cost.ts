/**
 * Part (i): what the agent costs on a node where nothing happens, in pod mode with N pods — the
 * figures platform teams compare between agents (issue 12). Its own lab of N pods (named network
 * namespaces behind host-side veths); rounds of two agents, one after the other, order flipped
 * every round:
 *
 *   pod mode   `--netns fovea-<lab>-* --interfaces fv<lab>-*`: every pod's traffic, flows, DNS,
 *              TCP and kernel counters (the per-pod setns reads at every export included)
 *   node level `--interfaces fv<lab>-*`: the same probes on the same veths, node series only
 *
 * Each agent exports every 10 s (the interval of the targets) to the bench's OTLP receiver; after
 * it attached to all N veths and settled, its CPU (utime+stime ÷ wall) is measured over a window
 * with no traffic, and its VmHWM (peak RSS since start: start-up included) at the window's end.
 * Node's own floor is measured beside it: the VmHWM of an empty Node process with the agent's V8
 * flags.
 */
import { execFileSync } from 'node:child_process';
import { ATTR, EVENT } from '../src/names.js';
import { AGENT_NODE_FLAGS } from '../src/runtime.js';
import type { Lab } from '../src/lab/lab.js';
import type { OtlpReceiver } from '../src/otlp/receiver.js';
import { AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { MB, meanCi, measureProcess, progress, round, sleep, target, type CpuWindow, type MeanCi, type Target } from './util.js';

export interface IdleCostSettings {
  readonly pods: number;
  readonly rounds: number;
  /** after the agent attached to every pod's veth, before the window */
  readonly settleSeconds: number;
  readonly windowSeconds: number;
  readonly exportIntervalMs: number;
}

export type IdleMode = 'pod' | 'node';

export interface IdleWindow {
  readonly round: number;
  readonly mode: IdleMode;
  readonly attached: number;
  readonly window: CpuWindow;
  /** drop events the host's own traffic made during the window (the drop probe sees the whole host) */
  readonly dropEvents: number;
  /**
   * drop locations the agent saw for the first time during the window: each one it named then (the
   * kernel's `%pS` on 5.13+; before, /proc/kallsyms read up to the name, the first one of the agent's
   * life loading the file's addresses too) — one-off work of a fresh agent that lands in a window or not
   */
  readonly newDropSites: readonly string[];
}

/** Drop events with event time in [fromMs, toMs) and the locations among them not seen before fromMs. */
export function dropsInWindow(records: ReturnType<OtlpReceiver['logRecords']>, fromMs: number, toMs: number): { dropEvents: number; newDropSites: string[] } {
  const before = new Set<string>();
  const during: string[] = [];
  for (const r of records) {
    if (r.eventName !== EVENT.drop) continue;
    const at = Number(BigInt(r.timeUnixNano) / 1_000_000n);
    const site = String(r.attrs[ATTR.dropLocation] ?? '');
    if (at < fromMs) before.add(site);
    else if (at < toMs) during.push(site);
  }
  return { dropEvents: during.length, newDropSites: [...new Set(during.filter((x) => !before.has(x)))] };
}

export interface IdleCostResult {
  readonly settings: IdleCostSettings;
  readonly lab: string;
  readonly commands: Readonly<Record<IdleMode, string>>;
  /** VmHWM of `node <agent flags> -e ''`-like process at its end, bytes */
  readonly nodeFloorHwm: number;
  readonly windows: readonly IdleWindow[];
  readonly cpu: Readonly<Record<IdleMode, MeanCi>>;
  /** largest VmHWM over the rounds, bytes */
  readonly hwmMax: Readonly<Record<IdleMode, number>>;
  readonly targets: readonly Target[];
}

/** Targets (issue 12, item 1 and 2). */
const POD_CPU_MAX_PCT = 0.5;
const NODE_CPU_MAX_PCT = 0.3;
const POD_HWM_MAX_MB = 90;

/** VmHWM of an empty Node process run with the agent's V8 flags (its last act reads its own status). */
export function nodeFloorHwm(): number {
  const script = "const s = require('fs').readFileSync('/proc/self/status', 'utf8'); process.stdout.write(/VmHWM:\\s+(\\d+)/.exec(s)[1]);";
  return Number(execFileSync(process.execPath, [...AGENT_NODE_FLAGS, '-e', script]).toString()) * 1024;
}

export async function runIdleCost(lab: Lab, receiver: OtlpReceiver, s: IdleCostSettings,
  agentOpts: (label: string) => AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<IdleCostResult> {
  const floor = nodeFloorHwm();
  progress(`i: Node's floor (empty process, ${AGENT_NODE_FLAGS.join(' ') || 'no flags'}): VmHWM ${(floor / MB).toFixed(1)} MB`);
  const netnsGlob = `fovea-${lab.name}-*`;
  const windows: IdleWindow[] = [];
  const commands: Partial<Record<IdleMode, string>> = {};
  for (let r = 1; r <= s.rounds; r++) {
    const order: IdleMode[] = r % 2 ? ['pod', 'node'] : ['node', 'pod'];
    for (const mode of order) {
      const base = agentOpts(`i-${mode}${r}`);
      const opts: AgentProcessOptions = { ...base, exportIntervalMs: s.exportIntervalMs, ...(mode === 'pod' ? { extraArgs: ['--netns', netnsGlob] } : {}) };
      receiver.clear();
      const agent = AgentProcess.start(opts);
      track(agent);
      let measured: { attached: number; window: CpuWindow; from: number; to: number } | undefined;
      try {
        commands[mode] = agent.argv.join(' ');
        const attached = await agent.waitAttached(receiver, s.pods, 60_000);
        await sleep(s.settleSeconds * 1000);
        const from = Date.now();
        const { window } = await measureProcess(agent.pid, () => sleep(s.windowSeconds * 1000));
        measured = { attached, window, from, to: Date.now() };
      } finally {
        await agent.stop(); // its last events exported: the window's drop events are all in
        track(undefined);
      }
      const { attached, window, from, to } = measured;
      const drops = dropsInWindow(receiver.logRecords(), from, to);
      windows.push({ round: r, mode, attached, window, ...drops });
      progress(`i: round ${r} ${mode === 'pod' ? 'pod mode ' : 'node level'}: ${attached} veths, ${window.pctOfOneCore.toFixed(3)}% of a core over ${window.wallSeconds.toFixed(0)} s, ` +
        `VmHWM ${(window.hwmEnd / MB).toFixed(1)} MB, VmRSS max ${(window.rssMax / MB).toFixed(1)} MB, machine ${window.machineBusyPct.toFixed(0)}% busy, ` +
        `${drops.dropEvents} drop events (new sites: ${drops.newDropSites.join(', ') || 'none'})`);
    }
  }
  const of = (m: IdleMode): IdleWindow[] => windows.filter((w) => w.mode === m);
  const cpu = { pod: meanCi(of('pod').map((w) => w.window.pctOfOneCore)), node: meanCi(of('node').map((w) => w.window.pctOfOneCore)) };
  const hwmMax = { pod: Math.max(...of('pod').map((w) => w.window.hwmEnd)), node: Math.max(...of('node').map((w) => w.window.hwmEnd)) };
  const upper = (c: MeanCi): number => (Number.isFinite(c.hi) ? c.hi : c.mean);
  const ciText = (c: MeanCi): string => `mean ${round(c.mean, 3)}${Number.isFinite(c.hi) ? `, CI ${round(c.lo, 3)}–${round(c.hi, 3)}` : ''}`;
  return {
    settings: s, lab: lab.name, commands: commands as Record<IdleMode, string>, nodeFloorHwm: floor, windows, cpu, hwmMax,
    targets: [
      target('i', 'i.idle-pod-cpu', `agent CPU idle in pod mode with ${s.pods} pods, 10 s exports: upper bound of the 95% CI over ${cpu.pod.n} rounds (${ciText(cpu.pod)}), utime+stime over ${s.windowSeconds} s windows, % of one core`,
        upper(cpu.pod), '<=', POD_CPU_MAX_PCT, '% core', 3),
      target('i', 'i.idle-node-cpu', `agent CPU idle, node level (same ${s.pods} veths, no pod mode): upper bound of the 95% CI over ${cpu.node.n} rounds (${ciText(cpu.node)}), % of one core`,
        upper(cpu.node), '<=', NODE_CPU_MAX_PCT, '% core', 3),
      target('i', 'i.idle-pod-hwm', `agent VmHWM from start through idle in pod mode with ${s.pods} pods, largest over the rounds (Node's own floor: ${round(floor / MB, 1)} MB; MB = 10^6 bytes)`,
        hwmMax.pod / MB, '<=', POD_HWM_MAX_MB, 'MB', 1),
    ],
  };
}
