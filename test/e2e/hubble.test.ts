/**
 * The Hubble API of the real agent on the real kernel, through a gRPC client built from the same
 * .proto files: the agent runs in cluster mode against a fake API server (pods of three
 * namespaces on lab network namespaces, Nodes), with Hubble on a Unix socket and loopback TCP.
 *
 * Truths: the nft deny rule's counter (DROPPED flows: exactly one per drop below the rate limit,
 * and events + suppressed = the counter above it), the host-side veth's own counters (`ip -s link`)
 * and the sink's received datagrams (FORWARDED flows' packets and bytes), the fake API server's
 * Node objects (Peer/Notify). Filters are sent as `hubble observe` builds them (its
 * --print-raw-filters output, checked by hand with the real CLI v1.19.4).
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { linkStats } from '../../src/lab/kernel-truth.js';
import { run } from '../../src/lab/run.js';
import { sendUdp, startUdpSink } from '../../src/lab/traffic.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import { toProtoJson } from '../../src/hubble/protojson.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { FakeApiServer } from '../helpers/fake-apiserver.js';
import { collect, flowsOf, hubbleClient, open, unary, type HubbleClient, type Message } from '../helpers/hubble-client.js';
import { describeRoot } from '../helpers/root.js';

const NODE = 'node-a';
const SINK_PORT = 5002;
const RATE = 1000;

function podObject(name: string, ns: string, ips: readonly string[], owner: { kind: string; name: string }, labels: Record<string, string>, sa?: string) {
  return {
    metadata: {
      name, namespace: ns, uid: `uid-${name}`, labels, creationTimestamp: '2026-12-01T00:00:00Z',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: `uid-${owner.name}`, controller: true }],
    },
    spec: { nodeName: NODE, hostNetwork: false, ...(sa ? { serviceAccountName: sa } : {}) },
    status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })), hostIP: '192.0.2.10', hostIPs: [{ ip: '192.0.2.10' }] },
  };
}
const nodeObject = (name: string, ip: string) => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': 'z1' } },
  status: { addresses: [{ type: 'Hostname', address: name }, { type: 'InternalIP', address: ip }] },
});

/** A GetFlows client whose responses stay raw bytes (to print them as `hubble observe -o json` would). */
function rawFlows(target: string, request: Message): Promise<Buffer[]> {
  const t = hubbleTypes();
  const Client = grpc.makeGenericClientConstructor({
    GetFlows: {
      path: '/observer.Observer/GetFlows', requestStream: false, responseStream: true,
      requestSerialize: (m: Message) => Buffer.from(t.GetFlowsRequest.encode(t.GetFlowsRequest.fromObject(m)).finish()),
      requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
    },
  }, 'Observer');
  const c = new Client(target, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const call = (c as unknown as { GetFlows(r: Message): grpc.ClientReadableStream<Buffer> }).GetFlows(request);
    call.on('data', (b: Buffer) => out.push(b));
    call.on('error', (e) => { c.close(); reject(e); });
    call.on('end', () => { c.close(); resolve(out); });
  });
}

/** `count` UDP datagrams from a pod to `ip:port` from one source port, the sender pinned to `cpu`. */
async function pinnedUdp(cpu: number, ip: string, port: number, count: number, sport: number): Promise<void> {
  const script = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('',${sport}))\nfor i in range(${count}): s.sendto(b'fovea',('${ip}',${port}))`;
  await run(['ip', 'netns', 'exec', labRef!.pod(0).netns, 'taskset', '-c', String(cpu), 'python3', '-c', script]);
}
let labRef: Lab | undefined;

describeRoot('the Hubble API of the real agent (cluster mode, fake API server)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let api: FakeApiServer;
  let agent: AgentProcess;
  let c: HubbleClient;
  const dir = mkdtempSync(join(tmpdir(), 'fovea-hubble-e2e-'));
  const socket = join(dir, 'hubble.sock');
  let tcpPort = 0;

  beforeAll(async () => {
    lab = labRef = await Lab.create({ name: 'hbl', pods: 3, ipv6: true });
    api = await FakeApiServer.start();
    api.put('pods', podObject('web-6c9f7d-abcde', 'shop', [lab.pod(0).ip, lab.pod(0).ipv6!], { kind: 'StatefulSet', name: 'web' }, { app: 'web', tier: 'front', 'controller-revision-hash': 'x1' }, 'web-sa'));
    api.put('pods', podObject('db-0', 'data', [lab.pod(1).ip, lab.pod(1).ipv6!], { kind: 'StatefulSet', name: 'db' }, { app: 'db' }));
    api.put('pods', podObject('probe-0', 'tools', [lab.pod(2).ip, lab.pod(2).ipv6!], { kind: 'StatefulSet', name: 'probe' }, { app: 'probe' }));
    api.put('nodes', nodeObject(NODE, '192.0.2.10'));
    api.put('nodes', nodeObject('node-b', '192.0.2.11'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
    const config = join(dir, 'fovea.yaml');
    writeFileSync(config, 'events:\n  flows:\n    intervalMs: 1000\n');
    agent = AgentProcess.start([
      '--config', config, '--interfaces', 'fvhbl-*', '--kubernetes', 'cluster', '--kubeconfig', kubeconfig, '--node-name', NODE,
      '--rescan-interval', '200ms', '--drop-event-rate', String(RATE), '--no-event-export', '--endpoint', 'http://127.0.0.1:1',
      '--hubble', '--hubble-socket', socket, '--hubble-address', '127.0.0.1:0', '--hubble-insecure',
    ]);
    await agent.waitStarted();
    const listening = await agent.waitForLog((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('Hubble API served without TLS'));
    tcpPort = listening['port'] as number;
    c = hubbleClient(`unix:${socket}`);
    await new Promise((r) => setTimeout(r, 800)); // pod interfaces found, flow records on for the three veths
  });
  afterAll(async () => {
    c?.close();
    await agent?.stop();
    await api?.close();
    await lab?.destroy();
  });

  const fromWeb = { source_pod: ['shop/web-6c9f7d-abcde'] };

  it('`hubble status`: health SERVING for hubble.server.Observer, then ServerStatus (also over TCP)', async () => {
    expect(await unary(c.health, 'Check', { service: 'hubble.server.Observer' })).toEqual({ status: 'SERVING' });
    const tcp = hubbleClient(`127.0.0.1:${tcpPort}`);
    try {
      const s = await unary(tcp.observer, 'ServerStatus');
      expect(s).toMatchObject({ max_flows: '4095', version: expect.stringMatching(/^fovea /) });
    } finally {
      tcp.close();
    }
  });

  it('N drops to the nft-denied port: exactly N DROPPED flows, Cilium\'s reason by name, the kernel\'s in Summary and extensions, both ends\' identity', async () => {
    const N = 200;
    const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
    await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, N, { sport: 42_000 });
    const nft = (await lab.denyCounters())['deny-udp']!.packets - nft0;
    expect(nft).toBe(N);
    const request = { number: 0, whitelist: [{ ...fromWeb, destination_port: [String(DENY_PORT)], verdict: ['DROPPED'] }] };
    let flows: Message[] = [];
    const deadline = Date.now() + 10_000;
    while (flows.length < N && Date.now() < deadline) {
      flows = flowsOf(await collect(c.observer, 'GetFlows', request));
      if (flows.length < N) await new Promise((r) => setTimeout(r, 200));
    }
    expect(flows).toHaveLength(N);
    const f = flows[0]!;
    expect(f).toMatchObject({
      verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', drop_reason: 133, event_type: { type: 1, sub_type: 133 },
      traffic_direction: 'EGRESS', node_name: NODE, Type: 'L3_L4',
      IP: { source: lab.pod(0).ip, destination: lab.pod(1).ip, ipVersion: 'IPv4' },
      l4: { UDP: { source_port: 42_000, destination_port: DENY_PORT } },
      source: { namespace: 'shop', pod_name: 'web-6c9f7d-abcde', workloads: [{ kind: 'StatefulSet', name: 'web' }], cluster_name: 'default' },
      destination: { namespace: 'data', pod_name: 'db-0', workloads: [{ kind: 'StatefulSet', name: 'db' }] },
    });
    // identity labels: the per-pod controller-revision-hash is not one
    expect(f['source']['labels']).toEqual([
      'k8s:app=web', 'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.cilium.k8s.policy.serviceaccount=web-sa',
      'k8s:io.kubernetes.pod.namespace=shop', 'k8s:tier=front',
    ]);
    expect(f['source']['identity']).not.toBe(f['destination']['identity']);
    expect(new Set(flows.map((x) => x['source']['identity'])).size).toBe(1);
    expect(f['node_labels']).toEqual(['kubernetes.io/hostname=node-a', 'topology.kubernetes.io/zone=z1']);
    expect(f['Summary']).toMatch(/^NETFILTER_DROP \(kernel drop reason\)/);
    const ext = hubbleTypes().Struct.toObject(hubbleTypes().Struct.decode(f['extensions']['value'] as Buffer)) as Message;
    expect(ext['fields']['fovea']['structValue']['fields']).toMatchObject({
      kernel_drop_reason: { stringValue: 'NETFILTER_DROP' }, suppressed: { numberValue: 0 },
    });
  });

  it('IPv6: drops to the denied port are DROPPED flows with the IPv6 addresses and both pods\' identities', async () => {
    const N = 20;
    await sendUdp(lab, 0, lab.pod(1).ipv6!, DENY_PORT, N, { sport: 42_006 });
    let flows: Message[] = [];
    const deadline = Date.now() + 10_000;
    while (flows.length < N && Date.now() < deadline) {
      flows = flowsOf(await collect(c.observer, 'GetFlows', { number: 0, whitelist: [{ source_port: ['42006'], verdict: ['DROPPED'], ip_version: ['IPv6'] }] }));
      if (flows.length < N) await new Promise((r) => setTimeout(r, 200));
    }
    expect(flows).toHaveLength(N);
    expect(flows[0]).toMatchObject({
      IP: { source: lab.pod(0).ipv6, destination: lab.pod(1).ipv6, ipVersion: 'IPv6' },
      drop_reason_desc: 'POLICY_DENIED', source: { pod_name: 'web-6c9f7d-abcde' }, destination: { pod_name: 'db-0' },
    });
  });

  it('`hubble observe -o json`: the flow prints as protojson with the Struct extension (a type every client resolves)', async () => {
    const [raw] = await rawFlows(`unix:${socket}`, { number: 1, whitelist: [{ ...fromWeb, verdict: ['DROPPED'] }] });
    const t = hubbleTypes();
    const json = JSON.parse(toProtoJson(t.GetFlowsResponse, t.GetFlowsResponse.decode(raw!))) as Message;
    expect(json['node_name']).toBe(NODE);
    expect(json['flow']).toMatchObject({
      verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED', is_reply: false, traffic_direction: 'EGRESS',
      extensions: { '@type': 'type.googleapis.com/google.protobuf.Struct', value: { fovea: { kernel_drop_reason: 'NETFILTER_DROP' } } },
    });
    expect(json['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it('above the rate limit: flows + the drops they say were suppressed = the nft counter; ServerStatus counts every drop as seen', async () => {
    const status0 = await unary(c.observer, 'ServerStatus');
    const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
    const N = 6 * RATE;
    // one CPU: the drops happen in the sender's context, so every suppressed count is this CPU's,
    // and the next event on it (the single datagram after the rate window) carries what is left
    await pinnedUdp(0, lab.pod(1).ip, DENY_PORT, N, 42_001);
    await new Promise((r) => setTimeout(r, 1_300));
    await pinnedUdp(0, lab.pod(1).ip, DENY_PORT, 1, 42_001);
    const nft = (await lab.denyCounters())['deny-udp']!.packets - nft0;
    expect(nft).toBe(N + 1);
    const carried = async () => flowsOf(await collect(c.observer, 'GetFlows', { number: 0, whitelist: [{ source_port: ['42001'], verdict: ['DROPPED'] }] }))
      .map((f) => 1 + (hubbleTypes().Struct.decode(f['extensions']['value'] as Buffer).toJSON() as Message)['fields']['fovea']['structValue']['fields']['suppressed']['numberValue']);
    let counts: number[] = [];
    const deadline = Date.now() + 10_000;
    while (counts.reduce((a, b) => a + b, 0) < nft && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      counts = await carried();
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(nft);
    expect(counts.length).toBeLessThan(nft / 2); // the rate limit did suppress
    const status1 = await unary(c.observer, 'ServerStatus');
    expect(Number(status1['seen_flows']) - Number(status0['seen_flows'])).toBeGreaterThanOrEqual(nft);
  });

  it('forwarded traffic: FORWARDED flows (from-endpoint and to-endpoint) whose packets and bytes equal the veth\'s own counters', async () => {
    const M = 150;
    const SIZE = 100;
    const sink = await startUdpSink(lab, 1, SINK_PORT);
    const link0 = await linkStats(lab.pod(0).hostIfname);
    await sendUdp(lab, 0, lab.pod(1).ip, SINK_PORT, M, { sport: 43_000, size: SIZE });
    const got = await sink.stop();
    const link1 = await linkStats(lab.pod(0).hostIfname);
    expect(got.received).toBe(M);
    const request = { number: 0, whitelist: [{ source_port: ['43000'], verdict: ['FORWARDED'] }] };
    const totals = async (point: string): Promise<{ packets: number; bytes: number; records: Message[] }> => {
      const records = flowsOf(await collect(c.observer, 'GetFlows', request)).filter((f) => f['trace_observation_point'] === point);
      let packets = 0, bytes = 0;
      for (const f of records) {
        const x = (hubbleTypes().Struct.decode(f['extensions']['value'] as Buffer).toJSON() as Message)['fields']['fovea']['structValue']['fields'];
        packets += x['packets']['numberValue'];
        bytes += x['bytes']['numberValue'];
      }
      return { packets, bytes, records };
    };
    let from = await totals('FROM_ENDPOINT');
    const deadline = Date.now() + 10_000;
    while (from.packets < M && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      from = await totals('FROM_ENDPOINT');
    }
    expect(from.packets).toBe(M);
    expect(from.packets).toBe(link1.rxPackets - link0.rxPackets);
    expect(from.bytes).toBe(link1.rxBytes - link0.rxBytes);
    expect(from.bytes).toBe(M * (14 + 20 + 8 + SIZE));
    expect(from.records[0]).toMatchObject({
      verdict: 'FORWARDED', traffic_direction: 'EGRESS', event_type: { type: 4, sub_type: 5 }, is_reply: {},
      source: { pod_name: 'web-6c9f7d-abcde' }, destination: { pod_name: 'db-0' }, interface: { name: lab.pod(0).hostIfname },
    });
    const to = await totals('TO_ENDPOINT');
    expect(to.packets).toBe(M);
    // to-endpoint is Cilium's trace sub-type 0: proto3 leaves a zero off the wire
    expect(to.records[0]).toMatchObject({ traffic_direction: 'INGRESS', event_type: { type: 4 }, interface: { name: lab.pod(1).hostIfname } });
    expect(to.records[0]!['event_type']['sub_type']).toBeUndefined();
  });

  it('filters as `hubble observe` sends them: --pod, --namespace, --port, --protocol, --to-ip, --verdict, --not', async () => {
    const get = async (whitelist: Message[], blacklist: Message[] = []) => flowsOf(await collect(c.observer, 'GetFlows', { number: 0, whitelist, blacklist }));
    const all = await get([]);
    expect(all.length).toBeGreaterThan(0);
    const check = async (whitelist: Message[], pred: (f: Message) => boolean, blacklist: Message[] = []) => {
      const got = await get(whitelist, blacklist);
      const want = (await get([])).filter((f) => pred(f) && !blacklist.length);
      expect(got.length).toBeGreaterThan(0);
      for (const f of got) expect(pred(f)).toBe(true);
      if (!blacklist.length) expect(got.length).toBe(want.length);
    };
    // --pod shop/web-6c9f7d-abcde
    await check([{ source_pod: ['shop/web-6c9f7d-abcde'] }, { destination_pod: ['shop/web-6c9f7d-abcde'] }],
      (f) => f['source']?.['pod_name'] === 'web-6c9f7d-abcde' || f['destination']?.['pod_name'] === 'web-6c9f7d-abcde');
    // --namespace data
    await check([{ source_pod: ['data/'] }, { destination_pod: ['data/'] }], (f) => f['source']?.['namespace'] === 'data' || f['destination']?.['namespace'] === 'data');
    // --port 5002
    const port = (f: Message, side: 'source_port' | 'destination_port') => f['l4']?.['UDP']?.[side] ?? f['l4']?.['TCP']?.[side];
    await check([{ source_port: [String(SINK_PORT)] }, { destination_port: [String(SINK_PORT)] }],
      (f) => port(f, 'source_port') === SINK_PORT || port(f, 'destination_port') === SINK_PORT);
    // --protocol udp
    await check([{ protocol: ['udp'] }], (f) => f['l4']?.['UDP'] !== undefined);
    // --to-ip <db-0>
    await check([{ destination_ip: [lab.pod(1).ip] }], (f) => f['IP']?.['destination'] === lab.pod(1).ip);
    // --verdict DROPPED --not --to-namespace data: the blacklist removes every drop to db-0
    const notData = await get([{ verdict: ['DROPPED'] }], [{ destination_pod: ['data/'] }]);
    for (const f of notData) expect(f['destination']?.['namespace']).not.toBe('data');
    // a blacklist field the server cannot evaluate is refused, never ignored (it would match everything)
    await expect(collect(c.observer, 'GetFlows', { blacklist: [{ experimental: { cel_expression: ['_flow.verdict == 2'] } }] }))
      .rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('number / first / follow / since: newest N, oldest N, live only, a time window', async () => {
    const last2 = flowsOf(await collect(c.observer, 'GetFlows', { number: 2 }));
    const all = flowsOf(await collect(c.observer, 'GetFlows', { number: 0 }));
    expect(last2.map((f) => f['uuid'])).toEqual(all.slice(-2).map((f) => f['uuid']));
    const first2 = flowsOf(await collect(c.observer, 'GetFlows', { number: 2, first: true }));
    expect(first2.map((f) => f['uuid'])).toEqual(all.slice(0, 2).map((f) => f['uuid']));
    const live = open(c.observer, 'GetFlows', { follow: true, whitelist: [{ source_port: ['42077'] }] });
    await new Promise((r) => setTimeout(r, 200));
    expect(flowsOf(live.messages)).toEqual([]);
    await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 3, { sport: 42_077 });
    await live.waitFor((m) => flowsOf(m).filter((f) => f['verdict'] === 'DROPPED').length === 3);
    live.cancel();
    const t = all[all.length - 1]!['time'] as { seconds: string; nanos: number };
    const since = flowsOf(await collect(c.observer, 'GetFlows', { since: t, number: 0 }));
    for (const f of since) {
      const ft = f['time'] as { seconds: string; nanos: number };
      expect(Number(ft.seconds) * 1e9 + ft.nanos).toBeGreaterThanOrEqual(Number(t.seconds) * 1e9 + t.nanos);
    }
  });

  it('GetNamespaces: the namespaces of the flows seen', async () => {
    const ns = (await unary(c.observer, 'GetNamespaces'))['namespaces'] as Message[];
    expect(ns.map((n) => n['namespace'])).toEqual(expect.arrayContaining(['data', 'shop']));
    expect(ns.every((n) => n['cluster'] === 'default')).toBe(true);
  });

  it('Peer/Notify: every Node of the API server, then its changes, at <InternalIP>:<port>', async () => {
    const s = open(c.peer, 'Notify', {});
    await s.waitFor((m) => m.length === 2);
    expect(s.messages).toEqual(expect.arrayContaining([
      { name: NODE, address: `192.0.2.10:${tcpPort}`, type: 'PEER_ADDED' },
      { name: 'node-b', address: `192.0.2.11:${tcpPort}`, type: 'PEER_ADDED' },
    ]));
    api.put('nodes', nodeObject('node-c', '192.0.2.12'));
    await s.waitFor((m) => m.length === 3);
    api.put('nodes', nodeObject('node-b', '192.0.2.21'));
    await s.waitFor((m) => m.length === 4);
    api.delete('nodes', '', 'node-c');
    await s.waitFor((m) => m.length === 5);
    expect(s.messages.slice(2)).toEqual([
      { name: 'node-c', address: `192.0.2.12:${tcpPort}`, type: 'PEER_ADDED' },
      { name: 'node-b', address: `192.0.2.21:${tcpPort}`, type: 'PEER_UPDATED' },
      { name: 'node-c', address: `192.0.2.12:${tcpPort}`, type: 'PEER_DELETED' },
    ]);
    s.cancel();
  });
});
