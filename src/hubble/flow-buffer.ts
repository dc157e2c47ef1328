/**
 * The Hubble server's flow buffer: a ring of the most recent flows (and lost-event notices),
 * addressed by an ever-growing sequence number so that every reader keeps its own cursor and
 * knows exactly how much the ring overwrote under it (Hubble reports that as a LostEvent of
 * source HUBBLE_RING_BUFFER, and so does Fovea). Each entry's wire encoding is made once, on
 * first use, and shared by every client (per field mask).
 */
import type { NetworkEvent } from '../events/types.js';
import type { Flow, FlowEndpoint } from './types.js';

/**
 * A flow is kept as its event plus its two endpoints (resolved when it arrived: a pod deleted
 * meanwhile still shows) and becomes a Flow message only when a client needs one. What an entry
 * keeps is small on purpose: entries live until the ring comes round, and the garbage collector
 * copies everything that lives that long. So the Flow built for encoding is not kept; the one a filter
 * needs is kept only while filtering clients exist (they would build it again otherwise).
 */
export interface FlowEntry {
  readonly kind: 'flow';
  readonly timeMs: number;
  readonly event: NetworkEvent;
  readonly source: FlowEndpoint;
  readonly destination: FlowEndpoint;
  /** the Flow, kept for filters */
  flow?: Flow;
  /** the framed response without a field mask */
  frame?: Uint8Array;
  /** framed responses per field mask */
  masked?: Map<string, Uint8Array>;
}

export interface LostEntry {
  readonly kind: 'lost';
  readonly timeMs: number;
  readonly source: number;
  readonly count: number;
  readonly cpu?: number;
  frame?: Uint8Array;
  masked?: Map<string, Uint8Array>;
}

export type BufferEntry = FlowEntry | LostEntry;

export class FlowBuffer {
  private readonly ring: (BufferEntry | undefined)[];
  /** sequence number of the next entry written (= entries written since start) */
  private next = 0;
  private flows = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`hubble buffer size must be a whole number ≥ 1 (got ${capacity})`);
    this.ring = new Array<BufferEntry | undefined>(capacity);
  }

  push(entry: BufferEntry): void {
    this.ring[this.next % this.capacity] = entry;
    this.next++;
    if (entry.kind === 'flow') this.flows++;
  }

  /** Sequence number the next entry will get. */
  get head(): number {
    return this.next;
  }

  /** Oldest sequence number still in the ring. */
  get tail(): number {
    return Math.max(0, this.next - this.capacity);
  }

  /** Entries in the ring now. */
  get length(): number {
    return this.next - this.tail;
  }

  /** Flows written since start. */
  get written(): number {
    return this.flows;
  }

  /** The entry at `seq`, or undefined when it was overwritten or not written yet. */
  at(seq: number): BufferEntry | undefined {
    if (seq < this.tail || seq >= this.next) return undefined;
    return this.ring[seq % this.capacity];
  }
}
