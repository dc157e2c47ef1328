/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by every Fovea eBPF program: map sizes as named constants and small helpers.
 * Map sizes here are defaults; the agent can resize maps between open and load
 * (bpf_map__set_max_entries), so user space owns the final number.
 */
#ifndef __FOVEA_H
#define __FOVEA_H

/* tc verdict that means "no opinion": the packet continues as if we were not attached
 * (for tcx it is TCX_NEXT). Fovea never changes a verdict. */
#define FOVEA_TC_ACT_UNSPEC (-1)

#define FOVEA_ETH_P_IP   0x0800
#define FOVEA_ETH_P_IPV6 0x86DD

#define FOVEA_IPPROTO_ICMP   1
#define FOVEA_IPPROTO_TCP    6
#define FOVEA_IPPROTO_UDP    17
#define FOVEA_IPPROTO_ICMPV6 58

/* Increment a per-CPU u64 counter slot; per-CPU so there is no atomic contention. */
#define FOVEA_COUNT(map, idx)                                  \
	do {                                                   \
		__u32 __k = (idx);                             \
		__u64 *__v = bpf_map_lookup_elem(&(map), &__k); \
		if (__v)                                       \
			*__v += 1;                             \
	} while (0)

#endif /* __FOVEA_H */
