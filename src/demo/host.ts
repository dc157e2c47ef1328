/**
 * What the demo asks the host: interface counters, the default-route interface, what a lab left
 * behind, and a lock so two demos do not tear down each other's lab (Lab.create removes a lab of
 * the same name first).
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkStats, type LinkStats } from '../lab/kernel-truth.js';
import { run } from '../lab/run.js';

/** `ip -s link` counters of each interface (missing interfaces are left out). */
export async function linkTotals(ifnames: readonly string[]): Promise<Map<string, LinkStats>> {
  const out = new Map<string, LinkStats>();
  await Promise.all(ifnames.map(async (n) => {
    try { out.set(n, await linkStats(n)); } catch { /* gone */ }
  }));
  return out;
}

/** after − before, per interface present in both. */
export function linkDelta(before: ReadonlyMap<string, LinkStats>, after: ReadonlyMap<string, LinkStats>): Map<string, LinkStats> {
  const out = new Map<string, LinkStats>();
  for (const [n, b] of after) {
    const a = before.get(n);
    if (!a) continue;
    out.set(n, {
      rxPackets: b.rxPackets - a.rxPackets, rxBytes: b.rxBytes - a.rxBytes,
      txPackets: b.txPackets - a.txPackets, txBytes: b.txBytes - a.txBytes,
      rxDropped: b.rxDropped - a.rxDropped, txDropped: b.txDropped - a.txDropped,
    });
  }
  return out;
}

/** The interface of the host's IPv4 default route, if any. */
export async function defaultRouteInterface(): Promise<string | undefined> {
  const { stdout } = await run(['ip', '-j', 'route', 'show', 'default'], { allowFail: true });
  try {
    const routes = JSON.parse(stdout || '[]') as Array<{ dev?: string }>;
    return routes.find((r) => r.dev)?.dev;
  } catch {
    return undefined;
  }
}

/** Netns, interfaces and nft table of lab `name` still present. */
export async function labLeftovers(name: string): Promise<string[]> {
  const found: string[] = [];
  const ns = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  for (const n of JSON.parse(ns.stdout.trim() || '[]') as Array<{ name: string }>) {
    if (n.name.startsWith(`fovea-${name}-`)) found.push(`netns ${n.name}`);
  }
  const links = await run(['ip', '-j', 'link', 'show']);
  for (const l of JSON.parse(links.stdout || '[]') as Array<{ ifname: string }>) {
    if (l.ifname.startsWith(`fv${name}-`)) found.push(`link ${l.ifname}`);
  }
  const tables = await run(['nft', 'list', 'tables'], { allowFail: true });
  if (tables.stdout.split('\n').some((l) => l.trim() === `table inet fovea_${name}`)) found.push(`nft table inet fovea_${name}`);
  return found;
}

export type LockResult = { ok: true; release: () => void } | { ok: false; holder: number };

/** A pid file in the temp dir; a stale one (its process gone) is taken over. */
export function acquireDemoLock(path = join(tmpdir(), 'fovea-demo.pid')): LockResult {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return {
        ok: true,
        release: () => {
          try { if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path); } catch { /* gone */ }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) return { ok: false, holder };
      try { unlinkSync(path); } catch { /* raced */ }
    }
  }
  return { ok: false, holder: -1 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
