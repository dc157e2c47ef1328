/**
 * A consumer of a BPF_MAP_TYPE_RINGBUF map, reading the kernel's ring in place (mmap + koffi.view):
 * no callback per record, no copy unless the caller keeps one.
 *
 * Layout (kernel/bpf/ringbuf.c, the same one libbpf's ring_buffer__consume reads):
 * - offset 0 of the map fd, one page, read-write: the consumer position (u64) — ours to advance;
 * - offset one page, read-only: one page with the producer position (u64), then the data area of
 *   `max_entries` bytes. The kernel offers it twice in a row (libbpf maps both, so that a record
 *   that wraps is contiguous); we map it once and copy the rare record that wraps: the kernel maps
 *   every page of the mapping at mmap time, so the second copy was `max_entries` bytes more RSS per
 *   ring for nothing (2.25 MB with the default drop, TCP and DNS rings).
 * Each record: an 8-byte header { u32 len (bit 31 BUSY: being written; bit 30 DISCARD), u32 pg_off }
 * then `len` bytes, the whole rounded up to 8 bytes.
 *
 * Producers submit with BPF_RB_NO_WAKEUP (DESIGN.md: wakeups cost ~90% of a core at 130k ev/s), so
 * nobody polls: the agent calls `consume` on a timer. The three words the kernel shares with us are
 * read and written whole with Atomics (libbpf: smp_load_acquire / smp_store_release): the producer
 * position, then each header's BUSY bit, and the consumer position once the records are handled.
 * Never through a DataView: V8 does not read one with a single load, so a position the producer
 * moves mid-read can come out torn; the reader then walks stale bytes past the producer,
 * loses the record grid, and stops for good on a body word that happens to carry BUSY (seen in
 * bench part (f); test/unit/ringbuf.test.ts's concurrent producer catches it within a second).
 */
import { BpfError } from './errors.js';
import { koffi, lastErrno, libbpf, type Pointer } from './libbpf.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SC_PAGESIZE = 30;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;

/** Memory a RingReader works on: the two mappings as byte views (real mmap, or buffers in unit tests). */
export interface RingMemory {
  /** the consumer page (position at offset 0) */
  readonly consumer: ArrayBuffer;
  /** the producer page followed by the data area (mapped once) */
  readonly producer: ArrayBuffer;
  readonly pageSize: number;
  /** data area size in bytes (the map's max_entries: a power of 2) */
  readonly size: number;
}

export interface ConsumeResult {
  /** records handed to the callback */
  readonly records: number;
  /** records the producer discarded (skipped) */
  readonly discarded: number;
}

/**
 * Walks the records between the consumer and producer positions. `onRecord(view, offset, len)`
 * gets a DataView over the data area and the record's offset in it; the bytes are valid only
 * during the call (the kernel reuses them once the consumer position moves).
 */
export class RingReader {
  private readonly cons: BigUint64Array;
  private readonly prod: BigUint64Array;
  /** the data area as 32-bit words, for the headers (each 8-byte aligned) */
  private readonly words: Uint32Array;
  private readonly data: DataView;
  private readonly mask: bigint;
  /** a record that wraps past the end of the data area, put back together (grown as needed) */
  private joined = new DataView(new ArrayBuffer(0));

  constructor(private readonly mem: RingMemory) {
    if (mem.size <= 0 || (mem.size & (mem.size - 1)) !== 0) throw new RangeError(`ring size must be a power of 2, got ${mem.size}`);
    if (mem.producer.byteLength < mem.pageSize + mem.size) throw new RangeError('producer mapping too small');
    this.cons = new BigUint64Array(mem.consumer, 0, 1);
    this.prod = new BigUint64Array(mem.producer, 0, 1);
    this.words = new Uint32Array(mem.producer, mem.pageSize, mem.size / 4);
    this.data = new DataView(mem.producer, mem.pageSize, mem.size);
    this.mask = BigInt(mem.size - 1);
  }

  /** Bytes written but not yet consumed. */
  pending(): number {
    return Number(this.producerPos() - Atomics.load(this.cons, 0));
  }

  /** Hands every complete record to `onRecord`, at most `max`, and frees their space. */
  consume(onRecord: (view: DataView, offset: number, len: number) => void, max = Infinity): ConsumeResult {
    let cons = Atomics.load(this.cons, 0);
    let records = 0;
    let discarded = 0;
    try {
      let prod = this.producerPos();
      while (cons < prod && records < max) {
        const off = Number(cons & this.mask); // 8-aligned: the header never wraps
        const header = Atomics.load(this.words, off >>> 2);
        if (header & BUSY) break; // being written: later
        const len = header & 0x3fffffff; // without BUSY and DISCARD
        const total = (len + HDR + 7) & ~7;
        if (header & DISCARD) discarded++;
        else {
          records++;
          const body = (off + HDR) & (this.mem.size - 1);
          if (body + len <= this.mem.size) onRecord(this.data, body, len);
          else onRecord(this.join(body, len), 0, len);
        }
        cons += BigInt(total);
        if (cons >= prod) prod = this.producerPos();
      }
    } finally {
      Atomics.store(this.cons, 0, cons); // the kernel may reuse the space now
    }
    return { records, discarded };
  }

  /** The body of a record that starts at `body` and wraps past the end, as one view. */
  private join(body: number, len: number): DataView {
    if (this.joined.byteLength < len) this.joined = new DataView(new ArrayBuffer(Math.max(len, 2 * this.joined.byteLength, 256)));
    const out = new Uint8Array(this.joined.buffer, 0, len);
    const first = this.mem.size - body;
    out.set(new Uint8Array(this.mem.producer, this.mem.pageSize + body, first), 0);
    out.set(new Uint8Array(this.mem.producer, this.mem.pageSize, len - first), first);
    return this.joined;
  }

  private producerPos(): bigint {
    return Atomics.load(this.prod, 0);
  }
}

/** A ring buffer map mapped into this process. */
export class MappedRing {
  readonly reader: RingReader;
  private consumerPtr: Pointer | null;
  private producerPtr: Pointer | null;

  private constructor(
    consumerPtr: Pointer, producerPtr: Pointer,
    private readonly pageSize: number, private readonly size: number, mem: RingMemory,
  ) {
    this.consumerPtr = consumerPtr;
    this.producerPtr = producerPtr;
    this.reader = new RingReader(mem);
  }

  /** Maps the ring buffer map `fd` of `size` bytes (its max_entries). */
  static map(fd: number, size: number, what: string): MappedRing {
    const lib = libbpf();
    const pageSize = Number(lib.sysconf(SC_PAGESIZE));
    const failed = (p: Pointer): boolean => p === null || koffi.address(p) === 0xffffffffffffffffn;
    const consumerPtr = lib.mmap(null, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (failed(consumerPtr)) throw new BpfError(`mmap consumer page of ring buffer ${what}`, lastErrno());
    const prodLen = pageSize + size;
    const producerPtr = lib.mmap(null, prodLen, PROT_READ, MAP_SHARED, fd, pageSize);
    if (failed(producerPtr)) {
      const errno = lastErrno();
      lib.munmap(consumerPtr, pageSize);
      throw new BpfError(`mmap data pages of ring buffer ${what}`, errno);
    }
    const mem: RingMemory = {
      consumer: koffi.view(consumerPtr, pageSize),
      producer: koffi.view(producerPtr, prodLen),
      pageSize,
      size,
    };
    return new MappedRing(consumerPtr, producerPtr, pageSize, size, mem);
  }

  /** Unmaps. The reader must not be used afterwards. Idempotent. */
  close(): void {
    const lib = libbpf();
    if (this.consumerPtr) lib.munmap(this.consumerPtr, this.pageSize);
    if (this.producerPtr) lib.munmap(this.producerPtr, this.pageSize + this.size);
    this.consumerPtr = null;
    this.producerPtr = null;
  }
}
