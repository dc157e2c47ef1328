/**
 * A throw-away server process of a test (Prometheus, VictoriaMetrics): keeps the last lines it
 * printed for failure messages, knows when it exited, waits for an HTTP endpoint to answer, and
 * stops it (SIGTERM, then SIGKILL after 5 s) and removes its data directory.
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

export abstract class ServerProcess {
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  protected constructor(private readonly proc: ChildProcess, private readonly dataDir: string, readonly port: number) {
    const keep = (b: Buffer): void => { this.output = (this.output + b.toString()).slice(-8_000); };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    proc.on('exit', (code, signal) => { this.exited = { code, signal }; });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Last lines the process printed (for failure messages). */
  get log(): string {
    return this.output;
  }

  /** Polls `path` until it answers 2xx; throws with the process's output when it exits or the time is up. */
  protected async waitHttp(path: string, what: string, timeoutMs: number, pollMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${what} exited (${JSON.stringify(this.exited)}):\n${this.output}`);
      try {
        if ((await fetch(`${this.baseUrl}${path}`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    throw new Error(`${what} not ready after ${timeoutMs} ms:\n${this.output}`);
  }

  /** Kills the process and removes its data. Idempotent. */
  async stop(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
