/**
 * docs/kernels.md mirrors the kernel matrix: its supported-kernels table is exactly what
 * scripts/kernels/table.mjs renders from test/kernels/results.json (the last `npm run
 * test:kernels`), every kernel of test/kernels/kernels.json has a result, the minimum kernel the
 * page states is the oldest kernel that passed, and the page's test table lists exactly the files
 * the matrix runs (each of which exists).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations (JSDoc-typed)
import { renderKernelTable, tableInDoc } from '../../scripts/kernels/table.mjs';

const root = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(root, 'docs', 'kernels.md'), 'utf8');
const results = JSON.parse(readFileSync(join(root, 'test', 'kernels', 'results.json'), 'utf8')) as {
  kernels: Array<{ name: string; release: string; ok: boolean; tests: string[] }>;
};
const specs = JSON.parse(readFileSync(join(root, 'test', 'kernels', 'kernels.json'), 'utf8')) as Array<{ name: string; tests: string[] }>;
const version = (release: string): [number, number] => {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return [Number(m?.[1]), Number(m?.[2])];
};

describe('docs/kernels.md', () => {
  it('the supported-kernels table is the one rendered from test/kernels/results.json', () => {
    expect(tableInDoc(doc)).toBe(renderKernelTable(results));
  });

  it('every kernel of the matrix has a result, run with the tests the matrix chooses', () => {
    expect(results.kernels.map((k) => k.name)).toEqual(specs.map((k) => k.name));
    for (const k of results.kernels) expect(k.tests, k.name).toEqual(specs.find((s) => s.name === k.name)!.tests);
  });

  it('states as minimum the oldest kernel that passed', () => {
    const passed = results.kernels.filter((k) => k.ok).map((k) => version(k.release)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(passed.length).toBeGreaterThan(0);
    const [major, minor] = passed[0]!;
    expect(doc).toContain(`**Minimum: Linux ${major}.${minor} with BTF**`);
  });

  it('the test table lists exactly the files the matrix runs, and they exist', () => {
    const files = new Set(specs.flatMap((k) => k.tests));
    const listed = [...doc.matchAll(/^\| `(test\/e2e\/[\w.-]+\.test\.ts)` \|/gm)].map((m) => m[1]!);
    expect(new Set(listed)).toEqual(files);
    for (const f of files) expect(existsSync(join(root, f)), f).toBe(true);
  });
});
