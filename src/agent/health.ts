/**
 * The agent's own health as series: probe up/down, map-read time and errors, kernel-side record
 * failures, attach failures, export failures, series folded by the cardinality cap. Fed by the
 * agent; exported through the same SeriesProducer as the kernel counters.
 */
import type { CounterSeries, MetricFamily, Probe } from '../probes/types.js';
import { ATTR, INSTRUMENTS } from '../names.js';

export interface HealthInputs {
  probes(): readonly Probe[];
  /** probes that were enabled but failed to start, with why */
  failedProbes(): ReadonlyMap<string, string>;
  exportFailures(): number;
  seriesOverflow(): number;
  /** flow table bookkeeping, when flows are tracked */
  flows?(): { live: number; evicted: number } | undefined;
  /** Kubernetes identity, when used */
  identity?(): { watchErrors: number; relists: number } | undefined;
}

export interface ReadStats {
  seconds: number;
  errors: number;
}

export class AgentHealth {
  private readonly reads = new Map<string, ReadStats>();

  constructor(private readonly inputs: HealthInputs) {}

  /** Records one map read of a probe (time taken, success). */
  recordRead(probe: string, seconds: number, ok: boolean): void {
    let r = this.reads.get(probe);
    if (!r) this.reads.set(probe, (r = { seconds: 0, errors: 0 }));
    r.seconds += seconds;
    if (!ok) r.errors++;
  }

  readStats(probe: string): ReadStats {
    return this.reads.get(probe) ?? { seconds: 0, errors: 0 };
  }

  collect(): MetricFamily[] {
    const up: CounterSeries[] = [];
    const duration: CounterSeries[] = [];
    const readErrors: CounterSeries[] = [];
    const failures: CounterSeries[] = [];
    const attached: CounterSeries[] = [];
    const attachFailures: CounterSeries[] = [];
    const shown = new Set<string>();
    for (const p of this.inputs.probes()) {
      const st = p.status();
      up.push({ attributes: { [ATTR.probe]: p.name, ...(st.hook ? { [ATTR.hook]: st.hook } : {}) }, value: st.state === 'up' ? 1 : 0 });
      const r = this.readStats(p.name);
      duration.push({ attributes: { [ATTR.probe]: p.name }, value: r.seconds });
      readErrors.push({ attributes: { [ATTR.probe]: p.name }, value: r.errors });
      shown.add(p.name);
      try {
        for (const f of p.recordFailures()) {
          failures.push({ attributes: { [ATTR.probe]: p.name, [ATTR.failureKind]: f.kind }, value: f.count });
        }
      } catch {
        // map unreadable: the read error is already counted by the probe's own read
      }
      const extra = p.health?.();
      if (extra?.attachedInterfaces !== undefined) attached.push({ attributes: { [ATTR.probe]: p.name }, value: extra.attachedInterfaces });
      if (extra?.attachFailures !== undefined) attachFailures.push({ attributes: { [ATTR.probe]: p.name }, value: extra.attachFailures });
    }
    for (const [name] of this.inputs.failedProbes()) up.push({ attributes: { [ATTR.probe]: name }, value: 0 });
    // other stages that read maps (the pod/identity stage reads the flow table)
    for (const [name, r] of this.reads) {
      if (shown.has(name)) continue;
      duration.push({ attributes: { [ATTR.probe]: name }, value: r.seconds });
      readErrors.push({ attributes: { [ATTR.probe]: name }, value: r.errors });
    }
    return [
      { instrument: INSTRUMENTS.probeUp, series: up },
      { instrument: INSTRUMENTS.mapReadDuration, series: duration },
      { instrument: INSTRUMENTS.mapReadErrors, series: readErrors },
      { instrument: INSTRUMENTS.recordFailures, series: failures },
      { instrument: INSTRUMENTS.attachedInterfaces, series: attached },
      { instrument: INSTRUMENTS.attachFailures, series: attachFailures },
      { instrument: INSTRUMENTS.exportFailures, series: [{ attributes: {}, value: this.inputs.exportFailures() }] },
      { instrument: INSTRUMENTS.seriesOverflow, series: [{ attributes: {}, value: this.inputs.seriesOverflow() }] },
      ...this.optional(),
    ];
  }

  private optional(): MetricFamily[] {
    const out: MetricFamily[] = [];
    const f = this.inputs.flows?.();
    if (f) {
      out.push({ instrument: INSTRUMENTS.flowRecords, series: [{ attributes: {}, value: f.live }] });
      out.push({ instrument: INSTRUMENTS.flowEvictions, series: [{ attributes: {}, value: f.evicted }] });
    }
    const id = this.inputs.identity?.();
    if (id) {
      out.push({ instrument: INSTRUMENTS.identityErrors, series: [{ attributes: {}, value: id.watchErrors }] });
      out.push({ instrument: INSTRUMENTS.identityRelists, series: [{ attributes: {}, value: id.relists }] });
    }
    return out;
  }
}
