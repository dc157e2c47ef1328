// Hand measurement behind the Hubble server's write path (src/hubble/flow-encoder.ts,
// src/hubble/grpc-sink.ts, src/events/endpoints.ts): per flow, on this machine, one process,
//   1. an event end resolved to an EventEndpoint (eventEndpoint, run for every event);
//   2. a drop's GetFlowsResponse encoded by protobufjs from the Flow message, and written straight
//      from its facts (encodeFactsFrame, the server's common path);
//   3. 200,000 400-byte messages sent on one server stream to a client in another process, by
//      grpc-js message by message, and by node:http2 in batches of 256 frames — server CPU per message.
// After `bash scripts/build.sh`:   node bench/manual/hubble-encode.mjs
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { eventEndpoint, LocalPods } from '../../dist/src/events/endpoints.js';
import { StaticIdentity } from '../../dist/src/k8s/static.js';
import { encodeFactsFrame } from '../../dist/src/hubble/flow-encoder.js';
import { FlowBuilder, timestampOf } from '../../dist/src/hubble/flows.js';
import { hubbleTypes } from '../../dist/src/hubble/proto.js';

const perOp = (n, fn) => {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / n;
};

// 1. event ends
const identity = new StaticIdentity({ nodeName: 'n1' });
for (let i = 0; i < 3; i++) {
  identity.upsertPod({ uid: `u${i}`, name: `p${i}`, namespace: 'shop', nodeName: 'n1', ips: [`10.0.0.${i}`], hostNetwork: false, workload: { kind: 'Deployment', name: 'web' }, phase: 'Running', labels: { app: 'web' }, serviceAccount: 'web' });
}
const local = new LocalPods(identity);
let sink = 0;
console.log(`eventEndpoint: ${perOp(500_000, () => { sink += eventEndpoint(identity, '10.0.0.1', 7777, local).port; }).toFixed(0)} ns per end`);
// the same result built with object spreads, as eventEndpoint was before (a copy, for comparison)
const spread = (ip, port) => {
  const base = port !== undefined ? { ip, port } : { ip };
  const e = identity.resolve(ip);
  if (!e) return { ...base, kind: 'external' };
  const p = e.pod;
  return { ...base, kind: 'pod', namespace: p.namespace, pod: p.name, podUid: p.uid, workloadKind: p.workload.kind, workloadName: p.workload.name, ...(p.nodeName ? { node: p.nodeName } : {}), local: local.has(p.uid) };
};
console.log(`the same with object spreads: ${perOp(500_000, () => { sink += spread('10.0.0.1', 7777).port; }).toFixed(0)} ns per end`);

// 2. encoding a drop
const builder = new FlowBuilder({ cluster: 'default', node: 'n1', version: '0.1.0', podByUid: (u) => identity.podByUid(u), nodeLabels: () => ['kubernetes.io/hostname=n1'] });
const ev = (i) => ({
  name: 'fovea.network.packet.drop', timeMs: Date.now() + i, verdict: 'DROPPED', reason: 'NETFILTER_DROP', reasonCode: 12,
  source: eventEndpoint(identity, '10.0.0.0', 40_000 + (i % 1000), local), destination: eventEndpoint(identity, '10.0.0.1', 7777, local),
  ipVersion: 4, transport: 'tcp', protocol: 6, tcpFlags: 'SYN', length: 60, ifindex: 5, netns: 4026531840, direction: 'egress',
  location: 'nft_do_chain+0x46f', suppressed: 0, cpu: 1, node: 'n1',
});
const events = Array.from({ length: 100_000 }, (_, i) => ev(i));
const t = hubbleTypes();
const flows = events.map((e) => builder.build(e));
console.log(`protobufjs GetFlowsResponse.encode of a built Flow: ${perOp(100_000, (i) => { sink += t.GetFlowsResponse.encode({ flow: flows[i], node_name: 'n1', time: timestampOf(events[i].timeMs) }).finish().length; }).toFixed(0)} ns per flow`);
console.log(`encodeFactsFrame (facts + wire, no Flow message): ${perOp(100_000, (i) => { const e = events[i]; sink += encodeFactsFrame(builder.facts(e, builder.endpoints(e))).length; }).toFixed(0)} ns per flow`);

// 3. the transport: a server here, a client in another process
const N = 200_000;
const body = Buffer.alloc(400, 7);
const clientScript = `
  const http2 = require('node:http2');
  const s = http2.connect(process.argv[1]);
  const req = s.request({ ':method': 'POST', ':path': '/t.T/Get', 'content-type': 'application/grpc', te: 'trailers' });
  req.end(Buffer.from([0, 0, 0, 0, 0]));
  let bytes = 0; req.on('data', (d) => { bytes += d.length; });
  req.on('end', () => { console.log(bytes); s.close(); });`;
const runClient = (url) => new Promise((resolve) => {
  const c = spawn(process.execPath, ['-e', clientScript, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  c.on('exit', resolve);
});
const cpu = (fn) => new Promise((resolve) => { const c0 = process.cpuUsage(); fn(() => { const c = process.cpuUsage(c0); resolve((c.user + c.system) * 1000 / N); }); });

const grpcPerMessage = await new Promise((resolve) => {
  const server = new grpc.Server();
  const def = { Get: { path: '/t.T/Get', requestStream: false, responseStream: true, requestSerialize: (x) => x, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b } };
  let result;
  server.addService(def, {
    Get: (call) => cpu((done) => {
      let i = 0;
      const pump = () => {
        while (i < N) { i++; if (!call.write(body) && call.writableLength > 1024) { call.once('drain', pump); return; } }
        call.end();
        done();
      };
      pump();
    }).then((ns) => { result = ns; }),
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), async (_err, port) => {
    await runClient(`http://127.0.0.1:${port}`);
    server.forceShutdown();
    resolve(result);
  });
});
console.log(`grpc-js, message by message: ${grpcPerMessage.toFixed(0)} ns of server CPU per message`);

const framed = Buffer.alloc(405); framed.writeUInt32BE(400, 1); body.copy(framed, 5);
const batched = await new Promise((resolve) => {
  const server = http2.createServer();
  let result;
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.resume();
    void cpu((done) => {
      let i = 0;
      const pump = () => {
        while (i < N) {
          const n = Math.min(256, N - i);
          i += n;
          if (!stream.write(Buffer.concat(Array.from({ length: n }, () => framed)))) { stream.once('drain', pump); return; }
        }
        stream.end();
        done();
      };
      pump();
    }).then((ns) => { result = ns; });
  });
  server.listen(0, '127.0.0.1', async () => {
    await runClient(`http://127.0.0.1:${server.address().port}`);
    server.close();
    resolve(result);
  });
});
console.log(`node:http2, batches of 256 frames: ${batched.toFixed(0)} ns of server CPU per message`);
if (sink === 0.5) console.log(sink);
