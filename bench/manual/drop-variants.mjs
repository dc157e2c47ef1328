// Hand measurement behind docs/benchmark.md's "ns per dropped packet" and "drop storm with ÷ without":
// builds of the drop probe (or none) compared in one run, in interleaved rounds, under the storm of
// part e (trafgen, 2 workers, 58-byte UDP frames into an nft netdev ingress drop on a veth pair).
//
//   node bench/manual/drop-variants.mjs [--rounds 4] [--seconds 5] [--agent-args "..."] none base=bpf/build new=/tmp/x ...
//
// Each argument is label=<dir with drop.bpf.o, drop-noevents.bpf.o, traffic.bpf.o, tcp.bpf.o> (the
// agent's --bpf-dir) with optional agent flags after commas (`noev=bpf/build,--no-drop-events`), and
// `root=<checkout>` to run another checkout's agent (an older commit's objects with its own reader:
// `base=/tmp/old/bpf/build,root=/tmp/old`), or `none` (no agent); bench/manual/build-drop-variant.sh
// builds such a directory. Per round and
// variant: the agent is started (defaults, --interfaces on the storm pair, exporting to an
// in-process OTLP receiver), then two windows:
//   1. rate: kernel.bpf_stats_enabled=0, trafgen for --seconds; drops/s = nft rule Δ ÷ trafgen time;
//   2. cost: kernel.bpf_stats_enabled=1, trafgen again; per program of the agent (ids from its fds)
//      Δrun_time_ns ÷ Δrun_cnt, and runs per drop (Δrun_cnt ÷ nft Δ).
// trafgen sends from a packet socket's TX ring: the frames' headers are in page fragments, outside the
// skb's linear area, so the drop program parses nothing (header_unreadable). --linear sends with
// sendto(2) instead (trafgen -t 0; slower): whole frames in the linear area, the headers parsed.
// Summary: mean ± 95 % CI over rounds of drops/s, of the per-round ratio variant ÷ `none` (same round),
// and of ns per run. Programs of other processes attached to kfree_skb also run on these drops: the
// script counts them and says so. As root, after `bash scripts/build.sh`; hold /tmp/fovea-quiet.lock.
import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess } from '../../dist/bench/agent-process.js';
import { programsOf, programDelta } from '../../dist/bench/bpf-stats.js';
import { meanCi } from '../../dist/bench/util.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';

const ROOT = join(import.meta.dirname, '..', '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '4' }, seconds: { type: 'string', default: '5' }, 'agent-args': { type: 'string', default: '' }, linear: { type: 'boolean', default: false } },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const AGENT_ARGS = values['agent-args'].split(/\s+/).filter(Boolean);
const variants = positionals.map((p) => {
  if (p === 'none') return { label: 'none', dir: undefined, args: [] };
  const i = p.indexOf('=');
  if (i < 0) throw new Error(`variant ${p}: want label=dir[,agent-flag...] or none`);
  const [dir, ...rest] = p.slice(i + 1).split(',');
  const root = rest.find((a) => a.startsWith('root='))?.slice(5);
  return { label: p.slice(0, i), dir: resolve(dir), root: root ? resolve(root) : ROOT, args: rest.filter((a) => !a.startsWith('root=')) };
});
if (!variants.length) throw new Error('no variants');

const A = 'fvdv0', B = 'fvdv1', TABLE = 'fovea_dropvar';
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', ...opts });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stats = (on) => writeFileSync('/proc/sys/kernel/bpf_stats_enabled', on ? '1' : '0');

function nftCount() {
  const j = JSON.parse(sh('nft', ['-j', 'list', 'table', 'netdev', TABLE]));
  for (const o of j.nftables) for (const e of o.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  throw new Error('no counter');
}
/** Programs attached to skb:kfree_skb that are not `ours` (other processes' drop probes). */
function foreignKfreeSkb(ours) {
  const links = JSON.parse(sh('bpftool', ['-j', 'link', 'show']));
  return links.filter((l) => (l.tp_name === 'kfree_skb' || String(l.attach_btf_name ?? '').includes('kfree_skb')) && !ours.has(l.prog_id)).length;
}

function setUp() {
  tearDown();
  sh('ip', ['link', 'add', A, 'address', '02:00:00:00:5c:01', 'type', 'veth', 'peer', 'name', B, 'address', '02:00:00:00:5c:02']);
  sh('ip', ['link', 'set', A, 'up']);
  sh('ip', ['link', 'set', B, 'up']);
  sh('nft', ['-f', '-'], { input: `table netdev ${TABLE} {\n chain storm {\n  type filter hook ingress device "${B}" priority 0;\n  udp dport 7777 counter drop\n }\n}\n` });
}
function tearDown() {
  try { sh('nft', ['delete', 'table', 'netdev', TABLE], { stdio: 'ignore' }); } catch { /* absent */ }
  try { sh('ip', ['link', 'del', A], { stdio: 'ignore' }); } catch { /* absent */ }
}
const CFG = join(tmpdir(), `fovea-dropvar-${process.pid}.trafgen`);
writeFileSync(CFG, `{ eth(da=02:00:00:00:5c:02, sa=02:00:00:00:5c:01, type=0x0800), ipv4(saddr=198.19.253.1, daddr=198.19.253.2, ttl=64, proto=17), udp(sp=40000, dp=7777), "fovea-storm-0000" }\n`);

/** trafgen with 2 workers (one per core) for SECONDS, ended by SIGINT to its group; the nft Δ and its wall time. */
async function storm() {
  const n0 = nftCount();
  const t0 = Date.now();
  const p = spawn('trafgen', ['-o', A, '-i', CFG, '-P', '2', '-q', ...(values.linear ? ['-t', '0'] : [])], { stdio: 'ignore', detached: true });
  const done = new Promise((res) => p.on('close', res));
  await sleep(SECONDS * 1000);
  process.kill(-p.pid, 'SIGINT');
  await done;
  const secs = (Date.now() - t0) / 1000;
  await sleep(300);
  return { drops: nftCount() - n0, secs };
}

const receiver = await OtlpReceiver.start({});
const results = new Map(variants.map((v) => [v.label, []]));
const sock = join(tmpdir(), `fovea-dropvar-${process.pid}.sock`);
setUp();
stats(false);
try {
  for (let r = 0; r < ROUNDS; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      let agent;
      if (v.dir) {
        receiver.clear();
        agent = AgentProcess.start({
          root: v.root, endpoint: receiver.endpoint, interfaces: 'fvdv*', exportIntervalMs: 5000,
          logPath: join(tmpdir(), `fovea-dropvar-${v.label}.log`), pidPath: join(tmpdir(), `fovea-dropvar-${process.pid}.pid`),
          extraArgs: ['--bpf-dir', v.dir, '--observe-socket', sock, ...AGENT_ARGS, ...v.args],
        });
        if (v.args.includes('--no-traffic')) await receiver.waitFor((r) => r.requestCount >= 1, 30_000); // no interfaces to attach
        else await agent.waitAttached(receiver, 2, 30_000);
        await sleep(1000);
        if (!(await programsOf(agent.pid, (n) => n.startsWith('drop_'))).length) throw new Error(`${v.label}: the agent loaded no drop program (see ${join(tmpdir(), `fovea-dropvar-${v.label}.log`)})`);
      }
      try {
        const ours = new Set(agent ? (await programsOf(agent.pid, () => true)).map((p) => p.id) : []);
        const foreign = foreignKfreeSkb(ours);
        const rate = await storm();
        const row = { round: r + 1, dropsPerSecond: rate.drops / rate.secs, foreign, programs: [] };
        if (agent) {
          const pick = (n) => /^(drop_|traffic_)/.test(n);
          stats(true);
          const p0 = await programsOf(agent.pid, pick);
          const cost = await storm();
          const p1 = await programsOf(agent.pid, pick);
          stats(false);
          row.programs = programDelta(p0, p1, cost.secs).filter((p) => p.runs > 0)
            .map((p) => ({ name: p.name, nsPerRun: p.nsPerRun, runsPerDrop: p.runs / cost.drops }));
          row.statsDropsPerSecond = cost.drops / cost.secs;
        }
        results.get(v.label).push(row);
        console.log(`round ${r + 1} ${v.label}: ${(row.dropsPerSecond / 1e6).toFixed(3)} M drops/s` +
          (row.programs.length ? `; stats on ${(row.statsDropsPerSecond / 1e6).toFixed(3)} M/s; ` +
            row.programs.map((p) => `${p.name} ${p.nsPerRun.toFixed(1)} ns × ${p.runsPerDrop.toFixed(3)}`).join(', ') : '') +
          (foreign ? `; WARNING ${foreign} other program(s) on kfree_skb` : ''));
      } finally {
        stats(false);
        await agent?.stop();
      }
    }
  }
} finally {
  stats(false);
  tearDown();
  rmSync(CFG, { force: true });
  await receiver.stop();
}

const fmt = (c, d = 1) => `${c.mean.toFixed(d)} ± ${c.halfWidth.toFixed(d)}`;
const none = results.get('none');
console.log(`\nsummary: ${ROUNDS} rounds × ${SECONDS} s, mean ± 95 % CI half-width`);
for (const v of variants) {
  const rows = results.get(v.label);
  let line = `${v.label}: ${fmt(meanCi(rows.map((x) => x.dropsPerSecond / 1e6)), 3)} M drops/s`;
  if (none && v.label !== 'none') line += `; ÷ none (per round) ${fmt(meanCi(rows.map((x, i) => x.dropsPerSecond / none[i].dropsPerSecond)), 3)}`;
  const names = [...new Set(rows.flatMap((x) => x.programs.map((p) => p.name)))];
  for (const n of names) {
    const ps = rows.map((x) => x.programs.find((p) => p.name === n)).filter(Boolean);
    line += `; ${n} ${fmt(meanCi(ps.map((p) => p.nsPerRun)))} ns/run (${(ps.reduce((a, p) => a + p.runsPerDrop, 0) / ps.length).toFixed(3)} runs/drop)`;
  }
  if (names.length) {
    const perDrop = rows.map((x) => x.programs.reduce((a, p) => a + p.nsPerRun * p.runsPerDrop, 0));
    line += `; all programs ${fmt(meanCi(perDrop))} ns per drop`;
  }
  console.log(line);
}
