/**
 * Reading /proc/net files of other network namespaces (pods') without entering them at every read.
 *
 * A /proc/<tid>/net file is bound to the network namespace its path resolved to when it was
 * opened: the kernel's seq_file takes a reference on that namespace at open (single_open_net /
 * seq_open_net) and every later read prints that namespace's counters, whichever namespace the
 * reading thread is in. So NetnsFiles enters a namespace once — setns(2) into it on this thread,
 * open `/proc/thread-self/net/...`, setns(2) back — keeps the fds, and from then on re-reads them
 * from offset 0 (pread) with no setns at all. Checked on the real kernel by
 * test/e2e/netns-kept-files.test.ts: counters moved inside the namespace show through fds opened
 * there and read from the agent's, and a kept fd holds a deleted namespace alive until closed.
 *
 * What a kept fd costs: it holds a reference on its namespace, so a namespace deleted while its
 * fds are open lives on (with its interfaces) until they are closed. Hence:
 * - every read first stats the namespace path: gone → the fds are closed and the read fails as
 *   before (ENOENT); another namespace now under that path (its inode differs) → the old fds are
 *   closed and the new namespace is entered;
 * - keepOnly(paths) closes the fds of every namespace not in `paths` (the pod stage calls it with
 *   the namespaces discovery still reports, at every collection);
 * - a failed read closes the fds and the namespace is entered once more for that read;
 * - at most `maxKept` namespaces are kept (3 fds each for the netstack probe); beyond that a
 *   namespace's files are opened, read and closed at every read, as the only other way.
 *
 * setns(CLONE_NEWNET) moves only the calling thread, and everything here is synchronous, so no
 * other JavaScript runs while the thread is in the pod's namespace (libuv's pool threads never
 * leave the agent's own). The way back is an fd of the thread's own namespace, opened at first use
 * and kept. If going back fails, the thread — the one that runs all of the agent's JavaScript, its
 * sockets included — would stay in the pod's namespace: NetnsRestoreError says so, and the agent
 * exits on it (src/agent/agent.ts, exit code 70) instead of exporting from the wrong namespace.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { errnoName } from './errors.js';
import { lastErrno, libc } from './libbpf.js';

/** setns(2) nstype of a network namespace (linux/sched.h). */
export const CLONE_NEWNET = 0x40000000;
/** The calling thread's network namespace (the agent's own at first use). */
export const THREAD_NETNS = '/proc/thread-self/ns/net';
/** The /proc/net files of whichever namespace the calling thread is in now. */
export const THREAD_PROC_NET = '/proc/thread-self/net';
/** How many namespaces' files NetnsFiles keeps open by default (a node runs ≤ 110–250 pods). */
export const MAX_KEPT_NAMESPACES = 512;

/** A namespace that cannot be entered or read: this pod is skipped; the agent stays where it was. */
export class NetnsError extends Error {
  override readonly name = 'NetnsError';
  constructor(readonly path: string, readonly code: string, message: string) {
    super(message);
  }
}

/** The thread could not return to the agent's own network namespace: fatal, the agent must exit. */
export class NetnsRestoreError extends Error {
  override readonly name = 'NetnsRestoreError';
}

/** setns(2): 0 on success, else the errno. */
export type SetnsFn = (fd: number, nstype: number) => number;

const HINTS: Record<string, string> = {
  EPERM: 'entering another network namespace needs CAP_SYS_ADMIN (in Kubernetes: deploy/components/netns-discovery)',
  EACCES: 'not allowed to open it (not root?)',
  ENOENT: 'no such network namespace (the pod is gone, or its netns directory is not mounted)',
  EINVAL: 'not a network namespace file',
};

let setnsBinding: ((fd: number, nstype: number) => number) | undefined;

/** The C library's setns(2), bound at first call. */
export const libcSetns: SetnsFn = (fd, nstype) => {
  setnsBinding ??= libc().func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;
  if (setnsBinding(fd, nstype) === 0) return 0;
  return lastErrno() || constants.errno.EIO; // never report a failure as success
};

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EIO';

function netnsError(path: string, what: string, code: string): NetnsError {
  const hint = HINTS[code];
  return new NetnsError(path, code, `${what} ${path}: ${code}${hint ? ` — ${hint}` : ''}`);
}

/** Reads the file at `fd` whole from offset 0 into `scratch` (grown when full, kept for the next read); its length. */
function readWhole(fd: number, scratch: { buf: Buffer }): number {
  let n = 0;
  for (;;) {
    if (n === scratch.buf.length) {
      const bigger = Buffer.allocUnsafe(scratch.buf.length * 2);
      scratch.buf.copy(bigger);
      scratch.buf = bigger;
    }
    const got = readSync(fd, scratch.buf, n, scratch.buf.length - n, n);
    if (got === 0) return n;
    n += got;
  }
}

/**
 * A file whose bytes change only when some other files' bytes change (or are taken to: see
 * NETSTACK_DEPENDENT in src/probes/netstack/probe.ts), re-read by readChanged only then: when one
 * of `on` changed at this reading or the one before, or after `maxSkipped` readings without it.
 */
export interface DependentFile {
  /** its index in the files */
  readonly index: number;
  /** the indices of the files whose change makes it be read */
  readonly on: readonly number[];
  /** readings in a row it may be left unread */
  readonly maxSkipped: number;
}

/**
 * Files opened once and read whole from offset 0 at every read: one fd per file, undefined for a
 * file that did not exist when opened (e.g. /proc/net/snmp6 without IPv6).
 */
export class KeptFiles {
  /** each file's bytes at the last read (readChanged compares with them); undefined before the first read */
  private last: Array<Buffer | undefined> | undefined;

  /** readChanged: whether one of the dependent file's `on` changed at the reading before, and its readings skipped since it was read */
  private onChangedBefore = false;
  private skipped = 0;

  private constructor(readonly fds: ReadonlyArray<number | undefined>, private readonly dependent: DependentFile | undefined) {}

  /**
   * Opens each of `files` in the calling thread's current namespace; ENOENT → undefined, any other
   * error closes what was opened and throws. `dependent`: a file readChanged reads only when others changed.
   */
  static open(files: readonly string[], dependent?: DependentFile): KeptFiles {
    const fds: Array<number | undefined> = [];
    try {
      for (const f of files) {
        try {
          fds.push(openSync(f, 'r'));
        } catch (err) {
          if (errCode(err) !== 'ENOENT') throw err;
          fds.push(undefined);
        }
      }
    } catch (err) {
      for (const fd of fds) if (fd !== undefined) closeSync(fd);
      throw err;
    }
    return new KeptFiles(fds, dependent);
  }

  /**
   * The whole text of each file, now, through `scratch` (grown when full, kept for the next read).
   * /proc files report size 0, so no stat: read from 0 until a read returns nothing. A seq_file
   * read at offset 0 prints the file afresh.
   */
  read(scratch: { buf: Buffer }): Array<string | undefined> {
    this.readFiles(scratch, true);
    return this.texts();
  }

  /**
   * Reads every file as read() does, but returns undefined when each one's bytes are those of the
   * previous read (byte for byte, compared, not hashed): an idle pod's counters, with no string made.
   * The first read of these files always returns their texts. The dependent file (if any) is read
   * last, and only when one of its `on` files changed at this reading or the one before, or after
   * `maxSkipped` readings without it; otherwise its last bytes stand.
   */
  readChanged(scratch: { buf: Buffer }): Array<string | undefined> | undefined {
    return this.readFiles(scratch, false) ? this.texts() : undefined;
  }

  /** Reads the files (all of them, or as readChanged says); whether any file's bytes changed (always at the first read). */
  private readFiles(scratch: { buf: Buffer }, all: boolean): boolean {
    const first = this.last === undefined;
    const last = (this.last ??= this.fds.map(() => undefined));
    const dep = this.dependent;
    let changed = first;
    let onChanged = false;
    for (let i = 0; i < this.fds.length; i++) {
      if (dep && i === dep.index) continue;
      if (this.readOne(i, scratch, last)) {
        changed = true;
        if (dep?.on.includes(i)) onChanged = true;
      }
    }
    if (dep) {
      if (all || first || onChanged || this.onChangedBefore || this.skipped >= dep.maxSkipped) {
        if (this.readOne(dep.index, scratch, last)) changed = true;
        this.skipped = 0;
      } else {
        this.skipped++;
      }
      this.onChangedBefore = onChanged;
    }
    return changed;
  }

  /** Reads file `i` (if it exists) into last[i] when its bytes differ from last[i]'s; whether they did. */
  private readOne(i: number, scratch: { buf: Buffer }, last: Array<Buffer | undefined>): boolean {
    const fd = this.fds[i];
    if (fd === undefined) return false;
    const n = readWhole(fd, scratch);
    const was = last[i];
    if (was && was.length === n && scratch.buf.compare(was, 0, n, 0, n) === 0) return false;
    last[i] = Buffer.from(scratch.buf.subarray(0, n)); // a copy: the scratch buffer is reused
    return true;
  }

  /** The texts of the last read (/proc/net text is ASCII). */
  private texts(): Array<string | undefined> {
    return this.fds.map((fd, i) => (fd === undefined ? undefined : this.last![i]!.toString('latin1')));
  }

  /** Closes every fd; one that will not close (already gone: EBADF) leaves nothing to undo. */
  close(): void {
    for (const fd of this.fds) {
      if (fd === undefined) continue;
      try {
        closeSync(fd);
      } catch {
        // nothing held
      }
    }
  }
}

/** Kept files of one namespace and which namespace that is (st_dev/st_ino of its nsfs file). */
interface Entry {
  readonly dev: number;
  readonly ino: number;
  readonly files: KeptFiles;
}

export interface NetnsFilesOptions {
  /** setns(2); the default is libc's (a test seam) */
  readonly setns?: SetnsFn;
  /** namespaces whose files stay open; default MAX_KEPT_NAMESPACES */
  readonly maxKept?: number;
  /** a file readChanged reads only when others changed (KeptFiles); default none */
  readonly dependent?: DependentFile;
}

/**
 * The same `files` (absolute paths, typically under THREAD_PROC_NET) of many network namespaces,
 * each opened inside its namespace once and kept (see the top of this file).
 */
export class NetnsFiles {
  private home: { fd: number } | undefined;
  private readonly kept = new Map<string, Entry>();
  private readonly scratch = { buf: Buffer.allocUnsafe(16_384) };
  private readonly setns: SetnsFn;
  private readonly maxKept: number;
  private readonly dependent: DependentFile | undefined;

  constructor(readonly files: readonly string[], opts: NetnsFilesOptions = {}) {
    this.setns = opts.setns ?? libcSetns;
    this.maxKept = opts.maxKept ?? MAX_KEPT_NAMESPACES;
    this.dependent = opts.dependent;
  }

  /**
   * The files' texts inside the network namespace mounted at `path` (e.g. /var/run/netns/<name>);
   * a file that does not exist there reads as undefined. Throws NetnsError when the namespace is
   * gone or cannot be entered or read (the thread is back home then, and nothing of it is kept),
   * NetnsRestoreError when the thread could not return home.
   */
  read(path: string): Array<string | undefined> {
    return this.readAs(path, false)!;
  }

  /**
   * As read(), but undefined when the files are kept and their bytes are those of the previous
   * reading of this namespace (KeptFiles.readChanged); a namespace entered afresh gives its texts.
   */
  readChanged(path: string): Array<string | undefined> | undefined {
    return this.readAs(path, true);
  }

  private readAs(path: string, unlessSame: boolean): Array<string | undefined> | undefined {
    let st: { dev: number; ino: number };
    try {
      st = statSync(path);
    } catch (err) {
      this.forget(path);
      throw netnsError(path, 'cannot open network namespace', errCode(err));
    }
    const kept = this.kept.get(path);
    if (kept && kept.dev === st.dev && kept.ino === st.ino) {
      try {
        return unlessSame ? kept.files.readChanged(this.scratch) : kept.files.read(this.scratch);
      } catch {
        // closed below; the namespace is entered once more
      }
    }
    this.forget(path);
    const entry = this.enter(path);
    let texts: Array<string | undefined>;
    try {
      texts = entry.files.read(this.scratch);
    } catch (err) {
      entry.files.close();
      throw netnsError(path, 'cannot read /proc/net inside', errCode(err));
    }
    if (this.kept.size < this.maxKept) this.kept.set(path, entry);
    else entry.files.close();
    return texts;
  }

  /** Closes the files of every namespace not in `paths` (those discovery no longer reports). */
  keepOnly(paths: ReadonlySet<string>): void {
    for (const path of this.kept.keys()) if (!paths.has(path)) this.forget(path);
  }

  /** Namespaces whose files are open now. */
  keptPaths(): string[] {
    return [...this.kept.keys()];
  }

  /** Closes every kept file and the fd of the agent's own namespace (all reopened at the next read). */
  close(): void {
    for (const path of [...this.kept.keys()]) this.forget(path);
    if (this.home) closeSync(this.home.fd);
    this.home = undefined;
  }

  private forget(path: string): void {
    const e = this.kept.get(path);
    if (!e) return;
    this.kept.delete(path);
    e.files.close();
  }

  /** setns into the namespace at `path`, open the files there, setns back. */
  private enter(path: string): Entry {
    const home = this.ownNamespace();
    const fd = openNamespace(path);
    try {
      const { dev, ino } = fstatSync(fd); // the namespace entered, whatever the path names by the next read
      const rc = this.setns(fd, CLONE_NEWNET);
      if (rc !== 0) throw netnsError(path, 'setns(2) into', errnoName(rc)); // failed: still at home
      let files: KeptFiles | undefined;
      let openErr: unknown;
      try {
        files = KeptFiles.open(this.files, this.dependent);
      } catch (err) {
        openErr = err;
      }
      try {
        goHome(this.setns, home, `opening files in ${path}`);
      } catch (err) {
        files?.close();
        throw err;
      }
      if (openErr !== undefined) throw netnsError(path, 'cannot read /proc/net inside', errCode(openErr));
      return { dev, ino, files: files! };
    } finally {
      closeSync(fd);
    }
  }

  private ownNamespace(): { fd: number } {
    this.home ??= { fd: openSync(THREAD_NETNS, 'r') };
    return this.home;
  }
}

let nsfsDevice: number | undefined;

/**
 * Whether `path` verifiably names no network namespace any more: it does not exist, or it is a
 * plain file, not on nsfs — what `ip netns del` leaves for a moment between unmounting the namespace
 * and removing the file. Anything else (it still names a namespace, or cannot be looked at) is not
 * proof.
 */
export function networkNamespaceGone(path: string): boolean {
  let dev: number;
  try {
    dev = statSync(path).dev;
  } catch (err) {
    return errCode(err) === 'ENOENT';
  }
  try {
    nsfsDevice ??= statSync(THREAD_NETNS).dev;
  } catch {
    return false;
  }
  return dev !== nsfsDevice;
}

/** An fd of the network namespace mounted at `path`; NetnsError when it cannot be opened. */
function openNamespace(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw netnsError(path, 'cannot open network namespace', errCode(err));
  }
}

/**
 * setns back. Success means the thread is in the namespace of `home.fd` — the one it was in at
 * the first entry — so there is nothing more to check.
 */
function goHome(setns: SetnsFn, home: { fd: number }, after: string): void {
  const rc = setns(home.fd, CLONE_NEWNET);
  if (rc !== 0) {
    throw new NetnsRestoreError(`setns(2) back to the agent's own network namespace failed (${errnoName(rc)}) after ${after}: this thread is still in that namespace`);
  }
}

/**
 * Runs short synchronous work inside other network namespaces (e.g. creating a netlink socket
 * there: src/kernel/rtnetlink.ts), and brings the thread back: setns(2) into the namespace, `fn`,
 * setns(2) home — the same rules as NetnsFiles (nothing else runs meanwhile; a failed return is a
 * NetnsRestoreError, fatal).
 */
export class NetnsEnter {
  private home: { fd: number } | undefined;
  private readonly setns: SetnsFn;

  constructor(opts: { readonly setns?: SetnsFn } = {}) {
    this.setns = opts.setns ?? libcSetns;
  }

  /**
   * `fn(nsFd)` inside the namespace mounted at `path`, with an open fd of that namespace; throws
   * NetnsError when it cannot be entered, whatever `fn` threw, or NetnsRestoreError.
   */
  run<T>(path: string, fn: (nsFd: number) => T): T {
    this.home ??= { fd: openSync(THREAD_NETNS, 'r') };
    const fd = openNamespace(path);
    try {
      const rc = this.setns(fd, CLONE_NEWNET);
      if (rc !== 0) throw netnsError(path, 'setns(2) into', errnoName(rc)); // failed: still at home
      let out: { v: T } | undefined;
      let fnErr: unknown;
      try {
        out = { v: fn(fd) };
      } catch (err) {
        fnErr = err;
      }
      goHome(this.setns, this.home, `entering ${path}`);
      if (!out) throw fnErr;
      return out.v;
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.home) closeSync(this.home.fd);
    this.home = undefined;
  }
}
