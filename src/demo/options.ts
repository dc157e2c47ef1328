/** `fovea demo` flags: parsing and help. Pure. */
import { parseArgs } from 'node:util';

export const DEFAULT_PODS = 3;
export const MAX_DEMO_PODS = 16;

export interface DemoOptions {
  readonly help: boolean;
  /** undefined: until Ctrl-C */
  readonly durationMs?: number;
  readonly pods: number;
  readonly view: boolean;
  readonly json: boolean;
  /** Also watch the host's default-route interface. */
  readonly hostInterface: boolean;
  /** Export (and view) interval. */
  readonly intervalMs: number;
}

export type ParsedDemoArgs = { ok: true; options: DemoOptions } | { ok: false; message: string };

export const DEMO_HELP = [
  'Usage: fovea demo [options]',
  '',
  'Runs Fovea end to end on this machine, no cluster and no collector needed: creates a throwaway',
  'lab of "pods" (network namespaces behind host-side veths, an nft rule dropping one port),',
  'starts an in-process OTLP/gRPC receiver and the real agent (the pods\' netns are its workloads:',
  'pod-level drops and workload-to-workload flows), generates traffic and drops (NETFILTER_DROP',
  'via the nft rule, NO_SOCKET via a closed port), and shows live what arrives at the receiver',
  'next to the kernel\'s own counters, with the newest drop events (OTLP log records). Meanwhile',
  '`npx fovea observe --follow` in another terminal streams them live. On exit it prints a summary',
  'and removes the lab.',
  'Needs root (network namespaces, eBPF).',
  '',
  'Options:',
  '  --duration <time>   Stop after this long: 30, 30s, 2m (default: until Ctrl-C)',
  `  --pods <n>          Number of pods, 2..${MAX_DEMO_PODS} (default: ${DEFAULT_PODS})`,
  '  --interval <time>   Export interval, 1s..10s (default: 1s)',
  '  --host-interface    Also watch the host\'s default-route interface',
  '  --no-view           No live view; print only the final summary',
  '  --json              Print the final summary as JSON on stdout (implies --no-view)',
  '  -h, --help          Show this help',
  '',
  'The agent\'s logs go to a file (its path is printed). Ctrl-C stops: traffic first, then the',
  'agent (final export), then the summary; a second Ctrl-C removes the lab and exits at once.',
  'Exit codes: 0 done, 1 could not run (not root, missing files, error), 2 invalid options.',
].join('\n');

/** "30" (seconds), "30s", "1.5m", "500ms", "1h" → ms; undefined when invalid. */
export function parseSeconds(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

export function parseDemoArgs(args: readonly string[]): ParsedDemoArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        duration: { type: 'string' },
        pods: { type: 'string' },
        interval: { type: 'string' },
        'host-interface': { type: 'boolean' },
        'no-view': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  const problems: string[] = [];
  let durationMs: number | undefined;
  if (values.duration !== undefined) {
    durationMs = parseSeconds(values.duration);
    if (durationMs === undefined || durationMs < 1_000) problems.push(`--duration: expected a time of at least 1s such as 30 or 2m, got ${JSON.stringify(values.duration)}`);
  }
  let pods = DEFAULT_PODS;
  if (values.pods !== undefined) {
    pods = Number(values.pods);
    if (!/^\d+$/.test(values.pods) || pods < 2 || pods > MAX_DEMO_PODS) {
      problems.push(`--pods: expected an integer in 2..${MAX_DEMO_PODS}, got ${JSON.stringify(values.pods)}`);
    }
  }
  let intervalMs = 1_000;
  if (values.interval !== undefined) {
    const iv = parseSeconds(values.interval);
    if (iv === undefined || iv < 1_000 || iv > 10_000) problems.push(`--interval: expected 1s..10s, got ${JSON.stringify(values.interval)}`);
    else intervalMs = iv;
  }
  if (problems.length > 0) return { ok: false, message: problems.join('\n') };
  const json = values.json === true;
  return {
    ok: true,
    options: {
      help: values.help === true,
      ...(durationMs !== undefined ? { durationMs } : {}),
      pods,
      view: !json && values['no-view'] !== true,
      json,
      hostInterface: values['host-interface'] === true,
      intervalMs,
    },
  };
}
