import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// What a fresh Node process has loaded (CommonJS's module cache: every package here is CommonJS, so
// an `import` of one lands there too) after importing the agent's command module from dist/ (built by
// test/global-setup.ts), then after `then` ran. The agent's default configuration — no config file,
// no Prometheus — must not load their packages (src/load-on-use.ts).
function loadedPackages(then = ''): string[] {
  const script = `
    import { createRequire } from 'node:module';
    await import('./dist/src/commands/agent.js');
    ${then}
    const files = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify([...new Set(files.map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f)?.[1]).filter(Boolean))]));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
}

describe('packages the default configuration does not use', () => {
  it('the agent loads neither the YAML parser nor the Prometheus exporter until used', () => {
    const loaded = loadedPackages();
    expect(loaded).toContain('@opentelemetry/sdk-metrics'); // the cache is read right
    expect(loaded).not.toContain('yaml');
    expect(loaded).not.toContain('@opentelemetry/exporter-prometheus');
  });

  it('the OTLP exporters (gRPC and http/protobuf, metrics and events) do not load grpc-js; the Hubble server does', () => {
    // what `fovea agent` imports after loading its probes (src/commands/agent.ts)
    const exporters = `
      const { createOtlpExporter } = await import('./dist/src/export/metrics-pipeline.js');
      const { createOtlpLogExporter } = await import('./dist/src/export/log-queue.js');
      await import('./dist/src/commands/event-outputs.js');
      for (const protocol of ['grpc', 'http/protobuf']) {
        const s = { protocol, endpoint: 'http://127.0.0.1:1', headers: {}, compression: 'none', timeoutMs: 1000, tls: undefined, intervalMs: 1000, exportTimeoutMs: 1000 };
        await createOtlpExporter(s).shutdown();
        await createOtlpLogExporter(s).shutdown();
      }`;
    const loaded = loadedPackages(exporters);
    expect(loaded).toContain('@opentelemetry/otlp-exporter-base');
    expect(loaded).not.toContain('@grpc/grpc-js');
    expect(loadedPackages(`${exporters}\n      await import('./dist/src/hubble/server.js');`)).toContain('@grpc/grpc-js');
  });

  it('a config file loads the YAML parser, a Prometheus reader the exporter', () => {
    const loaded = loadedPackages(`
      const { parseConfigText } = await import('./dist/src/config/file.js');
      if (!parseConfigText('export:\\n  interval: 5s\\n', 'f.yaml').ok) throw new Error('not parsed');
      const { PrometheusMetrics } = await import('./dist/src/export/prometheus.js');
      new PrometheusMetrics({});`);
    expect(loaded).toContain('yaml');
    expect(loaded).toContain('@opentelemetry/exporter-prometheus');
  });
});
