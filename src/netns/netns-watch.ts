/**
 * "Did a network namespace mount appear or vanish?" — answered by inotify (fs.watch) on the
 * directories of namespace mounts (/var/run/netns, /run/docker/netns) instead of listing them at
 * every rescan. rtnetlink reports links, not namespaces, so a namespace created before its veth (or
 * one without a link to the root namespace) shows only here. Only names that pass `filter` count
 * (standalone mode: the `--netns` globs; other tools' namespaces come and go on a shared node).
 *
 * Any doubt counts as a change, as in src/kernel/netlink-changes.ts: a watch that fails or closes.
 * A directory that does not exist holds no namespace: nothing changes while it stays absent, and
 * its appearance (the watch can be set up at last) is a change.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { ChangeWatch } from '../kernel/netlink-changes.js';

/** fs.watch, or a stand-in (tests). */
export type WatchFn = (dir: string, onEvent: (name: string | null) => void, onError: () => void) => { close(): void };

const fsWatch: WatchFn = (dir, onEvent, onError) => {
  const w: FSWatcher = watch(dir, { persistent: false }, (_event, name) => onEvent(name === null ? null : String(name)));
  w.on('error', onError);
  return w;
};

export class NetnsDirWatch implements ChangeWatch {
  private readonly watchers = new Map<string, { close(): void } | undefined>();
  private pending = true; // the first call reports a change: the caller has not looked yet
  unavailable: string | undefined;
  /** events that counted */
  events = 0;

  constructor(private readonly dirs: readonly string[], private readonly filter: (name: string) => boolean = () => true, private readonly watchFn: WatchFn = fsWatch) {
    for (const d of dirs) this.watchers.set(d, undefined);
    this.ensure();
  }

  changed(): boolean {
    this.ensure();
    const c = this.pending || this.unavailable !== undefined;
    this.pending = false;
    return c;
  }

  close(): void {
    for (const [d, w] of this.watchers) { w?.close(); this.watchers.set(d, undefined); }
  }

  /** Sets up the watch of every directory that has none; one that appears counts as a change. */
  private ensure(): void {
    for (const [dir, w] of this.watchers) {
      if (w) continue;
      try {
        const created = this.watchFn(dir, (name) => {
          if (name === null || this.filter(name)) { this.events++; this.pending = true; }
        }, () => {
          this.watchers.get(dir)?.close();
          this.watchers.set(dir, undefined);
          this.pending = true;
        });
        this.watchers.set(dir, created);
        this.pending = true; // what was there before the watch began is unknown to the caller
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue; // no such directory: no namespace there
        this.unavailable = `watch ${dir}: ${(err as Error).message}`;
      }
    }
  }
}

/** Changed when any of `watches` changed (each is drained at every call). */
export function anyChange(watches: readonly ChangeWatch[]): ChangeWatch {
  return {
    changed: () => watches.map((w) => w.changed()).some(Boolean),
    close: () => { for (const w of watches) w.close(); },
    get unavailable() { return watches.map((w) => w.unavailable).find((u) => u !== undefined); },
  };
}
