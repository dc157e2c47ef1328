// Hand measurement behind docs/benchmark.md's "What a dropped packet costs without bpf_stats": the drop
// storm of part e (bench/storm.ts: trafgen, one worker per core, 58-byte UDP frames out of fvstrm0 into
// an nft netdev ingress drop on fvstrm1; the nft counter is the truth), with kernel.bpf_stats_enabled=0
// throughout, with nothing attached and with programs on the storm's three hooks:
//
//   none              nothing of ours attached
//   empty             programs that only return (bench/bpf/empty-hooks.bpf.c) on exactly the agent's
//                     hooks: tc egress of fvstrm0, tc ingress of fvstrm1 (tcx links, or clsact with
//                     --attach-mode clsact) and skb:kfree_skb (tp_btf, or raw_tp with --raw-tp)
//   empty-tc          the two empty tc programs only;  empty-drop: the empty kfree_skb program only
//   fovea             Fovea's own programs (traffic_egress, traffic_ingress, drop_tp_btf or drop_raw_tp
//                     from --bpf-dir, default bpf/build), loaded and their maps set as the agent does with
//                     its defaults (see loadFovea), attached by this script: the kernel side of the agent
//                     without its user space. After each window the script prints what they counted
//                     (tc ingress runs, drops) beside the storm's frames: they must agree.
//   fovea-tc, fovea-drop   the same, the tc programs only / the drop program only
//   agent             the agent itself (defaults: drop events on; --interfaces fvstrm*)
//   agent-no-traffic  the agent with --no-traffic (the drop program only); agent-no-drop: --no-drop
//   agent:<dir>       the agent with --bpf-dir <dir> (another build of the objects); agent-no-traffic:<dir> too
//
//   node bench/manual/storm-floor.mjs [--rounds 6] [--seconds 3] [--raw-tp] [--attach-mode tcx|clsact] [--bpf-dir d] [variant ...]
//   node bench/manual/storm-floor.mjs --toggle [--rounds 40] [--window 0.5] [empty|fovea variants ...]
//   node bench/manual/storm-floor.mjs --profile 5 [empty|fovea variants ...]
//
// Default variants: empty empty-tc empty-drop fovea fovea-tc fovea-drop agent agent-no-traffic.
// Paired windows (default): every variant window is paired with a `none` window right before it (same
// round, seconds apart; trafgen restarted for each), and the variants' order rotates from round to round.
// A window starts 0.5 s after trafgen does and lasts --seconds; in it:
//   - drops/s: nft counter Δ ÷ wall time;
//   - CPU ns per drop: the CPU time of trafgen's workers and of ksoftirqd/N (/proc/<pid>/task/*/schedstat,
//     ns; this kernel has no IRQ time accounting, so the softirq work done on return from trafgen's
//     sends, where the veth's receive side, nft and kfree_skb run, is in trafgen's time) ÷ drops. Unlike
//     the rate it does not move when other processes take CPU from the storm, which on a shared machine
//     is most of the rate's noise;
//   - the agent's own CPU time (all its threads), kept apart: it is not on the packets' path.
// Per pair: ratio = drops/s with ÷ without; added ns per drop = CPU ns per drop with − without (and the
// same from rates: cores × (1/rate_with − 1/rate_without), which assumes both cores were the storm's).
// --toggle (script-attached variants only): one storm for the whole run, the programs attached and
// detached under it every --window s (see toggleMode): many more, shorter pairs, no trafgen restarts.
// --profile S (script-attached variants only): one storm, `perf record -e cpu-clock -a` for S s with
// nothing and then each variant attached; symbols in CPU ns per frame (see profileMode).
// Summary: mean ± 95 % CI. Programs of other processes on kfree_skb run on every storm drop in every
// window, ours or not (they also enable the tracepoint already, so `empty-drop` then shows only one more
// program's dispatch, not the cost of enabling it): the script counts and reports them.
// kernel.bpf_stats_enabled must stay 0: each window checks it at both ends and flags the window if not.
// As root, after `bash scripts/build.sh`; hold /tmp/fovea-quiet.lock (flock /tmp/fovea-quiet.lock node ...).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess, ifindexOf } from '../../dist/bench/agent-process.js';
import { programsOf } from '../../dist/bench/bpf-stats.js';
import { meanCi } from '../../dist/bench/util.js';
import { STORM_A, STORM_B, STORM_INTERFACES, nftCount, setUp, startTrafgen, tearDown, trafgenConfig } from '../../dist/bench/storm.js';
import { attachClsact, attachTcx, attachTracing } from '../../dist/src/kernel/attach.js';
import { BpfObject } from '../../dist/src/kernel/object.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { DROP_ARRAY_REASONS, dropReasonSlots, encodeDropEventConfig } from '../../dist/src/probes/drop/layout.js';
import { encodeTrafficKey, encodeTrafficSlot, slotOf } from '../../dist/src/probes/traffic/layout.js';

const ROOT = join(import.meta.dirname, '..', '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '3' },
    'raw-tp': { type: 'boolean', default: false }, 'attach-mode': { type: 'string', default: 'tcx' },
    'bpf-dir': { type: 'string', default: 'bpf/build' },
    toggle: { type: 'boolean', default: false }, window: { type: 'string', default: '0.5' },
    profile: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const MODE = values['attach-mode'];
if (MODE !== 'tcx' && MODE !== 'clsact') throw new Error('--attach-mode tcx|clsact');
const BPF_DIR = resolve(ROOT, values['bpf-dir']);
const CORES = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
const variants = positionals.length ? positionals : ['empty', 'empty-tc', 'empty-drop', 'fovea', 'fovea-tc', 'fovea-drop', 'agent', 'agent-no-traffic'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bpfStats = () => readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();

// ---- the empty programs ----
const EMPTY_OBJ = join(tmpdir(), `fovea-storm-floor-${process.pid}.bpf.o`);
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86';
execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${ARCH}`, '-Wall', '-Werror', '-I', join(ROOT, 'bpf'),
  '-I', join(ROOT, 'bpf', 'include'), '-c', join(ROOT, 'bench', 'bpf', 'empty-hooks.bpf.c'), '-o', EMPTY_OBJ]);
const DROP_PROG = values['raw-tp'] ? 'empty_drop_raw_tp' : 'empty_drop_tp_btf';

const attachTcHook = MODE === 'tcx' ? attachTcx : attachClsact;
/** Objects loaded once (programs attached and detached per window): the empty programs, and Fovea's. */
let emptyObj, foveaDrop, foveaTraffic;
function loadEmpty() {
  if (emptyObj) return emptyObj;
  emptyObj = BpfObject.open(EMPTY_OBJ);
  for (const p of ['empty_drop_tp_btf', 'empty_drop_raw_tp']) emptyObj.program(p).setAutoload(p === DROP_PROG);
  emptyObj.load();
  return emptyObj;
}
/**
 * Fovea's drop and traffic objects (--bpf-dir, default bpf/build) loaded the way the agent loads them with
 * its defaults, its maps set as it sets them (drop events on at 100 per second per CPU, a 1 MiB ring that
 * nobody drains: at 200 events/s it takes minutes to fill, and a full ring costs a failed reserve within
 * the limit only; the storm veths' fast-path slots claimed), without the agent's user space.
 */
function loadFovea() {
  if (foveaDrop) return;
  foveaDrop = BpfObject.open(join(BPF_DIR, 'drop.bpf.o'));
  const prog = values['raw-tp'] ? 'drop_raw_tp' : 'drop_tp_btf';
  for (const p of ['drop_tp_btf', 'drop_raw_tp', 'drop_tp_btf_loc', 'drop_raw_tp_loc']) foveaDrop.program(p).setAutoload(p === prog);
  foveaDrop.map('drop_events').setMaxEntries(1 << 20);
  foveaDrop.map('drop_location_counts').setMaxEntries(1);
  foveaDrop.map('drop_reason_counts').setMaxEntries(dropReasonSlots(DROP_ARRAY_REASONS));
  foveaDrop.load();
  foveaDrop.map('drop_event_cfg').update(Buffer.alloc(4), encodeDropEventConfig({ enabled: true, perWindow: 100, windowNs: 1_000_000_000n }));
  foveaDrop.dropProg = prog;
  foveaTraffic = BpfObject.open(join(BPF_DIR, 'traffic.bpf.o'));
  foveaTraffic.load();
  const slots = foveaTraffic.map('traffic_slots');
  for (const dev of [STORM_A, STORM_B]) {
    const ifindex = ifindexOf(dev);
    slots.update(encodeTrafficKey(slotOf(ifindex)), encodeTrafficSlot(ifindex, slots.cpus, slots.valueStride, 0));
  }
}
/** Σ over CPUs of a per-CPU u64 at `off` of map[key] */
function perCpuSum(map, key, off) {
  const v = map.lookup(key);
  const per = map.valueStride / map.cpus;
  let n = 0n;
  for (let c = 0; c < map.cpus; c++) n += v.readBigUInt64LE(c * per + off);
  return Number(n);
}
/** What Fovea's programs counted so far: storm frames seen by traffic_ingress on fvstrm1, drops with unreadable headers (all the storm's). */
function foveaCounts() {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(2); // DROP_ERR_HEADER_READ
  return {
    ingress: perCpuSum(foveaTraffic.map('traffic_slots'), encodeTrafficKey(slotOf(ifindexOf(STORM_B))), 8 /* counts.packets[INGRESS] */),
    drops: perCpuSum(foveaDrop.map('drop_errors'), k, 0),
  };
}
/** Attaches empty or Fovea's programs to the storm's hooks (tc: fvstrm0 egress, fvstrm1 ingress; drop: kfree_skb). */
function attachScript(kind, tc, drop) {
  const links = [];
  if (kind === 'empty') {
    const o = loadEmpty();
    if (tc) {
      links.push(attachTcHook(o.program('empty_tc'), ifindexOf(STORM_A), STORM_A, 'egress'));
      links.push(attachTcHook(o.program('empty_tc'), ifindexOf(STORM_B), STORM_B, 'ingress'));
    }
    if (drop) links.push(attachTracing(o.program(DROP_PROG)));
  } else {
    loadFovea();
    if (tc) {
      links.push(attachTcHook(foveaTraffic.program('traffic_egress'), ifindexOf(STORM_A), STORM_A, 'egress'));
      links.push(attachTcHook(foveaTraffic.program('traffic_ingress'), ifindexOf(STORM_B), STORM_B, 'ingress'));
    }
    if (drop) links.push(attachTracing(foveaDrop.program(foveaDrop.dropProg)));
  }
  const c0 = kind === 'fovea' ? foveaCounts() : undefined;
  return {
    pid: process.pid,
    /** for Fovea's programs: what they counted while attached (tc ingress runs, drops), to check they ran on every frame */
    counted: c0 ? () => { const c1 = foveaCounts(); return { ingress: c1.ingress - c0.ingress, drops: c1.drops - c0.drops }; } : undefined,
    stop: async () => { for (const l of links) l.detach(); },
  };
}

// ---- CPU time from schedstat (ns) ----
function taskNs(pid) {
  let ns = 0;
  let tids = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return 0; }
  for (const t of tids) {
    try { ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* gone */ }
  }
  return ns;
}
function pidsWhere(pred) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const f = s.slice(close + 2).split(' '); // f[0] state, f[1] ppid, f[2] pgrp
      if (pred(comm, Number(f[2]))) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}
const KSOFTIRQD = pidsWhere((comm) => /^ksoftirqd\/\d+$/.test(comm));
/** busy (non-idle, non-iowait) jiffies of all CPUs, from /proc/stat */
function busyJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - f[3] - f[4];
}

/** Programs of other processes on skb:kfree_skb, and tcx/clsact programs on the storm's hooks that are not `ours`. */
function foreign(ours) {
  const links = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }));
  const kfree = links.filter((l) => l.tp_name === 'kfree_skb' && !ours.has(l.prog_id)).length;
  const ifs = new Set([ifindexOf(STORM_A), ifindexOf(STORM_B)]);
  const tc = links.filter((l) => ifs.has(l.ifindex) && !ours.has(l.prog_id)).length;
  return { kfree, tc };
}

const CFG = trafgenConfig();
/** One storm window: trafgen for 0.5 s + SECONDS; counters over the last SECONDS. */
async function window(agentPid) {
  const stats0 = bpfStats();
  const before = new Set(pidsWhere((comm) => comm === 'trafgen'));
  const n0 = await nftCount();
  const t = startTrafgen(CFG, { threads: CORES });
  await sleep(500);
  const tg = pidsWhere((comm) => comm === 'trafgen').filter((p) => !before.has(p)); // ours: started just now
  /** nft's count comes from a subprocess (a few ms): the clock and CPU counters are read right after it */
  const snap = async () => {
    const drops = await nftCount();
    return {
      drops, t: process.hrtime.bigint(), trafgen: tg.reduce((a, p) => a + taskNs(p), 0),
      ksoftirqd: KSOFTIRQD.reduce((a, p) => a + taskNs(p), 0), agent: agentPid ? taskNs(agentPid) : 0, busy: busyJiffies(),
    };
  };
  const a = await snap();
  await sleep(SECONDS * 1000);
  const b = await snap();
  await t.stop();
  await sleep(200);
  const allDrops = (await nftCount()) - n0;
  const stats1 = bpfStats();
  const secs = Number(b.t - a.t) / 1e9;
  const drops = b.drops - a.drops;
  return {
    drops, allDrops, secs, rate: drops / secs,
    cpuNsPerDrop: (b.trafgen - a.trafgen + b.ksoftirqd - a.ksoftirqd) / drops,
    softirqdShare: (b.ksoftirqd - a.ksoftirqd) / (b.trafgen - a.trafgen + b.ksoftirqd - a.ksoftirqd),
    stormCores: (b.trafgen - a.trafgen + b.ksoftirqd - a.ksoftirqd) / 1e9 / secs,
    machineBusyCores: (b.busy - a.busy) / 100 / secs, // USER_HZ jiffies
    agentCores: (b.agent - a.agent) / 1e9 / secs,
    trafgenProcs: tg.length, bpfStats: stats0 === '0' && stats1 === '0' ? 0 : 1,
  };
}
const receiver = await OtlpReceiver.start({});
const sock = join(tmpdir(), `fovea-storm-floor-${process.pid}.sock`);
async function start(variant) {
  const sm = /^(empty|fovea)(-tc|-drop)?$/.exec(variant);
  if (sm) return attachScript(sm[1], sm[2] !== '-drop', sm[2] !== '-tc');
  const m = /^(agent(?:-no-traffic|-no-drop)?)(?::(.+))?$/.exec(variant);
  if (!m) throw new Error(`unknown variant ${variant}`);
  const extra = m[1] === 'agent-no-traffic' ? ['--no-traffic'] : m[1] === 'agent-no-drop' ? ['--no-drop'] : [];
  receiver.clear();
  const log = join(tmpdir(), `fovea-storm-floor-${variant.replace(/[^\w-]/g, '_')}.log`);
  const agent = AgentProcess.start({
    root: ROOT, endpoint: receiver.endpoint, interfaces: STORM_INTERFACES, exportIntervalMs: 5000, logPath: log,
    pidPath: join(tmpdir(), `fovea-storm-floor-${process.pid}.pid`),
    extraArgs: ['--observe-socket', sock, '--attach-mode', MODE, ...(m[2] ? ['--bpf-dir', resolve(m[2])] : []), ...extra],
  });
  try {
    if (m[1] !== 'agent-no-traffic') await agent.waitAttached(receiver, 2, 30_000);
    const deadline = Date.now() + 30_000;
    while (m[1] !== 'agent-no-drop' && !(await programsOf(agent.pid, (n) => n.startsWith('drop_'))).length) {
      if (Date.now() > deadline) throw new Error(`${variant}: no drop program after 30 s (see ${log})`);
      await sleep(200);
    }
    await sleep(1000);
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return { pid: agent.pid, stop: () => agent.stop() };
}

if (values.toggle) {
  await toggleMode();
  process.exit(0);
}
if (values.profile) {
  await profileMode(Number(values.profile));
  process.exit(0);
}

/**
 * --profile S: one storm; for `none` and each (script-attached) variant in turn, `perf record -e cpu-clock
 * -a -F 999` for S seconds with it attached, then the symbols by CPU ns per frame (samples × 1/999 s ÷
 * frames received on fvstrm1 meanwhile), top ones and groups: Fovea's or the empty programs
 * (bpf_prog_*), the hooks' dispatch (tcx_run, __bpf_trace_run and its callers, the tracepoint iterator),
 * and the mitigation thunks (retpolines, return thunks). cpu-clock samples from a timer interrupt: time
 * with interrupts off is attributed to where they come back on (_raw_spin_unlock_irqrestore and the
 * like), so a program's share is a lower bound.
 */
async function profileMode(S) {
  const rx = () => Number(readFileSync(`/sys/class/net/${STORM_B}/statistics/rx_packets`, 'utf8'));
  const F = 999;
  await setUp();
  let t;
  const out = [];
  try {
    for (const v of variants) { const h = await start(v); await h.stop(); }
    t = startTrafgen(CFG, { threads: CORES });
    await sleep(1000);
    for (const state of ['none', ...variants]) {
      const h = state === 'none' ? undefined : await start(state);
      await sleep(300);
      const file = join(tmpdir(), `fovea-storm-floor-${process.pid}-${state}.perf`);
      const r0 = rx();
      execFileSync('perf', ['record', '-q', '-e', 'cpu-clock', '-a', '-F', String(F), '-o', file, '--', 'sleep', String(S)], { stdio: 'ignore' });
      const frames = rx() - r0;
      if (h) await h.stop();
      const rep = execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', '--sort', 'symbol', '-g', 'none', '--show-nr-samples'],
        { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
      rmSync(file, { force: true });
      const syms = [];
      for (const line of rep.split('\n')) {
        const m = /^\s*[\d.]+%\s+(\d+)\s+\[[^\]]+\]\s+(\S+)/.exec(line);
        if (m) syms.push({ sym: m[2], ns: (Number(m[1]) * 1e9) / F / frames });
      }
      out.push({ state, frames, syms });
    }
  } finally {
    if (t) await t.stop();
    await tearDown();
    rmSync(CFG, { force: true });
    rmSync(EMPTY_OBJ, { force: true });
    await receiver.stop();
  }
  const groups = {
    programs: (x) => /^bpf_prog_/.test(x),
    dispatch: (x) => /^(tcx_run|__bpf_trace_run|bpf_trace_run\d|__bpf_trace_kfree_skb|__traceiter_kfree_skb|sk_skb_reason_drop|__kfree_skb_reason|bpf_prog_run|migrate_(en|dis)able|__rcu_read_(un)?lock)$/.test(x) || /sch_handle_(in|e)gress|tcf_classify|__bpf_prog_enter|__bpf_prog_exit/.test(x),
    thunks: (x) => /thunk|srso|retbleed|__x86_return/.test(x),
  };
  for (const o of out) {
    const all = o.syms.reduce((a, x) => a + x.ns, 0);
    const g = Object.entries(groups).map(([k, f]) => `${k} ${o.syms.filter((x) => f(x.sym)).reduce((a, x) => a + x.ns, 0).toFixed(1)}`).join(', ');
    console.log(`\n${o.state}: ${o.frames} frames in ${S} s; ${all.toFixed(0)} ns of sampled CPU per frame (all CPUs, all processes); ${g}`);
    for (const x of o.syms.slice(0, 25)) console.log(`  ${x.ns.toFixed(1).padStart(7)} ns  ${x.sym}`);
    for (const x of o.syms.slice(25)) if (Object.values(groups).some((f) => f(x.sym))) console.log(`  ${x.ns.toFixed(1).padStart(7)} ns  ${x.sym}`);
  }
}

/**
 * --toggle: one trafgen storm runs through the whole measurement and the script attaches and detaches
 * the variants' programs under it (script-attached variants only: empty*, fovea*), --window seconds
 * per state, 50 ms after each change left out, in the sequence none, v1, none, v2, ... (--rounds times,
 * the variants' order rotated each round). A variant window is compared with the mean of the none
 * windows on either side. Frames counted from fvstrm1's rx_packets (sysfs: no subprocess in the loop);
 * the nft counter over the whole storm is printed beside their total as the check.
 */
async function toggleMode() {
  const W = Number(values.window) * 1000;
  const rx = () => Number(readFileSync(`/sys/class/net/${STORM_B}/statistics/rx_packets`, 'utf8'));
  await setUp();
  const seq = [];
  for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < variants.length; i++) seq.push('none', variants[(i + r) % variants.length]);
  seq.push('none');
  const wins = [];
  let t, fk = 0;
  try {
    if (bpfStats() !== '0') throw new Error('kernel.bpf_stats_enabled is 1 (another measurement running?): wait for it');
    for (const v of variants) { const h = await start(v); await h.stop(); } // load the objects before the storm
    const before = new Set(pidsWhere((comm) => comm === 'trafgen'));
    const n0 = await nftCount();
    const rx0 = rx();
    t = startTrafgen(CFG, { threads: CORES });
    await sleep(1000);
    const tg = pidsWhere((comm) => comm === 'trafgen').filter((p) => !before.has(p));
    const snap = () => ({ frames: rx(), t: process.hrtime.bigint(), cpu: tg.reduce((a, p) => a + taskNs(p), 0) + KSOFTIRQD.reduce((a, p) => a + taskNs(p), 0), stats: bpfStats() });
    for (const state of seq) {
      const h = state === 'none' ? undefined : await start(state);
      await sleep(50);
      const a = snap();
      await sleep(W);
      const b = snap();
      if (h) await h.stop();
      const frames = b.frames - a.frames;
      const secs = Number(b.t - a.t) / 1e9;
      wins.push({ state, rate: frames / secs, cpuNs: (b.cpu - a.cpu) / frames, stormCores: (b.cpu - a.cpu) / 1e9 / secs, stats: a.stats !== '0' || b.stats !== '0', frames });
    }
    fk = foreign(new Set((await programsOf(process.pid, () => true)).map((p) => p.id))).kfree;
    await t.stop();
    t = undefined;
    await sleep(300);
    console.log(`storm: ${(await nftCount()) - n0} dropped by nft, ${rx() - rx0} frames received on ${STORM_B} (${wins.length} windows of ${W} ms, trafgen processes ${tg.length})`);
  } finally {
    if (t) await t.stop();
    await tearDown();
    rmSync(CFG, { force: true });
    rmSync(EMPTY_OBJ, { force: true });
    await receiver.stop();
  }
  const none = wins.filter((w) => w.state === 'none');
  const fmt = (xs, d = 1) => { const c = meanCi(xs); return `${c.mean.toFixed(d)} ± ${c.halfWidth.toFixed(d)}`; };
  console.log(`\n--toggle: ${ROUNDS} rounds, ${W} ms windows, each variant window against the mean of the none windows either side; mean ± 95 % CI over windows`);
  console.log(`none: ${fmt(none.map((w) => w.rate / 1e6), 3)} M frames/s; ${fmt(none.map((w) => w.cpuNs))} CPU ns per frame; storm on ${fmt(none.map((w) => w.stormCores), 2)} cores (${none.length} windows)`);
  for (const v of variants) {
    const d = [], q = [], dr = [];
    wins.forEach((w, i) => {
      if (w.state !== v) return;
      const a = wins[i - 1], b = wins[i + 1];
      d.push(w.cpuNs - (a.cpuNs + b.cpuNs) / 2);
      q.push(w.rate / ((a.rate + b.rate) / 2));
      dr.push(CORES * 1e9 * (1 / w.rate - 2 / (a.rate + b.rate)));
    });
    console.log(`${v}: added CPU ns per frame ${fmt(d)} (n ${d.length}); rate ÷ none ${fmt(q, 3)}; from rates ${fmt(dr)} ns`);
  }
  if (wins.some((w) => w.stats)) console.log('WARNING: kernel.bpf_stats_enabled was 1 during some windows');
  if (fk) console.log(`NOTE: ${fk} program(s) of other processes on skb:kfree_skb at the end (they run on every drop in every window)`);
}

const results = new Map(variants.map((v) => [v, []]));
const nones = [];
await setUp();
try {
  if (bpfStats() !== '0') throw new Error('kernel.bpf_stats_enabled is 1 (another measurement running?): wait for it');
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + r) % variants.length];
      const none = await window(undefined);
      none.foreign = foreign(new Set());
      nones.push(none);
      const h = await start(v);
      let w;
      try {
        const ours = new Set((await programsOf(h.pid, () => true)).map((p) => p.id));
        w = await window(h.pid === process.pid ? undefined : h.pid);
        w.foreign = foreign(ours);
        if (h.counted) w.counted = h.counted();
      } finally {
        await h.stop();
      }
      const pair = {
        round: r + 1, none, with: w, ratio: w.rate / none.rate, addedCpuNs: w.cpuNsPerDrop - none.cpuNsPerDrop,
        addedWallNs: CORES * 1e9 * (1 / w.rate - 1 / none.rate),
      };
      results.get(v).push(pair);
      const check = w.counted ? `; Fovea's programs counted ${w.counted.ingress} tc ingress runs and ${w.counted.drops} drops in a window of ${w.allDrops} storm drops` : '';
      const flag = (x) => (x.bpfStats ? ' BPF_STATS ON' : '') + (x.foreign.kfree || x.foreign.tc ? ` (foreign: ${x.foreign.kfree} on kfree_skb, ${x.foreign.tc} on the storm's tc hooks)` : '');
      console.log(`round ${r + 1} ${v}: ${(w.rate / 1e6).toFixed(3)} vs ${(none.rate / 1e6).toFixed(3)} M drops/s (÷ ${pair.ratio.toFixed(3)}); ` +
        `CPU ns/drop ${w.cpuNsPerDrop.toFixed(1)} vs ${none.cpuNsPerDrop.toFixed(1)} (+${pair.addedCpuNs.toFixed(1)}); from rates +${pair.addedWallNs.toFixed(1)} ns; ` +
        `storm on ${w.stormCores.toFixed(2)}/${none.stormCores.toFixed(2)} cores, machine busy ${w.machineBusyCores.toFixed(2)}/${none.machineBusyCores.toFixed(2)}` +
        (w.agentCores ? `, agent ${(w.agentCores * 100).toFixed(2)} % of a core` : '') + check + flag(w) + flag(none));
    }
  }
} finally {
  await tearDown();
  rmSync(CFG, { force: true });
  rmSync(EMPTY_OBJ, { force: true });
  await receiver.stop();
}

const fmt = (xs, d = 1) => { const c = meanCi(xs); return `${c.mean.toFixed(d)} ± ${c.halfWidth.toFixed(d)}`; };
console.log(`\nsummary: ${ROUNDS} rounds × ${SECONDS} s windows, each variant paired with a window without (nothing attached); ` +
  `mean ± 95 % CI half-width over rounds; tc ${MODE}, kfree_skb ${values['raw-tp'] ? 'raw_tp' : 'tp_btf'} (empty programs)`);
console.log(`none: ${fmt(nones.map((x) => x.rate / 1e6), 3)} M drops/s; ${fmt(nones.map((x) => x.cpuNsPerDrop))} CPU ns per drop (${nones.length} windows)`);
for (const v of variants) {
  const ps = results.get(v);
  console.log(`${v}: ${fmt(ps.map((p) => p.with.rate / 1e6), 3)} M drops/s; ÷ none ${fmt(ps.map((p) => p.ratio), 3)}; ` +
    `added CPU ns per drop ${fmt(ps.map((p) => p.addedCpuNs))} (from rates ${fmt(ps.map((p) => p.addedWallNs))})` +
    (ps[0].with.agentCores ? `; agent ${fmt(ps.map((p) => p.with.agentCores * 100), 2)} % of a core` : ''));
}
const worst = [...nones, ...[...results.values()].flat().map((p) => p.with)];
if (worst.some((x) => x.bpfStats)) console.log('WARNING: kernel.bpf_stats_enabled was 1 during some windows (see the rounds)');
const fk = Math.max(...worst.map((x) => x.foreign.kfree));
if (fk) console.log(`NOTE: up to ${fk} program(s) of other processes on skb:kfree_skb ran on every drop, in every window`);
