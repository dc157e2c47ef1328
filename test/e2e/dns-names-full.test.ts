/**
 * A full table of DNS names (probes.dns.names.tableSize) loses nothing silently: with a table of
 * 64 (name, query type, view) entries and 70 names looked up once each from one lab pod to a
 * dnsmasq in another, the first 32 names fill it (client and server view each), and every message
 * of the other 38 names — query and response, seen at both pods' veths: 4 each — is counted as
 * failure `dns_names_full`, while the pods' DNS counts stay exact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const NAMES = 70;
const TABLE = 64;

describeRoot('DNS names table full (agent, standalone, dnsmasq)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  let dnsmasq: ChildProcess;
  let log = '';
  const dir = mkdtempSync(join(tmpdir(), 'fovea-dnsfull-'));
  beforeAll(async () => {
    lab = await Lab.create({ name: 'dnsf', pods: 2 });
    dnsmasq = lab.spawn(1, ['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', `--listen-address=${lab.pod(1).ip}`, '--bind-interfaces',
      '--address=/full.lab/10.9.8.7', '--log-queries', '--log-facility=-', '--pid-file=']);
    dnsmasq.stdout?.setEncoding('utf8').on('data', (d: string) => { log += d; });
    dnsmasq.stderr?.setEncoding('utf8').on('data', (d: string) => { log += d; });
    writeFileSync(join(dir, 'fovea.yaml'), `probes:\n  dns:\n    names: { top: 10, tableSize: ${TABLE} }\n`);
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--config', join(dir, 'fovea.yaml'), '--endpoint', rx.endpoint, '--interfaces', 'fvdnsf-*',
      '--netns', 'fovea-dnsf-*', '--export-interval', '300ms', '--rescan-interval', '200ms', '--no-tcp', '--no-drop']);
    await agent.waitStarted();
    await rx.waitFor((r) => new Set(r.series('fovea.pod.network.packets').map((s) => s.attrs['k8s.pod.name'])).size === 2, 15_000);
    await agent.waitForLog((l) => l['msg'] === 'flow records switched' || (l['msg'] === 'attached' && l['flows'] === true), 5_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    if (!log.includes('started')) throw new Error(`dnsmasq did not start: ${log}`);
  });
  afterAll(async () => {
    dnsmasq?.kill('SIGTERM');
    await agent?.stop();
    await rx?.stop();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${NAMES} names into a table of ${TABLE}: the messages of the names left out are counted as dns_names_full`, async () => {
    for (let i = 0; i < NAMES; i++) await lab.exec(0, ['dig', '+tries=1', '+time=1', `@${lab.pod(1).ip}`, `n${i}.full.lab`, 'A'], { allowFail: true });
    const failures = () => rx.latest('fovea.agent.kernel.record.failures', { 'fovea.probe': 'traffic', 'fovea.failure.kind': 'dns_names_full' }) ?? 0;
    const queries = () => rx.latest('fovea.pod.dns.queries', { 'k8s.pod.name': lab.pod(0).netns, 'fovea.dns.role': 'client' }) ?? 0;
    await rx.waitFor(() => queries() >= NAMES && failures() >= 4 * (NAMES - TABLE / 2), 15_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 2, 5_000);
    expect((log.match(/query\[A\]/g) ?? []).length).toBe(NAMES);
    expect(queries()).toBe(NAMES);
    expect(failures()).toBe(4 * (NAMES - TABLE / 2));
    // the names that found room: their series count from their collection, the rest of the messages are overflow
    const named = rx.series('fovea.dns.name.queries').filter((s) => String(s.attrs['dns.question.name']).endsWith('.full.lab'));
    expect(named.length).toBeGreaterThan(0);
    expect(named.length).toBeLessThanOrEqual(TABLE);
  }, 120_000);
});
