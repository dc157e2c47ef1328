/**
 * The proto3 JSON of a Hubble message, byte for byte as the real `hubble observe -o json` prints it
 * (without the trailing newline).
 *
 * Where the bytes come from: Hubble's generated Go types marshal themselves with
 * `protojson.MarshalOptions{UseProtoNames: true}`, and the CLI writes that through encoding/json's
 * Encoder, which compacts it (protojson inserts random spaces on purpose; compaction removes them) and,
 * with HTML escaping on by default, rewrites `<`, `>`, `&`, U+2028 and U+2029 as \u escapes. So:
 * - keys are the .proto field names, fields in declaration order (= protobufjs `fieldsArray` order);
 * - proto3 implicit-presence fields equal to their default are left out; message fields, oneof
 *   members and explicit-presence fields are written whenever set, even when empty or default;
 * - 64-bit integers are strings; enums are names (an unknown number stays a number); bytes are
 *   standard base64; doubles use the shortest form ("NaN", "Infinity", "-Infinity" as strings);
 * - google.protobuf well-known types have their own JSON (Timestamp, Duration, wrappers, Struct,
 *   Value, ListValue, FieldMask, Empty, Any); map keys are sorted.
 * Anything protojson refuses to marshal (an Any whose type is not known, a Timestamp out of range,
 * a string that is not valid UTF-16/UTF-8) throws, as the CLI fails on it.
 *
 * Works on plain objects and on protobufjs-decoded instances alike: a field counts as set only
 * when it is the object's own property and not null (what protobufjs's encoder checks), so the
 * defaults a decoded instance inherits from its prototype never show.
 */
import protobuf from 'protobufjs';

/** `message` as `hubble observe -o json` prints it, without the newline. Throws what protojson would refuse. */
export function toProtoJson(type: protobuf.Type, message: object): string {
  return writeMessage(type, message);
}

type Fields = Record<string, unknown>;
type Special = (type: protobuf.Type, message: Fields) => string;

const WKT = '.google.protobuf.';

// ---- messages ----------------------------------------------------------------------------------

function writeMessage(type: protobuf.Type, message: object): string {
  const fields = message as Fields;
  const special = SPECIAL[type.fullName];
  if (special) return special(type, fields);
  return `{${writeFields(type, fields)}}`;
}

/** The `"name":value` pairs of the set fields, comma-joined, in declaration order. */
function writeFields(type: protobuf.Type, message: Fields): string {
  const out: string[] = [];
  const chosen = new Map<protobuf.OneOf, protobuf.Field | undefined>();
  for (const field of type.fieldsArray) {
    const value = own(message, field.name);
    if (field.partOf) {
      // a oneof (or a proto3 `optional`): written when it is the member set, whatever its value
      if (!chosen.has(field.partOf)) chosen.set(field.partOf, oneofMember(field.partOf, message));
      if (chosen.get(field.partOf) !== field) continue;
    } else if (!isSet(field, value)) {
      continue;
    }
    out.push(`${quote(jsonName(type, field))}:${writeValue(field, value)}`);
  }
  return out.join(',');
}

function writeValue(field: protobuf.FieldBase, value: unknown): string {
  if (field.map) return writeMap(field as unknown as protobuf.MapField, value);
  if (field.repeated) return `[${(value as readonly unknown[]).map((v) => writeSingular(field, v)).join(',')}]`;
  return writeSingular(field, value);
}

function writeSingular(field: protobuf.FieldBase, value: unknown): string {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return writeMessage(resolved, value ?? {});
  if (resolved instanceof protobuf.Enum) return writeEnum(resolved, value);
  return writeScalar(field.type, value);
}

/** The member of a oneof that is set: the one a decoded instance names, else the last set (as a decoder would keep). */
function oneofMember(oneof: protobuf.OneOf, message: Fields): protobuf.Field | undefined {
  const named = message[oneof.name];
  let last: protobuf.Field | undefined;
  for (const member of oneof.fieldsArray) {
    if (own(message, member.name) === undefined) continue;
    if (member.name === named) return member;
    if (!last || member.id > last.id) last = member;
  }
  return last;
}

/** Whether a field outside any oneof is written: non-empty lists and maps, messages when set, scalars when not default. */
function isSet(field: protobuf.Field, value: unknown): boolean {
  if (value === undefined) return false;
  if (field.map) return Object.keys(value as object).length > 0;
  if (field.repeated) return (value as readonly unknown[]).length > 0;
  if (field.resolvedType instanceof protobuf.Type || field.hasPresence) return true;
  if (field.resolvedType instanceof protobuf.Enum) return enumNumber(field.resolvedType, value) !== 0;
  return !isDefaultScalar(field.type, value);
}

function isDefaultScalar(type: string, value: unknown): boolean {
  switch (type) {
    // judged on the value as the field holds it (a float32, 32 or 64 bits); Go writes -0, whose bits are not zero
    case 'double': return Object.is(Number(value), 0);
    case 'float': return Object.is(Math.fround(Number(value)), 0);
    case 'int64': case 'uint64': case 'sint64': case 'fixed64': case 'sfixed64': return BigInt.asUintN(64, toBigInt(value)) === 0n;
    case 'int32': case 'sint32': case 'sfixed32': case 'uint32': case 'fixed32': return (Number(value) | 0) === 0;
    case 'bool': return !value;
    case 'string': return value === '';
    case 'bytes': return toBytes(value).length === 0;
    default: throw new Error(`unknown scalar type ${type}`);
  }
}

/**
 * The key protojson writes with UseProtoNames: the .proto name. Hubble's files are loaded with keepCase,
 * so that is `field.name`; protobufjs's built-in google.protobuf definitions are camelCase (Any's
 * `type_url` aside), so names there are turned back into snake_case.
 */
function jsonName(type: protobuf.Type, field: protobuf.Field): string {
  if (!type.fullName.startsWith(WKT)) return field.name;
  return field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// ---- maps ----------------------------------------------------------------------------------------

function writeMap(field: protobuf.MapField, value: unknown): string {
  const entries = Object.entries(value as Record<string, unknown>).map(([key, v]) => [mapKey(field.keyType, key), v] as const);
  entries.sort(([a], [b]) => compareKeys(a, b));
  const pairs = entries.map(([key, v]) => `${quote(String(key))}:${writeSingular(field, v)}`);
  return `{${pairs.join(',')}}`;
}

/** A map key as protojson sees it: a string, a boolean or an integer (protobufjs keys 64-bit maps by an 8-char hash). */
function mapKey(keyType: string, key: string): string | boolean | bigint {
  switch (keyType) {
    case 'string': return key;
    case 'bool': return key === 'true';
    case 'int64': case 'sint64': case 'sfixed64': return BigInt.asIntN(64, toBigInt(longKey(key)));
    case 'uint64': case 'fixed64': return BigInt.asUintN(64, toBigInt(longKey(key)));
    case 'uint32': case 'fixed32': return BigInt(Number(key) >>> 0);
    default: return BigInt(Number(key) | 0);
  }
}

function longKey(key: string): unknown {
  return /^-?\d+$/.test(key) ? key : protobuf.util.LongBits.fromHash(key).toLong();
}

/** false before true, integers ascending, strings by code point (= Go's byte order of UTF-8). */
function compareKeys(a: string | boolean | bigint, b: string | boolean | bigint): number {
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (typeof a === 'boolean') return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < x.length && i < y.length; i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

// ---- scalars and enums ---------------------------------------------------------------------------

function writeScalar(type: string, value: unknown): string {
  switch (type) {
    case 'double': return writeDouble(Number(value ?? 0));
    case 'float': return writeFloat(Number(value ?? 0));
    case 'int32': case 'sint32': case 'sfixed32': return String(Number(value ?? 0) | 0);
    case 'uint32': case 'fixed32': return String(Number(value ?? 0) >>> 0);
    case 'int64': case 'sint64': case 'sfixed64': return `"${BigInt.asIntN(64, toBigInt(value ?? 0))}"`;
    case 'uint64': case 'fixed64': return `"${BigInt.asUintN(64, toBigInt(value ?? 0))}"`;
    case 'bool': return value ? 'true' : 'false';
    case 'string': return quote(String(value ?? ''));
    case 'bytes': return `"${Buffer.from(toBytes(value)).toString('base64')}"`;
    default: throw new Error(`unknown scalar type ${type}`);
  }
}

/** Go's strconv shortest form; JS switches to exponents at the same bounds (1e-6, 1e21) and writes them as Go does after protojson trims "e-07" to "e-7". */
function writeDouble(n: number): string {
  if (Number.isNaN(n)) return '"NaN"';
  if (n === Infinity) return '"Infinity"';
  if (n === -Infinity) return '"-Infinity"';
  return Object.is(n, -0) ? '-0' : String(n);
}

/** The shortest decimal that reads back as the same float32. */
function writeFloat(n: number): string {
  const f = Math.fround(n);
  if (!Number.isFinite(f) || f === 0) return writeDouble(f);
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return writeDouble(candidate);
  }
  return writeDouble(Number(f.toPrecision(9)));
}

function enumNumber(type: protobuf.Enum, value: unknown): number {
  if (typeof value === 'string' && type.values[value] !== undefined) return type.values[value];
  return Number(value ?? 0) | 0;
}

/** The value's name (Go picks the first of aliased names, protobufjs's valuesById the last: the Hubble enums have no aliases). */
function writeEnum(type: protobuf.Enum, value: unknown): string {
  if (type.fullName === `${WKT}NullValue`) return 'null';
  const n = enumNumber(type, value);
  const name = type.valuesById[n];
  return name === undefined ? String(n) : quote(name);
}

/** A 64-bit integer as protobufjs may hold it: number, decimal string, bigint or Long. */
function toBigInt(value: unknown): bigint {
  switch (typeof value) {
    case 'bigint': return value;
    case 'number': return BigInt(Math.trunc(value));
    case 'string':
      if (/^\s*-?\d+\s*$/.test(value)) return BigInt(value.trim());
      break;
    case 'object':
      if (value !== null && 'low' in value && 'high' in value) {
        const { low, high } = value as { low: number; high: number };
        return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
      }
      break;
  }
  throw new Error(`not a 64-bit integer: ${String(value)}`);
}

function toBytes(value: unknown): Uint8Array {
  if (value === undefined || value === null) return new Uint8Array(0);
  if (typeof value === 'string') return Buffer.from(value, 'base64'); // protobufjs accepts base64 for bytes
  if (value instanceof Uint8Array) return value;
  throw new Error('bytes field is not a Uint8Array');
}

/**
 * A JSON string as the CLI prints it: protojson escapes `"`, `\` and controls (\b \f \n \r \t, else
 * \u00xx in lower-case hex) and fails on invalid UTF-8 (here: a lone surrogate); the Encoder's
 * compaction then escapes `<`, `>`, `&`, U+2028 and U+2029. Everything else is written as is.
 */
function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) out += s[i]! + s[++i]!;
    else if (c >= 0xd800 && c <= 0xdfff) throw new Error('string contains invalid UTF-8 (a lone surrogate)');
    else out += s[i];
  }
  return `${out}"`;
}

const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;
const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };
const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** A field's value when the message itself holds it (not its prototype) and it is not null. */
function own(message: Fields, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(message, name) && message[name] != null ? message[name] : undefined;
}

function fieldOf(type: protobuf.Type, name: string): protobuf.Field {
  const field = type.fields[name];
  if (!field) throw new Error(`${type.fullName} has no field ${name}`);
  return field;
}

// ---- well-known types ----------------------------------------------------------------------------

const MIN_TIMESTAMP_SECONDS = -62_135_596_800n; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z
const MAX_DURATION_SECONDS = 315_576_000_000n; // 10,000 years
const NANOS_PER_SECOND = 1_000_000_000;

/** ".123000000" → ".123", ".123456000" → ".123456", ".000000000" → "": as few groups of three digits as needed. */
function trimFraction(fraction: string): string {
  let x = fraction;
  if (x.endsWith('000')) x = x.slice(0, -3);
  if (x.endsWith('000')) x = x.slice(0, -3);
  return x === '.000' ? '' : x;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

const writeTimestamp: Special = (type, m) => {
  const seconds = BigInt.asIntN(64, toBigInt(own(m, 'seconds') ?? 0));
  const nanos = Number(own(m, 'nanos') ?? 0) | 0;
  if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) throw new Error(`${type.fullName}: seconds out of range ${seconds}`);
  if (nanos < 0 || nanos > NANOS_PER_SECOND) throw new Error(`${type.fullName}: nanos out of range ${nanos}`);
  const d = new Date((Number(seconds) + Math.floor(nanos / NANOS_PER_SECOND)) * 1000);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
  const time = `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  return `"${date}T${time}${trimFraction(`.${pad(nanos % NANOS_PER_SECOND, 9)}`)}Z"`;
};

const writeDuration: Special = (type, m) => {
  let seconds = BigInt.asIntN(64, toBigInt(own(m, 'seconds') ?? 0));
  let nanos = Number(own(m, 'nanos') ?? 0) | 0;
  if (seconds < -MAX_DURATION_SECONDS || seconds > MAX_DURATION_SECONDS) throw new Error(`${type.fullName}: seconds out of range ${seconds}`);
  if (nanos < -NANOS_PER_SECOND || nanos > NANOS_PER_SECOND) throw new Error(`${type.fullName}: nanos out of range ${nanos}`);
  if ((seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) throw new Error(`${type.fullName}: signs of seconds and nanos do not match`);
  let sign = '';
  if (seconds < 0n || nanos < 0) [sign, seconds, nanos] = ['-', -seconds, -nanos];
  return `"${sign}${seconds}${trimFraction(`.${pad(nanos, 9)}`)}s"`;
};

/** BoolValue, Int64Value, StringValue, ...: the bare value, written even when it is the default. */
const writeWrapper: Special = (type, m) => writeSingular(fieldOf(type, 'value'), own(m, 'value'));

const writeStruct: Special = (type, m) => writeMap(fieldOf(type, 'fields') as unknown as protobuf.MapField, own(m, 'fields') ?? {});

const writeListValue: Special = (type, m) => writeValue(fieldOf(type, 'values'), own(m, 'values') ?? []);

const writeKnownValue: Special = (type, m) => {
  const kind = type.oneofs?.['kind'];
  const member = kind && oneofMember(kind, m);
  if (!member) throw new Error(`${type.fullName}: none of the oneof fields is set`);
  const value = own(m, member.name);
  if (member.type === 'double' && !Number.isFinite(Number(value))) throw new Error(`${type.fullName}: invalid number_value ${String(value)}`);
  return writeSingular(member, value);
};

/** Paths in lowerCamelCase, comma-joined; a path that would not turn back into the same snake_case is refused. */
const writeFieldMask: Special = (type, m) => {
  const paths = (own(m, 'paths') ?? []) as readonly string[];
  const camel = paths.map((path) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path)) throw new Error(`${type.fullName} contains invalid path: ${JSON.stringify(path)}`);
    const cc = path.replace(/_([a-z])?/g, (_, c: string | undefined) => (c ?? '').toUpperCase());
    if (cc.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) !== path) throw new Error(`${type.fullName} contains irreversible value ${JSON.stringify(path)}`);
    return cc;
  });
  return quote(camel.join(','));
};

const writeEmpty: Special = () => '{}';

/**
 * {"@type": url, ...the fields of the message inside}, or {"@type": url, "value": <its JSON>} when that
 * message is itself a well-known type. The type must be known to the root, as it must be known to
 * the CLI's registry: a Fovea-only message here would make the real `hubble observe` fail.
 */
const writeAny: Special = (type, m) => {
  const url = String(own(m, 'type_url') ?? '');
  const bytes = toBytes(own(m, 'value'));
  if (url === '') {
    if (bytes.length === 0) return '{}';
    throw new Error(`${type.fullName}: type_url is not set`);
  }
  const name = url.slice(url.lastIndexOf('/') + 1);
  const inner = name === '' ? null : type.root.lookup(`.${name}`);
  if (!(inner instanceof protobuf.Type)) throw new Error(`${type.fullName}: unable to resolve ${JSON.stringify(url)}: not found`);
  let decoded: object;
  try {
    decoded = inner.decode(bytes);
  } catch (err) {
    throw new Error(`${type.fullName}: unable to unmarshal ${JSON.stringify(url)}: ${(err as Error).message}`);
  }
  if (SPECIAL[inner.fullName]) return `{"@type":${quote(url)},"value":${writeMessage(inner, decoded)}}`;
  const fields = writeFields(inner, decoded as Fields);
  return `{"@type":${quote(url)}${fields === '' ? '' : `,${fields}`}}`;
};

const SPECIAL: Readonly<Record<string, Special>> = {
  [`${WKT}Any`]: writeAny,
  [`${WKT}Timestamp`]: writeTimestamp,
  [`${WKT}Duration`]: writeDuration,
  [`${WKT}BoolValue`]: writeWrapper,
  [`${WKT}Int32Value`]: writeWrapper,
  [`${WKT}Int64Value`]: writeWrapper,
  [`${WKT}UInt32Value`]: writeWrapper,
  [`${WKT}UInt64Value`]: writeWrapper,
  [`${WKT}FloatValue`]: writeWrapper,
  [`${WKT}DoubleValue`]: writeWrapper,
  [`${WKT}StringValue`]: writeWrapper,
  [`${WKT}BytesValue`]: writeWrapper,
  [`${WKT}Struct`]: writeStruct,
  [`${WKT}ListValue`]: writeListValue,
  [`${WKT}Value`]: writeKnownValue,
  [`${WKT}FieldMask`]: writeFieldMask,
  [`${WKT}Empty`]: writeEmpty,
};
