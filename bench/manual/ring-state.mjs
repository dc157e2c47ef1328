#!/usr/bin/env node
/**
 * The drop-event ring of a running agent, from outside: its consumer and producer positions and
 * the record header at the consumer position (BUSY = 0x80000000, DISCARD = 0x40000000).
 * For an agent that stops reading events while the kernel counts ring_full: pending near the ring
 * size with a BUSY header at the consumer = a record reserved and never committed; consumer ahead
 * of producer = the reader advanced past what the kernel wrote.
 *
 *   node bench/manual/ring-state.mjs <agent pid>     (as root, after bash scripts/build.sh)
 *
 * Read-only: maps the ring like the agent does (the consumer page read-write, as the kernel
 * requires for that mapping) and writes nothing.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const BPF_MAP_TYPE_RINGBUF = 27;
const pid = Number(process.argv[2]);
if (!Number.isInteger(pid) || pid <= 0) { process.stderr.write('usage: node bench/manual/ring-state.mjs <agent pid>\n'); process.exit(2); }
const { libbpf } = await import(new URL('../../dist/src/kernel/libbpf.js', import.meta.url).href);
const { MappedRing } = await import(new URL('../../dist/src/kernel/ringbuf.js', import.meta.url).href);

const rings = [];
for (const fd of readdirSync(`/proc/${pid}/fd`)) {
  let link;
  try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
  if (link !== 'anon_inode:bpf-map') continue;
  const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const field = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1]);
  if (field('map_type') === BPF_MAP_TYPE_RINGBUF) rings.push({ id: field('map_id'), size: field('max_entries') });
}
if (rings.length === 0) { process.stderr.write(`pid ${pid} holds no ring buffer map\n`); process.exit(1); }
const lib = libbpf();
const byId = lib.lib.func('int bpf_map_get_fd_by_id(uint32_t id)');
for (const { id, size } of new Map(rings.map((r) => [r.id, r])).values()) {
  const fd = byId(id);
  if (fd < 0) { process.stderr.write(`bpf_map_get_fd_by_id(${id}): ${-fd}\n`); continue; }
  const ring = MappedRing.map(fd, size, `map ${id}`);
  const r = ring.reader;
  // the reader's own views (private in TypeScript), read whole as it reads them
  const cons = Atomics.load(r.cons, 0);
  const prod = Atomics.load(r.prod, 0);
  const header = Atomics.load(r.words, Number(cons & r.mask) >>> 2);
  process.stdout.write(`${JSON.stringify({
    mapId: id, size, consumer: String(cons), producer: String(prod), pending: String(prod - cons),
    headerAtConsumer: `0x${header.toString(16)}`, busy: (header & 0x80000000) !== 0, discard: (header & 0x40000000) !== 0,
    lenAtConsumer: header & 0x3fffffff,
  })}\n`);
  ring.close();
}
