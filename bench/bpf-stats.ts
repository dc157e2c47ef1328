/**
 * What the agent's eBPF programs cost in the kernel: kernel.bpf_stats_enabled=1 makes the kernel
 * time every run (run_time_ns, run_cnt in `bpftool prog show`); a part takes the Δ of both over a
 * window. Stats cost two clock reads per run, so they are on only for those windows, and always put
 * back (run.ts calls restoreBpfStats on exit too).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { run } from '../src/lab/run.js';
import { bpfFdsOf } from './agent-process.js';

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
let savedBpfStats: string | undefined;

/** Sets kernel.bpf_stats_enabled=1; returns what it was. */
export function enableBpfStats(): string {
  const before = readFileSync(BPF_STATS, 'utf8').trim();
  savedBpfStats ??= before;
  writeFileSync(BPF_STATS, '1');
  return before;
}

/** Puts kernel.bpf_stats_enabled back to what it was before the first enableBpfStats (idempotent). */
export function restoreBpfStats(): void {
  if (savedBpfStats === undefined) return;
  writeFileSync(BPF_STATS, savedBpfStats);
  savedBpfStats = undefined;
}

export interface ProgramCounters {
  readonly id: number;
  readonly name: string;
  readonly runCnt: number;
  readonly runTimeNs: number;
}

/** The process's programs whose name passes `pick`, as `bpftool -j prog show` lists them (ids from its own fds). */
export async function programsOf(pid: number, pick: (name: string) => boolean): Promise<ProgramCounters[]> {
  const ids = new Set(bpfFdsOf(pid).filter((f) => f.kind === 'prog').map((f) => f.fields['prog_id']));
  const { stdout } = await run(['bpftool', '-j', 'prog', 'show']);
  const progs = JSON.parse(stdout) as Array<{ id: number; name?: string; run_cnt?: number; run_time_ns?: number }>;
  return progs.filter((p) => ids.has(p.id) && pick(p.name ?? ''))
    .map((p) => ({ id: p.id, name: p.name!, runCnt: p.run_cnt ?? 0, runTimeNs: p.run_time_ns ?? 0 }))
    .sort((x, y) => x.name.localeCompare(y.name));
}

export interface ProgramRuns {
  readonly name: string;
  readonly runs: number;
  /** run_time_ns Δ ÷ run_cnt Δ; NaN without runs */
  readonly nsPerRun: number;
  /** runs ÷ window seconds */
  readonly runsPerSecond: number;
}

export function programDelta(a: readonly ProgramCounters[], b: readonly ProgramCounters[], seconds: number): ProgramRuns[] {
  return b.map((p) => {
    const q = a.find((x) => x.id === p.id);
    const runs = p.runCnt - (q?.runCnt ?? 0);
    const ns = p.runTimeNs - (q?.runTimeNs ?? 0);
    return { name: p.name, runs, nsPerRun: runs > 0 ? ns / runs : NaN, runsPerSecond: runs / seconds };
  });
}
