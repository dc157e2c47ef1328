/**
 * Routes libbpf's own log (libbpf_set_print) into the agent's logger. libbpf prints through a
 * printf-style callback with a va_list; we format it with libc's vsnprintf. libbpf only calls it
 * synchronously from the JS thread (inside open/load/attach calls), so a plain koffi callback is safe.
 */
import type { Logger } from '../log.js';
import { koffi, libbpf } from './libbpf.js';

const LEVELS = ['warn', 'info', 'debug'] as const; // LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG

let registered: unknown;
let current: Logger | undefined;
let muted = 0;
// Verifier logs arrive as one message and can be long; its tail says why a load failed.
const buf = Buffer.alloc(1 << 20);
const MAX_LOGGED_LINES = 40;
/** Recent libbpf lines, so errors can quote the verifier's reason. */
const recent: string[] = [];

export function routeLibbpfLog(logger: Logger): void {
  current = logger.child({ component: 'libbpf' });
  if (registered) return;
  const lib = libbpf();
  registered = koffi.register((level: number, fmt: string, args: unknown) => {
    const n = lib.vsnprintf(buf, buf.length, fmt, args);
    if (muted > 0) return 0;
    let lines = buf.toString('utf8', 0, Math.max(0, Math.min(n, buf.length - 1))).trimEnd().split('\n');
    const total = lines.length;
    if (total > MAX_LOGGED_LINES) lines = [`(${total - MAX_LOGGED_LINES} earlier lines left out)`, ...lines.slice(-MAX_LOGGED_LINES)];
    const line = lines.join('\n');
    recent.push(...lines.slice(-10));
    while (recent.length > 50) recent.shift();
    const lvl = LEVELS[level] ?? 'debug';
    // libbpf's "info" is chatty (feature probing); keep it at debug in the agent.
    current?.[lvl === 'info' ? 'debug' : lvl]({ libbpf: true }, line);
    return 0;
  }, koffi.pointer(lib.printFn));
  lib.libbpf_set_print(registered);
}

/** The last libbpf log lines (e.g. the verifier's complaint), newest last. */
export function recentLibbpfLines(max = 10): string[] {
  return recent.slice(-max);
}

/** Runs fn with libbpf's log silenced: for probes whose failure is expected (e.g. "is there a stale filter?"). */
export function withLibbpfLogMuted<T>(fn: () => T): T {
  muted++;
  try {
    return fn();
  } finally {
    muted--;
  }
}
