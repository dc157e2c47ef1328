/**
 * docs/metrics.md mirrors src/names.ts: every instrument its tables name exists there with the
 * Prometheus name and unit the table gives, and every instrument there is documented, and the kernel network counter table lists exactly
 * the counters the netstack probe exports (src/probes/netstack/snmp.ts), from the file it says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTRUMENTS } from '../../src/names.js';
import { NETSTACK_COUNTERS, NETSTACK_FIELDS } from '../../src/probes/netstack/snmp.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'metrics.md'), 'utf8');
const byName = new Map(Object.values(INSTRUMENTS).map((i) => [i.name, i]));
const ticks = (cell: string | undefined) => [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
/** Table rows (cells, trimmed) of the table whose header row starts with `| first |`. */
function rows(first: string): string[][] {
  const out: string[][] = [];
  let inTable = false;
  for (const line of doc.split('\n')) {
    if (line.startsWith(`| ${first} |`)) { inTable = true; continue; }
    if (!line.startsWith('|')) { inTable = false; continue; }
    if (inTable && !line.startsWith('|---')) out.push(line.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return out;
}

describe('docs/metrics.md', () => {
  it('every instrument in its tables exists in src/names.ts, with that Prometheus name and unit', () => {
    const documented = rows('instrument');
    expect(documented.length).toBeGreaterThan(20);
    for (const [names, prom, unit] of documented) {
      const otel = ticks(names).filter((n) => n.startsWith('fovea.'));
      expect(otel.length, names).toBeGreaterThan(0);
      for (const n of otel) expect(byName.has(n), `${n} is in src/names.ts`).toBe(true);
      if (otel.length === 1 && ticks(prom).length === 1) {
        const i = byName.get(otel[0]!)!;
        expect(ticks(prom)[0], otel[0]).toBe(i.prometheus);
        expect(ticks(unit)[0], otel[0]).toBe(i.unit);
      }
    }
  });

  it('documents every instrument of src/names.ts', () => {
    const names = new Set(rows('instrument').flatMap(([n]) => ticks(n)));
    // `fovea.agent.identity.errors` / `.relists` share a row
    const missing = Object.values(INSTRUMENTS).map((i) => i.name)
      .filter((n) => !names.has(n) && !(n === INSTRUMENTS.identityRelists.name && names.has(INSTRUMENTS.identityErrors.name)));
    expect(missing).toEqual([]);
  });

  it('the kernel network counter table is NETSTACK_COUNTERS, each from its file', () => {
    const table = rows('`fovea.counter.name`');
    const listed = table.flatMap(([names]) => ticks(names));
    expect([...listed].sort()).toEqual([...NETSTACK_COUNTERS].sort());
    for (const [names, from] of table) {
      for (const counter of ticks(names)) {
        const proto = counter.split('.')[0] as keyof typeof NETSTACK_FIELDS;
        if (!from!.startsWith('same')) expect(from, counter).toContain(`/proc/net/${NETSTACK_FIELDS[proto].file}`);
      }
    }
  });
});
