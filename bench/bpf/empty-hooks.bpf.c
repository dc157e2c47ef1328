// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Baseline for bench/manual/storm-floor.mjs: programs that do nothing, for the hooks the agent uses
 * on the drop storm's path — a tc program (returns TC_ACT_UNSPEC, like the traffic probe) and the
 * skb:kfree_skb tracepoint as tp_btf and as raw tracepoint (like the drop probe; the script loads
 * the one the agent would). What they cost is the hooks' own floor: the dispatch into a program
 * and, for the tracepoint, having it enabled at all. Built by that script with scripts/build-bpf.sh's
 * clang flags.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC */
}

SEC("tp_btf/kfree_skb")
int empty_drop_tp_btf(__u64 *ctx)
{
	return 0;
}

SEC("raw_tp/kfree_skb")
int empty_drop_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}
