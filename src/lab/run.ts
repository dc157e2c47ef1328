/**
 * Process helpers for the lab: run a command to completion (argv only, never a shell string),
 * with a clear error naming the command, its exit code and stderr.
 */
import { spawn, type SpawnOptions } from 'node:child_process';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface RunOptions {
  /** Written to the child's stdin (e.g. an `nft -f -` script or an `ip -batch -` list). */
  readonly input?: string;
  /** Return a non-zero exit instead of throwing. */
  readonly allowFail?: boolean;
  /** Kill the child (SIGKILL) after this many ms; default 60 s. */
  readonly timeoutMs?: number;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`command failed (exit ${code}): ${argv.join(' ')}${stderr ? `: ${stderr.trim()}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Thrown when a required tool is missing; the message says which package installs it. */
export class MissingToolError extends Error {
  constructor(readonly tool: string, readonly pkg: string) {
    super(`${tool} not installed: apt-get install ${pkg}`);
    this.name = 'MissingToolError';
  }
}

const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  nft: 'nftables',
  iperf3: 'iperf3',
  sysctl: 'procps',
};

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error('run: empty argv'));
  const spawnOpts: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'] };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    timer.unref();
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // `ip netns exec ns <tool>` reports a missing tool through its own exit, the direct case here.
      if (err.code === 'ENOENT') reject(new MissingToolError(cmd, PACKAGE_OF[cmd] ?? cmd));
      else reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const rc = code ?? (signal ? 128 : 1);
      if (rc !== 0 && !opts.allowFail) reject(new CommandError(argv, rc, stderr || (signal ? `killed by ${signal}` : '')));
      else resolve({ stdout, stderr, code: rc });
    });
    child.stdin?.on('error', () => { /* child exited before reading stdin: reported by 'close' */ });
    child.stdin?.end(opts.input ?? '');
  });
}
