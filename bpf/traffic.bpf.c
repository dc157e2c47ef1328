// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Probe "traffic": packets and bytes per interface and direction, from tc.
 *
 * Attached with tcx links (kernel >= 6.6) or clsact filters, on ingress and egress of each
 * interface the agent selects. Always returns TC_ACT_UNSPEC (TCX_NEXT): never changes a
 * verdict, so it coexists with Cilium and any other tc user.
 *
 * Per packet: one per-CPU array lookup and two increments (the interface's slot); only when
 * another interface owns that slot, a per-CPU hash lookup instead. The agent claims the slot or
 * inserts the hash key when it attaches, so the insert path below only runs after a race with
 * removal. (Measured with BPF_PROG_TEST_RUN: the array path costs ~2 ns over an empty program,
 * the hash path ~26 ns.)
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fovea.h"
#include "traffic.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* key: __u32 ifindex; value: per-CPU struct traffic_value.
 * Size: one per attached interface (TRAFFIC_MAX_INTERFACES, resized by the agent). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TRAFFIC_MAX_INTERFACES);
	__type(key, __u32);
	__type(value, struct traffic_value);
} traffic_counts SEC(".maps");

/* key: slot = ifindex & (TRAFFIC_SLOTS - 1); value: per-CPU struct traffic_slot.
 * Size TRAFFIC_SLOTS: 40 bytes x 1024 per CPU; collisions use traffic_counts. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRAFFIC_SLOTS);
	__type(key, __u32);
	__type(value, struct traffic_slot);
} traffic_slots SEC(".maps");

/* key: enum traffic_error; value: per-CPU count. Failures to record, exported as agent health. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRAFFIC_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} traffic_errors SEC(".maps");

/* key: struct flow_key; value: struct flow_value (shared, atomic adds).
 * LRU: when full the least recently used flow is evicted; size from probes.flows.maxFlows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TRAFFIC_MAX_FLOWS);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} traffic_flows SEC(".maps");

/* key: enum traffic_stat; value: per-CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRAFFIC_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} traffic_stats SEC(".maps");

/* IPv6 extension headers we step over to find the transport header (bounded). */
static __always_inline bool ipv6_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 44;
}

/*
 * Parses the packet with direct packet access (every read bounds-checked against data_end; a
 * short or malformed packet simply yields fewer fields) and adds it to its flow record.
 */
static __always_inline void track_flow(struct __sk_buff *skb, __u32 ifindex, __u32 dir)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct flow_key key = {};
	__u8 flags = 0;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return;
	if (eth->h_proto == bpf_htons(FOVEA_ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return;
		key.ip_version = 4;
		key.proto = ip->protocol;
		key.src[10] = 0xff;
		key.src[11] = 0xff;
		key.dst[10] = 0xff;
		key.dst[11] = 0xff;
		__builtin_memcpy(&key.src[12], &ip->saddr, 4);
		__builtin_memcpy(&key.dst[12], &ip->daddr, 4);
		/* a non-first fragment carries no transport header */
		l4 = (ip->frag_off & bpf_htons(0x1fff)) ? 0 : (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(FOVEA_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		__u8 nh;

		if ((void *)(ip6 + 1) > data_end)
			return;
		key.ip_version = 6;
		__builtin_memcpy(key.src, &ip6->saddr, 16);
		__builtin_memcpy(key.dst, &ip6->daddr, 16);
		nh = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			struct ipv6_opt_hdr *opt = l4;

			if (!ipv6_ext(nh))
				break;
			/* every extension header is at least 8 bytes (the fragment header exactly 8) */
			if ((void *)opt + 8 > data_end) {
				l4 = 0;
				break;
			}
			if (nh == 44 && (((struct frag_hdr *)opt)->frag_off & bpf_htons(0xfff8)))
				l4 = 0; /* non-first fragment */
			/* the length of this header, decided by its own type (nh), before nh moves on */
			__u32 len = nh == 44 ? 8 : ((__u32)opt->hdrlen + 1) * 8;

			nh = opt->nexthdr;
			if (!l4)
				break;
			l4 += len;
		}
		key.proto = nh;
	} else {
		return;
	}

	if (l4 && (key.proto == FOVEA_IPPROTO_TCP || key.proto == FOVEA_IPPROTO_UDP)) {
		__u16 *ports = l4;

		if ((void *)(ports + 2) <= data_end) {
			key.sport = ports[0];
			key.dport = ports[1];
		}
		if (key.proto == FOVEA_IPPROTO_TCP && l4 + 14 <= data_end)
			flags = *(__u8 *)(l4 + 13);
	}
	key.ifindex = ifindex;
	key.direction = dir;

	__u64 now = bpf_ktime_get_ns();
	struct flow_value *v = bpf_map_lookup_elem(&traffic_flows, &key);

	if (!v) {
		struct flow_value init = { .packets = 1, .bytes = skb->len, .first_seen_ns = now,
					   .last_seen_ns = now, .tcp_flags = flags };
		long err = bpf_map_update_elem(&traffic_flows, &key, &init, BPF_NOEXIST);

		if (!err) {
			FOVEA_COUNT(traffic_stats, TRAFFIC_STAT_FLOWS_CREATED);
			return;
		}
		v = bpf_map_lookup_elem(&traffic_flows, &key); /* -EEXIST: another CPU won the race */
		if (!v) {
			FOVEA_COUNT(traffic_errors, TRAFFIC_ERR_FLOW_INSERT);
			return;
		}
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, skb->len);
	v->last_seen_ns = now;
	v->tcp_flags |= flags;
}

static __always_inline int count(struct __sk_buff *skb, const __u32 dir)
{
	__u32 ifindex = skb->ifindex;
	__u32 slot_key = ifindex & (TRAFFIC_SLOTS - 1);
	struct traffic_slot *slot = bpf_map_lookup_elem(&traffic_slots, &slot_key);
	struct traffic_value *val;

	if (slot && slot->ifindex == ifindex) {
		slot->counts.packets[dir] += 1;
		slot->counts.bytes[dir] += skb->len;
		if (slot->counts.flags & TRAFFIC_F_FLOWS)
			track_flow(skb, ifindex, dir);
		return FOVEA_TC_ACT_UNSPEC;
	}

	val = bpf_map_lookup_elem(&traffic_counts, &ifindex);

	if (!val) {
		struct traffic_value zero = {};
		long err = bpf_map_update_elem(&traffic_counts, &ifindex, &zero, BPF_NOEXIST);

		if (err && err != -17 /* EEXIST */) {
			FOVEA_COUNT(traffic_errors, err == -7 /* E2BIG */ ? TRAFFIC_ERR_MAP_FULL : TRAFFIC_ERR_UPDATE);
			return FOVEA_TC_ACT_UNSPEC;
		}
		val = bpf_map_lookup_elem(&traffic_counts, &ifindex);
		if (!val) {
			FOVEA_COUNT(traffic_errors, TRAFFIC_ERR_UPDATE);
			return FOVEA_TC_ACT_UNSPEC;
		}
	}
	val->packets[dir] += 1;
	val->bytes[dir] += skb->len;
	if (val->flags & TRAFFIC_F_FLOWS)
		track_flow(skb, ifindex, dir);
	return FOVEA_TC_ACT_UNSPEC;
}

SEC("tc")
int traffic_ingress(struct __sk_buff *skb)
{
	return count(skb, TRAFFIC_INGRESS);
}

SEC("tc")
int traffic_egress(struct __sk_buff *skb)
{
	return count(skb, TRAFFIC_EGRESS);
}
