/**
 * Prometheus mode on the real kernel, scraped by a real Prometheus (Debian 13's 2.53, extracted by
 * `scripts/setup.sh --test`): the real `fovea agent` process serves /metrics on 127.0.0.1 while it
 * also exports OTLP/HTTP to VictoriaMetrics (the OTLP → Prometheus path), in a lab of network
 * namespaces with known drops and traffic.
 *
 * - Exact: what Prometheus stores equals the kernel's own counters — the lab pod's denied datagrams
 *   the nft rule's counter, its veth's packets and bytes `ip -s link` — over OpenMetrics
 *   (Prometheus' default negotiation) and over the text format (a second job limited to it), and
 *   equals what the OTLP path stored in VictoriaMetrics.
 * - Same data: after DNS, TCP and drop traffic, every series of the lab is on both paths with the
 *   same labels (Fovea's: attributes, node and cluster) and, counters and histograms, the same value.
 * - Dashboards: every query and variable of deploy/dashboards/*.json, evaluated on both paths,
 *   returns data on both — except the ones listed in NO_DATA_IN_THE_LAB, on both paths alike,
 *   with why.
 * - Alone: with no OTLP endpoint configured, the agent sends nothing over OTLP (no export
 *   attempt, no export failure) and Prometheus still gets exact counts.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { linkStats, nftRuleCounters } from '../../src/lab/kernel-truth.js';
import { sendUdp, startTcpServer, startUdpSink, tcpConnectAttempts, tcpTransfer, type Server } from '../../src/lab/traffic.js';
import { ATTR, RESOURCE } from '../../src/names.js';
import { victoriaMetricsBinary } from '../../src/otlp/paths.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { Prometheus, prometheusBinary } from '../helpers/prometheus.js';
import { describeRoot } from '../helpers/root.js';
import { freePort, missingArtifacts, Victoria, type QueryResult } from '../helpers/victoria.js';

const missing = missingArtifacts(() => prometheusBinary(), () => victoriaMetricsBinary());

const LAB = 'prm';
const CLUSTER = 'e2e-prm';
const NODE = 'node-prm';
/**
 * The node and cluster names on the agent's resource, as a DaemonSet would give them. (Not
 * --node-name: standalone pods are then not on the agent's node and get no pod-level drops, TCP
 * or DNS series — netnsWorkload in src/pods/pod-network.ts names the host's hostname as theirs.)
 */
const RESOURCE_ATTRIBUTES = `k8s.cluster.name=${CLUSTER},k8s.node.name=${NODE}`;
const CLOSED_PORT = 9;
const TCP_PORT = 8080;
/** Metrics the text-format job keeps (the exact checks); everything else comes through the default job. */
const TEXT_JOB_METRICS = 'fovea_(pod_network_drop_packets|network_packets|network_io_bytes)_total';
/**
 * The lab's denied datagrams as pod 0 sent them: attributed by the lab's own addresses, so exact
 * even while other tests drop packets on this host (the node-level count is host-wide).
 */
const DENIED = `fovea_pod_network_drop_packets_total{k8s_pod_name="fovea-${LAB}-0",fovea_drop_reason="NETFILTER_DROP",network_transport="udp",network_io_direction="transmit"}`;

/**
 * Dashboard queries that have no data in this lab, on either path, and why. Anything else
 * without data on a path fails the test.
 */
const NO_DATA_IN_THE_LAB: Readonly<Record<string, string>> = Object.fromEntries(['fovea-dns', 'fovea-drops', 'fovea-tcp', 'fovea-traffic']
  .map((d) => [`${d} / variable namespace`, 'standalone pods (named network namespaces) have no Kubernetes namespace']));

interface Target { refId: string; expr: string }
interface Panel { title: string; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: string | { query: string } }
interface Dashboard { uid: string; panels: Panel[]; templating: { list: Variable[] } }

const DASHBOARD_DIR = join(import.meta.dirname, '..', '..', 'deploy', 'dashboards');

/** Every query of the shipped dashboards: `<uid> / <panel> <refId>` or `<uid> / variable <name>` → PromQL. */
function dashboardQueries(): Array<{ where: string; expr: string; variable?: string }> {
  const out: Array<{ where: string; expr: string; variable?: string }> = [];
  for (const f of readdirSync(DASHBOARD_DIR).filter((x) => x.endsWith('.json')).sort()) {
    const d = JSON.parse(readFileSync(join(DASHBOARD_DIR, f), 'utf8')) as Dashboard;
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      // label_values(selector, label): the values of `label` on the selector's series
      const lv = /^\s*label_values\(\s*(.*),\s*([a-zA-Z_]\w*)\s*\)\s*$/.exec(q);
      if (!lv) throw new Error(`${d.uid} variable ${v.name}: not label_values(selector, label): ${q}`);
      out.push({ where: `${d.uid} / variable ${v.name}`, expr: `count by (${lv[2]}) (${lv[1]})`, variable: lv[2]! });
    }
    for (const p of d.panels.flatMap((x) => [x, ...(x.panels ?? [])])) {
      for (const t of p.targets ?? []) out.push({ where: `${d.uid} / ${p.title} ${t.refId}`, expr: t.expr });
    }
  }
  return out;
}

/** Grafana's variables as a user would pick them: this lab's cluster and node, every namespace and reason. */
function substitute(expr: string): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, '1m').replace(/\$\{?__range\}?/g, '1m').replace(/\$\{?__interval\}?/g, '15s')
    .replace(/\$\{?cluster\}?/g, CLUSTER).replace(/\$\{?node\}?/g, NODE)
    .replace(/\$\{?[a-zA-Z_]\w*\}?/g, '.*');
}

/** Labels Fovea itself puts on series (the rest are each path's own: job, instance, resource labels). */
const FOVEA_LABELS = new Set([...Object.values(ATTR), RESOURCE.k8sNodeName, 'k8s.cluster.name'].map((k) => k.replace(/[^a-zA-Z0-9_]/g, '_')).concat(['le', '__name__']));
const total = (r: QueryResult): number => r.series.reduce((a, s) => a + s.value, 0);

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describeRoot('Prometheus mode: a real Prometheus scrapes the agent', 'loads eBPF programs and builds network namespaces', () => {
  describe.skipIf(missing !== undefined)(`/metrics next to OTLP → VictoriaMetrics${missing ? ` (skipped: ${missing})` : ''}`, () => {
    let lab: Lab;
    let vm: Victoria;
    let prom: Prometheus;
    let rx: OtlpReceiver;
    let agent: AgentProcess;
    let port: number;
    let dnsmasq: ChildProcess;
    let upstream: ChildProcess;
    let dnsmasqLog = '';
    const servers: Array<Server<unknown>> = [];

    const agentArgs = (): string[] => [
      '--interfaces', `fv${LAB}-*`, '--netns', `fovea-${LAB}-*`, '--kubernetes', 'off',
      '--export-interval', '500ms', '--rescan-interval', '200ms', '--dns-timeout', '1s',
      '--dns-top-names', '10', // opt-in: the DNS dashboard's names row needs them
      '--prometheus-address', `127.0.0.1:${port}`,
    ];

    beforeAll(async () => {
      // pod 0: client; pod 1: TCP server and DNS server (dnsmasq), itself a client of pod 3 (the
      // upstream of up.lab) and of pod 2 (dead.lab); pod 2: a DNS "server" that never answers
      lab = await Lab.create({ name: LAB, pods: 4 });
      const [s, dead, up] = [lab.pod(1), lab.pod(2), lab.pod(3)];
      const dnsmasqArgs = (ip: string, extra: string[]) => ['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', `--listen-address=${ip}`,
        '--bind-interfaces', '--log-queries', '--log-facility=-', ...extra];
      dnsmasq = lab.spawn(1, dnsmasqArgs(s.ip, ['--address=/good.lab/10.9.8.7', '--host-record=nodata.lab,10.9.8.8',
        `--server=/up.lab/${up.ip}`, `--server=/dead.lab/${dead.ip}`, '--local=/lab/']));
      upstream = lab.spawn(3, dnsmasqArgs(up.ip, ['--address=/up.lab/10.9.8.9']));
      for (const p of [dnsmasq, upstream]) {
        p.stderr?.setEncoding('utf8').on('data', (d: string) => { dnsmasqLog += d; });
        p.stdout?.setEncoding('utf8').on('data', (d: string) => { dnsmasqLog += d; });
      }
      servers.push(await startTcpServer(lab, 1, TCP_PORT), await startUdpSink(lab, 2, 53));
      vm = await Victoria.start();
      rx = await OtlpReceiver.start({ httpPort: 0 });
      port = await freePort();
      prom = await Prometheus.start([
        // Prometheus' own negotiation: it asks for OpenMetrics first
        { job_name: 'fovea', static_configs: [{ targets: [`127.0.0.1:${port}`] }] },
        {
          job_name: 'fovea-text', scrape_protocols: ['PrometheusText0.0.4'], static_configs: [{ targets: [`127.0.0.1:${port}`] }],
          metric_relabel_configs: [{ source_labels: ['__name__'], regex: TEXT_JOB_METRICS, action: 'keep' }],
        },
      ]);
      agent = AgentProcess.start(agentArgs(), {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: vm.otlpMetricsUrl,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: rx.httpLogsEndpoint,
        OTEL_RESOURCE_ATTRIBUTES: RESOURCE_ATTRIBUTES,
      });
      await agent.waitStarted();
      await agent.waitForLog((l) => l['msg'] === 'Prometheus endpoint listening');
      // the four pods known on both paths
      const pods = `count(count by (k8s_pod_name) (fovea_pod_network_packets_total{k8s_pod_name=~"fovea-${LAB}-.*"}))`;
      await prom.queryUntil(pods, (r) => r.series[0]?.value === 4, 20_000);
      await vm.queryUntil(pods, (r) => r.series[0]?.value === 4, 20_000);
      if ((dnsmasqLog.match(/started/g) ?? []).length < 2) throw new Error(`dnsmasq did not start: ${dnsmasqLog}`);
    }, 90_000);

    afterAll(async () => {
      dnsmasq?.kill('SIGTERM');
      upstream?.kill('SIGTERM');
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      await agent?.stop();
      await prom?.stop();
      await vm?.stop();
      await rx?.stop();
      await lab?.destroy();
    });

    it('Prometheus stores exactly the kernel\'s counts, over OpenMetrics and the text format, and the same as the OTLP path', async () => {
      const ifname = lab.pod(0).hostIfname;
      const nf = DENIED;
      const rxPackets = `fovea_network_packets_total{network_interface_name="${ifname}",network_io_direction="receive"}`;
      const rxBytes = `fovea_network_io_bytes_total{network_interface_name="${ifname}",network_io_direction="receive"}`;
      const withJob = (q: string, job: string) => q.replace('}', `,job="${job}"}`);
      const read = async () => ({
        om: { nf: total(await prom.query(withJob(nf, 'fovea'))), rx: total(await prom.query(withJob(rxPackets, 'fovea'))), rxBytes: total(await prom.query(withJob(rxBytes, 'fovea'))) },
        text: { nf: total(await prom.query(withJob(nf, 'fovea-text'))), rx: total(await prom.query(withJob(rxPackets, 'fovea-text'))), rxBytes: total(await prom.query(withJob(rxBytes, 'fovea-text'))) },
        otlp: { nf: total(await vm.query(nf)), rx: total(await vm.query(rxPackets)), rxBytes: total(await vm.query(rxBytes)) },
      });
      await until('both jobs scrape the interface', async () => (await prom.query(withJob(rxPackets, 'fovea-text'))).series.length === 1
        && (await prom.query(withJob(rxPackets, 'fovea'))).series.length === 1);
      // both scrape formats are served and parsed: OpenMetrics carries units, the text format cannot
      const targets = await prom.targets();
      expect(targets.map((t) => [t.scrapePool, t.health, t.lastError]).sort()).toEqual([['fovea', 'up', ''], ['fovea-text', 'up', '']]);
      expect(await prom.metadata('fovea')).toContainEqual(expect.objectContaining({ metric: 'fovea_network_io_bytes', type: 'counter', unit: 'bytes' }));
      expect(await prom.metadata('fovea-text')).toContainEqual(expect.objectContaining({ metric: 'fovea_network_io_bytes_total', type: 'counter', unit: '' }));

      const nft0 = await nftRuleCounters(lab.nftTable);
      const l0 = await linkStats(ifname);
      await new Promise((r) => setTimeout(r, 1_500)); // a quiet moment: every path has the same reading
      const v0 = await read();
      await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 777, { size: 80 });
      const nft1 = await nftRuleCounters(lab.nftTable);
      const l1 = await linkStats(ifname);
      const want = { nf: nft1['deny-udp']!.packets - nft0['deny-udp']!.packets, rx: l1.rxPackets - l0.rxPackets, rxBytes: l1.rxBytes - l0.rxBytes };
      expect(want.nf).toBe(777);
      const delta = (a: { nf: number; rx: number; rxBytes: number }, b: typeof a) => ({ nf: a.nf - b.nf, rx: a.rx - b.rx, rxBytes: a.rxBytes - b.rxBytes });
      await until('every path reached the kernel\'s counts', async () => {
        const v = await read();
        return (['om', 'text', 'otlp'] as const).every((k) => delta(v[k], v0[k]).nf >= want.nf && delta(v[k], v0[k]).rx >= want.rx);
      });
      await new Promise((r) => setTimeout(r, 2_500)); // more scrapes and exports: nothing moves past the truth
      const v1 = await read();
      expect({ openMetrics: delta(v1.om, v0.om), text: delta(v1.text, v0.text), otlp: delta(v1.otlp, v0.otlp) })
        .toEqual({ openMetrics: want, text: want, otlp: want });
      expect(v1.om).toEqual(v1.otlp); // and the same totals, not only the same increase
      // the node and cluster names are labels, as on the OTLP path
      expect((await prom.query(withJob(nf, 'fovea'))).series[0]?.labels).toMatchObject({ k8s_node_name: NODE, k8s_cluster_name: CLUSTER });
    }, 90_000);

    it('both paths carry the same series and values; every query of the shipped dashboards returns data on both', async () => {
      const [s, dead] = [lab.pod(1), lab.pod(2)];
      const dig = async (args: string[], times: number, pod = 0) => {
        for (let i = 0; i < times; i++) await lab.exec(pod, ['dig', '+tries=1', '+time=1', ...args], { allowFail: true });
      };
      // Twice: the first round creates the series, the second makes them grow within the rate window.
      for (let round = 0; round < 2; round++) {
        await tcpTransfer(lab, 0, s.ip, TCP_PORT, 100_000);
        await tcpConnectAttempts(lab, 0, s.ip, CLOSED_PORT, 3, { timeoutMs: 500 }); // RST: resets, failed connects
        await tcpConnectAttempts(lab, 0, s.ip, DENY_PORT, 2, { timeoutMs: 1_500 }); // SYNs dropped: retransmissions
        await sendUdp(lab, 0, s.ip, DENY_PORT, 50, { size: 60 }); // NETFILTER_DROP
        await sendUdp(lab, 0, s.ip, CLOSED_PORT, 20, { size: 60 }); // NO_SOCKET
        await dig([`@${s.ip}`, 'good.lab', 'A'], 3);
        await dig([`@${s.ip}`, 'nodata.lab', 'AAAA'], 2); // NOERROR, empty answer (NODATA)
        await dig([`@${s.ip}`, 'missing.lab', 'A'], 2); // NXDOMAIN
        await dig([`@${s.ip}`, 'example.com', 'A'], 2); // REFUSED: no upstream
        await dig([`@${dead.ip}`, 'good.lab', 'A'], 2); // never answered: timeouts
        await dig([`@${s.ip}`, 'www.up.lab', 'A'], 2); // pod 1 forwards to pod 3: a DNS server that is a client too
        await dig([`@${s.ip}`, 'www.dead.lab', 'A'], 1); // pod 1 forwards to pod 2: its own queries time out
        await new Promise((r) => setTimeout(r, 3_000));
      }
      await new Promise((r) => setTimeout(r, 2_000)); // the last timeouts detected, scraped and exported

      // The same collection on both paths: every series of the lab (a pod, workload or interface of
      // it in a label), with the same labels and, for counters and histograms, the same value.
      const labSeries = async (query: (q: string) => Promise<QueryResult>, selector: string): Promise<Map<string, number>> => {
        const out = new Map<string, number>();
        for (const x of (await query(selector)).series) {
          if (!Object.values(x.labels).some((v) => v.startsWith(`fovea-${LAB}-`) || v.startsWith(`fv${LAB}-`))) continue;
          out.set(JSON.stringify(Object.entries(x.labels).filter(([k]) => FOVEA_LABELS.has(k)).sort()), x.value);
        }
        return out;
      };
      const counterLike = (key: string) => /"__name__","[^"]*_(total|bucket|count|sum)"/.test(key);
      let last = '';
      await until('the same lab series on both paths', async () => {
        const [p, v] = [await labSeries((q) => prom.query(q), '{__name__=~"fovea_.+",job="fovea"}'), await labSeries((q) => vm.query(q), '{__name__=~"fovea_.+"}')];
        const onlyP = [...p.keys()].filter((k) => !v.has(k));
        const onlyV = [...v.keys()].filter((k) => !p.has(k));
        const values = [...p].filter(([k, x]) => v.has(k) && counterLike(k) && v.get(k) !== x).map(([k, x]) => `${k}: ${x} ≠ ${v.get(k)}`);
        last = JSON.stringify({ series: p.size, onlyPrometheus: onlyP, onlyOtlp: onlyV, values }, null, 1);
        return p.size > 100 && onlyP.length === 0 && onlyV.length === 0 && values.length === 0;
      }, 10_000).catch((err: Error) => { throw new Error(`${err.message}: ${last}`); });

      const queries = dashboardQueries();
      expect(queries.length).toBeGreaterThan(60);
      const noData: Record<string, string[]> = { prometheus: [], otlp: [] };
      for (const q of queries) {
        const expr = substitute(q.expr);
        const [p, v] = [await prom.query(expr), await vm.query(expr)];
        // a variable has data when its label has values (Grafana lists no empty value)
        const hasData = (r: QueryResult) => r.series.some((x) => q.variable === undefined || (x.labels[q.variable] ?? '') !== '');
        if (!hasData(p)) noData['prometheus']!.push(q.where);
        if (!hasData(v)) noData['otlp']!.push(q.where);
        if (q.variable === 'k8s_cluster_name') expect(p.series.map((x) => x.labels[q.variable!]), q.where).toEqual([CLUSTER]);
        if (q.variable === 'k8s_node_name') expect(p.series.map((x) => x.labels[q.variable!]), q.where).toEqual([NODE]);
      }
      expect({ prometheus: noData['prometheus'], otlp: noData['otlp'] })
        .toEqual({ prometheus: Object.keys(NO_DATA_IN_THE_LAB).sort(), otlp: Object.keys(NO_DATA_IN_THE_LAB).sort() });
    }, 120_000);

    it('alone: no OTLP endpoint configured → nothing sent over OTLP, no export failure; Prometheus still exact', async () => {
      await agent.stop();
      const before = { vm: await vm.metricNames(), logs: rx.logRequests.length };
      agent = AgentProcess.start(agentArgs(), { OTEL_RESOURCE_ATTRIBUTES: RESOURCE_ATTRIBUTES });
      await agent.waitStarted();
      await agent.waitForLog((l) => l['msg'] === 'metrics pipeline ready for Prometheus only (no OTLP export)');
      const nf = DENIED.replace('}', ',job="fovea"}');
      // a new process: its counters start again; wait for its first scrape
      const started = await prom.query('time()');
      await until('a scrape of the new agent', async () => (await prom.query(`timestamp(fovea_agent_probe_up{job="fovea",fovea_probe="drop"})`)).series
        .some((x) => x.value > started.series[0]!.value + 1));
      await new Promise((r) => setTimeout(r, 1_500));
      const v0 = total(await prom.query(nf));
      const nft0 = await nftRuleCounters(lab.nftTable);
      await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 333, { size: 70 });
      const nft1 = await nftRuleCounters(lab.nftTable);
      const want = nft1['deny-udp']!.packets - nft0['deny-udp']!.packets;
      expect(want).toBe(333);
      await until('Prometheus reached the nft counter', async () => total(await prom.query(nf)) - v0 >= want);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(total(await prom.query(nf)) - v0).toBe(want);
      expect(total(await prom.query('fovea_agent_export_failures_total{job="fovea"}'))).toBe(0);
      expect(agent.logs.filter((l) => /OTLP .*(failed|export)/i.test(String(l['msg'])) && l['level'] === 40)).toEqual([]);
      expect(agent.logs.some((l) => l['msg'] === 'OTLP metrics pipeline ready')).toBe(false);
      expect(rx.logRequests.length).toBe(before.logs); // no event export either
      expect((await vm.metricNames()).length).toBe(before.vm.length);
    }, 60_000);
  });
});
