/**
 * The `fovea observe` wire protocol: newline-delimited JSON over a stream socket (the agent's Unix
 * socket, or a TCP address when configured).
 *
 *   client → agent   one request line  {"v":1,"filter":{...},"last":20,"follow":false}
 *   agent → client   lines             {"type":"event","event":{...NetworkEvent}}
 *                                      {"type":"lost","count":N}   events this client missed (it read too slowly)
 *                                      {"type":"end"}              history done (only when not following); the agent closes
 *                                      {"type":"error","message":"..."}  then the agent closes
 *
 * `last`: at most this many matching events from the agent's history (absent: all it has that
 * match, within `filter.sinceMs`); `follow`: then stream new events until the client leaves. A
 * client that ends its side of the connection has left (a history-only request is still answered
 * to a client that half-closes after sending it, as `socat` does).
 * Requests are validated strictly: a bad one gets an error line and the connection is closed.
 * A change that an old peer would misread bumps PROTOCOL_VERSION.
 */
import { StringDecoder } from 'node:string_decoder';
import type { NetworkEvent } from '../events/types.js';
import {
  isInvalid, parseDnsSuffix, parseEventKind, parseRcode, parseIpPrefix, parseNamespace, parsePodSelector, parsePort, parseProtocol, parseReason, parseVerdict,
  type EventFilter, type Invalid, type IpPrefix, type PodSelector,
} from './filter.js';

export const PROTOCOL_VERSION = 1;
/** Where the agent listens unless configured otherwise, and where `fovea observe` connects. */
export const DEFAULT_OBSERVE_SOCKET = '/run/fovea/observe.sock';
/** Overrides the socket path `fovea observe` connects to. */
export const OBSERVE_SOCKET_ENV = 'FOVEA_OBSERVE_SOCKET';
/** A request longer than this is refused (a request is a few hundred bytes). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** A server line longer than this is a broken peer (an event is well under 2 KiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface ObserveRequest {
  readonly v: typeof PROTOCOL_VERSION;
  readonly filter: EventFilter;
  /** at most this many matching events from history; absent: every matching event it holds */
  readonly last?: number;
  readonly follow: boolean;
}

export type ServerMessage =
  | { readonly type: 'event'; readonly event: NetworkEvent }
  | { readonly type: 'lost'; readonly count: number }
  | { readonly type: 'end' }
  | { readonly type: 'error'; readonly message: string };

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const fail = <T>(message: string): Parsed<T> => ({ ok: false, message });

export function encodeRequest(req: ObserveRequest): string {
  return JSON.stringify(req) + '\n';
}

/** One event line. The event is serialised as is: `-o json` prints exactly this object. */
export function eventLine(event: NetworkEvent): string {
  return `{"type":"event","event":${JSON.stringify(event)}}\n`;
}

export function encodeMessage(msg: ServerMessage): string {
  return msg.type === 'event' ? eventLine(msg.event) : JSON.stringify(msg) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Request validation (agent side)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownKeys(o: Record<string, unknown>, known: readonly string[]): string[] {
  return Object.keys(o).filter((k) => !known.includes(k));
}

const FILTER_KEYS = ['events', 'dnsNames', 'rcodes', 'verdicts', 'reasons', 'pods', 'namespaces', 'ips', 'ports', 'protocols', 'sinceMs'] as const;

/** Each element through `check`; the first problem wins. A missing list is an empty one. */
function list<T>(o: Record<string, unknown>, key: string, check: (v: unknown) => T | Invalid): T[] | Invalid {
  const raw = o[key];
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return { error: `filter.${key} must be a list` };
  if (raw.length > 256) return { error: `filter.${key} has more than 256 values` };
  const out: T[] = [];
  for (const v of raw) {
    const r = check(v);
    if (isInvalid(r)) return { error: `filter.${key}: ${r.error}` };
    out.push(r);
  }
  return out;
}

const str = <T>(parse: (s: string) => T | Invalid) => (v: unknown): T | Invalid =>
  typeof v === 'string' ? parse(v) : { error: `expected a string, got ${JSON.stringify(v)}` };

function pod(v: unknown): PodSelector | Invalid {
  if (!isObject(v) || typeof v['name'] !== 'string' || typeof v['prefix'] !== 'boolean'
    || (v['namespace'] !== undefined && typeof v['namespace'] !== 'string')
    || unknownKeys(v, ['namespace', 'name', 'prefix']).length > 0) {
    return { error: `expected {namespace?, name, prefix}, got ${JSON.stringify(v)}` };
  }
  const ns = v['namespace'] as string | undefined;
  return parsePodSelector(`${ns === undefined ? '' : `${ns}/`}${v['name']}${v['prefix'] ? '*' : ''}`);
}

function ip(v: unknown): IpPrefix | Invalid {
  if (!isObject(v) || typeof v['address'] !== 'string' || typeof v['prefixLength'] !== 'number'
    || !Number.isInteger(v['prefixLength']) || unknownKeys(v, ['address', 'prefixLength']).length > 0) {
    return { error: `expected {address, prefixLength}, got ${JSON.stringify(v)}` };
  }
  return parseIpPrefix(`${v['address']}/${v['prefixLength']}`);
}

function port(v: unknown): number | Invalid {
  return typeof v === 'number' && Number.isInteger(v) ? parsePort(String(v)) : { error: `expected a port number, got ${JSON.stringify(v)}` };
}

export function validateFilter(raw: unknown): Parsed<EventFilter> {
  if (!isObject(raw)) return fail('filter must be an object');
  const extra = unknownKeys(raw, FILTER_KEYS);
  if (extra.length > 0) return fail(`unknown filter field(s): ${extra.join(', ')}`);
  const fields = {
    events: list(raw, 'events', str(parseEventKind)),
    dnsNames: list(raw, 'dnsNames', str(parseDnsSuffix)),
    rcodes: list(raw, 'rcodes', str(parseRcode)),
    verdicts: list(raw, 'verdicts', str(parseVerdict)),
    reasons: list(raw, 'reasons', str(parseReason)),
    pods: list(raw, 'pods', pod),
    namespaces: list(raw, 'namespaces', str(parseNamespace)),
    ips: list(raw, 'ips', ip),
    ports: list(raw, 'ports', port),
    protocols: list(raw, 'protocols', str(parseProtocol)),
  };
  for (const f of Object.values(fields)) if (isInvalid(f)) return fail(f.error);
  const since = raw['sinceMs'];
  if (since !== undefined && (typeof since !== 'number' || !Number.isFinite(since))) return fail('filter.sinceMs must be a number (Unix ms)');
  const events = fields.events as string[];
  const dnsNames = fields.dnsNames as string[];
  const rcodes = fields.rcodes as string[];
  const filter: EventFilter = {
    ...(events.length ? { events } : {}),
    ...(dnsNames.length ? { dnsNames } : {}),
    ...(rcodes.length ? { rcodes } : {}),
    verdicts: fields.verdicts as EventFilter['verdicts'],
    reasons: fields.reasons as string[],
    pods: fields.pods as PodSelector[],
    namespaces: fields.namespaces as string[],
    ips: fields.ips as IpPrefix[],
    ports: fields.ports as number[],
    protocols: fields.protocols as EventFilter['protocols'],
    ...(since !== undefined ? { sinceMs: since } : {}),
  };
  return { ok: true, value: filter };
}

/** One request line → a request, or why it is refused (sent back as the error line). */
export function parseRequest(line: string): Parsed<ObserveRequest> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return fail('request is not JSON');
  }
  if (!isObject(raw)) return fail('request must be a JSON object');
  if (raw['v'] !== PROTOCOL_VERSION) {
    return fail(`unsupported protocol version ${JSON.stringify(raw['v'])}: this agent speaks version ${PROTOCOL_VERSION} (is fovea observe from another release?)`);
  }
  const extra = unknownKeys(raw, ['v', 'filter', 'last', 'follow']);
  if (extra.length > 0) return fail(`unknown request field(s): ${extra.join(', ')}`);
  if (typeof raw['follow'] !== 'boolean') return fail('request.follow must be true or false');
  const last = raw['last'];
  if (last !== undefined && (typeof last !== 'number' || !Number.isSafeInteger(last) || last < 0)) {
    return fail('request.last must be a whole number ≥ 0');
  }
  const filter = validateFilter(raw['filter'] ?? {});
  if (!filter.ok) return filter;
  return { ok: true, value: { v: PROTOCOL_VERSION, filter: filter.value, follow: raw['follow'], ...(last !== undefined ? { last } : {}) } };
}

// ---------------------------------------------------------------------------------------------
// Server messages (client side)

function looksLikeEvent(v: unknown): v is NetworkEvent {
  return isObject(v) && typeof v['timeMs'] === 'number' && typeof v['name'] === 'string'
    && (typeof v['verdict'] === 'string' || isObject(v['tcp']) || isObject(v['dns']))
    && isObject(v['source']) && isObject(v['destination']) && typeof v['transport'] === 'string';
}

export function parseServerMessage(line: string): Parsed<ServerMessage> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return fail(`the agent sent a line that is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (!isObject(raw)) return fail('the agent sent a message that is not an object');
  switch (raw['type']) {
    case 'event':
      return looksLikeEvent(raw['event']) ? { ok: true, value: { type: 'event', event: raw['event'] } } : fail('the agent sent a malformed event');
    case 'lost':
      return typeof raw['count'] === 'number' ? { ok: true, value: { type: 'lost', count: raw['count'] } } : fail('the agent sent a malformed lost count');
    case 'end':
      return { ok: true, value: { type: 'end' } };
    case 'error':
      return { ok: true, value: { type: 'error', message: String(raw['message']) } };
    default:
      return fail(`the agent sent an unknown message type ${JSON.stringify(raw['type'])}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Chunks → complete lines (UTF-8 safe across chunk boundaries), refusing lines over a bound. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';

  constructor(private readonly maxLineBytes: number) {}

  /** The complete lines in this chunk, or undefined when a line exceeded the bound. */
  push(chunk: Buffer | string): string[] | undefined {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines: string[] = [];
    let start = 0;
    let i: number;
    while ((i = this.buf.indexOf('\n', start)) >= 0) {
      const line = this.buf.slice(start, i);
      if (line.length > this.maxLineBytes) return undefined;
      if (line.trim() !== '') lines.push(line);
      start = i + 1;
    }
    this.buf = start === 0 ? this.buf : this.buf.slice(start);
    if (this.buf.length > this.maxLineBytes) return undefined;
    return lines;
  }
}
