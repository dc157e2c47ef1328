/** The command registry against the command modules it loads lazily. */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/commands/index.js';
import { main } from '../../src/cli.js';

describe('command registry', () => {
  it('each entry loads the command of that name, with the same summary', async () => {
    for (const entry of COMMANDS) {
      const cmd = await entry.load();
      expect(cmd.name).toBe(entry.name);
      expect(cmd.summary).toBe(entry.summary);
    }
  });

  it('usage lists every command; an unknown one is a usage error', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} } as never;
    expect(await main(['--help'], io)).toBe(0);
    for (const c of COMMANDS) expect(out.join('')).toContain(c.name);
    expect(await main(['nope'], io)).toBe(2);
    expect(err.join('')).toMatch(/unknown command "nope"/);
    expect(await main(['help', 'reasons'], io)).toBe(0);
    expect(out.join('')).toMatch(/Usage: fovea reasons/);
  });
});
