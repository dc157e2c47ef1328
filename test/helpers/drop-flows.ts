/** Dropped 5-tuples as the drop probe reads them from the kernel (unit tests of the pod stage). */
import { encodeIp } from '../../src/probes/addresses.js';
import { DROP_FLOW_KEY, DROP_VALUE, DropFlowView, type DropFlow } from '../../src/probes/drop/layout.js';

/** Packs dropped 5-tuples the way the kernel's drop_flows map is read (struct drop_flow_key / drop_value). */
export function packDropFlows(flows: readonly DropFlow[]): DropFlowView {
  const keys = Buffer.alloc(flows.length * DROP_FLOW_KEY.size);
  const values = Buffer.alloc(flows.length * DROP_VALUE.size);
  flows.forEach((f, i) => {
    const k = i * DROP_FLOW_KEY.size;
    encodeIp(f.src).copy(keys, k + DROP_FLOW_KEY.src);
    encodeIp(f.dst).copy(keys, k + DROP_FLOW_KEY.dst);
    keys.writeUInt16BE(f.sport, k + DROP_FLOW_KEY.sport);
    keys.writeUInt16BE(f.dport, k + DROP_FLOW_KEY.dport);
    keys.writeUInt32LE(f.reason, k + DROP_FLOW_KEY.reason);
    keys[k + DROP_FLOW_KEY.proto] = f.proto;
    keys[k + DROP_FLOW_KEY.ipVersion] = f.ipVersion;
    values.writeBigUInt64LE(f.packets, i * DROP_VALUE.size + DROP_VALUE.packets);
    values.writeBigUInt64LE(f.bytes, i * DROP_VALUE.size + DROP_VALUE.bytes);
  });
  return new DropFlowView({ count: flows.length, keys, values, keySize: DROP_FLOW_KEY.size, valueStride: DROP_VALUE.size, cpus: 1 });
}

