/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ABI of the drop probe: the structs that cross to user space.
 * Must match src/probes/drop/layout.ts byte by byte (checked by test/abi against this
 * object's BTF, plus golden bytes). Add fields only at the end; keep explicit padding.
 */
#ifndef __FOVEA_DROP_H
#define __FOVEA_DROP_H

/* Default size of drop_counts: (kernel drop reasons ~130 on 6.18, growing; subsystem reasons
 * use the upper 16 bits) x (ipv4, ipv6, none) x (tcp, udp, icmp, other). */
#define DROP_MAX_KEYS 8192

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

/* Indexes of drop_errors (per-CPU u64 counters). */
enum drop_error {
	DROP_ERR_MAP_FULL = 0,      /* new key could not be inserted: drop_counts is full */
	DROP_ERR_UPDATE = 1,        /* any other failed insert */
	DROP_ERR_HEADER_READ = 2,   /* header unreadable: counted with transport UNKNOWN (not a loss) */
	DROP_ERR_MAX = 3,
};

#endif /* __FOVEA_DROP_H */
