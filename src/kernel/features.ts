/**
 * What this kernel and this libbpf support, found out by trying it: load a program, attach it,
 * detach and close at once. Used by `fovea doctor`; nothing here is kept loaded or attached, and
 * nothing here changes the host beyond the moment of the probe (tcx links die with their fd; a
 * clsact filter is removed by Fovea's own handle/priority, never with bpf_tc_hook_destroy).
 *
 * Every function either returns a fact or throws (a BpfError with the errno where the kernel
 * refused); callers decide what a failure means.
 */
import { closeSync, existsSync, readFileSync } from 'node:fs';
import { attachClsact, attachTcx, attachTracing, type TcDirection, type TcMode } from './attach.js';
import { BpfError, check } from './errors.js';
import { lastErrno, libbpf, type Pointer } from './libbpf.js';
import { BpfObject } from './object.js';

export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';
export const BPF_MAP_TYPE_RINGBUF = 27;

const BTF_KIND_TYPEDEF = 8;
const BTF_KIND_FUNC = 12;
const BPF_PROG_TYPE_TRACING = 26;
const BPF_TRACE_FENTRY = 24;
const ENOENT = 2;
const ENOSPC = 28;
const BATCH_UNSUPPORTED = new Set([22 /* EINVAL */, 95 /* EOPNOTSUPP */, 524 /* ENOTSUPP */]);

export interface LibbpfVersion {
  readonly major: number;
  readonly minor: number;
}

/** Loads libbpf.so.1 (throws with the install hint when missing) and returns its version. */
export function libbpfVersion(): LibbpfVersion {
  const lib = libbpf();
  return { major: lib.libbpf_major_version(), minor: lib.libbpf_minor_version() };
}

/** Whether the running kernel's BTF has a type (e.g. the typedef `btf_trace_kfree_skb` of a tracepoint). */
export function kernelBtfHas(name: string, kind: 'typedef' | 'func'): boolean {
  const lib = libbpf();
  const btf = lib.btf__load_vmlinux_btf();
  if (!btf) throw new BpfError(`load kernel BTF (${KERNEL_BTF_PATH})`, lastErrno());
  try {
    return lib.btf__find_by_name_kind(btf, name, kind === 'typedef' ? BTF_KIND_TYPEDEF : BTF_KIND_FUNC) > 0;
  } finally {
    lib.btf__free(btf);
  }
}

/** libbpf_probe_bpf_map_type: true when the kernel can create maps of this type. */
export function mapTypeSupported(mapType: number): boolean {
  return check(`probe map type ${mapType}`, libbpf().libbpf_probe_bpf_map_type(mapType, null)) === 1;
}

/** Names of the programs in a compiled object (opened and closed again; nothing is loaded). */
export function programNames(path: string): string[] {
  BpfObject.open(path).close(); // the same "object file missing" error as everywhere else
  const lib = libbpf();
  const obj = lib.bpf_object__open_file(path, null);
  if (!obj) throw new BpfError(`open ${path}`, lastErrno());
  try {
    const names: string[] = [];
    let p: Pointer | null = null;
    while ((p = libbpf().bpf_object__next_program(obj, p))) names.push(libbpf().bpf_program__name(p));
    return names;
  } finally {
    lib.bpf_object__close(obj);
  }
}

/** Opens an object with only `program` (or no program at all) set to load. The caller closes it. */
function openWithOnly(path: string, program: string | null): BpfObject {
  const names = programNames(path);
  const obj = BpfObject.open(path);
  try {
    if (program !== null && !names.includes(program)) {
      throw new BpfError(`find program ${program} in ${path}`, ENOENT, `programs: ${names.join(', ') || 'none'}`);
    }
    for (const n of names) obj.program(n).setAutoload(n === program);
    return obj;
  } catch (err) {
    obj.close();
    throw err;
  }
}

/**
 * Loads one tracing program of an object (all others off), attaches it by its section name,
 * then detaches and closes. Throws the BpfError of the step that failed.
 */
export function tryTracingAttach(path: string, program: string): void {
  const obj = openWithOnly(path, program);
  try {
    obj.load();
    attachTracing(obj.program(program)).detach();
  } finally {
    obj.close();
  }
}

/**
 * Loads one tc program and attaches it to an interface in the given mode, then detaches and
 * closes. Only for a program that returns TC_ACT_UNSPEC (it must not change any verdict meanwhile).
 */
export function tryTcAttach(path: string, program: string, mode: TcMode, ifindex: number, ifname: string, dir: TcDirection): void {
  const obj = openWithOnly(path, program);
  try {
    obj.load();
    const prog = obj.program(program);
    const a = mode === 'tcx' ? attachTcx(prog, ifindex, ifname, dir) : attachClsact(prog, ifindex, ifname, dir);
    a.detach();
  } finally {
    obj.close();
  }
}

/**
 * Whether BPF_MAP_LOOKUP_BATCH works on a map of the object: the maps are created without any
 * program, and one batch read of the (empty) map must answer ENOENT ("no more entries").
 */
export function batchLookupSupported(path: string, mapName: string): boolean {
  const obj = openWithOnly(path, null);
  try {
    obj.load();
    const map = obj.map(mapName);
    const keys = Buffer.alloc(map.keySize);
    const values = Buffer.alloc(map.valueStride);
    const token = Buffer.alloc(Math.max(8, map.keySize));
    const count = Buffer.alloc(4);
    count.writeUInt32LE(1);
    const rc = libbpf().bpf_map_lookup_batch(map.fd, null, token, keys, values, count, null);
    if (rc === 0 || rc === -ENOENT || rc === -ENOSPC) return true;
    if (BATCH_UNSUPPORTED.has(-rc)) return false;
    throw new BpfError(`batch read of map ${mapName}`, -rc);
  } finally {
    obj.close();
  }
}

/**
 * Loads (never attaches) a minimal fentry program on a kernel function (`return 0`) and closes it.
 * Throws the kernel's refusal: ESRCH/ENOTSUPP where the kernel has no trampolines, EPERM under lockdown.
 */
export function tryFentryLoad(func: string): void {
  const lib = libbpf();
  const btf = lib.btf__load_vmlinux_btf();
  if (!btf) throw new BpfError(`load kernel BTF (${KERNEL_BTF_PATH})`, lastErrno());
  let btfId: number;
  try {
    btfId = lib.btf__find_by_name_kind(btf, func, BTF_KIND_FUNC);
  } finally {
    lib.btf__free(btf);
  }
  if (btfId <= 0) throw new BpfError(`find kernel function ${func} in BTF`, ENOENT);
  // r0 = 0; exit
  const insns = Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  // struct bpf_prog_load_opts (libbpf >= 1.0) up to log_buf: sz, attempts, expected_attach_type,
  // prog_btf_fd, prog_flags, prog_ifindex, kern_version, attach_btf_id, ... (104 bytes)
  const opts = Buffer.alloc(104);
  opts.writeBigUInt64LE(104n, 0);
  opts.writeUInt32LE(BPF_TRACE_FENTRY, 12);
  opts.writeUInt32LE(btfId, 32);
  const fd = libbpf().bpf_prog_load(BPF_PROG_TYPE_TRACING, 'fovea_probe', 'GPL', insns, 2, opts);
  check(`load fentry program on ${func}`, fd);
  closeSync(fd);
}

/** The kernel lockdown mode ("none", "integrity", "confidentiality"), or undefined when unreadable. */
export function lockdownMode(path = '/sys/kernel/security/lockdown'): string | undefined {
  try {
    return /\[(\w+)\]/.exec(readFileSync(path, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Whether the kernel has kprobe perf events (CONFIG_KPROBES): the PMU that kprobe attachment uses. */
export function kprobePmuPresent(): boolean {
  return existsSync('/sys/bus/event_source/devices/kprobe');
}
