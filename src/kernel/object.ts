/**
 * A typed handle over libbpf's bpf_object: open → set map sizes / pick programs → load → use → close.
 */
import { existsSync } from 'node:fs';
import { BpfError, check } from './errors.js';
import { lastErrno, libbpf, type Pointer } from './libbpf.js';
import { recentLibbpfLines } from './libbpf-log.js';
import { BpfMap } from './map.js';

export class BpfProgram {
  constructor(readonly name: string, readonly handle: Pointer, private readonly obj: BpfObject) {}

  setAutoload(on: boolean): void {
    check(`set autoload of program ${this.name}`, libbpf().bpf_program__set_autoload(this.handle, on));
  }

  get fd(): number {
    this.obj.assertLoaded(`fd of program ${this.name}`);
    return check(`fd of program ${this.name}`, libbpf().bpf_program__fd(this.handle));
  }
}

export class BpfObject {
  private handle: Pointer | null;
  private loaded = false;
  private readonly maps = new Map<string, BpfMap>();
  private readonly programs = new Map<string, BpfProgram>();

  private constructor(readonly path: string, handle: Pointer) {
    this.handle = handle;
  }

  /** Opens a compiled CO-RE object. Nothing is in the kernel yet. */
  static open(path: string): BpfObject {
    if (!existsSync(path)) {
      throw new BpfError(`open ${path}`, 2, 'object file missing: run `npm run build:bpf`');
    }
    const h = libbpf().bpf_object__open_file(path, null);
    if (!h) throw new BpfError(`open ${path}`, lastErrno());
    return new BpfObject(path, h);
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  assertLoaded(what: string): void {
    if (!this.loaded) throw new Error(`${what}: object ${this.path} is not loaded`);
    if (!this.handle) throw new Error(`${what}: object ${this.path} is closed`);
  }

  private h(what: string): Pointer {
    if (!this.handle) throw new Error(`${what}: object ${this.path} is closed`);
    return this.handle;
  }

  map(name: string): BpfMap {
    let m = this.maps.get(name);
    if (!m) {
      const p = libbpf().bpf_object__find_map_by_name(this.h(`map ${name}`), name);
      if (!p) throw new BpfError(`find map ${name} in ${this.path}`, 2);
      m = new BpfMap(name, p, this);
      this.maps.set(name, m);
    }
    return m;
  }

  program(name: string): BpfProgram {
    let p = this.programs.get(name);
    if (!p) {
      const h = libbpf().bpf_object__find_program_by_name(this.h(`program ${name}`), name);
      if (!h) throw new BpfError(`find program ${name} in ${this.path}`, 2);
      p = new BpfProgram(name, h, this);
      this.programs.set(name, p);
    }
    return p;
  }

  /** Loads maps and programs into the kernel (CO-RE relocation happens here). */
  load(): void {
    const rc = libbpf().bpf_object__load(this.h('load'));
    if (rc < 0) {
      const verifier = recentLibbpfLines(6).join(' | ');
      throw new BpfError(`load ${this.path}`, -rc, verifier || undefined);
    }
    this.loaded = true;
  }

  /** Frees everything the object owns in the kernel (maps, programs). Idempotent. */
  close(): void {
    if (!this.handle) return;
    libbpf().bpf_object__close(this.handle);
    this.handle = null;
    this.loaded = false;
  }
}
