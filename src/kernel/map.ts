/**
 * eBPF map handles and batch reads.
 *
 * Reads use BPF_MAP_LOOKUP_BATCH (one syscall per few hundred entries, ~7-10x faster than
 * get_next_key + lookup); kernels without batch support fall back to iteration.
 * Per-CPU maps return one value slot per possible CPU, each rounded up to 8 bytes.
 */
import { BpfError, check } from './errors.js';
import { libbpf, type Pointer } from './libbpf.js';
import type { BpfObject } from './object.js';

const PERCPU_TYPES = new Set([5 /* PERCPU_HASH */, 6 /* PERCPU_ARRAY */, 10 /* LRU_PERCPU_HASH */]);
const ENOENT = 2;
const EEXIST = 17;
const ENOSPC = 28;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const ENOTSUPP = 524; // kernel-internal "not supported", seen from bpf()

/**
 * All entries of a map, packed: entry i has key at i*keySize and value at i*valueStride.
 * For BpfMap snapshots the buffers are reused by the next readAll() of the same map: decode (copy)
 * what you keep before reading again.
 */
export interface MapSnapshot {
  readonly count: number;
  readonly keys: Buffer;
  readonly values: Buffer;
  readonly keySize: number;
  /** bytes per entry in `values`: valueSize rounded to 8, times the CPUs for per-CPU maps */
  readonly valueStride: number;
  /** CPU slots per entry (1 for ordinary maps) */
  readonly cpus: number;
}

/** What probes need from a map. Implemented by BpfMap, and by fakes in unit tests. */
export interface ReadableMap {
  readonly name: string;
  readAll(): MapSnapshot;
}

let possibleCpus: number | undefined;
export function numPossibleCpus(): number {
  if (possibleCpus === undefined) {
    possibleCpus = check('count possible CPUs', libbpf().libbpf_num_possible_cpus());
  }
  return possibleCpus;
}

const round8 = (n: number): number => (n + 7) & ~7;

export class BpfMap implements ReadableMap {
  private batchSupported = true;
  private takeAtomic = true;
  private chunk = 256;
  /** read buffers kept between reads: a big map is read at every export */
  private keysBuf: Buffer = Buffer.alloc(0);
  private valuesBuf: Buffer = Buffer.alloc(0);

  constructor(readonly name: string, private readonly handle: Pointer, private readonly obj: BpfObject) {}

  /** Sizes the map; only before load. */
  setMaxEntries(n: number): void {
    if (this.obj.isLoaded) throw new Error(`map ${this.name}: max entries can only be set before load`);
    check(`set max entries of map ${this.name} to ${n}`, libbpf().bpf_map__set_max_entries(this.handle, n));
  }

  get maxEntries(): number {
    return libbpf().bpf_map__max_entries(this.handle);
  }
  get keySize(): number {
    return libbpf().bpf_map__key_size(this.handle);
  }
  get valueSize(): number {
    return libbpf().bpf_map__value_size(this.handle);
  }
  get perCpu(): boolean {
    return PERCPU_TYPES.has(libbpf().bpf_map__type(this.handle));
  }
  get cpus(): number {
    return this.perCpu ? numPossibleCpus() : 1;
  }
  /** bytes of one entry's value as the kernel returns it (all CPUs for per-CPU maps) */
  get valueStride(): number {
    return this.perCpu ? round8(this.valueSize) * numPossibleCpus() : this.valueSize;
  }

  get fd(): number {
    this.obj.assertLoaded(`fd of map ${this.name}`);
    return check(`fd of map ${this.name}`, libbpf().bpf_map__fd(this.handle));
  }

  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueStride);
    const rc = libbpf().bpf_map_lookup_elem(this.fd, key, value);
    if (rc === -ENOENT) return undefined;
    check(`lookup in map ${this.name}`, rc);
    return value;
  }

  /** flags: 0 = BPF_ANY, 1 = BPF_NOEXIST, 2 = BPF_EXIST. Value must be valueStride bytes. */
  update(key: Buffer, value: Buffer, flags = 0): void {
    check(`update map ${this.name}`, libbpf().bpf_map_update_elem(this.fd, key, value, flags));
  }

  /** Adds a key that is not there (BPF_NOEXIST); returns false when it is. Value must be valueStride bytes. */
  insert(key: Buffer, value: Buffer): boolean {
    const rc = libbpf().bpf_map_update_elem(this.fd, key, value, 1 /* BPF_NOEXIST */);
    if (rc === -EEXIST) return false;
    check(`insert into map ${this.name}`, rc);
    return true;
  }

  /** Deletes a key; returns false when it was not there. */
  delete(key: Buffer): boolean {
    const rc = libbpf().bpf_map_delete_elem(this.fd, key);
    if (rc === -ENOENT) return false;
    check(`delete from map ${this.name}`, rc);
    return true;
  }

  /**
   * Deletes a key and returns the value it held at that moment, or undefined when it was not there:
   * BPF_MAP_LOOKUP_AND_DELETE_ELEM (hash maps from Linux 5.14), one step under the bucket's lock, so
   * a program's insert or update is in the value returned or comes after the delete — except an atomic
   * add by a program that looked the entry up just before (nanoseconds), which lands on the deleted entry
   * and is lost. Older kernels: a lookup, then a delete — an update between the two is lost too.
   */
  take(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueStride);
    if (this.takeAtomic) {
      const rc = libbpf().bpf_map_lookup_and_delete_elem(this.fd, key, value);
      if (rc === -ENOENT) return undefined;
      if (rc >= 0) return value;
      if (![EINVAL, EOPNOTSUPP, ENOTSUPP].includes(-rc)) check(`take from map ${this.name}`, rc);
      this.takeAtomic = false; // kernel without lookup-and-delete for this map type
    }
    const v = this.lookup(key);
    if (v === undefined) return undefined;
    return this.delete(key) ? v : undefined;
  }

  readAll(): MapSnapshot {
    if (this.batchSupported) {
      try {
        return this.readBatched();
      } catch (err) {
        if (!(err instanceof BpfError) || ![EINVAL, EOPNOTSUPP, ENOTSUPP].includes(err.errno)) throw err;
        this.batchSupported = false; // kernel without BPF_MAP_LOOKUP_BATCH for this map type
      }
    }
    return this.readIterating();
  }

  private readBatched(): MapSnapshot {
    const lib = libbpf();
    const fd = this.fd;
    const keySize = this.keySize;
    const stride = this.valueStride;
    const max = Math.max(1, this.maxEntries);
    let keys = this.keysBuf;
    let values = this.valuesBuf;
    if (values.length % stride !== 0 || keys.length % keySize !== 0) { keys = Buffer.alloc(0); values = Buffer.alloc(0); }
    let total = 0;
    const token = Buffer.alloc(Math.max(8, keySize));
    const countBuf = Buffer.alloc(4);
    let first = true;
    let spins = 0;
    for (;;) {
      // never ask for more than the buffers can hold past `total`
      const want = Math.max(1, Math.min(this.chunk, max - total));
      if (total + want > keys.length / keySize) {
        const cap = Math.min(max, Math.max(keys.length / keySize * 2, total + want));
        keys = grow(keys, cap * keySize);
        values = grow(values, cap * stride);
        this.keysBuf = keys;
        this.valuesBuf = values;
      }
      countBuf.writeUInt32LE(want);
      const rc = lib.bpf_map_lookup_batch(
        fd, first ? null : token, token,
        keys.subarray(total * keySize), values.subarray(total * stride), countBuf, null);
      const got = countBuf.readUInt32LE();
      if (rc === -ENOSPC && got === 0) {
        // a hash bucket holds more entries than we asked for: ask for more at once
        if (++spins > 32) throw new BpfError(`batch read of map ${this.name}`, ENOSPC, 'bucket larger than the map');
        this.chunk *= 2;
        continue;
      }
      if (rc < 0 && rc !== -ENOENT) throw new BpfError(`batch read of map ${this.name}`, -rc);
      total += got;
      first = false;
      if (rc === -ENOENT) break; // no more entries
      if (total >= max) break;
      // big maps: fewer, larger batches (one syscall per chunk)
      if (this.chunk < 8192 && total >= this.chunk * 4) this.chunk *= 2;
    }
    return { count: total, keys, values, keySize, valueStride: stride, cpus: this.cpus };
  }

  private readIterating(): MapSnapshot {
    const lib = libbpf();
    const fd = this.fd;
    const keySize = this.keySize;
    const stride = this.valueStride;
    const keyList: Buffer[] = [];
    const valueList: Buffer[] = [];
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(keySize);
      const rc = lib.bpf_map_get_next_key(fd, prev, next);
      if (rc === -ENOENT) break;
      check(`iterate map ${this.name}`, rc);
      const value = Buffer.alloc(stride);
      const lr = lib.bpf_map_lookup_elem(fd, next, value);
      if (lr === 0) {
        keyList.push(next);
        valueList.push(value);
      } else if (lr !== -ENOENT) {
        check(`lookup in map ${this.name}`, lr);
      }
      prev = next;
    }
    return {
      count: keyList.length, keys: Buffer.concat(keyList), values: Buffer.concat(valueList),
      keySize, valueStride: stride, cpus: this.cpus,
    };
  }
}

function grow(b: Buffer, size: number): Buffer {
  const n = Buffer.alloc(size);
  b.copy(n);
  return n;
}

/** A little-endian u64 at `off` as a number (exact below 2^53): cheaper than a bigint where counts stay small. */
export function u64Number(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 4294967296;
}

/** Sums a u64 field over the CPU slots of entry `i` of a per-CPU snapshot. */
export function sumPerCpuU64(s: MapSnapshot, i: number, fieldOffset: number): bigint {
  const slot = s.cpus === 1 ? s.valueStride : s.valueStride / s.cpus;
  let sum = 0n;
  const base = i * s.valueStride + fieldOffset;
  for (let c = 0; c < s.cpus; c++) sum += s.values.readBigUInt64LE(base + c * slot);
  return sum;
}
