/**
 * DNS events: the traffic probe's DNS ring (failed responses; every message when asked) and the
 * timed-out queries the DNS series stage sweeps from the kernel, as NetworkEvents with the parsed
 * name, type, response code and answers, and both ends' identity. A message the parser cannot read
 * is still an event, marked malformed, and counted.
 */
import type { IdentitySource } from '../k8s/types.js';
import type { RingReader } from '../kernel/ringbuf.js';
import { parseDnsMessage, qtypeName, wireName } from '../dns/message.js';
import { EVENT } from '../names.js';
import { DNS_VIEW, decodeDnsEvent, type DnsPendingQuery, type RawDnsEvent } from '../probes/dns/layout.js';
import type { EventLimitCount } from '../probes/drop/layout.js';
import { eventEndpoint, LocalPods } from './endpoints.js';
import type { DnsPart, EventName, NetworkEvent } from './types.js';

export interface DnsEventReadings {
  eventRing(): RingReader | undefined;
  readEventLimits(): EventLimitCount[];
}

export interface DnsEventSourceOptions {
  readonly tap: DnsEventReadings;
  readonly identity?: IdentitySource;
  readonly node: string;
  readonly maxPerDrain?: number;
  readonly monotonicNs?: () => bigint;
  readonly nowMs?: () => number;
  /** timed-out queries kept until the next drain, at most; beyond, the oldest are dropped and counted */
  readonly maxTimeouts?: number;
}

const TRANSPORT: Record<number, 'tcp' | 'udp'> = { 6: 'tcp', 17: 'udp' };
const VIEW: Record<number, DnsPart['view']> = { [DNS_VIEW.client]: 'client', [DNS_VIEW.server]: 'server' };

export class DnsEventSource {
  private readonly local: LocalPods;
  private readonly monotonicNs: () => bigint;
  private readonly nowMs: () => number;
  private readonly timedOut: DnsPendingQuery[] = [];
  private readonly byName = new Map<EventName, number>();
  private malformed = 0;
  private timeoutsDropped = 0;

  constructor(private readonly opts: DnsEventSourceOptions) {
    this.local = new LocalPods(opts.identity);
    this.monotonicNs = opts.monotonicNs ?? (() => process.hrtime.bigint());
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** Queries the series stage found timed out; they become events at the next drain. */
  addTimeouts(queries: readonly DnsPendingQuery[]): void {
    const max = this.opts.maxTimeouts ?? 10_000;
    for (const q of queries) {
      if (this.timedOut.length >= max) { this.timedOut.shift(); this.timeoutsDropped++; }
      this.timedOut.push(q);
    }
  }

  drain(): NetworkEvent[] {
    const offsetMs = this.nowMs() - Number(this.monotonicNs()) / 1e6;
    const out: NetworkEvent[] = [];
    const ring = this.opts.tap.eventRing();
    ring?.consume((view, off, len) => {
      let raw: RawDnsEvent;
      try {
        raw = decodeDnsEvent(view, off, len);
      } catch {
        this.malformed++;
        return;
      }
      out.push(this.messageEvent(raw, offsetMs));
    }, this.opts.maxPerDrain ?? 65_536);
    const nowMono = this.monotonicNs();
    for (const q of this.timedOut.splice(0)) out.push(this.timeoutEvent(q, offsetMs, nowMono));
    for (const e of out) this.byName.set(e.name, (this.byName.get(e.name) ?? 0) + 1);
    return out;
  }

  countsByName(): ReadonlyMap<EventName, number> {
    return this.byName;
  }

  /** messages the parser could not read, and timeouts dropped because too many waited for a drain */
  counts(): { malformed: number; timeoutsDropped: number } {
    return { malformed: this.malformed, timeoutsDropped: this.timeoutsDropped };
  }

  messageEvent(r: RawDnsEvent, offsetMs: number): NetworkEvent {
    const parsed = parseDnsMessage(r.data);
    const head = parsed.ok ? parsed.message : parsed.partial;
    const response = head?.flags.qr ?? false;
    const dns: { -readonly [K in keyof DnsPart]: DnsPart[K] } = {
      kind: response ? 'response' : 'query', view: VIEW[r.view] ?? 'client', id: head?.id ?? 0,
    };
    if (head?.question) { dns.name = head.question.name; dns.type = head.question.typeName; }
    if (response && head) dns.rcode = head.flags.rcodeName;
    if (parsed.ok && response) {
      dns.answers = parsed.message.answers.map((a) => a.data);
      dns.empty = parsed.message.empty;
    }
    if (r.latencyNs > 0) dns.latencyMs = r.latencyNs / 1e6;
    if (!parsed.ok) { dns.malformed = parsed.error; this.malformed++; }
    return {
      name: EVENT.dns,
      timeMs: Number(r.timestampNs) / 1e6 + offsetMs,
      source: eventEndpoint(this.opts.identity, r.src, r.sport, this.local),
      destination: eventEndpoint(this.opts.identity, r.dst, r.dport, this.local),
      ipVersion: r.ipVersion === 6 ? 6 : 4,
      transport: TRANSPORT[r.proto] ?? 'other',
      protocol: r.proto,
      ifindex: r.ifindex,
      direction: r.direction === 0 ? 'egress' : 'ingress', // host-side ingress = the pod sent it
      suppressed: r.suppressed,
      dns,
      node: this.opts.node,
    };
  }

  timeoutEvent(q: DnsPendingQuery, offsetMs: number, nowMono: bigint): NetworkEvent {
    const name = wireName(q.name);
    const dns: { -readonly [K in keyof DnsPart]: DnsPart[K] } = {
      kind: 'timeout', view: VIEW[q.view] ?? 'client', id: q.id, type: qtypeName(q.qtype),
      latencyMs: Number(nowMono - q.sentNs) / 1e6,
    };
    if (name) dns.name = name;
    return {
      name: EVENT.dnsTimeout,
      timeMs: Number(q.sentNs) / 1e6 + offsetMs,
      source: eventEndpoint(this.opts.identity, q.client, q.clientPort, this.local),
      destination: eventEndpoint(this.opts.identity, q.server, 53, this.local),
      ipVersion: q.ipVersion === 6 ? 6 : 4,
      transport: TRANSPORT[q.proto] ?? 'other',
      protocol: q.proto,
      ifindex: q.ifindex,
      dns,
      node: this.opts.node,
    };
  }
}
