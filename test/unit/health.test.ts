/** AgentHealth: the agent's own numbers as series, from fake probes and inputs. */
import { describe, expect, it } from 'vitest';
import { AgentHealth } from '../../src/agent/health.js';
import { RateLimitedLog } from '../../src/agent/rate-limited.js';
import { ATTR, INSTRUMENTS, type InstrumentName } from '../../src/names.js';
import type { MetricFamily, Probe } from '../../src/probes/types.js';
import { FakeProbe } from '../helpers/fakes.js';
import { pino } from 'pino';

function setup(probes: Probe[], failed: Record<string, string> = {}) {
  const state = { exportFailures: 0, overflow: 0 };
  const health = new AgentHealth({
    probes: () => probes,
    failedProbes: () => new Map(Object.entries(failed)),
    exportFailures: () => state.exportFailures,
    seriesOverflow: () => state.overflow,
  });
  return { health, state };
}

const series = (fams: MetricFamily[], i: InstrumentName) => fams.find((f) => f.instrument.name === i.name)?.series;

describe('AgentHealth', () => {
  it('emits every health instrument, in a fixed order, even with nothing to report', () => {
    const { health } = setup([]);
    expect(health.collect().map((f) => f.instrument)).toEqual([
      INSTRUMENTS.probeUp, INSTRUMENTS.mapReadDuration, INSTRUMENTS.mapReadErrors, INSTRUMENTS.recordFailures,
      INSTRUMENTS.attachedInterfaces, INSTRUMENTS.attachFailures, INSTRUMENTS.exportFailures, INSTRUMENTS.seriesOverflow,
    ]);
  });

  it('probe up: 1 with its hook when up, 0 when down; failed-to-start probes are 0 without hook', () => {
    const up = new FakeProbe('drop', { hook: 'tp_btf/kfree_skb' });
    up.start();
    const down = new FakeProbe('traffic'); // never started
    const { health } = setup([up, down], { dns: 'EPERM' });
    expect(series(health.collect(), INSTRUMENTS.probeUp)).toEqual([
      { attributes: { [ATTR.probe]: 'drop', [ATTR.hook]: 'tp_btf/kfree_skb' }, value: 1 },
      { attributes: { [ATTR.probe]: 'traffic' }, value: 0 },
      { attributes: { [ATTR.probe]: 'dns' }, value: 0 },
    ]);
  });

  it('map reads: seconds summed, errors counted, per probe', () => {
    const p = new FakeProbe('drop');
    const { health } = setup([p, new FakeProbe('traffic')]);
    health.recordRead('drop', 0.25, true);
    health.recordRead('drop', 0.5, false);
    health.recordRead('drop', 0.125, false);
    expect(health.readStats('drop')).toEqual({ seconds: 0.875, errors: 2 });
    expect(health.readStats('never')).toEqual({ seconds: 0, errors: 0 });
    const fams = health.collect();
    expect(series(fams, INSTRUMENTS.mapReadDuration)).toEqual([
      { attributes: { [ATTR.probe]: 'drop' }, value: 0.875 },
      { attributes: { [ATTR.probe]: 'traffic' }, value: 0 },
    ]);
    expect(series(fams, INSTRUMENTS.mapReadErrors)).toEqual([
      { attributes: { [ATTR.probe]: 'drop' }, value: 2 },
      { attributes: { [ATTR.probe]: 'traffic' }, value: 0 },
    ]);
  });

  it('kernel record failures per probe and kind; an unreadable error map is skipped, not thrown', () => {
    const ok = new FakeProbe('drop', { failures: [{ kind: 'map_full', count: 4, lost: true }] });
    const broken = new FakeProbe('traffic');
    broken.failuresError = new Error('EBADF');
    const { health } = setup([ok, broken]);
    expect(series(health.collect(), INSTRUMENTS.recordFailures)).toEqual([
      { attributes: { [ATTR.probe]: 'drop', [ATTR.failureKind]: 'map_full' }, value: 4 },
    ]);
  });

  it('probe-specific numbers only for probes that have them', () => {
    const traffic = Object.assign(new FakeProbe('traffic'), { health: () => ({ attachedInterfaces: 3, attachFailures: 1 }) });
    const { health } = setup([new FakeProbe('drop'), traffic]);
    const fams = health.collect();
    expect(series(fams, INSTRUMENTS.attachedInterfaces)).toEqual([{ attributes: { [ATTR.probe]: 'traffic' }, value: 3 }]);
    expect(series(fams, INSTRUMENTS.attachFailures)).toEqual([{ attributes: { [ATTR.probe]: 'traffic' }, value: 1 }]);
  });

  it('export failures and overflowed series are read at each collect', () => {
    const { health, state } = setup([]);
    state.exportFailures = 2;
    state.overflow = 17;
    const fams = health.collect();
    expect(series(fams, INSTRUMENTS.exportFailures)).toEqual([{ attributes: {}, value: 2 }]);
    expect(series(fams, INSTRUMENTS.seriesOverflow)).toEqual([{ attributes: {}, value: 17 }]);
  });
});

describe('RateLimitedLog', () => {
  it('note: the first occurrence at once, then every occurrence since the last line, once per interval; reset starts over', () => {
    let now = 0;
    const log = new RateLimitedLog(pino({ level: 'silent' }), 1_000, () => now);
    const seen: number[] = [];
    const note = (n: number) => log.note('q', n, (c) => seen.push(c));
    note(3); // t = 0: logged
    now = 500; note(2); note(4); // suppressed
    now = 1_000; note(1); // 2 + 4 + 1
    now = 1_200; note(5);
    log.reset('q');
    note(6); // logged at once after a reset
    expect(seen).toEqual([3, 7, 6]);
  });

  it('one line per key per interval, then the number suppressed', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
    let now = 0;
    const log = new RateLimitedLog(logger, 1_000, () => now);
    for (let i = 0; i < 10; i++) { log.warn('a', { i }, 'fail a'); now += 100; } // t = 0 .. 900
    log.warn('b', {}, 'fail b'); // another key is not suppressed by a's
    now = 1_000;
    log.warn('a', { i: 10 }, 'fail a');
    expect(lines.map((l) => [l['msg'], l['i'], l['suppressedSinceLast']])).toEqual([
      ['fail a', 0, undefined], ['fail b', undefined, undefined], ['fail a', 10, 9],
    ]);
  });
});
