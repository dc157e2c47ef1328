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

  it('with a link interest, only messages naming a link of interest count', () => {
    /** RTM_NEWLINK / RTM_DELLINK with IFLA_IFNAME, as the kernel lays it out */
    const linkMsg = (type: number, ifindex: number, name: string): Buffer => {
      const nameAttr = Buffer.alloc((4 + name.length + 1 + 3) & ~3);
      nameAttr.writeUInt16LE(4 + name.length + 1, 0);
      nameAttr.writeUInt16LE(3, 2);
      nameAttr.write(name, 4);
      const m = Buffer.alloc(16 + 16 + nameAttr.length);
      m.writeUInt32LE(m.length, 0);
      m.writeUInt16LE(type, 4);
      m.writeInt32LE(ifindex, 16 + 4);
      nameAttr.copy(m, 32);
      return m;
    };
    const queue: Buffer[] = [];
    const sys: NetlinkSyscalls = {
      socket: () => 7, bind: () => 0, close: () => 0, errno: () => constants.errno.EAGAIN,
      recv: (_fd, buf) => { const m = queue.shift(); if (!m) return -1; m.copy(buf); return m.length; },
    };
    const attached = new Set([12]);
    const w = new NetlinkChangeWatch(RTMGRP.link, sys, (ifindex, name) => name.startsWith('fvlab-') || attached.has(ifindex));
    expect(w.changed()).toBe(true); // never looked
    queue.push(linkMsg(16, 40, 'fvother-1'), linkMsg(17, 41, 'fvother-2'));
    expect(w.changed()).toBe(false); // another tool's links
    expect(w.ignored).toBe(2);
    queue.push(linkMsg(16, 42, 'fvlab-3'));
    expect(w.changed()).toBe(true); // a link it could attach to
    queue.push(linkMsg(16, 12, 'renamed0'));
    expect(w.changed()).toBe(true); // one it is attached to, renamed
    queue.push(linkMsg(17, 12, 'renamed0'));
    expect(w.changed()).toBe(true); // and deleted
    queue.push(Buffer.from(linkMsg(20, 3, 'x'))); // not a link message (an address): counts
    expect(w.changed()).toBe(true);
    queue.push(linkMsg(16, 43, 'fvother-3').subarray(0, 20)); // cut short: doubt counts
    expect(w.changed()).toBe(true);
  });
});
