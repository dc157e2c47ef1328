/**
 * BPF_PROG_TEST_RUN: runs a loaded program on a crafted packet inside the kernel, without any
 * interface. Used by tests (truncated and odd packets) and by the benchmark (ns per run).
 */
import { check } from './errors.js';
import { koffi, libbpf } from './libbpf.js';
import type { BpfProgram } from './object.js';

// struct bpf_test_run_opts of libbpf (bpf.h); sz tells libbpf which fields we know.
const TestRunOpts = koffi.struct('fovea_bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

let fn: ((fd: number, opts: Record<string, unknown>) => number) | undefined;

export interface TestRunResult {
  /** the program's return value (for tc: -1 = TC_ACT_UNSPEC) */
  readonly retval: number;
  /** average ns per repetition, as measured by the kernel */
  readonly durationNs: number;
}

export function testRun(prog: BpfProgram, opts: { data: Buffer; repeat?: number; ctx?: Buffer }): TestRunResult {
  fn ??= libbpf().lib.func('int bpf_prog_test_run_opts(int prog_fd, _Inout_ fovea_bpf_test_run_opts *opts)') as unknown as typeof fn;
  const o: Record<string, unknown> = {
    sz: koffi.sizeof(TestRunOpts),
    data_in: opts.data, data_out: null, data_size_in: opts.data.length, data_size_out: 0,
    ctx_in: opts.ctx ?? null, ctx_out: null, ctx_size_in: opts.ctx?.length ?? 0, ctx_size_out: 0,
    retval: 0, repeat: opts.repeat ?? 1, duration: 0, flags: 0, cpu: 0, batch_size: 0,
  };
  check(`test run of program ${prog.name}`, fn!(prog.fd, o));
  return { retval: (o.retval as number) | 0, durationNs: o.duration as number };
}
