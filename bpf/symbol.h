/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The symboliser's query slots (symbol.bpf.c), shared with src/kernel/symbolize.ts (checked by the
 * ABI test): user space writes kernel addresses, runs the program once (BPF_PROG_TEST_RUN), and
 * reads back the kernel's own `%pS` text for each.
 */
#ifndef __FOVEA_SYMBOL_H
#define __FOVEA_SYMBOL_H

/* slots per run */
#define SYMBOL_BATCH 16
/* "function+0xoff/0xsize [module]", NUL-terminated: the kernel's KSYM_SYMBOL_LEN (names up to
 * KSYM_NAME_LEN, 512 since 6.1 for Rust's mangled names) fits; a longer text would be cut here */
#define SYMBOL_TEXT 672

struct symbol_query {
	__u64 addr; /* 0: an empty slot */
	char text[SYMBOL_TEXT];
};

#endif
