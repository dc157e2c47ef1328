/** `fovea demo` flags, and the traffic loop's load curve. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PODS, parseDemoArgs, parseSeconds } from '../../src/demo/options.js';
import { INTENSITY_PERIOD_MS, intensityAt } from '../../src/demo/traffic-loop.js';

describe('parseDemoArgs', () => {
  it('defaults: live view, 3 pods, 1 s exports, until Ctrl-C', () => {
    expect(parseDemoArgs([])).toEqual({
      ok: true,
      options: { help: false, pods: DEFAULT_PODS, view: true, json: false, hostInterface: false, intervalMs: 1_000 },
    });
  });

  it('--duration in seconds or with a unit; --json implies no view', () => {
    const r = parseDemoArgs(['--duration', '8', '--json', '--pods', '4', '--host-interface', '--interval=2s']);
    expect(r).toEqual({
      ok: true,
      options: { help: false, durationMs: 8_000, pods: 4, view: false, json: true, hostInterface: true, intervalMs: 2_000 },
    });
    expect(parseDemoArgs(['--duration', '2m', '--no-view'])).toMatchObject({ ok: true, options: { durationMs: 120_000, view: false, json: false } });
    expect(parseDemoArgs(['-h'])).toMatchObject({ ok: true, options: { help: true } });
  });

  it('reports every bad value at once', () => {
    const r = parseDemoArgs(['--duration', 'soon', '--pods', '1', '--interval', '50ms']);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message.split('\n')).toHaveLength(3);
    expect(r.message).toContain('--duration');
    expect(r.message).toContain('--pods: expected an integer in 2..16, got "1"');
    expect(r.message).toContain('--interval');
  });

  it('unknown flags and stray arguments are errors', () => {
    expect(parseDemoArgs(['--bogus']).ok).toBe(false);
    expect(parseDemoArgs(['now']).ok).toBe(false);
  });

  it('parseSeconds', () => {
    expect(parseSeconds('30')).toBe(30_000);
    expect(parseSeconds('1.5m')).toBe(90_000);
    expect(parseSeconds('500ms')).toBe(500);
    expect(parseSeconds('-1')).toBeUndefined();
  });
});

describe('intensityAt', () => {
  it('swings between 0.1 and 1 over the period, starting low', () => {
    expect(intensityAt(0)).toBeCloseTo(0.1);
    expect(intensityAt(INTENSITY_PERIOD_MS / 2)).toBeCloseTo(1);
    for (let t = 0; t < 2 * INTENSITY_PERIOD_MS; t += 997) {
      expect(intensityAt(t)).toBeGreaterThanOrEqual(0.1 - 1e-9);
      expect(intensityAt(t)).toBeLessThanOrEqual(1 + 1e-9);
    }
  });
});
