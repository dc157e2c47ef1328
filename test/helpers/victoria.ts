/**
 * A throw-away VictoriaMetrics single-node (Debian 13 package, see scripts/fetch-deb13.sh) as a real
 * OTLP/HTTP backend answering PromQL. Loopback only, random port, data in a temp dir.
 *
 * Flags, checked against v1.112 (`victoria-metrics -help`, strings of the binary):
 * - OTLP/HTTP protobuf ingestion at `/opentelemetry/v1/metrics`.
 * - `-opentelemetry.usePrometheusNaming`: translates OTLP names the Prometheus way
 *   (`fovea.network.drop.packets` unit `{packet}`, monotonic sum → `fovea_network_drop_packets_total`;
 *   unit `By` → `_bytes`). Without it the name is kept as is (`fovea.network.drop.packets`).
 * - `-search.latencyOffset=0s`: points newer than the offset (default 30s) are otherwise hidden.
 * - `-search.disableCache`: no rollup result cache, so a repeated query sees new samples.
 * - `/internal/force_flush`: makes rows still in memory searchable at once (called before queries).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { victoriaMetricsBinary } from '../../src/otlp/paths.js';
import { ServerProcess } from './server-process.js';

export interface QueryResult {
  /** Label set (including __name__) → value. */
  series: Array<{ labels: Record<string, string>; value: number }>;
}

export class Victoria extends ServerProcess {
  private constructor(proc: ChildProcess, dataDir: string, port: number) {
    super(proc, dataDir, port);
  }

  /** URL to give an OTLP http/protobuf metrics exporter. */
  get otlpMetricsUrl(): string {
    return `${this.baseUrl}/opentelemetry/v1/metrics`;
  }

  static async start(extraFlags: string[] = []): Promise<Victoria> {
    const bin = victoriaMetricsBinary();
    const dataDir = await mkdtemp(join(tmpdir(), 'fovea-vm-'));
    const port = await freePort();
    const proc = spawn(bin, [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${dataDir}`,
      '-retentionPeriod=1d',
      '-search.latencyOffset=0s',
      '-search.disableCache',
      '-opentelemetry.usePrometheusNaming',
      '-loggerLevel=WARN',
      ...extraFlags,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const vm = new Victoria(proc, dataDir, port);
    try {
      await vm.waitHealthy(15_000);
    } catch (err) {
      await vm.stop();
      throw err;
    }
    return vm;
  }

  private waitHealthy(timeoutMs: number): Promise<void> {
    return this.waitHttp('/health', 'victoria-metrics', timeoutMs, 50);
  }

  /** Makes everything ingested so far searchable. */
  async flush(): Promise<void> {
    const r = await fetch(`${this.baseUrl}/internal/force_flush`);
    if (!r.ok) throw new Error(`force_flush: HTTP ${r.status}`);
  }

  /** Instant PromQL query (after a flush). */
  async query(promql: string): Promise<QueryResult> {
    await this.flush();
    const url = `${this.baseUrl}/api/v1/query?query=${encodeURIComponent(promql)}`;
    const r = await fetch(url);
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (!r.ok || body.status !== 'success' || !body.data) {
      throw new Error(`query ${promql}: HTTP ${r.status} ${body.error ?? JSON.stringify(body)}`);
    }
    if (body.data.resultType !== 'vector') throw new Error(`query ${promql}: unexpected ${body.data.resultType}`);
    return { series: body.data.result.map((s) => ({ labels: s.metric, value: Number(s.value[1]) })) };
  }

  /**
   * Polls an instant query until `accept` is true (VictoriaMetrics makes fresh rows searchable
   * within ~1 s even after force_flush); returns the last result, or throws with it on timeout.
   */
  async queryUntil(promql: string, accept: (r: QueryResult) => boolean, timeoutMs = 10_000): Promise<QueryResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.query(promql);
      if (accept(r)) return r;
      if (Date.now() > deadline) {
        throw new Error(`query ${promql}: condition not met in ${timeoutMs} ms; last result ${JSON.stringify(r)}; ` +
          `names stored: ${(await this.metricNames()).join(', ')}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** Every metric name stored (handy when a name translation surprises). */
  async metricNames(): Promise<string[]> {
    await this.flush();
    const r = await fetch(`${this.baseUrl}/api/v1/label/__name__/values`);
    const body = (await r.json()) as { data?: string[] };
    return body.data ?? [];
  }
}

/**
 * Gate for tests needing artifacts from scripts/fetch-deb13.sh. Returns undefined when all checks
 * pass, else the reason to skip. With CI=true a missing artifact is a failure, never a skip: it
 * throws (the test file then fails with the message).
 */
export function missingArtifacts(...checks: Array<() => unknown>): string | undefined {
  const reasons: string[] = [];
  for (const check of checks) {
    try {
      check();
    } catch (err) {
      reasons.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (reasons.length === 0) return undefined;
  const reason = reasons.join('; ');
  if (process.env['CI'] === 'true') throw new Error(`CI=true and a required test artifact is missing: ${reason}`);
  console.warn(`skipping: ${reason}`);
  return reason;
}

/** A TCP port free on 127.0.0.1 right now (closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
