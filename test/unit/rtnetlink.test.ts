/**
 * rtnetlink dumps without the kernel: messages built byte by byte as the kernel lays them out
 * (linux/rtnetlink.h), decoded, and mapped to what discovery reads from `ip -j` — the same
 * HostLink / NetnsInterface the `ip` JSON gives. The real kernel: test/e2e/netns-pod-interfaces.test.ts
 * (netlink and `ip` side by side).
 */
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { decodeAddr, decodeLink, Rtnetlink, type RtnetlinkSyscalls } from '../../src/kernel/rtnetlink.js';
import { hostLinksFromRtnl, netnsInterfacesFromRtnl, parseLinks, parseNetnsAddrs } from '../../src/netns/pod-interfaces.js';

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}
const str = (s: string): Buffer => Buffer.from(`${s}\0`);
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };

function nlmsg(type: number, seq: number, body: Buffer): Buffer {
  const b = Buffer.alloc(16 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(2, 6); // NLM_F_MULTI
  b.writeUInt32LE(seq, 8);
  body.copy(b, 16);
  return b;
}

/** RTM_NEWLINK: ifinfomsg + attributes */
function link(o: { ifindex: number; name: string; type?: number; flags?: number; kind?: string; slaveKind?: string; master?: number; link?: number; nsid?: number }, seq = 1): Buffer {
  const ifi = Buffer.alloc(16);
  ifi.writeUInt16LE(o.type ?? 1, 2);
  ifi.writeInt32LE(o.ifindex, 4);
  ifi.writeUInt32LE(o.flags ?? 0x1003, 8);
  const info: Buffer[] = [];
  if (o.kind) info.push(attr(1, str(o.kind)));
  if (o.slaveKind) info.push(attr(4, str(o.slaveKind)));
  const attrs = [
    attr(3, str(o.name)),
    attr(4, u32(1500)), // IFLA_MTU, not read
    ...(o.link !== undefined ? [attr(5, u32(o.link))] : []),
    ...(o.master !== undefined ? [attr(10, u32(o.master))] : []),
    ...(info.length ? [attr(18 | 0x8000, Buffer.concat(info))] : []), // IFLA_LINKINFO, NLA_F_NESTED
    ...(o.nsid !== undefined ? [attr(37, u32(o.nsid))] : []),
  ];
  return nlmsg(16, seq, Buffer.concat([ifi, ...attrs]));
}

/** RTM_NEWADDR: ifaddrmsg + IFA_ADDRESS (+ IFA_LOCAL for IPv4) */
function addr(ifindex: number, ip: number[], scope: number, seq = 1): Buffer {
  const ifa = Buffer.alloc(8);
  ifa[0] = ip.length === 4 ? 2 : 10;
  ifa[1] = ip.length === 4 ? 24 : 64;
  ifa[3] = scope;
  ifa.writeUInt32LE(ifindex, 4);
  const a = Buffer.from(ip);
  return nlmsg(20, seq, Buffer.concat([ifa, attr(1, a), ...(ip.length === 4 ? [attr(2, a)] : [])]));
}

const done = (seq: number): Buffer => nlmsg(3, seq, u32(0));
const decodeAll = <T>(b: Buffer, f: (buf: Buffer, off: number, len: number) => T): T => f(b, 0, b.length);

describe('rtnetlink messages → what `ip -j` shows', () => {
  it('links: a pod-facing veth, a bridge port, a veth with both ends here, loopback', () => {
    const msgs = [
      link({ ifindex: 1, name: 'lo', type: 772, flags: 0x49 }),
      link({ ifindex: 238, name: 'fvpibr0', kind: 'bridge' }),
      link({ ifindex: 239, name: 'fvpib0', kind: 'veth', slaveKind: 'bridge', master: 238, link: 2, nsid: 1 }),
      link({ ifindex: 241, name: 'fvpin0', kind: 'veth', link: 2, nsid: 3 }),
      link({ ifindex: 282, name: 'fvpix0', kind: 'veth', link: 283 }),
    ].map((b) => decodeAll(b, decodeLink)!);
    const json = JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], link_type: 'loopback' },
      { ifindex: 238, ifname: 'fvpibr0', link_type: 'ether', linkinfo: { info_kind: 'bridge' } },
      { ifindex: 239, link_index: 2, ifname: 'fvpib0', master: 'fvpibr0', link_type: 'ether', link_netnsid: 1, linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' } },
      { ifindex: 241, link_index: 2, ifname: 'fvpin0', link_type: 'ether', link_netnsid: 3, linkinfo: { info_kind: 'veth' } },
      { ifindex: 282, link: 'fvpix1', ifname: 'fvpix0', link_type: 'ether', linkinfo: { info_kind: 'veth' } },
    ]);
    expect(hostLinksFromRtnl(msgs)).toEqual(parseLinks(json));
  });

  it('a namespace: global addresses only (no link-local, no loopback), peers as `ip addr` shows them', () => {
    const links = [link({ ifindex: 1, name: 'lo', type: 772, flags: 0x49 }), link({ ifindex: 2, name: 'eth0', kind: 'veth', link: 241, nsid: 0 })]
      .map((b) => decodeAll(b, decodeLink)!);
    const addrs = [
      addr(1, [127, 0, 0, 1], 254),
      addr(2, [198, 18, 252, 10], 0),
      addr(2, [0xfd, 0, 0xf0, 0xe1, 0, 0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10], 0),
      addr(2, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], 253),
    ].map((b) => decodeAll(b, decodeAddr)!);
    const json = JSON.stringify([
      { ifindex: 1, ifname: 'lo', link_type: 'loopback', addr_info: [{ family: 'inet', local: '127.0.0.1', scope: 'host' }] },
      { ifindex: 2, link_index: 241, ifname: 'eth0', link_type: 'ether', link_netnsid: 0, addr_info: [
        { family: 'inet', local: '198.18.252.10', scope: 'global' }, { family: 'inet6', local: 'fd00:f0e1:fc::10', scope: 'global' },
        { family: 'inet6', local: 'fe80::102:304:506:708', scope: 'link' }] },
    ]);
    expect(netnsInterfacesFromRtnl(links, addrs)).toEqual(parseNetnsAddrs(json));
    expect(netnsInterfacesFromRtnl(links, addrs)).toEqual([{ ifindex: 2, ifname: 'eth0', ips: ['198.18.252.10', 'fd00:f0e1:fc::10'], peerIfindex: 241, peerNetnsid: 0 }]);
  });
});

describe('Rtnetlink (fake socket)', () => {
  function fake(replies: (seq: number) => Buffer[], errnoOnRecv?: number) {
    let seq = 0;
    let queue: Buffer[] = [];
    let errno = 0;
    const sent: Buffer[] = [];
    const sys: RtnetlinkSyscalls = {
      socket: () => 9,
      setsockopt: () => 0,
      send: (_fd, buf) => { sent.push(Buffer.from(buf)); seq = buf.readUInt32LE(8); queue = replies(seq); return buf.length; },
      recv: (_fd, buf) => {
        if (errnoOnRecv) { errno = errnoOnRecv; return -1; }
        const next = queue.shift();
        if (!next) throw new Error('recv with nothing queued: would block');
        next.copy(buf);
        return next.length;
      },
      close: () => 0,
      errno: () => errno,
    };
    return { sys, sent };
  }

  it('a dump across several receives, to NLMSG_DONE; the request is a dump of the asked type', () => {
    const f = fake((seq) => [
      Buffer.concat([link({ ifindex: 1, name: 'lo', type: 772 }, seq), link({ ifindex: 2, name: 'eth0' }, seq)]),
      Buffer.concat([link({ ifindex: 3, name: 'fvx0', kind: 'veth', link: 2, nsid: 4 }, seq), done(seq)]),
    ]);
    const s = Rtnetlink.open(f.sys);
    expect(s.links().map((l) => [l.ifindex, l.ifname, l.kind, l.linkNetnsid])).toEqual([[1, 'lo', undefined, undefined], [2, 'eth0', undefined, undefined], [3, 'fvx0', 'veth', 4]]);
    expect(f.sent[0]!.readUInt16LE(4)).toBe(18); // RTM_GETLINK
    expect(f.sent[0]!.readUInt16LE(6)).toBe(0x301); // NLM_F_REQUEST | NLM_F_DUMP
  });

  it('an error reply and a failed receive throw, naming the errno', () => {
    const err = (seq: number): Buffer[] => [nlmsg(2, seq, Buffer.concat([u32(-constants.errno.EPERM), Buffer.alloc(16)]))];
    expect(() => Rtnetlink.open(fake(err).sys).addrs()).toThrow(/address dump: EPERM/);
    expect(() => Rtnetlink.open(fake(() => [], constants.errno.EAGAIN).sys).links()).toThrow(/EAGAIN/);
  });

  it('nsid: RTM_NEWNSID\'s NETNSA_NSID, undefined when not assigned (-1)', () => {
    const reply = (id: number) => (seq: number): Buffer[] => [nlmsg(88, seq, Buffer.concat([Buffer.alloc(4), attr(1, u32(id))]))];
    const f = fake(reply(7));
    expect(Rtnetlink.open(f.sys).nsid(42)).toBe(7);
    expect(f.sent[0]!.readUInt16LE(4)).toBe(90); // RTM_GETNSID
    expect(f.sent[0]!.readUInt32LE(16 + 8)).toBe(42); // NETNSA_FD
    expect(Rtnetlink.open(fake(reply(-1)).sys).nsid(42)).toBeUndefined();
  });
});
