/**
 * The Hubble server over real gRPC (loopback TCP and a Unix socket), driven by a client built from
 * the same .proto files with @grpc/proto-loader: health as `hubble status` asks it, ServerStatus,
 * GetFlows (history, follow, filters, refusals), GetNamespaces, GetNodes, Peer/Notify with node
 * changes, client limits, TLS, mTLS and certificate reload, the socket's mode and ownership, and
 * the fast write path staying in use with the pinned grpc-js.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkEvent } from '../../src/events/types.js';
import type { NodeChange, NodeInfo, NodeSource, PodInfo } from '../../src/k8s/types.js';
import { FlowBuilder } from '../../src/hubble/flows.js';
import { HubbleObserver } from '../../src/hubble/observer.js';
import { PeerService } from '../../src/hubble/peer.js';
import { HubbleServer, HubbleServerError } from '../../src/hubble/server.js';
import { collect, flowsOf, hubbleClient, open, unary, type HubbleClient, type Message } from '../helpers/hubble-client.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'fovea-hubble-'));

const pods = new Map<string, PodInfo>([
  ['u-web', { uid: 'u-web', name: 'web-1', namespace: 'shop', nodeName: 'n1', ips: ['10.0.0.1'], hostNetwork: false, workload: { kind: 'Deployment', name: 'web' }, phase: 'Running', labels: { app: 'web' }, serviceAccount: 'web' }],
  ['u-db', { uid: 'u-db', name: 'db-0', namespace: 'data', nodeName: 'n2', ips: ['10.0.1.5'], hostNetwork: false, workload: { kind: 'StatefulSet', name: 'db' }, phase: 'Running', labels: { app: 'db' } }],
]);
const end = (uid: string, ip: string, port: number, local: boolean): NetworkEvent['source'] => {
  const p = pods.get(uid)!;
  return { ip, port, kind: 'pod', namespace: p.namespace, pod: p.name, podUid: uid, workloadKind: p.workload.kind, workloadName: p.workload.name, node: p.nodeName, local };
};
let t = Date.parse('2026-12-02T08:00:00Z');
function drop(i: number, reason = 'NETFILTER_DROP'): NetworkEvent {
  return {
    name: 'fovea.network.packet.drop', timeMs: (t += 10), verdict: 'DROPPED', reason, reasonCode: 12,
    source: end('u-web', '10.0.0.1', 40_000 + i, true), destination: end('u-db', '10.0.1.5', 5432, false),
    ipVersion: 4, transport: 'tcp', protocol: 6, tcpFlags: 'SYN', length: 60, ifindex: 7, direction: 'egress', suppressed: 0, cpu: 0, node: 'n1',
  };
}
function forwarded(i: number): NetworkEvent {
  return {
    name: 'fovea.network.flow', timeMs: (t += 10), verdict: 'FORWARDED',
    source: end('u-web', '10.0.0.1', 41_000 + i, true), destination: { ip: '93.184.216.34', port: 443, kind: 'external' },
    ipVersion: 4, transport: 'udp', protocol: 17, ifindex: 7, interface: 'veth-web', direction: 'egress', node: 'n1',
    flow: { state: 'new', packets: 3, bytes: 300, totalPackets: 3, totalBytes: 300, firstSeenMs: t - 5, lastSeenMs: t },
  };
}

class FakeNodes implements NodeSource {
  list: NodeInfo[] = [];
  private listeners = new Set<(c: NodeChange) => void>();
  nodes(): readonly NodeInfo[] { return this.list; }
  watchNodes(l: (c: NodeChange) => void): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
  emit(c: NodeChange): void {
    if (c.type === 'deleted') this.list = this.list.filter((n) => n.name !== c.node.name);
    else this.list = [...this.list.filter((n) => n.name !== c.node.name), c.node];
    for (const l of this.listeners) l(c);
  }
}
const node = (name: string, ip: string): NodeInfo => ({ name, uid: name, labels: { 'kubernetes.io/hostname': name }, internalIPs: [ip], externalIPs: [] });

function makeServer(opts: Partial<Parameters<typeof HubbleServer.start>[0]> & { nodes?: NodeSource; bufferSize?: number } = {}) {
  const builder = new FlowBuilder({ cluster: 'default', node: 'n1', version: '0.1.0', podByUid: (u) => pods.get(u) });
  const observer = new HubbleObserver({ builder, logger, version: 'fovea 0.1.0', cluster: 'default', bufferSize: opts.bufferSize ?? 100 });
  const peer = opts.nodes ? new PeerService({ nodes: opts.nodes, cluster: 'default', port: 4244, tls: Boolean(opts.tls) }) : undefined;
  return HubbleServer.start({ observer, ...(peer ? { peer } : {}), logger, address: '127.0.0.1:0', insecure: true, ...opts }).then((server) => ({ server, observer }));
}

describe('Hubble API over gRPC (plaintext TCP and Unix socket)', () => {
  const nodes = new FakeNodes();
  nodes.list = [node('n1', '192.168.1.1'), node('n2', '192.168.1.2')];
  const socket = join(dir, 'hubble.sock');
  let server: HubbleServer;
  let observer: HubbleObserver;
  let c: HubbleClient;

  beforeAll(async () => {
    ({ server, observer } = await makeServer({ nodes, socket, maxClients: 3 }));
    c = hubbleClient(`127.0.0.1:${server.port}`);
    observer.publish([drop(1), drop(2, 'NO_SOCKET'), forwarded(3), drop(4)]);
  });
  afterAll(async () => {
    c?.close();
    await server?.stop();
  });

  it('health: SERVING for "" and hubble.server.Observer (what `hubble status` checks), NOT_FOUND for others', async () => {
    expect(await unary(c.health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    expect(await unary(c.health, 'Check', { service: 'hubble.server.Observer' })).toEqual({ status: 'SERVING' });
    await expect(unary(c.health, 'Check', { service: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('ServerStatus: buffer size and fill, flows seen, version, uptime', async () => {
    const s = await unary(c.observer, 'ServerStatus');
    expect(s).toMatchObject({ num_flows: '4', max_flows: '100', seen_flows: '4', version: 'fovea 0.1.0' });
    expect(Number(s['uptime_ns'])).toBeGreaterThan(0);
  });

  it('GetFlows without follow: the last `number` flows, in order, then the stream ends', async () => {
    const flows = flowsOf(await collect(c.observer, 'GetFlows', { number: 3 }));
    expect(flows.map((f) => f['l4']?.['TCP']?.['source_port'] ?? f['l4']?.['UDP']?.['source_port'])).toEqual([40_002, 41_003, 40_004]);
    const all = flowsOf(await collect(c.observer, 'GetFlows', { number: 0 }));
    expect(all).toHaveLength(4);
  });

  it('a dropped flow carries Cilium\'s reason by name, the kernel\'s in Summary, identities, labels and workloads', async () => {
    const [msg] = (await collect(c.observer, 'GetFlows', { number: 1, whitelist: [{ source_port: ['40001'] }] }));
    const f = msg!['flow'] as Message;
    expect(msg!['node_name']).toBe('n1');
    expect(f).toMatchObject({
      verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', drop_reason: 133, event_type: { type: 1, sub_type: 133 },
      // is_reply present (a BoolValue whose false value, proto3's default, is not on the wire), so a request
      traffic_direction: 'EGRESS', is_reply: {}, Type: 'L3_L4', node_name: 'n1',
      IP: { source: '10.0.0.1', destination: '10.0.1.5', ipVersion: 'IPv4' },
      l4: { TCP: { source_port: 40_001, destination_port: 5432, flags: { SYN: true } } },
      source: { namespace: 'shop', pod_name: 'web-1', workloads: [{ name: 'web', kind: 'Deployment' }], cluster_name: 'default' },
      destination: { namespace: 'data', pod_name: 'db-0', workloads: [{ name: 'db', kind: 'StatefulSet' }] },
      emitter: { name: 'Fovea', version: '0.1.0' },
    });
    expect(f['source']['labels']).toEqual([
      'k8s:app=web', 'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.cilium.k8s.policy.serviceaccount=web', 'k8s:io.kubernetes.pod.namespace=shop',
    ]);
    expect(f['source']['identity']).toBeGreaterThanOrEqual(256);
    expect(f['Summary']).toMatch(/^NETFILTER_DROP \(kernel drop reason\); TCP Flags: SYN/);
    expect(f['extensions']['type_url']).toBe('type.googleapis.com/google.protobuf.Struct');
  });

  it('the server evaluates filters: whitelist OR, blacklist excludes; bad filters and unsupported CEL are INVALID_ARGUMENT', async () => {
    const drops = flowsOf(await collect(c.observer, 'GetFlows', { whitelist: [{ verdict: ['DROPPED'] }] }));
    expect(drops).toHaveLength(3);
    const notNoSocket = flowsOf(await collect(c.observer, 'GetFlows', {
      whitelist: [{ verdict: ['DROPPED'] }], blacklist: [{ drop_reason_desc: ['SOCKET_LOOKUP_FAILED'] }],
    }));
    expect(notNoSocket.map((f) => f['drop_reason_desc'])).toEqual(['POLICY_DENIED', 'POLICY_DENIED']);
    await expect(collect(c.observer, 'GetFlows', { whitelist: [{ source_port: ['nope'] }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(collect(c.observer, 'GetFlows', { blacklist: [{ experimental: { cel_expression: ['true'] } }] }))
      .rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/cel_expression/) });
    await expect(collect(c.observer, 'GetFlows', { first: true, follow: true })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('follow: new flows arrive as they are published; cancel ends the call', async () => {
    const s = open(c.observer, 'GetFlows', { follow: true, whitelist: [{ source_port: ['40100'] }] });
    await new Promise((r) => setTimeout(r, 100));
    observer.publish([drop(99), drop(100)]);
    await s.waitFor((m) => flowsOf(m).length === 1);
    expect(flowsOf(s.messages)[0]!['l4']['TCP']['source_port']).toBe(40_100);
    s.cancel();
    await s.waitFor(() => s.error !== undefined || s.ended);
  });

  it('GetNamespaces lists namespaces seen in flows; GetNodes is UNIMPLEMENTED on a node, as on a Cilium node', async () => {
    expect(await unary(c.observer, 'GetNamespaces')).toEqual({ namespaces: [{ cluster: 'default', namespace: 'data' }, { cluster: 'default', namespace: 'shop' }] });
    await expect(unary(c.observer, 'GetNodes')).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    expect(await collect(c.observer, 'GetAgentEvents', {})).toEqual([]);
  });

  it('Peer/Notify: every node now, then changes; stays open', async () => {
    const s = open(c.peer, 'Notify', {});
    await s.waitFor((m) => m.length === 2);
    expect(s.messages).toEqual([
      { name: 'n1', address: '192.168.1.1:4244', type: 'PEER_ADDED' },
      { name: 'n2', address: '192.168.1.2:4244', type: 'PEER_ADDED' },
    ]);
    nodes.emit({ type: 'added', node: node('n3', '192.168.1.3') });
    nodes.emit({ type: 'updated', node: node('n2', '192.168.1.22'), previous: node('n2', '192.168.1.2') });
    nodes.emit({ type: 'deleted', node: node('n1', '192.168.1.1') });
    await s.waitFor((m) => m.length === 5);
    expect(s.messages.slice(2)).toEqual([
      { name: 'n3', address: '192.168.1.3:4244', type: 'PEER_ADDED' },
      { name: 'n2', address: '192.168.1.22:4244', type: 'PEER_UPDATED' },
      { name: 'n1', address: '192.168.1.1:4244', type: 'PEER_DELETED' },
    ]);
    expect(s.ended).toBe(false);
    s.cancel();
  });

  it('the Unix socket serves the same API, mode 0600', async () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const u = hubbleClient(`unix:${socket}`);
    try {
      expect(flowsOf(await collect(u.observer, 'GetFlows', { number: 2 }))).toHaveLength(2);
    } finally {
      u.close();
    }
  });

  it('GetFlows writes straight to HTTP/2 with the pinned grpc-js (the fast path), never message by message', () => {
    const w = server.writePathStats();
    expect(w.fast).toBeGreaterThan(0);
    expect(w.fallback).toBe(0);
  });

  it('more concurrent GetFlows calls than maxClients are refused with RESOURCE_EXHAUSTED', async () => {
    const held = [0, 1, 2].map(() => open(c.observer, 'GetFlows', { follow: true }));
    await new Promise((r) => setTimeout(r, 200));
    await expect(collect(c.observer, 'GetFlows', { follow: true }, 2_000)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    for (const h of held) h.cancel();
  });
});

describe('Hubble server start-up refusals and the socket', () => {
  it('TCP without TLS is refused unless plaintext is asked for', async () => {
    await expect(makeServer({ insecure: false })).rejects.toThrow(/without TLS: give hubble.tls.certFile/);
  });

  it('a live socket of another process is not taken over; a stale one is replaced; stop removes only its own', async () => {
    const path = join(dir, 'live.sock');
    const other = createServer().listen(path);
    await new Promise((r) => other.once('listening', r));
    await expect(makeServer({ address: '', socket: path })).rejects.toThrow(HubbleServerError);
    await new Promise((r) => other.close(r));
    writeFileSync(join(dir, 'x'), '');
    // a stale socket file: bound once, its listener gone
    const stale = createServer().listen(path);
    await new Promise((r) => stale.once('listening', r));
    await new Promise((r) => { (stale as unknown as { _handle: { close(): void } })._handle.close(); r(undefined); });
    const { server } = await makeServer({ address: '', socket: path });
    expect(statSync(path).isSocket()).toBe(true);
    await server.stop();
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });
});

// ---------------------------------------------------------------------------------------------

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, a server certificate for `names`, and a client certificate, in `d`. */
function makePki(d: string, names: string[]): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'ca.key'), '-out', join(d, 'ca.crt'), '-days', '2', '-subj', '/CN=fovea-test-ca']);
  const leaf = (name: string, cn: string, ext: string): void => {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, `${name}.key`), '-out', join(d, `${name}.csr`), '-subj', `/CN=${cn}`]);
    writeFileSync(join(d, `${name}.ext`), ext);
    openssl(['x509', '-req', '-in', join(d, `${name}.csr`), '-CA', join(d, 'ca.crt'), '-CAkey', join(d, 'ca.key'), '-CAcreateserial', '-out', join(d, `${name}.crt`), '-days', '2', '-extfile', join(d, `${name}.ext`)]);
  };
  leaf('server', names[0]!, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  leaf('server2', names[0]!, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  leaf('client', 'hubble-relay', 'extendedKeyUsage=clientAuth\n');
}

/** The certificate the server presents to a new TLS connection. */
function presented(port: number, ca: Buffer, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: name, ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      resolve(s.getPeerX509Certificate()!.fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('Hubble server TLS and mTLS', () => {
  const pki = mkdtempSync(join(tmpdir(), 'fovea-hubble-pki-'));
  const serverName = 'n1.default.hubble-grpc.cilium.io';
  const live = { cert: join(pki, 'live.crt'), key: join(pki, 'live.key') };
  let server: HubbleServer | undefined;

  beforeAll(() => {
    makePki(pki, ['*.default.hubble-grpc.cilium.io']);
    copyFileSync(join(pki, 'server.crt'), live.cert);
    copyFileSync(join(pki, 'server.key'), live.key);
  });
  afterEach(async () => { await server?.stop(); server = undefined; });
  afterAll(() => rmSync(pki, { recursive: true, force: true }));

  const read = (f: string): Buffer => execFileSync('cat', [join(pki, f)]);
  const creds = (client = false): grpc.ChannelCredentials => grpc.credentials.createSsl(
    read('ca.crt'), client ? read('client.key') : null, client ? read('client.crt') : null);
  const opts = { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName };

  it('TLS: a client trusting the CA gets flows; a plaintext client does not', async () => {
    ({ server } = await makeServer({ insecure: false, tls: { certFile: live.cert, keyFile: live.key, reloadIntervalMs: 0 } }));
    const ok = hubbleClient(`127.0.0.1:${server.port}`, creds(), opts);
    expect(await unary(ok.health, 'Check', { service: 'hubble.server.Observer' })).toEqual({ status: 'SERVING' });
    ok.close();
    const plain = hubbleClient(`127.0.0.1:${server.port}`);
    await expect(unary(plain.health, 'Check', {}, 2_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    plain.close();
  });

  it('mTLS: a client without a certificate signed by the client CA is refused; with one it is served', async () => {
    ({ server } = await makeServer({ insecure: false, tls: { certFile: live.cert, keyFile: live.key, clientCaFile: join(pki, 'ca.crt'), reloadIntervalMs: 0 } }));
    const anon = hubbleClient(`127.0.0.1:${server.port}`, creds(false), opts);
    await expect(unary(anon.health, 'Check', {}, 3_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    anon.close();
    const relay = hubbleClient(`127.0.0.1:${server.port}`, creds(true), opts);
    expect(await unary(relay.observer, 'ServerStatus')).toMatchObject({ max_flows: '100' });
    relay.close();
  });

  it('certificate reload: new files apply to new connections; broken files keep the old certificate', async () => {
    ({ server } = await makeServer({ insecure: false, tls: { certFile: live.cert, keyFile: live.key, reloadIntervalMs: 100 } }));
    const port = server.port!;
    const ca = read('ca.crt');
    const first = new X509Certificate(read('server.crt')).fingerprint256;
    const second = new X509Certificate(read('server2.crt')).fingerprint256;
    expect(await presented(port, ca, serverName)).toBe(first);
    writeFileSync(live.key, 'not a key');
    await new Promise((r) => setTimeout(r, 400));
    expect(await presented(port, ca, serverName)).toBe(first);
    expect(server.tlsStats()!.failures).toBeGreaterThan(0);
    copyFileSync(join(pki, 'server2.crt'), live.cert);
    copyFileSync(join(pki, 'server2.key'), live.key);
    const deadline = Date.now() + 5_000;
    while (server.tlsStats()!.reloads === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await presented(port, ca, serverName)).toBe(second);
  });

  it('start-up: a key that does not fit the certificate is a clear error', async () => {
    await expect(makeServer({ insecure: false, tls: { certFile: join(pki, 'server.crt'), keyFile: join(pki, 'client.key'), reloadIntervalMs: 0 } }))
      .rejects.toThrow(/does not fit the certificate/);
  });
});
