/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ABI of the tcp probe: the structs that cross to user space.
 * Must match src/probes/tcp/layout.ts byte by byte (checked by test/abi against this object's
 * BTF, plus golden bytes). Add fields only at the end; keep explicit padding.
 *
 * Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). Ports are in host order.
 * "local" is the socket's own end (the network namespace the kernel counted in), "remote" the peer.
 */
#ifndef __FOVEA_TCP_H
#define __FOVEA_TCP_H

/* Size of tcp_stats: (local address, remote address, server port, side) per network namespace.
 * Client ports are not in the key, so a busy client-server pair is one entry. */
#define TCP_MAX_KEYS 16384
/* Size of tcp_socks: sockets the probe follows (state, handshake start). A node with more open
 * TCP sockets than this counts the rest as TCP_ERR_SOCK_MAP_FULL and leaves them out of the
 * state gauge and the handshake histogram. */
#define TCP_MAX_SOCKETS 131072
/* Size of tcp_state_counts: (netns, local address, state). */
#define TCP_MAX_STATE_KEYS 16384

/* Histogram buckets of handshake time and RTT: bounds 0.1 ms .. 10 s (TCP_LATENCY_BOUNDS_NS in
 * tcp.bpf.c, TCP_LATENCY_BOUNDS_S in src/names.ts), plus one bucket above the last bound. */
#define TCP_LATENCY_BUCKETS 17

/* Which end of the connection the local socket is. */
enum tcp_side {
	TCP_SIDE_UNKNOWN = 0, /* a socket the probe did not see open: server port guessed (the lower port) */
	TCP_SIDE_CLIENT = 1,  /* it sent the SYN (connect) */
	TCP_SIDE_SERVER = 2,  /* it answered a SYN (accept), or sent a reset for a SYN to a closed port */
};

/* What the kernel saw when a connect failed (the socket's error when it went to CLOSE). */
enum tcp_failure {
	TCP_FAIL_RESET = 0,       /* ECONNREFUSED: a reset answered */
	TCP_FAIL_TIMEOUT = 1,     /* ETIMEDOUT: no answer */
	TCP_FAIL_UNREACHABLE = 2, /* EHOSTUNREACH / ENETUNREACH: an ICMP error */
	TCP_FAIL_OTHER = 3,       /* any other error, or none (the application closed the socket) */
	TCP_FAIL_MAX = 4,
};

struct tcp_conn_key {
	__u8 local[16];
	__u8 remote[16];
	__u32 netns;        /* inode number of the socket's network namespace */
	__u16 server_port;  /* the remote port for a client, the local port for a server */
	__u8 side;          /* enum tcp_side */
	__u8 ip_version;    /* 4 or 6 (4 also for IPv4-mapped addresses on an IPv6 socket) */
};

/* value of tcp_stats: shared by all CPUs, updated with atomic adds */
struct tcp_conn_stats {
	__u64 retrans_segs;    /* segments the local socket retransmitted (data, SYN and SYN-ACK) */
	__u64 resets_sent;
	__u64 resets_received;
	__u64 opened;          /* reached ESTABLISHED: active for a client, passive for a server */
	__u64 failed[TCP_FAIL_MAX]; /* SYN_SENT or SYN_RECV to CLOSE, by enum tcp_failure */
	__u64 closed;          /* left ESTABLISHED */
	__u64 handshake_count; /* client: SYN_SENT -> ESTABLISHED */
	__u64 handshake_sum_ns;
	__u64 handshake_buckets[TCP_LATENCY_BUCKETS];
	__u64 rtt_count;       /* smoothed RTT samples: at ESTABLISHED and when leaving it */
	__u64 rtt_sum_ns;
	__u64 rtt_buckets[TCP_LATENCY_BUCKETS];
};

/* key of tcp_state_counts; value: __s64 sockets in that state now (shared, atomic adds) */
struct tcp_state_key {
	__u8 local[16];
	__u32 netns;
	__u8 state;        /* the kernel's TCP state number (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11) */
	__u8 ip_version;
	__u16 pad;         /* always zero */
};

/* value of tcp_socks (key: the socket's kernel address) */
struct tcp_sock_info {
	__u64 syn_sent_ns;        /* when it entered SYN_SENT; 0 when not an active open in progress */
	struct tcp_state_key gauge; /* where it is counted in tcp_state_counts */
	__u8 side;                /* enum tcp_side */
	__u8 pad[7];              /* always zero */
};

/* Indexes of tcp_errors (per-CPU u64 counters). */
enum tcp_error {
	TCP_ERR_MAP_FULL = 0,       /* a new tcp_stats key could not be inserted: the event was not counted */
	TCP_ERR_UPDATE = 1,         /* any other failed insert (not counted) */
	TCP_ERR_SOCK_MAP_FULL = 2,  /* tcp_socks full: a socket is left out of the state gauge and handshake time */
	TCP_ERR_STATE_MAP_FULL = 3, /* tcp_state_counts full: a state change is left out of the gauge */
	TCP_ERR_MAX = 4,
};

/* Event types (ring buffer tcp_events); each has its own rate-limit slot per CPU. */
enum tcp_event_type {
	TCP_EVENT_RETRANSMIT = 0,
	TCP_EVENT_RESET_SENT = 1,
	TCP_EVENT_RESET_RECEIVED = 2,
	TCP_EVENT_CONNECT_FAILED = 3,
	TCP_EVENT_TYPES = 4,
};

/* Default ring size (bytes; a power of 2, a multiple of the page size). */
#define TCP_EVENT_RING_BYTES (256 * 1024)

/* value of tcp_event_cfg[0], written by the agent after load (all zero = events off) */
struct tcp_event_config {
	__u32 enabled;     /* 0: no events */
	__u32 per_window;  /* events per CPU per event type per window */
	__u64 window_ns;
};

/* value of tcp_event_limits[type] (per CPU): the same scheme as drop events */
struct tcp_event_limit {
	__u64 window_start_ns;
	__u64 pending;     /* events of this type on this CPU since its last event that got none */
	__u64 suppressed;  /* cumulative: kept out of the ring by the rate limit */
	__u64 ring_full;   /* cumulative: lost because the ring was full */
	__u64 emitted;     /* cumulative */
	__u32 in_window;
	__u32 pad;         /* always zero */
};

/* One record of tcp_events. */
struct tcp_event {
	__u64 timestamp_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 suppressed;    /* events of this type on this CPU since the previous one that got none */
	__u8 local[16];
	__u8 remote[16];
	__u32 netns;
	__u16 local_port;    /* host order; 0 when not yet bound */
	__u16 remote_port;
	__u8 type;           /* enum tcp_event_type */
	__u8 ip_version;
	__u8 side;           /* enum tcp_side */
	__u8 state;          /* the socket's TCP state when it happened (0 for a reset without a socket) */
	__u32 detail;        /* retransmit: segments; reset sent: the kernel's reset reason (0 when not given);
				connect failed: enum tcp_failure; reset received: 0 */
	__u32 cpu;
	__u32 error;         /* connect failed: the socket's errno; else 0 */
};

#endif /* __FOVEA_TCP_H */
