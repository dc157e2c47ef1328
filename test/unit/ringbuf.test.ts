/**
 * RingReader over fake ring memory laid out like the kernel's (consumer page; producer page, then
 * the data area mapped twice): record walking, wrap-around, BUSY and DISCARD bits, the consumer
 * position it publishes, and `max`.
 */
import { describe, expect, it } from 'vitest';
import { RingReader, type RingMemory } from '../../src/kernel/ringbuf.js';

const PAGE = 4096;
const SIZE = 4096;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;

/** A producer that writes like bpf_ringbuf_reserve/submit, into both mappings of the data area. */
class FakeRing {
  readonly consumer = new ArrayBuffer(PAGE);
  readonly producer = new ArrayBuffer(PAGE + 2 * SIZE);
  private prod = 0n;
  readonly mem: RingMemory = { consumer: this.consumer, producer: this.producer, pageSize: PAGE, size: SIZE };

  get consumerPos(): bigint {
    return new BigUint64Array(this.consumer, 0, 1)[0]!;
  }

  /** Writes a record with `payload` and header bits; returns its position. */
  write(payload: Uint8Array, bits = 0): bigint {
    const pos = this.prod;
    const total = (payload.length + 8 + 7) & ~7;
    const bytes = new Uint8Array(total);
    new DataView(bytes.buffer).setUint32(0, (payload.length | bits) >>> 0, true);
    bytes.set(payload, 8);
    const off = Number(pos % BigInt(SIZE));
    const data = new Uint8Array(this.producer, PAGE, 2 * SIZE);
    for (let i = 0; i < total; i++) {
      const at = (off + i) % SIZE;
      data[at] = bytes[i]!;
      data[at + SIZE] = bytes[i]!; // the second mapping of the same pages
    }
    this.prod += BigInt(total);
    new DataView(this.producer).setBigUint64(0, this.prod, true);
    return pos;
  }

  /** Sets the header of the record at `pos` (e.g. to clear BUSY when it is submitted). */
  setHeader(pos: bigint, len: number, bits = 0): void {
    const off = Number(pos % BigInt(SIZE));
    const v = (len | bits) >>> 0;
    new DataView(this.producer, PAGE).setUint32(off, v, true);
    new DataView(this.producer, PAGE).setUint32(off + SIZE, v, true);
  }
}

const payload = (n: number, len = 12): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (n + i) & 0xff);

function readAll(r: RingReader, max?: number): { items: number[][]; res: ReturnType<RingReader['consume']> } {
  const items: number[][] = [];
  const res = r.consume((v, off, len) => { items.push(Array.from({ length: len }, (_, i) => v.getUint8(off + i))); }, max);
  return { items, res };
}

describe('RingReader', () => {
  it('reads records in order, frees their space (consumer position = producer position)', () => {
    const f = new FakeRing();
    f.write(payload(1));
    f.write(payload(2, 3));
    const r = new RingReader(f.mem);
    expect(r.pending()).toBe(24 + 16);
    const { items, res } = readAll(r);
    expect(res).toEqual({ records: 2, discarded: 0 });
    expect(items).toEqual([Array.from(payload(1)), Array.from(payload(2, 3))]);
    expect(f.consumerPos).toBe(40n);
    expect(r.pending()).toBe(0);
    expect(readAll(r).res.records).toBe(0);
  });

  it('a record that wraps past the end of the data area is read whole (double mapping)', () => {
    const f = new FakeRing();
    const r = new RingReader(f.mem);
    const big = payload(9, 88);
    let n = 0;
    // fill and drain until the next record straddles the end
    while (Number(f.consumerPos % BigInt(SIZE)) + 96 <= SIZE) { f.write(big); readAll(r); n++; }
    expect(n).toBeGreaterThan(10);
    const straddler = payload(200, 88);
    f.write(straddler);
    const { items } = readAll(r);
    expect(items).toEqual([Array.from(straddler)]);
  });

  it('stops at a BUSY record and resumes once it is submitted; skips DISCARDed ones', () => {
    const f = new FakeRing();
    f.write(payload(1));
    const busyAt = f.write(payload(2), BUSY);
    f.write(payload(3));
    const r = new RingReader(f.mem);
    let got = readAll(r);
    expect(got.items).toEqual([Array.from(payload(1))]);
    expect(f.consumerPos).toBe(busyAt);
    f.setHeader(busyAt, 12, DISCARD); // producer discarded it
    got = readAll(r);
    expect(got.res).toEqual({ records: 1, discarded: 1 });
    expect(got.items).toEqual([Array.from(payload(3))]);
  });

  it('max bounds one call; the rest stays for the next', () => {
    const f = new FakeRing();
    for (let i = 0; i < 5; i++) f.write(payload(i));
    const r = new RingReader(f.mem);
    expect(readAll(r, 2).items).toHaveLength(2);
    expect(readAll(r).items).toHaveLength(3);
  });

  it('the consumer position is saved even when the callback throws', () => {
    const f = new FakeRing();
    f.write(payload(1));
    f.write(payload(2));
    const r = new RingReader(f.mem);
    let calls = 0;
    expect(() => r.consume(() => { if (++calls === 2) throw new Error('boom'); })).toThrow('boom');
    // the first record was consumed, the one that threw was not
    expect(f.consumerPos).toBe(24n);
  });

  it('refuses a size that is not a power of 2, or a mapping too small', () => {
    const f = new FakeRing();
    expect(() => new RingReader({ ...f.mem, size: 3000 })).toThrow(/power of 2/);
    expect(() => new RingReader({ ...f.mem, producer: new ArrayBuffer(PAGE + SIZE) })).toThrow(/too small/);
  });
});
