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
 *
 * With flow records on (a pod's host-side veth, TRAFFIC_F_FLOWS): the headers are parsed with
 * direct packet access and the packet is added to its record in traffic_flows, a shared LRU hash
 * (one lookup of the 44-byte key, two atomic adds), stamped with tick_clock_ns(): the clock read
 * once per timer tick per CPU, not per packet. Measured side by side (bench/manual/tc-flow-cost.mjs,
 * BPF_PROG_TEST_RUN, ns over an empty tc program; bench/manual/tc-flow-runs.mjs, bpf_stats under an
 * iperf3 stream between two lab pods, 2026-12-03): parsing ~3 ns, the key's lookup and update ~37 ns
 * (test run); bpf_ktime_get_ns() per packet cost ~28 ns in a test run and 64-81 ns per run under the
 * stream (kvm-clock) — removing it took the flow path from 71 to 43 ns net, and the programs under
 * the stream from 282-309 to 218-228 ns per run (an empty program there: 86, bpf_stats' own floor).
 * Tried and rejected by the same measurements: bpf_ktime_get_coarse_ns() (kernel >= 5.11; 55 ns net,
 * 241-269 under the stream); BPF_MAP_TYPE_LRU_PERCPU_HASH without atomics, with that coarse clock
 * (slower than the shared map with it: 61 ns net, 268-300 under the stream; and its memory and the
 * agent's reads grow with the CPU count); skipping stores of unchanged values (no difference).
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fovea.h"
#include "traffic.h"
#include "dns.h"

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

/* key: 0; value: per-CPU struct tick_clock. The flow records' clock (tick_clock_ns below); one entry. */
struct tick_clock {
	__u64 jiffies; /* the tick when ns was read */
	__u64 ns;      /* bpf_ktime_get_ns() at the first flow packet of that tick on this CPU */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tick_clock);
} traffic_clock SEC(".maps");

/* key: enum traffic_stat; value: per-CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRAFFIC_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} traffic_stats SEC(".maps");

/* ---- DNS (bpf/dns.h): messages on port 53 of flow-tracked interfaces (pods' veths) ---- */

/* key: struct dns_pending_key; value: struct dns_pending. Queries waiting for their response;
 * the agent deletes those older than its timeout (and counts them as timeouts). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DNS_MAX_PENDING);
	__type(key, struct dns_pending_key);
	__type(value, struct dns_pending);
} dns_pending SEC(".maps");

/* key: struct dns_key; value: struct dns_stats (shared, atomic adds). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DNS_MAX_KEYS);
	__type(key, struct dns_key);
	__type(value, struct dns_stats);
} dns_stats SEC(".maps");

/* index 0: zeroed struct dns_stats (initial value, too big for the stack); index 1: scratch for a
 * pending value (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_stats);
} dns_zero SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_pending);
} dns_scratch SEC(".maps");

/* key: struct dns_name_key; value: struct dns_name_stats (shared, atomic adds). Sized by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DNS_MAX_NAMES);
	__type(key, struct dns_name_key);
	__type(value, struct dns_name_stats);
} dns_names SEC(".maps");

/* key: a 16-byte address (IPv4-mapped); value: 1. This node's pods (bpf/dns.h DNS_MAX_POD_ADDRS). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DNS_MAX_POD_ADDRS);
	__type(key, __u8[16]);
	__type(value, __u8);
} dns_pod_addrs SEC(".maps");

/* index 0: scratch for a new dns_names value (too big for the stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_name_stats);
} dns_name_scratch SEC(".maps");

/* key: enum dns_error; value: per-CPU count */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DNS_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dns_errors SEC(".maps");

/* index 0: struct dns_config, written by the agent (all zero: DNS off) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_config);
} dns_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DNS_EVENT_SLOTS);
	__type(key, __u32);
	__type(value, struct dns_event_limit);
} dns_event_limits SEC(".maps");

/* struct dns_event records; sized by the agent */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dns_events SEC(".maps");

/* Upper bounds (ns) of the latency buckets: as TCP_LATENCY_BOUNDS_NS in tcp.bpf.c. */
static const __u64 DNS_LATENCY_BOUNDS_NS[DNS_LATENCY_BUCKETS - 1] = {
	100000ULL, 250000ULL, 500000ULL, 1000000ULL, 2500000ULL, 5000000ULL, 10000000ULL, 25000000ULL,
	50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL, 2500000000ULL,
	5000000000ULL, 10000000000ULL,
};

/* IPv6 extension headers we step over to find the transport header (bounded). */
static __always_inline bool ipv6_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 44;
}

/*
 * Counts a message by its question name (wire format at `name_off`, `name_len` bytes, cut at
 * DNS_PENDING_NAME): an FNV-style hash over its 8-byte words with ASCII letters lowered (names are
 * case-insensitive, and resolvers may randomise case), so a query and its response meet in one entry.
 */
static __always_inline void count_dns_name(struct __sk_buff *skb, __u32 name_off, __u8 name_len, __u16 qtype,
					   __u8 view, bool response, __u8 rcode)
{
	__u32 zero = 0;
	struct dns_name_key nk = {};
	struct dns_name_stats *ns = bpf_map_lookup_elem(&dns_name_scratch, &zero);
	__u64 h = 0xcbf29ce484222325ULL;

	if (!ns || name_len == 0 ||
	    bpf_skb_load_bytes(skb, name_off, ns->name, ((name_len - 1) & (DNS_PENDING_NAME - 1)) + 1))
		return;
	/* 8 bytes at a time (at most 16 words): the bytes past the name are masked off, and ASCII
	 * capitals get their 0x20 bit set without a branch per byte (SWAR: a byte is a capital when
	 * adding 0x3f carries into its top bit and adding 0x25 does not) */
	for (int i = 0; i < DNS_PENDING_NAME / 8; i++) {
		__u32 left = name_len - i * 8;
		__u64 w, upper;

		if (i * 8 >= name_len)
			break;
		w = *(__u64 *)&ns->name[i * 8];
		if (left < 8)
			w &= (1ULL << (left * 8)) - 1;
		upper = ((w & 0x7f7f7f7f7f7f7f7fULL) + 0x3f3f3f3f3f3f3f3fULL) ^
			((w & 0x7f7f7f7f7f7f7f7fULL) + 0x2525252525252525ULL);
		upper &= ~w & 0x8080808080808080ULL;
		w |= upper >> 2;
		*(__u64 *)&ns->name[i * 8] = w;
		h = (h ^ w) * 0x100000001b3ULL;
	}
	nk.hash = h;
	nk.qtype = qtype;
	nk.view = view;
	struct dns_name_stats *st = bpf_map_lookup_elem(&dns_names, &nk);

	if (!st) {
		int err;

		ns->queries = 0;
		#pragma unroll
		for (int i = 0; i < 16; i++)
			ns->responses[i] = 0;
		ns->name_len = name_len;
		err = fovea_map_errno(bpf_map_update_elem(&dns_names, &nk, ns, BPF_NOEXIST));
		if (err && err != -FOVEA_EEXIST) {
			FOVEA_COUNT(dns_errors, DNS_ERR_NAMES_FULL);
			return;
		}
		st = bpf_map_lookup_elem(&dns_names, &nk);
		if (!st)
			return;
	}
	if (response)
		__sync_fetch_and_add(&st->responses[rcode & 0x0f], 1);
	else
		__sync_fetch_and_add(&st->queries, 1);
}

/*
 * A DNS message at `off` (the first byte of the DNS header; TCP: after the 2-byte length).
 * Counts it in dns_stats for its view, matches a response to its query for the latency, and
 * sends an event when asked. Every read is bpf_skb_load_bytes (also paged data), bounded.
 */
static __always_inline void track_dns(struct __sk_buff *skb, const struct flow_key *fk, __u32 off, __u32 dir, bool host)
{
	__u8 hdr[12];
	__u32 zero = 0, pos, msg_len;
	__u16 qtype = 0, qdcount, ancount;
	bool response;
	__u8 view, rcode, name_len = 0;
	struct dns_key key = {};
	struct dns_pending_key pk = {};
	struct dns_pending *pv;
	struct dns_stats *st;
	__u64 now, latency = 0;
	struct dns_config *cfg = bpf_map_lookup_elem(&dns_cfg, &zero);

	if (!cfg || !cfg->enabled)
		return;
	if (off >= skb->len || bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr))) {
		FOVEA_COUNT(dns_errors, DNS_ERR_MALFORMED);
		return;
	}
	msg_len = skb->len - off;
	response = hdr[2] & 0x80;
	rcode = hdr[3] & 0x0f;
	qdcount = ((__u16)hdr[4] << 8) | hdr[5];
	ancount = ((__u16)hdr[6] << 8) | hdr[7];
	/* the first question's name: labels until the root label, at most 255 bytes */
	pos = off + 12;
	if (qdcount) {
		__u32 start = pos;
		bool done = false;

		for (int i = 0; i < 64; i++) {
			__u8 l;

			if (bpf_skb_load_bytes(skb, pos, &l, 1) || (l & 0xc0))
				break; /* unreadable, or compressed (not in a question we can read) */
			pos += 1 + l;
			if (l == 0) {
				done = true;
				break;
			}
			if (pos - start > 255)
				break;
		}
		if (done) {
			__be16 t;

			if (!bpf_skb_load_bytes(skb, pos, &t, 2))
				qtype = bpf_ntohs(t);
			name_len = pos - start > DNS_PENDING_NAME ? DNS_PENDING_NAME : pos - start;
		}
	}
	/* a query from a pod (ingress at its host veth) is the client's view, and so is the response to
	 * it; on a node interface (host) the other way round: a query leaving the node is a client's */
	view = ((dir == TRAFFIC_INGRESS) != host) == !response ? DNS_VIEW_CLIENT : DNS_VIEW_SERVER;
	now = bpf_ktime_get_ns();

	__builtin_memcpy(pk.client, response ? fk->dst : fk->src, 16);
	__builtin_memcpy(pk.server, response ? fk->src : fk->dst, 16);
	/* on a node interface, a message whose end on this side is one of this node's pods was counted
	 * at that pod's veth already */
	if (host && bpf_map_lookup_elem(&dns_pod_addrs, view == DNS_VIEW_CLIENT ? pk.client : pk.server))
		return;
	pk.client_port = bpf_ntohs(response ? fk->dport : fk->sport);
	pk.id = ((__u16)hdr[0] << 8) | hdr[1];
	pk.view = view;
	pk.proto = fk->proto;
	pk.ip_version = fk->ip_version;

	if (!response) {
		pv = bpf_map_lookup_elem(&dns_scratch, &zero);
		if (pv) {
			pv->sent_ns = now;
			pv->ifindex = skb->ifindex;
			pv->qtype = qtype;
			pv->name_len = 0;
			/* (n - 1) & (size - 1) + 1: the verifier sees the length within [1, size] at the call */
			if (name_len > 0 &&
			    !bpf_skb_load_bytes(skb, off + 12, pv->name, ((name_len - 1) & (DNS_PENDING_NAME - 1)) + 1))
				pv->name_len = name_len;
			if (bpf_map_update_elem(&dns_pending, &pk, pv, BPF_ANY))
				FOVEA_COUNT(dns_errors, DNS_ERR_PENDING_FULL);
		}
	} else {
		pv = bpf_map_lookup_elem(&dns_pending, &pk);
		if (pv) {
			if (now > pv->sent_ns)
				latency = now - pv->sent_ns;
			bpf_map_delete_elem(&dns_pending, &pk);
		}
	}

	__builtin_memcpy(key.client, pk.client, 16);
	__builtin_memcpy(key.server, pk.server, 16);
	key.qtype = qtype;
	key.view = view;
	key.proto = fk->proto;
	key.ip_version = fk->ip_version;
	st = bpf_map_lookup_elem(&dns_stats, &key);
	if (!st) {
		struct dns_stats *init = bpf_map_lookup_elem(&dns_zero, &zero);
		int err;

		if (!init)
			return;
		err = fovea_map_errno(bpf_map_update_elem(&dns_stats, &key, init, BPF_NOEXIST));
		if (err && err != -FOVEA_EEXIST) {
			FOVEA_COUNT(dns_errors, DNS_ERR_MAP_FULL);
			st = NULL;
		} else {
			st = bpf_map_lookup_elem(&dns_stats, &key);
		}
	}
	if (st) {
		if (!response) {
			__sync_fetch_and_add(&st->queries, 1);
		} else {
			__sync_fetch_and_add(&st->responses[rcode & 0x0f], 1);
			if (rcode == 0 && ancount == 0)
				__sync_fetch_and_add(&st->empty, 1);
			if (!pv) {
				__sync_fetch_and_add(&st->unmatched, 1);
			} else {
				__u32 b = DNS_LATENCY_BUCKETS - 1;

#pragma unroll
				for (int i = 0; i < DNS_LATENCY_BUCKETS - 1; i++) {
					if (latency <= DNS_LATENCY_BOUNDS_NS[i]) {
						b = i;
						break;
					}
				}
				if (b < DNS_LATENCY_BUCKETS)
					__sync_fetch_and_add(&st->latency_buckets[b], 1);
				__sync_fetch_and_add(&st->latency_sum_ns, latency);
				__sync_fetch_and_add(&st->latency_count, 1);
			}
		}
	}

	if (cfg->names && name_len)
		count_dns_name(skb, off + 12, name_len, qtype, view, response, rcode);

	/* events: failed responses (NXDOMAIN, SERVFAIL, REFUSED), or every message when asked */
	bool failed = response && (rcode == 2 || rcode == 3 || rcode == 5);
	__u32 slot = failed ? DNS_EVENT_FAILED : DNS_EVENT_OTHER;
	struct dns_event_limit *lim;
	struct dns_event *ev;
	__u32 copy;

	if (!cfg->events || (!failed && cfg->events < 2))
		return;
	lim = bpf_map_lookup_elem(&dns_event_limits, &slot);
	if (!lim)
		return;
	ev = FOVEA_EVENT_RESERVE(&dns_events, lim, sizeof(*ev), now, cfg->per_window, cfg->window_ns);
	if (!ev)
		return;
	ev->timestamp_ns = now;
	ev->suppressed = FOVEA_EVENT_CARRY(lim);
	ev->latency_ns = latency;
	__builtin_memcpy(ev->src, fk->src, 16);
	__builtin_memcpy(ev->dst, fk->dst, 16);
	ev->sport = bpf_ntohs(fk->sport);
	ev->dport = bpf_ntohs(fk->dport);
	ev->ifindex = skb->ifindex;
	ev->msg_len = msg_len > 0xffff ? 0xffff : msg_len;
	ev->view = view;
	ev->proto = fk->proto;
	ev->ip_version = fk->ip_version;
	ev->direction = dir;
	copy = msg_len < DNS_EVENT_COPY ? msg_len : DNS_EVENT_COPY;
	ev->copy_len = 0;
	if (copy >= 12 && !bpf_skb_load_bytes(skb, off, ev->data, ((copy - 1) & (DNS_EVENT_COPY - 1)) + 1))
		ev->copy_len = copy;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/*
 * Where the DNS message starts: after the UDP header, or after the TCP header and the 2-byte
 * length, and only when that length says the whole message is in this segment (a message split
 * over segments, or a segment without payload, is not looked at).
 */
static __always_inline void dns_message(struct __sk_buff *skb, const struct flow_key *fk, __u32 l4off, __u32 dir, bool host)
{
	if (fk->proto == FOVEA_IPPROTO_UDP) {
		track_dns(skb, fk, l4off + 8, dir, host);
		return;
	}
	__u8 doff;
	__be16 len;

	if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1))
		return;
	__u32 payload = l4off + (doff >> 4) * 4;

	if (payload + 2 + 12 > skb->len || bpf_skb_load_bytes(skb, payload, &len, 2))
		return;
	if (bpf_ntohs(len) != skb->len - payload - 2)
		return;
	track_dns(skb, fk, payload + 2, dir, host);
}

/*
 * CLOCK_MONOTONIC ns for flow records, read from the clock at most once per timer tick per CPU:
 * bpf_ktime_get_ns() cost 64-81 ns per packet under an iperf3 stream on this project's VM (kvm-clock),
 * a quarter of the flow path, while bpf_jiffies64() is a load the verifier inlines (kernel >= 5.5).
 * The value returned is the clock at this CPU's first flow packet of the current tick: at most one
 * tick (1/CONFIG_HZ, 1-10 ms) behind the true time, never ahead of it.
 */
static __always_inline __u64 tick_clock_ns(void)
{
	__u32 zero = 0;
	struct tick_clock *c = bpf_map_lookup_elem(&traffic_clock, &zero);
	__u64 j = bpf_jiffies64();

	if (!c)
		return bpf_ktime_get_ns();
	if (c->jiffies != j) {
		c->jiffies = j;
		c->ns = bpf_ktime_get_ns();
	}
	return c->ns;
}

/*
 * Parses the packet with direct packet access (every read bounds-checked against data_end; a
 * short or malformed packet simply yields fewer fields) and adds it to its flow record.
 */
static __always_inline void track_flow(struct __sk_buff *skb, __u32 ifindex, __u32 dir, __u32 if_flags)
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
		if (key.sport == bpf_htons(DNS_PORT) || key.dport == bpf_htons(DNS_PORT))
			dns_message(skb, &key, (__u32)((long)l4 - (long)data), dir, if_flags & TRAFFIC_F_DNS_HOST);
	}
	if (!(if_flags & TRAFFIC_F_FLOWS))
		return; /* a node interface with DNS only */
	key.ifindex = ifindex;
	key.direction = dir;

	__u64 now = tick_clock_ns();
	struct flow_value *v = bpf_map_lookup_elem(&traffic_flows, &key);

	if (!v) {
		struct flow_value init = { .packets = 1, .bytes = skb->len, .first_seen_ns = now,
					   .last_seen_ns = now, .tcp_flags = flags };
		int err = fovea_map_errno(bpf_map_update_elem(&traffic_flows, &key, &init, BPF_NOEXIST));

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
	/* only forward: another CPU's tick clock may be a little behind this record's (and the store is
	 * skipped for all but the first packet of a tick) */
	if (now > v->last_seen_ns)
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
		if (slot->counts.flags & (TRAFFIC_F_FLOWS | TRAFFIC_F_DNS_HOST))
			track_flow(skb, ifindex, dir, slot->counts.flags);
		return FOVEA_TC_ACT_UNSPEC;
	}

	val = bpf_map_lookup_elem(&traffic_counts, &ifindex);

	if (!val) {
		struct traffic_value zero = {};
		int err = fovea_map_errno(bpf_map_update_elem(&traffic_counts, &ifindex, &zero, BPF_NOEXIST));

		if (err && err != -FOVEA_EEXIST) {
			FOVEA_COUNT(traffic_errors, err == -FOVEA_E2BIG ? TRAFFIC_ERR_MAP_FULL : TRAFFIC_ERR_UPDATE);
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
	if (val->flags & (TRAFFIC_F_FLOWS | TRAFFIC_F_DNS_HOST))
		track_flow(skb, ifindex, dir, val->flags);
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
