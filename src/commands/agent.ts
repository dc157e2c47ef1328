/** `fovea agent`: runs the node agent until SIGTERM/SIGINT. */
import { startAllocationProfile, startCpuProfile, writeHeapFigures } from '../agent/cpu-profile.js';
import { agentFlagsHelp } from '../config/index.js';
import { ALLOC_PROFILE_ENV, CPU_PROFILE_ENV, HEAP_SNAPSHOT_ENV, MEMORY_REPORT_ENV, PROMOTED_PROFILE_ENV } from '../config/settings.js';
import { Agent, AgentStartError } from '../agent/agent.js';
import { HealthServer } from '../agent/health-server.js';
import { fixMallocThresholds } from '../agent/memory.js';
import { installMemoryReport } from '../agent/memory-report.js';
import { releaseYoungGenerationUnderPressure } from '../agent/young-generation.js';
import type { MetricsPipeline } from '../export/metrics-pipeline.js';
import { PrometheusServer } from '../export/prometheus.js';
import { packageVersion } from '../export/resource.js';
import { createLogger } from '../log.js';
import { defaultBpfObjectDir } from '../paths.js';
import { resolveAgentSetup } from './agent-setup.js';
import { buildPods, chooseIdentity } from './identity-setup.js';
import { kubernetesIdentityFactory } from './kubernetes-setup.js';
import { EXIT, type Command, type CommandIo } from './types.js';
import type { IdentitySource, NodeSource } from '../k8s/types.js';

function isNodeSource(i: IdentitySource): i is IdentitySource & NodeSource {
  const n = i as Partial<NodeSource>;
  return typeof n.nodes === 'function' && typeof n.watchNodes === 'function';
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'Run the node agent: load the eBPF probes, export OTLP metrics and drop/flow events',
  help: () => [
    'Usage: fovea agent [options]',
    '',
    'Loads the eBPF probes (kernel drop reasons, per-interface traffic), reads their maps at every',
    'export and sends cumulative OTLP metrics to a collector; drop events (rate-limited in the kernel)',
    'and, opt-in, flow events go out as OTLP log records and to `fovea observe` on a local socket.',
    'With --prometheus-address it also serves the same metrics on GET /metrics for Prometheus.',
    'Runs standalone unless a node name is given. Stops cleanly on SIGTERM/SIGINT (programs detached,',
    'final export sent).',
    '',
    agentFlagsHelp(),
    '',
    'Exit codes: 0 stopped cleanly, 1 could not start, 2 invalid configuration, 70 fatal (could not',
    'return to its own network namespace after reading a pod\'s counters: it stops rather than go on).',
  ].join('\n'),
  run: runAgent,
};

async function runAgent(args: string[], io: CommandIo): Promise<number> {
  const setup = resolveAgentSetup(args, io.env);
  if (setup.ok === 'help') {
    io.stdout.write(agentCommand.help() + '\n');
    return EXIT.ok;
  }
  if (!setup.ok) {
    io.stderr.write(`fovea agent: invalid configuration:\n${setup.message}\n`);
    return EXIT.usage;
  }
  const { config, otlp, otlpLogs, resource } = setup;
  const logger = createLogger(config.logLevel);
  for (const w of setup.warnings) logger.warn(w);
  fixMallocThresholds(logger);
  const memoryReportFile = io.env[MEMORY_REPORT_ENV];
  const removeMemoryReport = memoryReportFile ? installMemoryReport(memoryReportFile, logger) : undefined;
  if (!setup.otlpMetrics) {
    logger.info({ prometheusAddress: config.prometheus.address, events: otlpLogs !== undefined },
      'no OTLP endpoint configured: metrics are served on /metrics only, not sent over OTLP');
  }
  let pods;
  try {
    pods = await buildPods(chooseIdentity(config, io.env), config, logger, kubernetesIdentityFactory(logger, config.hubble.enabled));
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'identity source failed to start');
    io.stderr.write(`fovea agent: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  let pipeline: MetricsPipeline | undefined;
  let createMetricsPipeline: typeof import('../export/metrics-pipeline.js').createMetricsPipeline | undefined;
  const agent = new Agent({
    config, logger, version: packageVersion(), pods,
    bpfObjectDir: config.bpfObjectDir || defaultBpfObjectDir(),
    createPipeline: (producer) => (pipeline = createMetricsPipeline!({
      settings: otlp, otlp: setup.otlpMetrics, prometheus: config.prometheus.address !== '',
      resource, logger, cardinalityLimit: config.export.cardinalityLimit,
      metricProducers: [producer], shutdownTimeoutMs: config.shutdownTimeoutMs,
    })),
  });
  /** After a failed start step: AgentStartError and `what`'s errors end in EXIT.failure, other errors of the agent are rethrown. */
  const startFailed = async (err: unknown, what?: string): Promise<number> => {
    await agent.stop(); // unloads what was loaded, stops the identity source
    if (err instanceof AgentStartError) {
      logger.error(err.message);
      io.stderr.write(`fovea agent: ${err.message}\n`);
      return EXIT.failure;
    }
    if (what === undefined) throw err;
    logger.error({ err: (err as Error).message }, `${what} failed to start`);
    io.stderr.write(`fovea agent: ${(err as Error).message}\n`);
    return EXIT.failure;
  };
  // The BPF objects load first, before the export modules (the OpenTelemetry SDK and its exporters): libbpf
  // parses the kernel's BTF for each object, two copies of it for a moment (5.5 MB each here); with
  // the whole module graph loaded before, that moment was the agent's start-up peak
  // (docs/benchmark.md, "Peak memory").
  try {
    agent.loadProbes();
  } catch (err) {
    return startFailed(err);
  }
  let eventOutputs;
  try {
    const [outputs, metrics] = await Promise.all([import('./event-outputs.js'), import('../export/metrics-pipeline.js')]);
    createMetricsPipeline = metrics.createMetricsPipeline;
    const identity = pods?.identity;
    eventOutputs = await outputs.createEventOutputs(config, otlpLogs, resource, logger, {
      ...(identity ? { identity } : {}),
      ...(identity && isNodeSource(identity) ? { nodes: identity } : {}),
    });
  } catch (err) {
    return startFailed(err, 'event outputs');
  }
  try {
    agent.start(eventOutputs);
  } catch (err) {
    return startFailed(err);
  }
  // Listeners that exist only when configured; a port that cannot be served stops the agent.
  let health: HealthServer | undefined;
  let prometheus: PrometheusServer | undefined;
  try {
    if (pipeline?.prometheus) {
      prometheus = await PrometheusServer.start({ address: config.prometheus.address, metrics: pipeline.prometheus, logger });
    }
    if (config.health.address) {
      // live while collections keep coming: a few export intervals of slack
      health = await HealthServer.start({
        address: config.health.address, state: () => agent.healthState(),
        staleAfterMs: Math.max(3 * otlp.intervalMs, 30_000), logger,
      });
    }
  } catch (err) {
    await agent.stop();
    await prometheus?.stop();
    logger.error({ err: (err as Error).message }, 'an endpoint failed to start');
    io.stderr.write(`fovea agent: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  const profileFile = io.env[CPU_PROFILE_ENV];
  const profile = profileFile ? await startCpuProfile(profileFile, logger) : undefined;
  const allocFile = io.env[ALLOC_PROFILE_ENV];
  const promotedFile = io.env[PROMOTED_PROFILE_ENV];
  const allocations = allocFile ? await startAllocationProfile(allocFile, logger, 'all')
    : promotedFile ? await startAllocationProfile(promotedFile, logger, 'promoted') : undefined;
  // started after start-up, whose own scavenges (BPF objects, the first discovery) are no storm
  const stopWatchingScavenges = releaseYoungGenerationUnderPressure(logger);
  const code = await waitForSignal(agent, config.shutdownTimeoutMs, logger);
  stopWatchingScavenges();
  await profile?.stop();
  await allocations?.stop();
  const heapFile = io.env[HEAP_SNAPSHOT_ENV];
  if (heapFile) writeHeapFigures(heapFile, logger);
  await health?.stop();
  await prometheus?.stop();
  removeMemoryReport?.();
  return code;
}

/** Resolves with the exit code after the first SIGTERM/SIGINT; a second signal or the deadline forces it. */
function waitForSignal(agent: Agent, shutdownTimeoutMs: number, logger: ReturnType<typeof createLogger>): Promise<number> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30); // the export timer is unref'd; this keeps us running
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(130);
      }
      logger.info({ signal: sig }, 'stopping');
      const force = setTimeout(() => {
        logger.error({ shutdownTimeoutMs }, 'shutdown deadline passed: exiting');
        process.exit(1);
      }, shutdownTimeoutMs + 500);
      force.unref();
      agent.stop().then(() => {
        clearInterval(keepAlive);
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve(EXIT.ok);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
