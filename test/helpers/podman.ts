/**
 * Podman the way scripts/image.sh runs it (the script says why): runc, cgroupfs, and rlimits no
 * higher than this process's own. Asynchronous, so that minute-long builds do not stall vitest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const PODMAN = 'podman';
export const PODMAN_GLOBAL: readonly string[] = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];

function hardLimit(label: string): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(label));
  const hard = line?.slice(label.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? 1_048_576 : Number(hard);
}

/** --ulimit flags: open files and processes at our hard limits (podman caps its own nproc at pid_max). */
export function ulimitFlags(): string[] {
  const nofile = hardLimit('Max open files');
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
  const nproc = Math.min(hardLimit('Max processes'), pidMax);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

export interface CmdResult { code: number | null; stdout: string; stderr: string; ms: number }

/** Runs a command to its end; never throws for a non-zero exit. Output kept whole (stdout) or its tail (stderr). */
export function runAsync(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; onStderr?: (chunk: string) => void } = {}): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => {
      const s = b.toString();
      stderr = (stderr + s).slice(-64_000);
      opts.onStderr?.(s);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: Date.now() - t0 }); });
  });
}

/** `podman <global flags> args…` */
export function podman(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CmdResult> {
  return runAsync(PODMAN, [...PODMAN_GLOBAL, ...args], { timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** `podman run …` in the foreground, as a child process (stdout/stderr are the container's). */
export function spawnPodmanRun(args: readonly string[]): ChildProcess {
  return spawn(PODMAN, [...PODMAN_GLOBAL, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
