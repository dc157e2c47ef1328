// Hand measurement behind docs/benchmark.md "The gRPC transport": what importing grpc-js costs beside
// the rest of the agent's export stack. Each run is a fresh process (the image's
// --max-semi-space-size=64, --expose-gc) that imports the stack, with or without @grpc/grpc-js, runs a
// full collection and prints VmHWM, VmRSS and V8's used heap (MiB). Runs alternate, `rounds` of each.
//   node bench/manual/grpc-import-cost.mjs [rounds]
import { execFileSync } from 'node:child_process';

const rounds = Number(process.argv[2] ?? 3);
const stack = ['@opentelemetry/sdk-metrics', '@opentelemetry/otlp-exporter-base', '@opentelemetry/otlp-exporter-base/node-http',
  '@opentelemetry/otlp-transformer', '@opentelemetry/resources', 'node:http2', 'pino', 'zod', 'koffi'];
const withGrpc = [...stack, '@grpc/grpc-js'];
const script = `for (const m of JSON.parse(process.argv[1])) await import(m);
globalThis.gc();
const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (k) => Number(new RegExp(k + ':\\\\s+(\\\\d+)').exec(s)[1]) / 1024;
console.log(JSON.stringify({ hwm: kb('VmHWM'), rss: kb('VmRSS'), heapUsed: process.memoryUsage().heapUsed / 1048576 }));`;
const cwd = new URL('../..', import.meta.url).pathname;
const run = (mods) => JSON.parse(execFileSync(process.execPath,
  ['--max-semi-space-size=64', '--expose-gc', '--input-type=module', '-e', script, JSON.stringify(mods)], { cwd }).toString());
const rows = { 'without grpc-js': [], 'with grpc-js': [] };
for (let r = 0; r < rounds; r++) {
  rows['without grpc-js'].push(run(stack));
  rows['with grpc-js'].push(run(withGrpc));
}
for (const [name, rs] of Object.entries(rows)) {
  const f = (k) => rs.map((x) => x[k].toFixed(1)).join(', ');
  console.log(`${name.padEnd(16)} VmHWM ${f('hwm')}; VmRSS ${f('rss')}; heap used ${f('heapUsed')} MiB`);
}
