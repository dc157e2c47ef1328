// Hand measurement behind docs/benchmark.md "Profiling the agent" (the metrics serializer): what one
// OTLP metrics export of an agent in pod mode with N lab pods costs to serialise — upstream's
// ProtobufMetricsSerializer against src/export/metric-encoder.ts — in µs per export, on this machine,
// one process. The export is a real one: `fovea agent` (standalone, --netns, 2 s export interval) with
// N lab pods sends to a test receiver; its last request (the agent's steady state: every source read
// at least once) is decoded back into ResourceMetrics (src/otlp/resource-metrics.ts), and both
// serializers write it again — their bytes are checked equal to each other and to what the agent sent.
// As root, after bash scripts/build.sh:
//   node bench/manual/metric-encode.mjs [pods=50] [--save file.pb[.gz]]   (runs the lab and the agent)
//   node bench/manual/metric-encode.mjs --from file.pb[.gz]                (a saved export, no root)
//   --frozen: every data point's attribute set frozen after decoding, as the agent's sources keep most of theirs
//   (the encoder then plans and writes each set once: otlp-protobuf.ts planAttributes)
// test/fixtures/agent-50-pods.metrics.pb.gz was saved this way (metric-encoder.test.ts reads it).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { encodeMetricsExportRequest } from '../../dist/src/export/metric-encoder.js';
import { decodeMetricsRequest } from '../../dist/src/otlp/receiver.js';
import { toResourceMetrics } from '../../dist/src/otlp/resource-metrics.js';

const args = process.argv.slice(2);
const flag = (name) => { const i = args.indexOf(name); return i >= 0 ? args.splice(i, 2)[1] : undefined; };
const frozen = (() => { const i = args.indexOf('--frozen'); return i >= 0 ? (args.splice(i, 1), true) : false; })();
const from = flag('--from');
const save = flag('--save');
const coldMode = flag('--cold');
const pods = Number(args[0] ?? 50);

async function capture() {
  const { Lab } = await import('../../dist/src/lab/lab.js');
  const { OtlpReceiver } = await import('../../dist/src/otlp/receiver.js');
  const lab = await Lab.create({ name: 'menc', pods });
  const rx = await OtlpReceiver.start({});
  const agent = spawn(process.execPath, [new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
    '--interfaces', 'fvmenc-*', '--netns', 'fovea-menc-*', '--export-interval', '2s', '--log-level', 'warn',
    '--observe-socket', `/tmp/fovea-menc-${process.pid}.sock`], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    const t0 = Date.now();
    // pods attached, then two more exports
    await rx.waitFor((r) => r.latest('fovea.agent.interfaces.attached') >= pods, 60_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 2, 20_000);
    console.log(`captured after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return rx.requests.at(-1).body;
  } finally {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.on('exit', r));
    await rx.stop();
    await lab.destroy();
  }
}

// a file ending in .gz is gzip'd
const body = from ? (from.endsWith('.gz') ? gunzipSync(readFileSync(from)) : readFileSync(from)) : await capture();
if (save) writeFileSync(save, save.endsWith('.gz') ? gzipSync(body, { level: 9 }) : body);
const rm = toResourceMetrics(decodeMetricsRequest(body));
if (frozen) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) for (const dp of m.dataPoints) Object.freeze(dp.attributes);
const metrics = rm.scopeMetrics.flatMap((s) => s.metrics);
const points = metrics.reduce((n, m) => n + m.dataPoints.length, 0);
const upstream = (x) => ProtobufMetricsSerializer.serializeRequest(x);
const ours = (x) => encodeMetricsExportRequest(x);
if (!coldMode && !Buffer.from(upstream(rm)).equals(body)) throw new Error('upstream does not write what the agent sent');
if (!coldMode && !Buffer.from(ours(rm)).equals(body)) throw new Error('metric-encoder does not write what the agent sent');

// warm: the process's CPU time per export over rounds (interleaved, the lowest round of each: the
// least disturbed by other work on the machine); cold: the first export of a fresh process (the agent
// exports once per interval, so its code may run far from warm)
const perExport = (fn, n) => {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) fn(rm);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
};
if (coldMode) {
  // the first ten exports of a process, 100 ms apart, each after a full GC (the garbage of the
  // decoding above is not the encoder's)
  const times = [];
  for (let i = 0; i < 10; i++) {
    globalThis.gc();
    const t0 = process.hrtime.bigint();
    (coldMode === 'upstream' ? upstream : ours)(rm);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(times.join(' '));
  process.exit(0);
}
/** median over 5 fresh processes of each of their first ten exports */
const cold = (which) => {
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, '--from', from ?? save ?? '', '--cold', which, ...(frozen ? ['--frozen'] : [])], { encoding: 'utf8' });
    runs.push(r.stdout.trim().split(' ').map(Number));
  }
  return runs[0].map((_, k) => runs.map((t) => t[k]).sort((a, b) => a - b)[2].toFixed(0)).join(', ');
};
console.log(`one export: ${metrics.length} metrics, ${points} data points, ${body.length} bytes`);
const up = [], us = [];
for (let round = 0; round < 8; round++) { up.push(perExport(upstream, 50)); us.push(perExport(ours, 200)); }
const fmt = (xs) => `${Math.min(...xs).toFixed(0)} µs CPU per export warm (rounds ${xs.map((x) => x.toFixed(0)).join(' ')})`;
console.log(`upstream ProtobufMetricsSerializer: ${fmt(up)}`);
console.log(`metric-encoder:                     ${fmt(us)}`);
if (from || save) {
  console.log(`the first ten exports of a fresh process, 100 ms apart and each after a full GC, µs each (median of 5 processes):`);
  console.log(`  upstream ProtobufMetricsSerializer: ${cold('upstream')}`);
  console.log(`  metric-encoder:                     ${cold('ours')}`);
}
