/**
 * Hubble's Peer service (src/hubble/peer.ts) over a fake NodeSource: what Relay is told about the
 * nodes, following Cilium's pkg/hubble/peer (handler.go: nodeAddress with IPv4 preferred,
 * TLSServerName, Fullname with the cluster prefix outside the default cluster).
 */
import { describe, expect, it } from 'vitest';
import { CHANGE, PeerService, nodeAddress, selfNodeSource, tlsServerName, type ChangeNotification } from '../../src/hubble/peer.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import type { NodeChange, NodeInfo, NodeSource } from '../../src/k8s/types.js';

const t = hubbleTypes();

function node(name: string, internalIPs: string[] = [], externalIPs: string[] = [], labels: Record<string, string> = {}): NodeInfo {
  return { name, uid: `uid-${name}`, labels, internalIPs, externalIPs };
}

/** A NodeSource whose changes the test sends. */
class FakeNodes implements NodeSource {
  private readonly listeners = new Set<(c: NodeChange) => void>();
  unsubscribed = 0;

  constructor(public list: NodeInfo[]) {}

  nodes(): readonly NodeInfo[] {
    return this.list;
  }

  watchNodes(listener: (change: NodeChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.unsubscribed++;
      this.listeners.delete(listener);
    };
  }

  emit(change: NodeChange): void {
    for (const l of this.listeners) l(change);
  }

  get watchers(): number {
    return this.listeners.size;
  }
}

function subscribe(opts: { nodes: NodeInfo[]; cluster?: string; tls?: boolean; port?: number }) {
  const nodes = new FakeNodes(opts.nodes);
  const svc = new PeerService({ nodes, cluster: opts.cluster ?? 'default', port: opts.port ?? 4244, tls: opts.tls ?? false });
  const sent: ChangeNotification[] = [];
  const stop = svc.notify((n) => {
    // every notification is a valid peer.ChangeNotification
    expect(t.ChangeNotification.verify(n)).toBeNull();
    sent.push(n);
  });
  return { nodes, sent, stop };
}

const ADDED = 1, DELETED = 2, UPDATED = 3;

describe('tlsServerName', () => {
  it("<node>.<cluster>.hubble-grpc.cilium.io with dots turned into dashes (Cilium's TLSServerName)", () => {
    expect(tlsServerName('moseisley', 'tatooine')).toBe('moseisley.tatooine.hubble-grpc.cilium.io');
    expect(tlsServerName('ip-10-0-0-1.ec2.internal', 'eu.prod')).toBe('ip-10-0-0-1-ec2-internal.eu-prod.hubble-grpc.cilium.io');
    expect(tlsServerName('node-a', '')).toBe('node-a.default.hubble-grpc.cilium.io');
    expect(tlsServerName('node-a', 'default')).toBe('node-a.default.hubble-grpc.cilium.io');
  });
});

describe('nodeAddress', () => {
  it('IPv4 first (internal, then external), else IPv6 in brackets; none → empty', () => {
    expect(nodeAddress(node('n', ['10.0.0.1']), 4244)).toBe('10.0.0.1:4244');
    expect(nodeAddress(node('n', ['fd00::1', '10.0.0.3']), 4244)).toBe('10.0.0.3:4244');
    expect(nodeAddress(node('n', ['10.0.0.1', '10.0.0.2'], ['1.2.3.4']), 80)).toBe('10.0.0.1:80');
    expect(nodeAddress(node('n', ['fd00::1'], ['203.0.113.9']), 4244)).toBe('203.0.113.9:4244');
    expect(nodeAddress(node('n', ['fd00::1', 'fd00::2']), 4244)).toBe('[fd00::1]:4244');
    expect(nodeAddress(node('n', [], ['2001:db8::7']), 4244)).toBe('[2001:db8::7]:4244');
    expect(nodeAddress(node('n'), 4244)).toBe('');
  });
});

describe('PeerService.notify', () => {
  it('PEER_ADDED for every node with an address, none for the others', () => {
    const { sent } = subscribe({ nodes: [node('a', ['10.0.0.1']), node('b', ['fd00::2']), node('c')] });
    expect(sent).toEqual([
      { name: 'a', address: '10.0.0.1:4244', type: ADDED },
      { name: 'b', address: '[fd00::2]:4244', type: ADDED },
    ]);
    expect(CHANGE).toEqual({ added: ADDED, deleted: DELETED, updated: UPDATED });
  });

  it('a node without an address is added once it gets one', () => {
    const { nodes, sent } = subscribe({ nodes: [node('c')] });
    nodes.emit({ type: 'updated', node: node('c', [], [], { x: '1' }) });
    expect(sent).toEqual([]);
    nodes.emit({ type: 'updated', node: node('c', ['10.0.0.3']) });
    nodes.emit({ type: 'added', node: node('d') });
    expect(sent).toEqual([{ name: 'c', address: '10.0.0.3:4244', type: ADDED }]);
  });

  it('PEER_UPDATED only when the address changes', () => {
    const { nodes, sent } = subscribe({ nodes: [node('a', ['10.0.0.1'])] });
    sent.length = 0;
    nodes.emit({ type: 'updated', node: node('a', ['10.0.0.1'], [], { role: 'worker' }) });
    nodes.emit({ type: 'updated', node: node('a', ['fd00::1', '10.0.0.1'], ['1.1.1.1']) });
    // a relist's "added" for a known node is an update too
    nodes.emit({ type: 'added', node: node('a', ['10.0.0.1']) });
    expect(sent).toEqual([]);
    nodes.emit({ type: 'updated', node: node('a', ['10.0.0.9']) });
    nodes.emit({ type: 'added', node: node('a', ['10.0.0.8']) });
    expect(sent).toEqual([
      { name: 'a', address: '10.0.0.9:4244', type: UPDATED },
      { name: 'a', address: '10.0.0.8:4244', type: UPDATED },
    ]);
  });

  it('PEER_DELETED carries the last announced address', () => {
    const { nodes, sent } = subscribe({ nodes: [node('a', ['10.0.0.1'])] });
    nodes.emit({ type: 'updated', node: node('a', ['10.0.0.2']) });
    nodes.emit({ type: 'deleted', node: node('a') });
    expect(sent.slice(1)).toEqual([
      { name: 'a', address: '10.0.0.2:4244', type: UPDATED },
      { name: 'a', address: '10.0.0.2:4244', type: DELETED },
    ]);
    // deleted again, or a node never announced: nothing
    nodes.emit({ type: 'deleted', node: node('a', ['10.0.0.2']) });
    nodes.emit({ type: 'deleted', node: node('z', ['10.0.0.26']) });
    expect(sent).toHaveLength(3);
    // and it can come back
    nodes.emit({ type: 'added', node: node('a', ['10.0.0.3']) });
    expect(sent[3]).toEqual({ name: 'a', address: '10.0.0.3:4244', type: ADDED });
  });

  it('a node that loses its address is deleted (with the address it had), and added when it has one again', () => {
    const { nodes, sent } = subscribe({ nodes: [node('a', ['10.0.0.1'])] });
    nodes.emit({ type: 'updated', node: node('a') });
    nodes.emit({ type: 'updated', node: node('a', ['10.0.0.5']) });
    expect(sent).toEqual([
      { name: 'a', address: '10.0.0.1:4244', type: ADDED },
      { name: 'a', address: '10.0.0.1:4244', type: DELETED },
      { name: 'a', address: '10.0.0.5:4244', type: ADDED },
    ]);
  });

  it('names carry the cluster outside the default cluster', () => {
    expect(subscribe({ nodes: [node('a', ['10.0.0.1'])], cluster: 'prod' }).sent[0]!.name).toBe('prod/a');
    expect(subscribe({ nodes: [node('a', ['10.0.0.1'])], cluster: 'default' }).sent[0]!.name).toBe('a');
    expect(subscribe({ nodes: [node('a', ['10.0.0.1'])], cluster: '' }).sent[0]!.name).toBe('a');
  });

  it('tls.server_name only when TLS is on, on every kind of notification', () => {
    const { nodes, sent } = subscribe({ nodes: [node('ip-10-0-0-1.ec2.internal', ['10.0.0.1'])], cluster: 'eu.prod', tls: true, port: 443 });
    nodes.emit({ type: 'updated', node: node('ip-10-0-0-1.ec2.internal', ['10.0.0.2']) });
    nodes.emit({ type: 'deleted', node: node('ip-10-0-0-1.ec2.internal') });
    const tls = { server_name: 'ip-10-0-0-1-ec2-internal.eu-prod.hubble-grpc.cilium.io' };
    expect(sent).toEqual([
      { name: 'eu.prod/ip-10-0-0-1.ec2.internal', address: '10.0.0.1:443', type: ADDED, tls },
      { name: 'eu.prod/ip-10-0-0-1.ec2.internal', address: '10.0.0.2:443', type: UPDATED, tls },
      { name: 'eu.prod/ip-10-0-0-1.ec2.internal', address: '10.0.0.2:443', type: DELETED, tls },
    ]);
    const plain = subscribe({ nodes: [node('a', ['10.0.0.1'])], tls: false }).sent[0]!;
    expect(plain).not.toHaveProperty('tls');
  });

  it('the port may be a function (the port bound when 0 was configured), read for each notification', () => {
    const nodes = new FakeNodes([node('a', ['10.0.0.1'])]);
    let bound = 40001;
    const sent: ChangeNotification[] = [];
    new PeerService({ nodes, cluster: 'default', port: () => bound, tls: false }).notify((n) => sent.push(n));
    bound = 40002;
    nodes.emit({ type: 'added', node: node('b', ['10.0.0.2']) });
    expect(sent.map((n) => n.address)).toEqual(['10.0.0.1:40001', '10.0.0.2:40002']);
  });

  it('the wire form decodes to the same notification', () => {
    const { sent } = subscribe({ nodes: [node('a', ['fd00::1'])], cluster: 'c1', tls: true });
    const decoded = t.ChangeNotification.toObject(t.ChangeNotification.decode(t.ChangeNotification.encode(sent[0]!).finish()), { enums: Number });
    expect(decoded).toEqual({ name: 'c1/a', address: '[fd00::1]:4244', type: ADDED, tls: { server_name: 'a.c1.hubble-grpc.cilium.io' } });
  });

  it('each subscriber keeps its own view; unsubscribing stops its notifications', () => {
    const nodes = new FakeNodes([node('a', ['10.0.0.1'])]);
    const svc = new PeerService({ nodes, cluster: 'default', port: 4244, tls: false });
    const one: ChangeNotification[] = [];
    const two: ChangeNotification[] = [];
    const stopOne = svc.notify((n) => one.push(n));
    nodes.list = [node('a', ['10.0.0.1']), node('b', ['10.0.0.2'])];
    nodes.emit({ type: 'added', node: node('b', ['10.0.0.2']) });
    const stopTwo = svc.notify((n) => two.push(n));
    expect(nodes.watchers).toBe(2);
    stopOne();
    expect(nodes.unsubscribed).toBe(1);
    nodes.emit({ type: 'deleted', node: node('a') });
    expect(one.map((n) => `${n.type}:${n.name}`)).toEqual(['1:a', '1:b']);
    expect(two.map((n) => `${n.type}:${n.name}`)).toEqual(['1:a', '1:b', '2:a']);
    stopTwo();
    nodes.emit({ type: 'deleted', node: node('b') });
    expect(two).toHaveLength(3);
    expect(nodes.watchers).toBe(0);
  });
});

describe('selfNodeSource', () => {
  it('this host as the only node, with no changes', () => {
    const src = selfNodeSource('host-1', ['fd00::9', '192.168.1.9']);
    expect(src.nodes()).toEqual([{ name: 'host-1', uid: '', labels: {}, internalIPs: ['fd00::9', '192.168.1.9'], externalIPs: [] }]);
    const unsubscribe = src.watchNodes(() => { throw new Error('no changes expected'); });
    expect(typeof unsubscribe).toBe('function');
    unsubscribe();
    const sent: ChangeNotification[] = [];
    const stop = new PeerService({ nodes: src, cluster: 'default', port: 4245, tls: true }).notify((n) => sent.push(n));
    expect(sent).toEqual([{ name: 'host-1', address: '192.168.1.9:4245', type: ADDED, tls: { server_name: 'host-1.default.hubble-grpc.cilium.io' } }]);
    stop();
  });

  it('without addresses: nothing to announce', () => {
    const sent: ChangeNotification[] = [];
    new PeerService({ nodes: selfNodeSource('h', []), cluster: 'default', port: 1, tls: false }).notify((n) => sent.push(n));
    expect(sent).toEqual([]);
  });
});
