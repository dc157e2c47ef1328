/**
 * The whole loop on the real kernel: the real `fovea agent` process, real drops and traffic in a
 * lab of network namespaces, OTLP on the wire — and the numbers compared, exactly, with the
 * kernel's own counters (the nft rule's counter, `ip -s link`, the pod's /proc/net/snmp).
 * Checked twice: over OTLP/gRPC into a receiver built from the official protos, and over
 * OTLP/HTTP into VictoriaMetrics, queried back by the Prometheus names.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab, DENY_PORT } from '../../src/lab/lab.js';
import { linkStats, nftRuleCounters, snmpCounters, snmpDelta, type LinkStats } from '../../src/lab/kernel-truth.js';
import { sendUdp, tcpConnectAttempts, tcpTransfer, startTcpServer } from '../../src/lab/traffic.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { requestsUnlikeUpstream } from '../helpers/upstream-bytes.js';
import { describeRoot } from '../helpers/root.js';
import { Victoria } from '../helpers/victoria.js';

const CLOSED_PORT = 9; // nothing listens in the pods
const SERVER_PORT = 8080;

describeRoot('agent → OTLP, counts equal the kernel\'s', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ name: 'wire', pods: 2 });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  /** Traffic with known kernel-side outcomes; returns the kernel's own counter deltas. */
  async function generate(): Promise<{ netfilterUdp: number; netfilterTcp: number; noSocketUdp: number }> {
    const [p0, p1] = [lab.pod(0), lab.pod(1)];
    const nft0 = await nftRuleCounters(lab.nftTable);
    const snmp0 = await snmpCounters(p1.netns);
    const server = await startTcpServer(lab, 1, SERVER_PORT);
    await tcpTransfer(lab, 0, p1.ip, SERVER_PORT, 200_000);
    await server.stop();
    await sendUdp(lab, 0, p1.ip, DENY_PORT, 1000, { size: 100 });
    await tcpConnectAttempts(lab, 0, p1.ip, DENY_PORT, 7, { timeoutMs: 300 });
    await sendUdp(lab, 0, p1.ip, CLOSED_PORT, 321, { size: 50 });
    const nft1 = await nftRuleCounters(lab.nftTable);
    const snmp1 = await snmpCounters(p1.netns);
    void p0;
    return {
      netfilterUdp: nft1['deny-udp']!.packets - nft0['deny-udp']!.packets,
      netfilterTcp: nft1['deny-tcp']!.packets - nft0['deny-tcp']!.packets,
      noSocketUdp: snmpDelta(snmp0, snmp1, 'Udp', 'NoPorts'),
    };
  }

  it('over OTLP/gRPC: drops by reason and per-interface traffic match nft, snmp and ip -s link exactly', async () => {
    const rx = await OtlpReceiver.start({});
    const agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvwire-*', '--export-interval', '300ms']);
    try {
      await agent.waitStarted();
      await rx.waitFor((r) => r.latest('fovea.agent.interfaces.attached') === 2, 10_000);
      const drop = (reason: string, transport: string) =>
        rx.latest('fovea.network.drop.packets', { 'fovea.drop.reason': reason, 'network.transport': transport, 'network.type': 'ipv4' }) ?? 0;
      // Baselines at a quiet moment (lab veths carry no ARP/ND/IPv6 noise).
      await rx.waitFor(() => true);
      const base = { nfUdp: drop('NETFILTER_DROP', 'udp'), nfTcp: drop('NETFILTER_DROP', 'tcp'), nsUdp: drop('NO_SOCKET', 'udp') };
      const links0 = await Promise.all(lab.pods.map((p) => linkStats(p.hostIfname)));
      const agentLinks0 = lab.pods.map((p) => agentLink(rx, p.hostIfname));

      const truth = await generate();
      expect(truth.netfilterUdp).toBe(1000);
      expect(truth.noSocketUdp).toBe(321);

      const links1 = await Promise.all(lab.pods.map((p) => linkStats(p.hostIfname)));
      const want = lab.pods.map((_, i) => diff(links0[i]!, links1[i]!));
      // wait until an export carries everything, then compare exactly
      await rx.waitFor(() => drop('NETFILTER_DROP', 'udp') - base.nfUdp >= truth.netfilterUdp
        && lab.pods.every((p, i) => agentLink(rx, p.hostIfname).rxPackets - agentLinks0[i]!.rxPackets >= want[i]!.rxPackets
          && agentLink(rx, p.hostIfname).txPackets - agentLinks0[i]!.txPackets >= want[i]!.txPackets), 10_000);
      const seen = rx.requestCount;
      await rx.waitFor((r) => r.requestCount >= seen + 2, 5_000); // and it stays there

      expect(drop('NETFILTER_DROP', 'udp') - base.nfUdp).toBe(truth.netfilterUdp);
      expect(drop('NETFILTER_DROP', 'tcp') - base.nfTcp).toBe(truth.netfilterTcp);
      // NO_SOCKET is host-wide: other namespaces could add to it, never subtract
      expect(drop('NO_SOCKET', 'udp') - base.nsUdp).toBeGreaterThanOrEqual(truth.noSocketUdp);
      for (const [i, p] of lab.pods.entries()) {
        const a = agentLink(rx, p.hostIfname);
        const a0 = agentLinks0[i]!;
        expect({
          rxPackets: a.rxPackets - a0.rxPackets, rxBytes: a.rxBytes - a0.rxBytes,
          txPackets: a.txPackets - a0.txPackets, txBytes: a.txBytes - a0.txBytes,
        }, p.hostIfname).toEqual({ rxPackets: want[i]!.rxPackets, rxBytes: want[i]!.rxBytes, txPackets: want[i]!.txPackets, txBytes: want[i]!.txBytes });
      }
      // resource and instrument shape
      const s = rx.series('fovea.network.drop.packets')[0]!;
      expect(s.resource['service.name']).toBe('fovea');
      expect(s.resource['host.name']).toBeTruthy();
      expect(s).toMatchObject({ kind: 'sum', temporality: 'cumulative', isMonotonic: true, unit: '{packet}' });
      expect(rx.latest('fovea.agent.probe.up', { 'fovea.probe': 'drop' })).toBe(1);
      expect(rx.latest('fovea.agent.probe.up', { 'fovea.probe': 'traffic' })).toBe(1);
      expect(rx.latest('fovea.agent.kernel.record.failures', { 'fovea.failure.kind': 'map_full' })).toBe(0);
      // every request the agent sent is, byte for byte, what the upstream serializer writes for it
      expect(requestsUnlikeUpstream(rx.requests)).toEqual([]);
    } finally {
      await agent.stop();
      await rx.stop();
    }
  });

  it('over OTLP/HTTP into VictoriaMetrics: the stored totals equal the nft counter and ip -s link', async () => {
    const vm = await Victoria.start();
    const agent = AgentProcess.start(['--interfaces', 'fvwire-*', '--export-interval', '300ms'], {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: vm.otlpMetricsUrl,
      OTEL_SERVICE_NAME: 'fovea-e2e',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    });
    try {
      await agent.waitStarted();
      const q = async (promql: string): Promise<number> => (await vm.query(promql)).series.reduce((a, s) => a + s.value, 0);
      const nfUdp = 'fovea_network_drop_packets_total{fovea_drop_reason="NETFILTER_DROP",network_transport="udp",service_name="fovea-e2e"}';
      const rxOf = (ifname: string) => `fovea_network_packets_total{network_interface_name="${ifname}",network_io_direction="receive"}`;
      const bytesOf = (ifname: string, dir: string) => `fovea_network_io_bytes_total{network_interface_name="${ifname}",network_io_direction="${dir}"}`;
      // the agent's counters start at zero; wait for the first export with the interfaces
      await until(async () => (await vm.query(rxOf(lab.pod(0).hostIfname))).series.length > 0, 15_000);
      const nft0 = await nftRuleCounters(lab.nftTable);
      const l0 = await linkStats(lab.pod(0).hostIfname);
      const v0 = { nf: await q(nfUdp), rx: await q(rxOf(lab.pod(0).hostIfname)), txBytes: await q(bytesOf(lab.pod(0).hostIfname, 'transmit')) };

      await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 777, { size: 80 });
      const nft1 = await nftRuleCounters(lab.nftTable);
      const l1 = await linkStats(lab.pod(0).hostIfname);
      const want = { nf: nft1['deny-udp']!.packets - nft0['deny-udp']!.packets, rx: l1.rxPackets - l0.rxPackets, txBytes: l1.txBytes - l0.txBytes };
      expect(want.nf).toBe(777);

      await until(async () => (await q(nfUdp)) - v0.nf >= want.nf && (await q(rxOf(lab.pod(0).hostIfname))) - v0.rx >= want.rx, 15_000);
      await new Promise((r) => setTimeout(r, 800)); // two more exports: the values must not move past the truth
      expect((await q(nfUdp)) - v0.nf).toBe(want.nf);
      expect((await q(rxOf(lab.pod(0).hostIfname))) - v0.rx).toBe(want.rx);
      expect((await q(bytesOf(lab.pod(0).hostIfname, 'transmit'))) - v0.txBytes).toBe(want.txBytes);
      // resource attributes from the standard variables arrive as labels
      const labels = (await vm.query(nfUdp)).series[0]!.labels;
      expect(labels['deployment_environment']).toBe('test');
    } finally {
      await agent.stop();
      await vm.stop();
    }
  });
});

interface AgentLink { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number }

function agentLink(rx: OtlpReceiver, ifname: string): AgentLink {
  const v = (metric: string, dir: string) => rx.latest(metric, { 'network.interface.name': ifname, 'network.io.direction': dir }) ?? 0;
  return {
    rxPackets: v('fovea.network.packets', 'receive'), rxBytes: v('fovea.network.io', 'receive'),
    txPackets: v('fovea.network.packets', 'transmit'), txBytes: v('fovea.network.io', 'transmit'),
  };
}

function diff(a: LinkStats, b: LinkStats): AgentLink {
  return { rxPackets: b.rxPackets - a.rxPackets, rxBytes: b.rxBytes - a.rxBytes, txPackets: b.txPackets - a.txPackets, txBytes: b.txBytes - a.txBytes };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
