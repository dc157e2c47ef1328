/**
 * `fovea demo`: the whole thing on one machine, no cluster and no collector. Composition only:
 *
 *   lab (pods = netns behind host veths, nft deny rule)      src/lab/
 *   OTLP/gRPC receiver, in process, 127.0.0.1:<random>       src/otlp/receiver.ts
 *   the real agent (same setup as `fovea agent --netns`:     src/agent/, src/export/
 *   the lab's netns are the workloads, pod level and flows)  src/commands/identity-setup.ts
 *   its event outputs: drop events as OTLP logs to the       src/commands/event-outputs.ts
 *   receiver, and the `fovea observe` socket
 *   traffic + drops between the pods                         src/demo/traffic-loop.ts
 *   receiver → model → view, every second                    src/demo/model.ts, received-events.ts, view.ts
 *
 * Shutdown order: traffic → agent (final export; it closes its event outputs, which flushes the
 * last drop events) → kernel counters → lab → receiver → summary.
 * A second Ctrl-C removes the lab at once and exits 130.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@opentelemetry/resources';
import pino from 'pino';
import { Agent, AgentStartError } from '../agent/agent.js';
import type { Config } from '../config/index.js';
import type { EventOutput } from '../events/pipeline.js';
import { createMetricsPipeline } from '../export/metrics-pipeline.js';
import type { OtlpSettings } from '../export/otlp-settings.js';
import { packageVersion } from '../export/resource.js';
import { Lab } from '../lab/lab.js';
import type { LinkStats } from '../lab/kernel-truth.js';
import type { Logger } from '../log.js';
import { MissingArtifactError, otlpProtoDir } from '../otlp/paths.js';
import { OtlpReceiver } from '../otlp/receiver.js';
import { defaultBpfObjectDir } from '../paths.js';
import { DROP_OBJECT, DROP_OBJECT_NO_EVENTS } from '../probes/drop/probe.js';
import { TRAFFIC_OBJECT } from '../probes/traffic/probe.js';
import { acquireDemoLock, defaultRouteInterface, labLeftovers, linkDelta, linkTotals } from '../demo/host.js';
import {
  agentNetfilter, buildModel, buildSummary, nftSide, probeHealth, ReceivedMetrics, type LabInfo, type ObserveStatus, type TruthSample,
} from '../demo/model.js';
import { DEMO_HELP, parseDemoArgs, type DemoOptions } from '../demo/options.js';
import { ReceivedEvents } from '../demo/received-events.js';
import { CLOSED_PORT, TrafficLoop } from '../demo/traffic-loop.js';
import { ansiFrame, observeText, renderSnapshot, renderSummary, renderView } from '../demo/view.js';
import { DEFAULT_OBSERVE_SOCKET } from '../observe/protocol.js';
import { resolveAgentSetup } from './agent-setup.js';
import { createEventOutputs } from './event-outputs.js';
import { buildPods } from './identity-setup.js';
import { EXIT, type Command, type CommandIo } from './types.js';

const LAB_NAME = 'demo';
/** Non-TTY stdout: one snapshot every this many ticks (seconds). */
const SNAPSHOT_EVERY_TICKS = 5;
const SETUP = 'run `npm run demo` (which runs the setup) or';
/** How often the agent looks for new interfaces and pods: the lab's pods are known within a second. */
const RESCAN_INTERVAL = '500ms';
/**
 * Drop events per second per CPU per reason: below the demo's bursts of denied packets, so the
 * in-kernel rate limit acts — events show "+N suppressed" and the summary's reconciliation
 * (events + suppressed + ring_full = drops) covers it.
 */
const DROP_EVENT_RATE = 10;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Try it on this machine (root): a lab of pods, the real agent, real drops, a live view',
  help: () => DEMO_HELP,
  run: runDemo,
};

/** What is missing before anything is created, or undefined. */
function preflight(env: NodeJS.ProcessEnv): string | undefined {
  if (process.getuid?.() !== 0) return 'the demo needs root (network namespaces, eBPF): run it with sudo';
  try {
    otlpProtoDir(env);
  } catch (err) {
    if (err instanceof MissingArtifactError) return err.message.replace(/run (`bash scripts\/fetch-deb13.sh`)$/, `${SETUP} $1`);
    throw err;
  }
  const dir = defaultBpfObjectDir();
  const missing = [DROP_OBJECT, DROP_OBJECT_NO_EVENTS, TRAFFIC_OBJECT].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) return `eBPF objects not built (${missing.map((f) => join(dir, f)).join(', ')}): ${SETUP} \`bash scripts/build.sh\``;
  return undefined;
}

/** The agent must not pick up the user's agent config or OTLP destination: the demo decides both. */
function agentEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) =>
    !k.startsWith('FOVEA_') && !k.startsWith('OTEL_EXPORTER_OTLP') && !k.startsWith('OTEL_METRIC_EXPORT')));
}

async function runDemo(args: string[], io: CommandIo): Promise<number> {
  const parsed = parseDemoArgs(args);
  if (!parsed.ok) {
    io.stderr.write(`fovea demo: ${parsed.message}\n\nRun \`fovea demo --help\` for the options.\n`);
    return EXIT.usage;
  }
  const opts = parsed.options;
  if (opts.help) {
    io.stdout.write(DEMO_HELP + '\n');
    return EXIT.ok;
  }
  const problem = preflight(io.env);
  if (problem) {
    io.stderr.write(`fovea demo: ${problem}\n`);
    return EXIT.failure;
  }
  const lock = acquireDemoLock();
  if (!lock.ok) {
    io.stderr.write(`fovea demo: another fovea demo is running (pid ${lock.holder}); it owns lab '${LAB_NAME}'\n`);
    return EXIT.failure;
  }
  // process.exit on a second Ctrl-C skips `finally`: release the lock on exit too.
  const release = (): void => lock.release();
  process.once('exit', release);
  try {
    return await new DemoRun(opts, io).run();
  } finally {
    process.off('exit', release);
    lock.release();
  }
}

class DemoRun {
  private readonly logFile = join(tmpdir(), `fovea-demo-${process.pid}.log`);
  private readonly logger: Logger;
  private readonly store = new ReceivedMetrics();
  private readonly events = new ReceivedEvents();
  /** Used when the default observe socket is taken (an agent runs on this host). */
  private readonly fallbackObserveSocket = join(tmpdir(), `fovea-demo-${process.pid}.observe.sock`);
  /** Started before the agent; the agent closes them at its stop, tearDown when there is no agent. */
  private eventOutputs: EventOutput[] = [];
  private observe: ObserveStatus | undefined;
  private readonly tty: boolean;
  private readonly color: boolean;
  private receiver: OtlpReceiver | undefined;
  private lab: Lab | undefined;
  private agent: Agent | undefined;
  private traffic: TrafficLoop | undefined;
  private truth: TruthSample | undefined;
  private truthSeq = 0;
  private stopRequested = false;
  private wake: (() => void) | undefined;
  private signals = 0;
  private cursorHidden = false;

  constructor(private readonly opts: DemoOptions, private readonly io: CommandIo) {
    this.logger = pino({ level: 'info', base: { service: 'fovea', demo: true } }, pino.destination({ dest: this.logFile, sync: true }));
    this.tty = io.stdout.isTTY === true;
    const noColor = (io.env['NO_COLOR'] ?? '') !== '' || io.env['TERM'] === 'dumb';
    this.color = this.tty && !noColor;
  }

  private note(msg: string): void {
    this.io.stderr.write(`fovea demo: ${msg}\n`);
  }

  async run(): Promise<number> {
    const onSignal = (sig: NodeJS.Signals): void => this.onSignal(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let startedAt = Date.now();
    try {
      this.note(`agent logs → ${this.logFile}`);
      await this.setUp();
      const baseline = await linkTotals(this.labInterfaces());
      if (!this.stopRequested) {
        this.traffic = await TrafficLoop.start({ lab: this.mustLab() });
        startedAt = Date.now(); // --duration and the view's clock count from here
        this.note(this.opts.durationMs !== undefined
          ? `running for ${Math.round(this.opts.durationMs / 1000)} s${this.opts.view ? '' : ' (no live view)'}`
          : 'running until Ctrl-C');
        await this.liveLoop(startedAt);
      }
      return await this.finish(startedAt, baseline);
    } catch (err) {
      this.restoreCursor();
      const msg = err instanceof Error ? err.message : String(err);
      this.logger.error({ err: msg, stack: (err as Error).stack, agentStart: err instanceof AgentStartError }, 'demo failed');
      this.note(`failed: ${msg} (details in ${this.logFile}); cleaning up`);
      await this.tearDown();
      return EXIT.failure;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.restoreCursor();
    }
  }

  private mustLab(): Lab {
    if (!this.lab) throw new Error('lab not created');
    return this.lab;
  }

  private labInterfaces(): string[] {
    return this.lab?.pods.map((p) => p.hostIfname) ?? [];
  }

  private labInfo(): LabInfo {
    const lab = this.mustLab();
    return {
      name: lab.name, pods: lab.pods.length, netnsPrefix: `fovea-${lab.name}-`, interfaceGlob: `fv${lab.name}-*`,
      nftTable: `inet ${lab.nftTable}`, denyPort: lab.denyPort, closedPort: CLOSED_PORT,
    };
  }

  private async setUp(): Promise<void> {
    this.receiver = await OtlpReceiver.start({ host: '127.0.0.1', port: 0, logger: this.logger });
    this.receiver.on('export', (e) => {
      this.store.ingest(e.request, e.receivedAt);
      // Every export carries every cumulative total, so the store has all it needs: forget the
      // raw request, or a long demo would keep every export in memory.
      this.receiver?.clear();
      this.sampleTruth();
    });
    this.receiver.on('logs', (e) => {
      this.events.ingest(e.request);
      // The store keeps counters and the last few events: forget the raw records (and requests).
      this.receiver?.clear();
    });
    if (this.stopRequested) return;
    this.note(`creating lab '${LAB_NAME}': ${this.opts.pods} pods`);
    this.lab = await Lab.create({ name: LAB_NAME, pods: this.opts.pods, logger: this.logger });
    if (this.stopRequested) return;

    const ifaces = [`fv${LAB_NAME}-*`];
    if (this.opts.hostInterface) {
      const dev = await defaultRouteInterface();
      if (dev) ifaces.push(dev);
      else this.note('no default-route interface found; watching the lab only');
    }
    const setup = resolveAgentSetup([
      ...ifaces.flatMap((i) => ['--interfaces', i]),
      '--export-interval', `${this.opts.intervalMs}ms`,
      '--endpoint', this.receiver.endpoint,
      '--protocol', 'grpc',
      '--log-level', 'info',
      '--shutdown-timeout', '5s',
      // Pod level, standalone: the lab's named netns are the workloads (kind NetworkNamespace).
      '--kubernetes', 'off',
      '--netns', `fovea-${LAB_NAME}-*`,
      '--rescan-interval', RESCAN_INTERVAL,
      '--drop-event-rate', String(DROP_EVENT_RATE),
    ], agentEnv(this.io.env));
    if (setup.ok !== true) throw new Error(`agent setup: ${setup.ok === 'help' ? 'unexpected --help' : setup.message}`);
    const { config, otlp, resource } = setup;
    for (const w of setup.warnings) this.logger.warn(w);
    if (!setup.otlpLogs) this.note('drop events are not exported (no OTLP logs settings): the events panel stays empty');
    this.eventOutputs = await this.startEventOutputs(config, setup.otlpLogs, resource);
    const pods = await buildPods({ kind: 'standalone', netns: config.standalone.netns }, config, this.logger);
    const agent = new Agent({
      config, logger: this.logger, version: packageVersion(), pods, eventOutputs: this.eventOutputs,
      bpfObjectDir: config.bpfObjectDir || defaultBpfObjectDir(),
      createPipeline: (producer) => createMetricsPipeline({
        settings: otlp, resource, logger: this.logger, cardinalityLimit: config.export.cardinalityLimit,
        metricProducers: [producer], shutdownTimeoutMs: config.shutdownTimeoutMs,
      }),
    });
    this.agent = agent;
    this.note(`starting the agent: interfaces ${ifaces.join(', ')}, pods = netns ${config.standalone.netns.join(', ')}, ` +
      `export every ${this.opts.intervalMs} ms to ${this.receiver.endpoint}`);
    this.note(`live stream of drop events (in another terminal, as root): ${observeText(this.observe)}`);
    agent.start();
    // Know the pods (and track their flows) before the traffic starts, so every drop is attributed.
    await agent.refreshPods();
    const down = agent.statuses().filter((s) => s.state !== 'up');
    for (const s of down) this.note(`probe ${s.name} is down: ${s.detail ?? '?'}`);
  }

  /**
   * The agent's event outputs: OTLP logs to the demo's receiver, and `fovea observe` on the default
   * socket, so that `npx fovea observe --follow` works in another terminal. When that socket is
   * taken (an agent runs on this host), a private socket instead; failing that, no observe server.
   */
  private async startEventOutputs(config: Config, logs: OtlpSettings | undefined, resource: Resource): Promise<EventOutput[]> {
    const observeAt = (observe: Partial<Config['observe']>): Config => ({ ...config, observe: { ...config.observe, ...observe } });
    const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err))
      .replace(/^fovea observe socket: /, '').replace(/ \(set observe\.enabled=false or another observe\.socket\)$/, '');
    const socket = config.observe.socket;
    try {
      const outputs = await createEventOutputs(config, logs, resource, this.logger);
      const served = config.observe.enabled && (config.events.drops.enabled || config.events.flows.enabled);
      this.observe = served ? { socket, isDefault: socket === DEFAULT_OBSERVE_SOCKET } : { off: 'events or observe disabled' };
      return outputs;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, socket }, 'observe socket not available; trying a private one');
      this.note(`fovea observe: ${reason(err).split('; ')[0]}; this demo serves it on ${this.fallbackObserveSocket} instead`);
    }
    try {
      const outputs = await createEventOutputs(observeAt({ socket: this.fallbackObserveSocket }), logs, resource, this.logger);
      this.observe = { socket: this.fallbackObserveSocket, isDefault: false };
      return outputs;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'private observe socket not available either; no observe server');
      this.note(`no \`fovea observe\` for this demo (${reason(err)}); drop events still go to the receiver`);
      this.observe = { off: reason(err) };
    }
    return createEventOutputs(observeAt({ enabled: false }), logs, resource, this.logger);
  }

  /** The agent's NETFILTER_DROP as just received, next to the nft counters read right now. */
  private sampleTruth(): void {
    const lab = this.lab;
    if (!lab) return;
    const seq = ++this.truthSeq;
    const agent = agentNetfilter(this.store);
    lab.denyCounters().then((c) => {
      if (seq === this.truthSeq) this.truth = { agent, nft: nftSide(c) };
    }, () => { /* lab going away */ });
  }

  private onSignal(sig: NodeJS.Signals): void {
    this.signals++;
    if (this.signals === 1) {
      this.logger.info({ signal: sig }, 'stopping');
      this.stopRequested = true;
      this.wake?.();
      return;
    }
    // Second signal: best effort — remove the lab (bounded), then exit.
    this.restoreCursor();
    this.note('second signal: removing the lab and exiting now');
    const bound = new Promise((r) => setTimeout(r, 3_000).unref());
    void Promise.race([Lab.cleanupStale(LAB_NAME).catch(() => undefined), bound]).finally(() => process.exit(130));
  }

  private async liveLoop(startedAt: number): Promise<void> {
    const endAt = this.opts.durationMs !== undefined ? startedAt + this.opts.durationMs : Infinity;
    let tick = 0;
    if (this.opts.view && this.tty) {
      this.io.stdout.write('\x1b[?25l\x1b[2J');
      this.cursorHidden = true;
    }
    while (!this.stopRequested && Date.now() < endAt) {
      const waitMs = Math.min(1_000, endAt - Date.now());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, waitMs));
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = undefined;
      tick++;
      if (!this.opts.view) continue;
      const model = this.model(startedAt);
      if (this.tty) this.io.stdout.write(ansiFrame(renderView(model, { color: this.color }), (this.io.stdout as { columns?: number }).columns));
      else if (tick % SNAPSHOT_EVERY_TICKS === 0) this.io.stdout.write(renderSnapshot(model));
    }
  }

  private model(startedAt: number) {
    return buildModel(this.store, {
      nowMs: Date.now(), startedAtMs: startedAt,
      ...(this.opts.durationMs !== undefined ? { durationMs: this.opts.durationMs } : {}),
      lab: this.labInfo(), endpoint: this.receiver?.endpoint ?? '', ...(this.truth ? { truth: this.truth } : {}),
      traffic: this.traffic?.stats() ?? emptyTraffic(), logFile: this.logFile,
      ...(this.observe ? { observe: this.observe } : {}),
    }, this.events);
  }

  /** Orderly end: the summary compares the agent's final export with the kernel's counters. */
  private async finish(startedAt: number, baseline: Map<string, LinkStats>): Promise<number> {
    this.restoreCursor();
    if (!this.traffic) {
      this.note('stopped before the traffic started: cleaning up');
      await this.tearDown();
      return EXIT.ok;
    }
    this.note('stopping: traffic, then the agent (final export)');
    await this.traffic?.stop();
    const probes = probeHealth(this.store);
    // Resolves after the final metrics export AND the flush of the event exporter (the agent
    // awaits its outputs' close): the summary's event reconciliation needs both.
    await this.agent?.stop();
    const lab = this.mustLab();
    const nft = await lab.denyCounters();
    const links = linkDelta(baseline, await linkTotals(this.labInterfaces()));
    const labInfo = this.labInfo();
    const traffic = this.traffic?.stats() ?? emptyTraffic();
    const endpoint = this.receiver?.endpoint ?? '';
    await this.tearDown();
    const leftovers = await labLeftovers(LAB_NAME);
    const summary = buildSummary(this.store, {
      durationMs: Date.now() - startedAt, endpoint, lab: labInfo, nft, links, traffic, leftovers, probes, logFile: this.logFile,
      ...(this.observe ? { observe: this.observe } : {}),
    }, this.events);
    this.logger.info({ summary }, 'demo finished');
    if (this.opts.json) this.io.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    else this.io.stdout.write('\n' + renderSummary(summary, { color: this.color }));
    return leftovers.length === 0 ? EXIT.ok : EXIT.failure;
  }

  /** Best effort, each step on its own: traffic, agent (and its event outputs), lab, receiver. */
  private async tearDown(): Promise<void> {
    await this.traffic?.stop().catch((e: Error) => this.logger.warn({ err: e.message }, 'traffic stop failed'));
    await this.agent?.stop().catch((e: Error) => this.logger.warn({ err: e.message }, 'agent stop failed'));
    if (!this.agent) {
      // Started, but no agent took them over (setup failed or was interrupted in between).
      const outputs = this.eventOutputs;
      this.eventOutputs = [];
      await Promise.all(outputs.map((o) => o.close(1_000).catch((e: Error) => this.logger.warn({ output: o.name, err: e.message }, 'event output close failed'))));
    }
    await this.lab?.destroy().catch((e: Error) => this.note(`could not remove the lab: ${e.message}`));
    await this.receiver?.stop().catch(() => undefined);
  }

  private restoreCursor(): void {
    if (!this.cursorHidden) return;
    this.cursorHidden = false;
    this.io.stdout.write('\x1b[?25h');
  }
}

function emptyTraffic(): ReturnType<TrafficLoop['stats']> {
  return { intensity: 0, tcpTransfers: 0, tcpBytes: 0, udpDatagrams: 0, udpBytes: 0, denyUdp: 0, denyTcp: 0, closedUdp: 0, closedTcp: 0, denyByPod: {}, errors: 0 };
}
