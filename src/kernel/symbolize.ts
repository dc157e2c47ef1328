/**
 * Kernel addresses → `function+0xoffset`, answered by the kernel itself: bpf/symbol.bpf.c formats
 * each address with `%pS` (bpf_snprintf, Linux >= 5.13) when user space runs it through
 * BPF_PROG_TEST_RUN. Tens of microseconds for a batch of addresses, where reading /proc/kallsyms up
 * to a name costs tens of milliseconds and its addresses ~1.5 MB kept (src/events/kallsyms.ts, the
 * fallback where this program does not load).
 */
import { BpfObject, type BpfProgram } from './object.js';
import type { BpfMap } from './map.js';
import { testRun } from './test-run.js';

export const SYMBOL_OBJECT = 'symbol.bpf.o';

/** bpf/symbol.h: slots per run, and struct symbol_query */
export const SYMBOL_BATCH = 16;
export const SYMBOL_QUERY = { size: 680, addr: 0, text: 8, textSize: 672 } as const;

/** `%pS`'s "name+0xoff/0xsize" with " [module]" after it for a module's symbol; a bare address when there is no symbol. */
const PS_TEXT = /^([^\s+/]+)\+0x([0-9a-f]+)\/0x[0-9a-f]+(?: \[[^\]]+\])?$/;

/** `name+0xoff` from the kernel's `%pS` text, or undefined when it names no symbol. */
export function symbolFromPs(text: string): string | undefined {
  const m = PS_TEXT.exec(text);
  return m ? `${m[1]}+0x${m[2]}` : undefined;
}

export class BpfSymbolizer {
  private readonly key = Buffer.alloc(4);
  private readonly slot = Buffer.alloc(SYMBOL_QUERY.size);
  /** slots holding an address from the last run (cleared before the next) */
  private used = 0;
  /** BPF_PROG_TEST_RUN needs a packet; the program never reads it */
  private readonly packet = Buffer.alloc(64);

  private constructor(private readonly obj: BpfObject, private readonly map: BpfMap, private readonly prog: BpfProgram) {}

  /** Loads the program; throws (BpfError) where the kernel refuses it, e.g. without bpf_snprintf (< 5.13). */
  static load(objectPath: string): BpfSymbolizer {
    const obj = BpfObject.open(objectPath);
    try {
      obj.load();
      return new BpfSymbolizer(obj, obj.map('symbol_queries'), obj.program('symbolize'));
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** Each address's `name+0xoff`, or undefined where the kernel knows no symbol there. */
  names(addrs: readonly bigint[]): Map<bigint, string | undefined> {
    const out = new Map<bigint, string | undefined>();
    for (let from = 0; from < addrs.length; from += SYMBOL_BATCH) {
      const batch = addrs.slice(from, from + SYMBOL_BATCH);
      for (let i = 0; i < Math.max(batch.length, this.used); i++) this.write(i, batch[i] ?? 0n);
      this.used = batch.length;
      testRun(this.prog, { data: this.packet });
      batch.forEach((addr, i) => {
        this.key.writeUInt32LE(i);
        const v = this.map.lookup(this.key);
        const end = v ? v.indexOf(0, SYMBOL_QUERY.text) : -1;
        out.set(addr, v ? symbolFromPs(v.toString('latin1', SYMBOL_QUERY.text, end < 0 ? SYMBOL_QUERY.size : end)) : undefined);
      });
    }
    return out;
  }

  close(): void {
    this.obj.close();
  }

  private write(i: number, addr: bigint): void {
    this.key.writeUInt32LE(i);
    this.slot.fill(0);
    this.slot.writeBigUInt64LE(addr, SYMBOL_QUERY.addr);
    this.map.update(this.key, this.slot);
  }
}
