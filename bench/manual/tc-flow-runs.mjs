// Hand measurement behind the flow-path notes in docs/benchmark.md: ns per run of the traffic probe's tc
// programs under a real iperf3 stream between two lab pods, with pod attribution on (`--netns`: flow
// records and DNS on both veths, as on pods' veths in a cluster), for one or more builds of the eBPF
// objects side by side. Each round starts an agent per build (in rotated order), runs iperf3 for
// SECONDS with kernel.bpf_stats_enabled=1 and reads run_cnt/run_time_ns of the agent's traffic_*
// programs (Δ over the stream; iperf3 as in part g: both ends on core 1, 1 MiB writes; bpf_stats itself adds two clock reads per run). Figures: median over
// the rounds of ns/run per program, with min–max.
//
// As root, after `bash scripts/build.sh`:
//   node bench/manual/tc-flow-runs.mjs [label=<dir with the agent's *.bpf.o> ...]
// With no arguments it measures bpf/build. NODE_LEVEL=1: no --netns (no flow records). The label
// `empty` (no directory) attaches bench/build/empty.bpf.o (a tc program that only returns; built by
// part b or tc-flow-cost.mjs) to ingress and egress of both veths with tcx, no agent: the floor of
// what bpf_stats reports for any program on this path (its clock reads, the call, cold caches).
// Environment: ROUNDS (default 5), SECONDS (default 4).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../dist/src/lab/lab.js';
import { attachTcx } from '../../dist/src/kernel/attach.js';
import { BpfObject } from '../../dist/src/kernel/object.js';
import { ifindexOf } from '../../dist/bench/agent-process.js';
import { iperf3Server } from '../../dist/src/lab/traffic.js';
import { iperf3Run } from '../../dist/bench/throughput.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 4);
const args = process.argv.slice(2);
const builds = args.length ? args.map((a) => { const i = a.indexOf('='); return i < 0 ? [a, a] : [a.slice(0, i), a.slice(i + 1)]; })
  : [['bpf/build', join(ROOT, 'bpf', 'build')]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** run counters of the traffic_* (or empty_tc) programs the process holds open (ids from its fds) */
function trafficPrograms(pid) {
  const ids = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let link = '';
    try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    if (link !== 'anon_inode:bpf-prog') continue;
    const m = /prog_id:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (m) ids.add(Number(m[1]));
  }
  return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show']).toString())
    .filter((p) => ids.has(p.id) && /^(traffic_|empty_tc)/.test(p.name ?? ''))
    .map((p) => ({ name: p.name, runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 }));
}

const lab = await Lab.create({ name: 'tcfr', pods: 2 });
const glob = lab.pod(0).netns.replace(/\d+$/, '*');
const prefix = lab.pod(0).hostIfname.replace(/\d+$/, '');
const srv = await iperf3Server(lab, 1);
const before = execFileSync('sysctl', ['-n', 'kernel.bpf_stats_enabled']).toString().trim();
const results = new Map(builds.map(([label]) => [label, { egress: [], ingress: [], gbps: [] }]));
let agent;
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < builds.length; j++) {
      const [label, dir] = builds[(j + r) % builds.length];
      let empty;
      if (label === 'empty') {
        empty = BpfObject.open(join(ROOT, 'bench', 'build', 'empty.bpf.o'));
        empty.load();
        const prog = empty.program('empty_tc');
        const links = [];
        for (const p of [lab.pod(0), lab.pod(1)]) for (const d of ['ingress', 'egress']) links.push(attachTcx(prog, ifindexOf(p.hostIfname), p.hostIfname, d));
        agent = { pid: process.pid, kill: () => { for (const l of links) l.detach(); empty.close(); }, on: (_e, f) => f() };
        await sleep(500);
      } else {
        agent = spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), 'agent', '--interfaces', `${prefix}*`, '--bpf-dir', dir,
          ...(process.env.NODE_LEVEL ? [] : ['--netns', glob]),
          '--endpoint', 'http://127.0.0.1:9', '--observe-socket', `/tmp/fovea-tcfr-${process.pid}.sock`, '--log-level', 'error'], { stdio: 'ignore' });
        await sleep(5000);
      }
      execFileSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
      const c0 = trafficPrograms(agent.pid);
      const res = await iperf3Run(lab, lab.pod(1).ip, srv.port, { seconds: SECONDS, affinity: { client: 1, server: 1 }, length: 1 << 20 });
      const c1 = trafficPrograms(agent.pid);
      execFileSync('sysctl', ['-qw', `kernel.bpf_stats_enabled=${before}`]);
      const line = [];
      for (const p of c1) {
        const q = c0.find((x) => x.name === p.name);
        const runs = p.runs - (q?.runs ?? 0);
        const ns = (p.ns - (q?.ns ?? 0)) / runs;
        // empty_tc: one program on all four hooks, its mean per run shown in both columns
        if (p.name === 'empty_tc') { results.get(label).egress.push(ns); results.get(label).ingress.push(ns); } else results.get(label)[p.name === 'traffic_egress' ? 'egress' : 'ingress'].push(ns);
        line.push(`${p.name} ${runs} runs ${ns.toFixed(1)} ns/run`);
      }
      results.get(label).gbps.push(res.bitsPerSecond / 1e9);
      console.log(`round ${r + 1} ${label}: ${line.join(', ')}; iperf3 ${(res.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`);
      agent.kill('SIGTERM');
      await new Promise((res2) => agent.on('exit', res2));
      agent = undefined;
    }
  }
  console.log(`\n${process.env.NODE_LEVEL ? 'node level (no --netns)' : `--netns ${glob}`}, ${ROUNDS} rounds × iperf3 ${SECONDS} s: median ns/run [min–max]`);
  for (const [label, x] of results) {
    const f = (xs) => `${median(xs).toFixed(1)} [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`;
    console.log(`  ${label.padEnd(16)} traffic_egress ${f(x.egress)}  traffic_ingress ${f(x.ingress)}  iperf3 ${median(x.gbps).toFixed(2)} Gbit/s`);
  }
} finally {
  execFileSync('sysctl', ['-qw', `kernel.bpf_stats_enabled=${before}`]);
  if (agent) { agent.kill('SIGTERM'); await new Promise((r) => agent.on('exit', r)); }
  await srv.stop();
  await lab.destroy();
}
