/** What the numbers were measured on: CPU, cores, memory, kernel, Node, libbpf, tools, commit. */
import { readFileSync, realpathSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { run } from '../src/lab/run.js';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly node: string;
  readonly libbpf: string;
  readonly clang: string;
  readonly iperf3: string;
  readonly virtualization: string;
  readonly gitCommit: string;
}

async function firstLine(argv: string[]): Promise<string> {
  try {
    const r = await run(argv, { allowFail: true });
    return (r.stdout || r.stderr).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** libbpf.so.1 as the dynamic linker finds it, resolved to its versioned file, plus the package. */
async function libbpfVersion(): Promise<string> {
  let file = 'libbpf.so.1 not found';
  try {
    const { stdout } = await run(['ldconfig', '-p']);
    const m = /libbpf\.so\.1 \([^)]*\) => (\S+)/.exec(stdout);
    if (m?.[1]) file = realpathSync(m[1]).split('/').pop() ?? m[1];
  } catch { /* keep the default */ }
  const pkg = await firstLine(['dpkg-query', '-W', '-f', '${Version}', 'libbpf1']);
  return `${file} (Debian libbpf1 ${pkg})`;
}

export async function machineInfo(root: string): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const dirty = (await run(['git', '-C', root, 'status', '--porcelain'], { allowFail: true })).stdout.trim() ? ' (+ uncommitted changes)' : '';
  return {
    cpuModel: model,
    cores: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    libbpf: await libbpfVersion(),
    clang: await firstLine(['clang', '--version']),
    iperf3: await firstLine(['iperf3', '--version']),
    virtualization: await firstLine(['systemd-detect-virt']),
    gitCommit: `${await firstLine(['git', '-C', root, 'rev-parse', '--short', 'HEAD'])}${dirty}`,
  };
}
