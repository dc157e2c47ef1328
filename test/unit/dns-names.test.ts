/**
 * DnsNameSeries: top-N admission, the cap, the overflow, idle deletion — and the invariant that
 * the name series plus the overflow equal what the kernel table counted, over random histories.
 */
import { describe, expect, it } from 'vitest';
import { wireName } from '../../src/dns/message.js';
import { DnsNameSeries, type DnsNameReadings } from '../../src/pods/dns-names.js';
import type { DnsNameRecord } from '../../src/probes/dns/layout.js';
import type { MetricFamily } from '../../src/probes/types.js';

const wire = (name: string): Buffer => {
  const parts = name.split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])), Buffer.from([0])]);
};

/** A fake dns_names table: records by key, counts only grow until deleted. */
class FakeTable implements DnsNameReadings {
  readonly rows = new Map<string, { name: Buffer; qtype: number; view: number; queries: number; responses: number[] }>();
  deleted = 0;

  key(name: string, qtype = 1, view = 0): string {
    return `${Buffer.from(name).toString('hex')}${qtype.toString(16).padStart(4, '0')}${view.toString(16).padStart(2, '0')}`;
  }

  query(name: string, n = 1, qtype = 1, view = 0): void {
    this.row(name, qtype, view).queries += n;
  }

  respond(name: string, rcode: number, n = 1, qtype = 1, view = 0): void {
    this.row(name, qtype, view).responses[rcode]! += n;
  }

  private row(name: string, qtype: number, view: number) {
    const k = this.key(name, qtype, view);
    let r = this.rows.get(k);
    if (!r) {
      r = { name: wire(name), qtype, view, queries: 0, responses: new Array<number>(16).fill(0) };
      this.rows.set(k, r);
    }
    return r;
  }

  readNames(): DnsNameRecord[] {
    return [...this.rows].map(([recordKey, r]) => ({ recordKey, name: r.name, qtype: r.qtype, view: r.view, queries: r.queries, responses: [...r.responses] }));
  }

  deleteNames(keys: readonly Buffer[]): void {
    for (const k of keys) if (this.rows.delete(k.toString('hex'))) this.deleted++;
  }
}

function points(families: MetricFamily[], name: string): Array<{ attributes: Record<string, unknown>; value: number }> {
  const f = families.find((x) => x.instrument.name === name);
  return (f?.series ?? []).map((p) => ({ attributes: p.attributes as Record<string, unknown>, value: p.value }));
}

const queriesByName = (f: MetricFamily[]): Record<string, number> =>
  Object.fromEntries(points(f, 'fovea.dns.name.queries').map((p) => [p.attributes['dns.question.name'], p.value]));
const overflow = (f: MetricFamily[], kind: string): number =>
  points(f, 'fovea.dns.name.overflow').find((p) => p.attributes['fovea.dns.kind'] === kind)?.value ?? NaN;

describe('DnsNameSeries', () => {
  const settings = { top: 3, max: 5, idleTimeoutMs: 60_000, seriesTtlMs: 300_000 };

  it('gives the N names with the most new queries a series, the rest go to the overflow', () => {
    const t = new FakeTable();
    let now = 0;
    const s = new DnsNameSeries(t, settings, () => now);
    const counts: Record<string, number> = { 'a.svc': 50, 'b.svc': 40, 'c.svc': 30, 'd.svc': 20, 'e.svc': 10 };
    for (const [n, c] of Object.entries(counts)) t.query(n, c);
    let f = s.collect();
    expect(queriesByName(f)).toEqual({ 'a.svc': 50, 'b.svc': 40, 'c.svc': 30 });
    expect(overflow(f, 'query')).toBe(30);
    // next collection: d and e have new queries and there is room (max 5): they get series from now on
    now += 10_000;
    t.query('d.svc', 2); t.query('e.svc', 1); t.query('a.svc', 5);
    f = s.collect();
    expect(queriesByName(f)).toEqual({ 'a.svc': 55, 'b.svc': 40, 'c.svc': 30, 'd.svc': 2, 'e.svc': 1 });
    expect(overflow(f, 'query')).toBe(30);
    // the cap is reached: a new name stays in the overflow, however busy
    now += 10_000;
    t.query('f.svc', 1000);
    f = s.collect();
    expect(Object.keys(queriesByName(f))).not.toContain('f.svc');
    expect(overflow(f, 'query')).toBe(1030);
    expect(s.size).toBe(5);
  });

  it('responses by code follow their name; responses of names without a series are overflow', () => {
    const t = new FakeTable();
    const s = new DnsNameSeries(t, { ...settings, top: 1 }, () => 0);
    t.query('x.example', 3); t.respond('x.example', 0, 2); t.respond('x.example', 3, 1);
    t.query('y.example', 1); t.respond('y.example', 2, 1);
    const f = s.collect();
    const r = points(f, 'fovea.dns.name.responses').filter((p) => p.attributes['dns.question.name'] === 'x.example');
    expect(Object.fromEntries(r.map((p) => [p.attributes['fovea.dns.response.code'], p.value]))).toEqual({ NOERROR: 2, NXDOMAIN: 1 });
    expect(overflow(f, 'response')).toBe(1);
    expect(overflow(f, 'query')).toBe(1);
  });

  it('names differ by query type and view; letters were lowered by the kernel', () => {
    const t = new FakeTable();
    const s = new DnsNameSeries(t, { ...settings, top: 10 }, () => 0);
    t.query('api.shop', 4, 1, 0); t.query('api.shop', 2, 28, 0); t.query('api.shop', 4, 1, 1);
    const q = points(s.collect(), 'fovea.dns.name.queries');
    expect(q.map((p) => [p.attributes['fovea.dns.question.type'], p.attributes['fovea.dns.view'], p.value]).sort())
      .toEqual([['A', 'client', 4], ['A', 'server', 4], ['AAAA', 'client', 2]]);
  });

  it('deletes idle kernel records and keeps their totals; a record that comes back continues its series', () => {
    const t = new FakeTable();
    let now = 0;
    const s = new DnsNameSeries(t, settings, () => now);
    t.query('a.svc', 7);
    s.collect();
    now += 30_000; s.collect();
    now += 31_000; s.collect(); // unchanged for 61 s: deleted
    expect(t.deleted).toBe(1);
    expect(t.rows.size).toBe(0);
    now += 10_000;
    t.query('a.svc', 2); // re-created by the kernel
    expect(queriesByName(s.collect())).toEqual({ 'a.svc': 9 });
  });

  it('a series whose records are gone ends after the TTL and frees its place', () => {
    const t = new FakeTable();
    let now = 0;
    const s = new DnsNameSeries(t, { ...settings, max: 1, seriesTtlMs: 100_000 }, () => now);
    t.query('a.svc', 1);
    s.collect();
    for (let i = 0; i < 20; i++) { now += 10_000; s.collect(); }
    expect(s.size).toBe(0);
    t.query('b.svc', 1);
    now += 10_000;
    expect(queriesByName(s.collect())).toEqual({ 'b.svc': 1 });
  });

  it('series + overflow == everything the table counted, over random histories', () => {
    let seed = 12345;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let run = 0; run < 30; run++) {
      const t = new FakeTable();
      let now = 0;
      const s = new DnsNameSeries(t, { top: 1 + rnd(4), max: 1 + rnd(8), idleTimeoutMs: 20_000, seriesTtlMs: 1e12 }, () => now);
      let totalQ = 0, totalR = 0;
      let f: MetricFamily[] = [];
      for (let step = 0; step < 40; step++) {
        for (let k = rnd(6); k > 0; k--) {
          const name = `n${rnd(12)}.svc`;
          const n = 1 + rnd(9);
          if (rnd(2)) { t.query(name, n, rnd(2) ? 1 : 28, rnd(2)); totalQ += n; } else { t.respond(name, rnd(16), n, 1, rnd(2)); totalR += n; }
        }
        now += 5_000 + rnd(10_000);
        f = s.collect();
        const q = points(f, 'fovea.dns.name.queries').reduce((a, p) => a + p.value, 0);
        const r = points(f, 'fovea.dns.name.responses').reduce((a, p) => a + p.value, 0);
        expect(q + overflow(f, 'query')).toBe(totalQ);
        expect(r + overflow(f, 'response')).toBe(totalR);
      }
    }
  });
});

describe('wireName', () => {
  it('renders whole names, and names cut by the kernel with their whole labels and an ellipsis', () => {
    expect(wireName(wire('api.shop.svc.cluster.local'))).toBe('api.shop.svc.cluster.local');
    const long = wire(`${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(20)}.example`);
    expect(wireName(long.subarray(0, 128))).toBe(`${'a'.repeat(60)}.${'b'.repeat(60)}…`);
    expect(wireName(Buffer.from([5, 0x61]))).toBeUndefined();
    expect(wireName(Buffer.from([0xc0, 12]))).toBeUndefined();
    expect(wireName(Buffer.from([0]))).toBe('.');
  });
});
