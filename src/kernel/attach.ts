/**
 * Attaching programs: tracepoints (through libbpf's auto-attach from the section name) and tc,
 * preferring tcx links (kernel >= 6.6; the kernel detaches them when the fd closes, so a crash
 * leaves nothing behind) and falling back to clsact filters.
 *
 * clsact filters outlive the process. We attach them with Fovea's own handle and priority and
 * BPF_TC_F_REPLACE, so a restart after SIGKILL replaces the stale filter instead of adding a
 * second one; and we detach by that handle/priority only — never bpf_tc_hook_destroy, which would
 * remove other tools' filters too.
 */
import { closeSync } from 'node:fs';
import { BpfError, check } from './errors.js';
import { lastErrno, libbpf, type Pointer } from './libbpf.js';
import { withLibbpfLogMuted } from './libbpf-log.js';
import type { BpfProgram } from './object.js';

export type TcDirection = 'ingress' | 'egress';
export type TcMode = 'tcx' | 'clsact';

/** Fovea's clsact filter identity: handle and priority (tc "pref") no other tool is likely to use. */
export const FOVEA_TC_HANDLE = 0xf0ea;
export const FOVEA_TC_PRIORITY = 0xf0ea & 0x7fff; // priority is 16 bits; keep it clear of 0 and tc defaults

const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const BPF_TC_F_REPLACE = 1;
const EEXIST = 17;
const ENOENT = 2;

export interface Attachment {
  readonly description: string;
  /** Detaches; idempotent. Never throws for "already gone" (the interface may have vanished). */
  detach(): void;
}

/** Attaches a tracing program (tp_btf/raw_tp/tracepoint) by its section name. */
export function attachTracing(prog: BpfProgram): Attachment {
  const lib = libbpf();
  const link = lib.bpf_program__attach(prog.handle);
  if (!link) throw new BpfError(`attach program ${prog.name}`, lastErrno());
  let l: Pointer | null = link;
  return {
    description: `${prog.name} (tracing link)`,
    detach() {
      if (!l) return;
      lib.bpf_link__destroy(l);
      l = null;
    },
  };
}

// struct bpf_tc_hook { size_t sz; int ifindex; enum bpf_tc_attach_point attach_point; __u32 parent; size_t :0; }
function tcHook(ifindex: number, dir: TcDirection): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(24n, 0);
  b.writeInt32LE(ifindex, 8);
  b.writeUInt32LE(dir === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS, 12);
  return b;
}
// struct bpf_tc_opts { size_t sz; int prog_fd; __u32 flags; __u32 prog_id; __u32 handle; __u32 priority; size_t :0; }
function tcOpts(progFd: number, flags: number, handle: number, priority: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(32n, 0);
  b.writeInt32LE(progFd, 8);
  b.writeUInt32LE(flags, 12);
  b.writeUInt32LE(handle, 20);
  b.writeUInt32LE(priority, 24);
  return b;
}

/** Attaches with a tcx link. Throws BpfError (EINVAL/ENOTSUPP on kernels without tcx). */
export function attachTcx(prog: BpfProgram, ifindex: number, ifname: string, dir: TcDirection): Attachment {
  const fd = libbpf().bpf_link_create(prog.fd, ifindex, dir === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, null);
  check(`tcx attach ${prog.name} to ${ifname} ${dir}`, fd);
  let open = true;
  return {
    description: `${prog.name} on ${ifname} ${dir} (tcx)`,
    detach() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** Attaches a clsact filter with Fovea's handle/priority, replacing a stale one of ours. */
export function attachClsact(prog: BpfProgram, ifindex: number, ifname: string, dir: TcDirection): Attachment {
  const lib = libbpf();
  const hook = tcHook(ifindex, dir);
  const hrc = lib.bpf_tc_hook_create(hook);
  if (hrc < 0 && hrc !== -EEXIST) check(`create clsact qdisc on ${ifname}`, hrc);
  const opts = tcOpts(prog.fd, BPF_TC_F_REPLACE, FOVEA_TC_HANDLE, FOVEA_TC_PRIORITY);
  check(`clsact attach ${prog.name} to ${ifname} ${dir}`, lib.bpf_tc_attach(hook, opts));
  let attached = true;
  return {
    description: `${prog.name} on ${ifname} ${dir} (clsact)`,
    detach() {
      if (!attached) return;
      attached = false;
      detachClsact(ifindex, dir);
    },
  };
}

/** Removes Fovea's clsact filter from one hook; returns false when none was there. */
export function detachClsact(ifindex: number, dir: TcDirection): boolean {
  // "no clsact qdisc / no such filter" is the common answer: not worth a libbpf warning
  const rc = withLibbpfLogMuted(() =>
    libbpf().bpf_tc_detach(tcHook(ifindex, dir), tcOpts(0, 0, FOVEA_TC_HANDLE, FOVEA_TC_PRIORITY)));
  return rc === 0;
}

/** The program id of Fovea's clsact filter on a hook, or undefined. Used to find stale filters. */
export function queryClsact(ifindex: number, dir: TcDirection): number | undefined {
  const opts = tcOpts(0, 0, FOVEA_TC_HANDLE, FOVEA_TC_PRIORITY);
  const rc = withLibbpfLogMuted(() => libbpf().bpf_tc_query(tcHook(ifindex, dir), opts));
  if (rc === -ENOENT || rc < 0) return undefined;
  return opts.readUInt32LE(16);
}

/**
 * Attaches in the preferred mode: tcx when `mode` allows and the kernel has it, else clsact.
 * Returns the attachment and the mode used.
 */
export function attachTc(
  prog: BpfProgram, ifindex: number, ifname: string, dir: TcDirection, mode: 'auto' | TcMode,
): { attachment: Attachment; mode: TcMode } {
  if (mode !== 'clsact') {
    try {
      const a = attachTcx(prog, ifindex, ifname, dir);
      // a stale clsact filter of ours from a previous run (e.g. after SIGKILL) would count twice
      detachClsact(ifindex, dir);
      return { attachment: a, mode: 'tcx' };
    } catch (err) {
      if (mode === 'tcx' || !(err instanceof BpfError) || !isUnsupported(err)) throw err;
    }
  }
  return { attachment: attachClsact(prog, ifindex, ifname, dir), mode: 'clsact' };
}

function isUnsupported(err: BpfError): boolean {
  return ['EINVAL', 'EOPNOTSUPP', 'ENOTSUPP', 'errno 524', 'EPROTONOSUPPORT'].includes(err.code);
}
