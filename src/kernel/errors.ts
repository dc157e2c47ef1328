import { constants } from 'node:os';

const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}
// libbpf's own error codes (libbpf.h, enum libbpf_errno)
const LIBBPF_ERRNO: Record<number, string> = {
  4000: 'LIBBPF_ERRNO__LIBELF', 4001: 'LIBBPF_ERRNO__FORMAT', 4002: 'LIBBPF_ERRNO__KVERSION',
  4003: 'LIBBPF_ERRNO__ENDIAN', 4004: 'LIBBPF_ERRNO__INTERNAL', 4005: 'LIBBPF_ERRNO__RELOC',
  4006: 'LIBBPF_ERRNO__LOAD', 4007: 'LIBBPF_ERRNO__VERIFY', 4008: 'LIBBPF_ERRNO__PROG2BIG',
  4009: 'LIBBPF_ERRNO__KVER', 4010: 'LIBBPF_ERRNO__PROGTYPE', 4011: 'LIBBPF_ERRNO__WRNGPID',
  4012: 'LIBBPF_ERRNO__INVSEQ', 4013: 'LIBBPF_ERRNO__NLPARSE',
};

export function errnoName(errno: number): string {
  const e = Math.abs(errno);
  return ERRNO_NAMES.get(e) ?? LIBBPF_ERRNO[e] ?? `errno ${e}`;
}

/** Hints for the errors people actually hit, keyed by errno name. */
const HINTS: Record<string, string> = {
  EPERM: 'needs root or CAP_BPF+CAP_PERFMON (+CAP_NET_ADMIN for tc); run `fovea doctor`',
  EACCES: 'the verifier or a security module refused it; the libbpf log above has the details',
  ENOENT: 'not found (missing tracepoint, interface, or kernel feature)',
  E2BIG: 'map is full',
  EOPNOTSUPP: 'the kernel does not support this',
  EINVAL: 'the kernel rejected the arguments (often: feature missing on this kernel)',
};

/** A failed libbpf/bpf() operation: what we were doing, and the errno as a name. */
export class BpfError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly op: string;

  constructor(op: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    const hint = HINTS[code];
    super(`${op}: ${code}${detail ? ` (${detail})` : ''}${hint ? ` — ${hint}` : ''}`);
    this.name = 'BpfError';
    this.errno = Math.abs(errno);
    this.code = code;
    this.op = op;
  }
}

/** Throws a BpfError when a libbpf int result is negative. */
export function check(op: string, rc: number): number {
  if (rc < 0) throw new BpfError(op, -rc);
  return rc;
}
