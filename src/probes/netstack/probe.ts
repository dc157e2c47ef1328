/**
 * Probe "netstack": the kernel's own protocol counters (TCP opens, failures, resets and
 * retransmits, listen queue overflows, UDP errors, IP discards — src/probes/netstack/snmp.ts) of a
 * network namespace, read from /proc/net/{snmp,netstat,snmp6}. No eBPF program: the kernel keeps
 * these per namespace already.
 *
 * - The node: the agent's own namespace — the host's, as the DaemonSet runs with hostNetwork →
 *   `fovea.netstack.counter` at every collection (collect()).
 * - A pod: its namespace's files, opened inside it once (setns(2) on this thread) and re-read from
 *   the agent's own namespace at every collection (src/kernel/netns.ts) → readNetns(), which the
 *   pod stage (src/pods/pod-netstack.ts) calls per pod, then keepOnly() with the namespaces it read
 *   → `fovea.pod.netstack.counter`.
 *
 * Counted as record failures (`fovea.agent.kernel.record.failures{fovea.probe="netstack"}`):
 * `netns_unreadable` — a pod's namespace could not be entered or read (that pod's counters are
 * missing from that collection); `malformed` — a protocol block of a /proc/net file could not be
 * parsed (its counters are missing from that reading).
 */
import type { Attributes } from '@opentelemetry/api';
import { KeptFiles, NetnsFiles, NetnsRestoreError, THREAD_PROC_NET, type DependentFile } from '../../kernel/netns.js';
import type { Logger } from '../../log.js';
import { ATTR, INSTRUMENTS } from '../../names.js';
import { RateLimitedLog } from '../../agent/rate-limited.js';
import type { MetricFamily, Probe, ProbeContext, ProbeStatus, RecordFailure } from '../types.js';
import { parseNetstack, type NetstackCounter } from './snmp.js';

/** What the probe reads, in this order. */
export const NETSTACK_FILES = [`${THREAD_PROC_NET}/snmp`, `${THREAD_PROC_NET}/netstat`, `${THREAD_PROC_NET}/snmp6`] as const;

/**
 * /proc/net/netstat (the largest of the three to print: ~4 KB, its read costs the kernel about as
 * much as the other two together) is read only when snmp or snmp6 changed at this reading or the one
 * before, and at least every sixth reading (a minute at the default 10 s export). Why that is
 * enough: the counters taken from it, TcpExt ListenOverflows and ListenDrops, move only on a packet
 * the namespace received — a SYN or ACK at a listener (tcp_conn_request, syn_recv_sock), an ICMP
 * error for a request (tcp_req_err) — and every received IPv4 packet moves Ip InReceives (snmp),
 * every IPv6 one Ip6InReceives (snmp6), every TCP segment Tcp InSegs (snmp). The reading after a
 * change is taken too, for a packet counted by IP just before the snmp read and by TCP only after
 * the netstat read. An idle pod's netstat is then read once a minute; a pod with traffic, at every
 * export as before. A value is never lost, at worst (if that reasoning missed a path) late.
 */
export const NETSTACK_DEPENDENT: DependentFile = { index: 1, on: [0, 2], maxSkipped: 5 };

/** How the probe reads NETSTACK_FILES: in its own namespace, and inside others (test seam). */
export interface NetstackIo {
  readOwn(): Array<string | undefined>;
  readIn(netnsPath: string): Array<string | undefined>;
  /** As readIn, but undefined when the files' bytes are those of the previous reading of that namespace. */
  readChangedIn?(netnsPath: string): Array<string | undefined> | undefined;
  /** Let go of (close the kept files of) every namespace not in `netnsPaths`. */
  keepOnly(netnsPaths: ReadonlySet<string>): void;
  close(): void;
}

/** The real thing: the files of the agent's own namespace and of pods' (src/kernel/netns.ts), opened once and kept. */
function kernelIo(): NetstackIo {
  const scratch = { buf: Buffer.allocUnsafe(16_384) };
  let own: KeptFiles | undefined;
  const pods = new NetnsFiles(NETSTACK_FILES, { dependent: NETSTACK_DEPENDENT });
  return {
    readOwn: () => (own ??= KeptFiles.open(NETSTACK_FILES)).read(scratch),
    readIn: (path) => pods.read(path),
    readChangedIn: (path) => pods.readChanged(path),
    keepOnly: (paths) => pods.keepOnly(paths),
    close: () => { own?.close(); own = undefined; pods.close(); },
  };
}

export const NETSTACK_FAILURE = { netnsUnreadable: 'netns_unreadable', malformed: 'malformed' } as const;

export class NetstackProbe implements Probe {
  readonly name = 'netstack';
  private state: ProbeStatus = { name: 'netstack', state: 'down', detail: 'not started' };
  private netnsUnreadable = 0;
  private malformed = 0;
  private readonly nodeAttrs = new Map<string, Attributes>();
  /**
   * Each pod namespace's last counters (dropped with keepOnly), and the texts they were parsed from
   * when the io cannot say itself that the files did not change (readChangedIn).
   */
  private readonly lastParsed = new Map<string, { texts?: ReadonlyArray<string | undefined>; counters: NetstackCounter[] }>();
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;

  constructor(ctx: ProbeContext, private readonly io: NetstackIo = kernelIo()) {
    this.log = ctx.logger.child({ probe: this.name });
    this.warn = new RateLimitedLog(this.log);
  }

  /** Reads the agent's own counters once: a host without /proc/net/snmp fails here, not at every export. */
  start(): void {
    const [snmp] = this.io.readOwn();
    if (snmp === undefined) throw new Error(`${NETSTACK_FILES[0]} not found (is /proc mounted?)`);
    this.state = { name: this.name, state: 'up', hook: 'procfs' };
  }

  collect(): MetricFamily[] {
    const counters = this.parse('host', this.io.readOwn());
    return [{
      instrument: INSTRUMENTS.netstackCounter,
      series: counters.map((c) => ({ attributes: this.counterAttributes(c.counter), value: c.value })),
    }];
  }

  /** The node series' attribute set of a counter, kept and frozen (its key and encoding are built once). */
  private counterAttributes(counter: string): Attributes {
    let a = this.nodeAttrs.get(counter);
    if (!a) this.nodeAttrs.set(counter, (a = Object.freeze({ [ATTR.counterName]: counter })));
    return a;
  }

  /**
   * The counters of the network namespace mounted at `netnsPath` (a pod's). Throws NetnsError when
   * it is gone or cannot be entered or read (counted), NetnsRestoreError when the thread could not
   * come back (fatal: see src/kernel/netns.ts). Its files stay open until keepOnly() leaves it out.
   */
  readNetns(netnsPath: string): NetstackCounter[] {
    const last = this.lastParsed.get(netnsPath);
    const byBytes = this.io.readChangedIn !== undefined;
    let texts: Array<string | undefined> | undefined;
    try {
      texts = last && byBytes ? this.io.readChangedIn!(netnsPath) : this.io.readIn(netnsPath);
    } catch (err) {
      if (!(err instanceof NetnsRestoreError)) this.netnsUnreadable++;
      throw err;
    }
    // the same bytes (or texts) as last time (an idle pod): the same counters, without parsing them again
    if (last && texts === undefined) return last.counters;
    const now = texts!;
    if (last?.texts && last.texts.length === now.length && last.texts.every((t, i) => t === now[i])) return last.counters;
    const problems = this.malformed;
    const counters = this.parse(netnsPath, now);
    if (this.malformed === problems) this.lastParsed.set(netnsPath, byBytes ? { counters } : { texts: now, counters });
    else this.lastParsed.delete(netnsPath); // problems are counted at every reading, as before
    return counters;
  }

  /** Closes the kept files of every pod namespace not in `netnsPaths` (they would keep a deleted namespace alive). */
  keepOnly(netnsPaths: ReadonlySet<string>): void {
    this.io.keepOnly(netnsPaths);
    for (const p of this.lastParsed.keys()) if (!netnsPaths.has(p)) this.lastParsed.delete(p);
  }

  private parse(where: string, [snmp, netstat, snmp6]: Array<string | undefined>): NetstackCounter[] {
    const r = parseNetstack({ snmp, netstat, snmp6 });
    if (r.problems.length) {
      this.malformed += r.problems.length;
      for (const p of r.problems) {
        this.warn.warn(`malformed:${p.file}:${p.protocol}`, { netns: where, file: p.file, protocol: p.protocol, reason: p.reason },
          'kernel counters block not understood; its counters are skipped');
      }
    }
    return r.counters;
  }

  recordFailures(): RecordFailure[] {
    return [
      { kind: NETSTACK_FAILURE.netnsUnreadable, count: this.netnsUnreadable, lost: true },
      { kind: NETSTACK_FAILURE.malformed, count: this.malformed, lost: true },
    ];
  }

  status(): ProbeStatus {
    return this.state;
  }

  /** Nothing is attached; the counters stay readable for the final collect. */
  detach(): void {}

  /** Closes every kept file (a read after this opens them again). */
  stop(): void {
    this.io.close();
  }
}
