/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ABI of the traffic probe: the structs that cross to user space.
 * Must match src/probes/traffic/layout.ts byte by byte (checked by test/abi against this
 * object's BTF, plus golden bytes).
 */
#ifndef __FOVEA_TRAFFIC_H
#define __FOVEA_TRAFFIC_H

/* Default size of traffic_counts: one entry per attached interface. The agent sets the real
 * size from its configuration (probes.traffic.maxInterfaces) before load. */
#define TRAFFIC_MAX_INTERFACES 4096

enum traffic_direction {
	TRAFFIC_INGRESS = 0, /* received by the interface (tc ingress)  -> network.io.direction=receive */
	TRAFFIC_EGRESS = 1,  /* sent by the interface (tc egress)       -> network.io.direction=transmit */
};

/* Fast path: slots of a per-CPU array indexed by ifindex & (TRAFFIC_SLOTS - 1). A slot belongs
 * to the one interface whose ifindex the agent wrote into it; interfaces whose slot is taken
 * fall back to traffic_counts. Power of two. */
#define TRAFFIC_SLOTS 1024

/* traffic_value.flags, written by the agent when it attaches (same on every CPU) */
#define TRAFFIC_F_FLOWS 1 /* track flows on this interface (a pod's host-side veth) */
/* DNS on a node interface (probes.dns.hostInterfaces): DNS messages of host-network clients and
 * servers, no flow records; views are the host's (a query leaving is the client's view, a query
 * arriving the server's: the opposite of a pod's host-side veth, where egress is towards the pod) */
#define TRAFFIC_F_DNS_HOST 2

/* value of traffic_counts (key: __u32 ifindex in the root network namespace), and the counters
 * of a slot */
struct traffic_value {
	__u64 packets[2]; /* indexed by enum traffic_direction */
	__u64 bytes[2];   /* skb->len at tc: includes the L2 header, like `ip -s link` */
	__u32 flags;      /* TRAFFIC_F_*, set by the agent; the datapath only reads it */
	__u32 pad;        /* always zero */
};

/* Default size of traffic_flows: well above 100k concurrently active flows (LRU: the oldest are
 * evicted when full; evictions are counted by the agent). */
#define TRAFFIC_MAX_FLOWS 262144

/* key of traffic_flows: one record per 5-tuple, interface and direction. IPv4 addresses are
 * stored IPv4-mapped (::ffff:a.b.c.d). Ports in network byte order; 0 when absent (ICMP, fragments). */
struct flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u32 ifindex;    /* host-side interface it was seen on */
	__u8 proto;       /* IP protocol number */
	__u8 ip_version;  /* 4 or 6 */
	__u8 direction;   /* enum traffic_direction at that interface */
	__u8 pad;         /* always zero */
};

struct flow_value {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns() read once per timer tick per CPU:
			      * up to one tick, 1/CONFIG_HZ, behind the packet, never ahead) */
	__u64 last_seen_ns;  /* same clock; only moves forward */
	__u8 tcp_flags;      /* OR of the TCP flags seen (best effort across CPUs) */
	__u8 pad[7];
};

/* value of traffic_slots (key: __u32 slot index) */
struct traffic_slot {
	__u32 ifindex;    /* owner, written by the agent on every CPU; 0 = free */
	__u32 pad;        /* always zero */
	struct traffic_value counts;
};

/* Indexes of traffic_errors (per-CPU u64 counters). */
enum traffic_error {
	TRAFFIC_ERR_MAP_FULL = 0,    /* interface could not be inserted: traffic_counts is full */
	TRAFFIC_ERR_UPDATE = 1,      /* any other failed insert */
	TRAFFIC_ERR_FLOW_INSERT = 2, /* a new flow could not be inserted into traffic_flows */
	TRAFFIC_ERR_MAX = 3,
};

/* Indexes of traffic_stats (per-CPU u64 counters): not failures, facts. */
enum traffic_stat {
	TRAFFIC_STAT_FLOWS_CREATED = 0, /* records inserted into traffic_flows (evictions = created - deleted - live) */
	TRAFFIC_STAT_MAX = 1,
};

#endif /* __FOVEA_TRAFFIC_H */
