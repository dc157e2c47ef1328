/**
 * A load generator written in C (bench/<name>.c: tcp-load, dns-load), compiled with clang at the
 * start of its part and run inside a lab pod. Every such program speaks the same small protocol:
 * one JSON object per line on stdout — {"event":"ready"} once it runs, {"event":"mark"} with its
 * cumulative counters on SIGUSR1, {"event":"result"} when it ends (SIGTERM, or its own end).
 */
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/run.js';
import { benchScript } from './util.js';

/** Compiles bench/<name>.c (clang -O2, as for the eBPF objects) into the temp directory; returns the binary. */
export async function compileLoad(name: string): Promise<string> {
  const bin = join(tmpdir(), `fovea-bench-${name}-${process.pid}`);
  await run(['clang', '-O2', '-Wall', '-o', bin, benchScript(`${name}.c`)]);
  return bin;
}

export type LoadLine = Record<string, unknown> & { event?: string };

/** One load process in a pod; `M` is the shape of its mark and result lines. */
export class LoadProcess<M = LoadLine> {
  private readonly queue: LoadLine[] = [];
  private readonly waiters: Array<(l: LoadLine) => void> = [];
  private stderr = '';
  private exited = false;
  private readonly gone: Promise<void>;

  private constructor(private readonly child: ChildProcess, readonly what: string) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let o: LoadLine;
      try { o = JSON.parse(line) as LoadLine; } catch { this.stderr += `${line}\n`; return; }
      const w = this.waiters.shift();
      if (w) w(o); else this.queue.push(o);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.gone = new Promise((resolve) => child.once('close', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w({ event: 'exit' });
      resolve();
    }));
  }

  /**
   * Starts `bin args...` in pod `pod`. `nofile`: `prlimit --nofile` raises the process's open-file
   * limit (to at most the hard limit this process has). `cpus`: `taskset -c` pins it (e.g. "1").
   * `env`: variables added to its environment (e.g. tcp-load's TCP_LOAD_PORT_LOG).
   */
  static start<M = LoadLine>(lab: Lab, pod: number, bin: string, args: ReadonlyArray<string | number>, nofile?: number, cpus?: string,
    env?: Readonly<Record<string, string>>): LoadProcess<M> {
    const pinned = [...(cpus === undefined ? [] : ['taskset', '-c', cpus]), bin, ...args.map(String)];
    const child = lab.spawn(pod, nofile === undefined ? pinned : ['prlimit', `--nofile=${nofile}:${nofile}`, ...pinned], env ? { env: { ...process.env, ...env } } : {});
    return new LoadProcess<M>(child, `${bin.split('/').pop()!.replace(/^fovea-bench-|-\d+$/g, '')} ${args[0]} in pod ${pod}`);
  }

  private next(timeoutMs: number): Promise<LoadLine> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.exited) return Promise.reject(new Error(`${this.what} exited: ${this.stderr.trim().slice(-500)}`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.what}: no answer within ${timeoutMs} ms: ${this.stderr.trim().slice(-500)}`)), timeoutMs);
      this.waiters.push((o) => {
        clearTimeout(t);
        if (o.event === 'exit') reject(new Error(`${this.what} exited: ${this.stderr.trim().slice(-500)}`));
        else resolve(o);
      });
    });
  }

  private async expect(event: string, timeoutMs: number): Promise<LoadLine> {
    const o = await this.next(timeoutMs);
    if (o.event !== event) throw new Error(`${this.what}: expected ${event}, got ${JSON.stringify(o)}`);
    return o;
  }

  /** false once the process has exited */
  get running(): boolean {
    return !this.exited;
  }

  ready(timeoutMs = 10_000): Promise<LoadLine> {
    return this.expect('ready', timeoutMs);
  }

  /** SIGUSR1: the process prints its counters. */
  async mark(): Promise<M> {
    const p = this.expect('mark', 5_000);
    this.child.kill('SIGUSR1');
    return (await p) as unknown as M;
  }

  /** The result line of a process that ends by itself (within `timeoutMs`). */
  async result(timeoutMs: number): Promise<M> {
    const r = await this.expect('result', timeoutMs);
    await this.gone;
    return r as unknown as M;
  }

  /** SIGTERM: the process prints its counters and exits (SIGKILL after 10 s); `{event: 'exit'}` when it printed nothing. */
  async stop(): Promise<LoadLine> {
    if (this.exited) return { event: 'exit' };
    const p = this.expect('result', 15_000).catch((): LoadLine => ({ event: 'exit' }));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const r = await p;
    await this.gone;
    clearTimeout(t);
    return r;
  }
}
