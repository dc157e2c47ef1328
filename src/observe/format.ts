/**
 * `fovea observe` output, as pure functions of events → text:
 * - a table (TIME SOURCE DESTINATION PROTO VERDICT SUMMARY) whose column widths are computed over
 *   the rows printed (formatTable), or, when following, grow from fixed minimums (FollowTable);
 * - JSON lines: each event exactly as the agent sent it.
 */
import type { EventEndpoint, NetworkEvent } from '../events/types.js';
import { fmtBytes } from '../demo/view.js';
import { VERDICT } from '../names.js';
import { dnsDetail, tcpDetail, tcpHeadline } from '../export/log-records.js';

export const COLUMNS = ['TIME', 'SOURCE', 'DESTINATION', 'PROTO', 'VERDICT', 'SUMMARY'] as const;
/** Follow mode: widths that fit most rows from the first one on (a row wider than this widens the column). */
export const FOLLOW_MIN_WIDTHS: readonly number[] = [12, 32, 32, 10, 9];
const GAP = '  ';

const ESC = '\x1b[';
const GREEN = `${ESC}32m`;
const RED = `${ESC}31m`;
const RESET = `${ESC}0m`;

export interface FormatOptions {
  /** ANSI colours (only on a terminal, never with NO_COLOR or --no-color: the caller decides) */
  readonly color: boolean;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Local time of day, HH:MM:SS.mmm. */
export function formatTime(timeMs: number): string {
  const d = new Date(Math.floor(timeMs));
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** namespace/pod when the end is a known pod, else the IP; with :port when there is one. */
export function formatEndpoint(ep: EventEndpoint): string {
  const port = ep.port === undefined ? '' : `:${ep.port}`;
  if (ep.pod !== undefined && ep.pod !== '') return `${ep.namespace ? `${ep.namespace}/` : ''}${ep.pod}${port}`;
  if (ep.ip === '') return '-';
  return ep.ip.includes(':') && port !== '' ? `[${ep.ip}]${port}` : `${ep.ip}${port}`;
}

export function formatProto(ev: NetworkEvent): string {
  switch (ev.transport) {
    case 'tcp': return ev.tcpFlags ? `TCP ${ev.tcpFlags}` : 'TCP';
    case 'udp': return 'UDP';
    case 'icmp': return ev.ipVersion === 6 ? 'ICMPv6' : 'ICMP';
    case 'other': return `proto ${ev.protocol}`;
    case 'unknown': return ev.ipVersion === 0 ? 'non-IP' : `proto ${ev.protocol}`;
  }
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** Drops: reason, interface, suppressed count. Flows: state, packets and bytes of this record. */
export function formatSummary(ev: NetworkEvent): string {
  if (ev.verdict === VERDICT.dropped) {
    let s = ev.reason ?? (ev.reasonCode !== undefined ? `UNKNOWN_${ev.reasonCode}` : 'UNKNOWN');
    if (ev.interface) s += ` on ${ev.interface}`;
    if (ev.suppressed !== undefined && ev.suppressed > 0) s += ` (+${ev.suppressed} suppressed)`;
    return s;
  }
  if (ev.dns) {
    const s = dnsDetail(ev.dns);
    return ev.suppressed !== undefined && ev.suppressed > 0 ? `${s} (+${ev.suppressed} suppressed)` : s;
  }
  if (ev.tcp) {
    const s = tcpDetail(ev.tcp);
    return ev.suppressed !== undefined && ev.suppressed > 0 ? `${s} (+${ev.suppressed} suppressed)` : s;
  }
  const f = ev.flow;
  if (f === undefined) return ev.interface ? `on ${ev.interface}` : '-';
  return `${f.state}, ${plural(f.packets, 'packet', 'packets')}, ${fmtBytes(f.bytes)}`;
}

/** The plain-text cells of one row, in COLUMNS order. */
export function eventCells(ev: NetworkEvent): string[] {
  return [formatTime(ev.timeMs), formatEndpoint(ev.source), formatEndpoint(ev.destination), formatProto(ev), ev.verdict ?? tcpHeadline(ev), formatSummary(ev)];
}

function colorVerdict(text: string, verdict: string, opts: FormatOptions): string {
  if (!opts.color) return text;
  if (verdict === VERDICT.forwarded) return `${GREEN}${text}${RESET}`;
  if (verdict === VERDICT.dropped || verdict === 'RESET' || verdict === 'CONNECT_FAILED' || verdict === 'DNS_TIMEOUT') return `${RED}${text}${RESET}`;
  return text;
}

/** One line: every column but the last padded to its width (padding computed on the plain text). */
function line(cells: readonly string[], widths: readonly number[], verdict: string | undefined, opts: FormatOptions): string {
  const out = cells.map((c, i) => {
    const padded = i < cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c;
    return i === 4 && verdict !== undefined ? colorVerdict(padded, verdict, opts) : padded;
  });
  return out.join(GAP).trimEnd() + '\n';
}

/** Header and rows, columns as wide as their widest cell. '' for no events. */
export function formatTable(events: readonly NetworkEvent[], opts: FormatOptions): string {
  if (events.length === 0) return '';
  const rows = events.map((ev) => ({ cells: eventCells(ev), verdict: ev.verdict ?? tcpHeadline(ev) }));
  const widths = COLUMNS.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  return line(COLUMNS, widths, undefined, opts) + rows.map((r) => line(r.cells, widths, r.verdict, opts)).join('');
}

/**
 * Follow mode: rows printed one at a time. Columns start at FOLLOW_MIN_WIDTHS and only grow, so
 * rows line up unless a value is wider than anything before it.
 */
export class FollowTable {
  private readonly widths: number[];

  constructor(private readonly opts: FormatOptions, minWidths: readonly number[] = FOLLOW_MIN_WIDTHS) {
    this.widths = COLUMNS.slice(0, -1).map((h, i) => Math.max(h.length, minWidths[i] ?? 0));
  }

  header(): string {
    return line(COLUMNS, this.widths, undefined, this.opts);
  }

  row(ev: NetworkEvent): string {
    const cells = eventCells(ev);
    for (let i = 0; i < this.widths.length; i++) this.widths[i] = Math.max(this.widths[i]!, cells[i]!.length);
    return line(cells, this.widths, ev.verdict ?? tcpHeadline(ev), this.opts);
  }
}

/** `-o json`: the event as the agent sent it, one per line. */
export function formatJsonLine(ev: NetworkEvent): string {
  return JSON.stringify(ev) + '\n';
}

/** The notice for events the agent dropped for this client (written to stderr). */
export function formatLost(count: number): string {
  return `fovea observe: ${plural(count, 'event', 'events')} lost: this client read too slowly (the agent drops events for slow readers rather than buffer them)\n`;
}
