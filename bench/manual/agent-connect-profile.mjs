// Hand measurement behind docs/benchmark.md "Profiling the agent": the agent's CPU under part (g)'s
// connection storm (bench/tcp-load.c: servers in pod 1, a paced connect loop in pod 0), with its
// defaults (every probe on, TCP events on) and a CPU profile (FOVEA_CPU_PROFILE). As root, after
// bash scripts/build.sh:
// (env RESET_EVERY=7, REFUSED_EVERY=11: every n-th connect closed by a reset / sent to a closed port, 0 = none;
// EXPORT_INTERVAL=10s)
//   node bench/manual/agent-connect-profile.mjs [rate=10000] [seconds=20] [out.cpuprofile, - for none: the profiler's own sampling costs CPU] [agent flags…]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { compileLoad, LoadProcess } from '../../dist/bench/load-process.js';
import { run } from '../../dist/src/lab/run.js';

const rate = Number(process.argv[2] ?? 10000), secs = Number(process.argv[3] ?? 20), out = process.argv[4] ?? '/tmp/prof/connect.cpuprofile';
const extra = process.argv.slice(5);
const ports = [6000, 6001];
const lab = await Lab.create({ name: 'pcon', pods: 2 });
const rx = await OtlpReceiver.start({});
const bin = await compileLoad('tcp-load');
const nofile = 20000;
const podExec = (cmd) => run(['ip', 'netns', 'exec', lab.pod(0).netns, ...cmd]);
await podExec(['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
await podExec(['sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1']);
const servers = ports.map((p) => LoadProcess.start(lab, 1, bin, ['server', p, 0], nofile));
await Promise.all(servers.map((s) => s.ready()));
const agent = spawn(process.execPath, ['--max-semi-space-size=64', new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
  '--interfaces', 'fvpcon-*', '--export-interval', process.env.EXPORT_INTERVAL ?? '10s', '--log-level', 'warn', ...extra],
  { env: out === '-' ? process.env : { ...process.env, FOVEA_CPU_PROFILE: out }, stdio: ['ignore', 'inherit', 'inherit'] });
const ticks = () => { const f = readFileSync(`/proc/${agent.pid}/stat`, 'utf8').split(') ')[1].split(' '); return [Number(f[11]), Number(f[12])]; };
const stat = () => ticks().reduce((a, b) => a + b);
await new Promise((r) => setTimeout(r, Number(process.env.SETTLE_MS ?? 8000)));
const loops = [0, 1].map(() => LoadProcess.start(lab, 0, bin, ['connect', lab.pod(1).ip, rate / 2, Number(process.env.RESET_EVERY ?? 7), Number(process.env.REFUSED_EVERY ?? 11), 6999, ...ports], nofile));
await Promise.all(loops.map((l) => l.ready()));
await new Promise((r) => setTimeout(r, 2000));
const m0 = await Promise.all(loops.map((l) => l.mark()));
const t0 = stat(), w0 = Date.now(), k0 = ticks();
await new Promise((r) => setTimeout(r, secs * 1000));
const t1 = stat(), w1 = Date.now(), k1 = ticks();
const m1 = await Promise.all(loops.map((l) => l.mark()));
const cpu = ((t1 - t0) / 100) / ((w1 - w0) / 1000) * 100;
const recs = rx.logRecords().length;
console.log(`connect loop ${rate}/s for ${secs}s (loop: ${(m1.reduce((a, m, i) => a + m.issued - m0[i].issued, 0) / ((w1 - w0) / 1000)).toFixed(0)} connects/s): agent ${cpu.toFixed(2)}% of a core; ${recs} log records in all (user ${((k1[0] - k0[0]) * 1000 / (w1 - w0)).toFixed(2)}%, system ${((k1[1] - k0[1]) * 1000 / (w1 - w0)).toFixed(2)}%)`);
await Promise.all(loops.map((l) => l.stop()));
agent.kill('SIGTERM');
await new Promise((r) => agent.on('exit', r));
await Promise.all(servers.map((s) => s.stop()));
await rx.stop();
await lab.destroy();
