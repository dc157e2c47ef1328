import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS } from '../../src/runtime.js';

// V8's heap is per process, and this worker's young generation has grown long ago: each case runs the
// module in a fresh Node (the agent's V8 flags), V8's own heap statistics being the truth.
const dir = mkdtempSync(join(tmpdir(), 'fovea-young-gen-'));
writeFileSync(join(dir, 'young-generation.mjs'),
  transformSync(readFileSync(new URL('../../src/agent/young-generation.ts', import.meta.url), 'utf8'), { loader: 'ts', format: 'esm' }).code);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const prelude = `
import v8 from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdYoungGeneration, releaseYoungGenerationUnderPressure, youngGenerationHeld } from './young-generation.mjs';
const lines = [];
const logger = { info: (o, m) => lines.push(m) };
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const keep = [];
/** allocates mb MB of small objects, the last ~2 MB of them kept alive (survivors grow the young generation) */
const allocate = (mb) => { for (let i = 0; i < mb * 16; i++) { keep.push(Array.from({ length: 1000 }, (_, j) => ({ j }))); if (keep.length > 32) keep.shift(); } };
`;
function run(body: string): Record<string, unknown> {
  const file = join(dir, `case-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, prelude + body);
  return JSON.parse(execFileSync(process.execPath, [...AGENT_NODE_FLAGS, file], { encoding: 'utf8' })) as Record<string, unknown>;
}

describe('young generation held at start, released under allocation pressure', () => {
  it('does not grow while held, and grows again once a burst of scavenges released it', () => {
    const r = run(`
      holdYoungGeneration();
      allocate(4); // the first scavenges commit the second semi-space
      const initial = newSpace();
      releaseYoungGenerationUnderPressure(logger);
      allocate(200); // hundreds of scavenges in well under a second
      const afterBurst = newSpace();
      const heldAfterBurst = youngGenerationHeld();
      await sleep(100); // the observer sees the scavenges
      const heldLater = youngGenerationHeld();
      allocate(200);
      console.log(JSON.stringify({ initial, afterBurst, heldAfterBurst, heldLater, grown: newSpace(), lines }));
    `);
    expect(r['afterBurst']).toBe(r['initial']);
    expect(r['heldAfterBurst']).toBe(true);
    expect(r['heldLater']).toBe(false);
    expect(r['grown']).toBeGreaterThan(r['initial'] as number);
    expect(r['lines']).toEqual(['allocation pressure: young generation allowed to grow']);
  });

  it('stays held through scavenges spread out like idle exports', () => {
    const r = run(`
      holdYoungGeneration();
      allocate(4); // the first scavenges commit the second semi-space
      const initial = newSpace();
      releaseYoungGenerationUnderPressure(logger);
      for (let k = 0; k < 6; k++) { allocate(2); await sleep(400); } // a few scavenges every 400 ms
      console.log(JSON.stringify({ initial, after: newSpace(), held: youngGenerationHeld(), lines }));
    `);
    expect(r['held']).toBe(true);
    expect(r['after']).toBe(r['initial']);
    expect(r['lines']).toEqual([]);
  });

  it('without the hold, the same allocations grow it (what the hold prevents)', () => {
    const r = run(`
      allocate(4);
      const initial = newSpace();
      allocate(200);
      console.log(JSON.stringify({ initial, after: newSpace() }));
    `);
    expect(r['after']).toBeGreaterThan(r['initial'] as number);
  });
});
