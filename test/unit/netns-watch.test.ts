/**
 * NetnsDirWatch (namespace mounts appearing or vanishing, by inotify) and the standalone agent's
 * discovery: only the namespaces the `--netns` globs name are looked at — other tools' namespaces
 * on the node are neither stat'ed nor entered (they used to be: one `ip -n <ns>` process each).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { standaloneDiscover } from '../../src/commands/identity-setup.js';
import { NetnsDirWatch, anyChange, type WatchFn } from '../../src/netns/netns-watch.js';
import type { NetworkReader } from '../../src/netns/pod-interfaces.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('NetnsDirWatch', () => {
  it('first call a change; then only events whose name passes the filter', () => {
    const handlers = new Map<string, (name: string | null) => void>();
    const fake: WatchFn = (dir, onEvent) => { handlers.set(dir, onEvent); return { close: () => handlers.delete(dir) }; };
    const w = new NetnsDirWatch(['/a'], (n) => n.startsWith('fovea-x-'), fake);
    expect(w.changed()).toBe(true);
    expect(w.changed()).toBe(false);
    handlers.get('/a')!('fovea-other-1');
    expect(w.changed()).toBe(false);
    handlers.get('/a')!('fovea-x-3');
    expect(w.changed()).toBe(true);
    expect(w.changed()).toBe(false);
    handlers.get('/a')!(null); // no name: could be anything
    expect(w.changed()).toBe(true);
    w.close();
    expect(handlers.size).toBe(0);
  });

  it('a directory that does not exist is no change until it appears; a failing watch is a change', () => {
    let exists = false;
    let onError: (() => void) | undefined;
    const fake: WatchFn = (_dir, _onEvent, err) => {
      if (!exists) throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
      onError = err;
      return { close: () => undefined };
    };
    const w = new NetnsDirWatch(['/a'], () => true, fake);
    expect(w.changed()).toBe(true); // the caller has not looked yet
    expect(w.changed()).toBe(false);
    exists = true;
    expect(w.changed()).toBe(true); // it appeared: whatever is in it is new
    expect(w.changed()).toBe(false);
    onError!();
    expect(w.changed()).toBe(true);
    expect(w.unavailable).toBeUndefined();
  });

  it('on a real directory: a matching file created and deleted are changes, others are not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-nsw-'));
    const w = new NetnsDirWatch([dir], (n) => n.startsWith('fovea-x-'));
    try {
      expect(w.changed()).toBe(true);
      writeFileSync(join(dir, 'other-1'), '');
      await sleep(100);
      expect(w.changed()).toBe(false);
      writeFileSync(join(dir, 'fovea-x-1'), '');
      await sleep(100);
      expect(w.changed()).toBe(true);
      rmSync(join(dir, 'fovea-x-1'));
      await sleep(100);
      expect(w.changed()).toBe(true);
      expect(w.changed()).toBe(false);
    } finally {
      w.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('anyChange drains every watch at each call', () => {
    const a = { n: 0, changed() { return this.n++ === 0; }, close: () => undefined, unavailable: undefined };
    const b = { n: 0, changed() { return this.n++ === 1; }, close: () => undefined, unavailable: undefined };
    const w = anyChange([a, b]);
    expect([w.changed(), w.changed(), w.changed()]).toEqual([true, true, false]);
    expect([a.n, b.n]).toEqual([3, 3]);
  });
});

describe('standalone discovery', () => {
  it('looks only at namespace mounts the globs name: others are neither stat\'ed nor read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-nsd-'));
    const entered: string[] = [];
    const reader: NetworkReader = { links: async () => [], netns: async (f) => { entered.push(f.label); return { ifaces: [], nsid: undefined }; } };
    try {
      mkdirSync(dir, { recursive: true });
      // plain files: discovery warns about each one it looks at ("not a network namespace mount")
      for (const n of ['fovea-lab-0', 'fovea-lab-1', 'fovea-other-0', 'cni-1234']) writeFileSync(join(dir, n), '');
      const discover = standaloneDiscover(['fovea-lab-*'], { netnsDirs: [dir], reader });
      const r = await discover();
      expect(r.warnings.map((w) => w.message).sort()).toEqual([
        `${dir}/fovea-lab-0: not a network namespace mount (stale?)`,
        `${dir}/fovea-lab-1: not a network namespace mount (stale?)`,
      ]);
      expect(entered).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
