/**
 * The demo's terminal output, as pure functions of the model → string:
 * - renderView: the full live screen (ANSI colours optional; the caller adds cursor control)
 * - renderSnapshot: a compact plain-text block for a non-TTY stdout, printed every few seconds
 * - renderSummary: the final summary
 */
import { DEFAULT_OBSERVE_SOCKET } from '../observe/protocol.js';
import type { DemoModel, DemoSummary, DropCount, FlowDropRow, FlowRow, ObserveStatus, PodDropRow, TruthSample, TruthVerdict } from './model.js';
import type { DropEventRow } from './received-events.js';

/** Rows of each table in the live view (the view stays within ~40 lines, even with 16 pods). */
export const TOP_DROPS = 5;
export const TOP_INTERFACES = 4;
export const TOP_FLOWS = 4;
export const TOP_POD_DROPS = 4;
export const TOP_FLOW_DROPS = 3;
/** Rows of the summary's workload tables. */
export const SUMMARY_TOP_FLOWS = 8;
export const SUMMARY_TOP_FLOW_DROPS = 10;

export interface RenderOptions {
  /** ANSI colours. */
  readonly color: boolean;
}

type Paint = (s: string) => string;
interface Palette { bold: Paint; dim: Paint; red: Paint; green: Paint; yellow: Paint; cyan: Paint }

function palette(color: boolean): Palette {
  const sgr = (code: string): Paint => (color ? (s) => `\x1b[${code}m${s}\x1b[0m` : (s) => s);
  return { bold: sgr('1'), dim: sgr('2'), red: sgr('31'), green: sgr('32'), yellow: sgr('33'), cyan: sgr('36') };
}

// ---- formatting helpers (exported for tests) ----

/** 1234567 → "1,234,567" (no locale dependency). */
export function fmtInt(n: number): string {
  const s = Math.round(n).toString();
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Bytes in binary units: "512 B", "1.5 KiB", "12.3 MiB". */
export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** A per-second rate: "0", "3.5", "1,234". */
export function fmtRate(n: number): string {
  if (n === 0) return '0';
  return n < 10 ? n.toFixed(1) : fmtInt(n);
}

/** Unix ms → local wall-clock time with milliseconds: "12:00:01.234". */
export function fmtTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** 65_000 ms → "01:05"; hours when needed. */
export function fmtClock(ms: number): string {
  const t = Math.floor(ms / 1000);
  const h = Math.floor(t / 3600);
  const mm = String(Math.floor((t % 3600) / 60)).padStart(2, '0');
  const ss = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Visible width: ANSI sequences do not count. */
export function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

const padL = (s: string, w: number): string => ' '.repeat(Math.max(0, w - visibleLength(s))) + s;
const padR = (s: string, w: number): string => s + ' '.repeat(Math.max(0, w - visibleLength(s)));

/** Columns: [text, width, 'l' | 'r'] joined by two spaces. */
function row(cols: ReadonlyArray<readonly [string, number, 'l' | 'r']>): string {
  return cols.map(([t, w, a]) => (a === 'l' ? padR(t, w) : padL(t, w))).join('  ').trimEnd();
}

/** Cuts a plain label to `w` characters with an ellipsis. */
function fit(s: string, w: number): string {
  return s.length <= w ? s : `${s.slice(0, Math.max(0, w - 1))}…`;
}

const pair = (r: { source: string; destination: string }): string => `${r.source} → ${r.destination}`;
const portText = (r: { transport: string; port: number }): string => (r.port > 0 ? String(r.port) : '-');

function reasonText(reason: string, p: Palette): string {
  return reason === 'NETFILTER_DROP' || reason === 'NO_SOCKET' ? p.red(reason) : p.yellow(reason);
}

/** A table header's trailing note: "top 4 of 9" when trimmed, nothing otherwise. */
function topNote(shown: number, total: number, p: Palette): string {
  return total > shown ? p.dim(`top ${shown} of ${fmtInt(total)}`) : '';
}

/** "(top 4 of 9)" when trimmed, "" otherwise. */
function topOf(shown: number, total: number): string {
  return total > shown ? ` (top ${shown} of ${fmtInt(total)})` : '';
}

// Column widths of the WORKLOADS tables: a shared first column (pod, or source → destination).
const W0 = 32;
const fw = [W0, 5, 5, 10, 10, 12, 8] as const;
const pw = [W0, 16, 10, 7, 10, 7] as const;
const xw = [W0, 16, 5, 5, 10, 8] as const;

function workloadLines(m: DemoModel, p: Palette): string[] {
  const w = m.workloads;
  const out: string[] = [];
  const flowCount = w.flows.length === 1 ? '1 flow' : `${fmtInt(w.flows.length)} flows`;
  out.push(`${p.bold('WORKLOADS')} ${p.dim(`pod level: each ${m.lab.netnsPrefix}* netns is a workload (kind NetworkNamespace) · ` +
    `${fmtInt(w.pods)} of ${fmtInt(m.lab.pods)} pods seen · ${flowCount}`)}`);

  const flows = w.flows.slice(0, TOP_FLOWS);
  out.push(row([['  flows', fw[0], 'l'], [p.dim('proto'), fw[1], 'l'], [p.dim('port'), fw[2], 'r'],
    [p.dim('packets'), fw[3], 'r'], [p.dim('bytes'), fw[4], 'r'], [p.dim('rate'), fw[5], 'r'], [p.dim('pkt/s'), fw[6], 'r'],
    [topNote(flows.length, w.flows.length, p), 0, 'l']]));
  if (flows.length === 0) out.push(p.dim('  none received yet'));
  for (const f of flows) out.push(flowLine(f));

  const pd = w.podDrops.slice(0, TOP_POD_DROPS);
  out.push(row([['  drops by pod', pw[0], 'l'], [p.dim('reason'), pw[1], 'l'],
    [p.dim('from pod'), pw[2], 'r'], [p.dim('pkt/s'), pw[3], 'r'], [p.dim('to pod'), pw[4], 'r'], [p.dim('pkt/s'), pw[5], 'r'],
    [topNote(pd.length, w.podDrops.length, p), 0, 'l']]));
  if (pd.length === 0) out.push(p.dim('  none received yet'));
  for (const d of pd) out.push(podDropLine(d, p));

  const xd = w.flowDrops.slice(0, TOP_FLOW_DROPS);
  out.push(row([['  drops between workloads', xw[0], 'l'], [p.dim('reason'), xw[1], 'l'],
    [p.dim('proto'), xw[2], 'l'], [p.dim('port'), xw[3], 'r'], [p.dim('packets'), xw[4], 'r'], [p.dim('pkt/s'), xw[5], 'r'],
    [topNote(xd.length, w.flowDrops.length, p), 0, 'l']]));
  if (xd.length === 0) out.push(p.dim('  none received yet'));
  for (const d of xd) out.push(flowDropLine(d, p));
  return out;
}

function flowLine(f: FlowRow): string {
  return row([[`  ${fit(pair(f), W0 - 2)}`, fw[0], 'l'], [f.transport || '-', fw[1], 'l'], [portText(f), fw[2], 'r'],
    [fmtInt(f.packets), fw[3], 'r'], [fmtBytes(f.bytes), fw[4], 'r'], [`${fmtBytes(f.bps)}/s`, fw[5], 'r'], [fmtRate(f.pps), fw[6], 'r']]);
}

function podDropLine(d: PodDropRow, p: Palette): string {
  const n = (c: DropCount): string => (c.packets === 0 ? p.dim('0') : fmtInt(c.packets));
  return row([[`  ${fit(d.pod, W0 - 2)}`, pw[0], 'l'], [reasonText(d.reason, p), pw[1], 'l'],
    [n(d.from), pw[2], 'r'], [fmtRate(d.from.pps), pw[3], 'r'], [n(d.to), pw[4], 'r'], [fmtRate(d.to.pps), pw[5], 'r']]);
}

function flowDropLine(d: FlowDropRow, p: Palette): string {
  return row([[`  ${fit(pair(d), W0 - 2)}`, xw[0], 'l'], [reasonText(d.reason, p), xw[1], 'l'], [d.transport || '-', xw[2], 'l'],
    [portText(d), xw[3], 'r'], [fmtInt(d.packets), xw[4], 'r'], [fmtRate(d.pps), xw[5], 'r']]);
}

// Columns of the recent drop events: time, source → destination, proto, reason, then "+N suppressed".
const ew = [14, 46, 5, 16] as const;

/** The command that streams the demo agent's events, or why there is none. */
export function observeText(o: ObserveStatus | undefined): string {
  if (!o) return 'off';
  if ('off' in o) return `off (${o.off})`;
  return o.isDefault || o.socket === DEFAULT_OBSERVE_SOCKET
    ? 'npx fovea observe --follow'
    : `npx fovea observe --follow --socket ${o.socket}`;
}

function suppressedText(n: number, p: Palette): string {
  return n > 0 ? p.yellow(`+${fmtInt(n)} suppressed`) : '';
}

function eventLine(e: DropEventRow, p: Palette): string {
  return row([[`  ${fmtTime(e.timeMs)}`, ew[0], 'l'], [fit(pair(e), ew[1]), ew[1], 'l'], [e.transport || '-', ew[2], 'l'],
    [reasonText(e.reason, p), ew[3], 'l'], [suppressedText(e.suppressed, p), 0, 'l']]);
}

/** The DROP EVENTS panel: counts, the newest events as received, and how to stream them live. */
function eventLines(m: DemoModel, p: Palette): string[] {
  const e = m.events;
  const out: string[] = [];
  if (e.enabled === false) {
    out.push(`${p.bold('DROP EVENTS')} ${p.yellow('off')} ${p.dim("(the agent reports no drop-event stage; see the agent's log)")}`);
    return out;
  }
  const carried = e.received + e.suppressed;
  out.push(`${p.bold('DROP EVENTS')} ${p.dim('as received (OTLP logs):')} ${p.bold(fmtInt(e.received))} events` +
    ` + ${fmtInt(e.suppressed)} suppressed = ${fmtInt(carried)} of ${fmtInt(e.dropsCounted)} drops counted`);
  if (e.recent.length === 0) out.push(p.dim('  none received yet'));
  for (const r of e.recent) out.push(eventLine(r, p));
  out.push(`  ${p.dim('live stream:')} ${observeText(e.observe)}`);
  return out;
}

function truthText(verdict: TruthVerdict, s: TruthSample | undefined, p: Palette): string {
  if (verdict === 'waiting' || !s) return p.dim('waiting for the first export…');
  const a = s.agent.total.packets;
  const n = s.nft.total.packets;
  const nums = `agent ${p.bold(fmtInt(a))} (udp ${fmtInt(s.agent.udp.packets)}, tcp ${fmtInt(s.agent.tcp.packets)})` +
    ` vs nft rules ${p.bold(fmtInt(n))} (udp ${fmtInt(s.nft.udp.packets)}, tcp ${fmtInt(s.nft.tcp.packets)})`;
  switch (verdict) {
    case 'match': return `${nums}  ${p.green('✓ exact')}`;
    case 'behind': return `${nums}  ${p.yellow(`… +${fmtInt(n - a)} since the agent's read (next export)`)}`;
    case 'mismatch': return `${nums}  ${p.red(`✗ agent +${fmtInt(a - n)}`)} ${p.dim('(other firewall drops on this host?)')}`;
  }
}

function probesText(m: DemoModel, p: Palette): string {
  if (m.probes.length === 0) return p.dim('no health received yet');
  const probes = m.probes.map((x) => `${x.name} ${x.up ? p.green('up') : p.red('down')}${x.hook ? p.dim(` (${x.hook})`) : ''}`).join(', ');
  return m.attachedInterfaces !== undefined ? `${probes} · ${fmtInt(m.attachedInterfaces)} interfaces attached` : probes;
}

function exportsText(m: DemoModel, p: Palette): string {
  const last = m.exports.lastAgoMs !== undefined ? ` (last ${(m.exports.lastAgoMs / 1000).toFixed(1)} s ago)` : '';
  const failures = m.exports.failures > 0 ? p.red(`${fmtInt(m.exports.failures)} failed`) : '0 failed';
  return `${p.bold(fmtInt(m.exports.received))} received${last}, ${failures} · agent logs: ${m.logFile ?? '-'}`;
}

function trafficLines(m: DemoModel, p: Palette): [string, string] {
  const t = m.traffic;
  const err = t.errors > 0 ? ` · ${p.yellow(`${fmtInt(t.errors)} errors`)}${t.lastError ? p.dim(` (${t.lastError.slice(0, 60)})`) : ''}` : '';
  return [
    `load ${Math.round(t.intensity * 100)}% · tcp ${fmtInt(t.tcpTransfers)} transfers (${fmtBytes(t.tcpBytes)}) · udp ${fmtInt(t.udpDatagrams)} datagrams${err}`,
    `to deny :${m.lab.denyPort} udp ${fmtInt(t.denyUdp)}, tcp ${fmtInt(t.denyTcp)} · to closed :${m.lab.closedPort} udp ${fmtInt(t.closedUdp)}, tcp ${fmtInt(t.closedTcp)}`,
  ];
}

/** The live screen. Lines end without padding; the caller clears to end of line. */
export function renderView(m: DemoModel, opts: RenderOptions): string {
  const p = palette(opts.color);
  const out: string[] = [];
  const clock = m.durationMs !== undefined ? `${fmtClock(m.elapsedMs)} / ${fmtClock(m.durationMs)}` : fmtClock(m.elapsedMs);
  out.push(`${p.bold(p.cyan('fovea demo'))} · ${p.bold(clock)} · live from the OTLP/gRPC receiver at ${m.endpoint.replace(/^http:\/\//, '')}`);
  out.push(p.dim(`lab: ${m.lab.pods} pods (netns ${m.lab.netnsPrefix}*), host veths ${m.lab.interfaceGlob}, ` +
    `nft table ${m.lab.nftTable} drops port ${m.lab.denyPort}; port ${m.lab.closedPort} is closed`));
  out.push('');

  const dw = [18, 5, 4, 11, 11, 8] as const;
  out.push(`${p.bold('DROPS')} ${p.dim('by kernel reason (skb:kfree_skb), whole host')}`);
  out.push(p.dim(row([['  reason', dw[0], 'l'], ['proto', dw[1], 'l'], ['ip', dw[2], 'l'], ['packets', dw[3], 'r'], ['bytes', dw[4], 'r'], ['pkt/s', dw[5], 'r']])));
  if (m.drops.length === 0) out.push(p.dim('  no drops received yet'));
  for (const d of m.drops.slice(0, TOP_DROPS)) {
    const reason = reasonText(d.reason, p);
    out.push(row([[`  ${reason}`, dw[0], 'l'], [d.transport || '-', dw[1], 'l'], [d.networkType || '-', dw[2], 'l'],
      [fmtInt(d.packets), dw[3], 'r'], [fmtBytes(d.bytes), dw[4], 'r'], [fmtRate(d.pps), dw[5], 'r']]));
  }
  if (m.drops.length > 1) {
    const label = m.drops.length > TOP_DROPS ? `  total (${fmtInt(m.drops.length)} rows)` : '  total';
    out.push(p.dim(row([[label, dw[0] + dw[1] + dw[2] + 4, 'l'], [fmtInt(m.dropTotal.packets), dw[3], 'r'],
      [fmtBytes(m.dropTotal.bytes), dw[4], 'r'], [fmtRate(m.dropTotal.pps), dw[5], 'r']])));
  }
  out.push('');

  const iw = [12, 9, 10, 12, 9, 10, 12] as const;
  out.push(`${p.bold('TRAFFIC')} ${p.dim('by interface (tc), host side of each pod\'s veth: rx = sent by the pod')}`);
  // Many pods: the busiest interfaces (byte rate, then total), else every one by name.
  const ifs = m.interfaces.length <= TOP_INTERFACES ? m.interfaces : [...m.interfaces]
    .sort((a, b) => (b.rxBps + b.txBps) - (a.rxBps + a.txBps) || (b.rxBytes + b.txBytes) - (a.rxBytes + a.txBytes))
    .slice(0, TOP_INTERFACES);
  out.push(p.dim(row([['  interface', iw[0], 'l'], ['rx pkts', iw[1], 'r'], ['rx bytes', iw[2], 'r'], ['rx rate', iw[3], 'r'],
    ['tx pkts', iw[4], 'r'], ['tx bytes', iw[5], 'r'], ['tx rate', iw[6], 'r'],
    [m.interfaces.length > TOP_INTERFACES ? `top ${TOP_INTERFACES} of ${fmtInt(m.interfaces.length)} by rate` : '', 0, 'l']])));
  if (m.interfaces.length === 0) out.push(p.dim('  no interface traffic received yet'));
  for (const i of ifs) {
    out.push(row([[`  ${i.name}`, iw[0], 'l'], [fmtInt(i.rxPackets), iw[1], 'r'], [fmtBytes(i.rxBytes), iw[2], 'r'], [`${fmtBytes(i.rxBps)}/s`, iw[3], 'r'],
      [fmtInt(i.txPackets), iw[4], 'r'], [fmtBytes(i.txBytes), iw[5], 'r'], [`${fmtBytes(i.txBps)}/s`, iw[6], 'r']]));
  }
  out.push('');

  out.push(...workloadLines(m, p));
  out.push('');
  out.push(...eventLines(m, p));
  out.push('');

  const [gen1, gen2] = trafficLines(m, p);
  out.push(`${p.bold('GROUND TRUTH')}  NETFILTER_DROP ${truthText(m.truth.verdict, m.truth.sample, p)}`);
  out.push(`${p.bold('AGENT')}         ${probesText(m, p)}`);
  out.push(`${p.bold('EXPORTS')}       ${exportsText(m, p)}`);
  out.push(`${p.bold('GENERATOR')}     ${gen1}`);
  out.push(`              ${gen2}`);
  out.push('');
  out.push(p.dim('Ctrl-C to stop'));
  return out.join('\n') + '\n';
}

/** A compact plain-text snapshot (no colours), for a non-TTY stdout. */
export function renderSnapshot(m: DemoModel): string {
  const p = palette(false);
  const byReason = new Map<string, { packets: number; pps: number }>();
  for (const d of m.drops) {
    const r = byReason.get(d.reason) ?? { packets: 0, pps: 0 };
    byReason.set(d.reason, { packets: r.packets + d.packets, pps: r.pps + d.pps });
  }
  const drops = [...byReason].map(([k, v]) => `${k} ${fmtInt(v.packets)} (${fmtRate(v.pps)}/s)`).join(', ') || 'none yet';
  const rx = m.interfaces.reduce((a, i) => a + i.rxBytes, 0);
  const tx = m.interfaces.reduce((a, i) => a + i.txBytes, 0);
  const rxPkts = m.interfaces.reduce((a, i) => a + i.rxPackets, 0);
  const txPkts = m.interfaces.reduce((a, i) => a + i.txPackets, 0);
  return [
    `[${fmtClock(m.elapsedMs)}] exports ${fmtInt(m.exports.received)} · probes ${m.probes.map((x) => `${x.name}=${x.up ? 'up' : 'down'}`).join(' ') || '-'}`,
    `  drops: ${drops}`,
    `  interfaces (${m.interfaces.length}): rx ${fmtInt(rxPkts)} pkts ${fmtBytes(rx)} · tx ${fmtInt(txPkts)} pkts ${fmtBytes(tx)}`,
    ...snapshotWorkloads(m),
    snapshotEvents(m),
    `  truth: NETFILTER_DROP ${truthText(m.truth.verdict, m.truth.sample, p)}`,
  ].join('\n') + '\n';
}

function snapshotEvents(m: DemoModel): string {
  const e = m.events;
  if (e.enabled === false) return '  drop events: off';
  const last = e.recent[e.recent.length - 1];
  const newest = last
    ? `; newest ${fmtTime(last.timeMs)} ${pair(last)} ${last.transport || '-'} ${last.reason}${last.suppressed > 0 ? ` (+${fmtInt(last.suppressed)} suppressed)` : ''}`
    : '';
  return `  drop events: ${fmtInt(e.received)} + ${fmtInt(e.suppressed)} suppressed of ${fmtInt(e.dropsCounted)} drops counted${newest}` +
    ` · live: ${observeText(e.observe)}`;
}

function snapshotWorkloads(m: DemoModel): string[] {
  const w = m.workloads;
  const more = (shown: number, total: number): string => (total > shown ? `, … (${total - shown} more)` : '');
  const flows = w.flows.slice(0, 2).map((f) => `${pair(f)} ${f.transport || '-'}/${portText(f)} ${fmtInt(f.packets)} pkts (${fmtRate(f.pps)}/s)`);
  const pd = w.podDrops.slice(0, 3).map((d) => `${d.pod} ${d.reason} from ${fmtInt(d.from.packets)} / to ${fmtInt(d.to.packets)}`);
  const xd = w.flowDrops.slice(0, 3).map((d) => `${pair(d)} ${d.reason} ${d.transport || '-'}/${portText(d)} ${fmtInt(d.packets)}`);
  return [
    `  workloads: ${fmtInt(w.pods)} pods, ${fmtInt(w.flows.length)} flows${flows.length ? `; busiest ${flows.join(', ')}` : ''}`,
    `  pod drops: ${pd.join(', ') || 'none yet'}${more(pd.length, w.podDrops.length)}`,
    `  dropped between workloads: ${xd.join(', ') || 'none yet'}${more(xd.length, w.flowDrops.length)}`,
  ];
}

function summaryWorkloads(s: DemoSummary, p: Palette, ok: (b: boolean | undefined) => string): string[] {
  const out: string[] = [];
  const pods = s.pods;
  out.push(`${p.bold('Drops by pod and reason, as received')} ${p.dim('(from = sent by the pod, to = on its way to the pod)')}`);
  out.push(p.dim(row([['  pod', 20, 'l'], ['reason', 22, 'l'], ['from pod', 10, 'r'], ['to pod', 10, 'r']])));
  if (pods.dropsByPod.length === 0) out.push(p.dim(`  none (pods seen: ${pods.workloads.join(', ') || 'none'})`));
  for (const d of pods.dropsByPod) {
    out.push(row([[`  ${d.pod}`, 20, 'l'], [d.reason, 22, 'l'], [fmtInt(d.from.packets), 10, 'r'], [fmtInt(d.to.packets), 10, 'r']]));
  }
  const nf = pods.netfilterDrop;
  out.push(`  ${p.bold('NETFILTER_DROP from pods')} ${fmtInt(nf.agent.packets)} pkts / ${fmtBytes(nf.agent.bytes)}  vs  nft deny rules ` +
    `${fmtInt(nf.nft.packets)} pkts / ${fmtBytes(nf.nft.bytes)}  ${nf.match ? p.green('✓ exact') : p.red('✗ differ')}`);
  if (nf.bySource.length > 0) {
    out.push(p.dim(`  by source pod, as received vs sent to :${s.lab.denyPort} by the generator:`));
    for (const r of nf.bySource) {
      const vs = (a: number, g: number | undefined): string => (g === undefined ? fmtInt(a) : `${fmtInt(a)} vs ${fmtInt(g)} ${ok(a === g)}`);
      out.push(`    ${padR(r.pod, 18)}udp ${vs(r.agent.udp, r.sent?.udp)} · tcp ${vs(r.agent.tcp, r.sent?.tcp)}`);
    }
  }
  out.push('');
  const xd = s.flows.drops.slice(0, SUMMARY_TOP_FLOW_DROPS);
  out.push(p.bold(`Drops between workloads, as received${topOf(xd.length, s.flows.drops.length)}`));
  out.push(p.dim(row([['  source → destination', W0, 'l'], ['reason', 16, 'l'], ['proto', 5, 'l'], ['port', 5, 'r'], ['packets', 10, 'r'], ['bytes', 10, 'r']])));
  if (xd.length === 0) out.push(p.dim('  none'));
  for (const d of xd) {
    out.push(row([[`  ${fit(pair(d), W0 - 2)}`, W0, 'l'], [d.reason, 16, 'l'], [d.transport || '-', 5, 'l'], [portText(d), 5, 'r'],
      [fmtInt(d.packets), 10, 'r'], [fmtBytes(d.bytes), 10, 'r']]));
  }
  out.push('');
  const fl = s.flows.traffic.slice(0, SUMMARY_TOP_FLOWS);
  out.push(p.bold(`Flows between workloads, as received${topOf(fl.length, s.flows.traffic.length)}`));
  out.push(p.dim(row([['  source → destination', W0, 'l'], ['proto', 5, 'l'], ['port', 5, 'r'], ['packets', 10, 'r'], ['bytes', 10, 'r']])));
  if (fl.length === 0) out.push(p.dim('  none'));
  for (const f of fl) {
    out.push(row([[`  ${fit(pair(f), W0 - 2)}`, W0, 'l'], [f.transport || '-', 5, 'l'], [portText(f), 5, 'r'],
      [fmtInt(f.packets), 10, 'r'], [fmtBytes(f.bytes), 10, 'r']]));
  }
  return out;
}

/** Drop events: the exact reconciliation with the agent's NETFILTER_DROP count, and what was received. */
function summaryEvents(s: DemoSummary, p: Palette): string[] {
  const ev = s.events;
  const out: string[] = [];
  const r = ev.netfilterDrop;
  if (r) {
    out.push(`${p.bold('Drop events')}   NETFILTER_DROP: ${fmtInt(r.events)} events received + ${fmtInt(r.suppressed)} suppressed` +
      ` + ${fmtInt(r.ringFull)} lost (ring full) = ${fmtInt(r.total)}  vs  agent ${fmtInt(r.drops)} drops  ${r.match ? p.green('✓ exact') : p.red('✗ differ')}`);
  } else {
    out.push(`${p.bold('Drop events')}   ${p.yellow('not checked')}: the agent reported no drop-event stage`);
  }
  const reasons = Object.entries(ev.byReason).map(([k, v]) => `${k} ${fmtInt(v.events)}`).join(', ');
  const lost = Object.entries(ev.agent?.lost ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ');
  out.push(`              ${fmtInt(ev.received)} drop events received as OTLP log records${reasons ? ` (${reasons})` : ''}` +
    (ev.agent ? ` · the agent read ${fmtInt(ev.agent.read)}${lost ? ` · ${p.yellow(`lost: ${lost}`)}` : ''}` : ''));
  return out;
}

/** The final summary: totals as received vs the kernel's own counters. */
export function renderSummary(s: DemoSummary, opts: RenderOptions): string {
  const p = palette(opts.color);
  const ok = (b: boolean | undefined): string => (b === undefined ? '' : b ? p.green('✓') : p.red('✗'));
  const out: string[] = [];
  out.push(p.bold(`fovea demo — summary: ${s.durationS} s, ${fmtInt(s.receiver.exportsReceived)} exports received at ${s.receiver.endpoint}`));
  out.push('');
  out.push(p.bold('Drops by reason, as received'));
  out.push(p.dim(row([['  reason', 26, 'l'], ['packets', 11, 'r'], ['bytes', 11, 'r']])));
  const reasons = Object.entries(s.dropsByReason).sort((a, b) => b[1].packets - a[1].packets);
  if (reasons.length === 0) out.push(p.dim('  none'));
  for (const [reason, c] of reasons) out.push(row([[`  ${reason}`, 26, 'l'], [fmtInt(c.packets), 11, 'r'], [fmtBytes(c.bytes), 11, 'r']]));
  out.push('');
  const nf = s.groundTruth.netfilterDrop;
  out.push(`${p.bold('Ground truth')}  NETFILTER_DROP: agent ${fmtInt(nf.agent.total.packets)} pkts / ${fmtBytes(nf.agent.total.bytes)}` +
    `  vs  nft deny rules ${fmtInt(nf.nft.total.packets)} pkts / ${fmtBytes(nf.nft.total.bytes)}  ${nf.match ? p.green('✓ exact') : p.red('✗ differ')}`);
  out.push(`              udp ${fmtInt(nf.agent.udp.packets)} vs ${fmtInt(nf.nft.udp.packets)} ${ok(nf.agent.udp.packets === nf.nft.udp.packets)}` +
    ` · tcp ${fmtInt(nf.agent.tcp.packets)} vs ${fmtInt(nf.nft.tcp.packets)} ${ok(nf.agent.tcp.packets === nf.nft.tcp.packets)}`);
  if (nf.agent.total.packets > nf.nft.total.packets) {
    out.push(p.dim('              the drop probe counts the whole host: other firewall drops here (another lab, a benchmark?) add to NETFILTER_DROP'));
  }
  out.push(...summaryEvents(s, p));
  out.push('');
  out.push(...summaryWorkloads(s, p, ok));
  out.push('');
  out.push(p.bold('Traffic by interface: as received vs the kernel (ip -s link, same period)'));
  out.push(p.dim(row([['  interface', 12, 'l'], ['rx pkts', 9, 'r'], ['rx bytes', 10, 'r'], ['tx pkts', 9, 'r'], ['tx bytes', 10, 'r'], ['', 0, 'l']])));
  for (const i of s.interfaces) {
    out.push(row([[`  ${i.name}`, 12, 'l'], [fmtInt(i.agent.rxPackets), 9, 'r'], [fmtBytes(i.agent.rxBytes), 10, 'r'],
      [fmtInt(i.agent.txPackets), 9, 'r'], [fmtBytes(i.agent.txBytes), 10, 'r'], [p.dim('agent'), 0, 'l']]));
    if (i.kernel) {
      out.push(row([['', 12, 'l'], [fmtInt(i.kernel.rxPackets), 9, 'r'], [fmtBytes(i.kernel.rxBytes), 10, 'r'],
        [fmtInt(i.kernel.txPackets), 9, 'r'], [fmtBytes(i.kernel.txBytes), 10, 'r'], [`${p.dim('kernel')} ${ok(i.match)}`, 0, 'l']]));
    }
  }
  if (s.interfaces.length === 0) out.push(p.dim('  none received'));
  out.push('');
  const probes = s.agent.probes.map((x) => `${x.name} ${x.up ? 'up' : 'down'}${x.hook ? ` (${x.hook})` : ''}`).join(', ') || 'no health received';
  out.push(`${p.bold('Agent')}      ${probes} · export failures ${fmtInt(s.agent.exportFailures)}`);
  const t = s.traffic;
  out.push(`${p.bold('Generated')}  tcp ${fmtInt(t.tcpTransfers)} transfers (${fmtBytes(t.tcpBytes)}) · udp ${fmtInt(t.udpDatagrams)} dgrams · ` +
    `deny :${s.lab.denyPort} udp ${fmtInt(t.denyUdp)} / tcp ${fmtInt(t.denyTcp)} attempts · closed :${s.lab.closedPort} udp ${fmtInt(t.closedUdp)} / tcp ${fmtInt(t.closedTcp)} attempts` +
    (t.errors > 0 ? ` · ${fmtInt(t.errors)} errors (last: ${t.lastError ?? '?'})` : ''));
  out.push(s.lab.removed
    ? `${p.bold('Lab')}        removed: no ${s.lab.netnsPrefix}* netns, ${s.lab.interfaceGlob} interface or ${s.lab.nftTable} table left`
    : `${p.bold('Lab')}        ${p.red(`left behind: ${s.lab.leftovers.join(', ')}`)}`);
  if (s.logFile) out.push(`${p.bold('Logs')}       ${s.logFile}`);
  return out.join('\n') + '\n';
}

/**
 * One live frame for a terminal: cursor home, each line cleared to its end, the rest of the screen
 * cleared — a redraw in place, without the flicker of clearing the whole screen first.
 */
export function ansiFrame(text: string, columns?: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const fit = columns !== undefined && columns > 0 ? (l: string) => truncateVisible(l, columns) : (l: string) => l;
  return '\x1b[H' + lines.map((l) => `${fit(l)}\x1b[K`).join('\n') + '\n\x1b[J';
}

/** Cuts a line to `width` visible characters, keeping (and then resetting) ANSI colours. */
export function truncateVisible(line: string, width: number): string {
  if (visibleLength(line) <= width) return line;
  let out = '';
  let seen = 0;
  for (let i = 0; i < line.length && seen < width;) {
    // eslint-disable-next-line no-control-regex
    const esc = /^\x1b\[[0-9;]*m/.exec(line.slice(i));
    if (esc) { out += esc[0]; i += esc[0].length; continue; }
    out += line[i];
    i++;
    seen++;
  }
  return line.includes('\x1b[') ? `${out}\x1b[0m` : out;
}
