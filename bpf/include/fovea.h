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

/*
 * The errno of a map helper's return value (0 or -errno). Until Linux 6.4 the kernel's map
 * operations returned int and the helper's 64-bit return value carried it zero-extended (fixed by
 * "bpf: return long from bpf_map_ops funcs"): -E2BIG arrived as 0xfffffff9, so a comparison with
 * -7 or -17 (EEXIST) on the long failed — the kernel matrix saw every insert into a full map
 * counted as an update failure on 5.10 and 6.1, and an insert that lost a race to another CPU
 * (EEXIST) would have been dropped as a failure. The low 32 bits are the errno on every kernel.
 */
#define FOVEA_EEXIST 17
#define FOVEA_E2BIG  7
static __always_inline int fovea_map_errno(long ret)
{
	return (int)ret;
}

/* Increment a per-CPU u64 counter slot; per-CPU so there is no atomic contention. */
#define FOVEA_COUNT(map, idx)                                  \
	do {                                                   \
		__u32 __k = (idx);                             \
		__u64 *__v = bpf_map_lookup_elem(&(map), &__k); \
		if (__v)                                       \
			*__v += 1;                             \
	} while (0)

/*
 * Rate-limited ring-buffer events (drop and tcp probes): per CPU and slot, at most `per_window`
 * records per `window_ns`. `lim` points at the slot's per-CPU state, a struct with the fields
 * window_start_ns, in_window, suppressed, ring_full, emitted, pending (struct drop_event_limit,
 * struct tcp_event_limit). Every event seen ends up in exactly one of emitted, suppressed,
 * ring_full; one that got no record is also in pending, which the slot's next record carries
 * (FOVEA_EVENT_CARRY). Evaluates to the reserved record, or NULL.
 */
#define FOVEA_EVENT_RESERVE(ring, lim, size, now, per_window, window_ns)        \
	({                                                                      \
		void *__rec = NULL;                                             \
		if ((now) - (lim)->window_start_ns >= (window_ns)) {            \
			(lim)->window_start_ns = (now);                         \
			(lim)->in_window = 0;                                   \
		}                                                               \
		if ((lim)->in_window >= (per_window)) {                         \
			(lim)->suppressed++;                                    \
			(lim)->pending++;                                       \
		} else if (!(__rec = bpf_ringbuf_reserve((ring), (size), 0))) { \
			(lim)->ring_full++;                                     \
			(lim)->pending++;                                       \
		} else {                                                        \
			(lim)->in_window++;                                     \
			(lim)->emitted++;                                       \
		}                                                               \
		__rec;                                                          \
	})

/* The slot's events that got no record since its last one; the new record carries them. */
#define FOVEA_EVENT_CARRY(lim)                  \
	({                                      \
		__u64 __n = (lim)->pending;     \
		(lim)->pending = 0;             \
		__n;                            \
	})

#endif /* __FOVEA_H */
