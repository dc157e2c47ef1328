/**
 * `fovea doctor`: what this host supports, tried for real (load, attach, detach at once), and
 * what will and won't work, with the fix for each.
 *
 * The pure parts — capability decoding, the privilege verdict, the summary and exit code, the
 * table — are exported for unit tests; runChecks() is the only part that touches the kernel, and
 * every check in it catches its own errors (no root, no libbpf, no objects: still a report).
 */
import { DROP_HOOKS as PROBE_DROP_HOOKS, DROP_HOOKS_NO_REASON, kfreeSkbHasReason } from '../probes/drop/probe.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BpfError } from '../kernel/errors.js';
import {
  BPF_MAP_TYPE_RINGBUF, KERNEL_BTF_PATH, batchLookupSupported, kernelBtfHas, kprobePmuPresent, libbpfVersion,
  lockdownMode, mapTypeSupported, tryFentryLoad, tryTcAttach, tryTracingAttach,
} from '../kernel/features.js';
import type { TcMode } from '../kernel/attach.js';
import { routeLibbpfLog } from '../kernel/libbpf-log.js';
import { createLogger } from '../log.js';
import { defaultBpfObjectDir } from '../paths.js';
import { DROP_OBJECT_NO_EVENTS, DropProbe } from '../probes/drop/probe.js';
import { NO_KERNEL_REASON } from '../probes/drop/reasons.js';
import { TRAFFIC_OBJECT } from '../probes/traffic/probe.js';
import { RESETS_WITHOUT_SOCKET_FIX, RESETS_WITHOUT_SOCKET_MISSED, TCP_OBJECT, tcpPrograms } from '../probes/tcp/probe.js';
import { Btf } from '../kernel/btf.js';
import { EXIT, type Command, type CommandIo } from './types.js';

/** ok: works; warn: works with a fallback or loses something; fail: a feature will not work;
 *  info: informational only (Fovea does not need it). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

export interface CheckResult {
  /** stable key (JSON consumers and the summary use it) */
  readonly id: string;
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** what to do about it; set for warn/fail */
  readonly fix?: string;
  /** the Fovea feature that depends on it */
  readonly affects: string;
  /** the full error, when a check failed on an error */
  readonly error?: string;
}

// ---------------------------------------------------------------------------------------------
// Capabilities (pure)

export const CAP = { NET_ADMIN: 12, SYS_ADMIN: 21, SYS_RESOURCE: 24, PERFMON: 38, BPF: 39 } as const;
const CAP_NAME = new Map<number, string>(Object.entries(CAP).map(([k, v]) => [v, k]));

/** Decodes a capability mask as printed in /proc/<pid>/status (CapEff: 000001ffffffffff). */
export function decodeCapMask(hex: string): Set<number> {
  const h = hex.trim();
  if (!/^[0-9a-fA-F]{1,16}$/.test(h)) throw new Error(`not a capability mask: "${hex}"`);
  const mask = BigInt(`0x${h}`);
  const caps = new Set<number>();
  for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) caps.add(bit);
  return caps;
}

/** The effective capabilities from the text of /proc/self/status. */
export function effectiveCaps(procStatus: string): Set<number> {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(procStatus);
  if (!m?.[1]) throw new Error('no CapEff line in /proc/self/status');
  return decodeCapMask(m[1]);
}

/** "6.18.44-foo" → {major: 6, minor: 18}; undefined when it does not look like a release. */
export function parseKernelRelease(rel: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m?.[1] && m[2] ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

const capList = (caps: number[]): string => caps.map((c) => `CAP_${CAP_NAME.get(c) ?? c}`).join(', ');

export function privilegeFix(missing: number[]): string {
  const names = missing.map((c) => `"${CAP_NAME.get(c) ?? c}"`).join(', ');
  const old = missing.includes(CAP.BPF) || missing.includes(CAP.PERFMON)
    ? ' (kernels before 5.8 have no CAP_BPF/CAP_PERFMON: add SYS_ADMIN instead)' : '';
  return `run as root, or grant the capabilities — Kubernetes: securityContext.capabilities.add: [${names}]; `
    + `Docker: ${missing.map((c) => `--cap-add ${CAP_NAME.get(c) ?? c}`).join(' ')}${old}`;
}

/**
 * What the capabilities allow. Loading maps and programs needs CAP_BPF, tracing programs (the drop
 * probe) CAP_PERFMON, tc programs and attachment (the traffic probe) CAP_NET_ADMIN; CAP_SYS_ADMIN
 * stands in for all three. CAP_SYS_RESOURCE only matters before 5.11, where BPF memory counted
 * against RLIMIT_MEMLOCK instead of the cgroup.
 */
export function privilegeCheck(caps: ReadonlySet<number>, kernel?: { major: number; minor: number }): CheckResult {
  const has = (c: number) => caps.has(c) || caps.has(CAP.SYS_ADMIN);
  const missing: number[] = [CAP.BPF, CAP.PERFMON, CAP.NET_ADMIN].filter((c) => !has(c));
  const oldKernel = kernel !== undefined && (kernel.major < 5 || (kernel.major === 5 && kernel.minor < 11));
  if (oldKernel && !caps.has(CAP.SYS_RESOURCE)) missing.push(CAP.SYS_RESOURCE);
  const drop = has(CAP.BPF) && has(CAP.PERFMON);
  const traffic = has(CAP.BPF) && has(CAP.NET_ADMIN);
  const base = { id: 'privileges', name: 'privileges', affects: 'all probes' };
  if (missing.length === 0) {
    const direct = [CAP.BPF, CAP.PERFMON, CAP.NET_ADMIN].every((c) => caps.has(c));
    const who = direct ? '' : ' (through CAP_SYS_ADMIN)';
    return { ...base, status: 'ok', detail: `CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN effective${who}` };
  }
  const cannot = [drop ? undefined : 'drop probe', traffic ? undefined : 'traffic probe'].filter(Boolean);
  const status: CheckStatus = !drop && !traffic ? 'fail' : 'warn';
  const effect = cannot.length ? `: no ${cannot.join(', no ')}` : ': map memory may hit RLIMIT_MEMLOCK';
  return { ...base, status, detail: `missing ${capList(missing)}${effect}`, fix: privilegeFix(missing) };
}

// ---------------------------------------------------------------------------------------------
// Summary and exit code (pure)

/** Hooks of the drop probe in the agent's order of preference (the probe's own list). */
export const DROP_HOOKS = PROBE_DROP_HOOKS.map((h) => ({ id: `drop-${h.kind}`, program: h.program, hook: h.hook }));
export const TC_MODES = [
  { id: 'traffic-tcx', mode: 'tcx' },
  { id: 'traffic-clsact', mode: 'clsact' },
] as const;

export interface Summary {
  /** the drop probe's hook, when it can run */
  readonly drop: string | null;
  /** the traffic probe's tc mode, when it can run */
  readonly traffic: 'tcx' | 'clsact' | null;
  readonly canRun: boolean;
  readonly message: string;
}

export function summarize(checks: readonly CheckResult[]): Summary {
  const ok = (id: string) => checks.some((c) => c.id === id && c.status === 'ok');
  const failed = (id: string) => checks.some((c) => c.id === id && c.status === 'fail');
  // the drop probe refuses to start without the kernel's reason names (decision 1 in DESIGN.md)
  const drop = failed('drop-reasons') ? null : DROP_HOOKS.find((h) => ok(h.id))?.hook ?? null;
  const traffic = TC_MODES.find((m) => ok(m.id))?.mode ?? null;
  const can = [drop ? `drop probe via ${drop}` : undefined, traffic ? `traffic via ${traffic}` : undefined]
    .filter((s): s is string => s !== undefined);
  const cannot = [drop ? undefined : 'drop probe', traffic ? undefined : 'traffic probe']
    .filter((s): s is string => s !== undefined);
  const message = can.length === 0
    ? 'Fovea cannot run here: no probe can be loaded (fix the ✗ rows above)'
    : `Fovea can run: ${can.join(', ')}${cannot.length ? `; not available: ${cannot.join(', ')} (see ✗ above)` : ''}`;
  return { drop, traffic, canRun: can.length > 0, message };
}

/** 0 when the agent can run with at least one probe, 1 otherwise. */
export function exitCode(summary: Summary): number {
  return summary.canRun ? EXIT.ok : EXIT.failure;
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', info: '·' };
const COLOUR: Record<CheckStatus, string> = { ok: '32', warn: '33', fail: '31', info: '2' };

/** Colour only on a terminal, and never when NO_COLOR is set to anything non-empty (no-color.org). */
export function useColour(stdout: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stdout.isTTY === true && !env['NO_COLOR'];
}

export function renderTable(checks: readonly CheckResult[], summary: Summary, opts: { colour: boolean; header?: string }): string {
  const paint = (s: string, code: string) => (opts.colour ? `\u001b[${code}m${s}\u001b[0m` : s);
  const nameW = Math.max(5, ...checks.map((c) => c.name.length));
  const affW = Math.max(7, ...checks.map((c) => c.affects.length));
  const lines: string[] = [];
  if (opts.header) lines.push(opts.header, '');
  lines.push(`   ${'CHECK'.padEnd(nameW)}  ${'AFFECTS'.padEnd(affW)}  DETAIL`);
  for (const c of checks) {
    lines.push(`${paint(MARK[c.status], COLOUR[c.status])}  ${c.name.padEnd(nameW)}  ${c.affects.padEnd(affW)}  ${c.detail}`);
    if (c.fix && (c.status === 'warn' || c.status === 'fail')) lines.push(`   ${' '.repeat(nameW)}  fix: ${c.fix}`);
  }
  lines.push('', paint(summary.message, summary.canRun ? '1' : '1;31'));
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// The checks (touch the host)

/**
 * Everything the checks ask of the host. realHost() is the machine; unit tests pass a fake to
 * walk the fallbacks (no tcx → clsact, no tp_btf → raw_tp, no libbpf) without a kernel.
 * Functions throw on failure (BpfError where the kernel refused).
 */
export interface Host {
  libbpfVersion(): { major: number; minor: number };
  /** called once libbpf loaded, before any load: where libbpf's own log goes */
  routeLibbpfLog(verbose: boolean): void;
  procStatus(): string;
  kernelRelease(): string;
  /** size in bytes of the kernel BTF, or undefined when /sys/kernel/btf/vmlinux is missing */
  kernelBtfSize(): number | undefined;
  dropReasonCount(): number;
  /** whether skb:kfree_skb passes a drop reason (kernel >= 5.17), from the kernel's BTF */
  kfreeSkbHasReason(): boolean;
  kernelBtfHasTypedef(name: string): boolean;
  /** arguments of a tracepoint in the kernel's BTF (btf_trace_<name>), undefined when absent */
  tracepointArity(name: string): number | undefined;
  /** the skb:kfree_skb format and the tracefs it came from, or undefined when not readable */
  kfreeSkbFormat(): { tracefs: string; format: string } | undefined;
  tryTracingAttach(object: string, program: string): void;
  tryTcAttach(object: string, program: string, mode: TcMode): void;
  mapTypeSupported(type: number): boolean;
  batchLookupSupported(object: string, map: string): boolean;
  lockdownMode(): string | undefined;
  tryFentryLoad(func: string): void;
  kprobePmuPresent(): boolean;
  bpffsMounted(): boolean;
}

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const LOOPBACK = { ifindex: 1, name: 'lo' }; // lo is ifindex 1 in every network namespace

export function realHost(): Host {
  return {
    libbpfVersion,
    routeLibbpfLog: (verbose) => routeLibbpfLog(createLogger(verbose ? 'warn' : 'silent')),
    procStatus: () => readFileSync('/proc/self/status', 'utf8'),
    kernelRelease: release,
    kernelBtfSize: () => (existsSync(KERNEL_BTF_PATH) ? statSync(KERNEL_BTF_PATH).size : undefined),
    dropReasonCount: () => DropProbe.kernelReasons().size,
    kfreeSkbHasReason: () => {
      const btf = Btf.vmlinux();
      try {
        return kfreeSkbHasReason(btf);
      } finally {
        btf.close();
      }
    },
    kernelBtfHasTypedef: (name) => kernelBtfHas(name, 'typedef'),
    tracepointArity: (name) => {
      const btf = Btf.vmlinux();
      try {
        return btf.tracepointArity(name);
      } finally {
        btf.close();
      }
    },
    kfreeSkbFormat: () => {
      for (const tracefs of TRACEFS) {
        try {
          return { tracefs, format: readFileSync(join(tracefs, 'events/skb/kfree_skb/format'), 'utf8') };
        } catch { /* not mounted here, or not readable */ }
      }
      return undefined;
    },
    tryTracingAttach,
    tryTcAttach: (object, program, mode) => tryTcAttach(object, program, mode, LOOPBACK.ifindex, LOOPBACK.name, 'ingress'),
    mapTypeSupported,
    batchLookupSupported,
    lockdownMode: () => lockdownMode(),
    tryFentryLoad,
    kprobePmuPresent,
    bpffsMounted: () => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[2] === 'bpf'),
  };
}

const LIBBPF_FIX = 'apt-get install libbpf1 (Debian/Ubuntu; libbpf on Fedora/RHEL/Alpine)';
const TC_UNSUPPORTED = new Set(['EINVAL', 'EOPNOTSUPP', 'errno 524', 'EPROTONOSUPPORT']);
const SEE_LOG = 'rerun with --verbose for libbpf\'s log';

interface CheckContext {
  readonly host: Host;
  readonly bpfDir: string;
  /** set when libbpf is not loadable: every check that needs it says so instead of trying */
  libbpfMissing?: boolean;
  /** set when capabilities are missing: EPERM rows point at the privileges row */
  privilegesMissing?: boolean;
  /** set when a seccomp filter is on this process (/proc/self/status Seccomp: 2): EPERM with every capability is likely its doing */
  seccompFiltered?: boolean;
  /** set when the kernel's skb:kfree_skb has no reason (< 5.17): the drop probe counts by freeing function */
  noReasons?: boolean;
}

/**
 * Runtimes' older default seccomp profiles (containerd < 1.7, Debian 12's podman) allow bpf() only
 * with CAP_SYS_ADMIN, so CAP_BPF is not enough there.
 */
const SECCOMP_FIX = 'a seccomp filter denies bpf(): older container runtimes\' default profiles allow it only with CAP_SYS_ADMIN — '
  + 'run with a profile that allows bpf() (deploy/components/seccomp-unconfined), or a runtime whose RuntimeDefault does (containerd >= 1.7)';

/** A short, path-free description of an error for the table; the full message goes to JSON. */
export function shortError(err: unknown): string {
  if (err instanceof BpfError) return `${err.op.replace(/\/\S*\/([^/\s]+)/g, '$1')}: ${err.code}`;
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? msg).replace(/\/\S*\/([^/\s]+)/g, '$1');
}

function fixFor(err: unknown, ctx: CheckContext, otherwise: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.startsWith('cannot load libbpf.so.1')) return LIBBPF_FIX;
  if (msg.includes('object file missing')) {
    return `build the eBPF objects (bash scripts/build.sh), or point --bpf-dir / FOVEA_BPF_DIR at them (looked in ${ctx.bpfDir})`;
  }
  if (err instanceof BpfError && err.code === 'EPERM' && ctx.privilegesMissing) return 'grant the missing capabilities (see privileges)';
  if (err instanceof BpfError && err.code === 'EPERM' && ctx.seccompFiltered) return SECCOMP_FIX;
  return otherwise;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; err: unknown };
function attempt<T>(fn: () => T): Attempt<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, err };
  }
}

type Base = Pick<CheckResult, 'id' | 'name' | 'affects'>;
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function failed(base: Base, err: unknown, ctx: CheckContext, otherwise: string, status: CheckStatus = 'fail', suffix = ''): CheckResult {
  return { ...base, status, detail: shortError(err) + suffix, fix: fixFor(err, ctx, otherwise), error: message(err) };
}

/** For checks that need libbpf, when it is missing. */
function notChecked(base: Base): CheckResult {
  return { ...base, status: 'fail', detail: 'not checked: libbpf.so.1 is not loadable', fix: LIBBPF_FIX };
}

function checkLibbpf(ctx: CheckContext): CheckResult {
  const base = { id: 'libbpf', name: 'libbpf', affects: 'all probes' };
  const r = attempt(() => ctx.host.libbpfVersion());
  if (!r.ok) {
    ctx.libbpfMissing = true;
    return { ...base, status: 'fail', detail: 'libbpf.so.1 cannot be loaded', fix: LIBBPF_FIX, error: message(r.err) };
  }
  const { major, minor } = r.value;
  if (major < 1) return { ...base, status: 'fail', detail: `libbpf ${major}.${minor}: Fovea needs libbpf >= 1.0`, fix: LIBBPF_FIX };
  return { ...base, status: 'ok', detail: `libbpf.so.1 version ${major}.${minor}` };
}

function checkPrivileges(ctx: CheckContext): CheckResult {
  const r = attempt(() => effectiveCaps(ctx.host.procStatus()));
  if (!r.ok) {
    return {
      id: 'privileges', name: 'privileges', affects: 'all probes', status: 'warn',
      detail: `cannot read capabilities: ${shortError(r.err)}`, fix: 'the load checks below show whether loading works',
    };
  }
  const result = privilegeCheck(r.value, parseKernelRelease(ctx.host.kernelRelease()));
  ctx.privilegesMissing = result.status !== 'ok';
  ctx.seccompFiltered = /^Seccomp:\s*2\s*$/m.test(ctx.host.procStatus());
  return ctx.seccompFiltered ? { ...result, detail: `${result.detail}; a seccomp filter is on (see the load rows if they fail with EPERM)` } : result;
}

/** Where a kernel without BTF is told to look (docs/kernels.md). */
export const NO_BTF_FIX = 'Fovea\'s eBPF objects are CO-RE: they are fitted to the running kernel from its BTF, so every probe needs it. '
  + 'Use a kernel built with CONFIG_DEBUG_INFO_BTF=y — the default of Debian >= 11, Ubuntu >= 20.10, RHEL/Alma/Rocky >= 8.2, '
  + 'Fedora >= 31, Amazon Linux 2023 (docs/kernels.md, "A kernel without BTF")';

function checkBtf(ctx: CheckContext): CheckResult {
  const base = { id: 'btf', name: 'kernel BTF', affects: 'all probes (CO-RE)' };
  const size = ctx.host.kernelBtfSize();
  if (size === undefined) {
    return { ...base, status: 'fail', detail: `${KERNEL_BTF_PATH} missing: no probe can load`, fix: NO_BTF_FIX };
  }
  return { ...base, status: 'ok', detail: `${KERNEL_BTF_PATH} (${(size / 2 ** 20).toFixed(1)} MiB)` };
}

function checkDropReasons(ctx: CheckContext, btfOk: boolean): CheckResult {
  const base = { id: 'drop-reasons', name: 'drop reasons', affects: 'drop probe' };
  if (ctx.libbpfMissing) return notChecked(base);
  if (!btfOk) {
    return { ...base, status: 'fail', detail: 'not checked: no kernel BTF to read enum skb_drop_reason from', fix: 'see kernel BTF' };
  }
  const given = attempt(() => ctx.host.kfreeSkbHasReason());
  if (given.ok && !given.value) {
    ctx.noReasons = true;
    return {
      ...base, status: 'warn',
      detail: `this kernel gives none (skb:kfree_skb has no reason argument before 5.17): drops are counted by the kernel `
        + `function that freed the packet (fovea.drop.location), with fovea.drop.reason=${NO_KERNEL_REASON}`,
      fix: 'kernel >= 5.17 for the kernel\'s own reasons (NETFILTER_DROP, NO_SOCKET, ...); counts, pods and drop events work without them',
    };
  }
  const r = attempt(() => ctx.host.dropReasonCount());
  if (!r.ok) return failed(base, r.err, ctx, 'needs kernel >= 5.17 (enum skb_drop_reason)');
  return { ...base, status: 'ok', detail: `enum skb_drop_reason: ${r.value} reasons (fovea reasons lists them)` };
}

function checkTracepoint(ctx: CheckContext, btfOk: boolean): CheckResult {
  const base = { id: 'tracepoint', name: 'skb:kfree_skb', affects: 'drop probe' };
  const found: string[] = [];
  let missing: string | undefined;
  if (btfOk && !ctx.libbpfMissing) {
    const r = attempt(() => ctx.host.kernelBtfHasTypedef('btf_trace_kfree_skb'));
    if (r.ok && r.value) found.push('in BTF');
    else if (r.ok) missing = 'kernel BTF has no tracepoint kfree_skb (btf_trace_kfree_skb)';
  }
  const tf = attempt(() => ctx.host.kfreeSkbFormat());
  const fmt = tf.ok ? tf.value : undefined;
  if (fmt) {
    if (/^\s*field:[^;]*\breason;/m.test(fmt.format)) found.push(`${fmt.tracefs}: has a reason field`);
    else if (ctx.noReasons) found.push(`${fmt.tracefs}: no reason field (kernel < 5.17)`);
    else missing ??= `${fmt.tracefs}: format has no reason field (kernel < 5.17)`;
  }
  if (missing) return { ...base, status: 'fail', detail: missing, fix: 'needs kernel >= 5.17 (skb:kfree_skb with a drop reason)' };
  if (ctx.noReasons) {
    return {
      ...base, status: 'warn', detail: `present without a reason argument: ${found.join('; ') || 'BTF: (skb, location)'}`,
      fix: 'see drop reasons',
    };
  }
  if (found.length === 0) {
    return { ...base, status: 'info', detail: 'not verifiable (no BTF, tracefs not readable); the attach checks are what counts' };
  }
  return { ...base, status: 'ok', detail: `present: ${found.join('; ')}${fmt ? '' : ' (tracefs not readable: not needed)'}` };
}

function checkDropHooks(ctx: CheckContext): CheckResult[] {
  const path = join(ctx.bpfDir, DROP_OBJECT_NO_EVENTS); // the hook alone: no ring buffer needed
  const bases = DROP_HOOKS.map((h) => ({ id: h.id, name: `drop via ${h.hook.split('/')[0]}`, affects: 'drop probe' }));
  if (ctx.libbpfMissing) return bases.map(notChecked);
  // kernels without reasons: the programs that read only (skb, location), in the same order
  const programs = DROP_HOOKS.map((h, i) => (ctx.noReasons ? DROP_HOOKS_NO_REASON[i]!.program : h.program));
  const tries = programs.map((p) => attempt(() => ctx.host.tryTracingAttach(path, p)));
  const chosen = tries.findIndex((t) => t.ok);
  return DROP_HOOKS.map((h, i): CheckResult => {
    const base = bases[i]!;
    const t = tries[i]!;
    const otherwise = h.program === 'drop_tp_btf' ? `tp_btf needs kernel BTF and >= 5.5; ${SEE_LOG}` : SEE_LOG;
    if (t.ok) {
      const by = ctx.noReasons ? ` (${programs[i]}: counts by freeing function)` : '';
      return i === chosen
        ? { ...base, status: 'ok', detail: `${h.hook}${by} loads and attaches: the agent will use it` }
        : { ...base, status: 'ok', detail: `${h.hook} loads and attaches (fallback, not needed here)` };
    }
    if (chosen >= 0 && i > chosen) {
      return { ...failed(base, t.err, ctx, otherwise, 'info'), detail: `fallback unavailable, not needed here: ${shortError(t.err)}` };
    }
    if (chosen >= 0) return failed(base, t.err, ctx, otherwise, 'warn', ` — ${DROP_HOOKS[chosen]!.hook} will be used`);
    return failed(base, t.err, ctx, otherwise);
  });
}

/** The tcp probe: each of its tracepoints in the kernel's BTF, and its programs load and attach. */
function checkTcp(ctx: CheckContext, btfOk: boolean): CheckResult {
  const base = { id: 'tcp', name: 'tcp tracepoints', affects: 'tcp probe (TCP health)' };
  if (ctx.libbpfMissing) return notChecked(base);
  if (!btfOk) return { ...base, status: 'fail', detail: 'needs kernel BTF (the tracepoints\' arity is read from it)', fix: 'a kernel with CONFIG_DEBUG_INFO_BTF=y' };
  const arity = attempt(() => tcpPrograms((tp) => ctx.host.tracepointArity(tp)));
  if (!arity.ok) return failed(base, arity.err, ctx, SEE_LOG);
  const { programs, missing } = arity.value;
  if (missing.length) {
    return { ...base, status: 'fail', detail: `kernel has no tracepoint ${missing.join(', ')}`, fix: 'needs Linux >= 4.16 (tcp:* and sock:inet_sock_set_state)' };
  }
  const path = join(ctx.bpfDir, TCP_OBJECT);
  const failures: string[] = [];
  let firstErr: unknown;
  for (const p of programs) {
    const t = attempt(() => ctx.host.tryTracingAttach(path, p));
    if (!t.ok) {
      failures.push(`${p}: ${shortError(t.err)}`);
      firstErr ??= t.err;
    }
  }
  if (failures.length) return { ...failed(base, firstErr, ctx, SEE_LOG), detail: `${failures.length} of ${programs.length} programs failed: ${failures.join('; ')}` };
  const attached = `${programs.length} raw tracepoints load and attach (${programs.join(', ')})`;
  if (!arity.value.everyResetSent) {
    return { ...base, status: 'warn', detail: `${attached}; but ${RESETS_WITHOUT_SOCKET_MISSED}`, fix: RESETS_WITHOUT_SOCKET_FIX };
  }
  return { ...base, status: 'ok', detail: attached };
}

function checkTc(ctx: CheckContext): CheckResult[] {
  const path = join(ctx.bpfDir, TRAFFIC_OBJECT);
  const where = `${LOOPBACK.name} ingress`;
  const tcxBase = { id: 'traffic-tcx', name: 'traffic via tcx', affects: 'traffic probe' };
  const clsBase = { id: 'traffic-clsact', name: 'traffic via clsact', affects: 'traffic probe' };
  if (ctx.libbpfMissing) return [notChecked(tcxBase)];
  const tcx = attempt(() => ctx.host.tryTcAttach(path, 'traffic_ingress', 'tcx'));
  if (tcx.ok) return [{ ...tcxBase, status: 'ok', detail: `attach + detach on ${where} works: the agent will use tcx` }];
  const unsupported = tcx.err instanceof BpfError && tcx.err.op.startsWith('tcx attach') && TC_UNSUPPORTED.has(tcx.err.code);
  // like the agent (attachTc): clsact only when the kernel lacks tcx, not on other errors
  if (!unsupported) return [failed(tcxBase, tcx.err, ctx, SEE_LOG)];
  // The filter is removed by Fovea's handle/priority; a clsact qdisc this created stays (empty):
  // destroying the hook would also remove other tools' filters.
  const cls = attempt(() => ctx.host.tryTcAttach(path, 'traffic_ingress', 'clsact'));
  const tcxRow = failed(tcxBase, tcx.err, ctx, 'tcx needs kernel >= 6.6', cls.ok ? 'warn' : 'fail',
    cls.ok ? ' — clsact fallback will be used' : '');
  const clsRow: CheckResult = cls.ok
    ? { ...clsBase, status: 'ok', detail: `attach + detach on ${where} works: the agent will use clsact` }
    : failed(clsBase, cls.err, ctx, `needs the sch_clsact and cls_bpf kernel modules; ${SEE_LOG}`);
  return [tcxRow, clsRow];
}

function checkRingbuf(ctx: CheckContext): CheckResult {
  const base = { id: 'ringbuf', name: 'BPF ring buffer', affects: 'drop events (fovea observe, OTLP logs)' };
  if (ctx.libbpfMissing) return notChecked(base);
  const r = attempt(() => ctx.host.mapTypeSupported(BPF_MAP_TYPE_RINGBUF));
  if (!r.ok) return failed(base, r.err, ctx, SEE_LOG, 'warn');
  if (r.value) return { ...base, status: 'ok', detail: 'BPF_MAP_TYPE_RINGBUF supported' };
  // libbpf's probe answers "no" on EPERM too
  if (ctx.privilegesMissing) {
    return { ...base, status: 'warn', detail: 'cannot create one (missing privileges, or kernel < 5.8)', fix: 'grant the missing capabilities (see privileges)' };
  }
  if (ctx.seccompFiltered) return { ...base, status: 'warn', detail: 'cannot create one (a seccomp filter, or kernel < 5.8)', fix: SECCOMP_FIX };
  return { ...base, status: 'warn', detail: 'not supported (kernel < 5.8)', fix: 'kernel >= 5.8; drop counters and metrics work without it (drop events off)' };
}

function checkBatch(ctx: CheckContext): CheckResult {
  const base = { id: 'batch', name: 'batch map reads', affects: 'map read cost' };
  if (ctx.libbpfMissing) return notChecked(base);
  const r = attempt(() => ctx.host.batchLookupSupported(join(ctx.bpfDir, DROP_OBJECT_NO_EVENTS), 'drop_counts'));
  if (!r.ok) return failed(base, r.err, ctx, SEE_LOG, 'warn');
  if (r.value) return { ...base, status: 'ok', detail: 'BPF_MAP_LOOKUP_BATCH works on a per-CPU hash' };
  return {
    ...base, status: 'warn', detail: 'not supported: maps are read key by key (7-10x slower, same numbers)',
    fix: 'kernel >= 5.6 for batch reads of hash maps',
  };
}

function checkLockdown(ctx: CheckContext): CheckResult {
  const base = { id: 'lockdown', name: 'kernel lockdown', affects: 'drop probe' };
  const mode = ctx.host.lockdownMode();
  if (mode === undefined) {
    return { ...base, status: 'info', detail: 'unknown (/sys/kernel/security/lockdown not readable); the load checks show the effect' };
  }
  if (mode === 'confidentiality') {
    return {
      ...base, status: 'warn', detail: 'confidentiality: BPF may not read kernel memory (bpf_probe_read_kernel)',
      fix: 'boot with lockdown=integrity or none; the drop-probe load checks show whether it is affected',
    };
  }
  return { ...base, status: 'ok', detail: `${mode} (does not restrict Fovea's probes)` };
}

function checkFentry(ctx: CheckContext): CheckResult {
  const base = { id: 'fentry', name: 'fentry', affects: 'nothing (informational)' };
  if (ctx.libbpfMissing) return { ...base, status: 'info', detail: 'not checked: libbpf.so.1 is not loadable' };
  const r = attempt(() => ctx.host.tryFentryLoad('tcp_v4_rcv'));
  return r.ok
    ? { ...base, status: 'info', detail: 'available; Fovea does not need it' }
    : { ...base, status: 'info', detail: `not available (${shortError(r.err)}); Fovea does not need it`, error: message(r.err) };
}

function checkKprobe(ctx: CheckContext): CheckResult {
  const base = { id: 'kprobe', name: 'kprobes', affects: 'nothing (informational)' };
  return ctx.host.kprobePmuPresent()
    ? { ...base, status: 'info', detail: 'available; Fovea does not need them' }
    : { ...base, status: 'info', detail: 'not available (no kprobe PMU: CONFIG_KPROBES off?); Fovea does not need them' };
}

function checkBpffs(ctx: CheckContext): CheckResult {
  const r = attempt(() => ctx.host.bpffsMounted());
  const state = r.ok ? (r.value ? 'mounted' : 'not mounted') : 'mount state unknown';
  return { id: 'bpffs', name: 'bpffs', affects: 'nothing', status: 'info', detail: `${state}; not needed (Fovea pins nothing)` };
}

/** Runs every check. Never throws: each check reports its own failure. */
export function runChecks(opts: { bpfDir: string; verbose: boolean }, host: Host = realHost()): CheckResult[] {
  const ctx: CheckContext = { host, bpfDir: opts.bpfDir };
  const out: CheckResult[] = [];
  const run = (id: string, name: string, fn: () => CheckResult | CheckResult[]): CheckResult[] => {
    let r: CheckResult[];
    try {
      const v = fn();
      r = Array.isArray(v) ? v : [v];
    } catch (err) { // a bug in one check must not hide the others
      r = [{ id, name, status: 'fail', affects: '?', detail: `check crashed: ${shortError(err)}`, error: message(err) }];
    }
    out.push(...r);
    return r;
  };
  run('libbpf', 'libbpf', () => checkLibbpf(ctx));
  // libbpf's own log: silent (errors carry its last lines), or on stderr with --verbose
  if (!ctx.libbpfMissing) attempt(() => host.routeLibbpfLog(opts.verbose));
  run('privileges', 'privileges', () => checkPrivileges(ctx));
  const btfOk = run('btf', 'kernel BTF', () => checkBtf(ctx))[0]?.status === 'ok';
  run('drop-reasons', 'drop reasons', () => checkDropReasons(ctx, btfOk));
  run('tracepoint', 'skb:kfree_skb', () => checkTracepoint(ctx, btfOk));
  run('drop-hooks', 'drop hooks', () => checkDropHooks(ctx));
  run('traffic-tcx', 'traffic via tcx', () => checkTc(ctx));
  run('tcp', 'tcp tracepoints', () => checkTcp(ctx, btfOk));
  run('ringbuf', 'BPF ring buffer', () => checkRingbuf(ctx));
  run('batch', 'batch map reads', () => checkBatch(ctx));
  run('lockdown', 'kernel lockdown', () => checkLockdown(ctx));
  run('fentry', 'fentry', () => checkFentry(ctx));
  run('kprobe', 'kprobes', () => checkKprobe(ctx));
  if (opts.verbose) run('bpffs', 'bpffs', () => checkBpffs(ctx));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The command

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Check what this host supports and what will and will not work, with the fix for each',
  help: () => [
    'Usage: fovea doctor [--json] [--verbose] [--bpf-dir DIR]',
    '',
    'Tries what the agent needs, for real and only for a moment: loads the drop probe on',
    'tp_btf and raw_tp and attaches it, attaches the traffic probe to lo with tcx (clsact only',
    'when tcx is missing), then detaches and unloads everything. Also checks libbpf, privileges,',
    "kernel BTF and the kernel's drop reasons, ring buffer and batch map support, lockdown.",
    'Sends nothing over the network. Run it as the agent would run (root or the same capabilities).',
    '',
    'Options:',
    '  --json          the checks and the summary as one JSON object',
    '  -v, --verbose   more rows (bpffs) and libbpf warnings on stderr',
    '  --bpf-dir DIR   compiled eBPF objects (default: FOVEA_BPF_DIR, else the package\'s bpf/build)',
    '  -h, --help      show this help',
    '',
    'Exit codes: 0 the agent can run with at least one probe, 1 it cannot, 2 bad usage.',
  ].join('\n'),
  run: runDoctor,
};

async function runDoctor(args: string[], io: CommandIo): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        'bpf-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    io.stderr.write(`fovea doctor: ${(err as Error).message}\n\n${doctorCommand.help()}\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout.write(doctorCommand.help() + '\n');
    return EXIT.ok;
  }
  const bpfDir = values['bpf-dir'] || io.env['FOVEA_BPF_DIR'] || defaultBpfObjectDir();
  const checks = runChecks({ bpfDir, verbose: values.verbose === true });
  const summary = summarize(checks);
  if (values.json) {
    io.stdout.write(JSON.stringify({ kernel: release(), bpfDir, checks, summary }, null, 2) + '\n');
  } else {
    const header = `fovea doctor — kernel ${release()}, eBPF objects from ${bpfDir}`;
    io.stdout.write(renderTable(checks, summary, { colour: useColour(io.stdout, io.env), header }));
  }
  return exitCode(summary);
}
