/**
 * NetlinkChangeWatch with fake socket calls: what counts as a change (a message, an overrun, an
 * error, a socket that cannot be opened) and what does not (nothing to read). The real kernel's
 * notifications: test/e2e/netlink-changes.test.ts.
 */
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { NetlinkChangeWatch, RTMGRP, type NetlinkSyscalls } from '../../src/kernel/netlink-changes.js';

/** recv answers from a script: a number = bytes received, a string = that errno (and -1). */
function fake(script: Array<number | keyof typeof constants.errno>, opts: { socketFails?: boolean } = {}) {
  let errno = 0;
  const closed: number[] = [];
  let bound: Buffer | undefined;
  const sys: NetlinkSyscalls = {
    socket: () => { if (opts.socketFails) { errno = constants.errno.EPROTONOSUPPORT; return -1; } return 7; },
    bind: (_fd, addr) => { bound = Buffer.from(addr); return 0; },
    recv: () => {
      const next = script.shift() ?? 'EAGAIN';
      if (typeof next === 'number') return next;
      errno = constants.errno[next];
      return -1;
    },
    close: (fd) => { closed.push(fd); return 0; },
    errno: () => errno,
  };
  return { sys, closed, bound: () => bound };
}

describe('NetlinkChangeWatch', () => {
  it('binds the asked groups; the first call is a change, then only messages are', () => {
    const f = fake(['EAGAIN', 120, 64, 'EAGAIN', 'EAGAIN']);
    const w = new NetlinkChangeWatch(RTMGRP.link | RTMGRP.ipv4Route, f.sys);
    expect(w.unavailable).toBeUndefined();
    expect(f.bound()!.readUInt16LE(0)).toBe(16); // AF_NETLINK
    expect(f.bound()!.readUInt32LE(8)).toBe(0x41);
    expect(w.changed()).toBe(true); // nothing read yet, but the caller has never looked
    expect(w.changed()).toBe(true); // two messages, drained in one call
    expect(w.messages).toBe(2);
    expect(w.changed()).toBe(false);
    w.close();
    expect(f.closed).toEqual([7]);
  });

  it('an overrun (ENOBUFS) or an unknown error is a change; EINTR is retried', () => {
    const f = fake(['EAGAIN', 'ENOBUFS', 'EINTR', 'EAGAIN', 'EBADF']);
    const w = new NetlinkChangeWatch(RTMGRP.link, f.sys);
    w.changed();
    expect(w.changed()).toBe(true);
    expect(w.overruns).toBe(1);
    expect(w.changed()).toBe(false); // EINTR, then EAGAIN
    expect(w.changed()).toBe(true); // EBADF: do not trust the silence
  });

  it('without a socket it says why, and every call is a change (polling as before)', () => {
    const w = new NetlinkChangeWatch(RTMGRP.link, fake([], { socketFails: true }).sys);
    expect(w.unavailable).toMatch(/netlink socket: errno \d+/);
    expect([w.changed(), w.changed()]).toEqual([true, true]);
  });
});
