/**
 * Serving on a Unix socket safely (the `fovea observe` socket, the Hubble socket): a live socket
 * of another process is never taken over, a stale one (nobody listening) is replaced, anything
 * that is not a socket is left alone; the socket is bound under a private name, made 0600, then
 * given its real name with link(2) — which fails if the name was taken meanwhile — so it is never
 * reachable with a wider mode; and only our own socket file is removed at the end.
 */
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';

/** sockaddr_un.sun_path is 108 bytes including the NUL. */
export const SUN_PATH_MAX = 107;

export type SocketCheck = 'none' | 'stale' | 'live' | 'not-socket';

/** What is at `path`: nothing, a socket nobody listens on, a live one, or something else. */
export async function checkSocket(path: string): Promise<SocketCheck> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw err;
  }
  if (!st.isSocket()) return 'not-socket';
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path });
    const timer = setTimeout(() => { sock.destroy(); resolve('live'); }, 1_000); // accepted into a full backlog: alive
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve('live'); });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'ENOENT') resolve('none');
      else reject(err);
    });
  });
}

export interface SocketClaim {
  /** `what` names the socket in errors, e.g. "observe socket"; `hint` says what to do instead */
  readonly what: string;
  readonly hint: string;
  /** the error type to throw */
  readonly error: new (message: string) => Error;
  readonly logger: Logger;
}

/**
 * Binds a listener to `path` through `bind(pathToBind)` and returns the socket's inode (for
 * removeOwnSocket). Creates the directory (0755) when missing.
 */
export async function bindUnixSocket(path: string, claim: SocketClaim, bind: (p: string) => Promise<void>): Promise<number> {
  const E = claim.error;
  if (Buffer.byteLength(path) > SUN_PATH_MAX) throw new E(`${claim.what} path is longer than ${SUN_PATH_MAX} bytes: ${path}`);
  const dir = dirname(path);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755); // mkdir's mode is masked by the umask
  }
  const found = await checkSocket(path).catch((err: NodeJS.ErrnoException) => {
    throw new E(`cannot check ${path} (${err.code ?? err.message})`);
  });
  if (found === 'live') throw new E(`another process (a second fovea agent?) is already serving ${path}; stop it or ${claim.hint}`);
  if (found === 'not-socket') throw new E(`${path} exists and is not a socket; not removing it: remove it or ${claim.hint}`);
  if (found === 'stale') {
    unlinkSync(path);
    claim.logger.info({ path }, `removed a stale ${claim.what} (nothing was listening on it)`);
  }
  const tmp = `${path}.${process.pid}`;
  if (Buffer.byteLength(tmp) <= SUN_PATH_MAX) {
    try { unlinkSync(tmp); } catch { /* none left by a crashed agent with our pid */ }
    await bind(tmp);
    try {
      chmodSync(tmp, 0o600);
      linkSync(tmp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new E(code === 'EEXIST'
        ? `another process started serving ${path} at the same time; stop it or ${claim.hint}`
        : `cannot create the ${claim.what} ${path}: ${(err as Error).message}`);
    } finally {
      try { unlinkSync(tmp); } catch { /* link failed before creating it */ }
    }
  } else {
    await bind(path);
    chmodSync(path, 0o600);
  }
  return lstatSync(path).ino;
}

/** Removes `path` if it is still the socket with inode `ino` (never another agent's). */
export function removeOwnSocket(path: string, ino: number | undefined): void {
  if (ino === undefined) return;
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch { /* already gone */ }
}
