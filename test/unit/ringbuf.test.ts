/**
 * RingReader over fake ring memory laid out like the kernel's (consumer page; producer page, then
 * the data area, mapped once as the agent maps it): record walking, records that wrap past the end,
 * BUSY and DISCARD bits, the consumer position it publishes, and `max`.
 */
import { describe, expect, it } from 'vitest';
import { RingReader, type RingMemory } from '../../src/kernel/ringbuf.js';

const PAGE = 4096;
const SIZE = 4096;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;

/** A producer that writes like bpf_ringbuf_reserve/submit, into the data area (wrapping at its end). */
class FakeRing {
  readonly consumer = new ArrayBuffer(PAGE);
  readonly producer = new ArrayBuffer(PAGE + SIZE);
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
    const data = new Uint8Array(this.producer, PAGE, SIZE);
    for (let i = 0; i < total; i++) data[(off + i) % SIZE] = bytes[i]!;
    this.prod += BigInt(total);
    new DataView(this.producer).setBigUint64(0, this.prod, true);
    return pos;
  }

  /** Sets the header of the record at `pos` (e.g. to clear BUSY when it is submitted). */
  setHeader(pos: bigint, len: number, bits = 0): void {
    const off = Number(pos % BigInt(SIZE));
    const v = (len | bits) >>> 0;
    new DataView(this.producer, PAGE).setUint32(off, v, true);
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

  it('a record that wraps past the end of the data area is read whole, wherever it is cut', () => {
    // 88-byte records (96 with the header) from every 8-byte start: cut in every place, header
    // right at the end (body from offset 0), and not cut at all
    for (let shift = 0; shift < 96; shift += 8) {
      const f = new FakeRing();
      const r = new RingReader(f.mem);
      if (shift) { f.write(payload(1, shift - 8)); readAll(r); }
      const got: number[][] = [];
      const want: number[][] = [];
      for (let i = 0; i < 3 * SIZE / 96; i++) {
        const p = payload(i, 88);
        f.write(p);
        want.push(Array.from(p));
        got.push(...readAll(r).items);
      }
      expect(got, `shift ${shift}`).toEqual(want);
    }
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
    expect(() => new RingReader({ ...f.mem, producer: new ArrayBuffer(PAGE + SIZE - 8) })).toThrow(/too small/);
  });
});

/**
 * A producer on another thread, writing as bpf_ringbuf_reserve/submit do (header with BUSY, then
 * the producer position, then the body, then BUSY cleared), while this thread consumes: every
 * record must arrive once, in order. A torn read of the producer position (DataView reads it a
 * byte at a time) once made the reader walk stale bytes past the producer, lose the record grid
 * and stop for good on a body word that looked BUSY (an IPv4-mapped address's 0xffff0000).
 */
const PRODUCER = `
const { workerData: w } = require('node:worker_threads');
const cons = new BigUint64Array(w.consumer, 0, 1);
const prodPos = new BigUint64Array(w.producer, 0, 1);
const words = new Uint32Array(w.producer, w.page, w.size / 4);
const bytes = new Uint8Array(w.producer, w.page, w.size);
const stop = new Int32Array(w.control, 0, 1);
let prod = 0n;
produce: for (let seq = 0; seq < w.count; seq++) {
  while (prod + 96n - Atomics.load(cons, 0) > BigInt(w.size)) if (Atomics.load(stop, 0)) break produce;
  const off = Number(prod % BigInt(w.size));
  Atomics.store(words, off / 4, (88 | 0x80000000) >>> 0);
  prod += 96n;
  Atomics.store(prodPos, 0, prod);
  for (let i = 0; i < 88; i++) bytes[(off + 8 + i) % w.size] = (seq >>> (8 * (i & 3))) & 0xff;
  Atomics.store(words, off / 4, 88);
}
`;

describe('RingReader with a concurrent producer', () => {
  it('reads every record once and in order while the producer position moves under it', async () => {
    const { Worker } = await import('node:worker_threads');
    const size = 4096; // small: the two sides meet all the time, and records straddle the end
    const count = 400_000;
    const consumer = new SharedArrayBuffer(PAGE);
    const producer = new SharedArrayBuffer(PAGE + size);
    const control = new SharedArrayBuffer(4);
    const r = new RingReader({ consumer: consumer as unknown as ArrayBuffer, producer: producer as unknown as ArrayBuffer, pageSize: PAGE, size });
    const worker = new Worker(PRODUCER, { eval: true, workerData: { consumer, producer, control, page: PAGE, size, count } });
    let next = 0;
    let wrong: string | undefined;
    const deadline = Date.now() + 30_000;
    try {
      while (next < count && !wrong && Date.now() < deadline) {
        r.consume((v, off, len) => {
          const seq = len === 88 ? v.getUint32(off, true) : -1;
          const last = len === 88 ? v.getUint32(off + len - 4, true) : -1;
          if ((seq !== next || last !== seq) && !wrong) wrong = `record ${next}: len ${len}, seq ${seq}/${last}`;
          next++;
        });
      }
    } finally {
      Atomics.store(new Int32Array(control), 0, 1);
      await worker.terminate();
    }
    expect(wrong).toBeUndefined();
    expect(next).toBe(count);
    expect(new BigUint64Array(consumer, 0, 1)[0]).toBe(BigInt(count * 96));
  });
});
