/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ABI of DNS observability (in the traffic probe's tc programs, on pods' host-side veths).
 * Must match src/probes/dns/layout.ts byte by byte (checked by test/abi against traffic.bpf.o's
 * BTF, plus golden bytes). Addresses: 16 bytes, IPv4-mapped for IPv4. Ports: host order.
 *
 * A DNS message is seen twice when both ends are pods on this node: leaving the client's veth and
 * reaching the server's. Each sighting belongs to one *view*: at a pod's veth, a query the pod sends
 * or a response it receives is the client's view; a query it receives or a response it sends is the
 * server's. Metrics are kept per view, so nothing is counted twice within one view.
 */
#ifndef __FOVEA_DNS_H
#define __FOVEA_DNS_H

#define DNS_PORT 53

/* Size of dns_pending: queries waiting for their response (per view). A full map is counted. */
#define DNS_MAX_PENDING 16384
/* Size of dns_stats: (client, server, view, qtype, transport). */
#define DNS_MAX_KEYS 16384
/* Bytes of the question name kept with a pending query (wire format), for timeout events. */
#define DNS_PENDING_NAME 128 /* a power of 2: the copy length is masked for the verifier */
/* Bytes of the DNS message copied into an event (header, question, answers as far as they reach). */
#define DNS_EVENT_COPY 512 /* a power of 2, as DNS_PENDING_NAME */
/* Size of dns_names: (question name, query type, view) for the top-N name metrics. The agent sets it;
 * a name that finds the table full is counted (DNS_ERR_NAMES_FULL), its message still counted elsewhere. */
#define DNS_MAX_NAMES 4096
/* Size of dns_pod_addrs: addresses of this node's pods (not host-network), written by the agent when
 * DNS runs on node interfaces too: their messages there were already counted at their veth. */
#define DNS_MAX_POD_ADDRS 4096
/* Latency buckets: the same bounds as TCP handshake time (TCP_LATENCY_BOUNDS_S), plus one above. */
#define DNS_LATENCY_BUCKETS 17

enum dns_view {
	DNS_VIEW_CLIENT = 0, /* the query leaves a local pod / its response reaches it */
	DNS_VIEW_SERVER = 1, /* the query reaches a local pod (a DNS server) / its response leaves it */
};

/* key of dns_pending */
struct dns_pending_key {
	__u8 client[16];
	__u8 server[16];
	__u16 client_port;
	__u16 id;          /* DNS message id */
	__u8 view;         /* enum dns_view */
	__u8 proto;        /* 17 UDP, 6 TCP */
	__u8 ip_version;
	__u8 pad;          /* always zero */
};

/* value of dns_pending */
struct dns_pending {
	__u64 sent_ns;     /* bpf_ktime_get_ns() when the query was seen */
	__u32 ifindex;     /* the veth it was seen on */
	__u16 qtype;
	__u8 name_len;     /* bytes of name[] filled */
	__u8 pad;          /* always zero */
	__u8 name[DNS_PENDING_NAME]; /* the question name, wire format (length-prefixed labels), cut */
};

/* key of dns_stats */
struct dns_key {
	__u8 client[16];
	__u8 server[16];
	__u16 qtype;       /* of the question (a response repeats it) */
	__u8 view;         /* enum dns_view */
	__u8 proto;        /* 17 UDP, 6 TCP */
	__u8 ip_version;
	__u8 pad[3];       /* always zero */
};

/* value of dns_stats: shared by CPUs, atomic adds */
struct dns_stats {
	__u64 queries;
	__u64 responses[16];       /* by response code (header RCODE, 0..15) */
	__u64 empty;               /* NOERROR responses without an answer (ANCOUNT 0) */
	__u64 unmatched;           /* responses whose query was not seen (or already timed out) */
	__u64 latency_count;
	__u64 latency_sum_ns;
	__u64 latency_buckets[DNS_LATENCY_BUCKETS];
};

/* key of dns_names: one question name (hashed), query type and view */
struct dns_name_key {
	__u64 hash;        /* of the name's wire bytes (first DNS_PENDING_NAME), ASCII letters lowered, by 8-byte words */
	__u16 qtype;
	__u8 view;         /* enum dns_view */
	__u8 pad[5];       /* always zero */
};

/* value of dns_names: shared by CPUs, atomic adds */
struct dns_name_stats {
	__u64 queries;
	__u64 responses[16];       /* by response code */
	__u8 name_len;             /* bytes of name[] filled */
	__u8 pad[7];               /* always zero */
	__u8 name[DNS_PENDING_NAME]; /* wire format, letters lowered, cut at DNS_PENDING_NAME */
};

/* Indexes of dns_errors (per-CPU u64 counters). */
enum dns_error {
	DNS_ERR_MAP_FULL = 0,      /* a dns_stats key could not be inserted: a message not counted */
	DNS_ERR_PENDING_FULL = 1,  /* a query could not be remembered: its latency is lost (still counted) */
	DNS_ERR_MALFORMED = 2,     /* a message on port 53 too short or with an unreadable question: counted nowhere else */
	DNS_ERR_NAMES_FULL = 3,    /* a name could not be inserted in dns_names: the message is counted, not by name */
	DNS_ERR_MAX = 4,
};

/* Ring events: rate limit slots */
enum dns_event_slot {
	DNS_EVENT_FAILED = 0,   /* responses with NXDOMAIN, SERVFAIL or REFUSED */
	DNS_EVENT_OTHER = 1,    /* every other message, when all messages are asked for (opt-in) */
	DNS_EVENT_SLOTS = 2,
};

/* value of dns_cfg[0], written by the agent after load (all zero: DNS off, only the port check runs) */
struct dns_config {
	__u32 enabled;     /* 1: count DNS messages */
	__u32 events;      /* 0: none; 1: failed responses; 2: every message */
	__u32 per_window;  /* events per CPU per slot per window */
	__u32 names;       /* 1: count messages by question name in dns_names */
	__u64 window_ns;
};

/* value of dns_event_limits[slot] (per CPU): the layout of every Fovea event limit */
struct dns_event_limit {
	__u64 window_start_ns;
	__u64 pending;
	__u64 suppressed;
	__u64 ring_full;
	__u64 emitted;
	__u32 in_window;
	__u32 pad;
};

/* One record of dns_events: a DNS message as seen at a veth. */
struct dns_event {
	__u64 timestamp_ns;
	__u64 suppressed;   /* events of this slot on this CPU since the previous one that got none */
	__u64 latency_ns;   /* responses matched to their query: the time between; else 0 */
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u32 ifindex;
	__u16 msg_len;      /* the DNS message's length */
	__u16 copy_len;     /* bytes of data[] filled */
	__u8 view;
	__u8 proto;
	__u8 ip_version;
	__u8 direction;     /* enum traffic_direction at the veth */
	__u8 data[DNS_EVENT_COPY];
};

#endif /* __FOVEA_DNS_H */
