/**
 * Small helpers shared by the benchmark parts: progress output, statistics, /proc readers and
 * target verdicts. Nothing here knows about a particular part.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type PartId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h' | 'i' | 'j';
export const PART_IDS: readonly PartId[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];

const t0 = Date.now();

/**
 * A plain JavaScript helper of the bench (bench/<file>, e.g. a traffic generator run inside a pod):
 * next to this module when running from bench/ (tests), else in bench/ from dist/bench/ (tsc does
 * not copy .mjs files).
 */
export function benchScript(file: string): string {
  const candidates = [new URL(`./${file}`, import.meta.url), new URL(`../../bench/${file}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`bench/${file} not found (looked at ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

/** One progress line on stdout, prefixed with the time since the benchmark started. */
export function progress(msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[bench ${s}s] ${msg}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Two-sided 95% quantiles of Student's t (t_{0.975}) for 1..30 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
  2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042];

export interface MeanCi {
  readonly n: number;
  readonly mean: number;
  /** sample standard deviation (n − 1) */
  readonly sd: number;
  /** 95% confidence interval of the mean (t-distribution, n − 1 degrees of freedom); NaN for n < 2 */
  readonly lo: number;
  readonly hi: number;
  readonly halfWidth: number;
}

/** Mean and 95% confidence interval of the mean of independent rounds (t-distribution). */
export function meanCi(xs: readonly number[]): MeanCi {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  if (n < 2) return { n, mean, sd: NaN, lo: NaN, hi: NaN, halfWidth: NaN };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const t = T975[Math.min(n - 1, T975.length) - 1]!; // beyond 30 df, 2.042 is ~2% wide of 1.96: conservative
  const halfWidth = (t * sd) / Math.sqrt(n);
  return { n, mean, sd, lo: mean - halfWidth, hi: mean + halfWidth, halfWidth };
}

export interface SlopeCi {
  readonly n: number;
  /** least-squares slope of y over x */
  readonly slope: number;
  /** 95% confidence interval of the slope (t-distribution, n − 2 degrees of freedom); NaN for n < 3 */
  readonly lo: number;
  readonly hi: number;
}

/**
 * Ordinary least-squares slope of ys over xs with its 95% confidence interval. The interval assumes
 * independent residuals: for a time series whose points are autocorrelated it is optimistic.
 */
export function olsSlopeCi(xs: readonly number[], ys: readonly number[]): SlopeCi {
  const n = xs.length;
  if (n < 3 || ys.length !== n) return { n, slope: NaN, lo: NaN, hi: NaN };
  const mx = xs.reduce((a, x) => a + x, 0) / n, my = ys.reduce((a, y) => a + y, 0) / n;
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0), sxy = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0);
  const slope = sxy / sxx;
  const ssr = xs.reduce((a, x, i) => a + (ys[i]! - my - slope * (x - mx)) ** 2, 0);
  const se = Math.sqrt(ssr / (n - 2) / sxx);
  const t = T975[Math.min(n - 2, T975.length) - 1]!;
  return { n, slope, lo: slope - t * se, hi: slope + t * se };
}

export const min = (xs: readonly number[]): number => Math.min(...xs);
export const max = (xs: readonly number[]): number => Math.max(...xs);

/** Rounds for reports (keeps JSON readable without losing meaningful digits). */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---- /proc readers ----

let clkTck: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`). */
export function clockTicks(): number {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  if (!Number.isInteger(clkTck) || clkTck <= 0) throw new Error(`getconf CLK_TCK returned ${String(clkTck)}`);
  return clkTck;
}

/** utime + stime of a process (all its threads), in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return utime + stime;
}

export interface ProcMem {
  /** VmRSS, bytes */
  readonly rss: number;
  /** VmHWM (peak RSS since start), bytes */
  readonly hwm: number;
}

export function procMem(pid: number): ProcMem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${key} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Whole-machine CPU time from /proc/stat: busy and total jiffies over all cores. */
export function systemCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no cpu line in /proc/stat');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest times are already in user/nice)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuWindow {
  readonly wallSeconds: number;
  /** CPU seconds used by the process over the window */
  readonly cpuSeconds: number;
  /** cpuSeconds / wallSeconds × 100: percent of one core */
  readonly pctOfOneCore: number;
  /** Whole machine: busy share of all cores over the window, percent */
  readonly machineBusyPct: number;
  readonly rssSamples: number;
  /** largest VmRSS sampled during the window, bytes */
  readonly rssMax: number;
  /** VmRSS at the end of the window, bytes */
  readonly rssEnd: number;
  /** VmHWM at the end of the window (peak since process start), bytes */
  readonly hwmEnd: number;
}

/**
 * Measures a process's CPU (utime+stime over wall time) and memory (VmRSS sampled every
 * `sampleMs`, VmHWM at the end) while `during` runs, plus the machine's busy share.
 */
export async function measureProcess<T>(pid: number, during: () => Promise<T>, sampleMs = 500): Promise<{ window: CpuWindow; value: T }> {
  const tck = clockTicks();
  let rssMax = procMem(pid).rss;
  let samples = 1;
  const timer = setInterval(() => {
    try {
      rssMax = Math.max(rssMax, procMem(pid).rss);
      samples++;
    } catch { /* process gone: reported by the caller's checks */ }
  }, sampleMs);
  const sys0 = systemCpu();
  const ticks0 = cpuTicks(pid);
  const w0 = process.hrtime.bigint();
  let value: T;
  try {
    value = await during();
  } finally {
    clearInterval(timer);
  }
  const ticks1 = cpuTicks(pid);
  const w1 = process.hrtime.bigint();
  const sys1 = systemCpu();
  const mem = procMem(pid);
  rssMax = Math.max(rssMax, mem.rss);
  const wallSeconds = Number(w1 - w0) / 1e9;
  const cpuSeconds = (ticks1 - ticks0) / tck;
  return {
    value,
    window: {
      wallSeconds, cpuSeconds, pctOfOneCore: (cpuSeconds / wallSeconds) * 100,
      machineBusyPct: ((sys1.busy - sys0.busy) / Math.max(1, sys1.total - sys0.total)) * 100,
      rssSamples: samples + 1, rssMax, rssEnd: mem.rss, hwmEnd: mem.hwm,
    },
  };
}

export const MB = 1e6;

// ---- targets ----

export interface Target {
  readonly part: PartId;
  readonly id: string;
  /** What is compared, in words (which number, over which window). */
  readonly description: string;
  readonly measured: number;
  readonly op: '>=' | '<=' | '==';
  readonly limit: number;
  readonly unit: string;
  readonly pass: boolean;
  /** Distance to the limit in the target's unit: positive = headroom, negative = missed by. */
  readonly margin: number;
  readonly marginText: string;
}

export function target(part: PartId, id: string, description: string, measured: number, op: Target['op'], limit: number, unit: string, digits = 2): Target {
  const margin = op === '>=' ? measured - limit : op === '<=' ? limit - measured : -Math.abs(measured - limit);
  const pass = op === '==' ? measured === limit : Number.isFinite(measured) && margin >= 0;
  const u = unit ? ` ${unit}` : '';
  const marginText = op === '=='
    ? (pass ? 'exact' : `off by ${round(Math.abs(measured - limit), digits)}${u}`)
    : pass ? `headroom ${round(margin, digits)}${u}` : `missed by ${round(-margin, digits)}${u}`;
  return { part, id, description, measured: round(measured, digits), op, limit, unit, pass, margin: round(margin, digits), marginText };
}

export interface MedianCi {
  readonly n: number;
  readonly median: number;
  /**
   * Distribution-free 95% confidence interval of the median (order statistics): [x_(k), x_(n+1−k)]
   * with the largest k such that P(Binomial(n, ½) < k) ≤ 2.5%; its coverage is ≥ 95% for any
   * continuous distribution of independent samples. NaN when n < 6 (no such k).
   */
  readonly lo: number;
  readonly hi: number;
  /** k above (1-based rank of the lower bound) and the interval's exact coverage, % */
  readonly k: number;
  readonly coveragePct: number;
}

/** Median with its distribution-free 95% confidence interval (order statistics, binomial). */
export function medianCi(xs: readonly number[]): MedianCi {
  const n = xs.length;
  const s = [...xs].sort((a, b) => a - b);
  // P(B ≤ j) for B ~ Binomial(n, ½), in logs to stay finite for large n
  const lnChoose = (j: number): number => lnFact(n) - lnFact(j) - lnFact(n - j);
  let cdf = 0;
  let k = 0;
  for (let j = 0; j < n; j++) {
    cdf += Math.exp(lnChoose(j) - n * Math.LN2);
    if (cdf > 0.025) break;
    k = j + 1; // P(B ≤ j) = P(B < j + 1) ≤ 2.5%
  }
  if (k < 1) return { n, median: median(s), lo: NaN, hi: NaN, k: 0, coveragePct: NaN };
  let tail = 0;
  for (let j = 0; j < k; j++) tail += Math.exp(lnChoose(j) - n * Math.LN2);
  return { n, median: median(s), lo: s[k - 1]!, hi: s[n - k]!, k, coveragePct: (1 - 2 * tail) * 100 };
}

const lnFactCache: number[] = [0];
function lnFact(n: number): number {
  for (let i = lnFactCache.length; i <= n; i++) lnFactCache[i] = lnFactCache[i - 1]! + Math.log(i);
  return lnFactCache[n]!;
}
