// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Baseline for the benchmark's BPF_PROG_TEST_RUN part: a tc program that does nothing and returns
 * TC_ACT_UNSPEC (-1), like the traffic probe. Run under identical conditions, its ns/run is the
 * test-run harness and program-call overhead; traffic_ingress minus this is the probe's own work.
 * Built by bench/run.ts (same clang flags as scripts/build-bpf.sh) into bench/build/.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC */
}
