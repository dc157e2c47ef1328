// @ts-check
/**
 * Many-flows generator for bench part (d): a plain ES module that bench/flows.ts runs inside the
 * sending pod (`ip netns exec <netns> node flow-worker.mjs '<json options>'`).
 *
 * Options: {sport, size, periodMs, rounds, targets: [{ip, portFrom, portTo}]}
 *
 * One unconnected UDP socket bound to `sport`. The flows are every (ip, port) of the targets, in
 * order. A round sends exactly one datagram to every flow, paced evenly over `periodMs`; the next
 * round starts `periodMs` after the previous one started (or at once if it ran late). So every
 * flow gets exactly `rounds` datagrams and is refreshed every `periodMs`.
 *
 * Protocol, one JSON object per stdout line: {"event":"round",...} after each round (the first
 * one means every flow exists), then {"event":"result",...}. A send that fails is counted in
 * `errors` (that flow then got fewer datagrams) and the first error message is kept.
 */
import dgram from 'node:dgram';

/** @type {{sport: number, size: number, periodMs: number, rounds: number, targets: Array<{ip: string, portFrom: number, portTo: number}>}} */
const o = JSON.parse(process.argv[2] ?? '{}');

/** @param {Record<string, unknown>} r */
function emit(r) { process.stdout.write(JSON.stringify(r) + '\n'); }
/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  /** @type {Array<[string, number]>} */
  const flows = [];
  for (const t of o.targets) for (let p = t.portFrom; p <= t.portTo; p++) flows.push([t.ip, p]);
  const n = flows.length;
  if (n === 0) throw new Error('no flows');

  const sock = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 });
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(o.sport, '0.0.0.0', () => { sock.off('error', reject); resolve(undefined); });
  });
  const buf = Buffer.alloc(o.size ?? 32, 0x66);
  const batch = 128;
  const maxInFlight = 2048;
  let issued = 0, ok = 0, errors = 0;
  /** @type {string | undefined} */
  let firstError;
  /** @param {Error | null} err */
  const cb = (err) => { if (err) { errors++; firstError ??= err.message; } else ok++; };

  const start = nowMs();
  let maxRoundMs = 0, lateRounds = 0;
  for (let round = 1; round <= o.rounds; round++) {
    const roundStart = Math.max(nowMs(), start + (round - 1) * o.periodMs);
    const wait = roundStart - nowMs();
    if (wait > 0) await sleep(wait);
    let i = 0;
    while (i < n) {
      // due: the share of this round's flows whose time has come (spread over 90% of the period)
      const due = Math.min(n, Math.floor(((nowMs() - roundStart) / (o.periodMs * 0.9)) * n) + 1);
      let k = Math.min(due - i, batch);
      if (issued - ok - errors > maxInFlight) k = 0;
      for (let j = 0; j < k; j++) {
        const f = flows[i++];
        if (f) sock.send(buf, f[1], f[0], cb);
      }
      issued += Math.max(k, 0);
      await new Promise((r) => (k > 0 ? setImmediate(r) : setTimeout(r, 1)));
    }
    while (ok + errors < issued) await new Promise((r) => setImmediate(r));
    const roundMs = nowMs() - roundStart;
    maxRoundMs = Math.max(maxRoundMs, roundMs);
    if (roundMs > o.periodMs) lateRounds++;
    emit({ event: 'round', round, sent: ok, errors, roundMs: Math.round(roundMs) });
  }
  sock.close();
  const elapsedMs = nowMs() - start;
  emit({ event: 'result', flows: n, rounds: o.rounds, sent: ok, errors, firstError, elapsedMs: Math.round(elapsedMs), maxRoundMs: Math.round(maxRoundMs), lateRounds });
}

main().catch((err) => { process.stderr.write(`flow-worker: ${err?.stack ?? err}\n`); process.exit(1); });
