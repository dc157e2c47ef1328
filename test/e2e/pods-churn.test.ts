/**
 * Pod churn: 200 "pods" (named network namespaces with a veth each) created and deleted in two
 * rounds while the real agent runs. Everything that grew with them must shrink back: attached
 * interfaces, exported pod series, and the agent's memory stays flat between the rounds.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const ROUND = 100;
const ns = (i: number) => `fovea-churn-${i}`;
const host = (i: number) => `fvch-${i}`;

function ipBatch(lines: string[]): void {
  execFileSync('ip', ['-force', '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}

function createPods(from: number, n: number): void {
  const lines: string[] = [];
  for (let i = from; i < from + n; i++) {
    lines.push(`netns add ${ns(i)}`, `link add ${host(i)} type veth peer name eth0 netns ${ns(i)}`, `link set ${host(i)} up`);
  }
  ipBatch(lines);
  for (let i = from; i < from + n; i++) {
    execFileSync('ip', ['-n', ns(i), '-batch', '-'], {
      input: `link set eth0 up\naddr add 198.19.254.${1 + (i % 250)}/32 dev eth0\n`, stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
}

function deletePods(from: number, n: number): void {
  const lines: string[] = [];
  for (let i = from; i < from + n; i++) lines.push(`netns del ${ns(i)}`);
  ipBatch(lines);
}

function cleanup(): void {
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('fovea-churn-'));
  if (names.length) ipBatch(names.map((n) => `netns del ${n}`));
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function podsInLastExport(rx: OtlpReceiver): number {
  const last = rx.requests[rx.requests.length - 1];
  const names = new Set<string>();
  for (const rm of last?.request.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== 'fovea.pod.network.packets' || !m.sum) continue;
    for (const dp of m.sum.dataPoints) names.add(String(dp.attributes?.find((a) => a.key === 'k8s.pod.name')?.value?.stringValue));
  }
  return names.size;
}

describeRoot('pod churn: 200 pods created and deleted', 'builds network namespaces and loads eBPF programs', () => {
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  beforeAll(async () => {
    cleanup();
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvch-*', '--netns', 'fovea-churn-*',
      '--export-interval', '300ms', '--rescan-interval', '300ms', '--pod-series-ttl', '1s', '--log-level', 'warn']);
    await agent.waitForLog(() => false, 1_500).catch(() => undefined); // let it start (warn level: no start line)
    await rx.waitFor((r) => r.requestCount >= 1, 10_000);
  });
  afterAll(async () => {
    await agent?.stop();
    await rx?.stop();
    cleanup();
  });

  it('interfaces, pod series and memory come back down after each round', async () => {
    const rss: number[] = [];
    for (let round = 0; round < 2; round++) {
      createPods(round * ROUND, ROUND);
      await rx.waitFor((r) => r.latest('fovea.agent.interfaces.attached') === ROUND && podsInLastExport(r) === ROUND, 30_000);
      deletePods(round * ROUND, ROUND);
      await rx.waitFor((r) => r.latest('fovea.agent.interfaces.attached') === 0 && podsInLastExport(r) === 0, 30_000);
      await new Promise((r) => setTimeout(r, 1_000));
      rss.push(rssMb(agent.pid));
    }
    expect(agent.exited).toBeUndefined();
    expect(rx.latest('fovea.agent.attach.failures') ?? 0).toBe(0);
    // flat: the second round of 100 pods leaves no more behind than the first (allowing for GC noise)
    expect(rss[1]! - rss[0]!, `RSS after round 1 ${rss[0]!.toFixed(1)} MB, after round 2 ${rss[1]!.toFixed(1)} MB`).toBeLessThan(15);
  });
});
