/**
 * Drop, flow and TCP events: the one shape every event stage shares. Producers (the drop and tcp
 * probes' ring buffer readers, the flow-table reader) build them; sinks (the OTLP log exporter, the `fovea
 * observe` server) consume them. Plain data, JSON-serialisable as is (`fovea observe -o json`).
 */
import type { EVENT, VERDICT } from '../names.js';

export type EventName = (typeof EVENT)[keyof typeof EVENT];
export type Verdict = (typeof VERDICT)[keyof typeof VERDICT];
export type Transport = 'tcp' | 'udp' | 'icmp' | 'other' | 'unknown';

/** One end of a packet or flow, with what the identity source knows about its address. */
export interface EventEndpoint {
  /** canonical IP text; '' when the packet was not IP or its header was unreadable */
  readonly ip: string;
  /** TCP/UDP port; absent for other protocols */
  readonly port?: number;
  /** what the address is: a pod, a Service cluster IP, a node, or nothing known ('external') */
  readonly kind: 'pod' | 'service' | 'node' | 'external';
  readonly namespace?: string;
  readonly pod?: string;
  readonly podUid?: string;
  readonly workloadKind?: string;
  readonly workloadName?: string;
  readonly service?: string;
  /** the node the pod runs on, or the node an address belongs to */
  readonly node?: string;
  /** a pod on this agent's node */
  readonly local?: boolean;
}

/** The flow-record part of a FORWARDED flow event. */
export interface FlowPart {
  /** new: first record of the flow; active: a periodic record; ended: the flow went idle or left the table */
  readonly state: 'new' | 'active' | 'ended';
  /** packets and bytes since the previous record of this flow */
  readonly packets: number;
  readonly bytes: number;
  /** totals since the flow was first seen */
  readonly totalPackets: number;
  readonly totalBytes: number;
  /** Unix ms */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

/** What a TCP event (reset, failed connect, retransmission) says beyond its two ends. */
export interface TcpPart {
  /** reset_sent / reset_received: a reset, seen by the socket that sent or got it */
  readonly kind: 'reset_sent' | 'reset_received' | 'connect_failed' | 'retransmit';
  /** which end the socket that saw it is: client (it connected), server (it accepted), or not known */
  readonly side: 'client' | 'server' | 'unknown';
  /** the socket's state then (`network.connection.state` values); absent for a reset without a socket */
  readonly state?: string;
  /** connect_failed: what the kernel saw (`fovea.tcp.failure`) and the socket's error */
  readonly failure?: string;
  readonly error?: string;
  /** retransmit: segments sent again */
  readonly segments?: number;
}

/** What a DNS event says: the message as parsed (names from the kernel's copy of it). */
export interface DnsPart {
  /** query, response, or timeout (a query that got no response in time) */
  readonly kind: 'query' | 'response' | 'timeout';
  /** whose veth saw it: the client pod's or the server pod's */
  readonly view: 'client' | 'server';
  readonly id: number;
  /** the first question; absent when unreadable */
  readonly name?: string;
  readonly type?: string;
  /** responses: the code by name (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, RCODE<n>) */
  readonly rcode?: string;
  /** responses: A/AAAA/CNAME… data of the answers the copy holds */
  readonly answers?: readonly string[];
  /** a NOERROR response without answers */
  readonly empty?: boolean;
  /** responses matched to their query: the time between, ms; timeouts: how long it waited */
  readonly latencyMs?: number;
  /** the copy could not be parsed: why (short_header, truncated, pointer_loop …) */
  readonly malformed?: string;
}

export interface NetworkEvent {
  readonly name: EventName;
  /** Unix time in ms (fraction = sub-ms) of the drop, or of the flow record's last packet */
  readonly timeMs: number;
  /** drops and flows; TCP events have none (their kind is in `tcp`) */
  readonly verdict?: Verdict;
  /** kernel drop reason name (enum skb_drop_reason of the running kernel), drops only */
  readonly reason?: string;
  readonly reasonCode?: number;
  readonly source: EventEndpoint;
  readonly destination: EventEndpoint;
  /** 4, 6, or 0 when not IP */
  readonly ipVersion: 0 | 4 | 6;
  readonly transport: Transport;
  /** IP protocol number (0 when unknown) */
  readonly protocol: number;
  /** TCP flags as names joined by '|' (e.g. "SYN|ACK"); for flows: every flag seen */
  readonly tcpFlags?: string;
  /** length of the dropped packet (skb->len), drops only */
  readonly length?: number;
  /** interface the packet was on (drop: skb->dev; flow: the pod's host-side veth) */
  readonly interface?: string;
  readonly ifindex?: number;
  /** inode number of the network namespace of that device */
  readonly netns?: number;
  /** from the local pod's point of view: egress = the pod sent it, ingress = it was on its way to the pod */
  readonly direction?: 'ingress' | 'egress';
  /** kernel function that dropped the packet (symbol+0xoffset), drops only, when symbolised */
  readonly location?: string;
  /**
   * Drops and TCP events: events of the same reason (drops) or kind (TCP) on the same CPU since
   * the previous event that got no event of their own (in-kernel rate limit, or a full ring
   * buffer). Each event stands for 1 + suppressed.
   */
  readonly suppressed?: number;
  readonly cpu?: number;
  readonly flow?: FlowPart;
  readonly tcp?: TcpPart;
  readonly dns?: DnsPart;
  /** the node (or host) of the agent that saw it */
  readonly node: string;
}

/** Where events go. `publish` must not throw and must not block: a sink bounds its own memory. */
export interface EventSink {
  publish(events: readonly NetworkEvent[]): void;
}
