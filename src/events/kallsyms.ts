/**
 * Kernel addresses → `function+0xoffset`, from /proc/kallsyms (text symbols only). Loaded once, on
 * the first lookup. Where addresses are hidden (kptr_restrict, no CAP_SYSLOG: every address reads
 * as zero) the symboliser turns itself off and says why.
 */
import { readFileSync } from 'node:fs';

export class KernelSymbols {
  private addrs: BigUint64Array | undefined;
  /** the names, packed (UTF-8, one after the other): name i is names[starts[i], starts[i+1]) */
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
    if (!this.addrs && this.problem === undefined) this.load();
    const addrs = this.addrs;
    if (!addrs) return undefined;
    if (this.cache.has(addr)) return this.cache.get(addr);
    let lo = 0;
    let hi = addrs.length - 1;
    if (hi < 0 || addr < addrs[0]!) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (addrs[mid]! <= addr) lo = mid;
      else hi = mid - 1;
    }
    const text = `${this.names.toString('latin1', this.starts[lo], this.starts[lo + 1])}+0x${(addr - addrs[lo]!).toString(16)}`;
    if (this.cache.size > 4096) this.cache.clear(); // drop sites are few; keep this bounded anyway
    this.cache.set(addr, text);
    return text;
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      this.problem = `cannot read ${this.path}: ${(err as Error).message}`;
      this.onUnavailable?.(this.problem);
      return;
    }
    const entries: { addr: bigint; name: string }[] = [];
    let nonZero = false;
    for (const line of text.split('\n')) {
      // "ffffffff81000000 T _stext" or "... t name [module]"
      const sp1 = line.indexOf(' ');
      if (sp1 !== 16 || line.length < 20) continue;
      const type = line[17];
      if (type !== 't' && type !== 'T') continue;
      const end = line.indexOf('\t', 19);
      const name = end < 0 ? line.slice(19) : line.slice(19, end);
      const addr = BigInt(`0x${line.slice(0, 16)}`);
      if (addr !== 0n) nonZero = true;
      entries.push({ addr, name });
    }
    if (!nonZero) {
      this.problem = `${this.path} shows no addresses (kernel.kptr_restrict, or no CAP_SYSLOG)`;
      this.onUnavailable?.(this.problem);
      return;
    }
    entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    this.addrs = BigUint64Array.from(entries.map((e) => e.addr));
    // Packed, so no string of the 10 MB file stays alive (a slice of it would keep all of it).
    this.starts = new Uint32Array(entries.length + 1);
    let size = 0;
    entries.forEach((e, i) => { this.starts[i] = size; size += e.name.length; });
    this.starts[entries.length] = size;
    this.names = Buffer.alloc(size);
    entries.forEach((e, i) => this.names.write(e.name, this.starts[i]!, 'latin1'));
  }
}
