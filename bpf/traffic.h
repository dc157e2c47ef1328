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

/* value of traffic_counts (key: __u32 ifindex in the root network namespace), and the counters
 * of a slot */
struct traffic_value {
	__u64 packets[2]; /* indexed by enum traffic_direction */
	__u64 bytes[2];   /* skb->len at tc: includes the L2 header, like `ip -s link` */
};

/* value of traffic_slots (key: __u32 slot index) */
struct traffic_slot {
	__u32 ifindex;    /* owner, written by the agent on every CPU; 0 = free */
	__u32 pad;        /* always zero */
	struct traffic_value counts;
};

/* Indexes of traffic_errors (per-CPU u64 counters). */
enum traffic_error {
	TRAFFIC_ERR_MAP_FULL = 0, /* interface could not be inserted: traffic_counts is full */
	TRAFFIC_ERR_UPDATE = 1,   /* any other failed insert */
	TRAFFIC_ERR_MAX = 2,
};

#endif /* __FOVEA_TRAFFIC_H */
