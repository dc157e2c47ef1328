// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The drop sites' names from the kernel itself: for each kernel address in symbol_queries, the text
 * the kernel prints for `%pS` (kallsyms_lookup: "function+0xoff/0xsize [module]"), by bpf_snprintf
 * (Linux >= 5.13, CAP_PERFMON). Never attached: user space runs it with BPF_PROG_TEST_RUN on a dummy
 * packet when a drop site is new to it (src/kernel/symbolize.ts) — microseconds for what reading
 * /proc/kallsyms up to the name cost in tens of milliseconds (docs/benchmark.md, "kallsyms lookups").
 * Where the program does not load (older kernels), the agent reads /proc/kallsyms instead.
 *
 * An XDP program, not a socket filter: a socket filter's test run builds an skb and frees it with
 * kfree_skb(), which skb:kfree_skb reports as a drop (bpf_prog_test_run_skb, NOT_SPECIFIED) — the
 * agent would count a drop of its own making each time it named one. XDP's test run has no skb.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "symbol.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYMBOL_BATCH);
	__type(key, __u32);
	__type(value, struct symbol_query);
} symbol_queries SEC(".maps");

SEC("xdp")
int symbolize(struct xdp_md *ctx)
{
	static const char fmt[] = "%pS";

	for (__u32 i = 0; i < SYMBOL_BATCH; i++) {
		__u32 k = i;
		struct symbol_query *q = bpf_map_lookup_elem(&symbol_queries, &k);

		if (!q || q->addr == 0)
			continue;
		bpf_snprintf(q->text, sizeof(q->text), fmt, &q->addr, sizeof(q->addr));
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
