// Hand measurement behind "no tcp:tcp_probe" in docs/metrics.md (TCP health): what a sampled RTT
// reader on tcp:tcp_probe would cost. tcp_probe fires for every segment a socket receives in
// ESTABLISHED (tcp_rcv_established), so even a program that only checks "sampled this socket in the
// last 100 ms?" (one hash lookup, the cheapest sampling) runs per packet. This loads exactly that
// program (compiled here from the C below with clang), runs iperf3 between two lab pods with it
// attached and without, interleaved, and prints runs/s, ns/run (kernel.bpf_stats_enabled) and the
// throughput ratio. As root, after `bash scripts/build.sh`:
//   node bench/manual/tcp-probe-cost.mjs [rounds=3] [seconds=4]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachTracing } from '../../dist/src/kernel/attach.js';
import { BpfObject } from '../../dist/src/kernel/object.js';
import { Lab } from '../../dist/src/lab/lab.js';
import { iperf3Client, iperf3Server } from '../../dist/src/lab/traffic.js';

const ROOT = join(import.meta.dirname, '..', '..');
const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 4);
const dir = mkdtempSync(join(tmpdir(), 'fovea-tcpprobe-'));
writeFileSync(join(dir, 'p.bpf.c'), `
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "Dual BSD/GPL";
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536); __type(key, __u64); __type(value, __u64); } last SEC(".maps");
SEC("raw_tp/tcp_probe")
int sample(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 sk = ctx->args[0], now = bpf_ktime_get_ns();
	__u64 *t = bpf_map_lookup_elem(&last, &sk);
	if (t && now - *t < 100000000ULL)
		return 0;
	bpf_map_update_elem(&last, &sk, &now, BPF_ANY); /* a real reader would read srtt_us here */
	return 0;
}
`);
const arch = execFileSync('uname', ['-m']).toString().trim() === 'aarch64' ? 'arm64' : 'x86';
execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I', join(ROOT, 'bpf'), '-I', join(ROOT, 'bpf/include'),
  '-c', join(dir, 'p.bpf.c'), '-o', join(dir, 'p.bpf.o')]);

const lab = await Lab.create({ name: 'tprb', pods: 2 });
const srv = await iperf3Server(lab, 1);
const runOnce = async () => (await iperf3Client(lab, 0, lab.pod(1).ip, { seconds, port: srv.port })).bitsPerSecond;
const ratios = [];
let runs = 0, ns = 0, secondsWith = 0;
try {
  execFileSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
  for (let i = 0; i < rounds; i++) {
    const without = await runOnce();
    const obj = BpfObject.open(join(dir, 'p.bpf.o'));
    obj.load();
    const link = attachTracing(obj.program('sample'));
    const withIt = await runOnce();
    const p = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'name', 'sample']).toString());
    const prog = Array.isArray(p) ? p[0] : p;
    runs += prog.run_cnt; ns += prog.run_time_ns; secondsWith += seconds;
    link.detach();
    obj.close();
    ratios.push(withIt / without);
    console.log(`round ${i + 1}: without ${(without / 1e9).toFixed(2)} Gbit/s, with ${(withIt / 1e9).toFixed(2)} Gbit/s, ratio ${(withIt / without).toFixed(3)}; ${prog.run_cnt} runs, ${(prog.run_time_ns / prog.run_cnt).toFixed(1)} ns/run`);
  }
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  console.log(`tcp_probe sampler: ${(runs / secondsWith / 1e3).toFixed(0)}k runs/s, ${(ns / runs).toFixed(1)} ns/run, ` +
    `${(ns / secondsWith / 1e7).toFixed(2)}% of a core in the program alone; throughput ratio mean ${mean.toFixed(3)} (${ratios.map((r) => r.toFixed(3)).join(', ')})`);
} finally {
  execFileSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=0']);
  await srv.stop();
  await lab.destroy();
  rmSync(dir, { recursive: true, force: true });
}
