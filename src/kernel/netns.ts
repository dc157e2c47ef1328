/**
 * Reading files inside another network namespace (a pod's), from this thread: setns(2) into it,
 * read `/proc/thread-self/net/...` synchronously, setns(2) back. setns(CLONE_NEWNET) moves only
 * the calling thread, and everything here is synchronous, so no other JavaScript runs while the
 * thread is in the pod's namespace (libuv's pool threads never leave the agent's own).
 *
 * The way back is an fd of the thread's own namespace, opened at first use and kept. If going
 * back fails, the thread — the one that runs all of the agent's JavaScript, its sockets included —
 * would stay in the pod's namespace: NetnsRestoreError says so, and the agent exits on it
 * (src/agent/agent.ts, exit code 70) instead of exporting from the wrong namespace.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import { errnoName } from './errors.js';
import { lastErrno, libc } from './libbpf.js';

/** setns(2) nstype of a network namespace (linux/sched.h). */
export const CLONE_NEWNET = 0x40000000;
/** The calling thread's network namespace (the agent's own at first use). */
export const THREAD_NETNS = '/proc/thread-self/ns/net';
/** The /proc/net files of whichever namespace the calling thread is in now. */
export const THREAD_PROC_NET = '/proc/thread-self/net';

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

/** Reads one whole file into `scratch` (grown when full) and returns it as text; /proc files report size 0, so no stat. */
function readWhole(path: string, scratch: { buf: Buffer }): string {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (;;) {
      if (n === scratch.buf.length) {
        const bigger = Buffer.allocUnsafe(scratch.buf.length * 2);
        scratch.buf.copy(bigger);
        scratch.buf = bigger;
      }
      const got = readSync(fd, scratch.buf, n, scratch.buf.length - n, null);
      if (got === 0) return scratch.buf.toString('latin1', 0, n); // /proc/net text is ASCII
      n += got;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads each file; undefined for a file that does not exist (e.g. /proc/net/snmp6 without IPv6).
 * `scratch` is a reusable read buffer (readFileSync allocates and concatenates for every file).
 */
export function readOptionalFiles(files: readonly string[], scratch: { buf: Buffer } = { buf: Buffer.allocUnsafe(16_384) }): Array<string | undefined> {
  return files.map((f) => {
    try {
      return readWhole(f, scratch);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  });
}

/** Enters network namespaces on the calling thread and always comes back (or throws NetnsRestoreError). */
export class NetnsReader {
  private home: { fd: number } | undefined;
  private readonly scratch = { buf: Buffer.allocUnsafe(16_384) };

  /** `setns` is a test seam; the default is libc's. */
  constructor(private readonly setns: SetnsFn = libcSetns) {}

  /**
   * Reads `files` (absolute paths, typically under THREAD_PROC_NET) inside the network namespace
   * mounted at `path` (e.g. /var/run/netns/<name>). A file that does not exist there reads as
   * undefined. Throws NetnsError when the namespace cannot be opened, entered or read (the thread
   * is back home then), NetnsRestoreError when the thread could not return home.
   */
  read(path: string, files: readonly string[]): Array<string | undefined> {
    const home = this.ownNamespace();
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw netnsError(path, 'cannot open network namespace', errCode(err));
    }
    try {
      const rc = this.setns(fd, CLONE_NEWNET);
      if (rc !== 0) throw netnsError(path, 'setns(2) into', errnoName(rc)); // failed: still at home
      let texts: Array<string | undefined> | undefined;
      let readErr: unknown;
      try {
        texts = readOptionalFiles(files, this.scratch);
      } catch (err) {
        readErr = err;
      }
      this.goHome(home, path);
      if (readErr !== undefined) throw netnsError(path, 'cannot read /proc/net inside', errCode(readErr));
      return texts!;
    } finally {
      closeSync(fd);
    }
  }

  /** Closes the kept fd of the agent's own namespace (reopened at the next read). */
  close(): void {
    if (this.home) closeSync(this.home.fd);
    this.home = undefined;
  }

  private ownNamespace(): { fd: number } {
    this.home ??= { fd: openSync(THREAD_NETNS, 'r') };
    return this.home;
  }

  /**
   * setns back. Success means the thread is in the namespace of `home.fd` — the one it was in at
   * the first read — so there is nothing more to check (a stat of THREAD_NETNS would add ~10% to
   * every pod's read, see bench/manual/netstack-pods.mjs).
   */
  private goHome(home: { fd: number }, from: string): void {
    const rc = this.setns(home.fd, CLONE_NEWNET);
    if (rc !== 0) {
      throw new NetnsRestoreError(`setns(2) back to the agent's own network namespace failed (${errnoName(rc)}) after reading ${from}: this thread is still in that namespace`);
    }
  }
}

let shared: NetnsReader | undefined;

/** `NetnsReader.read` with one process-wide reader (one kept fd of the agent's own namespace). */
export function readInNetns(path: string, files: readonly string[]): Array<string | undefined> {
  shared ??= new NetnsReader();
  return shared.read(path, files);
}
