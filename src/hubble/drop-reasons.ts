/**
 * Kernel drop reason → Cilium's `flow.DropReason`, by name. The two code spaces are unrelated:
 * `enum skb_drop_reason`'s numbers shift from kernel to kernel (Fovea reads its names from the
 * running kernel's BTF), `flow.DropReason` holds the codes of Cilium's own datapath. A kernel
 * reason maps only where the two mean the same thing; every other reason is DROP_REASON_UNKNOWN,
 * and the kernel's own name always travels in the flow's Summary and extensions. docs/hubble.md
 * shows this table; a test keeps the two equal.
 */
import { hubbleTypes } from './proto.js';

/** kernel reason name (without SKB_DROP_REASON_) → flow.DropReason value name */
export const KERNEL_TO_CILIUM_DROP_REASON: Readonly<Record<string, string>> = {
  // a firewall rule, a cgroup BPF program or an LSM refused the packet: a policy decision
  NETFILTER_DROP: 'POLICY_DENIED',
  BPF_CGROUP_EGRESS: 'POLICY_DENIED',
  SECURITY_HOOK: 'POLICY_DENIED',
  // the source address cannot be right here
  IP_RPFILTER: 'INVALID_SOURCE_IP',
  IP_INVALID_SOURCE: 'INVALID_SOURCE_IP',
  IP_LOCAL_SOURCE: 'INVALID_SOURCE_IP',
  MAC_INVALID_SOURCE: 'INVALID_SOURCE_MAC',
  // malformed: too short, truncated, bad header or checksum
  PKT_TOO_SMALL: 'INVALID_PACKET_DROPPED',
  HDR_TRUNC: 'INVALID_PACKET_DROPPED',
  IP_INHDR: 'INVALID_PACKET_DROPPED',
  IP_CSUM: 'INVALID_PACKET_DROPPED',
  TCP_CSUM: 'INVALID_PACKET_DROPPED',
  UDP_CSUM: 'INVALID_PACKET_DROPPED',
  ICMP_CSUM: 'INVALID_PACKET_DROPPED',
  SKB_CSUM: 'INVALID_PACKET_DROPPED',
  IPV6_BAD_EXTHDR: 'INVALID_IPV6_EXTENSION_HEADER',
  // protocols the stack does not handle
  IP_NOPROTO: 'UNKNOWN_L4_PROTOCOL',
  UNHANDLED_PROTO: 'UNSUPPORTED_L3_PROTOCOL',
  IPV6DISABLED: 'UNSUPPORTED_L3_PROTOCOL',
  // nowhere to send it: no route, or no neighbour for the next hop
  IP_OUTNOROUTES: 'FIB_LOOKUP_FAILED',
  IP_INNOROUTES: 'FIB_LOOKUP_FAILED',
  NEIGH_FAILED: 'FIB_LOOKUP_FAILED',
  NEIGH_CREATEFAIL: 'FIB_LOOKUP_FAILED',
  NEIGH_DEAD: 'FIB_LOOKUP_FAILED',
  // not an address this host can deliver to
  IP_INADDRERRORS: 'UNKNOWN_L3_TARGET_ADDRESS',
  IP_INVALID_DEST: 'UNKNOWN_L3_TARGET_ADDRESS',
  // no socket listens on the destination port
  NO_SOCKET: 'SOCKET_LOOKUP_FAILED',
  // the fq qdisc's time horizon: what Cilium's EDT bandwidth manager reports for the same drop
  FQ_HORIZON_LIMIT: 'REACHED_EDT_RATE_LIMITING_DROP_HORIZON',
  VXLAN_VNI_NOT_FOUND: 'INVALID_VNI',
};

export const UNKNOWN_DROP_REASON = 'DROP_REASON_UNKNOWN';

export interface CiliumDropReason {
  /** flow.DropReason value name */
  readonly name: string;
  /** its number (also Flow.drop_reason and event_type.sub_type) */
  readonly code: number;
}

/** The Cilium drop reason for a kernel reason name (UNKNOWN_<n> and unmapped names → DROP_REASON_UNKNOWN, 0). */
export class DropReasonMap {
  private readonly values: Readonly<Record<string, number>>;
  private readonly cache = new Map<string, CiliumDropReason>();

  constructor() {
    this.values = hubbleTypes().root.lookupEnum('flow.DropReason').values;
  }

  map(kernelReason: string | undefined): CiliumDropReason {
    const key = kernelReason ?? '';
    let hit = this.cache.get(key);
    if (!hit) {
      // own keys only: 'constructor' or 'toString' are no kernel reasons
      const name = Object.hasOwn(KERNEL_TO_CILIUM_DROP_REASON, key) ? KERNEL_TO_CILIUM_DROP_REASON[key]! : UNKNOWN_DROP_REASON;
      hit = { name, code: this.values[name] ?? 0 };
      this.cache.set(key, hit);
    }
    return hit;
  }
}
