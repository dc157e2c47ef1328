/**
 * The identity stage of the tcp probe: its per-connection-end records (local address, remote
 * address, server port, side) as pod series (`fovea.pod.tcp.*`) and workload-pair series
 * (`fovea.flow.tcp.*`).
 *
 * Counting rules:
 * - A socket the probe did not see open (it existed before the agent started) has no known side
 *   and is taken for the client's.
 * - A pod's own sockets are the records whose local address is the pod's: what it retransmitted,
 *   resets it sent and received, connections it opened (active: it connected; passive: it
 *   accepted), failed and closed, its handshake times. Retransmissions *towards* a pod (receive)
 *   are those of records whose remote address is the pod's.
 * - Pairs: retransmissions and resets go from the sender (source) to the other end. Connections,
 *   handshake time and RTT go from the client (source) to the server (destination), counted once:
 *   from the client's record, or from the server's when the client is neither on this node nor a
 *   pod of the cluster (whose own node's agent counts it). A reset received from such a peer counts too.
 * - "On this node": an address some record had as its local address in the last seriesTtlMs (a
 *   socket of this node's kernel, in any network namespace), or a local pod's.
 * - Pairs count opened connections without `fovea.tcp.open`: client → server says it.
 */
import type { Attributes } from '@opentelemetry/api';
import type { IdentitySource, PodInfo } from '../k8s/types.js';
import { ATTR, DIRECTION, INSTRUMENTS } from '../names.js';
import type { TcpConnRecord, TcpStateCount } from '../probes/tcp/layout.js';
import { TCP_SIDE } from '../probes/tcp/layout.js';
import { FamilyBuilder, addTcpSeries, statesByName, tcpVector, type TcpInstruments } from '../probes/tcp/probe.js';
import type { MetricFamily } from '../probes/types.js';
import { VectorAccumulator, type VectorReading } from './accumulator.js';
import { isClusterPod, pairAttributes, podAttributes, type PairOptions } from './endpoints.js';

export const POD_TCP_INSTRUMENTS: TcpInstruments = {
  retransmits: INSTRUMENTS.podTcpRetransmits, resets: INSTRUMENTS.podTcpResets, opened: INSTRUMENTS.podTcpOpened,
  failed: INSTRUMENTS.podTcpFailed, closed: INSTRUMENTS.podTcpClosed, handshake: INSTRUMENTS.podTcpHandshake,
};

export const FLOW_TCP_INSTRUMENTS: TcpInstruments = {
  retransmits: INSTRUMENTS.flowTcpRetransmits, resets: INSTRUMENTS.flowTcpResets, opened: INSTRUMENTS.flowTcpOpened,
  failed: INSTRUMENTS.flowTcpFailed, closed: INSTRUMENTS.flowTcpClosed, handshake: INSTRUMENTS.flowTcpHandshake,
  rtt: INSTRUMENTS.flowTcpRtt,
};

/** What this stage needs from the tcp probe. */
export interface TcpReadings {
  /** the records and state counts of the probe's last collect */
  connections(): { readonly conns: readonly TcpConnRecord[]; readonly states: readonly TcpStateCount[] };
}

export interface TcpSeriesDeps {
  readonly identity: IdentitySource;
  readonly tcp: TcpReadings;
  readonly settings: PairOptions & { readonly seriesTtlMs: number };
  readonly now?: () => number;
}

const seriesKey = (a: Attributes): string => JSON.stringify(Object.entries(a).sort());

export class TcpSeries {
  private readonly podOwn: VectorAccumulator;
  private readonly podTowards: VectorAccumulator;
  private readonly pairSent: VectorAccumulator;
  private readonly pairConns: VectorAccumulator;
  /** addresses seen as a record's local end (this node's sockets), and when: kept seriesTtlMs */
  private readonly localSeen = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: TcpSeriesDeps) {
    const ttl = deps.settings.seriesTtlMs;
    this.podOwn = new VectorAccumulator(ttl);
    this.podTowards = new VectorAccumulator(ttl);
    this.pairSent = new VectorAccumulator(ttl);
    this.pairConns = new VectorAccumulator(ttl);
    this.now = deps.now ?? Date.now;
  }

  collect(): MetricFamily[] {
    const now = this.now();
    const { conns, states } = this.deps.tcp.connections();
    const pods = new Map<string, PodInfo>();
    for (const p of this.deps.identity.localPods()) {
      if (!p.hostNetwork) for (const ip of p.ips) pods.set(ip, p);
    }
    // "On this node" must outlive a record: the client's record may leave the kernel (idle)
    // while the server's goes on, and the server's must not start counting the pair then.
    for (const r of conns) this.localSeen.set(r.local, now);
    for (const [ip, at] of this.localSeen) if (now - at > this.deps.settings.seriesTtlMs) this.localSeen.delete(ip);
    const onNode = (ip: string): boolean => pods.has(ip) || this.localSeen.has(ip);

    const own: VectorReading[] = [];
    const towards: VectorReading[] = [];
    const sent: VectorReading[] = [];
    const connsRead: VectorReading[] = [];
    const pair = (src: string, dst: string, serverPort: number): Attributes => ({
      ...pairAttributes(this.deps.identity, this.deps.settings, src, dst),
      [ATTR.transport]: 'tcp', [ATTR.serverPort]: serverPort,
    });
    for (const r of conns) {
      const v = tcpVector(r);
      const local = pods.get(r.local);
      if (local) own.push({ recordKey: r.recordKey, seriesKey: local.uid, attributes: podAttributes(local), values: v });
      const remote = pods.get(r.remote);
      if (remote) towards.push({ recordKey: r.recordKey, seriesKey: remote.uid, attributes: podAttributes(remote), values: [r.retransSegs] });

      const out = pair(r.local, r.remote, r.serverPort);
      const outKey = seriesKey(out);
      sent.push({ recordKey: `${r.recordKey}/s`, seriesKey: outKey, attributes: out, values: [r.retransSegs, r.resetsSent] });
      // the peer's own socket is counted where it runs: on this node, or (a pod) on its node
      const remoteOnNode = onNode(r.remote) || isClusterPod(this.deps.identity, r.remote);
      if (!remoteOnNode && r.resetsReceived > 0) {
        const inbound = pair(r.remote, r.local, r.serverPort);
        sent.push({ recordKey: `${r.recordKey}/r`, seriesKey: seriesKey(inbound), attributes: inbound, values: [0, r.resetsReceived] });
      }
      // the client's side; a socket the probe did not see open (side unknown) is taken for one
      if (r.side !== TCP_SIDE.server) {
        connsRead.push({ recordKey: r.recordKey, seriesKey: outKey, attributes: out, values: v });
      } else if (!remoteOnNode) {
        const a = pair(r.remote, r.local, r.serverPort);
        connsRead.push({ recordKey: r.recordKey, seriesKey: seriesKey(a), attributes: a, values: v });
      }
    }

    const result = new FamilyBuilder();
    for (const s of this.podOwn.update(own, now)) {
      addTcpSeries(result, POD_TCP_INSTRUMENTS, s.attributes, s.values, { retransmitDirection: DIRECTION.transmit });
    }
    // retransmitted towards a pod: its receive direction (its own are transmit, above)
    for (const s of this.podTowards.update(towards, now)) {
      result.add(INSTRUMENTS.podTcpRetransmits, { attributes: { ...s.attributes, [ATTR.ioDirection]: DIRECTION.receive }, value: s.values[0]! });
    }
    for (const [pod, byName] of statesByName(states, (s) => pods.get(s.local))) {
      const base = podAttributes(pod);
      for (const [state, n] of byName) result.add(INSTRUMENTS.podTcpConnections, { attributes: { ...base, [ATTR.connectionState]: state }, value: n });
    }
    for (const s of this.pairSent.update(sent, now)) {
      result.add(INSTRUMENTS.flowTcpRetransmits, { attributes: s.attributes, value: s.values[0]! });
      result.add(INSTRUMENTS.flowTcpResets, { attributes: s.attributes, value: s.values[1]! });
    }
    for (const s of this.pairConns.update(connsRead, now)) {
      addTcpSeries(result, FLOW_TCP_INSTRUMENTS, s.attributes, s.values,
        { retransmits: false, resetsSent: false, resetsReceived: false, openSplit: false });
    }
    return result.build();
  }
}
