// Hand measurement behind docs/benchmark.md (issue 12, "memory that stays flat over an hour of pod churn"):
// the real agent in pod mode (--netns 'fovea-chm-*', 10 s export interval, exporting to an in-process OTLP
// receiver on loopback) while "pods" (named netns + veth, made with `ip -batch` as in test/e2e/pods-churn.test.ts,
// routed like src/lab/lab.ts) come and go: PODS stay alive, and every PERIOD seconds the 5 oldest are deleted
// and 5 new ones created. Each new pod sends a little traffic so that flow, TCP and DNS state is created and
// must be released: a DNS query (dig) to and a short TCP exchange with a long-lived service pod
// (fovea-chm-svc: a tiny UDP/53 responder and TCP echo), a TCP connect to a closed port of another pod (RST)
// and 3 UDP datagrams to it (ICMP port unreachable back), 4 s after the pod appears (once the agent has attached).
// Every 30 s it samples the agent's VmRSS and VmHWM (/proc/<pid>/status), its open fds (/proc/<pid>/fd) and,
// from the last export, the agent's own fovea.agent.interfaces.attached and how many pods have series.
// At the end it deletes every pod and checks that the attached interfaces and the exported pod series go
// to 0 (as pods-churn.test.ts does; pod series outlive their pod by --pod-series-ttl, default 5 min),
// then removes everything it made (netns, veths, processes).
// Every REPORT_MIN minutes (default 5; 0 = never) it also asks the agent for its memory after a full collection
// (FOVEA_MEMORY_REPORT, src/agent/memory-report.ts: SIGUSR2 → full, memory-reducing GC → JSON), three reports 0.5 s
// apart and the least of each figure, as test/e2e/pods-churn.test.ts does: V8 heap objects (no compiled code), external
// memory, malloc in use, RSS right after the collection. These do not move with the saw-tooth of V8's collections that
// a VmRSS sample rides on; their slopes after the warm-up are in the summary. (With the report on, V8 keeps bytecode it
// would otherwise flush, and the agent runs one full collection per report: the RSS samples are the agent's, a little
// lower than without.)
// PREFIX (default chm) names the pods (fovea-<PREFIX>-<i>, veths fv<PREFIX>-<i>), so that two runs with different
// PREFIX and SUBNET can go side by side (e.g. one with FOVEA_CONFIG=<file> setting observe.historySize).
// If /tmp/fovea-quiet.lock exists (another helper benchmarking), churn steps pause until it is gone
// (pods are kept, sampling goes on); the pause is counted and reported. QUIET_LOCK=<path> names another lock file.
//
// As root, after bash scripts/build.sh (or build-bpf.sh + npm run build:ts):
//   node bench/manual/churn-memory.mjs [minutes=60] [pods=50] [period=20] [agent flags…]
//   env WARMUP_MIN (default 10, at most half the run), CSV=<file> (every sample), AGENT_LOG=<file> (agent stderr,
//   default /tmp/churn-memory-agent.log), SUBNET (default 198.19.250: pods are SUBNET.10–209/32, svc SUBNET.5),
//   REPORT_MIN (default 5), PREFIX (default chm); FOVEA_CONFIG=<file> reaches the agent;
//   SNAPSHOT_MIN=<m,m,…>: a V8 heap snapshot of the agent at those minutes (Node's --heapsnapshot-signal=SIGUSR1, written
//   into SNAPSHOT_DIR, default /tmp/fovea-churn-snapshots); compare two with bench/manual/heapsnapshot-diff.mjs
//   (a snapshot changes what it measures: V8's heap profiler keeps its map of object ids from the first snapshot on, and
//   glibc keeps the snapshot writer's freed memory — seen 2026-12-05: malloc in use 13.5 → 38.8 MB and RSS after a
//   collection 104 → 233–256 MB from the first snapshot to the end; heap objects and external memory are unaffected and are
//   the figures to read in such a run)
// Output: one row per 5 minutes (last sample of the window: RSS, HWM, fds, attached interfaces, pods with
// series, pods created/deleted so far, min/max RSS in the window), then a summary: RSS at the first sample,
// after the warm-up and at the end; the least-squares slope of RSS over the post-warm-up samples in MB/hour
// with its 95% CI (ordinary least squares: samples 30 s apart are autocorrelated by GC cycles, so read the
// CI as a lower bound of the uncertainty; a slope whose CI spans 0, or whose size is a few MB/h, is flat);
// fds first/last; pods churned; pause time; and the end check.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, appendFileSync, createWriteStream, mkdtempSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { readMemoryReport } from '../../dist/src/agent/memory-report.js';
import { olsSlopeCi } from '../../dist/bench/util.js';

const minutes = Number(process.argv[2] ?? 60), podsAlive = Number(process.argv[3] ?? 50), period = Number(process.argv[4] ?? 20);
const extra = process.argv.slice(5);
const PER_STEP = 5, SAMPLE_S = 30, TABLE_MIN = 5;
const warmupMin = Math.min(Number(process.env.WARMUP_MIN ?? 10), minutes / 2);
const SUBNET = process.env.SUBNET ?? '198.19.250';
const LOCK = process.env.QUIET_LOCK ?? '/tmp/fovea-quiet.lock'; // QUIET_LOCK=/nonexistent: never pause
const csvPath = process.env.CSV;
const agentLog = process.env.AGENT_LOG ?? '/tmp/churn-memory-agent.log';
const PREFIX = process.env.PREFIX ?? 'chm';
if (!/^[a-z]{2,4}$/.test(PREFIX)) throw new Error('PREFIX: 2 to 4 lower-case letters');
const REPORT_MIN = Number(process.env.REPORT_MIN ?? 5);
const SNAPSHOT_MIN = (process.env.SNAPSHOT_MIN ?? '').split(',').filter(Boolean).map(Number).sort((a, b) => a - b);
const SNAPSHOT_DIR = process.env.SNAPSHOT_DIR ?? '/tmp/fovea-churn-snapshots';
if (SNAPSHOT_MIN.some((m) => !(m >= 0))) throw new Error('SNAPSHOT_MIN: minutes, comma-separated');
const NS = (i) => `fovea-${PREFIX}-${i}`, HOST = (i) => `fv${PREFIX}-${i}`, IP = (i) => `${SUBNET}.${10 + (i % 200)}`;
const SVC = { ns: `fovea-${PREFIX}-svc`, host: `fv${PREFIX}-svc`, ip: `${SUBNET}.5` };
const GW = '169.254.1.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);

if (process.getuid?.() !== 0) throw new Error('run as root (network namespaces, veths, eBPF)');
if (!(podsAlive >= PER_STEP && podsAlive <= 200 && minutes > 0 && period > 0)) throw new Error('usage: churn-memory.mjs [minutes] [pods 5..200] [period s]');

function ipBatch(lines, ns) {
  execFileSync('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}
const sysctl = (ifname, kv) => { for (const [k, v] of kv) writeFileSync(`/proc/sys/net/${k.startsWith('ipv6') ? 'ipv6' : 'ipv4'}/conf/${ifname}/${k.split('.')[1]}`, v); };
const HOST_SYSCTLS = [['ipv4.forwarding', '1'], ['ipv4.rp_filter', '0'], ['ipv4.accept_redirects', '0'], ['ipv4.send_redirects', '0'], ['ipv6.disable_ipv6', '1']];

/** Pods as in src/lab/lab.ts: /32 address, onlink default route via a gateway name, permanent neighbours both sides. */
function createPods(list) { // list of {ns, host, ip}
  ipBatch(list.flatMap((p) => [`netns add ${p.ns}`, `link add ${p.host} type veth peer name eth0 netns ${p.ns}`]));
  for (const p of list) sysctl(p.host, HOST_SYSCTLS);
  const hostMac = (p) => readFileSync(`/sys/class/net/${p.host}/address`, 'utf8').trim();
  for (const p of list) {
    ipBatch(['link set lo up', 'link set eth0 up', `addr add ${p.ip}/32 dev eth0`, `neigh replace ${GW} lladdr ${hostMac(p)} dev eth0 nud permanent`,
      `route add ${GW} dev eth0 scope link`, `route add default via ${GW} dev eth0 onlink`], p.ns);
  }
  const podMac = (p) => JSON.parse(execFileSync('ip', ['-n', p.ns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }))[0].address;
  ipBatch(list.flatMap((p) => [`link set ${p.host} up`, `route add ${p.ip}/32 dev ${p.host} scope link`, `neigh replace ${p.ip} lladdr ${podMac(p)} dev ${p.host} nud permanent`]));
}
function listOurNetns() {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`fovea-${PREFIX}-`));
}
function killNetnsPids(ns) {
  const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}
function deleteNetns(names) {
  for (const n of names) { try { killNetnsPids(n); } catch { /* gone */ } }
  if (names.length) try { execFileSync('ip', ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}`).join('\n') + '\n', stdio: ['pipe', 'ignore', 'ignore'] }); } catch { /* some gone */ }
}
function cleanupAll() {
  deleteNetns(listOurNetns());
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })).map((l) => l.ifname).filter((n) => n.startsWith(`fv${PREFIX}-`));
  for (const l of links) try { execFileSync('ip', ['link', 'del', l], { stdio: 'ignore' }); } catch { /* gone with its netns */ }
}

// ---- the service pod: DNS (UDP 53, answers A 192.0.2.1) and TCP echo (8080), one small node process ----
const SVC_JS = `
const d = require('node:dgram').createSocket('udp4');
d.on('message', (m, r) => { if (m.length < 12) return; const q = m.subarray(12); let i = 0; while (i < q.length && q[i]) i += q[i] + 1; const qlen = i + 5;
  const h = Buffer.from(m.subarray(0, 12)); h[2] = 0x81; h[3] = 0x80; h.writeUInt16BE(1, 4); h.writeUInt16BE(1, 6); h.writeUInt16BE(0, 8); h.writeUInt16BE(0, 10);
  const ans = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1]);
  d.send(Buffer.concat([h, q.subarray(0, qlen), ans]), r.port, r.address); });
d.bind(53);
require('node:net').createServer((s) => { s.on('data', (b) => s.end(b)); s.on('error', () => {}); }).listen(8080);
`;

// ---- sampling state ----
const agentPid = () => agent.pid;
const status = () => readFileSync(`/proc/${agentPid()}/status`, 'utf8');
const kb = (re) => Number(re.exec(status())?.[1] ?? NaN) / 1024;
const fds = () => readdirSync(`/proc/${agentPid()}/fd`).length;
let lastAttached, lastPodSeries, exportsSeen = 0, pausedMs = 0, created = 0, deleted = 0, stepsDone = 0, stepsPaused = 0, trafficFail = 0;
const samples = [];
const reportDir = mkdtempSync(join(tmpdir(), 'fovea-churn-mem-')), reportFile = join(reportDir, 'memory.json');
const reports = []; let reportSeq = 0;
/** One memory report (SIGUSR2), waited for. */
async function memoryReport() {
  const seq = ++reportSeq;
  process.kill(agentPid(), 'SIGUSR2');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = readMemoryReport(reportFile);
    if (r?.seq === seq) return r;
    await sleep(20);
  }
  throw new Error(`no memory report ${seq} within 15 s (see ${agentLog})`);
}
/** The least of each figure over 3 reports 0.5 s apart (what is on its way out is gone in one of them), in MB. */
async function settledMemory(t) {
  const rs = [];
  for (let k = 0; k < 3; k++) { if (k) await sleep(500); rs.push(await memoryReport()); }
  const least = (f) => Math.min(...rs.map((r) => r[f] ?? NaN)) / 1e6;
  const r = { t, heapObjects: least('heapObjectBytes'), heapUsed: least('heapUsedBytes'), external: least('externalBytes'), malloc: least('mallocInUseBytes'), rss: least('rssBytes'), fds: Math.min(...rs.map((x) => x.openFds)) };
  reports.push(r);
  if (csvPath) appendFileSync(`${csvPath}.gc.csv`, `${t.toFixed(0)},${r.heapObjects.toFixed(3)},${r.heapUsed.toFixed(3)},${r.external.toFixed(3)},${r.malloc.toFixed(3)},${r.rss.toFixed(2)},${r.fds}\n`);
  log(`after full GC (${(t / 60).toFixed(1)} min): heap objects ${r.heapObjects.toFixed(2)} MB, heap used ${r.heapUsed.toFixed(2)}, external ${r.external.toFixed(2)}, malloc in use ${r.malloc.toFixed(2)}, RSS ${r.rss.toFixed(1)}, fds ${r.fds}`);
  return r;
}

/**
 * One collection may reach the receiver as several requests (the agent splits a request over 4 MiB less 64 KiB:
 * src/export/bounded-requests.ts), so pods with series and request bytes are summed over every request whose data
 * points carry the same time (one collection), not read from the last request alone; a collection's figures are
 * final when the next one's first request arrives (lastPodSeries is one export behind).
 */
function collectionTime(req) {
  for (const rm of req.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    const dp = (m.sum ?? m.gauge ?? m.histogram)?.dataPoints?.[0];
    if (dp?.timeUnixNano !== undefined) return String(dp.timeUnixNano);
  }
  return undefined;
}
let current = { time: undefined, pods: new Set(), bytes: 0, requests: 0 };
const bytesPerCollection = []; // { at: Date.now() when it was complete, bytes, requests } of every finished collection
function noteCollection(req, body) {
  const time = collectionTime(req);
  if (time !== current.time) {
    if (current.time !== undefined) {
      bytesPerCollection.push({ at: Date.now(), bytes: current.bytes, requests: current.requests });
      lastPodSeries = current.pods.size; // the collection before is complete now
    }
    current = { time, pods: new Set(), bytes: 0, requests: 0 };
  }
  current.bytes += body.length; current.requests++;
  for (const rm of req.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== 'fovea.pod.network.packets' || !m.sum) continue;
    for (const dp of m.sum.dataPoints) current.pods.add(String(dp.attributes?.find((a) => a.key === 'k8s.pod.name')?.value?.stringValue));
  }
}
/** Pods the agent saw doing each kind of traffic (a series of that metric with a non-zero value): proof the traffic was observed. */
const SEEN = { 'fovea.pod.dns.queries': new Set(), 'fovea.pod.dns.responses': new Set(), 'fovea.pod.tcp.connections.opened': new Set(),
  'fovea.pod.tcp.resets': new Set(), 'fovea.pod.tcp.connections.failed': new Set() };
function noteSeen(req) {
  for (const rm of req.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    const set = SEEN[m.name]; const data = m.sum ?? m.gauge;
    if (!set || !data) continue;
    for (const dp of data.dataPoints) if (Number(dp.asInt ?? dp.asDouble ?? 0) > 0) set.add(String(dp.attributes?.find((a) => a.key === 'k8s.pod.name')?.value?.stringValue));
  }
}
function attachedOf(req) {
  for (const rm of req.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== 'fovea.agent.interfaces.attached') continue;
    const dp = (m.gauge ?? m.sum)?.dataPoints?.[0];
    if (dp) return Number(dp.asInt ?? dp.asDouble ?? 0);
  }
  return undefined;
}

// ---- set up ----
cleanupAll();
if (execFileSync('ip', ['route', 'show', 'root', `${SUBNET}.0/24`], { encoding: 'utf8' }).trim()) throw new Error(`${SUBNET}.0/24 has routes already; pass SUBNET=`);
const rx = await OtlpReceiver.start({ host: '127.0.0.1' });
rx.on('export', (e) => {
  exportsSeen++;
  const a = attachedOf(e.request);
  if (a !== undefined) lastAttached = a;
  noteCollection(e.request, e.body);
  noteSeen(e.request);
  // keep the receiver's memory bounded: only the last few requests are kept
  const reqs = rx.requests; if (reqs.length > 3) reqs.splice(0, reqs.length - 3);
});
rx.on('logs', () => rx.logRequests.length > 3 && rx.logRequests.splice(0, rx.logRequests.length - 3));

let agent, svcProc, alive = []; let next = 0; let stopping = false;
async function teardown() {
  if (stopping) return; stopping = true;
  if (agent && agent.exitCode === null) { agent.kill('SIGTERM'); await Promise.race([new Promise((r) => agent.once('exit', r)), sleep(10_000)]); if (agent.exitCode === null) agent.kill('SIGKILL'); }
  if (svcProc && svcProc.exitCode === null) svcProc.kill('SIGKILL');
  cleanupAll();
  await rx.stop();
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, async () => { log(`${sig}: cleaning up`); await teardown(); process.exit(130); });

function traffic(pods) {
  // one short bash per new pod, all in parallel, none outliving its pod (timeout 10)
  for (const p of pods) {
    const peer = alive[Math.floor(Math.random() * Math.max(1, alive.length - pods.length))] ?? p;
    const sh = `sleep 4 # after the agent has attached to the new veth (--rescan-interval 2 s)
dig +tries=1 +time=1 +short @${SVC.ip} ${p.ns}.churn.test A >/dev/null
exec 3<>/dev/tcp/${SVC.ip}/8080 && { echo hello-${p.ns} >&3; read -t 1 l <&3; exec 3>&-; }
(exec 4<>/dev/tcp/${peer.ip}/9) 2>/dev/null
for k in 1 2 3; do echo dgram > /dev/udp/${peer.ip}/9999; done
true`;
    const c = spawn('ip', ['netns', 'exec', p.ns, 'timeout', '10', 'bash', '-c', sh], { stdio: 'ignore' });
    c.on('exit', (code) => { if (code !== 0) trafficFail++; });
  }
}

try {
  const t0wall = Date.now();
  createPods([SVC]);
  svcProc = spawn('ip', ['netns', 'exec', SVC.ns, process.execPath, '-e', SVC_JS], { stdio: 'ignore' });
  const first = Array.from({ length: podsAlive }, () => ({ i: next, ns: NS(next), host: HOST(next), ip: IP(next++) }));
  for (let k = 0; k < first.length; k += 10) createPods(first.slice(k, k + 10));
  alive.push(...first); created += first.length;
  if (SNAPSHOT_MIN.length) mkdirSync(SNAPSHOT_DIR, { recursive: true });
  const agentArgs = ['--max-semi-space-size=64', ...(SNAPSHOT_MIN.length ? ['--heapsnapshot-signal=SIGUSR1', `--diagnostic-dir=${SNAPSHOT_DIR}`] : []), new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
    '--interfaces', `fv${PREFIX}-*`, '--netns', `fovea-${PREFIX}-*`, '--export-interval', '10s', '--log-level', 'warn', ...extra];
  const agentOut = createWriteStream(agentLog);
  agent = spawn(process.execPath, agentArgs, { env: { ...process.env, FOVEA_OBSERVE_SOCKET: join(tmpdir(), `fovea-churn-${process.pid}.sock`),
    ...(REPORT_MIN > 0 ? { FOVEA_MEMORY_REPORT: reportFile } : {}) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let agentLines = 0; agent.stderr.on('data', (d) => { agentLines += String(d).split('\n').length - 1; agentOut.write(d); });
  agent.on('exit', (code, sig) => { if (!stopping) log(`AGENT EXITED code ${code} signal ${sig} (see ${agentLog})`); });
  await rx.waitFor(() => exportsSeen >= 1 && lastAttached === podsAlive + 1, 60_000);
  traffic(first);
  log(`setup ${((Date.now() - t0wall) / 1000).toFixed(0)} s; agent pid ${agent.pid}: node ${agentArgs.slice(1).join(' ')}`);
  log(`run ${minutes} min, ${podsAlive} pods + svc pod alive, ${PER_STEP} replaced every ${period} s, sample every ${SAMPLE_S} s, warm-up ${warmupMin} min`);
  if (csvPath) writeFileSync(csvPath, 't_s,rss_mb,hwm_mb,fds,attached,pod_series,created,deleted,paused_s\n');

  const T0 = Date.now(), END = T0 + minutes * 60_000;
  const header = ` min | RSS MB | HWM MB | fds | attached | pods w/ series | created | deleted | paused s | RSS min–max in window`;
  let windowRows = [];
  const sample = () => {
    if (agent.exitCode !== null) throw new Error('agent exited');
    const s = { t: (Date.now() - T0) / 1000, rss: kb(/VmRSS:\s+(\d+) kB/), hwm: kb(/VmHWM:\s+(\d+) kB/), fds: fds(), attached: lastAttached, podSeries: lastPodSeries, created, deleted, paused: pausedMs / 1000 };
    samples.push(s); windowRows.push(s);
    if (csvPath) appendFileSync(csvPath, `${s.t.toFixed(0)},${s.rss.toFixed(2)},${s.hwm.toFixed(2)},${s.fds},${s.attached},${s.podSeries},${s.created},${s.deleted},${s.paused.toFixed(0)}\n`);
    const prev = samples[samples.length - 2];
    if (prev && (Math.floor(s.t / 60 / TABLE_MIN) > Math.floor(prev.t / 60 / TABLE_MIN) || s.t >= minutes * 60 - 5)) {
      const rs = windowRows.map((w) => w.rss);
      console.log(`${(s.t / 60).toFixed(1).padStart(4)} | ${s.rss.toFixed(1).padStart(6)} | ${s.hwm.toFixed(1).padStart(6)} | ${String(s.fds).padStart(3)} | ${String(s.attached).padStart(8)} | ${String(s.podSeries ?? "-").padStart(14)} | ${String(s.created).padStart(7)} | ${String(s.deleted).padStart(7)} | ${s.paused.toFixed(0).padStart(8)} | ${Math.min(...rs).toFixed(1)}–${Math.max(...rs).toFixed(1)}`);
      windowRows = [];
    }
  };
  console.log(header);
  sample();
  console.log(`${'0.0'.padStart(4)} | ${samples[0].rss.toFixed(1).padStart(6)} | ${samples[0].hwm.toFixed(1).padStart(6)} | ${String(samples[0].fds).padStart(3)} | ${String(samples[0].attached).padStart(8)} | ${String(samples[0].podSeries ?? "-").padStart(14)} | ${String(created).padStart(7)} | ${String(deleted).padStart(7)} | ${'0'.padStart(8)} |`);
  windowRows = [];
  if (csvPath && REPORT_MIN > 0) writeFileSync(`${csvPath}.gc.csv`, 't_s,heap_objects_mb,heap_used_mb,external_mb,malloc_mb,rss_after_gc_mb,fds\n');
  if (REPORT_MIN > 0) await settledMemory(0);
  let nextSample = T0 + SAMPLE_S * 1000, nextStep = T0 + period * 1000, nextReport = T0 + REPORT_MIN * 60_000;
  while (Date.now() < END) {
    const now = Date.now();
    if (now >= nextSample) { sample(); nextSample += SAMPLE_S * 1000; }
    if (REPORT_MIN > 0 && now >= nextReport) { await settledMemory((now - T0) / 1000); nextReport += REPORT_MIN * 60_000; }
    if (SNAPSHOT_MIN.length && now >= T0 + SNAPSHOT_MIN[0] * 60_000) {
      const m = SNAPSHOT_MIN.shift(), before = new Set(readdirSync(SNAPSHOT_DIR));
      process.kill(agentPid(), 'SIGUSR1');
      const deadline = Date.now() + 120_000;
      let file;
      while (!file && Date.now() < deadline) { // written when it is whole: Node renames nothing, so wait for the size to settle
        await sleep(1000);
        const fresh = readdirSync(SNAPSHOT_DIR).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
        if (fresh.length) { const f = join(SNAPSHOT_DIR, fresh[0]); const a = statSync(f).size; await sleep(1000); if (statSync(f).size === a && a > 0) file = f; }
      }
      log(`heap snapshot at ${m} min: ${file ?? 'NOT WRITTEN within 120 s'}`);
    }
    if (now >= nextStep) {
      if (existsSync(LOCK)) {
        const p0 = Date.now(); stepsPaused++;
        while (existsSync(LOCK) && Date.now() < END) {
          await sleep(1000);
          if (Date.now() >= nextSample) { sample(); nextSample += SAMPLE_S * 1000; }
        }
        pausedMs += Date.now() - p0;
        log(`paused ${((Date.now() - p0) / 1000).toFixed(0)} s for ${LOCK}`);
        nextStep = Date.now();
        continue;
      }
      const old = alive.splice(0, PER_STEP);
      deleteNetns(old.map((p) => p.ns)); deleted += old.length;
      const fresh = Array.from({ length: PER_STEP }, () => ({ i: next, ns: NS(next), host: HOST(next), ip: IP(next++) }));
      createPods(fresh); alive.push(...fresh); created += fresh.length; stepsDone++;
      traffic(fresh);
      nextStep += period * 1000;
      if (nextStep < Date.now()) nextStep = Date.now() + period * 1000;
    }
    await sleep(Math.max(50, Math.min(nextSample, nextStep, END, REPORT_MIN > 0 ? nextReport : END, SNAPSHOT_MIN.length ? T0 + SNAPSHOT_MIN[0] * 60_000 : END) - Date.now()));
  }
  if (samples[samples.length - 1].t < minutes * 60 - 5) sample();
  if (REPORT_MIN > 0 && (reports.at(-1)?.t ?? 0) < minutes * 60 - 60) await settledMemory((Date.now() - T0) / 1000);

  // ---- end check: every pod deleted → attached 0 and no pod series (after --pod-series-ttl) ----
  const endStats = { rss: samples[samples.length - 1].rss, fds: samples[samples.length - 1].fds };
  const tDel = Date.now();
  deleteNetns([...alive.map((p) => p.ns), SVC.ns]); deleted += alive.length; alive = []; svcProc.kill('SIGKILL');
  const ti = extra.findIndex((a) => a.startsWith('--pod-series-ttl'));
  const ttlArg = ti < 0 ? undefined : extra[ti].includes('=') ? extra[ti] : `${extra[ti]} ${extra[ti + 1]}`;
  let goneOk = true;
  try {
    await rx.waitFor(() => lastAttached === 0 && lastPodSeries === 0 && rx.requests.length > 0 && Date.now() - tDel > 1000, 420_000);
  } catch { goneOk = false; }
  const goneS = (Date.now() - tDel) / 1000;
  const afterRss = kb(/VmRSS:\s+(\d+) kB/), afterFds = fds();
  const afterGc = REPORT_MIN > 0 ? await settledMemory((Date.now() - T0) / 1000) : undefined;

  // ---- summary ----
  const post = samples.filter((s) => s.t >= warmupMin * 60);
  const n = post.length, my = post.reduce((a, s) => a + s.rss, 0) / n;
  const perH = (x) => (x * 3600).toFixed(2); // MB/s → MB/hour
  const rssSlope = olsSlopeCi(post.map((s) => s.t), post.map((s) => s.rss));
  const warm = post[0], last = samples[samples.length - 1];
  const hwmMax = Math.max(...samples.map((s) => s.hwm));
  console.log(`\nsummary (${minutes} min, ${podsAlive} pods alive, ${PER_STEP} replaced every ${period} s, ${samples.length} samples every ${SAMPLE_S} s):`);
  console.log(`  RSS first sample ${samples[0].rss.toFixed(1)} MB; after ${warmupMin} min warm-up ${warm.rss.toFixed(1)} MB (post-warm-up mean ${my.toFixed(1)} MB, min ${Math.min(...post.map((s) => s.rss)).toFixed(1)}, max ${Math.max(...post.map((s) => s.rss)).toFixed(1)}); end ${last.rss.toFixed(1)} MB; VmHWM ${hwmMax.toFixed(1)} MB`);
  console.log(`  RSS slope after warm-up: ${perH(rssSlope.slope)} MB/hour, 95% CI [${perH(rssSlope.lo)}, ${perH(rssSlope.hi)}] (OLS over ${n} samples; autocorrelated, so the CI is optimistic)`);
  console.log(`  open fds: first ${samples[0].fds}, after warm-up ${warm.fds}, end ${endStats.fds} (max ${Math.max(...samples.map((s) => s.fds))}); after all pods deleted ${afterFds}`);
  const reqs = bytesPerCollection.filter((c) => c.at >= T0 + warmupMin * 60_000 && c.at <= T0 + minutes * 60_000);
  if (reqs.length) {
    const mb = reqs.map((c) => c.bytes / 1e6).sort((a, b) => a - b);
    console.log(`  metrics request bytes per collection after warm-up (${reqs.length} collections): median ${mb[Math.floor(mb.length / 2)].toFixed(2)} MB, max ${mb.at(-1).toFixed(2)} MB; collections sent as more than one request: ${reqs.filter((c) => c.requests > 1).length}`);
  }
  console.log(`  pods: created ${created}, deleted ${deleted} (${stepsDone} churn steps; traffic commands that failed: ${trafficFail}); exports received ${exportsSeen}`);
  console.log(`  pods the agent saw with: ${Object.entries(SEEN).map(([k, v]) => `${k.replace('fovea.pod.', '')} ${v.size}`).join(', ')}`);
  console.log(`  paused for ${LOCK}: ${(pausedMs / 1000).toFixed(0)} s in ${stepsPaused} pauses`);
  console.log(`  end check: all pods deleted → attached interfaces ${lastAttached}, pods with series ${lastPodSeries} after ${goneS.toFixed(0)} s (${ttlArg ?? 'default --pod-series-ttl 5 min'}): ${goneOk ? 'OK, gone' : 'NOT GONE within 420 s'}; RSS then ${afterRss.toFixed(1)} MB`);
  if (reports.length) {
    const postR = reports.filter((r) => r.t >= warmupMin * 60 && r !== afterGc);
    const fmt = (name, f) => {
      const sl = olsSlopeCi(postR.map((r) => r.t), postR.map(f));
      return sl.n >= 3 ? `${name} ${f(postR[0]).toFixed(2)} → ${f(postR.at(-1)).toFixed(2)} MB, slope ${perH(sl.slope)} MB/h [${perH(sl.lo)}, ${perH(sl.hi)}]` : `${name}: too few reports`;
    };
    console.log(`  after full collections (least of 3 reports every ${REPORT_MIN} min; ${postR.length} after the warm-up, OLS with 95% CI):`);
    for (const [name, f] of [['heap objects', (r) => r.heapObjects], ['external', (r) => r.external], ['malloc in use', (r) => r.malloc], ['RSS after GC', (r) => r.rss]]) console.log(`    ${fmt(name, f)}`);
    console.log(`    at the first report: heap objects ${reports[0].heapObjects.toFixed(2)}, malloc ${reports[0].malloc.toFixed(2)}, RSS ${reports[0].rss.toFixed(1)} MB; after all pods deleted: heap objects ${afterGc.heapObjects.toFixed(2)}, malloc ${afterGc.malloc.toFixed(2)}, RSS ${afterGc.rss.toFixed(1)} MB, fds ${afterGc.fds}`);
  }
  console.log(`  agent stderr: ${agentLines} lines (log level warn) in ${agentLog}; agent ${agent.exitCode === null ? 'still running (stopped now)' : 'EXITED'}`);
} finally {
  await teardown();
  rmSync(reportDir, { recursive: true, force: true });
  const left = listOurNetns().length;
  if (left) log(`cleanup left ${left} netns`);
}
