// Hand measurement behind the flow-event memory note in docs/events.md: heap the flow-event tracker keeps
// for a synthetic flow table of 200,000 records (after one read). After `npm run build:ts`:
//   node --expose-gc bench/manual/flow-event-memory.mjs
import { FlowEventSource } from '../../dist/src/events/flow-events.js';
import { FLOW_KEY, FLOW_VALUE, FlowView } from '../../dist/src/probes/traffic/layout.js';

if (!global.gc) throw new Error('run with node --expose-gc');
const N = 200_000;
const keys = Buffer.alloc(N * FLOW_KEY.size);
const values = Buffer.alloc(N * FLOW_VALUE.size);
for (let i = 0; i < N; i++) {
  const k = i * FLOW_KEY.size;
  keys[k + 10] = 0xff; keys[k + 11] = 0xff; keys.writeUInt32BE(0x0a000000 + (i >> 8), k + FLOW_KEY.src + 12);
  keys[k + 26] = 0xff; keys[k + 27] = 0xff; keys.writeUInt32BE(0x0a010001, k + FLOW_KEY.dst + 12);
  keys.writeUInt16BE(1024 + (i & 0xff), k + FLOW_KEY.sport);
  keys.writeUInt16BE(80, k + FLOW_KEY.dport);
  keys.writeUInt32LE(7, k + FLOW_KEY.ifindex);
  keys[k + FLOW_KEY.proto] = 6;
  keys[k + FLOW_KEY.ipVersion] = 4;
  values.writeBigUInt64LE(1n, i * FLOW_VALUE.size + FLOW_VALUE.packets);
}
const view = () => new FlowView({ count: N, keys, values, keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1 });
const source = new FlowEventSource({ flowView: view, node: 'n' });
global.gc();
const h0 = process.memoryUsage().heapUsed;
const events = source.read().length;
global.gc();
const held = process.memoryUsage().heapUsed - h0;
console.log(`${N} records, ${events} events on the first read; the tracker keeps ${(held / 1e6).toFixed(1)} MB (${(held / N).toFixed(0)} B per record)`);
