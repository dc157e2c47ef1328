/**
 * The Hubble messages as plain objects, in the shape protobufjs encodes and decodes with the
 * .proto's own field names (src/hubble/proto.ts loads them with keepCase). Enums are numbers on
 * the wire and here; the constants below name the values Fovea uses. Only the fields Fovea sets
 * or reads are typed; everything else stays absent (proto3: absent = default).
 */

export interface Timestamp {
  readonly seconds: number;
  readonly nanos: number;
}

export interface FlowWorkload {
  readonly name: string;
  readonly kind: string;
}

export interface FlowEndpoint {
  readonly ID?: number;
  readonly identity?: number;
  readonly cluster_name?: string;
  readonly namespace?: string;
  readonly labels?: readonly string[];
  readonly pod_name?: string;
  readonly workloads?: readonly FlowWorkload[];
}

export interface TcpFlagsMessage {
  readonly FIN?: boolean;
  readonly SYN?: boolean;
  readonly RST?: boolean;
  readonly PSH?: boolean;
  readonly ACK?: boolean;
  readonly URG?: boolean;
  readonly ECE?: boolean;
  readonly CWR?: boolean;
  readonly NS?: boolean;
}

export interface Ports {
  readonly source_port?: number;
  readonly destination_port?: number;
}

export interface Layer4 {
  readonly TCP?: Ports & { readonly flags?: TcpFlagsMessage };
  readonly UDP?: Ports;
  readonly SCTP?: Ports;
  readonly ICMPv4?: { readonly type?: number; readonly code?: number };
  readonly ICMPv6?: { readonly type?: number; readonly code?: number };
}

export interface ServiceRef {
  readonly name?: string;
  readonly namespace?: string;
}

export interface AnyMessage {
  readonly type_url: string;
  readonly value: Uint8Array;
}

export interface Flow {
  readonly time?: Timestamp;
  readonly uuid?: string;
  readonly emitter?: { readonly name?: string; readonly version?: string };
  readonly verdict?: number;
  readonly drop_reason?: number;
  readonly IP?: {
    readonly source?: string;
    readonly source_xlated?: string;
    readonly destination?: string;
    readonly ipVersion?: number;
    readonly encrypted?: boolean;
  };
  readonly l4?: Layer4;
  readonly source?: FlowEndpoint;
  readonly destination?: FlowEndpoint;
  readonly Type?: number;
  readonly node_name?: string;
  readonly node_labels?: readonly string[];
  readonly source_names?: readonly string[];
  readonly destination_names?: readonly string[];
  readonly reply?: boolean;
  readonly event_type?: { readonly type?: number; readonly sub_type?: number };
  readonly source_service?: ServiceRef;
  readonly destination_service?: ServiceRef;
  readonly traffic_direction?: number;
  readonly trace_observation_point?: number;
  readonly drop_reason_desc?: number;
  readonly is_reply?: { readonly value?: boolean };
  readonly interface?: { readonly index?: number; readonly name?: string };
  readonly Summary?: string;
  readonly extensions?: AnyMessage;
  /** never set by Fovea; typed because filters read them */
  readonly l7?: {
    readonly dns?: { readonly query?: string };
    readonly http?: { readonly code?: number; readonly method?: string; readonly url?: string; readonly headers?: readonly { key?: string; value?: string }[] };
    readonly kafka?: object;
  };
  readonly trace_context?: { readonly parent?: { readonly trace_id?: string } };
  readonly ip_trace_id?: { readonly trace_id?: number | string };
}

/**
 * What a flow says, as scalars and shared objects: FlowBuilder.toFlow makes the Flow message of
 * it (for filters, field masks, JSON), encodeFactsFrame writes it to the wire without one.
 */
export interface FlowFacts {
  readonly timeMs: number;
  readonly uuid: string;
  readonly verdict: number;
  /** Cilium's drop code; 0: none (not a drop, or no counterpart) */
  readonly dropCode: number;
  /** 0: not IP */
  readonly ipVersion: 0 | 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** which Layer4 member: none, TCP, UDP, ICMPv4, ICMPv6 */
  readonly l4: 'none' | 'TCP' | 'UDP' | 'ICMPv4' | 'ICMPv6';
  readonly sport: number;
  readonly dport: number;
  readonly flags: TcpFlagsMessage | undefined;
  readonly source: FlowEndpoint;
  readonly destination: FlowEndpoint;
  readonly node: string;
  readonly nodeLabels: readonly string[] | undefined;
  readonly emitter: { readonly name: string; readonly version: string };
  readonly reply: boolean | undefined;
  readonly eventType: { readonly type: number; readonly sub_type: number };
  readonly sourceService: ServiceRef | undefined;
  readonly destinationService: ServiceRef | undefined;
  /** flow.TrafficDirection; 0: unknown */
  readonly direction: number;
  readonly point: number | undefined;
  readonly iface: { readonly index?: number; readonly name?: string } | undefined;
  readonly summary: string;
  readonly extension: AnyMessage | undefined;
}

/** flow.Verdict */
export const VERDICT = { unknown: 0, forwarded: 1, dropped: 2 } as const;
/** flow.FlowType */
export const FLOW_TYPE = { l3l4: 1 } as const;
/** flow.IPVersion */
export const IP_VERSION = { none: 0, v4: 1, v6: 2 } as const;
/** flow.TrafficDirection */
export const TRAFFIC_DIRECTION = { unknown: 0, ingress: 1, egress: 2 } as const;
/** flow.TraceObservationPoint */
export const OBSERVATION_POINT = { toEndpoint: 101, fromEndpoint: 5 } as const;
/** flow.LostEventSource */
export const LOST_EVENT_SOURCE = { kernelRing: 1, observerQueue: 2, hubbleRing: 3 } as const;
/**
 * Cilium monitor message types (its pkg/monitor/api), carried in Flow.event_type.type and matched
 * by `hubble observe --type`.
 */
export const MONITOR_TYPE = { drop: 1, debug: 2, capture: 3, trace: 4, policyVerdict: 5, agent: 130 } as const;
/** Cilium's trace sub-types for an observation point (pkg/monitor/api TraceToLxc, TraceFromLxc). */
export const TRACE_SUBTYPE = { toEndpoint: 0, fromEndpoint: 5 } as const;

/** google.protobuf.Any type URL of the Struct Fovea puts in Flow.extensions. */
export const STRUCT_TYPE_URL = 'type.googleapis.com/google.protobuf.Struct';
