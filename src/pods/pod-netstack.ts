/**
 * Each local pod's own kernel network counters (`fovea.pod.netstack.counter`): at every
 * collection, the netstack probe reads every pod whose network namespace is known (PodNetwork)
 * — through /proc/net files it opened inside that namespace once and keeps (src/kernel/netns.ts) —
 * and the values go out with the pod's identity attributes. After each collection the probe closes
 * the files of namespaces not read in it (pods that left discovery), which would otherwise keep a
 * deleted namespace alive.
 *
 * The values are the kernel's cumulative counters as they are: they only grow while the namespace
 * lives. A pod that left is not read any more, so its series end at once (the series producer
 * drops series not reported); a pod re-created under the same identity starts from zero and the
 * producer resets the series' start time. A pod whose namespace cannot be entered is skipped for
 * that collection (logged at a limited rate; the probe counts it as `netns_unreadable`). When the
 * namespace was deleted after discovery saw it (pod churn: the reading races the deletion), and that
 * is verifiable — the error is one a deletion causes and the path no longer names a namespace — the
 * skip is logged at debug: nothing is wrong.
 */
import { NetnsError, NetnsRestoreError, networkNamespaceGone } from '../kernel/netns.js';
import type { Logger } from '../log.js';
import { ATTR, INSTRUMENTS } from '../names.js';
import type { NetstackCounter } from '../probes/netstack/snmp.js';
import type { CounterSeries, MetricFamily } from '../probes/types.js';
import type { PodInfo } from '../k8s/types.js';
import type { Attributes } from '@opentelemetry/api';
import { RateLimitedLog } from '../agent/rate-limited.js';
import { podAttributes } from './endpoints.js';
import type { PodNamespace } from './pod-network.js';

/** What this stage needs from the netstack probe. */
export interface NetnsCounterReader {
  /** Counters inside the namespace at `netnsPath`; throws when it cannot be entered or read. */
  readNetns(netnsPath: string): readonly NetstackCounter[];
  /** Let go of every namespace not in `netnsPaths` (the reader keeps files of the namespaces it read open). */
  keepOnly(netnsPaths: ReadonlySet<string>): void;
}

export interface PodNetstackDeps {
  readonly reader: NetnsCounterReader;
  /** the local pods with a known network namespace, now */
  readonly pods: () => Iterable<PodNamespace>;
  readonly logger: Logger;
}

/** A pod's attribute sets by counter, and its last series with the counters they were made of. */
interface KeptPod {
  readonly pod: PodInfo;
  readonly byCounter: Map<string, Attributes>;
  counters?: readonly NetstackCounter[];
  series?: readonly CounterSeries[];
}

/** What entering a namespace fails with once it was deleted: its file gone (ENOENT), or left unmounted (setns: EINVAL). */
const DELETION_CODES: ReadonlySet<string> = new Set(['ENOENT', 'EINVAL']);

export class PodNetstack {
  private readonly warn: RateLimitedLog;
  private readonly log: Logger;
  /**
   * Each pod's attribute sets by counter, kept from export to export while the pod's PodInfo is the
   * same object (identity replaces it when anything about the pod changes) and frozen: their keys
   * and encodings are then built once (src/export/series-producer.ts, attributesKey).
   */
  private attrs = new Map<string, KeptPod>();

  constructor(private readonly deps: PodNetstackDeps) {
    this.log = deps.logger.child({ component: 'pod-netstack' });
    this.warn = new RateLimitedLog(this.log);
  }

  /**
   * Reads every pod now, then lets the reader close what it kept of namespaces no longer reported.
   * Rethrows NetnsRestoreError only (the agent exits on it).
   */
  collect(): MetricFamily[] {
    const series: CounterSeries[] = [];
    const read = new Set<string>();
    const attrs = new Map<string, KeptPod>();
    for (const { pod, netns } of this.deps.pods()) {
      read.add(netns);
      let counters: readonly NetstackCounter[];
      try {
        counters = this.deps.reader.readNetns(netns);
      } catch (err) {
        if (err instanceof NetnsRestoreError) throw err;
        if (err instanceof NetnsError && DELETION_CODES.has(err.code) && networkNamespaceGone(netns)) {
          this.log.debug({ pod: `${pod.namespace}/${pod.name}`, netns, err: err.message }, 'a pod\'s network namespace was deleted before its counters were read; skipped');
          continue;
        }
        const code = (err as { code?: unknown }).code;
        this.warn.warn(`netns:${typeof code === 'string' ? code : 'error'}`,
          { pod: `${pod.namespace}/${pod.name}`, netns, err: (err as Error).message },
          'cannot read a pod\'s network counters in its namespace; skipped');
        continue;
      }
      let kept = this.attrs.get(pod.uid);
      if (kept?.pod !== pod) kept = { pod, byCounter: new Map() };
      attrs.set(pod.uid, kept);
      // the reader gives the same counters object back while the pod's files are unchanged (an idle
      // pod): its series are those of the last collection, the same objects
      if (kept.counters !== counters || !kept.series) {
        let base: Attributes | undefined;
        const own: CounterSeries[] = [];
        for (const c of counters) {
          let a = kept.byCounter.get(c.counter);
          if (!a) kept.byCounter.set(c.counter, (a = Object.freeze({ ...(base ??= podAttributes(pod)), [ATTR.counterName]: c.counter })));
          own.push(Object.freeze({ attributes: a, value: c.value }));
        }
        kept.counters = counters;
        kept.series = own;
      }
      for (const s of kept.series) series.push(s);
    }
    this.attrs = attrs; // pods not read this time are forgotten
    this.deps.reader.keepOnly(read);
    return [{ instrument: INSTRUMENTS.podNetstackCounter, series }];
  }
}
