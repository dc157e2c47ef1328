/**
 * A throw-away Prometheus server (Debian 13's `prometheus` package, extracted — never installed,
 * so no service starts — by `scripts/setup.sh --test` into .cache/deb13-tools) scraping what the
 * test gives it. Loopback only, random port, data in a temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ServerProcess } from './server-process.js';
import { freePort, type QueryResult } from './victoria.js';

const REPO = join(import.meta.dirname, '..', '..');
const BINARY = join(REPO, '.cache/deb13-tools/root/usr/bin/prometheus');

/** The extracted prometheus binary; throws (for missingArtifacts) when it is not there. */
export function prometheusBinary(): string {
  if (!existsSync(BINARY)) throw new Error(`prometheus not found at ${BINARY} — run: bash scripts/setup.sh --test`);
  return BINARY;
}

export interface ScrapeTarget {
  health: string;
  lastError: string;
  scrapePool: string;
  scrapeUrl: string;
  labels: Record<string, string>;
}

export interface TargetMetadata { metric: string; type: string; help: string; unit: string }

export class Prometheus extends ServerProcess {
  private constructor(proc: ChildProcess, dir: string, port: number) {
    super(proc, dir, port);
  }

  /** Starts Prometheus with these scrape configs (prometheus.yml `scrape_configs`) and a global scrape interval. */
  static async start(scrapeConfigs: ReadonlyArray<Record<string, unknown>>, scrapeInterval = '1s'): Promise<Prometheus> {
    const bin = prometheusBinary();
    const dir = await mkdtemp(join(tmpdir(), 'fovea-prometheus-'));
    const port = await freePort();
    await writeFile(join(dir, 'prometheus.yml'), stringify({
      global: { scrape_interval: scrapeInterval, scrape_timeout: scrapeInterval, evaluation_interval: '1m' },
      scrape_configs: scrapeConfigs,
    }));
    const proc = spawn(bin, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
      '--log.level=warn',
    ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new Prometheus(proc, dir, port);
    try {
      await p.waitReady(20_000);
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  private waitReady(timeoutMs: number): Promise<void> {
    return this.waitHttp('/-/ready', 'prometheus', timeoutMs, 100);
  }

  private async api<T>(path: string): Promise<T> {
    const r = await fetch(`${this.baseUrl}${path}`);
    const body = (await r.json()) as { status: string; error?: string; data?: T };
    if (!r.ok || body.status !== 'success' || body.data === undefined) throw new Error(`${path}: HTTP ${r.status} ${body.error ?? JSON.stringify(body)}`);
    return body.data;
  }

  /** Instant PromQL query, evaluated now. */
  async query(promql: string): Promise<QueryResult> {
    const data = await this.api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> | [number, string] }>(
      `/api/v1/query?query=${encodeURIComponent(promql)}`);
    if (data.resultType === 'scalar') {
      const [, v] = data.result as [number, string];
      return { series: [{ labels: {}, value: Number(v) }] };
    }
    if (data.resultType !== 'vector') throw new Error(`query ${promql}: unexpected ${data.resultType}`);
    return { series: (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({ labels: s.metric, value: Number(s.value[1]) })) };
  }

  /** Polls an instant query until `accept` is true; returns the last result, or throws with it on timeout. */
  async queryUntil(promql: string, accept: (r: QueryResult) => boolean, timeoutMs = 15_000): Promise<QueryResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.query(promql);
      if (accept(r)) return r;
      if (Date.now() > deadline) {
        throw new Error(`query ${promql}: condition not met in ${timeoutMs} ms; last result ${JSON.stringify(r)}; targets ${JSON.stringify(await this.targets())}`);
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  /** Active scrape targets with their health and last scrape error. */
  async targets(): Promise<ScrapeTarget[]> {
    return (await this.api<{ activeTargets: ScrapeTarget[] }>('/api/v1/targets')).activeTargets;
  }

  /** Metric metadata (type, help, unit) Prometheus read from a job's scrapes. */
  async metadata(job: string): Promise<TargetMetadata[]> {
    return this.api<TargetMetadata[]>(`/api/v1/targets/metadata?match_target=${encodeURIComponent(`{job="${job}"}`)}`);
  }
}
