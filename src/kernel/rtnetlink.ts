/**
 * Reading the network configuration of a namespace from the kernel itself: rtnetlink dumps of its
 * links and addresses, and the id the agent's namespace gives another one — what `ip -j -d link
 * show`, `ip -n <ns> -j addr show` and `ip -j netns list` print, without starting a process.
 * Pod-interface discovery (src/netns/pod-interfaces.ts) uses it; `ip` cost the agent ~2.7 ms of CPU
 * per process (a fork of a ~150 MB process) and ran once per pod namespace entered.
 *
 * A netlink socket belongs to the network namespace it was created in, whichever namespace the
 * thread is in when it is read: so another namespace's configuration is read through a socket
 * created inside it (setns there, socket(2), setns back: src/kernel/netns.ts, NetnsEnter) and
 * dumped from the agent's own namespace.
 *
 * Everything is synchronous. A dump's reply is produced by the kernel during send(2) and recv(2)
 * themselves, so a blocking recv returns at once; a receive timeout (SO_RCVTIMEO) bounds it anyway.
 * Message layouts: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h,
 * linux/net_namespace.h.
 */
import { constants } from 'node:os';
import { errnoName } from './errors.js';
import {
  AF_NETLINK, NETLINK_ROUTE, NLMSG_HDRLEN, RTM_NEWLINK, SOCK_CLOEXEC, SOCK_RAW, socketCalls, type SocketCalls,
} from './socket-calls.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;

const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWNSID = 88;
const RTM_GETNSID = 90;

const IFLA_IFNAME = 3;
const IFLA_LINK = 5;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_LINK_NETNSID = 37;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const NETNSA_NSID = 1;
const NETNSA_FD = 3;
const NLA_TYPE_MASK = 0x3fff;

/** ARPHRD_LOOPBACK (linux/if_arp.h) and IFF_LOOPBACK (linux/if.h). */
export const ARPHRD_LOOPBACK = 772;
export const IFF_LOOPBACK = 0x8;

/** One link as RTM_NEWLINK describes it (only what discovery reads). */
export interface RtnlLink {
  readonly ifindex: number;
  readonly ifname: string;
  /** ifi_type (ARPHRD_*) */
  readonly type: number;
  /** ifi_flags (IFF_*) */
  readonly flags: number;
  /** IFLA_INFO_KIND: veth, bridge, ... */
  readonly kind?: string;
  /** IFLA_INFO_SLAVE_KIND: bridge for a bridge port */
  readonly slaveKind?: string;
  /** IFLA_MASTER: the ifindex of the bridge (bond, vrf, ...) it is enslaved to */
  readonly master?: number;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace when linkNetnsid is set) */
  readonly link?: number;
  /** IFLA_LINK_NETNSID: this namespace's id for the peer's namespace */
  readonly linkNetnsid?: number;
}

/** One address as RTM_NEWADDR describes it. */
export interface RtnlAddr {
  readonly ifindex: number;
  readonly family: number;
  /** ifa_scope: 0 global (RT_SCOPE_UNIVERSE), 253 link, 254 host */
  readonly scope: number;
  /** IFA_LOCAL, or IFA_ADDRESS when there is no IFA_LOCAL (as `ip addr` prints `local`), as text */
  readonly local?: string;
}

type Sys = Pick<SocketCalls, 'socket' | 'setsockopt' | 'send' | 'recv' | 'close' | 'errno'>;

export class RtnetlinkError extends Error {
  override readonly name = 'RtnetlinkError';
  constructor(readonly errno: number, what: string) {
    super(`rtnetlink ${what}: ${errnoName(errno)}`);
  }
}

/** Attributes of one message: type → [offset, length] of the payload in `buf`. */
function attrs(buf: Buffer, from: number, to: number): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  let off = from;
  while (off + 4 <= to) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > to) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, [off + 4, len - 4]);
    off += (len + 3) & ~3;
  }
  return out;
}

function cstr(buf: Buffer, [off, len]: [number, number]): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end >= 0 && end < off + len ? end : off + len);
}

/** An address's bytes as text (IPv6 uncompressed; callers canonicalise). */
function addrText(buf: Buffer, [off, len]: [number, number]): string | undefined {
  if (len === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  if (len === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + 2 * i).toString(16));
    return groups.join(':');
  }
  return undefined;
}

/** Pure decoders of the kernel's messages (exported for the unit tests). */
export function decodeLink(buf: Buffer, off: number, len: number): RtnlLink | undefined {
  // struct ifinfomsg { u8 family, pad; u16 type; s32 index; u32 flags, change; } — 16 bytes
  const body = off + NLMSG_HDRLEN;
  if (len < NLMSG_HDRLEN + 16) return undefined;
  const type = buf.readUInt16LE(body + 2);
  const ifindex = buf.readInt32LE(body + 4);
  const flags = buf.readUInt32LE(body + 8);
  const a = attrs(buf, body + 16, off + len);
  const name = a.get(IFLA_IFNAME);
  if (!name) return undefined;
  const u32 = (t: number): number | undefined => { const x = a.get(t); return x && x[1] >= 4 ? buf.readUInt32LE(x[0]) : undefined; };
  let kind: string | undefined;
  let slaveKind: string | undefined;
  const info = a.get(IFLA_LINKINFO);
  if (info) {
    const ia = attrs(buf, info[0], info[0] + info[1]);
    const k = ia.get(IFLA_INFO_KIND);
    const sk = ia.get(IFLA_INFO_SLAVE_KIND);
    if (k) kind = cstr(buf, k);
    if (sk) slaveKind = cstr(buf, sk);
  }
  const nsid = a.get(IFLA_LINK_NETNSID);
  const master = u32(IFLA_MASTER);
  const link = u32(IFLA_LINK);
  return {
    ifindex, ifname: cstr(buf, name), type, flags,
    ...(kind !== undefined ? { kind } : {}),
    ...(slaveKind !== undefined ? { slaveKind } : {}),
    ...(master !== undefined ? { master } : {}),
    ...(link !== undefined ? { link } : {}),
    ...(nsid && nsid[1] >= 4 ? { linkNetnsid: buf.readInt32LE(nsid[0]) } : {}),
  };
}

export function decodeAddr(buf: Buffer, off: number, len: number): RtnlAddr | undefined {
  // struct ifaddrmsg { u8 family, prefixlen, flags, scope; u32 index; } — 8 bytes
  const body = off + NLMSG_HDRLEN;
  if (len < NLMSG_HDRLEN + 8) return undefined;
  const family = buf[body]!;
  const scope = buf[body + 3]!;
  const ifindex = buf.readUInt32LE(body + 4);
  const a = attrs(buf, body + 8, off + len);
  const where = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  const local = where && (family === AF_INET || family === AF_INET6) ? addrText(buf, where) : undefined;
  return { ifindex, family, scope, ...(local !== undefined ? { local } : {}) };
}

/** A test seam: the socket calls. */
export type RtnetlinkSyscalls = Sys;

/**
 * The receive buffer of every Rtnetlink socket: a request is sent and its replies read and decoded
 * within one synchronous call, so one buffer serves them all. A buffer per socket was 64 KB of
 * garbage per pod namespace at each discovery (3.2 MB with 50 pods).
 */
let receiveBuffer: Buffer | undefined;

/** A rtnetlink socket of one namespace (the one the thread was in when it was opened). */
export class Rtnetlink {
  private readonly buf = (receiveBuffer ??= Buffer.allocUnsafe(64 * 1024));
  private seq = 0;

  private constructor(private fd: number, private readonly s: Sys) {}

  /** A socket in the calling thread's current network namespace; throws RtnetlinkError. */
  static open(s: Sys = socketCalls()): Rtnetlink {
    const fd = s.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new RtnetlinkError(s.errno(), 'socket');
    const tv = Buffer.alloc(16); // struct timeval { time_t tv_sec; suseconds_t tv_usec; }: 5 s
    tv.writeBigInt64LE(5n, 0);
    if (s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length) !== 0) {
      const e = s.errno();
      s.close(fd);
      throw new RtnetlinkError(e, 'setsockopt');
    }
    return new Rtnetlink(fd, s);
  }

  /** Every link of the socket's namespace, in the kernel's order. */
  links(): RtnlLink[] {
    const req = Buffer.alloc(16); // struct ifinfomsg, family AF_UNSPEC
    return this.dump(RTM_GETLINK, req, RTM_NEWLINK, decodeLink, 'link dump');
  }

  /** Every address (IPv4 and IPv6) of the socket's namespace. */
  addrs(): RtnlAddr[] {
    const req = Buffer.alloc(8); // struct ifaddrmsg, family AF_UNSPEC
    return this.dump(RTM_GETADDR, req, RTM_NEWADDR, decodeAddr, 'address dump');
  }

  /**
   * The id the socket's namespace gives the namespace of `nsFd` (an open fd of its nsfs file), as
   * `ip netns list` prints it; undefined when none is assigned.
   */
  nsid(nsFd: number): number | undefined {
    const body = Buffer.alloc(4 + 8); // struct rtgenmsg (padded) + NETNSA_FD attribute
    body.writeUInt16LE(8, 4);
    body.writeUInt16LE(NETNSA_FD, 6);
    body.writeUInt32LE(nsFd >>> 0, 8);
    let id: number | undefined;
    this.request(RTM_GETNSID, NLM_F_REQUEST, body, 'nsid', (off, len, type) => {
      if (type !== RTM_NEWNSID) return false;
      const a = attrs(this.buf, off + NLMSG_HDRLEN + 4, off + len);
      const x = a.get(NETNSA_NSID);
      if (x && x[1] >= 4) {
        const v = this.buf.readInt32LE(x[0]);
        if (v >= 0) id = v;
      }
      return true; // one reply
    });
    return id;
  }

  close(): void {
    if (this.fd >= 0) this.s.close(this.fd);
    this.fd = -1;
  }

  private dump<T>(type: number, body: Buffer, replyType: number, decode: (buf: Buffer, off: number, len: number) => T | undefined, what: string): T[] {
    const out: T[] = [];
    this.request(type, NLM_F_REQUEST | NLM_F_DUMP, body, what, (off, len, t) => {
      if (t === replyType) {
        const v = decode(this.buf, off, len);
        if (v !== undefined) out.push(v);
      }
      return false;
    });
    return out;
  }

  /** Sends one request and reads its replies until DONE, an error, or `onMessage` says it is over. */
  private request(type: number, flags: number, body: Buffer, what: string, onMessage: (off: number, len: number, type: number) => boolean): void {
    if (this.fd < 0) throw new RtnetlinkError(constants.errno.EBADF, what);
    const seq = ++this.seq;
    const msg = Buffer.alloc(NLMSG_HDRLEN + body.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags, 6);
    msg.writeUInt32LE(seq, 8);
    body.copy(msg, NLMSG_HDRLEN);
    for (;;) {
      if (Number(this.s.send(this.fd, msg, msg.length, 0)) >= 0) break;
      const e = this.s.errno();
      if (e !== constants.errno.EINTR) throw new RtnetlinkError(e, `${what} (send)`);
    }
    for (;;) {
      const n = Number(this.s.recv(this.fd, this.buf, this.buf.length, 0));
      if (n < 0) {
        const e = this.s.errno();
        if (e === constants.errno.EINTR) continue;
        throw new RtnetlinkError(e, `${what} (recv)`);
      }
      if (n === 0) throw new RtnetlinkError(constants.errno.EIO, `${what}: socket closed`);
      let off = 0;
      while (off + NLMSG_HDRLEN <= n) {
        const len = this.buf.readUInt32LE(off);
        if (len < NLMSG_HDRLEN || off + len > n) break;
        const t = this.buf.readUInt16LE(off + 4);
        const s = this.buf.readUInt32LE(off + 8);
        if (s === seq) {
          if (t === NLMSG_DONE) return;
          if (t === NLMSG_ERROR) {
            const err = -this.buf.readInt32LE(off + NLMSG_HDRLEN);
            if (err === 0) return; // an acknowledgement
            throw new RtnetlinkError(err, what);
          }
          if (onMessage(off, len, t)) return;
        }
        off += (len + 3) & ~3;
      }
    }
  }
}
