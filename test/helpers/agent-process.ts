/**
 * Runs the real `fovea agent` command as a child process (node bin/fovea.js agent ...), the way an
 * operator does, and reads its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

let started = 0;

export class AgentProcess {
  readonly logs: Array<Record<string, unknown>> = [];
  stderrText = '';
  private exitP: Promise<AgentExit>;
  exited: AgentExit | undefined;

  private constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderrText += d.toString();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try { this.logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* plain text */ }
      }
    });
    proc.stdout!.resume();
    this.exitP = new Promise((resolve) => proc.on('exit', (code, signal) => { this.exited = { code, signal }; resolve(this.exited); }));
  }

  /**
   * Starts `fovea agent args`. Each agent gets its own `fovea observe` socket (a temp path) unless
   * `env` names one, so agents of different tests never compete for /run/fovea/observe.sock.
   */
  static start(args: string[], env: Record<string, string | undefined> = {}): AgentProcess {
    const socket = join(tmpdir(), `fovea-test-${process.pid}-${++started}.sock`);
    const proc = spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), 'agent', ...args], {
      cwd: ROOT, env: { ...process.env, FOVEA_OBSERVE_SOCKET: socket, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AgentProcess(proc);
  }

  /** Follows an agent some other way started (e.g. `podman run … agent`: its stderr is the agent's). */
  static wrap(proc: ChildProcess): AgentProcess {
    return new AgentProcess(proc);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Resolves when a log line matches; rejects on exit or timeout (with the log in the message). */
  async waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.logs.find(pred);
      if (hit) return hit;
      if (this.exited) throw new Error(`agent exited ${JSON.stringify(this.exited)} before the expected log line:\n${this.stderrText.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`agent log line not seen within ${timeoutMs} ms:\n${this.stderrText.slice(-4000)}`);
  }

  waitStarted(): Promise<Record<string, unknown>> {
    return this.waitForLog((l) => l['msg'] === 'agent started');
  }

  /** Sends a signal and resolves with the exit and how long it took. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<AgentExit & { ms: number }> {
    const t0 = Date.now();
    if (!this.exited) this.proc.kill(signal);
    const e = await this.exitP;
    return { ...e, ms: Date.now() - t0 };
  }

  wait(): Promise<AgentExit> {
    return this.exitP;
  }
}
