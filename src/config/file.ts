/** Config file text → raw value, with line:column for syntax errors and for later value errors. */
import type { Document } from 'yaml';
import { loadOnUse } from '../load-on-use.js';
import type { ConfigIssue } from './issues.js';

/** the YAML parser, loaded with the first config file (src/load-on-use.ts): most agents run without one */
const yaml = loadOnUse<typeof import('yaml')>('yaml');

export type FileFormat = 'yaml' | 'json';

export type ParsedFile =
  | {
    readonly ok: true;
    readonly format: FileFormat;
    readonly value: unknown;
    /** "name:line:col" of the value at `path` (or its nearest located ancestor). */
    readonly locate: (path: readonly (string | number)[]) => string;
  }
  | { readonly ok: false; readonly issues: ConfigIssue[] };

/** `.json` → JSON, `.yaml`/`.yml` → YAML; otherwise JSON when the text starts with `{`. */
export function detectFormat(name: string, text: string): FileFormat {
  const lower = name.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return 'yaml';
  return text.trimStart().startsWith('{') ? 'json' : 'yaml';
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const lines = before.split('\n');
  return { line: lines.length, col: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/** Node 20 says "at position N"; newer Nodes say "(line L column C)". */
function jsonErrorPos(text: string, message: string): { line: number; col: number } | undefined {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), col: Number(lc[2]) };
  const pos = /position (\d+)/.exec(message);
  if (pos) return lineCol(text, Number(pos[1]));
  if (/end of (JSON|data) input/i.test(message)) return lineCol(text, text.length);
  return undefined;
}

function fileIssue(origin: string, message: string, path = ''): ConfigIssue {
  return { source: 'file', path, message, origin };
}

/** Parse a config file's contents. `name` is used for format detection and in messages. */
export function parseConfigText(text: string, name: string): ParsedFile {
  const format = detectFormat(name, text);
  const { LineCounter, parseDocument, isNode } = yaml();
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });

  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(text) as unknown;
    } catch (e) {
      const msg = (e as Error).message;
      const pos = jsonErrorPos(text, msg);
      const origin = pos ? `${name}:${pos.line}:${pos.col}` : name;
      return { ok: false, issues: [fileIssue(origin, `JSON syntax error: ${msg}`)] };
    }
  } else {
    if (doc.errors.length > 0) {
      return {
        ok: false,
        issues: doc.errors.map((err) => {
          const { line, col } = lineCounter.linePos(err.pos[0]);
          return fileIssue(`${name}:${line}:${col}`, `YAML syntax error: ${err.message.split('\n')[0] ?? err.message}`);
        }),
      };
    }
    value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  }
  if (value === null || value === undefined) value = {}; // an empty file is an all-defaults file
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, issues: [fileIssue(name, `must contain a mapping of settings (got ${Array.isArray(value) ? 'a list' : typeof value})`)] };
  }

  // JSON is YAML 1.2 too, so the YAML document locates values in either format.
  const usable = doc.errors.length === 0;
  const locate = (path: readonly (string | number)[]): string => {
    if (!usable) return name;
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const { line, col } = lineCounter.linePos(node.range[0]);
        return `${name}:${line}:${col}`;
      }
    }
    return name;
  };
  return { ok: true, format, value, locate };
}
