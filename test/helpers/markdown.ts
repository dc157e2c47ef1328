/** Reading the tables of a markdown document, for the tests that keep docs equal to the code. */
import { expect } from 'vitest';

/**
 * The body rows of the table whose header row starts with `| firstHeader |`, each as its trimmed
 * cells; an escaped `\|` stays inside its cell (as `|`).
 */
export function markdownTable(doc: string, firstHeader: string): string[][] {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${firstHeader} |`));
  expect(start, `a table headed "${firstHeader}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.replace(/\\\|/g, '\u0000').split('|').slice(1, -1).map((c) => c.trim().replace(/\u0000/g, '|')));
  }
  return rows;
}
