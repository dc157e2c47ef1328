/**
 * The agent with fake probes and an in-memory pipeline: partial start, total failure, ordered
 * and idempotent shutdown whose final export carries the final values, and map-read failures
 * counted and logged at a limited rate. No kernel, no network; fake clock where time matters.
 */
import type { MetricData, MetricProducer } from '@opentelemetry/sdk-metrics';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent, AgentStartError, type AgentPipeline } from '../../src/agent/agent.js';
import { defaultConfig, type Config } from '../../src/config/index.js';
import { ATTR, INSTRUMENTS } from '../../src/names.js';
import type { MetricFamily, ProbeDefinition } from '../../src/probes/types.js';
import { FakeProbe, type FakeProbeOptions, type ProbeEvent } from '../helpers/fakes.js';

// The agent routes libbpf's log at start; that needs libbpf.so, which these tests do not.
vi.mock('../../src/kernel/libbpf-log.js', () => ({ routeLibbpfLog: () => undefined }));

/** What an OTLP pipeline does with the producer, kept in memory: every export is one collect. */
class MemoryPipeline implements AgentPipeline {
  readonly exports: MetricData[][] = [];
  readonly errors: unknown[][] = [];
  shutdowns = 0;
  exportsFailed = 0;
  constructor(private readonly producer: MetricProducer, private readonly events: ProbeEvent[] | string[]) {}
  async forceFlush(): Promise<void> {
    const r = await this.producer.collect();
    this.exports.push(r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics));
    this.errors.push(r.errors);
  }
  /** like MeterProvider.shutdown: one last export, then the exporter is shut down */
  async shutdown(): Promise<void> {
    (this.events as string[]).push('pipeline:shutdown');
    this.shutdowns++;
    await this.forceFlush();
  }
  stats(): { exportsFailed: number } {
    return { exportsFailed: this.exportsFailed };
  }
}

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

const packets = (value: number, probe = 'x'): MetricFamily[] =>
  [{ instrument: INSTRUMENTS.packets, series: [{ attributes: { [ATTR.interfaceName]: probe }, value }] }];

function harness(specs: Record<string, FakeProbeOptions>, config: Config = defaultConfig()) {
  const events: ProbeEvent[] = [];
  const probes = new Map<string, FakeProbe>();
  const defs: ProbeDefinition[] = Object.entries(specs).map(([name, o]) => ({
    name, description: name,
    create: () => { const p = new FakeProbe(name, { ...o, events }); probes.set(name, p); return p; },
  }));
  const { logger, lines } = capture();
  let pipeline: MemoryPipeline | undefined;
  const agent = new Agent({
    config, logger, bpfObjectDir: '/nonexistent', probes: defs,
    createPipeline: (producer) => (pipeline = new MemoryPipeline(producer, events)),
  });
  return { agent, events, probes, lines, pipeline: () => pipeline!, probe: (n: string) => probes.get(n)! };
}

const valueOf = (ms: MetricData[] | undefined, instrument: string, attrs: Record<string, unknown>): number | undefined =>
  ms?.find((m) => m.descriptor.name === instrument)?.dataPoints
    .find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value as number | undefined;

describe('Agent start', () => {
  it('one probe failing to start: reported down with why, stopped (nothing leaked), the others run', async () => {
    const h = harness({ drop: { startError: new Error('no BTF') }, traffic: { families: packets(5, 'eth0'), hook: 'tcx' } });
    h.agent.start();
    expect(h.agent.statuses()).toEqual([
      { name: 'traffic', state: 'up', hook: 'tcx' },
      { name: 'drop', state: 'down', detail: 'no BTF' },
    ]);
    expect(h.probe('drop').stops).toBe(1);
    expect(h.probe('drop').held).toBe(0);
    expect(h.lines.some((l) => l['msg'] === 'probe failed to start; continuing without it' && l['probe'] === 'drop')).toBe(true);
    await h.agent.flush();
    const ms = h.pipeline().exports[0];
    expect(valueOf(ms, INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 'eth0' })).toBe(5);
    expect(valueOf(ms, INSTRUMENTS.probeUp.name, { [ATTR.probe]: 'drop' })).toBe(0);
    expect(valueOf(ms, INSTRUMENTS.probeUp.name, { [ATTR.probe]: 'traffic', [ATTR.hook]: 'tcx' })).toBe(1);
    await h.agent.stop();
  });

  it('every probe failing: AgentStartError naming each, every probe stopped, no pipeline', () => {
    const h = harness({ drop: { startError: new Error('EPERM') }, traffic: { startError: new Error('no tc') } });
    expect(() => h.agent.start()).toThrow(AgentStartError);
    expect(() => h.agent.start()).toThrow(/already started/);
    for (const p of h.probes.values()) {
      expect(p.stops).toBe(1);
      expect(p.held).toBe(0);
    }
    expect(h.pipeline()).toBeUndefined();
  });

  it('the AgentStartError message says why for each probe', () => {
    const h = harness({ drop: { startError: new Error('EPERM') }, traffic: { startError: new Error('no tc') } });
    expect(() => h.agent.start()).toThrow(/drop: EPERM; traffic: no tc/);
  });

  it('disabled probes are never created', () => {
    const base = defaultConfig();
    const config = { ...base, probes: { ...base.probes, drop: { enabled: false } } } as Config;
    const h = harness({ drop: {}, traffic: {} }, config);
    h.agent.start();
    expect([...h.probes.keys()]).toEqual(['traffic']);
    expect(h.agent.statuses().map((s) => s.name)).toEqual(['traffic']);
  });

  it('stop after a failed start leaks nothing and resolves', async () => {
    const h = harness({ drop: { startError: new Error('x') }, traffic: { startError: new Error('y') } });
    expect(() => h.agent.start()).toThrow(AgentStartError);
    await h.agent.stop();
    for (const p of h.probes.values()) expect(p.held).toBe(0);
  });

  it('probes loaded first (loadProbes), started later with event outputs made in between; stop after loading alone frees them', async () => {
    const h = harness({ drop: {}, traffic: { families: packets(5, 'eth0') } });
    h.agent.loadProbes();
    expect([...h.probes.keys()]).toEqual(['drop', 'traffic']);
    expect(h.pipeline()).toBeUndefined(); // no export side yet
    expect(() => h.agent.loadProbes()).toThrow(/already loaded/);
    const closed: string[] = [];
    const output = { name: 'test', write: () => undefined, flush: async () => undefined, close: async () => { closed.push('closed'); } };
    h.agent.start([output] as never);
    expect([...h.probes.keys()]).toEqual(['drop', 'traffic']); // not loaded twice
    await h.pipeline().forceFlush();
    expect(valueOf(h.pipeline().exports.at(-1), INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 'eth0' })).toBe(5);
    await h.agent.stop();
    for (const p of h.probes.values()) expect(p.held).toBe(0);
    expect(closed).toEqual(['closed']); // the outputs given to start() are the ones closed at stop

    const loadedOnly = harness({ drop: {} });
    loadedOnly.agent.loadProbes();
    await loadedOnly.agent.stop();
    expect(loadedOnly.probe('drop').stops).toBe(1);
    expect(loadedOnly.probe('drop').held).toBe(0);
  });

  it('stop without start resolves and touches nothing', async () => {
    const h = harness({ drop: {} });
    await h.agent.stop();
    expect(h.probes.size).toBe(0);
  });
});

describe('Agent stop', () => {
  it('detaches before the final read; the final export carries the final values (the snapshot)', async () => {
    // the counter grows at every read: 10, 20, 30 ...
    const h = harness({ drop: { families: (n) => packets(10 * (n + 1), 'd') }, traffic: { families: (n) => packets(100 * (n + 1), 't') } });
    h.agent.start();
    await h.agent.flush(); // read #1: 10 / 100
    await h.agent.stop(); // final read #2 after detach: 20 / 200
    for (const name of ['drop', 'traffic']) {
      const p = h.probe(name);
      const mine = h.events.filter((e) => e.startsWith(`${name}:`) && !e.endsWith(':recordFailures'));
      expect(mine).toEqual([`${name}:start`, `${name}:collect`, `${name}:detach`, `${name}:collect`, `${name}:stop`]);
      expect(p.attachedAtCollect).toEqual([true, false]); // the final read happened detached
      expect(p.held).toBe(0);
    }
    // every probe is stopped before the pipeline shuts down (final export)
    expect(h.events.indexOf('pipeline:shutdown' as ProbeEvent)).toBeGreaterThan(h.events.lastIndexOf('traffic:stop'));
    const last = h.pipeline().exports.at(-1);
    expect(valueOf(last, INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 'd' })).toBe(20);
    expect(valueOf(last, INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 't' })).toBe(200);
    // the stopped probes were not read again for the final export: the snapshot was used
    expect(h.probe('drop').collects).toBe(2);
  });

  it('is idempotent: one shutdown, one stop per probe, same promise', async () => {
    const h = harness({ drop: {}, traffic: {} });
    h.agent.start();
    const a = h.agent.stop();
    const b = h.agent.stop();
    expect(b).toBe(a);
    await Promise.all([a, b, h.agent.stop()]);
    expect(h.pipeline().shutdowns).toBe(1);
    for (const p of h.probes.values()) expect(p.stops).toBe(1);
  });

  it('a final read that throws: logged, the probe still stopped, the shutdown completes', async () => {
    const h = harness({ drop: { families: packets(1) }, traffic: { families: packets(2, 't') } });
    h.agent.start();
    h.probe('drop').collectError = new Error('EBADF');
    await h.agent.stop();
    expect(h.probe('drop').stops).toBe(1);
    expect(h.probe('traffic').stops).toBe(1);
    expect(h.lines.some((l) => l['msg'] === 'final read failed' && l['probe'] === 'drop')).toBe(true);
    expect(h.pipeline().shutdowns).toBe(1);
    expect(valueOf(h.pipeline().exports.at(-1), INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 't' })).toBe(2);
  });

  it('a pipeline shutdown that never finishes is bounded by shutdownTimeoutMs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const h = harness({ drop: {} });
      h.agent.start();
      h.pipeline().shutdown = () => new Promise(() => undefined); // collector hangs
      const done = h.agent.stop();
      await vi.advanceTimersByTimeAsync(defaultConfig().shutdownTimeoutMs);
      await done;
      expect(h.lines.some((l) => l['msg'] === 'final export did not finish in time')).toBe(true);
      expect(h.probe('drop').stops).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Agent: map-read failures', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('are counted in health, do not stop other probes, and are logged at most once a minute per probe', async () => {
    const h = harness({ drop: { families: packets(1, 'd') }, traffic: { families: packets(7, 't') } });
    h.agent.start();
    h.probe('drop').collectError = new Error('EFAULT');
    for (let i = 0; i < 5; i++) { await h.agent.flush(); vi.advanceTimersByTime(10_000); }
    // the 5 failed reads of drop are counted; traffic exported every time
    const errorsAt = (ms: MetricData[] | undefined) => valueOf(ms, INSTRUMENTS.mapReadErrors.name, { [ATTR.probe]: 'drop' });
    // health is collected after the probes within one collection, so export n shows n failures
    expect(h.pipeline().exports.map(errorsAt)).toEqual([1, 2, 3, 4, 5]);
    expect(h.pipeline().exports.map((ms) => valueOf(ms, INSTRUMENTS.mapReadErrors.name, { [ATTR.probe]: 'traffic' }))).toEqual([0, 0, 0, 0, 0]);
    expect(h.pipeline().exports.map((ms) => valueOf(ms, INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 't' }))).toEqual([7, 7, 7, 7, 7]);
    // a failed read exports no drop series (not stale values), and is not a producer error
    expect(h.pipeline().exports.every((ms) => valueOf(ms, INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 'd' }) === undefined)).toBe(true);
    expect(h.pipeline().errors.flat()).toEqual([]);
    // 5 failures in 40 s: one log line
    const warns = () => h.lines.filter((l) => l['msg'] === 'map read failed');
    expect(warns()).toHaveLength(1);
    expect(warns()[0]).toMatchObject({ probe: 'drop', err: 'EFAULT' });
    vi.advanceTimersByTime(20_000); // 60 s after the first line
    await h.agent.flush();
    expect(warns()).toHaveLength(2);
    expect(warns()[1]).toMatchObject({ probe: 'drop', suppressedSinceLast: 4 });
    // recovery: the read succeeds again and the series is back
    h.probe('drop').collectError = undefined;
    await h.agent.flush();
    expect(valueOf(h.pipeline().exports.at(-1), INSTRUMENTS.packets.name, { [ATTR.interfaceName]: 'd' })).toBe(1);
    await h.agent.stop();
  });

  it('record failures from the probes are exported; a throwing recordFailures is skipped', async () => {
    const h = harness({
      drop: { failures: [{ kind: 'map_full', count: 3, lost: true }, { kind: 'header_unreadable', count: 9, lost: false }] },
      traffic: {},
    });
    h.agent.start();
    h.probe('traffic').failuresError = new Error('EBADF');
    await h.agent.flush();
    const ms = h.pipeline().exports[0];
    expect(valueOf(ms, INSTRUMENTS.recordFailures.name, { [ATTR.probe]: 'drop', [ATTR.failureKind]: 'map_full' })).toBe(3);
    expect(valueOf(ms, INSTRUMENTS.recordFailures.name, { [ATTR.probe]: 'drop', [ATTR.failureKind]: 'header_unreadable' })).toBe(9);
    expect(h.pipeline().errors.flat()).toEqual([]);
    await h.agent.stop();
  });
});
