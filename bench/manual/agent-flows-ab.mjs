// Hand measurement behind docs/benchmark.md part j ("the agent's CPU per flow record"): the agent as part j
// runs it (pod mode on a 2-pod lab, every probe, --flow-events, flow table read and metrics exported every
// second) under part j's connect loop (bench/tcp-load.c: connect then close, `rate`/s, 4 server ports in
// pod 1, tcp_tw_reuse=0), without iperf3 unless STREAMS=n. One agent per build and round, builds
// interleaved (A B A B ...), so that two builds are compared under the same machine load. As root, after
// bash scripts/build.sh in each build's tree:
//   node bench/manual/agent-flows-ab.mjs [rate=1000] [seconds=15] [rounds=3] [root,root…=this tree]
// ARMS='[{"events":{"export":{"maxInFlight":1}}},{"events":{"export":{"maxInFlight":4}}}]' compares settings instead of builds
// (this tree, or each arm's "root"; each arm's "events" added to the agent's `events` settings after AGENT_EVENTS).
// env: PROFILE=<dir> (FOVEA_CPU_PROFILE per agent: the profiler's own sampling costs CPU, read its shares
// only), AGENT_EVENTS (JSON added to the agent's `events` settings), LAB=fab (lab name), STREAMS=0 (iperf3 -P n pod 0 → pod 1 beside the loop), SETTLE_MS=1500.
// On a shared machine: flock /tmp/fovea-quiet.lock node bench/manual/agent-flows-ab.mjs …
// Per agent it prints: CPU over the window (% of a core, from /proc/<pid>/stat), flow records the
// receiver got over the whole life, the exporter's stats at stop (published, exported, lost, unsent),
// how long SIGTERM → exit took and the exit code.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync, openSync, closeSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { compileLoad, LoadProcess } from '../../dist/bench/load-process.js';
import { waitFlowsTracked } from '../../dist/bench/agent-process.js';
import { run } from '../../dist/src/lab/run.js';
import { nofileHardLimit } from '../../dist/bench/tcp-cost.js';

const here = resolve(new URL('../..', import.meta.url).pathname);
const rate = Number(process.argv[2] ?? 1000), secs = Number(process.argv[3] ?? 15), rounds = Number(process.argv[4] ?? 3);
const baseEvents = JSON.parse(process.env.AGENT_EVENTS ?? '{}');
/** what is compared: builds (roots), or settings (ARMS); each with its own config file */
const arms = (process.env.ARMS ? JSON.parse(process.env.ARMS) : (process.argv[5] ?? here).split(',').map((root) => ({ root })))
  .map((a, i) => ({ root: resolve(a.root ?? here), events: { ...baseEvents, ...(a.events ?? {}) }, config: `/tmp/fovea-flows-ab-${process.pid}-${i}.json` }));
arms.forEach((a) => { a.name = process.env.ARMS ? `${a.root} ${JSON.stringify(a.events)}` : a.root; });
const roots = arms;
const profileDir = process.env.PROFILE;
const streams = Number(process.env.STREAMS ?? 0);
const settleMs = Number(process.env.SETTLE_MS ?? 1500);
if (profileDir) mkdirSync(profileDir, { recursive: true });
const ports = [7100, 7101, 7102, 7103];
const lab = await Lab.create({ name: process.env.LAB ?? 'fab', pods: 2 });
const rx = await OtlpReceiver.start({});
const bin = await compileLoad('tcp-load');
const nofile = nofileHardLimit();
const podExec = (cmd) => run(['ip', 'netns', 'exec', lab.pod(0).netns, ...cmd]);
await podExec(['sysctl', '-qw', 'net.ipv4.ip_local_port_range=32768 65535']);
await podExec(['sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=0']);
const servers = ports.map((p) => LoadProcess.start(lab, 1, bin, ['server', p, 0], nofile));
await Promise.all(servers.map((s) => s.ready()));
const loop = LoadProcess.start(lab, 0, bin, ['connect', lab.pod(1).ip, rate, 0, 0, 0, ...ports], nofile);
await loop.ready();
let iperfSrv, iperf;
if (streams > 0) {
  iperfSrv = lab.spawn(1, ['iperf3', '-s', '-p', '5201']);
  await new Promise((r) => setTimeout(r, 500));
}
const podGlob = lab.pod(0).netns.replace(/\d+$/, '*');
const prefix = lab.pod(0).hostIfname.replace(/\d+$/, '');
// AGENT_EVENTS='{"export":{"maxBatch":2048}}' adds to the agent's `events` settings
for (const a of arms) writeFileSync(a.config, JSON.stringify({ events: { flows: { enabled: true, intervalMs: 1000 }, ...a.events } }));
const ticks = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function life(arm, label) {
  const { root, config } = arm;
  const logPath = `/tmp/fovea-flows-ab-${process.pid}-${label}.log`;
  rmSync(logPath, { force: true });
  const fd = openSync(logPath, 'a');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('FOVEA_')));
  if (profileDir) env.FOVEA_CPU_PROFILE = join(profileDir, `${label}.cpuprofile`);
  rx.clear();
  const agent = spawn(process.execPath, ['--max-semi-space-size=64', join(root, 'bin/fovea.js'), 'agent', '--endpoint', rx.endpoint,
    '--interfaces', `${prefix}*`, '--export-interval', '1000ms', '--log-level', 'info', '--netns', podGlob, '--flow-events', '--config', config, '--observe-socket', `/tmp/fovea-flows-ab-${process.pid}.sock`],
  { cwd: root, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise((r) => agent.on('exit', (code, signal) => r({ code, signal })));
  await waitFlowsTracked(logPath, prefix, 2, 20_000);
  await sleep(settleMs);
  const m0 = await loop.mark();
  const t0 = ticks(agent.pid), w0 = Date.now(), u0 = process.cpuUsage();
  await sleep(secs * 1000);
  const t1 = ticks(agent.pid), w1 = Date.now(), u1 = process.cpuUsage(u0);
  const m1 = await loop.mark();
  const cpu = ((t1 - t0) / 100) / ((w1 - w0) / 1000) * 100;
  const s0 = Date.now();
  agent.kill('SIGTERM');
  const ex = await exited;
  const stopMs = Date.now() - s0;
  await sleep(300);
  const records = rx.logRecords().filter((r) => r.eventName === 'fovea.network.flow').length;
  let stats = {};
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try { const l = JSON.parse(line); if (l.msg === 'event exporter stopped') stats = l; } catch { /* not json */ }
  }
  if (process.env.VERBOSE) {
    for (const m of ['fovea.network.drop.packets', 'fovea.pod.network.drop.packets', 'fovea.flow.drop.packets', 'fovea.agent.flows.active']) {
      for (const x of rx.series(m)) console.log(`  ${m} ${JSON.stringify(x.attrs)} ${x.value}`);
    }
    const names = new Map();
    for (const r of rx.logRecords()) names.set(r.eventName, (names.get(r.eventName) ?? 0) + 1);
    console.log('  log records by event name', JSON.stringify([...names]));
  }
  const conns = (m1.connected - m0.connected) / ((w1 - w0) / 1000);
  console.log(`${label} ${arm.name}: agent ${cpu.toFixed(1)} % of a core over ${((w1 - w0) / 1000).toFixed(1)} s (loop ${conns.toFixed(0)} connections/s; receiver process ${((u1.user + u1.system) / 1e3 / (w1 - w0) * 100).toFixed(0)} %); ` +
    `${records} flow records received; exporter: published ${stats.published}, exported ${stats.exported}, lost ${JSON.stringify(stats.lost)}, unsent ${stats.unsent}; ` +
    `stop ${stopMs} ms, exit ${ex.code ?? ex.signal}`);
  if (ex.code === 0) rmSync(logPath, { force: true }); else console.log(`  log kept: ${logPath}`);
  return { root: arm, cpu, records, stats, stopMs, code: ex.code };
}

const results = [];
try {
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? roots : [...roots].reverse();
    for (const root of order) {
      const label = `r${r + 1}-${roots.indexOf(root)}`;
      const go = async () => {
        if (streams > 0) iperf = lab.spawn(0, ['iperf3', '-c', lab.pod(1).ip, '-p', '5201', '-t', String(secs + 30), '-P', String(streams), '-l', '1048576', '-i', '0']);
        try { results.push(await life(root, label)); } finally { if (iperf) { iperf.kill('SIGINT'); await sleep(500); } }
      };
      await go();
    }
  }
} finally {
  for (const root of roots) {
    const mine = results.filter((x) => x.root === root);
    const cpus = mine.map((x) => x.cpu).sort((a, b) => a - b);
    console.log(`${root.name}: CPU ${cpus.map((c) => c.toFixed(1)).join(', ')} % (median ${cpus[Math.floor(cpus.length / 2)]?.toFixed(1)}); ` +
      `exits ${mine.map((x) => x.code).join(',')}; stop ms ${mine.map((x) => x.stopMs).join(',')}`);
  }
  await loop.stop();
  await Promise.all(servers.map((s) => s.stop()));
  iperfSrv?.kill();
  for (const a of arms) rmSync(a.config, { force: true });
  await rx.stop();
  await lab.destroy();
}
