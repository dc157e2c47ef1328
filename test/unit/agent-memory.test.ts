import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { fixMallocThresholds } from '../../src/agent/memory.js';

describe('fixMallocThresholds', () => {
  it('sets glibc malloc thresholds through mallopt, quietly', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(s); } });
    // the agent's image and the test machines run glibc
    expect(fixMallocThresholds(logger)).toBe(true);
    expect(lines).toEqual([]);
  });
});
