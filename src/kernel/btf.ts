/**
 * Reading BTF (the kernel's and our objects'): enum names such as `enum skb_drop_reason` from the
 * running kernel, and struct layouts from compiled objects (for the ABI tests).
 */
import { BpfError } from './errors.js';
import { koffi, lastErrno, libbpf, type Pointer } from './libbpf.js';

const BTF_KIND_PTR = 2;
const BTF_KIND_STRUCT = 4;
const BTF_KIND_TYPEDEF = 8;
const BTF_KIND_FUNC_PROTO = 13;
const BTF_KIND_ENUM = 6;
const BTF_KIND_ENUM64 = 19;

export interface BtfEnumValue {
  readonly name: string;
  readonly value: number;
}

export interface StructLayout {
  readonly name: string;
  readonly size: number;
  readonly members: ReadonlyArray<{ name: string; offset: number; size: number }>;
}

/** An open BTF blob; free with close(). */
export class Btf {
  private handle: Pointer | null;

  private constructor(handle: Pointer, readonly source: string) {
    this.handle = handle;
  }

  /** The running kernel's BTF (/sys/kernel/btf/vmlinux). */
  static vmlinux(): Btf {
    const h = libbpf().btf__load_vmlinux_btf();
    if (!h) throw new BpfError('load kernel BTF (/sys/kernel/btf/vmlinux)', lastErrno(), 'kernel built without CONFIG_DEBUG_INFO_BTF?');
    return new Btf(h, 'vmlinux');
  }

  /** BTF of an ELF object (e.g. bpf/build/drop.bpf.o) or a raw BTF file. */
  static parse(path: string): Btf {
    const h = libbpf().btf__parse(path, null);
    if (!h) throw new BpfError(`parse BTF of ${path}`, lastErrno());
    return new Btf(h, path);
  }

  private h(): Pointer {
    if (!this.handle) throw new Error(`BTF ${this.source} is closed`);
    return this.handle;
  }

  private name(off: number): string {
    return libbpf().btf__name_by_offset(this.h(), off) ?? '';
  }

  private typeHeader(id: number): { ptr: Pointer; nameOff: number; vlen: number; kind: number; kflag: boolean; size: number } {
    const ptr = libbpf().btf__type_by_id(this.h(), id);
    if (!ptr) throw new Error(`BTF ${this.source}: no type id ${id}`);
    const [nameOff, info, size] = koffi.decode(ptr, 'uint32_t[3]') as number[];
    return {
      ptr, nameOff: nameOff!, vlen: info! & 0xffff, kind: (info! >>> 24) & 0x1f,
      kflag: (info! >>> 31) === 1, size: size!,
    };
  }

  /** Values of a named enum (ENUM or ENUM64), or undefined when this BTF has no such enum. */
  enumValues(enumName: string): BtfEnumValue[] | undefined {
    const lib = libbpf();
    for (const kind of [BTF_KIND_ENUM, BTF_KIND_ENUM64]) {
      const id = lib.btf__find_by_name_kind(this.h(), enumName, kind);
      if (id < 0) continue;
      const t = this.typeHeader(id);
      const out: BtfEnumValue[] = [];
      // struct btf_enum { u32 name_off; s32 val; }  /  struct btf_enum64 { u32 name_off; u32 lo; u32 hi; }
      const words = kind === BTF_KIND_ENUM ? 2 : 3;
      const raw = koffi.decode(t.ptr, 12, `uint32_t[${t.vlen * words}]`) as number[];
      for (let i = 0; i < t.vlen; i++) {
        const nameOff = raw[i * words]!;
        let value: number;
        if (kind === BTF_KIND_ENUM) {
          value = t.kflag ? raw[i * words + 1]! | 0 : raw[i * words + 1]! >>> 0;
        } else {
          value = raw[i * words + 1]! + raw[i * words + 2]! * 2 ** 32;
        }
        out.push({ name: this.name(nameOff), value });
      }
      return out;
    }
    return undefined;
  }

  /** Size and member offsets of a named struct (bitfields are not used in our ABI). */
  structLayout(structName: string): StructLayout | undefined {
    const lib = libbpf();
    const id = lib.btf__find_by_name_kind(this.h(), structName, BTF_KIND_STRUCT);
    if (id < 0) return undefined;
    const t = this.typeHeader(id);
    // struct btf_member { u32 name_off; u32 type; u32 offset; }  (offset in bits)
    const raw = koffi.decode(t.ptr, 12, `uint32_t[${t.vlen * 3}]`) as number[];
    const members = [];
    for (let i = 0; i < t.vlen; i++) {
      const type = raw[i * 3 + 1]!;
      const bitOffset = t.kflag ? raw[i * 3 + 2]! & 0xffffff : raw[i * 3 + 2]!;
      const size = Number(lib.btf__resolve_size(this.h(), type));
      members.push({ name: this.name(raw[i * 3]!), offset: bitOffset / 8, size });
    }
    return { name: structName, size: t.size, members };
  }

  /**
   * Arguments of a tracepoint as the kernel passes them to BPF (its TP_PROTO), from the typedef
   * `btf_trace_<name>` (a pointer to a function whose first parameter is the context); undefined
   * when this kernel has no such tracepoint.
   */
  tracepointArity(name: string): number | undefined {
    const id = libbpf().btf__find_by_name_kind(this.h(), `btf_trace_${name}`, BTF_KIND_TYPEDEF);
    if (id < 0) return undefined;
    let t = this.typeHeader(this.typeHeader(id).size); // typedef → its type (the "size" word holds a type id)
    if (t.kind === BTF_KIND_PTR) t = this.typeHeader(t.size);
    if (t.kind !== BTF_KIND_FUNC_PROTO) return undefined;
    return t.vlen - 1;
  }

  close(): void {
    if (!this.handle) return;
    libbpf().btf__free(this.handle);
    this.handle = null;
  }
}
