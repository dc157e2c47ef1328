/** What Fovea left in the kernel: loaded programs by name, tc filters on an interface. */
import { execFileSync } from 'node:child_process';

// symbolize: the drop-site symboliser (bpf/symbol.bpf.c), loaded at start where drop events are on (5.13+)
const FOVEA_PROGRAMS = new Set(['drop_tp_btf', 'drop_raw_tp', 'traffic_ingress', 'traffic_egress', 'symbolize']);

/** Fovea's programs currently loaded in the kernel (any process). */
export function loadedFoveaPrograms(): string[] {
  const out = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ name?: string }>).map((p) => p.name ?? '').filter((n) => FOVEA_PROGRAMS.has(n));
}

/** Lines of `tc filter show dev <if> <ingress|egress>` that are BPF filters. */
export function clsactFilters(ifname: string, dir: 'ingress' | 'egress'): string[] {
  try {
    const out = execFileSync('tc', ['filter', 'show', 'dev', ifname, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').filter((l) => l.includes(' bpf ') && l.includes('handle'));
  } catch {
    return []; // no clsact qdisc
  }
}
