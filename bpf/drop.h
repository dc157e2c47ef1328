/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ABI of the drop probe: the structs that cross to user space.
 * Must match src/probes/drop/layout.ts byte by byte (checked by test/abi against this
 * object's BTF, plus golden bytes). Add fields only at the end; keep explicit padding.
 */
#ifndef __FOVEA_DROP_H
#define __FOVEA_DROP_H

/*
 * Drop counters live in two maps. Kernel reasons below DROP_ARRAY_REASONS (all of enum
 * skb_drop_reason's core values: ~130 on 6.18) go to the per-CPU array drop_reason_counts, one slot
 * per (reason, family, transport): no hashing and no insert on the per-drop path. Larger values
 * (subsystem reasons, bits 16..30) go to the per-CPU hash drop_counts, keyed by struct drop_key.
 * Index of drop_reason_counts: reason * DROP_KEY_SLOTS + family * DROP_TRANSPORTS + transport,
 * family 0 (not IP), 1 (IPv4), 2 (IPv6). The agent sizes the array to the running kernel's
 * reasons (SKB_DROP_REASON_MAX from its BTF) x DROP_KEY_SLOTS before load; a reason past the
 * array's end is counted in drop_counts instead.
 */
#define DROP_ARRAY_REASONS 1024
#define DROP_TRANSPORTS 5
#define DROP_KEY_SLOTS (3 * DROP_TRANSPORTS)

/* Default size of drop_counts: subsystem reasons seen (a few dozen per subsystem) x (ipv4, ipv6,
 * none) x (tcp, udp, icmp, other, unknown). */
#define DROP_MAX_KEYS 1024

/* Transport bucket, decided in the kernel so the map stays small. */
enum drop_transport {
	DROP_TRANSPORT_UNKNOWN = 0, /* not parsed: non-IP, header unreadable */
	DROP_TRANSPORT_TCP = 1,
	DROP_TRANSPORT_UDP = 2,
	DROP_TRANSPORT_ICMP = 3,    /* ICMP for IPv4, ICMPv6 for IPv6 */
	DROP_TRANSPORT_OTHER = 4,   /* any other IP protocol */
};

struct drop_key {
	__u32 reason;     /* enum skb_drop_reason of the running kernel (names from its BTF) */
	__u8 ip_version;  /* 4, 6, or 0 when not IP */
	__u8 transport;   /* enum drop_transport */
	__u16 pad;        /* always zero */
};

struct drop_value {
	__u64 packets;
	__u64 bytes;      /* skb->len at the drop point */
};

/*
 * Kernels before 5.17 (skb:kfree_skb without a reason argument: Debian 11, Amazon Linux 2, Ubuntu
 * 20.04's 5.x) give no drop reason. There the programs *_loc record DROP_REASON_NONE_GIVEN
 * wherever a reason goes (drop_pod_counts, drop_flows, events), and count drops by the kernel
 * address that freed the packet (the tracepoint's `location`) in drop_location_counts instead of
 * drop_counts. Not a value of any kernel's enum skb_drop_reason (they are < 2^16, subsystem
 * reasons use bits 16..30); user space names it NO_KERNEL_REASON.
 */
#define DROP_REASON_NONE_GIVEN 0xffffffffU

/* Size of drop_location_counts: call sites of kfree_skb() that drop (a few hundred in a 5.10
 * kernel) x (ipv4, ipv6, none) x transports seen there. Set to 1 by the agent where reasons exist. */
#define DROP_MAX_LOCATION_KEYS 4096

/* key of drop_location_counts (kernels without drop reasons) */
struct drop_location_key {
	__u64 location;   /* kernel text address that called kfree_skb() (symbolized by the agent) */
	__u8 ip_version;  /* 4, 6, or 0 when not IP */
	__u8 transport;   /* enum drop_transport */
	__u16 pad;        /* always zero */
	__u32 pad2;       /* always zero */
};
/* value of drop_location_counts: struct drop_value (per CPU) */

/* Size of drop_pod_ips: pod addresses the agent registers (a node runs ~110 pods by default,
 * dual stack doubles it; this leaves room for big nodes). */
#define DROP_MAX_POD_IPS 16384
/* Size of drop_pod_counts: pods x reasons seen x directions x transports */
#define DROP_MAX_POD_KEYS 65536
/* Size of drop_flows (LRU): recent dropped 5-tuples that involve a local pod */
#define DROP_MAX_FLOWS 16384

/* key of drop_pod_ips: an address (IPv4-mapped for IPv4); value: __u32 pod id given by the agent */
struct drop_ip {
	__u8 addr[16];
};

enum drop_side {
	DROP_SIDE_SOURCE = 0,      /* the pod sent the dropped packet */
	DROP_SIDE_DESTINATION = 1, /* the packet was on its way to the pod */
};

struct drop_pod_key {
	__u32 pod_id;     /* from drop_pod_ips */
	__u32 reason;
	__u8 side;        /* enum drop_side */
	__u8 transport;   /* enum drop_transport */
	__u8 ip_version;
	__u8 pad;         /* always zero */
};
/* value of drop_pod_counts: struct drop_value (per CPU) */

/* key of drop_flows: the dropped packet's 5-tuple and reason (ports in network order, 0 when absent) */
struct drop_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u32 reason;
	__u8 proto;
	__u8 ip_version;
	__u16 pad;        /* always zero */
};
/* value of drop_flows: struct drop_value (shared; atomic adds) */

/* Indexes of drop_errors (per-CPU u64 counters). */
enum drop_error {
	DROP_ERR_MAP_FULL = 0,      /* new key could not be inserted: drop_counts is full */
	DROP_ERR_UPDATE = 1,        /* any other failed insert */
	DROP_ERR_HEADER_READ = 2,   /* header unreadable: counted with transport UNKNOWN (not a loss) */
	DROP_ERR_POD_MAP_FULL = 3,  /* a pod's drop could not be recorded: drop_pod_counts is full */
	DROP_ERR_FLOW_INSERT = 4,   /* a dropped 5-tuple could not be recorded in drop_flows */
	DROP_ERR_MAX = 5,
};

/*
 * Drop events (ring buffer drop_events). One event per dropped packet, rate-limited in the kernel
 * per CPU and per reason: at most `per_window` events per `window_ns` for each (CPU, reason slot).
 * Every drop that gets no event is counted (suppressed or ring_full) and carried on the next event
 * of the same slot and CPU (`suppressed`), so events reconcile exactly with the drop counts.
 */
/* Default ring size (bytes; a power of 2, a multiple of the page size). ~11k events of 88 bytes. */
#define DROP_EVENT_RING_BYTES (1 << 20)
/* Rate-limit slots: reasons 0..510 have their own; every larger value (subsystem reasons) shares 511. */
#define DROP_EVENT_SLOTS 512

/* value of drop_event_cfg[0], written by the agent after load (all zero = events off) */
struct drop_event_config {
	__u32 enabled;     /* 0: no events */
	__u32 per_window;  /* events per CPU per reason slot per window */
	__u64 window_ns;   /* length of the rate-limit window */
};

/* value of drop_event_limits[slot] (per CPU) */
struct drop_event_limit {
	__u64 window_start_ns;
	__u64 pending;     /* drops since this slot's last event on this CPU that got no event */
	__u64 suppressed;  /* cumulative: drops the rate limit kept out of the ring */
	__u64 ring_full;   /* cumulative: events lost because the ring buffer was full */
	__u64 emitted;     /* cumulative: events submitted to the ring */
	__u32 in_window;   /* events submitted in the current window */
	__u32 tick;        /* low 32 bits of jiffies when the clock was last read over the limit */
};

/* One record of drop_events. */
struct drop_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 location;     /* kernel address that freed the skb (tracepoint's location argument) */
	__u64 suppressed;   /* drops of this slot on this CPU since the previous event that got none */
	__u32 reason;       /* enum skb_drop_reason */
	__u32 len;          /* skb->len */
	__u32 ifindex;      /* skb->dev's ifindex, else skb->skb_iif; 0 when unknown */
	__u32 netns;        /* inode number of skb->dev's (else the socket's) network namespace; 0 when unknown */
	__u8 src[16];       /* IPv4-mapped for IPv4; zero when not parsed */
	__u8 dst[16];
	__u16 sport;        /* network order; 0 when absent */
	__u16 dport;
	__u8 proto;         /* IP protocol number; 0 when not parsed */
	__u8 ip_version;    /* 4, 6, or 0 */
	__u8 tcp_flags;     /* TCP header flags byte (FIN=0x01 ... CWR=0x80); 0 when not TCP */
	__u8 transport;     /* enum drop_transport */
	__u32 cpu;
	__u32 pad;          /* always zero */
};

#endif /* __FOVEA_DROP_H */
