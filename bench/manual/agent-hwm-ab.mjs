// Hand measurement behind docs/benchmark.md "What the agent's peak memory is made of": the agent's VmHWM
// from start through idle in pod mode (standalone, N lab pods, 10 s exports, as part i runs it), for
// several configurations side by side — checkouts (each with its dist/ built) and V8 flags — in
// interleaved rounds (order rotated every round), each agent stopped after `seconds`. The peak moves
// with garbage-collection timing by ±10 MB from run to run: compare medians and ranges over rounds.
// As root, after bash scripts/build.sh in each checkout:
//   node bench/manual/agent-hwm-ab.mjs <pods> <seconds> <rounds> '<json configs>'
// configs: [{"name": "before", "root": "/path/to/checkout", "nodeFlags": ["--max-semi-space-size=64"],
//            "args": ["--hubble"], "env": {"K": "v"}, "entry": "script run instead of bin/fovea.js"}, ...]; root defaults to this checkout, nodeFlags
// to src/runtime.ts's AGENT_NODE_FLAGS.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { AGENT_NODE_FLAGS } from '../../dist/src/runtime.js';
import { rssByKind } from './smaps-kinds.mjs';

const [pods, secs, rounds] = [Number(process.argv[2] ?? 50), Number(process.argv[3] ?? 80), Number(process.argv[4] ?? 3)];
const here = new URL('../..', import.meta.url).pathname;
const configs = JSON.parse(process.argv[5] ?? '[{"name": "this checkout"}]');
const lab = await Lab.create({ name: 'mhab', pods });
const rx = await OtlpReceiver.start({});
const status = (pid) => {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]) / 1024;
};
/** RSS by kind of mapping, MB (smaps-kinds.mjs) */
const mappings = rssByKind;
const results = new Map(configs.map((c) => [c.name, []]));
try {
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < configs.length; k++) {
      const c = configs[(k + r) % configs.length];
      const root = c.root ?? here;
      const agent = spawn(process.execPath, [...(c.nodeFlags ?? AGENT_NODE_FLAGS), c.entry ?? `${root}/bin/fovea.js`, 'agent', '--endpoint', rx.endpoint,
        '--interfaces', 'fvmhab-*', '--netns', 'fovea-mhab-*', '--export-interval', '10s', '--log-level', 'warn',
        '--observe-socket', `/tmp/fovea-mhab-${process.pid}.sock`, ...(c.args ?? [])],
      { cwd: root, env: { ...process.env, ...(c.env ?? {}) }, stdio: ['ignore', 'ignore', 'inherit'] });
      const exited = new Promise((res) => agent.on('exit', res));
      const n0 = rx.requestCount;
      await Promise.race([new Promise((res) => setTimeout(res, secs * 1000)), exited]);
      const st = status(agent.pid);
      const row = { hwm: st('VmHWM'), rss: st('VmRSS'), exports: rx.requestCount - n0, maps: mappings(agent.pid) };
      agent.kill('SIGTERM');
      await exited;
      results.get(c.name).push(row);
      console.log(`round ${r + 1} ${c.name.padEnd(20)} VmHWM ${row.hwm.toFixed(1)} MB, VmRSS ${row.rss.toFixed(1)} MB at ${secs} s (${row.maps}), ${row.exports} OTLP requests`);
    }
  }
} finally {
  await rx.stop();
  await lab.destroy();
}
for (const [name, rows] of results) {
  const h = rows.map((x) => x.hwm).sort((a, b) => a - b);
  const med = h.length % 2 ? h[(h.length - 1) / 2] : (h[h.length / 2 - 1] + h[h.length / 2]) / 2;
  console.log(`${name.padEnd(20)} VmHWM median ${med.toFixed(1)} MB, min ${h[0].toFixed(1)}, max ${h.at(-1).toFixed(1)} (${h.length} rounds: ${rows.map((x) => x.hwm.toFixed(1)).join(', ')})`);
}
