/**
 * Test doubles that implement the public interfaces (STYLE.md: "test doubles that implement the
 * public interface"): a map handle built from plain buffers and a probe whose behaviour the test
 * scripts. No kernel, no root.
 */
import type { MapSnapshot, ReadableMap } from '../../src/kernel/map.js';
import type { MetricFamily, Probe, ProbeState, ProbeStatus, RecordFailure } from '../../src/probes/types.js';

export interface FakeEntry {
  readonly key: Buffer;
  /** one value per CPU slot; each must be `valueSize` bytes (padded to 8 like the kernel does) */
  readonly perCpuValues: readonly Buffer[];
}

const round8 = (n: number): number => (n + 7) & ~7;

/**
 * Packs entries the way BpfMap.readAll() returns a per-CPU map: keys back to back, and per entry
 * `cpus` value slots each rounded up to 8 bytes.
 */
export function snapshotOf(entries: readonly FakeEntry[], opts: { keySize: number; valueSize: number; cpus: number }): MapSnapshot {
  const { keySize, valueSize, cpus } = opts;
  const slot = round8(valueSize);
  const valueStride = cpus === 1 ? valueSize : slot * cpus;
  const keys = Buffer.alloc(keySize * entries.length);
  const values = Buffer.alloc(valueStride * entries.length);
  entries.forEach((e, i) => {
    if (e.key.length !== keySize) throw new Error(`fake entry ${i}: key is ${e.key.length} bytes, want ${keySize}`);
    if (e.perCpuValues.length !== cpus) throw new Error(`fake entry ${i}: ${e.perCpuValues.length} CPU values, want ${cpus}`);
    e.key.copy(keys, i * keySize);
    e.perCpuValues.forEach((v, c) => {
      if (v.length !== valueSize) throw new Error(`fake entry ${i} cpu ${c}: value is ${v.length} bytes, want ${valueSize}`);
      v.copy(values, i * valueStride + c * slot);
    });
  });
  return { count: entries.length, keys, values, keySize, valueStride, cpus };
}

/** A ReadableMap over a list of entries; the test may change `entries` or make reads fail. */
export class FakeMap implements ReadableMap {
  entries: FakeEntry[];
  /** when set, the next readAll() calls throw it */
  failWith: Error | undefined;
  reads = 0;

  constructor(
    readonly name: string,
    entries: readonly FakeEntry[],
    private readonly layout: { keySize: number; valueSize: number; cpus: number },
  ) {
    this.entries = [...entries];
  }

  readAll(): MapSnapshot {
    this.reads++;
    if (this.failWith) throw this.failWith;
    return snapshotOf(this.entries, this.layout);
  }
}

/** Encodes u64 values back to back (little-endian): a value slot of one CPU. */
export function u64s(...values: Array<number | bigint>): Buffer {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 * i));
  return b;
}

/** Everything that happened to a FakeProbe, in order, shared between probes to see the global order. */
export type ProbeEvent = `${string}:${'start' | 'collect' | 'detach' | 'stop' | 'recordFailures'}`;

export interface FakeProbeOptions {
  /** start() throws this */
  readonly startError?: Error;
  /** what collect() returns; a function is called with the number of collects so far */
  readonly families?: MetricFamily[] | ((n: number) => MetricFamily[]);
  readonly failures?: RecordFailure[];
  readonly hook?: string;
  readonly events?: ProbeEvent[];
}

/** A Probe whose behaviour the test scripts, and which records what the agent did to it. */
export class FakeProbe implements Probe {
  readonly events: ProbeEvent[];
  private state: ProbeState = 'down';
  private attached = false;
  private resources = 0; // "kernel objects" held: must be 0 after stop()
  collects = 0;
  stops = 0;
  detaches = 0;
  /** when set, collect() throws it */
  collectError: Error | undefined;
  /** when set, recordFailures() throws it */
  failuresError: Error | undefined;
  /** whether the programs were attached at each collect */
  readonly attachedAtCollect: boolean[] = [];

  constructor(readonly name: string, private readonly opts: FakeProbeOptions = {}) {
    this.events = opts.events ?? [];
  }

  start(): void {
    this.events.push(`${this.name}:start`);
    this.resources++; // opened an object before failing, as a real probe may
    if (this.opts.startError) throw this.opts.startError;
    this.attached = true;
    this.state = 'up';
  }

  collect(): MetricFamily[] {
    this.events.push(`${this.name}:collect`);
    this.attachedAtCollect.push(this.attached);
    const n = this.collects++;
    if (this.collectError) throw this.collectError;
    if (this.stops > 0) return []; // like the real probes: maps closed, nothing to read
    const f = this.opts.families ?? [];
    return typeof f === 'function' ? f(n) : f;
  }

  recordFailures(): RecordFailure[] {
    this.events.push(`${this.name}:recordFailures`);
    if (this.failuresError) throw this.failuresError;
    return this.opts.failures ?? [];
  }

  status(): ProbeStatus {
    return { name: this.name, state: this.state, ...(this.opts.hook && this.state === 'up' ? { hook: this.opts.hook } : {}) };
  }

  detach(): void {
    this.events.push(`${this.name}:detach`);
    this.detaches++;
    this.attached = false;
  }

  stop(): void {
    if (this.attached) this.detach(); // like the real probes: stop detaches if needed
    this.events.push(`${this.name}:stop`);
    this.stops++;
    this.resources = 0;
    if (this.state === 'up') this.state = 'down';
  }

  /** kernel objects still held (what a leak would look like) */
  get held(): number {
    return this.resources;
  }

  get isAttached(): boolean {
    return this.attached;
  }
}
