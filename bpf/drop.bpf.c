// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Probe "drop": counts every packet the kernel drops, by the kernel's own drop reason.
 *
 * Hook: the skb:kfree_skb tracepoint, as tp_btf (BTF-typed, cheapest) or, where that is not
 * available, as a raw tracepoint. Both see the same arguments in the same order:
 *   (struct sk_buff *skb, void *location, enum skb_drop_reason reason [, struct sock *rx_sk])
 * The agent loads exactly one of the two programs (set_autoload) and attaches it.
 *
 * Per packet: one per-CPU hash lookup (plus an insert the first time a key is seen) and at most
 * two small bounded header reads. No per-packet event goes to user space.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "include/fovea.h"
#include "drop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* key: struct drop_key (reason, ip version, transport); value: per-CPU packets+bytes.
 * Size DROP_MAX_KEYS: every reason x family x transport with room to spare; user space may resize. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DROP_MAX_KEYS);
	__type(key, struct drop_key);
	__type(value, struct drop_value);
} drop_counts SEC(".maps");

/* key: enum drop_error; value: per-CPU count. Failures to record, exported as agent health. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drop_errors SEC(".maps");

/* The IPv6 extension headers we step over to find the transport (bounded). */
static __always_inline bool ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == 0 /* hop-by-hop */ || nexthdr == 43 /* routing */ ||
	       nexthdr == 60 /* destination options */ || nexthdr == 44 /* fragment */;
}

static __always_inline __u8 transport_bucket(__u8 proto, __u8 ip_version)
{
	switch (proto) {
	case FOVEA_IPPROTO_TCP:
		return DROP_TRANSPORT_TCP;
	case FOVEA_IPPROTO_UDP:
		return DROP_TRANSPORT_UDP;
	case FOVEA_IPPROTO_ICMP:
		return ip_version == 4 ? DROP_TRANSPORT_ICMP : DROP_TRANSPORT_OTHER;
	case FOVEA_IPPROTO_ICMPV6:
		return ip_version == 6 ? DROP_TRANSPORT_ICMP : DROP_TRANSPORT_OTHER;
	default:
		return DROP_TRANSPORT_OTHER;
	}
}

/*
 * Fill ip_version and transport from the packet. Never trusts the packet: every read is a
 * bounded bpf_probe_read_kernel that may fail, and a failure leaves the key at "unknown".
 * The network header offset is only used when set (0xffff means unset).
 */
static __always_inline void parse_headers(struct sk_buff *skb, struct drop_key *key)
{
	__u16 protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh_off = BPF_CORE_READ(skb, network_header);
	__u8 first;

	if (protocol != FOVEA_ETH_P_IP && protocol != FOVEA_ETH_P_IPV6)
		return;
	key->ip_version = protocol == FOVEA_ETH_P_IP ? 4 : 6;
	if (!head || nh_off == (__u16)~0U)
		goto unreadable;
	if (bpf_probe_read_kernel(&first, sizeof(first), head + nh_off))
		goto unreadable;
	/* The version nibble must agree with skb->protocol, or the header offset is stale. */
	if ((first >> 4) != key->ip_version) {
		key->transport = DROP_TRANSPORT_UNKNOWN;
		return;
	}

	if (key->ip_version == 4) {
		struct iphdr iph;

		if (bpf_probe_read_kernel(&iph, sizeof(iph), head + nh_off))
			goto unreadable;
		if (iph.ihl < 5)
			return; /* malformed: leave transport unknown */
		key->transport = transport_bucket(iph.protocol, 4);
		return;
	}

	struct ipv6hdr ip6h;
	__u8 nexthdr;
	__u32 off = nh_off + sizeof(struct ipv6hdr);

	if (bpf_probe_read_kernel(&ip6h, sizeof(ip6h), head + nh_off))
		goto unreadable;
	nexthdr = ip6h.nexthdr;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		struct ipv6_opt_hdr opt;

		if (!ipv6_is_ext(nexthdr))
			break;
		if (bpf_probe_read_kernel(&opt, sizeof(opt), head + off))
			goto unreadable;
		/* fragment header is fixed 8 bytes; the others give their length in 8-byte units */
		off += nexthdr == 44 ? 8 : ((__u32)opt.hdrlen + 1) * 8;
		nexthdr = opt.nexthdr;
	}
	key->transport = ipv6_is_ext(nexthdr) ? DROP_TRANSPORT_OTHER : transport_bucket(nexthdr, 6);
	return;

unreadable:
	key->transport = DROP_TRANSPORT_UNKNOWN;
	FOVEA_COUNT(drop_errors, DROP_ERR_HEADER_READ);
}

static __always_inline int record_drop(struct sk_buff *skb, __u32 reason)
{
	struct drop_key key = {};
	struct drop_value *val;

	/* SKB_CONSUMED marks a normal free on kernels that route it through this tracepoint. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;

	key.reason = reason;
	parse_headers(skb, &key);

	val = bpf_map_lookup_elem(&drop_counts, &key);
	if (!val) {
		struct drop_value zero = {};
		long err = bpf_map_update_elem(&drop_counts, &key, &zero, BPF_NOEXIST);

		/* -EEXIST: another CPU inserted it first, which is fine */
		if (err && err != -17 /* EEXIST */) {
			FOVEA_COUNT(drop_errors, err == -7 /* E2BIG: map full */ ? DROP_ERR_MAP_FULL : DROP_ERR_UPDATE);
			return 0;
		}
		val = bpf_map_lookup_elem(&drop_counts, &key);
		if (!val) {
			FOVEA_COUNT(drop_errors, DROP_ERR_UPDATE);
			return 0;
		}
	}
	val->packets += 1;
	val->bytes += BPF_CORE_READ(skb, len);
	return 0;
}

SEC("tp_btf/kfree_skb")
int drop_tp_btf(__u64 *ctx)
{
	return record_drop((struct sk_buff *)ctx[0], (__u32)ctx[2]);
}

SEC("raw_tp/kfree_skb")
int drop_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return record_drop((struct sk_buff *)ctx->args[0], (__u32)ctx->args[2]);
}
