/**
 * GetFlowsRequest.field_mask: which parts of each Flow the client wants. The real `hubble observe`
 * sends one by default for its non-JSON outputs, so the server must honour it the way Cilium's Hubble
 * server does (pkg/hubble/parser/fieldmask):
 * - every path must name fields, each step but the last a singular message field; anything else
 *   (an unknown name, a step into a scalar, a list or a map) rejects the whole mask, and the server
 *   answers INVALID_ARGUMENT;
 * - paths are normalized: sorted, duplicates and paths under another path dropped;
 * - a path naming a field copies it whole (a message with everything in it); a nested path copies
 *   only the named sub-fields, and the message holding them is present even when the flow has none
 *   (upstream allocates it: `source.identity` on a flow without a source gives `source: {}`, and
 *   `l4.TCP.flags` on a UDP flow gives `l4: {TCP: {}}`);
 * - where paths reach several members of one oneof, upstream's result depends on Go's map order;
 *   here it is the masked member the flow has, else the first member a nested path reaches.
 * An empty mask means the whole flow.
 */
import protobuf from 'protobufjs';

export class FieldMaskError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`invalid field mask path ${JSON.stringify(path)}: ${reason}`);
    this.name = 'FieldMaskError';
  }
}

export interface FieldMask {
  /** The normalized paths, comma-joined: equal for equal masks (to cache encodings per mask). */
  readonly key: string;
  /** A new plain object with only the masked fields of `flow` (which is left untouched; unchanged sub-objects are shared). */
  apply(flow: object): object;
  /** Whether the mask keeps any part of this top-level field. */
  keeps(field: string): boolean;
}

/** A step of the mask: a field, and the sub-fields to keep when not the whole of it. */
interface Node {
  readonly field: protobuf.Field;
  readonly children: readonly Node[] | undefined;
}

/** The mask for `paths` on `flowType`, or undefined when there are none (the whole flow). Throws FieldMaskError on a bad path. */
export function compileFieldMask(flowType: protobuf.Type, paths: readonly string[]): FieldMask | undefined {
  if (paths.length === 0) return undefined;
  for (const path of paths) validate(flowType, path);
  const normalized = normalize(paths);
  const nodes = build(flowType, normalized.map((p) => p.split('.')));
  return {
    key: normalized.join(','),
    apply: (flow) => copy(nodes, flow as Record<string, unknown>),
    keeps: (field) => nodes.some((n) => n.field.name === field),
  };
}

function validate(root: protobuf.Type, path: string): void {
  let type: protobuf.Type | undefined = root;
  let where = root.fullName.replace(/^\./, '');
  for (const name of path.split('.')) {
    if (!type) throw new FieldMaskError(path, `${where} is not a message, it has no field ${JSON.stringify(name)}`);
    const field: protobuf.Field | undefined = Object.prototype.hasOwnProperty.call(type.fields, name) ? type.fields[name] : undefined;
    if (!field) throw new FieldMaskError(path, `${type.fullName.replace(/^\./, '')} has no field ${JSON.stringify(name)}`);
    where = `${where}.${name}`;
    // only a singular message field can be stepped into
    type = field.resolvedType instanceof protobuf.Type && !field.repeated && !field.map ? field.resolvedType : undefined;
  }
}

/** Sorted (a "." before any other character, as protobuf's Go FieldMask.Normalize does), without duplicates or covered paths. */
function normalize(paths: readonly string[]): string[] {
  const sorted = [...paths].sort(comparePaths);
  const out: string[] = [];
  for (const path of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && (path === last || path.startsWith(`${last}.`))) continue;
    out.push(path);
  }
  return out;
}

function comparePaths(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const d = rank(a.charCodeAt(i)) - rank(b.charCodeAt(i));
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const rank = (c: number): number => (c === 0x2e ? -1 : c);

/** The tree of the (normalized) paths under `type`, in field declaration order. */
function build(type: protobuf.Type, paths: readonly (readonly string[])[]): Node[] {
  const byField = new Map<protobuf.Field, (readonly string[])[]>();
  for (const [head, ...rest] of paths) {
    const field = type.fields[head!]!;
    const subs = byField.get(field) ?? [];
    if (rest.length > 0) subs.push(rest);
    byField.set(field, subs);
  }
  return type.fieldsArray.filter((f) => byField.has(f)).map((field) => {
    const subs = byField.get(field)!;
    return { field, children: subs.length === 0 ? undefined : build(field.resolvedType as protobuf.Type, subs) };
  });
}

function copy(nodes: readonly Node[], src: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oneofsDone = new Set<protobuf.OneOf>();
  for (const node of nodes) {
    let { field, children } = node;
    if (field.partOf) {
      // one member at most: the masked one the flow has, else the first one a nested path reaches
      if (oneofsDone.has(field.partOf)) continue;
      oneofsDone.add(field.partOf);
      const members = nodes.filter((n) => n.field.partOf === field.partOf);
      const pick = members.find((n) => own(src, n.field.name) !== undefined) ?? members.find((n) => n.children);
      if (!pick) continue;
      ({ field, children } = pick);
    }
    const value = own(src, field.name);
    if (children) out[field.name] = value !== undefined && value !== null && typeof value === 'object' ? copyOnce(children, value) : copy(children, {});
    else if (value !== undefined) out[field.name] = value;
  }
  return out;
}

/**
 * The masked copy of a sub-message, made once per (mask node, object): flows share their endpoint
 * objects, so the masked endpoints are shared too and their encodings are cached (flow-encoder.ts).
 * Flows are never modified after they are built, so a copy stays right.
 */
const copies = new WeakMap<readonly Node[], WeakMap<object, Record<string, unknown>>>();

function copyOnce(nodes: readonly Node[], src: object): Record<string, unknown> {
  let byObject = copies.get(nodes);
  if (!byObject) copies.set(nodes, byObject = new WeakMap());
  let out = byObject.get(src);
  if (!out) byObject.set(src, out = copy(nodes, src as Record<string, unknown>));
  return out;
}

/** A field's value when the object itself holds it and it is not null (what protobufjs encodes; never a decoded instance's prototype default). */
function own(message: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(message, name) ? message[name] ?? undefined : undefined;
}
