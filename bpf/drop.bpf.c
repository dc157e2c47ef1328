// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Probe "drop": counts every packet the kernel drops, by the kernel's own drop reason.
 *
 * Hook: the skb:kfree_skb tracepoint, as tp_btf (BTF-typed, cheapest) or, where that is not
 * available, as a raw tracepoint. Both see the same arguments in the same order:
 *   (struct sk_buff *skb, void *location, enum skb_drop_reason reason [, struct sock *rx_sk])
 * The agent loads exactly one of the two programs (set_autoload) and attaches it.
 *
 * Per dropped packet: one bounded probe read of the IP header with the 4 bytes after it (the ports,
 * when no IP options come between), a slot of the per-CPU array drop_reason_counts (the kernel's
 * core reasons: no hash; subsystem reasons go to the per-CPU hash drop_counts), and two lookups of
 * the addresses among the local pods' (drop_pod_ips) — when a pod is at either end, its own
 * counters and the dropped 5-tuple too. When drop events are on (drop_event_cfg), a rate-limited
 * sample of drops also goes to user space through the ring buffer drop_events, submitted without
 * wakeup (the agent drains it on a timer); a drop over the limit costs a jiffies read, not a clock
 * read, until the next timer tick.
 * Measured per run under part e's storm (bench/manual/drop-variants.mjs, tp_btf, bpf_stats on,
 * 6.18 in a 2-core VM, 2026-12-03): 70.7 ± 5.5 ns (the hash and a clock read per drop before:
 * 151.0 ± 2.9), of which ~50 ns is the floor an empty program shows there (bpf_stats' own clock
 * reads); drops whose headers are parsed (--linear): 163.5 vs 319.9 before. docs/benchmark.md, "Part e".
 * Kernels without drop reasons (< 5.17) run the *_loc programs: drops counted by the kernel
 * function that freed the packet (drop_location_counts), see DROP_REASON_NONE_GIVEN in drop.h.
 * Built twice (scripts/build-bpf.sh): drop.bpf.o, and drop-noevents.bpf.o with FOVEA_NO_EVENTS —
 * no ring buffer, for kernels without BPF_MAP_TYPE_RINGBUF (< 5.8) and when events are off.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "include/fovea.h"
#include "drop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* key: reason * DROP_KEY_SLOTS + family * DROP_TRANSPORTS + transport (drop.h); value: per-CPU
 * packets+bytes. The kernel's core drop reasons: a slot each, no hash, no insert. Sized by the agent
 * to the running kernel's reasons x DROP_KEY_SLOTS (at most DROP_ARRAY_REASONS of them). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_ARRAY_REASONS * DROP_KEY_SLOTS);
	__type(key, __u32);
	__type(value, struct drop_value);
} drop_reason_counts SEC(".maps");

/* key: struct drop_key (reason, ip version, transport); value: per-CPU packets+bytes. Reasons that
 * have no slot in drop_reason_counts (subsystem reasons, bits 16..30). Size DROP_MAX_KEYS. */
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

/* key: struct drop_location_key (freeing kernel address, ip version, transport); value: per-CPU
 * packets+bytes. Only written on kernels that give no drop reason (programs *_loc); the
 * agent shrinks it to 1 entry elsewhere. Size DROP_MAX_LOCATION_KEYS. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DROP_MAX_LOCATION_KEYS);
	__type(key, struct drop_location_key);
	__type(value, struct drop_value);
} drop_location_counts SEC(".maps");

/* key: struct drop_ip (a pod address); value: __u32 pod id. Written by the agent as pods come and
 * go; read here to attribute drops to pods. Size DROP_MAX_POD_IPS. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DROP_MAX_POD_IPS);
	__type(key, struct drop_ip);
	__type(value, __u32);
} drop_pod_ips SEC(".maps");

/* key: struct drop_pod_key (pod, reason, side, transport); value: per-CPU packets+bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DROP_MAX_POD_KEYS);
	__type(key, struct drop_pod_key);
	__type(value, struct drop_value);
} drop_pod_counts SEC(".maps");

/* key: struct drop_flow_key; value: struct drop_value (shared, atomic adds). LRU: recent dropped
 * 5-tuples involving a local pod, so the agent can name the peer's workload. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DROP_MAX_FLOWS);
	__type(key, struct drop_flow_key);
	__type(value, struct drop_value);
} drop_flows SEC(".maps");

#ifndef FOVEA_NO_EVENTS
/* index 0: struct drop_event_config, written by the agent (all zero: no events) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_event_config);
} drop_event_cfg SEC(".maps");

/* key: reason slot (reason, or DROP_EVENT_SLOTS - 1 for larger values); value: per-CPU rate-limit state */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_EVENT_SLOTS);
	__type(key, __u32);
	__type(value, struct drop_event_limit);
} drop_event_limits SEC(".maps");

/* struct drop_event records; the agent sizes it (a power of 2, page multiple) before load */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, DROP_EVENT_RING_BYTES);
} drop_events SEC(".maps");
#endif /* FOVEA_NO_EVENTS */

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
 * A field of the skb on the per-drop path. tp_btf hands the program a BTF-typed skb pointer, so a
 * plain (CO-RE relocated) load works and costs one instruction; the raw tracepoint's is untyped
 * and needs bpf_probe_read_kernel (a helper call each). `direct` is a constant at every call site
 * (the functions are always inlined): clang drops the other branch, so the raw_tp program never
 * contains a direct load the verifier would refuse.
 */
#define SKB_READ(direct, skb, field) ((direct) ? (skb)->field : BPF_CORE_READ(skb, field))

/* An IP header and the 4 bytes after it: a TCP or UDP header's ports when no options or extension
 * headers come between, read together with the header (one probe read per drop, not two). */
struct ipv4_ports {
	struct iphdr iph;
	__be16 ports[2];
};
struct ipv6_ports {
	struct ipv6hdr ip6h;
	__be16 ports[2];
};

/*
 * Ports (and, for drop events, the TCP header's offset) when the transport header at `off` is in
 * the linear area: TCP through its flags byte (offset 13), UDP its two ports. `read` holds them when
 * they were read with the IP header (the transport starts right after it), else they are read here.
 */
static __always_inline void set_ports(unsigned char *head, __u32 tail, __u32 off, __u8 proto,
				      const __be16 *read, struct drop_flow_key *fk, __u32 *l4_off)
{
	if (off + (proto == FOVEA_IPPROTO_TCP ? 14 : 4) > tail)
		return;
	if (read) {
		fk->sport = read[0];
		fk->dport = read[1];
	} else if (bpf_probe_read_kernel(&fk->sport, 4, head + off)) { /* sport, dport */
		fk->sport = fk->dport = 0;
		return;
	}
	*l4_off = off;
}

/*
 * Fill ip_version and transport from the packet. Never trusts the packet: every read is a
 * bounded bpf_probe_read_kernel that may fail, and a failure leaves the key at "unknown".
 * The network header offset is only used when set (0xffff means unset), and only what lies in
 * the skb's linear area (head .. head + tail) is read: a paged skb (e.g. from a packet socket's
 * TX ring) may keep its headers in page fragments, and the bytes past `tail` are stale.
 * The IP header is read with the 4 bytes after it when those are in the linear area too.
 */
static __always_inline void parse_headers(struct sk_buff *skb, struct drop_key *key, struct drop_flow_key *fk,
					  __u32 *l4_off, bool direct)
{
	__u16 protocol = bpf_ntohs(SKB_READ(direct, skb, protocol));
	unsigned char *head = SKB_READ(direct, skb, head);
	__u16 nh_off = SKB_READ(direct, skb, network_header);
	__u32 tail = SKB_READ(direct, skb, tail); /* offset from head on 64-bit (NET_SKBUFF_DATA_USES_OFFSET) */

	if (protocol != FOVEA_ETH_P_IP && protocol != FOVEA_ETH_P_IPV6)
		return;
	key->ip_version = protocol == FOVEA_ETH_P_IP ? 4 : 6;
	if (!head || nh_off == (__u16)~0U)
		goto unreadable;

	if (key->ip_version == 4) {
		struct ipv4_ports h;
		bool with_ports = (__u32)nh_off + sizeof(h) <= tail;
		__u32 off;

		if ((__u32)nh_off + sizeof(h.iph) > tail)
			goto unreadable; /* the IP header is not in the linear area */
		/* two constant sizes: the verifier then knows which bytes of h are written */
		if (with_ports ? bpf_probe_read_kernel(&h, sizeof(h), head + nh_off)
			       : bpf_probe_read_kernel(&h.iph, sizeof(h.iph), head + nh_off))
			goto unreadable;
		/* The version nibble must agree with skb->protocol, or the header offset is stale. */
		if (h.iph.version != 4) {
			key->transport = DROP_TRANSPORT_UNKNOWN;
			return;
		}
		if (h.iph.ihl < 5)
			return; /* malformed: leave transport unknown */
		key->transport = transport_bucket(h.iph.protocol, 4);
		fk->ip_version = 4;
		fk->proto = h.iph.protocol;
		fk->src[10] = fk->src[11] = fk->dst[10] = fk->dst[11] = 0xff;
		__builtin_memcpy(&fk->src[12], &h.iph.saddr, 4);
		__builtin_memcpy(&fk->dst[12], &h.iph.daddr, 4);
		off = nh_off + h.iph.ihl * 4;
		if ((h.iph.protocol == FOVEA_IPPROTO_TCP || h.iph.protocol == FOVEA_IPPROTO_UDP) &&
		    !(h.iph.frag_off & bpf_htons(0x1fff)))
			set_ports(head, tail, off, h.iph.protocol, with_ports && h.iph.ihl == 5 ? h.ports : NULL, fk, l4_off);
		return;
	}

	struct ipv6_ports h6;
	bool with_ports6 = (__u32)nh_off + sizeof(h6) <= tail;
	__u8 nexthdr;
	__u32 off = nh_off + sizeof(struct ipv6hdr);
	bool later_fragment = false; /* a non-first fragment carries no transport header */

	if (off > tail)
		goto unreadable; /* the IP header is not in the linear area */
	if (with_ports6 ? bpf_probe_read_kernel(&h6, sizeof(h6), head + nh_off)
			: bpf_probe_read_kernel(&h6.ip6h, sizeof(h6.ip6h), head + nh_off))
		goto unreadable;
	if (h6.ip6h.version != 6) {
		key->transport = DROP_TRANSPORT_UNKNOWN;
		return;
	}
	nexthdr = h6.ip6h.nexthdr;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		struct ipv6_opt_hdr opt;

		if (!ipv6_is_ext(nexthdr))
			break;
		if (off + 8 > tail || bpf_probe_read_kernel(&opt, sizeof(opt), head + off))
			goto unreadable;
		if (nexthdr == 44) {
			__be16 frag_off;

			if (bpf_probe_read_kernel(&frag_off, sizeof(frag_off), head + off + 2) ||
			    (frag_off & bpf_htons(0xfff8)))
				later_fragment = true;
		}
		/* fragment header is fixed 8 bytes; the others give their length in 8-byte units */
		off += nexthdr == 44 ? 8 : ((__u32)opt.hdrlen + 1) * 8;
		nexthdr = opt.nexthdr;
	}
	key->transport = ipv6_is_ext(nexthdr) ? DROP_TRANSPORT_OTHER : transport_bucket(nexthdr, 6);
	fk->ip_version = 6;
	fk->proto = nexthdr;
	__builtin_memcpy(fk->src, &h6.ip6h.saddr, 16);
	__builtin_memcpy(fk->dst, &h6.ip6h.daddr, 16);
	if ((nexthdr == FOVEA_IPPROTO_TCP || nexthdr == FOVEA_IPPROTO_UDP) && !later_fragment)
		set_ports(head, tail, off, nexthdr,
			  with_ports6 && off == (__u32)nh_off + sizeof(struct ipv6hdr) ? h6.ports : NULL, fk, l4_off);
	return;

unreadable:
	key->transport = DROP_TRANSPORT_UNKNOWN;
	FOVEA_COUNT(drop_errors, DROP_ERR_HEADER_READ);
}

/* Adds to a per-CPU counter map, inserting the key first when needed. */
static __always_inline void add_percpu(void *map, void *key, __u32 len, __u32 full_err)
{
	struct drop_value *val = bpf_map_lookup_elem(map, key);

	if (!val) {
		struct drop_value zero = {};
		int err = fovea_map_errno(bpf_map_update_elem(map, key, &zero, BPF_NOEXIST));

		if (err && err != -FOVEA_EEXIST) {
			FOVEA_COUNT(drop_errors, err == -FOVEA_E2BIG ? full_err : DROP_ERR_UPDATE);
			return;
		}
		val = bpf_map_lookup_elem(map, key);
		if (!val) {
			FOVEA_COUNT(drop_errors, DROP_ERR_UPDATE);
			return;
		}
	}
	val->packets += 1;
	val->bytes += len;
}

/* Counts a drop by (reason, family, transport): a slot of drop_reason_counts, else drop_counts. */
static __always_inline void count_reason(struct drop_key *key, __u32 len)
{
	if (key->reason < DROP_ARRAY_REASONS) {
		__u32 family = key->ip_version == 4 ? 1 : key->ip_version == 6 ? 2 : 0;
		__u32 idx = key->reason * DROP_KEY_SLOTS + family * DROP_TRANSPORTS + key->transport;
		struct drop_value *val = bpf_map_lookup_elem(&drop_reason_counts, &idx);

		if (val) {
			val->packets += 1;
			val->bytes += len;
			return;
		}
	}
	add_percpu(&drop_counts, key, len, DROP_ERR_MAP_FULL);
}

/* Attributes the drop to the local pods at either end, and remembers its 5-tuple. */
static __always_inline void record_pod_drop(struct drop_key *key, struct drop_flow_key *fk, __u32 len)
{
	__u32 *id, src_pod = 0, dst_pod = 0;
	bool src_found = false, dst_found = false;
	struct drop_pod_key pk = {};
	struct drop_value *fv;

	if (!fk->ip_version)
		return;
	/* copy the ids out: the verifier refuses arithmetic on two map-value pointers */
	id = bpf_map_lookup_elem(&drop_pod_ips, fk->src);
	if (id) {
		src_pod = *id;
		src_found = true;
	}
	id = bpf_map_lookup_elem(&drop_pod_ips, fk->dst);
	if (id) {
		dst_pod = *id;
		dst_found = true;
	}
	if (!src_found && !dst_found)
		return;
	pk.reason = key->reason;
	pk.transport = key->transport;
	pk.ip_version = key->ip_version;
	if (src_found) {
		pk.pod_id = src_pod;
		pk.side = DROP_SIDE_SOURCE;
		add_percpu(&drop_pod_counts, &pk, len, DROP_ERR_POD_MAP_FULL);
	}
	if (dst_found) {
		pk.pod_id = dst_pod;
		pk.side = DROP_SIDE_DESTINATION;
		add_percpu(&drop_pod_counts, &pk, len, DROP_ERR_POD_MAP_FULL);
	}
	fk->reason = key->reason;
	fv = bpf_map_lookup_elem(&drop_flows, fk);
	if (!fv) {
		struct drop_value init = { .packets = 1, .bytes = len };

		if (!bpf_map_update_elem(&drop_flows, fk, &init, BPF_NOEXIST))
			return;
		fv = bpf_map_lookup_elem(&drop_flows, fk);
		if (!fv) {
			FOVEA_COUNT(drop_errors, DROP_ERR_FLOW_INSERT);
			return;
		}
	}
	__sync_fetch_and_add(&fv->packets, 1);
	__sync_fetch_and_add(&fv->bytes, len);
}

#ifndef FOVEA_NO_EVENTS
/*
 * A drop event, if the rate limit of (this CPU, reason slot) allows one now. Every drop seen here
 * ends up in exactly one of: emitted, suppressed, ring_full (and, when it got no event, in
 * `pending`, which the next event of the slot carries).
 */
static __always_inline void emit_event(struct sk_buff *skb, struct drop_key *key, struct drop_flow_key *fk,
				       __u32 len, __u32 l4_off, __u64 location)
{
	__u32 zero = 0, slot;
	struct drop_event_config *cfg = bpf_map_lookup_elem(&drop_event_cfg, &zero);
	struct drop_event_limit *lim;
	struct drop_event *ev;
	struct net_device *dev;
	__u64 now;

	if (!cfg || !cfg->enabled)
		return;
	slot = key->reason < DROP_EVENT_SLOTS - 1 ? key->reason : DROP_EVENT_SLOTS - 1;
	lim = bpf_map_lookup_elem(&drop_event_limits, &slot);
	if (!lim)
		return;
	/*
	 * Over the limit, the window can only have ended if a timer tick passed since the clock was
	 * last read: reading jiffies is a load, bpf_ktime_get_ns a clock read (about 20 ns in a VM) on
	 * every suppressed drop of a storm. The window may so end up to one tick late, never early.
	 */
	if (lim->in_window >= cfg->per_window) {
		__u32 tick = (__u32)bpf_jiffies64();

		if (tick == lim->tick) {
			lim->suppressed++;
			lim->pending++;
			return;
		}
		lim->tick = tick;
	}
	now = bpf_ktime_get_ns();
	ev = FOVEA_EVENT_RESERVE(&drop_events, lim, sizeof(*ev), now, cfg->per_window, cfg->window_ns);
	if (!ev)
		return;
	ev->timestamp_ns = now;
	ev->location = location;
	ev->suppressed = FOVEA_EVENT_CARRY(lim);
	ev->reason = key->reason;
	ev->len = len;
	dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		ev->ifindex = BPF_CORE_READ(dev, ifindex);
		ev->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	} else {
		ev->ifindex = BPF_CORE_READ(skb, skb_iif);
		ev->netns = BPF_CORE_READ(skb, sk, __sk_common.skc_net.net, ns.inum);
	}
	__builtin_memcpy(ev->src, fk->src, 16);
	__builtin_memcpy(ev->dst, fk->dst, 16);
	ev->sport = fk->sport;
	ev->dport = fk->dport;
	ev->proto = fk->proto;
	ev->ip_version = fk->ip_version;
	ev->tcp_flags = 0;
	if (fk->proto == FOVEA_IPPROTO_TCP && l4_off) {
		unsigned char *head = BPF_CORE_READ(skb, head);

		if (bpf_probe_read_kernel(&ev->tcp_flags, 1, head + l4_off + 13))
			ev->tcp_flags = 0;
	}
	ev->transport = key->transport;
	ev->cpu = bpf_get_smp_processor_id();
	ev->pad = 0;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}
#endif /* FOVEA_NO_EVENTS */

/*
 * `by_location` (a constant at each call site): the kernel gives no reason (before 5.17), so count
 * by the freeing address in drop_location_counts; `reason` is then DROP_REASON_NONE_GIVEN.
 */
static __always_inline int record_drop(struct sk_buff *skb, __u64 location, __u32 reason, bool direct,
				       bool by_location)
{
	struct drop_key key = {};
	struct drop_flow_key fk = {};
	__u32 len, l4_off = 0;

#ifdef FOVEA_DROP_EMPTY
	/* bench/manual/drop-variants.mjs's baseline: the hook's own dispatch cost, with a program that does nothing */
	return 0;
#endif
	/* SKB_CONSUMED marks a normal free on kernels that route it through this tracepoint. */
	if (!by_location && bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;

	key.reason = reason;
	parse_headers(skb, &key, &fk, &l4_off, direct);
	len = SKB_READ(direct, skb, len);
	record_pod_drop(&key, &fk, len);

	if (by_location) {
		struct drop_location_key lk = {
			.location = location, .ip_version = key.ip_version, .transport = key.transport,
		};

		add_percpu(&drop_location_counts, &lk, len, DROP_ERR_MAP_FULL);
	} else {
		count_reason(&key, len);
	}
#ifndef FOVEA_NO_EVENTS
	emit_event(skb, &key, &fk, len, l4_off, location);
#endif
	return 0;
}

SEC("tp_btf/kfree_skb")
int drop_tp_btf(__u64 *ctx)
{
	return record_drop((struct sk_buff *)ctx[0], ctx[1], (__u32)ctx[2], true, false);
}

SEC("raw_tp/kfree_skb")
int drop_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return record_drop((struct sk_buff *)ctx->args[0], ctx->args[1], (__u32)ctx->args[2], false, false);
}

/*
 * Kernels 5.8-5.16: skb:kfree_skb is (skb, location) — no reason argument. The programs above
 * read a third argument, which the verifier refuses there (tp_btf: the function has no such
 * argument; raw_tp: the attach checks the context size against the tracepoint's arity). These
 * read only the two arguments every kernel has; the agent picks them when the kernel's BTF says
 * the tracepoint has fewer than three (btf_trace_kfree_skb), so newer kernels run the ones above.
 */
SEC("tp_btf/kfree_skb")
int drop_tp_btf_loc(__u64 *ctx)
{
	return record_drop((struct sk_buff *)ctx[0], ctx[1], DROP_REASON_NONE_GIVEN, true, true);
}

SEC("raw_tp/kfree_skb")
int drop_raw_tp_loc(struct bpf_raw_tracepoint_args *ctx)
{
	return record_drop((struct sk_buff *)ctx->args[0], ctx->args[1], DROP_REASON_NONE_GIVEN, false, true);
}
