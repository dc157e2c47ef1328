/** Configuration problems as data: every one collected, none thrown. */
import type { ZodIssue } from 'zod';
import { knownKeysAt } from './schema.js';

export type IssueSource = 'file' | 'env' | 'flag';

export interface ConfigIssue {
  readonly source: IssueSource;
  /** Dotted setting path ("probes.traffic.maxInterfaces", "interfaces[2]"); '' for the whole source. */
  readonly path: string;
  readonly message: string;
  /** Where exactly: "fovea.yaml:12:5", "FOVEA_LOG_LEVEL", "--log-level". */
  readonly origin?: string;
}

/** One line per issue, naming the file (with line:column when known), env var or flag. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => {
    const where = i.source === 'file' ? `config file ${i.origin ?? ''}`.trimEnd()
      : i.source === 'env' ? `env ${i.origin ?? ''}`.trimEnd()
        : `flag ${i.origin ?? ''}`.trimEnd();
    return `${where}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`;
  }).join('\n');
}

// ---------------------------------------------------------------------------------------------

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

const normalize = (s: string): string => s.toLowerCase().replace(/[-_.\s]/g, '');

/** The closest candidate when it is plausibly a typo of `word`, else undefined. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = normalize(word);
  if (w === '') return undefined;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const n = normalize(c);
    if (n === w) return c; // log_level, LOGLEVEL, log-level → logLevel
    const d = levenshtein(w, n);
    if (d < bestDist) { bestDist = d; best = c; }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  if (bestDist <= limit) return best;
  const nb = normalize(best);
  if (w.length >= 3 && (nb.startsWith(w) || w.startsWith(nb))) return best;
  return undefined;
}

export const hint = (word: string, candidates: readonly string[]): string => {
  const m = didYouMean(word, candidates);
  return m === undefined ? '' : `; did you mean ${JSON.stringify(m)}?`;
};

// ---------------------------------------------------------------------------------------------

export function pathString(path: readonly (string | number)[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

export function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false',
  array: 'a list', object: 'a mapping',
};

export interface PathMessage { readonly path: (string | number)[]; readonly message: string }

/** Zod issues → one short message per problem, quoting what the user wrote. */
export function describeZodIssues(zodIssues: readonly ZodIssue[], input: unknown): PathMessage[] {
  const out: PathMessage[] = [];
  const seen = new Set<string>();
  for (const zi of zodIssues) {
    const path = [...zi.path];
    // One message per value: "0.5" breaks both int() and min(1); the first says enough.
    const key = pathString(path);
    if (zi.code !== 'unrecognized_keys') { if (seen.has(key)) continue; seen.add(key); }
    const got = valueAt(input, path);
    const last = path[path.length - 1];
    const isDuration = typeof last === 'string' && last.endsWith('Ms');
    const unit = isDuration ? ' ms' : '';
    switch (zi.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(path);
        for (const key of zi.keys) {
          out.push({ path: [...path, key], message: `unknown key${hint(key, known)}${known.length > 0 && didYouMean(key, known) === undefined ? ` (known: ${known.join(', ')})` : ''}` });
        }
        continue;
      }
      case 'invalid_type': {
        const expected = isDuration && zi.expected !== 'integer'
          ? 'a duration (milliseconds, or a string like "500ms", "2s", "1m")'
          : zi.expected === 'integer' && isDuration ? 'a whole number of milliseconds'
            : TYPE_NAMES[zi.expected] ?? zi.expected;
        out.push({ path, message: `must be ${expected} (got ${show(got)})` });
        continue;
      }
      case 'invalid_enum_value': {
        const options = zi.options.map(String);
        out.push({ path, message: `must be one of ${options.join(', ')} (got ${show(got)}${typeof got === 'string' ? hint(got, options) : ''})` });
        continue;
      }
      case 'too_small':
        if (zi.type === 'string' && Number(zi.minimum) === 1) out.push({ path, message: 'must not be empty' });
        else out.push({ path, message: `must be ${zi.inclusive ? '≥' : '>'} ${String(zi.minimum)}${unit} (got ${show(got)})` });
        continue;
      case 'too_big':
        out.push({ path, message: `must be ${zi.inclusive ? '≤' : '<'} ${String(zi.maximum)}${unit} (got ${show(got)})` });
        continue;
      default:
        out.push({ path, message: zi.message });
    }
  }
  return out;
}
