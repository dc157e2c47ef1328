/**
 * Kernel addresses → `function+0xoffset`, from /proc/kallsyms (text symbols only). Loaded once, on
 * the first lookup. Where addresses are hidden (kptr_restrict, no CAP_SYSLOG: every address reads
 * as zero) the symboliser turns itself off and says why.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * A file of unknown size (procfs reports 0) read into one growing buffer: readFileSync collects
 * chunks and joins them, twice the file's size and more at its peak (22 MB for a 5 MB kallsyms).
 */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    let pos = 0;
    for (;;) {
      if (pos === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, pos);
        buf = bigger;
      }
      const n = readSync(fd, buf, pos, buf.length - pos, null);
      if (n === 0) return buf.subarray(0, pos);
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

export class KernelSymbols {
  /** text symbols sorted by address: high and low 32 bits */
  private hi: Uint32Array | undefined;
  private lo = new Uint32Array(0);
  /** the names, packed (one after the other): name i is names[starts[i], starts[i+1]) */
  private names = Buffer.alloc(0);
  private starts = new Uint32Array(1);
  private problem: string | undefined;
  private readonly cache = new Map<bigint, string | undefined>();

  /** `onUnavailable` is told once, on the first lookup, when symbols cannot be had. */
  constructor(private readonly path = '/proc/kallsyms', private readonly onUnavailable?: (reason: string) => void) {}

  /** Why lookups return nothing (known after the first lookup), or undefined. */
  get unavailable(): string | undefined {
    return this.problem;
  }

  /** `name+0xoff` of the text symbol at or below `addr`; undefined when unknown or unavailable. */
  lookup(addr: bigint): string | undefined {
    if (addr === 0n) return undefined;
    if (!this.hi && this.problem === undefined) this.load();
    const hi = this.hi;
    if (!hi || hi.length === 0) return undefined;
    if (this.cache.has(addr)) return this.cache.get(addr);
    const ah = Number(addr >> 32n) >>> 0;
    const al = Number(addr & 0xffffffffn) >>> 0;
    const below = (i: number): boolean => hi[i]! < ah || (hi[i] === ah && this.lo[i]! <= al);
    if (!below(0)) return undefined;
    let lo = 0;
    let top = hi.length - 1;
    while (lo < top) {
      const mid = (lo + top + 1) >>> 1;
      if (below(mid)) lo = mid;
      else top = mid - 1;
    }
    const base = (BigInt(hi[lo]!) << 32n) | BigInt(this.lo[lo]!);
    const text = `${this.names.toString('latin1', this.starts[lo], this.starts[lo + 1])}+0x${(addr - base).toString(16)}`;
    if (this.cache.size > 4096) this.cache.clear(); // drop sites are few; keep this bounded anyway
    this.cache.set(addr, text);
    return text;
  }

  /**
   * Reads the file as bytes and keeps only typed arrays and one packed buffer of names: the text
   * of /proc/kallsyms (5 MB, ~200k lines) as a JS string split into lines costs 50 MB at its peak.
   */
  private load(): void {
    let buf: Buffer;
    try {
      buf = readWhole(this.path);
    } catch (err) {
      this.problem = `cannot read ${this.path}: ${(err as Error).message}`;
      this.onUnavailable?.(this.problem);
      return;
    }
    let lines = 0;
    for (let i = 0; i < buf.length; i++) if (buf[i] === 0x0a) lines++;
    const his = new Uint32Array(lines + 1);
    const los = new Uint32Array(lines + 1);
    const nameAt = new Uint32Array(lines + 1);
    const nameEnd = new Uint32Array(lines + 1);
    let n = 0;
    let nonZero = false;
    const hex = (c: number): number => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
    for (let start = 0; start < buf.length;) {
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      // "ffffffff81000000 T _stext" or "... t name\t[module]"
      const type = buf[start + 17];
      if (end - start >= 20 && buf[start + 16] === 0x20 && (type === 0x74 || type === 0x54)) {
        let h = 0;
        let l = 0;
        for (let i = 0; i < 8; i++) h = h * 16 + hex(buf[start + i]!);
        for (let i = 8; i < 16; i++) l = l * 16 + hex(buf[start + i]!);
        if (h !== 0 || l !== 0) nonZero = true;
        his[n] = h;
        los[n] = l;
        nameAt[n] = start + 19;
        let e = start + 19;
        while (e < end && buf[e] !== 0x09) e++; // "\t[module]" ends the name
        nameEnd[n] = e;
        n++;
      }
      start = end + 1;
    }
    if (!nonZero) {
      this.problem = `${this.path} shows no addresses (kernel.kptr_restrict, or no CAP_SYSLOG)`;
      this.onUnavailable?.(this.problem);
      return;
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (his[a]! - his[b]!) || (los[a]! - los[b]!));
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.starts = new Uint32Array(n + 1);
    let size = 0;
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      this.hi[i] = his[j]!;
      this.lo[i] = los[j]!;
      this.starts[i] = size;
      size += nameEnd[j]! - nameAt[j]!;
    }
    this.starts[n] = size;
    this.names = Buffer.allocUnsafe(size);
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      buf.copy(this.names, this.starts[i]!, nameAt[j]!, nameEnd[j]!);
    }
  }
}
