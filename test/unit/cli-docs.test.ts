/**
 * docs/cli.md mirrors code: the configuration table covers every setting of the schema (and names
 * nothing the schema lacks), each row with exactly the flags and FOVEA_* variables SETTINGS binds
 * for its settings, and every agent flag has a row; the `fovea observe` table lists every flag the
 * observe command parses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_FLAGS } from '../../src/config/flags.js';
import { leafPaths } from '../../src/config/schema.js';
import { SETTINGS } from '../../src/config/settings.js';
import { OBSERVE_FLAGS } from '../../src/commands/observe.js';
import { markdownTable } from '../helpers/markdown.js';

const root = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');

const table = (firstHeader: string): string[][] => markdownTable(doc, firstHeader);
const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/**
 * The settings a row of the configuration table names: `a.b.c` in full; `x.*` for every setting
 * under x; a bare key after a full path is a sibling (`export.certificate`, `clientKey`).
 */
function rowPaths(cell: string, all: readonly string[]): string[] {
  const out: string[] = [];
  let parent = '';
  for (const t of ticked(cell)) {
    if (t.endsWith('.*')) {
      const prefix = t.slice(0, -1);
      out.push(...all.filter((p) => p.startsWith(prefix)));
    } else if (t.includes('.') || all.includes(t)) {
      out.push(t);
      parent = t.includes('.') ? t.slice(0, t.lastIndexOf('.') + 1) : '';
    } else {
      out.push(parent + t);
    }
  }
  return out;
}

describe('docs/cli.md', () => {
  const all = leafPaths();
  const rows = table('setting (file key)').filter((r) => !r[0]!.startsWith('config file'));

  it('the configuration table covers every setting of the schema, and names only real ones', () => {
    const named = rows.flatMap((r) => rowPaths(r[0]!, all));
    for (const p of named) expect(all, `docs/cli.md names ${p}`).toContain(p);
    const missing = all.filter((p) => !named.includes(p));
    expect(missing, 'settings without a row in docs/cli.md').toEqual([]);
  });

  it('each row shows exactly the flags and FOVEA_* variables SETTINGS binds for its settings', () => {
    for (const r of rows) {
      const paths = rowPaths(r[0]!, all);
      const bound = SETTINGS.filter((s) => paths.includes(s.path));
      const flags = ticked(r[1]!).map((f) => f.split(' ')[0]!).filter((f) => f.startsWith('--')).sort();
      expect(flags, `flags of ${r[0]}`).toEqual(bound.flatMap((s) => (s.flag ? [`--${s.flag}`] : [])).sort());
      const envs = [...r[2]!.matchAll(/FOVEA_[A-Z0-9_*]+/g)].map((m) => m[0]);
      const boundEnvs = bound.flatMap((s) => s.env ?? []).filter((e) => e.startsWith('FOVEA_'));
      if (envs.some((e) => e.endsWith('*'))) {
        for (const e of boundEnvs) expect(envs.some((d) => e.startsWith(d.replace(/\*$/, ''))), `${e} in ${r[0]}`).toBe(true);
      } else {
        expect(envs.sort(), `FOVEA_* variables of ${r[0]}`).toEqual([...boundEnvs].sort());
      }
    }
  });

  it('every agent flag appears in the configuration table', () => {
    const documented = new Set(rows.flatMap((r) => ticked(r[1]!).map((f) => f.split(' ')[0]!)));
    for (const f of Object.keys(AGENT_FLAGS)) {
      if (f === 'config' || f === 'help') continue;
      expect(documented.has(`--${f}`), `--${f}`).toBe(true);
    }
  });

  it('the observe table lists every flag `fovea observe` parses, and no other', () => {
    const documented = table('flag').flatMap((r) => ticked(r[0]!).flatMap((t) => t.split(/,\s*/)).map((f) => f.split(' ')[0]!));
    const long = documented.filter((f) => f.startsWith('--')).map((f) => f.slice(2)).sort();
    expect(long).toEqual(Object.keys(OBSERVE_FLAGS).filter((f) => f !== 'help').sort());
    for (const [name, spec] of Object.entries(OBSERVE_FLAGS)) {
      const short = (spec as { short?: string }).short;
      if (short && name !== 'help') expect(documented, `-${short}`).toContain(`-${short}`);
    }
  });
});
