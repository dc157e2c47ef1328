/**
 * "Did the host's network configuration change since I last looked?" — answered by the kernel
 * instead of by re-reading it. A rtnetlink socket subscribed to multicast groups (links, addresses,
 * routes, neighbours) receives a message for every change; the rescans that poll every 2 s
 * (interfaces to attach to, pod-interface discovery) drain it without blocking and skip their
 * reading when nothing arrived: one recv(2) instead of a few hundred file reads on a node with 50
 * pods.
 *
 * Any doubt counts as a change: a socket that cannot be opened (no such protocol, seccomp), a
 * receive error, or an overrun of the socket's buffer (ENOBUFS: messages were lost) — so using
 * this never hides a change, it only saves work when the kernel says nothing happened.
 *
 * With `linkInterest`, a link message (RTM_NEWLINK, RTM_DELLINK) counts only when it names a link
 * the caller cares about (by its ifindex and name: e.g. an interface it may attach to, or one it is
 * attached to, whose rename or deletion matters); other tools' links coming and going on the same
 * host then wake nothing. A message that cannot be decoded counts.
 */
import { constants } from 'node:os';
import { decodeLink } from './rtnetlink.js';
import {
  AF_NETLINK, NETLINK_ROUTE, NLMSG_HDRLEN, RTM_DELLINK, RTM_NEWLINK, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, socketCalls, type SocketCalls,
} from './socket-calls.js';

const MSG_DONTWAIT = 0x40;

/** rtnetlink multicast groups (linux/rtnetlink.h, the legacy RTMGRP_* bit masks). */
export const RTMGRP = {
  link: 0x1,
  neigh: 0x4,
  ipv4Ifaddr: 0x10,
  ipv4Route: 0x40,
  ipv6Ifaddr: 0x100,
  ipv6Route: 0x400,
} as const;

export interface ChangeWatch {
  /** True when something changed (or may have) since the last call; drains what arrived. */
  changed(): boolean;
  close(): void;
  /** Why the watch is not in use (every call then answers true), if it is not. */
  readonly unavailable: string | undefined;
}

/** The C library's socket calls, bound at first use; a seam for tests. */
export type NetlinkSyscalls = Pick<SocketCalls, 'socket' | 'bind' | 'recv' | 'close' | 'errno'>;

export class NetlinkChangeWatch implements ChangeWatch {
  private fd = -1;
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private pending = true; // the first call reports a change: the caller has not looked yet
  readonly unavailable: string | undefined;
  /** messages received, and times the kernel dropped some (overrun) */
  messages = 0;
  overruns = 0;

  /** link messages that did not count (linkInterest said no) */
  ignored = 0;

  constructor(groups: number, private readonly sys: NetlinkSyscalls = socketCalls(),
    private readonly linkInterest?: (ifindex: number, ifname: string) => boolean) {
    const fd = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
      this.unavailable = `netlink socket: errno ${sys.errno()}`;
      return;
    }
    // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
    const addr = Buffer.alloc(12);
    addr.writeUInt16LE(AF_NETLINK, 0);
    addr.writeUInt32LE(groups >>> 0, 8);
    if (sys.bind(fd, addr, addr.length) !== 0) {
      this.unavailable = `netlink bind: errno ${sys.errno()}`;
      sys.close(fd);
      return;
    }
    this.fd = fd;
  }

  changed(): boolean {
    if (this.fd < 0) return true;
    let changed = this.pending;
    this.pending = false;
    for (;;) {
      const n = Number(this.sys.recv(this.fd, this.buf, this.buf.length, MSG_DONTWAIT));
      if (n > 0) {
        this.messages++;
        if (!changed) changed = this.counts(n);
        continue;
      }
      if (n === 0) return changed;
      const errno = this.sys.errno();
      if (errno === constants.errno.EAGAIN || errno === constants.errno.EWOULDBLOCK) return changed;
      if (errno === constants.errno.EINTR) continue;
      // ENOBUFS: the kernel dropped messages for us (a burst larger than the socket buffer); anything else: unknown
      if (errno === constants.errno.ENOBUFS) this.overruns++;
      return true;
    }
  }

  /** Whether the `n` bytes received hold a message that counts as a change. */
  private counts(n: number): boolean {
    if (!this.linkInterest) return true;
    let off = 0;
    while (off + NLMSG_HDRLEN <= n) {
      const len = this.buf.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > n) return true; // not a whole message: doubt
      const type = this.buf.readUInt16LE(off + 4);
      if (type !== RTM_NEWLINK && type !== RTM_DELLINK) return true;
      const l = decodeLink(this.buf, off, len);
      if (!l || this.linkInterest(l.ifindex, l.ifname)) return true;
      this.ignored++;
      off += (len + 3) & ~3;
    }
    return false;
  }

  close(): void {
    if (this.fd >= 0) this.sys.close(this.fd);
    this.fd = -1;
  }
}

/** A watch that always says "changed": polling as before (tests, or where netlink is not wanted). */
export const ALWAYS_CHANGED: ChangeWatch = { changed: () => true, close: () => undefined, unavailable: 'not used' };
