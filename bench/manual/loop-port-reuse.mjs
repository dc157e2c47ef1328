// Hand check behind docs/benchmark.md's part j ("j.flows-recorded"): does part j's connect loop use a
// 4-tuple (client port → server port) twice within an agent's life? Part j's lab and load without an
// agent: pod 0's port range 1024–65535 and tcp_tw_reuse=0 (or PORT_RANGE / TW_REUSE), bench/tcp-load.c's
// connect loop at `rate`/s to 4 server ports in pod 1, loop and servers pinned to core 1, and (STREAMS=16,
// the default) iperf3 -P 16 pod 0 → pod 1 pinned to core 1 beside them. The loop writes every connection
// it made (TCP_LOAD_PORT_LOG); afterwards each 4-tuple's uses are compared.
// As root, after bash scripts/build.sh:  flock /tmp/fovea-quiet.lock node bench/manual/loop-port-reuse.mjs [rate=1000] [seconds=120]
import { readFileSync, rmSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { compileLoad, LoadProcess } from '../../dist/bench/load-process.js';
import { run } from '../../dist/src/lab/run.js';
import { nofileHardLimit } from '../../dist/bench/tcp-cost.js';

const rate = Number(process.argv[2] ?? 1000), secs = Number(process.argv[3] ?? 120);
const streams = Number(process.env.STREAMS ?? 16);
const ports = [7000, 7001, 7002, 7003];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lab = await Lab.create({ name: process.env.LAB ?? 'fpr', pods: 2 });
const log = `/tmp/fovea-loop-ports-${process.pid}.bin`;
const bin = await compileLoad('tcp-load');
const nofile = nofileHardLimit();
let servers = [], loop, iperfSrv, iperf;
try {
  const podExec = (cmd) => run(['ip', 'netns', 'exec', lab.pod(0).netns, ...cmd]);
  await podExec(['sysctl', '-qw', `net.ipv4.ip_local_port_range=${process.env.PORT_RANGE ?? '1024 65535'}`]);
  await podExec(['sysctl', '-qw', `net.ipv4.tcp_tw_reuse=${process.env.TW_REUSE ?? '0'}`]);
  servers = ports.map((p) => LoadProcess.start(lab, 1, bin, ['server', p, 0], nofile, '1'));
  await Promise.all(servers.map((s) => s.ready()));
  if (streams > 0) {
    iperfSrv = lab.spawn(1, ['iperf3', '-s', '-p', '5201']);
    await sleep(500);
    iperf = lab.spawn(0, ['iperf3', '-c', lab.pod(1).ip, '-p', '5201', '-t', String(secs + 5), '-A', '1,1', '-l', '1048576', '-P', String(streams), '-i', '0', '--json']);
    await sleep(1000);
  }
  loop = LoadProcess.start(lab, 0, bin, ['connect', lab.pod(1).ip, rate, 0, 0, 0, ...ports], nofile, '1', { TCP_LOAD_PORT_LOG: log });
  await loop.ready();
  await sleep(secs * 1000);
  // where the TIME_WAIT sockets are: the client's (pod 0) block its port for 60 s, the server's (pod 1) do not
  const tw = async (pod) => (await run(['ip', 'netns', 'exec', lab.pod(pod).netns, 'ss', '-Htan', 'state', 'time-wait'])).stdout.split('\n').filter(Boolean).length;
  console.log(`TIME_WAIT sockets now: pod 0 (client) ${await tw(0)}, pod 1 (servers) ${await tw(1)}`);
  const m = await loop.mark();
  const buf = readFileSync(log);
  const n = buf.length / 8;
  const last = new Map();
  const gaps = [];
  for (let i = 0; i < n; i++) {
    const k = buf.readUInt32LE(i * 8), ms = buf.readUInt32LE(i * 8 + 4);
    const prev = last.get(k);
    if (prev) gaps.push({ i, cport: k & 0xffff, sport: k >>> 16, ms, gapMs: ms - prev.ms, between: i - prev.i });
    last.set(k, { ms, i });
  }
  const within = (s) => gaps.filter((g) => g.gapMs < s * 1000).length;
  console.log(`${n} connections logged (mark: ${m.connected}, errors ${m.errors}, skipped ${m.skipped}) in ${secs} s, ${last.size} distinct 4-tuples; ` +
    `4-tuples used again: ${gaps.length}, within 1 s ${within(1)}, 4 s ${within(4)}, 10 s ${within(10)}, 60 s ${within(60)}`);
  const below = [...last.keys()].filter((k) => (k & 0xffff) < 7000).length;
  console.log(`client ports below 7000: ${below} of ${last.size} distinct 4-tuples`);
  for (const g of gaps.filter((x) => x.gapMs < 60_000).slice(0, 40)) console.log(`  ${g.cport} → ${g.sport}: again at ${(g.ms / 1000).toFixed(3)} s after ${g.gapMs} ms (${g.between} connections later)`);
} finally {
  await Promise.all([loop, ...servers].filter(Boolean).map((w) => w.stop()));
  iperf?.kill('SIGKILL');
  iperfSrv?.kill('SIGKILL');
  rmSync(bin, { force: true });
  rmSync(log, { force: true });
  await lab.destroy();
}
