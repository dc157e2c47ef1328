/**
 * Kernel addresses → `function+0xoffset`, without blocking the event loop: `resolve` finds the
 * names, `known` answers from what it found.
 *
 * Where the kernel runs bpf/symbol.bpf.c (Linux >= 5.13; `bpfObject` given), the kernel names each
 * address itself (`%pS`, src/kernel/symbolize.ts): tens of microseconds for a new drop site, nothing
 * kept but the names found. Elsewhere, or when told to, from /proc/kallsyms (text symbols only),
 * read a chunk at a time, the event loop running between chunks. Where addresses are hidden there
 * (kptr_restrict, no CAP_SYSLOG: every address reads as zero) the symboliser turns itself off and
 * says why.
 *
 * From the file, only the addresses are kept (sorted typed arrays, loaded on the first `resolve`):
 * kept, the names (3 MB here, 122k symbols, with their offsets 0.5 MB) would stay resident for the
 * agent's life. A name is read from the file again when an address needs it — one pass over the
 * file for every address a `resolve` is given — and cached (drop sites are few). Reading the file
 * costs the kernel up to ~60 ms (printing it); read synchronously, that was the event loop's time
 * (24.5 ms on average per new drop site, 99 ms at worst); now it is read a chunk (64 KiB) at a time,
 * the event loop running between chunks (docs/benchmark.md, "kallsyms lookups").
 */
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { BpfSymbolizer } from '../kernel/symbolize.js';

/** One text symbol's line: its address (high and low 32 bits) and where its name is in the line's buffer; true stops the read. */
type SymbolSink = (hi: number, lo: number, buf: Buffer, nameStart: number, nameEnd: number) => boolean | void;

const hex = (c: number): number => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);

/** One line ("ffffffff81000000 T _stext", "... t name\t[module]") to `sink` if it is a text symbol's. */
function textSymbolLine(buf: Buffer, start: number, end: number, sink: SymbolSink): boolean | void {
  const type = buf[start + 17];
  if (end - start < 20 || buf[start + 16] !== 0x20 || (type !== 0x74 && type !== 0x54)) return false;
  let h = 0;
  let l = 0;
  for (let i = 0; i < 8; i++) h = h * 16 + hex(buf[start + i]!);
  for (let i = 8; i < 16; i++) l = l * 16 + hex(buf[start + i]!);
  let e = start + 19;
  while (e < end && buf[e] !== 0x09) e++; // "\t[module]" ends the name
  return sink(h, l, buf, start + 19, e);
}

/**
 * Fills `buf` from `from` on with synchronous reads until it is full or the file ends; the bytes read.
 * A seq_file such as /proc/kallsyms gives at most a page per read(2): read through the thread pool,
 * each page was a round trip of its own (~1,350 for one pass over this kernel's file), which cost
 * more CPU than the reads themselves; read here, a chunk holds the event loop for the kernel's
 * printing of `buf.length` bytes only (~0.6 ms for 64 KiB).
 */
function fillSync(fd: number, buf: Buffer, from: number): number {
  let at = from;
  while (at < buf.length) {
    const n = readSync(fd, buf, at, buf.length - at, null);
    if (n === 0) break;
    at += n;
  }
  return at - from;
}

/**
 * Calls `sink` for every text symbol of the file, read `chunkBytes` at a time (a line longer than
 * that is skipped), until `sink` returns true. Between chunks the event loop runs. Rejects when the
 * file cannot be read.
 */
async function eachTextSymbol(path: string, chunkBytes: number, sink: SymbolSink): Promise<void> {
  const file = await open(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    let have = 0; // bytes of an unfinished line at the start of `chunk`
    let skipping = false; // inside a line longer than the chunk
    for (;;) {
      const got = fillSync(file.fd, chunk, have);
      await nextTurn();
      const total = have + got;
      let start = 0;
      for (;;) {
        const end = chunk.indexOf(0x0a, start);
        if (end < 0 || end >= total) break;
        if (!skipping && textSymbolLine(chunk, start, end, sink) === true) return;
        skipping = false;
        start = end + 1;
      }
      if (got === 0) {
        if (start < total && !skipping) textSymbolLine(chunk, start, total, sink); // a last line without a newline
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
    await file.close();
  }
}

/** Work done between two turns of the event loop when sorting (about a millisecond, the code still cold). */
const SORT_SLICE = 8192;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The first `n` symbols sorted by address: their addresses, and each one's place in the file.
 * /proc/kallsyms is in address order but for a few (modules, BPF programs): the longest ascending
 * run is kept as it comes, the rest sorted and merged in — linear where sorting all 122k held the
 * event loop 12 ms — a slice at a time, the event loop running between slices. Symbols at the same
 * address stay in file order, as a stable sort leaves them.
 */
async function sortByAddress(his: Uint32Array, los: Uint32Array, n: number): Promise<{ hi: Uint32Array; lo: Uint32Array; fileIndex: Uint32Array }> {
  const run = new Uint32Array(n);
  let runLength = 0;
  const rest: number[] = [];
  let lastHi = 0;
  let lastLo = 0;
  for (let i = 0; i < n; i++) {
    const h = his[i]!;
    const l = los[i]!;
    if (runLength === 0 || h > lastHi || (h === lastHi && l >= lastLo)) {
      run[runLength++] = i;
      lastHi = h;
      lastLo = l;
    } else {
      rest.push(i);
    }
    if (i % SORT_SLICE === SORT_SLICE - 1) await nextTurn();
  }
  rest.sort((a, b) => (his[a]! - his[b]!) || (los[a]! - los[b]!) || a - b);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const fileIndex = new Uint32Array(n);
  let r = 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    let from: number;
    const x = rest[j];
    if (x !== undefined && (r >= runLength || his[x]! < his[run[r]!]! || (his[x] === his[run[r]!] && los[x]! < los[run[r]!]!))) {
      from = x;
      j++;
    } else {
      from = run[r++]!;
    }
    fileIndex[k] = from;
    hi[k] = his[from]!;
    lo[k] = los[from]!;
    if (k % SORT_SLICE === SORT_SLICE - 1) await nextTurn();
  }
  return { hi, lo, fileIndex };
}

export interface KernelSymbolsOptions {
  /** the symbol file (default /proc/kallsyms) */
  readonly path?: string;
  /** told once, on the first `resolve`, when symbols cannot be had */
  readonly onUnavailable?: (reason: string) => void;
  /** how much of the file is read at a time (a longer line is skipped) */
  readonly chunkBytes?: number;
  /** bpf/build/symbol.bpf.o: the kernel names the addresses (falls back to the file where it does not load) */
  readonly bpfObject?: string;
  /** told once when `bpfObject` does not load, and the file is read instead */
  readonly onFileFallback?: (reason: string) => void;
}

export class KernelSymbols {
  /** text symbols sorted by address: high and low 32 bits */
  private hi: Uint32Array | undefined;
  private lo: Uint32Array = new Uint32Array(0);
  /** sorted symbol i → its place j among the file's text symbols (its name is read from the file then) */
  private fileIndex: Uint32Array = new Uint32Array(0);
  private problem: string | undefined;
  private readonly cache = new Map<bigint, string | undefined>();
  /** the pass over the file under way (passes run one after the other) */
  private running: Promise<void> = Promise.resolve();
  private readonly path: string;
  private readonly chunkBytes: number;
  /** the kernel's own names: not tried yet (undefined), loaded, or refused (null: the file is read) */
  private bpf: BpfSymbolizer | null | undefined;

  constructor(private readonly opts: KernelSymbolsOptions = {}) {
    this.path = opts.path ?? '/proc/kallsyms';
    this.chunkBytes = opts.chunkBytes ?? 64 * 1024;
    if (opts.bpfObject === undefined) this.bpf = null;
  }

  /** Where the names come from: the kernel's `%pS` (bpf), the symbol file, or not decided before the first `resolve`. */
  get source(): 'bpf' | 'file' | undefined {
    return this.bpf === undefined ? undefined : this.bpf === null ? 'file' : 'bpf';
  }

  /**
   * Loads the kernel's symboliser now rather than at the first drop: at start, where its load (a few
   * ms) is not paid inside an idle window and no profiler's SIGPROF can interrupt the verifier (its
   * EAGAIN would leave the agent on the file for good). Where it does not load, the file is used.
   */
  prepare(): void {
    this.symbolizer();
  }

  /** Frees the symboliser program (the file needs nothing freed). */
  close(): void {
    this.bpf?.close();
    if (this.bpf) this.bpf = null;
  }

  /** Why addresses have no names (known after the first `resolve`), or undefined. */
  get unavailable(): string | undefined {
    return this.problem;
  }

  /**
   * `name+0xoff` of the text symbol at or below `addr`, as far as already resolved: the text;
   * undefined when there is none (or symbols are unavailable, or `addr` is 0); null when `addr` has
   * not been resolved yet (`resolve` it).
   */
  known(addr: bigint): string | undefined | null {
    if (addr === 0n || this.problem !== undefined) return undefined;
    const text = this.cache.get(addr);
    return text !== undefined || this.cache.has(addr) ? text : null;
  }

  /**
   * Resolves every address of `addrs` not known yet, in one pass over the file (the addresses are
   * read first, on the first call), without blocking the event loop; afterwards `known` answers for
   * each. Calls run one after the other. Never rejects.
   */
  resolve(addrs: Iterable<bigint>): Promise<void> {
    const wanted = [...new Set(addrs)];
    this.running = this.running.then(async () => {
      const todo = wanted.filter((a) => this.known(a) === null);
      try {
        await this.resolveNow(todo);
      } catch {
        // not the file (its errors are handled where it is read): these stay nameless, never pending
        for (const a of todo) if (this.known(a) === null) this.cache.set(a, undefined);
      }
    });
    return this.running;
  }

  /** Settles when every `resolve` called so far has. */
  settled(): Promise<void> {
    return this.running;
  }

  private async resolveNow(addrs: readonly bigint[]): Promise<void> {
    if (addrs.length === 0) return;
    const bpf = this.symbolizer();
    if (bpf) {
      this.remember(addrs, bpf.names(addrs));
      return;
    }
    if (!this.hi) await this.load();
    const found = await this.names(addrs);
    // a name the file no longer has at its place (a module loaded or unloaded since the addresses
    // were read): read the addresses again, then the names once more
    const moved = addrs.filter((a) => found.get(a) === null);
    if (moved.length > 0 && this.problem === undefined) {
      await this.load();
      const again = await this.names(moved);
      for (const a of moved) found.set(a, again.get(a) ?? undefined);
    }
    this.remember(addrs, found);
  }

  private remember(addrs: readonly bigint[], found: ReadonlyMap<bigint, string | undefined | null>): void {
    if (this.cache.size + addrs.length > 4096) this.cache.clear(); // drop sites are few; keep this bounded anyway
    for (const a of addrs) this.cache.set(a, found.get(a) ?? undefined);
  }

  /** The kernel's symboliser, loaded on first use; null where it does not load (then the file). */
  private symbolizer(): BpfSymbolizer | null {
    if (this.bpf === undefined) {
      try {
        this.bpf = BpfSymbolizer.load(this.opts.bpfObject!);
      } catch (err) {
        this.bpf = null;
        this.opts.onFileFallback?.((err as Error).message);
      }
    }
    return this.bpf;
  }

  /** The sorted symbol at or below `addr`, or -1. */
  private below(addr: bigint): number {
    const hi = this.hi;
    if (!hi || hi.length === 0) return -1;
    const ah = Number(addr >> 32n) >>> 0;
    const al = Number(addr & 0xffffffffn) >>> 0;
    const atOrBelow = (i: number): boolean => hi[i]! < ah || (hi[i] === ah && this.lo[i]! <= al);
    if (!atOrBelow(0)) return -1;
    let lo = 0;
    let top = hi.length - 1;
    while (lo < top) {
      const mid = (lo + top + 1) >>> 1;
      if (atOrBelow(mid)) lo = mid;
      else top = mid - 1;
    }
    return lo;
  }

  /**
   * Each address's `name+0xoff`, reading the names of their symbols in one pass over the file:
   * undefined where there is no symbol; null where the file no longer has that symbol at its place
   * (or cannot be read now).
   */
  private async names(addrs: readonly bigint[]): Promise<Map<bigint, string | undefined | null>> {
    const out = new Map<bigint, string | undefined | null>();
    const symbolOf = new Map<bigint, number>(); // address → the sorted symbol at or below it
    /** file index → the sorted symbol whose name is wanted */
    const wanted = new Map<number, number>();
    for (const a of addrs) {
      const i = this.below(a);
      if (i < 0) {
        out.set(a, undefined);
      } else {
        symbolOf.set(a, i);
        wanted.set(this.fileIndex[i]!, i);
      }
    }
    const name = new Map<number, string>(); // sorted symbol → its name
    if (wanted.size > 0) {
      const last = Math.max(...wanted.keys());
      let j = 0;
      try {
        await eachTextSymbol(this.path, this.chunkBytes, (h, l, buf, ns, ne) => {
          const i = wanted.get(j);
          if (i !== undefined && this.hi![i] === h && this.lo[i] === l) name.set(i, buf.toString('latin1', ns, ne));
          return j++ >= last;
        });
      } catch {
        // unreadable now: every name is missing (null below)
      }
    }
    for (const [a, i] of symbolOf) {
      const n = name.get(i);
      out.set(a, n === undefined ? null : `${n}+0x${(a - ((BigInt(this.hi![i]!) << 32n) | BigInt(this.lo[i]!))).toString(16)}`);
    }
    return out;
  }

  /**
   * Reads the addresses of the file's text symbols, a chunk at a time, into typed arrays sorted by
   * address — not their names. The file's text (5 MB) as a JS string split into lines cost 50 MB at
   * its peak; read whole into one growing buffer, 24 MB.
   */
  private async load(): Promise<void> {
    try {
      let cap = 1 << 16;
      let his = new Uint32Array(cap);
      let los = new Uint32Array(cap);
      let n = 0;
      let nonZero = false;
      await eachTextSymbol(this.path, this.chunkBytes, (h, l) => {
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
        this.fail(`${this.path} shows no addresses (kernel.kptr_restrict, or no CAP_SYSLOG)`);
        return;
      }
      const sorted = await sortByAddress(his, los, n);
      this.hi = sorted.hi;
      this.lo = sorted.lo;
      this.fileIndex = sorted.fileIndex;
    } catch (err) {
      this.fail(`cannot read ${this.path}: ${(err as Error).message}`);
    }
  }

  private fail(problem: string): void {
    this.problem = problem;
    this.hi = new Uint32Array(0);
    this.opts.onUnavailable?.(problem);
  }
}
