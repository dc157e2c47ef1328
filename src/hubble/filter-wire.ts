/**
 * Filter fields protobufjs would drop silently: a newer client's FlowFilter field that this server
 * does not know must be refused, not ignored (in a blacklist entry it would match everything).
 */
import protobuf from 'protobufjs';
import { FilterError } from './filter.js';
import { hubbleTypes } from './proto.js';

// ---------------------------------------------------------------------------------------------
// Fields protobufjs would drop silently

const WIRE_LENGTH_DELIMITED = 2;

/** Walks one message's fields up to `end`, noting the numbers `type` does not define. */
function walkMessage(r: protobuf.Reader, end: number, type: protobuf.Type, where: string, out: string[]): void {
  const counts = new Map<number, number>();
  while (r.pos < end) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    if (id === 0) throw new FilterError(`malformed GetFlowsRequest: field number 0 in ${where}`);
    const field = type.fieldsById[id];
    if (!field) {
      out.push(`${where}: unknown field ${id}`);
      r.skipType(wire);
      continue;
    }
    const nested = field.resolvedType;
    if (nested instanceof protobuf.Type && wire === WIRE_LENGTH_DELIMITED) {
      const index = counts.get(id) ?? 0;
      counts.set(id, index + 1);
      const length = r.uint32();
      const stop = r.pos + length;
      if (stop > end) throw new FilterError(`malformed GetFlowsRequest: ${where}.${field.name} runs past its message`);
      walkMessage(r, stop, nested, `${where}.${field.name}${field.repeated ? `[${index}]` : ''}`, out);
    } else {
      r.skipType(wire);
    }
  }
  if (r.pos !== end) throw new FilterError(`malformed GetFlowsRequest: ${where} runs past its message`);
}

/**
 * The field numbers in a GetFlowsRequest's filters (raw bytes) that Fovea's FlowFilter does not
 * define — sent by a newer client; protobufjs would drop them and the filter would match more
 * than asked (a blacklist entry: everything). Descriptions like `whitelist[0]: unknown field 41`
 * or `blacklist[1].experimental: unknown field 2`; empty when all are known. Throws FilterError
 * for malformed wire data.
 */
export function unknownFilterFields(requestBytes: Uint8Array): string[] {
  const filterType = hubbleTypes().FlowFilter;
  const out: string[] = [];
  const r = protobuf.Reader.create(requestBytes);
  let whitelist = 0;
  let blacklist = 0;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const id = tag >>> 3;
      const wire = tag & 7;
      if (id === 0) throw new FilterError('malformed GetFlowsRequest: field number 0');
      if ((id === 5 || id === 6) && wire === WIRE_LENGTH_DELIMITED) {
        const where = id === 6 ? `whitelist[${whitelist++}]` : `blacklist[${blacklist++}]`;
        const length = r.uint32();
        const end = r.pos + length;
        if (end > r.len) throw new FilterError(`malformed GetFlowsRequest: ${where} runs past the end`);
        walkMessage(r, end, filterType, where, out);
      } else {
        r.skipType(wire);
      }
    }
  } catch (err) {
    if (err instanceof FilterError) throw err;
    throw new FilterError(`malformed GetFlowsRequest: ${(err as Error).message}`);
  }
  return out;
}
