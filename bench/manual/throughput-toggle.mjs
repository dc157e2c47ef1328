// Part g's throughput measure (bench/throughput-toggle.ts) on its own, for iterating on its design:
// a two-pod lab, the real agent (defaults) started and stopped under one iperf3 stream per segment.
// As root, after `bash scripts/build.sh`:
//   node bench/manual/throughput-toggle.mjs '{"segments":2,"shamEvery":2}' [out.json]
// The JSON overrides part g's settings (bench/run.ts); shamEvery 1 is an A/A run (no agent at all).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { runThroughputToggle } from '../../dist/bench/throughput-toggle.js';
import { G_TOGGLE } from '../../dist/bench/throughput-toggle.js';

const ROOT = join(import.meta.dirname, '..', '..');
const settings = { ...G_TOGGLE, ...JSON.parse(process.argv[2] ?? '{}') };
const lab = await Lab.create({ name: 'tgl', pods: 2 });
const receiver = await OtlpReceiver.start();
try {
  const r = await runThroughputToggle(lab, settings, (label) => ({
    root: ROOT, endpoint: receiver.endpoint, interfaces: 'fvtgl-*', exportIntervalMs: settings.exportIntervalMs,
    logPath: `/tmp/fovea-tgl-${label}.log`, pidPath: '/tmp/fovea-tgl.pid', extraArgs: ['--observe-socket', '/tmp/fovea-tgl-observe.sock'],
  }), () => undefined);
  if (process.argv[3]) writeFileSync(process.argv[3], JSON.stringify(r, null, 1));
  const show = (name, st) => console.log(`${name}: n ${st.n}, mean ${st.mean.mean?.toFixed(2)} (${st.mean.lo?.toFixed(2)}–${st.mean.hi?.toFixed(2)}, ± ${st.mean.halfWidth?.toFixed(2)}), ` +
    `median ${st.median.median?.toFixed(2)} (${st.median.lo?.toFixed(2)}–${st.median.hi?.toFixed(2)}), sd ${st.sd?.toFixed(2)}`);
  show('with ÷ without', r.real);
  show('A/A', r.aa);
  console.log(`${r.seconds.toFixed(0)} s; agent start median ${r.medianStartSeconds?.toFixed(2)} s; agent CPU ${r.agentCpuPct.mean?.toFixed(2)}%; retransmits ${r.retransmits.join(' ')}`);
} finally {
  await receiver.stop?.();
  await lab.destroy();
}
