/**
 * Giving back tcp_state_counts entries that stay at zero.
 *
 * tcp_state_counts holds one gauge per (local address, network namespace, TCP state): the programs
 * add 1 when a socket enters the state and subtract 1 when it leaves, and insert the entry when it
 * is missing. Nothing in the kernel deletes an entry, so every address and namespace that ever had
 * a socket keeps its entries at 0 — under pod churn ~4 per pod, until the map (TCP_MAX_STATE_KEYS)
 * is full and new pods' sockets go uncounted (`state_map_full`). The probe deletes an entry once it
 * has read 0 for the idle timeout (the same rule as tcp_stats' records).
 *
 * The delete must not lose a socket that enters the state just then: the entry is taken (deleted and
 * its value returned in one step) and, if the value is no longer 0, put back — added to the entry a
 * program may have inserted meanwhile, by taking that too and trying again. What this cannot catch: a
 * program that looked the entry up just before the take and adds after it (nanoseconds, on an entry idle
 * for the whole timeout) — the same window the deletion of idle tcp_stats records has.
 */

/** What reclaiming needs from the map (BpfMap, or a fake in unit tests); values are the s64 count. */
export interface GaugeMap {
  /** Deletes the key; the value it held then, or undefined when it was not there. */
  take(key: Buffer): bigint | undefined;
  /** Adds the key with this value unless it exists; false when it exists. */
  insert(key: Buffer, value: bigint): boolean;
}

/** Attempts before giving up on putting a value back (each one needs a program to insert the key meanwhile). */
const MAX_ROUNDS = 64;

/**
 * Deletes a gauge read as 0. Returns what it held when taken: 0 when it was deleted as read, else
 * the sockets that entered or left the state meanwhile, which are back in the map.
 */
export function reclaimZeroGauge(map: GaugeMap, key: Buffer): bigint {
  const taken = map.take(key) ?? 0n;
  let held = taken;
  for (let round = 0; held !== 0n; round++) {
    if (map.insert(key, held)) return taken;
    if (round >= MAX_ROUNDS) throw new Error(`tcp_state_counts: could not put back ${held} after ${MAX_ROUNDS} attempts (the key is inserted again at every attempt)`);
    held += map.take(key) ?? 0n; // a program inserted it meanwhile: add that entry's value and try again
  }
  return taken;
}
