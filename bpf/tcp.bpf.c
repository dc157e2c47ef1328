// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Probe "tcp": TCP health per connection end, from tracepoints only (they work where kernel
 * lockdown refuses kprobes and fentry).
 *
 * Hooks (raw tracepoints; arguments as in the kernel's TP_PROTO):
 *   tcp:tcp_retransmit_skb      (sk, skb[, err])    segments retransmitted (data and SYN)
 *   tcp:tcp_retransmit_synack   (sk, req)           SYN-ACKs retransmitted (one segment each)
 *   tcp:tcp_send_reset          (sk, skb[, reason]) resets sent; sk is NULL for a segment to no socket
 *   tcp:tcp_receive_reset       (sk)                resets received
 *   sock:inet_sock_set_state    (sk, old, new)      opens, failed connects, closes, handshake time, RTT, states
 * Since Linux 6.13 tcp_retransmit_skb also fires for a retransmission that failed (its third
 * argument, err, is then non-zero); the agent loads tcp_retransmit_err there (it counts err == 0
 * only) and tcp_retransmit elsewhere, choosing by the tracepoint's arity in the kernel's BTF.
 *
 * Nothing here runs per packet except a retransmission: state changes, resets and retransmits
 * are per connection event. Counts are aggregated in the kernel per (netns, local address, remote
 * address, server port, side) in tcp_stats, shared by all CPUs and updated with atomic adds.
 * Events (resets, failed connects, retransmits) go to the ring tcp_events, rate-limited per CPU
 * and type, with every suppressed event counted and carried on the next one (as drop events).
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "include/fovea.h"
#include "tcp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define ECONNREFUSED 111
#define ETIMEDOUT 110
#define EHOSTUNREACH 113
#define ENETUNREACH 101

/* The kernel's TCP states (include/net/tcp_states.h; stable numbers). */
enum {
	FOVEA_TCP_ESTABLISHED = 1,
	FOVEA_TCP_SYN_SENT = 2,
	FOVEA_TCP_SYN_RECV = 3,
	FOVEA_TCP_CLOSE = 7,
	FOVEA_TCP_LISTEN = 10,
};

/* key: struct tcp_conn_key; value: struct tcp_conn_stats (shared, atomic adds). Size TCP_MAX_KEYS; the agent
 * deletes entries that stopped changing (their totals are kept in user space). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_MAX_KEYS);
	__type(key, struct tcp_conn_key);
	__type(value, struct tcp_conn_stats);
} tcp_stats SEC(".maps");

/* index 0: an all-zero struct tcp_conn_stats, the initial value of new tcp_stats entries (too big for
 * the stack). Never written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_conn_stats);
} tcp_zero SEC(".maps");

/* key: the socket's kernel address; value: struct tcp_sock_info. Sockets seen changing state,
 * deleted when they reach CLOSE. Size TCP_MAX_SOCKETS. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct tcp_sock_info);
} tcp_socks SEC(".maps");

/* key: struct tcp_state_key; value: __s64 sockets in that state now. Size TCP_MAX_STATE_KEYS. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_MAX_STATE_KEYS);
	__type(key, struct tcp_state_key);
	__type(value, __s64);
} tcp_state_counts SEC(".maps");

/* key: enum tcp_error; value: per-CPU count */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCP_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tcp_errors SEC(".maps");

/* index 0: struct tcp_event_config, written by the agent (all zero: no events) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_event_config);
} tcp_event_cfg SEC(".maps");

/* key: enum tcp_event_type; value: per-CPU rate-limit state */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCP_EVENT_TYPES);
	__type(key, __u32);
	__type(value, struct tcp_event_limit);
} tcp_event_limits SEC(".maps");

/* struct tcp_event records; the agent sizes it before load */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCP_EVENT_RING_BYTES);
} tcp_events SEC(".maps");

/* Upper bounds (ns) of the latency buckets: 0.1 ms .. 10 s; src/names.ts TCP_LATENCY_BOUNDS_S. */
static const __u64 TCP_LATENCY_BOUNDS_NS[TCP_LATENCY_BUCKETS - 1] = {
	100000ULL, 250000ULL, 500000ULL, 1000000ULL, 2500000ULL, 5000000ULL, 10000000ULL, 25000000ULL,
	50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL, 2500000000ULL,
	5000000000ULL, 10000000000ULL,
};

/* Both ends of a socket, as the kernel sees them. */
struct ends {
	__u8 local[16];
	__u8 remote[16];
	__u32 netns;
	__u16 lport; /* host order */
	__u16 rport;
	__u8 ip_version;
};

static __always_inline void map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	return !a[0] && !a[1] && !a[2] && !a[3] && !a[4] && !a[5] && !a[6] && !a[7] && !a[8] && !a[9] &&
	       a[10] == 0xff && a[11] == 0xff;
}

/* Ends of a socket (full, request or time-wait: all start with struct sock_common). */
static __always_inline bool sock_ends(const struct sock_common *skc, struct ends *e)
{
	__u16 family = BPF_CORE_READ(skc, skc_family);

	if (family == AF_INET) {
		map_v4(e->local, BPF_CORE_READ(skc, skc_rcv_saddr));
		map_v4(e->remote, BPF_CORE_READ(skc, skc_daddr));
		e->ip_version = 4;
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->local, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->remote, skc, skc_v6_daddr.in6_u.u6_addr8);
		e->ip_version = is_v4_mapped(e->remote) ? 4 : 6;
	} else {
		return false;
	}
	e->lport = BPF_CORE_READ(skc, skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	e->netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	return true;
}

/*
 * Ends of a reset sent with no socket: the segment that caused it came in, so its destination is
 * the local end. Reads only the skb's linear area, every read bounded and checked.
 */
static __always_inline bool skb_ends(const struct sk_buff *skb, struct ends *e)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u16 protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	__be16 ports[2];

	if (!head || nh == (__u16)~0U || th == (__u16)~0U)
		return false;
	if (protocol == FOVEA_ETH_P_IP) {
		struct iphdr iph;

		if (bpf_probe_read_kernel(&iph, sizeof(iph), head + nh))
			return false;
		map_v4(e->local, iph.daddr);
		map_v4(e->remote, iph.saddr);
		e->ip_version = 4;
	} else if (protocol == FOVEA_ETH_P_IPV6) {
		struct ipv6hdr ip6h;

		if (bpf_probe_read_kernel(&ip6h, sizeof(ip6h), head + nh))
			return false;
		__builtin_memcpy(e->local, &ip6h.daddr, 16);
		__builtin_memcpy(e->remote, &ip6h.saddr, 16);
		e->ip_version = 6;
	} else {
		return false;
	}
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + th))
		return false;
	/* ports[0] is the sender's (the remote end), ports[1] ours */
	e->rport = bpf_ntohs(ports[0]);
	e->lport = bpf_ntohs(ports[1]);
	e->netns = dev ? BPF_CORE_READ(dev, nd_net.net, ns.inum) : 0;
	return true;
}

/* Which end a socket is: as recorded when it opened, else what its state says (a socket not
 * followed, e.g. tcp_socks was full, still sends its SYN as a client). */
static __always_inline __u8 side_of(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tcp_sock_info *info = sk ? bpf_map_lookup_elem(&tcp_socks, &key) : NULL;
	__u8 state;

	if (info)
		return info->side;
	if (!sk)
		return TCP_SIDE_UNKNOWN;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	return state == FOVEA_TCP_SYN_SENT ? TCP_SIDE_CLIENT : state == FOVEA_TCP_SYN_RECV ? TCP_SIDE_SERVER : TCP_SIDE_UNKNOWN;
}

static __always_inline void fill_key(struct tcp_conn_key *k, const struct ends *e, __u8 side)
{
	__builtin_memcpy(k->local, e->local, 16);
	__builtin_memcpy(k->remote, e->remote, 16);
	k->netns = e->netns;
	k->ip_version = e->ip_version;
	k->side = side;
	if (side == TCP_SIDE_CLIENT)
		k->server_port = e->rport;
	else if (side == TCP_SIDE_SERVER)
		k->server_port = e->lport;
	else /* not seen opening: the lower port is taken for the server's (0 = not yet bound) */
		k->server_port = e->lport && e->lport < e->rport ? e->lport : e->rport;
}

/* The tcp_stats entry of a key, inserted (all zero) when new; NULL (counted) when the map is full. */
static __always_inline struct tcp_conn_stats *stats_for(const struct tcp_conn_key *k)
{
	struct tcp_conn_stats *v = bpf_map_lookup_elem(&tcp_stats, k);
	__u32 zero = 0;
	struct tcp_conn_stats *init;
	int err;

	if (v)
		return v;
	init = bpf_map_lookup_elem(&tcp_zero, &zero);
	if (!init)
		return NULL;
	err = fovea_map_errno(bpf_map_update_elem(&tcp_stats, k, init, BPF_NOEXIST));
	if (err && err != -FOVEA_EEXIST) { /* EEXIST: another CPU inserted it */
		FOVEA_COUNT(tcp_errors, err == -FOVEA_E2BIG ? TCP_ERR_MAP_FULL : TCP_ERR_UPDATE);
		return NULL;
	}
	v = bpf_map_lookup_elem(&tcp_stats, k);
	if (!v)
		FOVEA_COUNT(tcp_errors, TCP_ERR_UPDATE);
	return v;
}

static __always_inline __u32 latency_bucket(__u64 ns)
{
#pragma unroll
	for (int i = 0; i < TCP_LATENCY_BUCKETS - 1; i++) {
		if (ns <= TCP_LATENCY_BOUNDS_NS[i])
			return i;
	}
	return TCP_LATENCY_BUCKETS - 1;
}

static __always_inline void observe_handshake(struct tcp_conn_stats *v, __u64 ns)
{
	__u32 b = latency_bucket(ns);

	if (b >= TCP_LATENCY_BUCKETS)
		return;
	__sync_fetch_and_add(&v->handshake_buckets[b], 1);
	__sync_fetch_and_add(&v->handshake_sum_ns, ns);
	__sync_fetch_and_add(&v->handshake_count, 1);
}

/* The socket's smoothed RTT (tcp_sock.srtt_us holds 8x the value in µs), when it has a sample. */
static __always_inline void observe_rtt(struct tcp_conn_stats *v, const struct sock *sk)
{
	__u32 srtt8 = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us);
	__u64 ns = (__u64)(srtt8 >> 3) * 1000;
	__u32 b;

	if (!srtt8)
		return;
	b = latency_bucket(ns);
	if (b >= TCP_LATENCY_BUCKETS)
		return;
	__sync_fetch_and_add(&v->rtt_buckets[b], 1);
	__sync_fetch_and_add(&v->rtt_sum_ns, ns);
	__sync_fetch_and_add(&v->rtt_count, 1);
}

/* A TCP event, if the rate limit of (this CPU, type) allows one now (FOVEA_EVENT_RESERVE). */
static __always_inline void emit_event(__u32 type, const struct ends *e, __u8 side, __u8 state, __u32 detail,
				       __u32 error)
{
	__u32 zero = 0;
	struct tcp_event_config *cfg = bpf_map_lookup_elem(&tcp_event_cfg, &zero);
	struct tcp_event_limit *lim;
	struct tcp_event *ev;
	__u64 now;

	if (!cfg || !cfg->enabled)
		return;
	lim = bpf_map_lookup_elem(&tcp_event_limits, &type);
	if (!lim)
		return;
	now = bpf_ktime_get_ns();
	ev = FOVEA_EVENT_RESERVE(&tcp_events, lim, sizeof(*ev), now, cfg->per_window, cfg->window_ns);
	if (!ev)
		return;
	ev->timestamp_ns = now;
	ev->suppressed = FOVEA_EVENT_CARRY(lim);
	__builtin_memcpy(ev->local, e->local, 16);
	__builtin_memcpy(ev->remote, e->remote, 16);
	ev->netns = e->netns;
	ev->local_port = e->lport;
	ev->remote_port = e->rport;
	ev->type = type;
	ev->ip_version = e->ip_version;
	ev->side = side;
	ev->state = state;
	ev->detail = detail;
	ev->cpu = bpf_get_smp_processor_id();
	ev->error = error;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/* Segments in a retransmitted skb: tcp_skb_pcount(), the skb's tcp_skb_cb.tcp_gso_segs. */
static __always_inline __u32 skb_segments(const struct sk_buff *skb)
{
	/* cb is an array inside the skb: its address and the field's offset are both CO-RE relocated */
	const struct tcp_skb_cb *cb = (const struct tcp_skb_cb *)__builtin_preserve_access_index(&skb->cb);
	__u16 segs = 0;

	if (bpf_core_read(&segs, sizeof(segs), &cb->tcp_gso_segs))
		return 1;
	return segs ? segs : 1;
}

static __always_inline int on_retransmit(const struct sock *sk, const struct sk_buff *skb)
{
	struct ends e = {};
	struct tcp_conn_key k = {};
	struct tcp_conn_stats *v;
	__u8 side;
	__u32 segs;

	if (!sk || !sock_ends(&sk->__sk_common, &e))
		return 0;
	side = side_of(sk);
	fill_key(&k, &e, side);
	segs = skb ? skb_segments(skb) : 1;
	v = stats_for(&k);
	if (v)
		__sync_fetch_and_add(&v->retrans_segs, segs);
	emit_event(TCP_EVENT_RETRANSMIT, &e, side, BPF_CORE_READ(sk, __sk_common.skc_state), segs, 0);
	return 0;
}

/* Kernels before 6.13: fires after a successful retransmission only. */
SEC("raw_tp/tcp_retransmit_skb")
int tcp_retransmit(struct bpf_raw_tracepoint_args *ctx)
{
	return on_retransmit((const struct sock *)ctx->args[0], (const struct sk_buff *)ctx->args[1]);
}

/* Linux >= 6.13: fires for every attempt with its result; a failed one sent nothing. */
SEC("raw_tp/tcp_retransmit_skb")
int tcp_retransmit_err(struct bpf_raw_tracepoint_args *ctx)
{
	if ((int)ctx->args[2] != 0)
		return 0;
	return on_retransmit((const struct sock *)ctx->args[0], (const struct sk_buff *)ctx->args[1]);
}

/* A SYN-ACK sent again for a pending connection (sk: the listener; req: the connection). */
SEC("raw_tp/tcp_retransmit_synack")
int tcp_retransmit_synack(struct bpf_raw_tracepoint_args *ctx)
{
	const struct request_sock *req = (const struct request_sock *)ctx->args[1];
	struct ends e = {};
	struct tcp_conn_key k = {};
	struct tcp_conn_stats *v;

	if (!req || !sock_ends(&req->__req_common, &e))
		return 0;
	fill_key(&k, &e, TCP_SIDE_SERVER);
	v = stats_for(&k);
	if (v)
		__sync_fetch_and_add(&v->retrans_segs, 1);
	emit_event(TCP_EVENT_RETRANSMIT, &e, TCP_SIDE_SERVER, FOVEA_TCP_SYN_RECV, 1, 0);
	return 0;
}

SEC("raw_tp/tcp_send_reset")
int tcp_send_reset(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx->args[1];
	struct ends e = {};
	struct tcp_conn_key k = {};
	struct tcp_conn_stats *v;
	__u8 side, state = 0;

	if (sk) {
		if (!sock_ends(&sk->__sk_common, &e))
			return 0;
		side = side_of(sk);
		state = BPF_CORE_READ(sk, __sk_common.skc_state);
	} else {
		/* no socket: a segment to a port nobody listens on (or a stray one) */
		if (!skb || !skb_ends(skb, &e))
			return 0;
		side = TCP_SIDE_SERVER;
	}
	fill_key(&k, &e, side);
	v = stats_for(&k);
	if (v)
		__sync_fetch_and_add(&v->resets_sent, 1);
	emit_event(TCP_EVENT_RESET_SENT, &e, side, state, 0, 0);
	return 0;
}

SEC("raw_tp/tcp_receive_reset")
int tcp_receive_reset(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	struct ends e = {};
	struct tcp_conn_key k = {};
	struct tcp_conn_stats *v;
	__u8 side;

	if (!sk || !sock_ends(&sk->__sk_common, &e))
		return 0;
	side = side_of(sk);
	fill_key(&k, &e, side);
	v = stats_for(&k);
	if (v)
		__sync_fetch_and_add(&v->resets_received, 1);
	emit_event(TCP_EVENT_RESET_RECEIVED, &e, side, BPF_CORE_READ(sk, __sk_common.skc_state), 0, 0);
	return 0;
}

static __always_inline void gauge_add(const struct tcp_state_key *gk, __s64 delta)
{
	__s64 *n = bpf_map_lookup_elem(&tcp_state_counts, gk);

	if (!n) {
		__s64 init = delta;
		int err = fovea_map_errno(bpf_map_update_elem(&tcp_state_counts, gk, &init, BPF_NOEXIST));

		if (!err)
			return;
		if (err != -FOVEA_EEXIST) {
			FOVEA_COUNT(tcp_errors, TCP_ERR_STATE_MAP_FULL);
			return;
		}
		n = bpf_map_lookup_elem(&tcp_state_counts, gk);
		if (!n)
			return;
	}
	__sync_fetch_and_add(n, delta);
}

static __always_inline __u32 failure_of(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return TCP_FAIL_RESET;
	case ETIMEDOUT:
		return TCP_FAIL_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return TCP_FAIL_UNREACHABLE;
	default:
		return TCP_FAIL_OTHER;
	}
}

SEC("raw_tp/inet_sock_set_state")
int tcp_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	int old = (int)ctx->args[1], new = (int)ctx->args[2];
	__u64 skp = (__u64)sk;
	struct tcp_sock_info *info, fresh = {};
	struct ends e = {};
	struct tcp_conn_key k = {};
	struct tcp_conn_stats *v = NULL;
	__u64 now, syn_sent_ns = 0;
	__u8 side;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != FOVEA_IPPROTO_TCP)
		return 0;
	if (!sock_ends(&sk->__sk_common, &e))
		return 0;
	now = bpf_ktime_get_ns();
	info = bpf_map_lookup_elem(&tcp_socks, &skp);

	/* which end it is: known from its opening, else from this transition */
	if (new == FOVEA_TCP_SYN_SENT)
		side = TCP_SIDE_CLIENT;
	else if (old == FOVEA_TCP_LISTEN && new == FOVEA_TCP_SYN_RECV)
		side = TCP_SIDE_SERVER;
	else if (info)
		side = info->side;
	else if (old == FOVEA_TCP_SYN_SENT)
		side = TCP_SIDE_CLIENT;
	else if (old == FOVEA_TCP_SYN_RECV)
		side = TCP_SIDE_SERVER;
	else
		side = TCP_SIDE_UNKNOWN;
	if (info && old == FOVEA_TCP_SYN_SENT)
		syn_sent_ns = info->syn_sent_ns;

	/* the state gauge: out of the state it was counted in, into the new one */
	if (info)
		gauge_add(&info->gauge, -1);

	if (new == FOVEA_TCP_ESTABLISHED || new == FOVEA_TCP_CLOSE || old == FOVEA_TCP_ESTABLISHED) {
		fill_key(&k, &e, side);
		v = stats_for(&k);
	}
	/* counted when the map had room (else TCP_ERR_MAP_FULL says so); the event goes out either way */
	if (new == FOVEA_TCP_ESTABLISHED && (old == FOVEA_TCP_SYN_SENT || old == FOVEA_TCP_SYN_RECV)) {
		if (v) {
			__sync_fetch_and_add(&v->opened, 1);
			if (syn_sent_ns && now > syn_sent_ns)
				observe_handshake(v, now - syn_sent_ns);
			observe_rtt(v, sk);
		}
	} else if (new == FOVEA_TCP_CLOSE && (old == FOVEA_TCP_SYN_SENT || old == FOVEA_TCP_SYN_RECV)) {
		int err = BPF_CORE_READ(sk, sk_err);
		__u32 f = failure_of(err);

		if (v && f < TCP_FAIL_MAX)
			__sync_fetch_and_add(&v->failed[f], 1);
		emit_event(TCP_EVENT_CONNECT_FAILED, &e, side, old, f, err);
	} else if (old == FOVEA_TCP_ESTABLISHED && new != FOVEA_TCP_ESTABLISHED) {
		if (v) {
			__sync_fetch_and_add(&v->closed, 1);
			observe_rtt(v, sk);
		}
	}

	if (new == FOVEA_TCP_CLOSE) {
		if (info)
			bpf_map_delete_elem(&tcp_socks, &skp);
		return 0;
	}
	if (info) {
		/* in place: an update of an existing key would take a new element and free the old one
		 * (the socket's state changes are serialised by its lock) */
		__builtin_memcpy(info->gauge.local, e.local, 16);
		info->gauge.netns = e.netns;
		info->gauge.state = new;
		info->gauge.ip_version = e.ip_version;
		info->side = side;
		info->syn_sent_ns = new == FOVEA_TCP_SYN_SENT ? now : 0;
		gauge_add(&info->gauge, 1);
		return 0;
	}
	__builtin_memcpy(fresh.gauge.local, e.local, 16);
	fresh.gauge.netns = e.netns;
	fresh.gauge.state = new;
	fresh.gauge.ip_version = e.ip_version;
	fresh.side = side;
	fresh.syn_sent_ns = new == FOVEA_TCP_SYN_SENT ? now : 0;
	if (bpf_map_update_elem(&tcp_socks, &skp, &fresh, BPF_NOEXIST)) {
		FOVEA_COUNT(tcp_errors, TCP_ERR_SOCK_MAP_FULL);
		return 0; /* not followed: left out of the gauge, so it never goes negative */
	}
	gauge_add(&fresh.gauge, 1);
	return 0;
}
