/**
 * The README is the front door: it starts with the two commands, stays short, and links every
 * document under docs/; every relative link in the README and in docs/ points at a file that exists
 * and, with a #fragment, at a heading that exists (GitHub's anchor rules).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f));
const files = [join(root, 'README.md'), ...docs];

/** GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-', repeats numbered. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    if (fence) continue;
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function links(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/i.test(l));
}

describe('documentation links', () => {
  it('the README starts with the two commands and is short enough to read in five minutes', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /^# Fovea\n\n```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(block.split('\n').filter(Boolean).map((l) => l.split('#')[0]!.trim())).toEqual(['npm run demo', 'npm test']);
    expect(readme.split(/\s+/).length, 'README words').toBeLessThan(1_500);
  });

  it('every document under docs/ is linked from the README', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const linked = new Set(links(readme).map((l) => normalize(join(root, l.split('#')[0]!))));
    for (const d of docs) expect(linked.has(d), relative(root, d)).toBe(true);
  });

  it('every relative link resolves to a file, and every #fragment to a heading', () => {
    const problems: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const l of links(text)) {
        const [path, fragment] = l.split('#') as [string, string | undefined];
        const target = path === '' ? f : normalize(join(dirname(f), path));
        if (!existsSync(target)) { problems.push(`${relative(root, f)}: ${l} (no such file)`); continue; }
        if (fragment && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(fragment)) {
          problems.push(`${relative(root, f)}: ${l} (no such heading)`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
