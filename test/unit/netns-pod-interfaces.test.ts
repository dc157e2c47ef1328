/**
 * Pod-interface discovery, unprivileged: every parser on JSON captured from `ip -j` / `bridge -j`
 * (iproute2 6.1, kernel 6.18) while the e2e topology was up — trimmed of fields nobody reads —
 * plus a few synthetic entries in the same shape for cases that machine did not have (marked).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bridgeFindings, canonicalIp, discoverPodInterfacesDetailed, execCommand, isPodAddress, matchNetnsPeers, mergeFindings,
  parseBridgePorts, parseFdb, parseLinks, parseNeigh, parseNetnsAddrs, parseNetnsIds, parseRoutes, sortIps,
  type CommandRunner, type Finding,
} from '../../src/netns/pod-interfaces.js';

// `ip -j -d link show` (captured; eno2 and flannel.1 synthetic)
const LINKS = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, link_type: 'loopback', address: '00:00:00:00:00:00' },
  { ifindex: 4, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1400, link_type: 'ether', address: '02:fc:00:00:00:01', parentbus: 'virtio', parentdev: 'virtio2' },
  { ifindex: 237, link_index: 2, ifname: 'fvpir0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, link_type: 'ether', address: '36:cd:f4:fa:37:e4', link_netnsid: 0, linkinfo: { info_kind: 'veth' } },
  { ifindex: 238, ifname: 'fvpibr0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, link_type: 'ether', address: '46:52:50:5a:59:39', linkinfo: { info_kind: 'bridge', info_data: { forward_delay: 0, stp_state: 0, vlan_filtering: 0 } } },
  { ifindex: 239, link_index: 2, ifname: 'fvpib0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, master: 'fvpibr0', link_type: 'ether', address: '46:52:50:5a:59:39', link_netnsid: 1, linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { state: 'forwarding', learning: true } } },
  { ifindex: 240, link_index: 2, ifname: 'fvpib1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, master: 'fvpibr0', link_type: 'ether', address: '96:fd:ff:a3:50:1c', link_netnsid: 2, linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { state: 'forwarding', learning: true } } },
  { ifindex: 241, link_index: 2, ifname: 'fvpin0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, link_type: 'ether', address: 'ba:5b:77:bb:e7:41', link_netnsid: 3, linkinfo: { info_kind: 'veth' } },
  // a veth pair with both ends in the root netns (like cilium_host/cilium_net): `link` by name, no netnsid
  { ifindex: 282, link: 'fvpix1', ifname: 'fvpix0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, link_type: 'ether', address: '2e:0c:bd:ad:a1:50', linkinfo: { info_kind: 'veth' } },
  // synthetic: a physical NIC enslaved to the bridge, and an overlay device
  { ifindex: 300, ifname: 'eno2', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], master: 'fvpibr0', link_type: 'ether', address: '02:aa:00:00:00:02', linkinfo: { info_slave_kind: 'bridge' } },
  { ifindex: 301, ifname: 'flannel.1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], link_type: 'ether', address: '02:aa:00:00:00:03', linkinfo: { info_kind: 'vxlan' } },
]);

// `ip -j -4 route show table all` (captured; the last three synthetic)
const ROUTES_V4 = JSON.stringify([
  { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', flags: [] },
  { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.0.2.2', flags: [] },
  { dst: '198.18.250.10', dev: 'fvpir0', scope: 'link', flags: [] },
  { dst: '198.18.251.0/24', dev: 'fvpibr0', protocol: 'kernel', scope: 'link', prefsrc: '198.18.251.1', flags: [] },
  { dst: '198.18.251.99', dev: 'fvpibr0', flags: [] },
  { dst: '198.18.253.10', dev: 'fvpix0', flags: [] },
  { type: 'blackhole', dst: '198.18.254.0/26', flags: [] },
  { dst: '198.18.254.9', gateway: '192.0.2.1', dev: 'eth0', table: '100', flags: [] },
  { type: 'local', dst: '127.0.0.1', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '127.0.0.1', flags: [] },
  { type: 'local', dst: '192.0.2.2', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '192.0.2.2', flags: [] },
  { type: 'local', dst: '198.18.251.1', dev: 'fvpibr0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '198.18.251.1', flags: [] },
  { type: 'broadcast', dst: '198.18.251.255', dev: 'fvpibr0', table: 'local', protocol: 'kernel', scope: 'link', prefsrc: '198.18.251.1', flags: [] },
  // synthetic: a /32 onto the uplink, the same pod route again in a CNI's own table, a /32 onto an overlay,
  // and a /32 to the host's own address on a pod-facing veth (cilium_host's router IP pattern)
  { dst: '192.0.2.50', dev: 'eth0', scope: 'link', flags: [] },
  { dst: '198.18.250.10', dev: 'fvpir0', table: '2004', scope: 'link', flags: [] },
  { dst: '10.244.1.0', dev: 'flannel.1', flags: ['onlink'] },
  { dst: '192.0.2.2', dev: 'fvpin0', scope: 'link', flags: [] },
]);

// `ip -j -6 route show table all` (captured; the link-local /128 synthetic)
const ROUTES_V6 = JSON.stringify([
  { dst: 'fd00::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
  { dst: 'fe80::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
  { dst: 'fd00:f0e1:fa::10', dev: 'fvpir0', metric: 1024, flags: [], pref: 'medium' },
  { dst: 'default', gateway: 'fd00::1', dev: 'eth0', metric: 1024, flags: [], pref: 'medium' },
  { type: 'local', dst: 'fd00::2', dev: 'eth0', table: 'local', protocol: 'kernel', metric: 0, flags: [], pref: 'medium' },
  { type: 'multicast', dst: 'ff00::/8', dev: 'fvpir0', table: 'local', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
  { dst: 'fe80::1', dev: 'fvpir0', metric: 1024, flags: [], pref: 'medium' },
]);

// `ip -j neigh show dev fvpibr0` (captured; the last three synthetic)
const NEIGH = JSON.stringify([
  { dst: '198.18.251.11', lladdr: '92:32:89:58:70:ad', state: ['REACHABLE'] },
  { dst: '198.18.251.10', lladdr: 'be:12:e9:bf:d7:4d', state: ['STALE'] },
  { dst: '198.18.251.12', state: ['INCOMPLETE'] },
  { dst: '198.18.251.13', lladdr: '02:00:00:00:00:13', state: ['FAILED'] },
  { dst: 'fe80::9032:89ff:fe58:70ad', lladdr: '92:32:89:58:70:ad', router: null, state: ['STALE'] },
]);

// `bridge -j fdb show br fvpibr0` (captured)
const FDB = JSON.stringify([
  { mac: '33:33:00:00:00:01', ifname: 'fvpibr0', flags: ['self'], state: 'permanent' },
  { mac: '01:00:5e:00:00:01', ifname: 'fvpibr0', flags: ['self'], state: 'permanent' },
  { mac: 'be:12:e9:bf:d7:4d', ifname: 'fvpib0', flags: [], master: 'fvpibr0', state: '' },
  { mac: '46:52:50:5a:59:39', ifname: 'fvpib0', flags: [], master: 'fvpibr0', state: 'permanent' },
  { mac: '33:33:00:00:00:01', ifname: 'fvpib0', flags: ['self'], state: 'permanent' },
  { mac: '92:32:89:58:70:ad', ifname: 'fvpib1', flags: [], master: 'fvpibr0', state: '' },
  { mac: '96:fd:ff:a3:50:1c', ifname: 'fvpib1', flags: [], master: 'fvpibr0', state: 'permanent' },
  { mac: '01:00:5e:00:00:01', ifname: 'fvpib1', flags: ['self'], state: 'permanent' },
]);

// `ip -n fvpi-n0 -j addr show` (captured): lo down, eth0 dual stack with its link-local
const ADDR_N0 = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'], mtu: 65536, operstate: 'DOWN', link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [] },
  { ifindex: 2, link_index: 241, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, link_type: 'ether', address: 'ae:05:bb:88:76:45', link_netnsid: 0, addr_info: [
    { family: 'inet', local: '198.18.252.10', prefixlen: 24, scope: 'global', label: 'eth0', valid_life_time: 4294967295, preferred_life_time: 4294967295 },
    { family: 'inet6', local: 'fd00:f0e1:fc::10', prefixlen: 64, scope: 'global', nodad: true, valid_life_time: 4294967295, preferred_life_time: 4294967295 },
    { family: 'inet6', local: 'fe80::ac05:bbff:fe88:7645', prefixlen: 64, scope: 'link', valid_life_time: 4294967295, preferred_life_time: 4294967295 },
  ] },
]);

// `nsenter --net=/run/fvpi-netns/fvpi-b0 ip -j addr show` (captured)
const ADDR_B0 = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], link_type: 'loopback', addr_info: [
    { family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' }] },
  { ifindex: 2, link_index: 239, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], link_type: 'ether', address: 'be:12:e9:bf:d7:4d', link_netnsid: 0, addr_info: [
    { family: 'inet', local: '198.18.251.10', prefixlen: 24, scope: 'global', label: 'eth0' }] },
]);

const links = parseLinks(LINKS);

describe('addresses', () => {
  it('canonicalIp: RFC 5952 for IPv6, IPv4 as is, undefined for junk', () => {
    expect(canonicalIp('FD00:0:0:0:0:0:0:10')).toBe('fd00::10');
    expect(canonicalIp('198.18.250.10')).toBe('198.18.250.10');
    expect(canonicalIp('198.18.250.10/32')).toBeUndefined();
    expect(canonicalIp('default')).toBeUndefined();
  });
  it('isPodAddress: unicast only', () => {
    for (const ip of ['10.0.0.5', '198.18.250.10', 'fd00:f0e1:fa::10', '2001:db8::1']) expect(isPodAddress(ip), ip).toBe(true);
    for (const ip of ['127.0.0.1', '169.254.1.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'febf::1', 'ff02::1']) {
      expect(isPodAddress(ip), ip).toBe(false);
    }
  });
  it('sortIps: IPv4 first, numerically, then IPv6; duplicates folded', () => {
    expect(sortIps(['fd00::10', '10.0.0.10', '10.0.0.9', 'fd00::9', '10.0.0.9', '2001:db8::1'])).toEqual(['10.0.0.9', '10.0.0.10', '2001:db8::1', 'fd00::9', 'fd00::10']);
  });
});

describe('parseLinks', () => {
  it('reads kind, master, peer ifindex and netnsid', () => {
    expect(links.find((l) => l.ifname === 'fvpib0')).toEqual({
      ifindex: 239, ifname: 'fvpib0', kind: 'veth', master: 'fvpibr0', slaveKind: 'bridge', peerIfindex: 2, peerNetnsid: 1, loopback: false,
    });
    expect(links.find((l) => l.ifname === 'eth0')).toEqual({ ifindex: 4, ifname: 'eth0', loopback: false });
    expect(links.find((l) => l.ifname === 'lo')?.loopback).toBe(true);
    // a root-only pair: `link` by name, no peer index or netnsid
    expect(links.find((l) => l.ifname === 'fvpix0')).toEqual({ ifindex: 282, ifname: 'fvpix0', kind: 'veth', loopback: false });
  });
  it('empty output is no links; junk is a clear error', () => {
    expect(parseLinks('')).toEqual([]);
    expect(() => parseLinks('Error: nope')).toThrow(/ip link: not JSON/);
    expect(() => parseLinks('{}')).toThrow(/expected a JSON array/);
  });
});

describe('parseRoutes', () => {
  const found = parseRoutes([ROUTES_V4, ROUTES_V6], links);
  it('takes single-address routes onto pod-facing devices, dual stack, once each', () => {
    expect(found).toEqual([
      { ifindex: 237, ifname: 'fvpir0', ips: ['198.18.250.10'], source: 'route' },
      { ifindex: 237, ifname: 'fvpir0', ips: ['fd00:f0e1:fa::10'], source: 'route' },
    ]);
  });
  it('excludes the default-route interface, in any family', () => {
    expect(found.map((f) => f.ifname)).not.toContain('eth0'); // 192.0.2.50/32 dev eth0
    // eth0 carries only an IPv6 default: still the uplink for IPv4 /32s
    const v4NoDefault = JSON.stringify(JSON.parse(ROUTES_V4).filter((r: { dst: string }) => r.dst !== 'default'));
    expect(parseRoutes([v4NoDefault, ROUTES_V6], links).map((f) => f.ifname)).not.toContain('eth0');
    // without any default route, eth0 (no linkinfo: a physical NIC) would qualify
    const v6NoDefault = JSON.stringify(JSON.parse(ROUTES_V6).filter((r: { dst: string }) => r.dst !== 'default'));
    expect(parseRoutes([v4NoDefault, v6NoDefault], links).map((f) => f.ips[0])).toContain('192.0.2.50');
  });
  it('excludes multipath default routes\' devices', () => {
    const ecmp = JSON.stringify([
      { dst: 'default', flags: [], nexthops: [{ gateway: '192.0.2.1', dev: 'fvpin0', weight: 1, flags: [] }] },
      { dst: '198.18.252.10', dev: 'fvpin0', flags: [] },
    ]);
    expect(parseRoutes([ecmp], links)).toEqual([]);
  });
  it('excludes /32s on bridges, overlays, root-only veth pairs, via a gateway, the host\'s own addresses, link-local', () => {
    const ips = found.flatMap((f) => f.ips);
    expect(ips).not.toContain('198.18.251.99'); // dev fvpibr0 (bridge)
    expect(ips).not.toContain('10.244.1.0'); // dev flannel.1 (vxlan)
    expect(ips).not.toContain('198.18.253.10'); // dev fvpix0 (peer in root)
    expect(ips).not.toContain('198.18.254.9'); // via 192.0.2.1
    expect(ips).not.toContain('192.0.2.2'); // a local address of the host
    expect(ips).not.toContain('fe80::1');
  });
  it('skips routes onto devices it does not know (vanished between dumps)', () => {
    expect(parseRoutes([JSON.stringify([{ dst: '10.1.1.1', dev: 'gone0', flags: [] }])], links)).toEqual([]);
  });
});

describe('bridge method parsers', () => {
  it('parseBridgePorts: pod-facing veth ports only (not the enslaved NIC)', () => {
    const ports = parseBridgePorts(links);
    expect([...ports.keys()]).toEqual(['fvpibr0']);
    expect(ports.get('fvpibr0')!.map((p) => p.ifname)).toEqual(['fvpib0', 'fvpib1']);
  });
  it('parseNeigh: resolved unicast entries; no INCOMPLETE, FAILED or link-local', () => {
    expect(parseNeigh(NEIGH)).toEqual([
      { ip: '198.18.251.11', mac: '92:32:89:58:70:ad' },
      { ip: '198.18.251.10', mac: 'be:12:e9:bf:d7:4d' },
    ]);
  });
  it('parseFdb: learned entries only (no self, no permanent)', () => {
    expect(parseFdb(FDB, 'fvpibr0')).toEqual([
      { mac: 'be:12:e9:bf:d7:4d', port: 'fvpib0' },
      { mac: '92:32:89:58:70:ad', port: 'fvpib1' },
    ]);
  });
  it('parseFdb: a MAC learned on two ports is ambiguous and dropped', () => {
    const two = JSON.stringify([
      { mac: '02:00:00:00:00:01', ifname: 'fvpib0', vlan: 10, flags: [], master: 'fvpibr0', state: '' },
      { mac: '02:00:00:00:00:01', ifname: 'fvpib1', vlan: 20, flags: [], master: 'fvpibr0', state: '' },
      { mac: '02:00:00:00:00:02', ifname: 'fvpib1', vlan: 10, flags: [], master: 'fvpibr0', state: '' },
      { mac: '02:00:00:00:00:02', ifname: 'fvpib1', vlan: 20, flags: [], master: 'fvpibr0', state: '' },
    ]);
    expect(parseFdb(two, 'fvpibr0')).toEqual([{ mac: '02:00:00:00:00:02', port: 'fvpib1' }]);
  });
  it('bridgeFindings: IP → MAC → port', () => {
    expect(bridgeFindings(parseNeigh(NEIGH), parseFdb(FDB, 'fvpibr0'), parseBridgePorts(links).get('fvpibr0')!)).toEqual([
      { ifindex: 240, ifname: 'fvpib1', ips: ['198.18.251.11'], source: 'bridge' },
      { ifindex: 239, ifname: 'fvpib0', ips: ['198.18.251.10'], source: 'bridge' },
    ]);
  });
  it('bridgeFindings: a neighbour behind a non-pod port (the NIC) is not a pod', () => {
    const fdb = [{ mac: 'be:12:e9:bf:d7:4d', port: 'eno2' }];
    expect(bridgeFindings(parseNeigh(NEIGH), fdb, parseBridgePorts(links).get('fvpibr0')!)).toEqual([]);
  });
});

describe('netns method parsers', () => {
  it('parseNetnsAddrs: global addresses, dual stack, no lo, no link-local', () => {
    expect(parseNetnsAddrs(ADDR_N0)).toEqual([
      { ifindex: 2, ifname: 'eth0', peerIfindex: 241, peerNetnsid: 0, ips: ['198.18.252.10', 'fd00:f0e1:fc::10'] },
    ]);
    expect(parseNetnsAddrs(ADDR_B0)).toEqual([
      { ifindex: 2, ifname: 'eth0', peerIfindex: 239, peerNetnsid: 0, ips: ['198.18.251.10'] },
    ]);
  });
  it('matchNetnsPeers: the host end must point back (ifindex and, when known, netnsid)', () => {
    const ifaces = parseNetnsAddrs(ADDR_N0);
    expect(matchNetnsPeers('fvpi-n0', ifaces, links, 3)).toEqual([
      { ifindex: 241, ifname: 'fvpin0', ips: ['198.18.252.10', 'fd00:f0e1:fc::10'], source: 'netns', netns: 'fvpi-n0' },
    ]);
    expect(matchNetnsPeers('fvpi-n0', ifaces, links)).toHaveLength(1); // id unknown (a bare mount): ifindex check only
    expect(matchNetnsPeers('fvpi-n0', ifaces, links, 7)).toEqual([]); // fvpin0's peer is in another netns
    // an interface whose peer index names a host veth that points elsewhere
    const stray = [{ ifindex: 5, ifname: 'eth1', peerIfindex: 241, peerNetnsid: 0, ips: ['10.9.9.9'] }];
    expect(matchNetnsPeers('x', stray, links)).toEqual([]);
    // a peer index that is a host link but not a pair end (eth0)
    expect(matchNetnsPeers('x', [{ ifindex: 2, ifname: 'eth0', peerIfindex: 4, peerNetnsid: 0, ips: ['10.9.9.9'] }], links)).toEqual([]);
  });
  it('parseNetnsIds: names with their ids', () => {
    expect(parseNetnsIds(JSON.stringify([{ name: 'fvpi-n0', id: 3 }, { name: 'fvpi-r0', id: 0 }, { name: 'no-id' }]))).toEqual(
      new Map([['fvpi-n0', 3], ['fvpi-r0', 0]]));
    expect(parseNetnsIds('')).toEqual(new Map());
  });
});

describe('mergeFindings', () => {
  const f = (ifindex: number, ifname: string, ips: string[], source: Finding['source'], netns?: string): Finding =>
    ({ ifindex, ifname, ips, source, ...(netns ? { netns } : {}) });
  it('merges by ifindex: union of addresses, most exact source, every source, ordered by ifindex', () => {
    const r = mergeFindings([
      f(241, 'fvpin0', ['fd00:f0e1:fc::10', '198.18.252.10'], 'netns', 'fvpi-n0'),
      f(237, 'fvpir0', ['fd00:f0e1:fa::10'], 'route'),
      f(239, 'fvpib0', ['198.18.251.10'], 'bridge'),
      f(237, 'fvpir0', ['198.18.250.10'], 'route'),
      f(237, 'fvpir0', ['198.18.250.10', '198.18.250.11'], 'netns', 'fvpi-r0'),
      f(239, 'fvpib0', [], 'route'),
    ]);
    expect(r).toEqual({
      interfaces: [
        { ifindex: 237, ifname: 'fvpir0', ips: ['198.18.250.10', '198.18.250.11', 'fd00:f0e1:fa::10'], netns: 'fvpi-r0', source: 'netns', sources: ['route', 'netns'] },
        { ifindex: 239, ifname: 'fvpib0', ips: ['198.18.251.10'], source: 'route', sources: ['route', 'bridge'] },
        { ifindex: 241, ifname: 'fvpin0', ips: ['198.18.252.10', 'fd00:f0e1:fc::10'], netns: 'fvpi-n0', source: 'netns', sources: ['netns'] },
      ],
      warnings: [],
    });
  });
  it('include filters by host-side name', () => {
    const r = mergeFindings([f(237, 'fvpir0', ['10.0.0.1'], 'route'), f(5, 'cali123', ['10.0.0.2'], 'route')], (n) => n.startsWith('cali'));
    expect(r.interfaces.map((i) => i.ifname)).toEqual(['cali123']);
  });
  it('an address on two interfaces is kept on both and reported', () => {
    const r = mergeFindings([f(10, 'cali1', ['10.0.0.1'], 'route'), f(11, 'cali2', ['10.0.0.1'], 'netns', 'cni-x')]);
    expect(r.interfaces).toHaveLength(2);
    expect(r.warnings).toEqual([{ method: 'merge', message: '10.0.0.1 is claimed by several interfaces (cali1, cali2); attribution by this address is ambiguous' }]);
  });
});

describe('discoverPodInterfacesDetailed (fake commands)', () => {
  const outputs: Record<string, string> = {
    'ip -j -d link show': LINKS,
    'ip -j -4 route show table all': ROUTES_V4,
    'ip -j -6 route show table all': ROUTES_V6,
    'ip -j neigh show dev fvpibr0': NEIGH,
    'bridge -j fdb show br fvpibr0': FDB,
  };
  const fake = (fail: Record<string, string> = {}): CommandRunner & { calls: string[] } => {
    const calls: string[] = [];
    const run = async (argv: readonly string[]): Promise<string> => {
      const key = argv.join(' ');
      calls.push(key);
      if (fail[key]) throw new Error(fail[key]);
      const out = outputs[key];
      if (out === undefined) throw new Error(`unexpected command: ${key}`);
      return out;
    };
    return Object.assign(run, { calls });
  };

  it('combines route and bridge findings', async () => {
    const r = await discoverPodInterfacesDetailed({ netnsDirs: [], run: fake() });
    expect(r.warnings).toEqual([]);
    expect(r.interfaces).toEqual([
      { ifindex: 237, ifname: 'fvpir0', ips: ['198.18.250.10', 'fd00:f0e1:fa::10'], source: 'route', sources: ['route'] },
      { ifindex: 239, ifname: 'fvpib0', ips: ['198.18.251.10'], source: 'bridge', sources: ['bridge'] },
      { ifindex: 240, ifname: 'fvpib1', ips: ['198.18.251.11'], source: 'bridge', sources: ['bridge'] },
    ]);
  });

  it('a failing method is a warning; the others still report', async () => {
    const run = fake({ 'bridge -j fdb show br fvpibr0': 'bridge not found: apt-get install iproute2', 'ip -j -6 route show table all': 'timed out' });
    const r = await discoverPodInterfacesDetailed({ netnsDirs: [], run });
    expect(r.interfaces).toEqual([]); // route needs both dumps; bridge lost its FDB
    expect(r.warnings).toEqual([
      { method: 'route', message: 'timed out' },
      { method: 'bridge', message: 'bridge fvpibr0: bridge not found: apt-get install iproute2' },
    ]);
    const onlyBridge = await discoverPodInterfacesDetailed({ netnsDirs: [], run: fake({ 'ip -j -4 route show table all': 'boom' }) });
    expect(onlyBridge.interfaces.map((i) => i.ifname)).toEqual(['fvpib0', 'fvpib1']);
  });

  it('without the link listing nothing can be found: that one throws', async () => {
    await expect(discoverPodInterfacesDetailed({ netnsDirs: [], run: fake({ 'ip -j -d link show': 'ip not found: apt-get install iproute2' }) }))
      .rejects.toThrow('ip not found: apt-get install iproute2');
  });

  it('netns dirs: a missing dir is silent, a plain file is a warning (not a netns mount)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fvpi-netns-'));
    writeFileSync(join(dir, 'stale'), '');
    const run = fake();
    const r = await discoverPodInterfacesDetailed({ netnsDirs: [join(dir, 'missing'), dir], run });
    expect(r.warnings).toEqual([{ method: 'netns', message: `${join(dir, 'stale')}: not a network namespace mount (stale?)` }]);
    expect(run.calls.some((c) => c.startsWith('nsenter') || c.includes('netns'))).toBe(false);
  });
});

describe('execCommand', () => {
  it('a missing tool names its package', async () => {
    await expect(execCommand(['fvpi-no-such-tool'], 1_000)).rejects.toThrow('fvpi-no-such-tool not found: apt-get install fvpi-no-such-tool');
  });
  it('a failure carries exit code and stderr; a hang is killed at the timeout', async () => {
    await expect(execCommand(['sh', '-c', 'echo oops >&2; exit 3'], 5_000)).rejects.toThrow('sh -c echo oops >&2; exit 3 failed (exit 3): oops');
    await expect(execCommand(['sleep', '5'], 100)).rejects.toThrow('sleep 5: timed out after 100 ms');
    await expect(execCommand(['echo', '[]'], 1_000)).resolves.toBe('[]\n');
  });
});
