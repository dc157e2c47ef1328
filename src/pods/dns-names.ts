/**
 * DNS question names on metrics, with bounded cardinality: the kernel counts messages per
 * (name, query type, view) in dns_names; here, at each collection, the names with the most new
 * queries that have no series yet get one (`top` per collection, `max` in all), and everything
 * counted for names without a series goes to one overflow counter.
 *
 * Exactness: a kernel record's increase since the previous reading goes to exactly one place —
 * its name's series when it has one (including the reading that admitted it), else the overflow.
 * So the name series plus the overflow equal what dns_names counted (messages whose name found
 * the kernel table full are counted as `dns_names_full` failures instead). A name's series counts
 * from the collection that admitted it; what it counted before went to the overflow.
 *
 * Records unchanged for idleTimeoutMs are deleted from the kernel (what they counted stays here);
 * a series whose records are all gone and that did not change for seriesTtlMs ends, and frees its
 * place under the cap.
 */
import type { Attributes } from '@opentelemetry/api';
import { qtypeName, rcodeName, wireName } from '../dns/message.js';
import { ATTR, INSTRUMENTS } from '../names.js';
import { DNS_VIEW, type DnsNameRecord } from '../probes/dns/layout.js';
import { FamilyBuilder } from '../probes/tcp/probe.js';
import type { MetricFamily } from '../probes/types.js';

export interface DnsNameReadings {
  readNames(): DnsNameRecord[];
  deleteNames(keys: readonly Buffer[]): void;
}

export interface DnsNameSettings {
  /** names admitted per collection */
  readonly top: number;
  /** series at most */
  readonly max: number;
  readonly idleTimeoutMs: number;
  readonly seriesTtlMs: number;
}

const VIEW_NAME: Record<number, string> = { [DNS_VIEW.client]: 'client', [DNS_VIEW.server]: 'server' };
/** queries, responses by code (16) */
const LENGTH = 17;

interface NameSeries {
  readonly attributes: Attributes;
  readonly values: number[];
  /** kernel records feeding it */
  readonly records: Set<string>;
  lastChange: number;
}

interface RecordState {
  /** what the record had at the previous reading */
  last: number[];
  lastChange: number;
  /** its name's series, once admitted */
  series: string | undefined;
}

const vectorOf = (r: DnsNameRecord): number[] => [r.queries, ...r.responses];

export class DnsNameSeries {
  private readonly series = new Map<string, NameSeries>();
  private readonly records = new Map<string, RecordState>();
  private overflowQueries = 0;
  private overflowResponses = 0;

  constructor(
    private readonly dns: DnsNameReadings,
    private readonly settings: DnsNameSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Names with a series now. */
  get size(): number {
    return this.series.size;
  }

  collect(): MetricFamily[] {
    const now = this.now();
    const readings = this.dns.readNames();
    const seen = new Set<string>();
    const deltas: Array<{ r: DnsNameRecord; state: RecordState; delta: number[] }> = [];
    for (const r of readings) {
      seen.add(r.recordKey);
      const values = vectorOf(r);
      let state = this.records.get(r.recordKey);
      if (!state) {
        state = { last: new Array<number>(LENGTH).fill(0), lastChange: now, series: undefined };
        this.records.set(r.recordKey, state);
      }
      // a record deleted and re-created between two readings starts again from zero
      const reset = values.some((v, i) => v < state.last[i]!);
      const delta = values.map((v, i) => (reset ? v : v - state.last[i]!));
      if (delta.some((d) => d > 0)) state.lastChange = now;
      state.last = values;
      deltas.push({ r, state, delta });
    }
    // records gone from the kernel (deleted as idle here, or by a restart of the map)
    for (const [key, state] of this.records) {
      if (seen.has(key)) continue;
      this.records.delete(key);
      if (state.series !== undefined) this.series.get(state.series)?.records.delete(key);
    }

    this.admit(deltas, now);

    for (const { state, delta } of deltas) {
      const s = state.series === undefined ? undefined : this.series.get(state.series);
      if (s) {
        for (let i = 0; i < LENGTH; i++) s.values[i]! += delta[i]!;
        if (delta.some((d) => d > 0)) s.lastChange = now;
      } else {
        this.overflowQueries += delta[0]!;
        for (let i = 1; i < LENGTH; i++) this.overflowResponses += delta[i]!;
      }
    }

    this.deleteIdle(now);
    for (const [key, s] of this.series) {
      if (s.records.size === 0 && now - s.lastChange >= this.settings.seriesTtlMs) this.series.delete(key);
    }
    return this.families();
  }

  /**
   * Records without a series: one whose name has a series already joins it (a record re-created
   * after an idle deletion); else the names with the most new queries get one, `top` this time and
   * `max` in all.
   */
  private admit(deltas: ReadonlyArray<{ r: DnsNameRecord; state: RecordState; delta: number[] }>, now: number): void {
    const candidates: Array<{ key: string; attributes: Attributes; r: DnsNameRecord; state: RecordState; queries: number }> = [];
    for (const d of deltas) {
      if (d.state.series !== undefined || !d.delta.some((v) => v > 0)) continue;
      const name = wireName(d.r.name) ?? '<unreadable>';
      const view = VIEW_NAME[d.r.view] ?? 'client';
      const type = qtypeName(d.r.qtype);
      const key = `${name}|${type}|${view}`;
      const s = this.series.get(key);
      if (s) {
        s.records.add(d.r.recordKey);
        d.state.series = key;
      } else if (d.delta[0]! > 0) {
        candidates.push({ key, attributes: { [ATTR.dnsQuestionName]: name, [ATTR.dnsQuestionType]: type, [ATTR.dnsView]: view }, r: d.r, state: d.state, queries: d.delta[0]! });
      }
    }
    candidates.sort((a, b) => b.queries - a.queries);
    let admitted = 0;
    for (const c of candidates) {
      let s = this.series.get(c.key);
      if (!s) {
        // (a name cut short shares its series with every name that has the same first bytes)
        if (admitted >= this.settings.top || this.series.size >= this.settings.max) continue;
        s = { attributes: c.attributes, values: new Array<number>(LENGTH).fill(0), records: new Set(), lastChange: now };
        this.series.set(c.key, s);
        admitted++;
      }
      s.records.add(c.r.recordKey);
      c.state.series = c.key;
    }
  }

  /** Deletes records unchanged for idleTimeoutMs from the kernel; one that comes back starts from zero. */
  private deleteIdle(now: number): void {
    const idle: Buffer[] = [];
    for (const [key, state] of this.records) {
      if (now - state.lastChange < this.settings.idleTimeoutMs) continue;
      idle.push(Buffer.from(key, 'hex'));
      this.records.delete(key);
      if (state.series !== undefined) this.series.get(state.series)?.records.delete(key);
    }
    if (idle.length) this.dns.deleteNames(idle);
  }

  private families(): MetricFamily[] {
    const out = new FamilyBuilder();
    for (const s of this.series.values()) {
      out.add(INSTRUMENTS.dnsNameQueries, { attributes: s.attributes, value: s.values[0]! });
      for (let code = 0; code < 16; code++) {
        const n = s.values[1 + code]!;
        if (n > 0 || code === 0) out.add(INSTRUMENTS.dnsNameResponses, { attributes: { ...s.attributes, [ATTR.dnsResponseCode]: rcodeName(code) }, value: n });
      }
    }
    out.add(INSTRUMENTS.dnsNameOverflow, { attributes: { [ATTR.dnsKind]: 'query' }, value: this.overflowQueries });
    out.add(INSTRUMENTS.dnsNameOverflow, { attributes: { [ATTR.dnsKind]: 'response' }, value: this.overflowResponses });
    return out.build();
  }
}
