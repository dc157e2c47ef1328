/**
 * docs/hubble.md mirrors code: its kernel → Cilium drop-reason table is KERNEL_TO_CILIUM_DROP_REASON
 * (every row, nothing more), every Cilium name in it is a flow.DropReason value, and its settings
 * table lists every hubble.* setting of the schema with the env variables and flags SETTINGS binds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config/settings.js';
import { leafPaths } from '../../src/config/schema.js';
import { KERNEL_TO_CILIUM_DROP_REASON, UNKNOWN_DROP_REASON } from '../../src/hubble/drop-reasons.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import { markdownTable } from '../helpers/markdown.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'hubble.md'), 'utf8');

/** Rows of the markdown table whose header row starts with `firstHeader`. */
const table = (firstHeader: string): string[][] => markdownTable(doc, firstHeader);
const unquote = (c: string): string => c.replace(/^`|`$/g, '');

describe('docs/hubble.md', () => {
  it('the drop-reason table is the code\'s mapping, row for row', () => {
    const rows = table('kernel reason').filter((r) => r[0] !== 'any other');
    expect(Object.fromEntries(rows.map((r) => [unquote(r[0]!), unquote(r[1]!)]))).toEqual(KERNEL_TO_CILIUM_DROP_REASON);
    expect(rows.map((r) => unquote(r[0]!))).toEqual(Object.keys(KERNEL_TO_CILIUM_DROP_REASON));
    const other = table('kernel reason').find((r) => r[0] === 'any other')!;
    expect(other[1]).toContain(UNKNOWN_DROP_REASON);
  });

  it('every Cilium reason the mapping uses exists in flow.DropReason', () => {
    const values = hubbleTypes().root.lookupEnum('flow.DropReason').values;
    for (const name of Object.values(KERNEL_TO_CILIUM_DROP_REASON)) expect(values, name).toHaveProperty(name);
  });

  it('the settings table lists every hubble.* setting (and nothing else) with its env variable and flag', () => {
    const rows = table('setting');
    expect(rows.map((r) => unquote(r[0]!)).sort()).toEqual(leafPaths().filter((p) => p.startsWith('hubble.')).sort());
    for (const r of rows) {
      const s = SETTINGS.find((x) => x.path === unquote(r[0]!));
      expect(r[1], r[0]).toBe((s?.env ?? []).map((e) => `\`${e}\``).join(', '));
      expect(r[2], r[0]).toBe(s?.flag ? `\`--${s.flag}\`` : '');
    }
  });
});
