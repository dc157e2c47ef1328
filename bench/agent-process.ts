/**
 * The real agent as a child process (`node bin/fovea.js agent ...`), exporting to the bench's
 * OtlpReceiver. Started, waited on until its tc programs are attached, stopped with SIGTERM (its
 * orderly shutdown sends a final export), SIGKILL after a deadline.
 */
import { AGENT_NODE_FLAGS } from '../src/runtime.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INSTRUMENTS } from '../src/names.js';
import type { OtlpReceiver } from '../src/otlp/receiver.js';
import { run } from '../src/lab/run.js';

export interface AgentProcessOptions {
  readonly root: string;
  readonly endpoint: string;
  /** Interface glob(s) for --interfaces. */
  readonly interfaces: string;
  readonly exportIntervalMs: number;
  /** stdout+stderr of the agent go here (JSON logs). */
  readonly logPath: string;
  /** Pid file, so a later run can end an agent a crashed bench left behind. */
  readonly pidPath: string;
  /** More agent flags (e.g. `--netns <glob>`), appended after the ones above. */
  readonly extraArgs?: readonly string[];
  /**
   * A script node runs instead of bin/fovea.js, with the same arguments: it must run
   * dist/src/cli.js's main(process.argv.slice(2)) — e.g. to start a CPU profile after start-up
   * (`node --cpu-prof` breaks BPF loading: SIGPROF interrupts the verifier, EAGAIN).
   */
  readonly entry?: string;
}

export interface AgentExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** true when SIGTERM did not end it within the deadline */
  readonly killed: boolean;
}

/** Environment without OTEL_* / FOVEA_* variables, so only the flags below configure the agent. */
/**
 * The V8 flags the image runs the agent with (src/runtime.ts); BENCH_AGENT_NODE_FLAGS replaces them
 * (space-separated, empty for Node's defaults) to measure what they change.
 */
function nodeFlags(): readonly string[] {
  const o = process.env['BENCH_AGENT_NODE_FLAGS'];
  return o === undefined ? AGENT_NODE_FLAGS : o.split(/\s+/).filter(Boolean);
}

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('FOVEA_')));
}

export class AgentProcess {
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private stopping: Promise<AgentExit> | undefined;

  private constructor(private readonly child: ChildProcess, readonly pid: number, readonly argv: readonly string[], private readonly opts: AgentProcessOptions) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => { this.exitInfo = { code, signal }; resolve(); }));
  }

  static start(opts: AgentProcessOptions): AgentProcess {
    const argv = [opts.entry ?? join(opts.root, 'bin', 'fovea.js'), 'agent',
      '--endpoint', opts.endpoint, '--interfaces', opts.interfaces,
      '--export-interval', `${opts.exportIntervalMs}ms`, '--log-level', 'info',
      // BENCH_AGENT_BPF_DIR=<dir>: the agent loads its eBPF objects from there (objects built elsewhere than bpf/build)
      ...(process.env['BENCH_AGENT_BPF_DIR'] ? ['--bpf-dir', process.env['BENCH_AGENT_BPF_DIR']] : []), ...(opts.extraArgs ?? [])];
    const fd = openSync(opts.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [...nodeFlags(), ...argv], { cwd: opts.root, env: cleanEnv(), stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error('could not spawn the agent');
    writeFileSync(opts.pidPath, String(child.pid));
    return new AgentProcess(child, child.pid, ['node', ...nodeFlags(), ...argv], opts);
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Last lines of the agent's log (for error messages). */
  logTail(lines = 15): string {
    try {
      return readFileSync(this.opts.logPath, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /**
   * Resolves once the receiver has `fovea.agent.interfaces.attached` ≥ `n` from this agent
   * (clear the receiver before starting the agent); rejects if the agent exits first.
   */
  async waitAttached(receiver: OtlpReceiver, n: number, timeoutMs: number): Promise<number> {
    const name = INSTRUMENTS.attachedInterfaces.name;
    const died = this.exited.then(() => {
      throw new Error(`agent exited (${JSON.stringify(this.exitInfo)}) before attaching:\n${this.logTail()}`);
    });
    await Promise.race([receiver.waitFor((r) => (r.latest(name) ?? 0) >= n, timeoutMs), died]).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nagent log:\n${this.logTail()}`);
    });
    void died.catch(() => undefined);
    return receiver.latest(name) ?? 0;
  }

  /** SIGTERM, wait for the orderly shutdown (final export), SIGKILL after `deadlineMs`. Idempotent. */
  stop(deadlineMs = 8_000): Promise<AgentExit> {
    this.stopping ??= (async () => {
      let killed = false;
      if (this.running) {
        this.child.kill('SIGTERM');
        const t = setTimeout(() => { killed = true; this.child.kill('SIGKILL'); }, deadlineMs);
        await this.exited;
        clearTimeout(t);
      }
      rmSync(this.opts.pidPath, { force: true });
      return { code: this.exitInfo?.code ?? null, signal: this.exitInfo?.signal ?? null, killed };
    })();
    return this.stopping;
  }
}

/**
 * Starts the agent, waits until it reports `fovea.agent.interfaces.attached` ≥ 2 (the receiver is
 * cleared first), then `settleSeconds`; stops it again when that fails.
 */
export async function startAgent(receiver: OtlpReceiver, opts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void,
  settleSeconds: number): Promise<AgentProcess> {
  receiver.clear();
  const agent = AgentProcess.start(opts);
  track(agent);
  try {
    await agent.waitAttached(receiver, 2, 30_000);
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    return agent;
  } catch (err) {
    await agent.stop();
    track(undefined);
    throw err;
  }
}

/** Stops the agent (orderly: final export); throws with its log tail unless it exited with 0. */
export async function stopAgent(agent: AgentProcess, track: (a: AgentProcess | undefined) => void): Promise<number | null> {
  const exit = await agent.stop();
  track(undefined);
  if (exit.code !== 0) throw new Error(`agent exit ${JSON.stringify(exit)}:\n${agent.logTail()}`);
  return exit.code;
}

/** Resolves once an export arrives that was sent after `afterMs` (Date.now()). */
export async function exportAfter(receiver: OtlpReceiver, afterMs: number, intervalMs: number): Promise<void> {
  await receiver.waitFor((r) => r.requests.some((e) => e.receivedAt > afterMs), intervalMs * 2 + 10_000);
}

/** Resolves when the agent's log says flow records are on for `n` interfaces of the lab. */
export async function waitFlowsTracked(logPath: string, prefix: string, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const on = new Map<string, boolean>();
    const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      let l: Record<string, unknown>;
      try { l = JSON.parse(line) as Record<string, unknown>; } catch { continue; }
      const iface = l['interface'];
      if (typeof iface !== 'string' || !iface.startsWith(prefix)) continue;
      if ((l['msg'] === 'attached' || l['msg'] === 'flow records switched') && typeof l['flows'] === 'boolean') on.set(iface, l['flows']);
    }
    if ([...on.values()].filter(Boolean).length >= n) return;
    if (Date.now() > deadline) throw new Error(`flow records on for ${[...on].filter(([, v]) => v).map(([k]) => k).join(', ') || 'no interface'} after ${timeoutMs} ms (want ${n})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Ends an agent that a crashed earlier bench run left behind (pid file), only if that pid is
 * still a `fovea.js agent` process with our interface glob on its command line.
 */
export function endStaleAgent(pidPath: string, interfaces: string): number | undefined {
  if (!existsSync(pidPath)) return undefined;
  const pid = Number(readFileSync(pidPath, 'utf8').trim());
  rmSync(pidPath, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined; // gone
  }
  if (!cmdline.some((a) => a.endsWith('fovea.js')) || !cmdline.includes('agent') || !cmdline.includes(interfaces)) return undefined;
  process.kill(pid, 'SIGKILL');
  return pid;
}

/** ifindex of an interface in the root netns. */
export function ifindexOf(ifname: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
}

const BPF_LINK_TYPE_TCX = 11;

/**
 * tcx links on the given interfaces, as the kernel lists them (`bpftool -j link show`), or
 * undefined when bpftool is missing or does not print tcx links' ifindex (bpftool < 7.3).
 */
export async function tcxLinksOn(ifindexes: readonly number[]): Promise<number | undefined> {
  const r = await run(['bpftool', '-j', 'link', 'show'], { allowFail: true }).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  const links = JSON.parse(r.stdout || '[]') as Array<Record<string, unknown>>;
  const tcx = links.filter((l) => l['type'] === 'tcx' || l['type'] === BPF_LINK_TYPE_TCX);
  if (tcx.some((l) => typeof l['ifindex'] !== 'number')) return undefined;
  return tcx.filter((l) => ifindexes.includes(l['ifindex'] as number)).length;
}

export interface BpfFd {
  readonly kind: 'map' | 'prog' | 'link';
  /** every numeric field of /proc/<pid>/fdinfo/<fd> (map_id, map_type, max_entries, prog_id, run_cnt ...) */
  readonly fields: Readonly<Record<string, number>>;
}

/** The eBPF maps, programs and links a process holds, from /proc/<pid>/fd and its fdinfo. */
export function bpfFdsOf(pid: number): BpfFd[] {
  const kinds: Record<string, BpfFd['kind']> = { 'anon_inode:bpf-map': 'map', 'anon_inode:bpf-prog': 'prog', 'anon_inode:bpf_link': 'link' };
  const out: BpfFd[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let kind: BpfFd['kind'] | undefined;
    let info: string;
    try {
      kind = kinds[readlinkSync(`/proc/${pid}/fd/${fd}`)];
      if (!kind) continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch { continue; } // closed meanwhile
    const fields: Record<string, number> = {};
    for (const m of info.matchAll(/^(\w+):\s+(\d+)$/gm)) fields[m[1]!] = Number(m[2]);
    out.push({ kind, fields });
  }
  return out;
}
