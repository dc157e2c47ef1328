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
 * with no traffic (the first minute), and again over a window of the same length from
 * `steadyStartSeconds` after it attached (steady state: V8 compiles the code an export runs once per
 * interval only after minutes of exports — docs/benchmark.md, "The first minutes"), and its VmHWM
 * (peak RSS since start: start-up included) at the end of the last window.
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
  /** seconds after the agent attached at which the steady-state window starts; 0: no such window */
  readonly steadyStartSeconds: number;
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
  /** the steady-state window (settings.steadyStartSeconds), with its own drop account */
  readonly steady?: { readonly window: CpuWindow; readonly dropEvents: number; readonly newDropSites: readonly string[] };
}

/** The agent's last window: the steady-state one where measured (its VmHWM covers the agent's whole run). */
export const lastWindow = (w: IdleWindow): CpuWindow => (w.steady ?? w).window;

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
  /** the first window's CPU (from settleSeconds after attach) */
  readonly cpu: Readonly<Record<IdleMode, MeanCi>>;
  /** the steady-state window's CPU, when measured: the targets are judged on it */
  readonly steadyCpu?: Readonly<Record<IdleMode, MeanCi>>;
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
      let measured: { attached: number; window: CpuWindow; from: number; to: number; steady?: { window: CpuWindow; from: number; to: number } } | undefined;
      try {
        commands[mode] = agent.argv.join(' ');
        const attached = await agent.waitAttached(receiver, s.pods, 60_000);
        const attachedAt = Date.now();
        await sleep(s.settleSeconds * 1000);
        const from = Date.now();
        const { window } = await measureProcess(agent.pid, () => sleep(s.windowSeconds * 1000));
        measured = { attached, window, from, to: Date.now() };
        if (s.steadyStartSeconds > 0) {
          const wait = attachedAt + s.steadyStartSeconds * 1000 - Date.now();
          progress(`i: round ${r} ${mode}: first window ${window.pctOfOneCore.toFixed(3)}% of a core; steady-state window in ${Math.max(0, wait / 1000).toFixed(0)} s`);
          await sleep(Math.max(0, wait));
          const steadyFrom = Date.now();
          const steady = await measureProcess(agent.pid, () => sleep(s.windowSeconds * 1000));
          measured.steady = { window: steady.window, from: steadyFrom, to: Date.now() };
        }
      } finally {
        await agent.stop(); // its last events exported: the window's drop events are all in
        track(undefined);
      }
      const { attached, window, from, to, steady } = measured;
      const drops = dropsInWindow(receiver.logRecords(), from, to);
      const steadyDrops = steady ? { window: steady.window, ...dropsInWindow(receiver.logRecords(), steady.from, steady.to) } : undefined;
      windows.push({ round: r, mode, attached, window, ...drops, ...(steadyDrops ? { steady: steadyDrops } : {}) });
      progress(`i: round ${r} ${mode === 'pod' ? 'pod mode ' : 'node level'}: ${attached} veths, ${window.pctOfOneCore.toFixed(3)}% of a core over ${window.wallSeconds.toFixed(0)} s, ` +
        `${drops.dropEvents} drop events (new sites: ${drops.newDropSites.join(', ') || 'none'})` +
        (steadyDrops ? `; steady state ${steadyDrops.window.pctOfOneCore.toFixed(3)}%, ${steadyDrops.dropEvents} drop events (new sites: ${steadyDrops.newDropSites.join(', ') || 'none'})` : '') +
        `; VmHWM ${(lastWindow(windows.at(-1)!).hwmEnd / MB).toFixed(1)} MB, VmRSS max ${(Math.max(window.rssMax, steady?.window.rssMax ?? 0) / MB).toFixed(1)} MB, machine ${window.machineBusyPct.toFixed(0)}% busy`);
    }
  }
  const of = (m: IdleMode): IdleWindow[] => windows.filter((w) => w.mode === m);
  const cpu = { pod: meanCi(of('pod').map((w) => w.window.pctOfOneCore)), node: meanCi(of('node').map((w) => w.window.pctOfOneCore)) };
  const ciText = (c: MeanCi): string => `mean ${round(c.mean, 3)}${Number.isFinite(c.hi) ? `, CI ${round(c.lo, 3)}–${round(c.hi, 3)}` : ''}`;
  const steadyOf = (m: IdleMode): MeanCi => meanCi(of(m).map((w) => w.steady!.window.pctOfOneCore));
  const steadyCpu = s.steadyStartSeconds > 0 ? { pod: steadyOf('pod'), node: steadyOf('node') } : undefined;
  const judged = steadyCpu ?? cpu;
  const hwmMax = { pod: Math.max(...of('pod').map((w) => lastWindow(w).hwmEnd)), node: Math.max(...of('node').map((w) => lastWindow(w).hwmEnd)) };
  const which = steadyCpu
    ? `the steady-state windows (${s.windowSeconds} s from ${s.steadyStartSeconds} s after attach; first minute, from ${s.settleSeconds} s: pod mode ${ciText(cpu.pod)}, node level ${ciText(cpu.node)})`
    : `${s.windowSeconds} s windows from ${s.settleSeconds} s after attach`;
  const upper = (c: MeanCi): number => (Number.isFinite(c.hi) ? c.hi : c.mean);
  return {
    settings: s, lab: lab.name, commands: commands as Record<IdleMode, string>, nodeFloorHwm: floor, windows, cpu, ...(steadyCpu ? { steadyCpu } : {}), hwmMax,
    targets: [
      target('i', 'i.idle-pod-cpu', `agent CPU idle in pod mode with ${s.pods} pods, 10 s exports: upper bound of the 95% CI over ${judged.pod.n} rounds (${ciText(judged.pod)}), utime+stime over ${which}, % of one core`,
        upper(judged.pod), '<=', POD_CPU_MAX_PCT, '% core', 3),
      target('i', 'i.idle-node-cpu', `agent CPU idle, node level (same ${s.pods} veths, no pod mode): upper bound of the 95% CI over ${judged.node.n} rounds (${ciText(judged.node)}), % of one core`,
        upper(judged.node), '<=', NODE_CPU_MAX_PCT, '% core', 3),
      target('i', 'i.idle-pod-hwm', `agent VmHWM from start through idle (to the end of the last window) in pod mode with ${s.pods} pods, largest over the rounds (Node's own floor: ${round(floor / MB, 1)} MB; MB = 10^6 bytes)`,
        hwmMax.pod / MB, '<=', POD_HWM_MAX_MB, 'MB', 1),
    ],
  };
}
