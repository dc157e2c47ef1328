/**
 * Kernel addresses → `function+0xoffset`, from /proc/kallsyms (text symbols only). Loaded once, on
 * the first lookup. Where addresses are hidden (kptr_restrict, no CAP_SYSLOG: every address reads
 * as zero) the symboliser turns itself off and says why.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** One text symbol's line: its address (high and low 32 bits) and where its name is in the line's buffer; true stops the read. */
type SymbolSink = (hi: number, lo: number, buf: Buffer, nameStart: number, nameEnd: number) => boolean | void;

/**
 * Calls `sink` for every text symbol ("ffffffff81000000 T _stext", "... t name\t[module]") of the
 * file, read `chunkBytes` at a time (a line longer than that is skipped), until `sink` returns true.
 * Throws when it cannot be read.
 */
function eachTextSymbol(path: string, chunkBytes: number, sink: SymbolSink): void {
  const fd = openSync(path, 'r');
  const hex = (c: number): number => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
  const line = (buf: Buffer, start: number, end: number): boolean | void => {
    const type = buf[start + 17];
    if (end - start < 20 || buf[start + 16] !== 0x20 || (type !== 0x74 && type !== 0x54)) return false;
    let h = 0;
    let l = 0;
    for (let i = 0; i < 8; i++) h = h * 16 + hex(buf[start + i]!);
    for (let i = 8; i < 16; i++) l = l * 16 + hex(buf[start + i]!);
    let e = start + 19;
    while (e < end && buf[e] !== 0x09) e++; // "\t[module]" ends the name
    return sink(h, l, buf, start + 19, e);
  };
  try {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    let have = 0; // bytes of an unfinished line at the start of `chunk`
    let skipping = false; // inside a line longer than the chunk
    for (;;) {
      const got = readSync(fd, chunk, have, chunk.length - have, null);
      const total = have + got;
      let start = 0;
      for (;;) {
        const end = chunk.indexOf(0x0a, start);
        if (end < 0 || end >= total) break;
        if (!skipping && line(chunk, start, end) === true) return;
        skipping = false;
        start = end + 1;
      }
      if (got === 0) {
        if (start < total && !skipping) line(chunk, start, total); // a last line without a newline
        return;
      }
      if (start === 0 && total === chunk.length) {
        skipping = true; // no newline in a whole chunk: not a line of kallsyms
        have = 0;
      } else {
        have = chunk.copy(chunk, 0, start, total);
      }
    }
  } finally {
    closeSync(fd);
  }
}

export class KernelSymbols {
  /** text symbols sorted by address: high and low 32 bits */
  private hi: Uint32Array | undefined;
  private lo = new Uint32Array(0);
  /** sorted symbol i → its place j among the file's text symbols (its name is read from the file then) */
  private fileIndex = new Uint32Array(0);
  private problem: string | undefined;
  private readonly cache = new Map<bigint, string | undefined>();

  /**
   * `onUnavailable` is told once, on the first lookup, when symbols cannot be had; `chunkBytes`: how
   * much of the file is read at a time (a longer line is skipped).
   */
  constructor(
    private readonly path = '/proc/kallsyms', private readonly onUnavailable?: (reason: string) => void,
    private readonly chunkBytes = 64 * 1024,
  ) {}

  /** Why lookups return nothing (known after the first lookup), or undefined. */
  get unavailable(): string | undefined {
    return this.problem;
  }

  /** `name+0xoff` of the text symbol at or below `addr`; undefined when unknown or unavailable. */
  lookup(addr: bigint): string | undefined {
    if (addr === 0n) return undefined;
    if (this.cache.has(addr)) return this.cache.get(addr);
    let text = this.resolve(addr);
    if (text === null) text = this.resolve(addr, true) ?? undefined;
    if (this.cache.size > 4096) this.cache.clear(); // drop sites are few; keep this bounded anyway
    this.cache.set(addr, text);
    return text;
  }

  /**
   * The symbol at or below `addr` from the sorted addresses, and its name from the file. undefined
   * when there is none; null when the file no longer has that symbol at that place (a module loaded
   * or unloaded since the addresses were read, or the file unreadable now): `reload` reads them again first.
   */
  private resolve(addr: bigint, reload = false): string | undefined | null {
    if (reload) {
      if (this.problem !== undefined) return undefined;
      this.hi = undefined;
    }
    if (!this.hi && this.problem === undefined) this.load();
    const hi = this.hi;
    if (!hi || hi.length === 0) return undefined;
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
    const name = this.nameAt(this.fileIndex[lo]!, hi[lo]!, this.lo[lo]!);
    if (name === undefined) return null;
    const base = (BigInt(hi[lo]!) << 32n) | BigInt(this.lo[lo]!);
    return `${name}+0x${(addr - base).toString(16)}`;
  }

  /** Name of the file's `j`-th text symbol, read from the file; undefined unless it is at `h`:`l`. */
  private nameAt(j: number, h: number, l: number): string | undefined {
    let n = 0;
    let name: string | undefined;
    try {
      eachTextSymbol(this.path, this.chunkBytes, (sh, sl, buf, ns, ne) => {
        if (n++ < j) return false;
        if (sh === h && sl === l) name = buf.toString('latin1', ns, ne);
        return true;
      });
    } catch {
      return undefined;
    }
    return name;
  }

  /**
   * Reads the addresses of the file's text symbols, a chunk at a time, into typed arrays sorted by
   * address — not their names: a lookup reads the one name it needs from the file again, and caches
   * the result (drop sites are few). Kept, the names (3 MB here, 122k symbols, with their offsets 0.5
   * MB) would stay resident for the agent's life; a name costs a read of the file up to it instead
   * (the kernel printing it: up to ~50 ms), once per drop site. The file's text (5 MB) as a JS string
   * split into lines cost 50 MB at its peak; read whole into one growing buffer, 24 MB.
   */
  private load(): void {
    try {
      let cap = 1 << 16;
      let his = new Uint32Array(cap);
      let los = new Uint32Array(cap);
      let n = 0;
      let nonZero = false;
      eachTextSymbol(this.path, this.chunkBytes, (h, l) => {
        if (n === cap) {
          cap *= 2;
          const h2 = new Uint32Array(cap);
          const l2 = new Uint32Array(cap);
          h2.set(his);
          l2.set(los);
          his = h2;
          los = l2;
        }
        his[n] = h;
        los[n] = l;
        n++;
        if (h !== 0 || l !== 0) nonZero = true;
      });
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
      for (let i = 0; i < n; i++) {
        this.hi[i] = his[order[i]!]!;
        this.lo[i] = los[order[i]!]!;
      }
      this.fileIndex = order;
    } catch (err) {
      this.problem = `cannot read ${this.path}: ${(err as Error).message}`;
      this.onUnavailable?.(this.problem);
    }
  }
}
