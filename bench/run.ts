/**
 * Fovea benchmark v1: one run, ten parts, one report.
 *
 *   (a) TCP throughput between two lab pods, agent attached vs not (alternating, same run)
 *   (b) the tc program's cost per packet through BPF_PROG_TEST_RUN, next to an empty baseline
 *   (c) the agent's CPU and memory, idle and during a drop storm, and exact drop counts
 *   (d) the agent's CPU and memory with 10k and 100k active flows (pod attribution on), and the
 *       share of the generated flows the kernel flow table holds
 *   (e) drop events under a ≥ 1M drops/s storm: agent CPU/RSS, events delivered, suppressed
 *       counts reconciled with the kernel's, latency from a drop to `fovea observe` and to OTLP
 *   (f) Hubble API: flows/s GetFlows delivers to one and to 8 clients from paced drop storms (25k, 55k,
 *       100k drops/s), with the agent's CPU and memory, mean and 95% CI over interleaved rounds
 *   (g) the tcp probe's cost: ns per run of each tcp program (connection storm, bulk transfer), TCP
 *       throughput with every probe on ÷ no agent (95% CI), agent CPU at 10k new connections/s,
 *       agent memory with 100k connections held open, kernel memory of the tcp_* maps
 *   (h) a DNS storm (50k queries/s asked, 1 in 10 NXDOMAIN) between two lab pods: agent CPU/RSS and
 *       the storm's rate with ÷ without the agent (95% CIs over interleaved rounds), pod DNS counts
 *       and NXDOMAIN events reconciled with the load's own counts, tc program ns/run DNS on vs off
 *   (i) the agent's idle CPU and VmHWM with 50 pods, pod mode and node level, beside Node's own floor
 *   (j) TCP throughput with many flows (16 iperf3 streams and 1,000 new connections/s) with the agent
 *       in pod mode, flow events on, toggled underneath as in part g: ratio with a 95% CI, A/A floor,
 *       agent CPU, flow records exported against the connections made
 *
 * Usage (as root, after `bash scripts/build.sh`): node dist/bench/run.js [--quick] [--only a,b,c,d,e,f,g,h,i,j]
 * Writes bench/results/latest.json (all raw numbers) and bench/results/latest.md (the report) when
 * every part runs; a run of some parts (--only) writes bench/results/part-<parts>.json and .md
 * instead, so that it never replaces the last full run (test/deploy reads latest.json's targets).
 * Exit code: 0 when every selected part ran (targets may still be missed — the report says),
 * 1 when a part failed to run, 2 for bad arguments, 130/143 when interrupted.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { Lab } from '../src/lab/lab.js';
import { OtlpReceiver } from '../src/otlp/receiver.js';
import { packageRoot } from '../src/paths.js';
import { endStaleAgent, type AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { runAgentCost, type AgentCostSettings } from './agent-cost.js';
import { runFlows, type FlowsSettings } from './flows.js';
import { machineInfo } from './machine.js';
import { renderMarkdown, type BenchResults } from './report.js';
import { runEventsStorm, type EventsStormSettings } from './events-storm.js';
import { runHubbleFlows, type HubbleFlowsConfig, type HubbleFlowsSettings } from './hubble-flows.js';
import { tearDown as tearDownStorm } from './storm.js';
import { runTcCost, type TcCostSettings } from './tc-cost.js';
import { restoreBpfStats } from './bpf-stats.js';
import { runDnsStorm, type DnsStormSettings } from './dns-storm.js';
import { runTcpCost, type TcpCostSettings } from './tcp-cost.js';
import { runIdleCost, type IdleCostSettings } from './idle-cost.js';
import { runThroughput, type ThroughputSettings } from './throughput.js';
import { G_TOGGLE, type ToggleSettings } from './throughput-toggle.js';
import { runManyFlows, type ManyFlowsSettings } from './many-flows.js';
import { PART_IDS, progress, type PartId, type Target } from './util.js';

const LAB_NAME = 'bnch'; // lab names are ≤ 4 chars: pods' host veths are fvbnch-0, fvbnch-1
const INTERFACES = `fv${LAB_NAME}-*`;
const EXPORT_INTERVAL_MS = 5_000;
const TC_LIMIT_NS = 50;
/** Part d has its own three-pod lab (pod attribution: --netns/--interfaces of that lab only). */
const LAB_D = 'bnfl';
const INTERFACES_D = `fv${LAB_D}-*`;
const NETNS_D = `fovea-${LAB_D}-*`;
/** Part i has its own lab of many pods (idle cost in pod mode). */
const LAB_I = 'bnid';
const INTERFACES_I = `fv${LAB_I}-*`;
/** The interval of the issue's CPU target ("averaged at a 10 s export interval"). */
const EXPORT_INTERVAL_D_MS = 10_000;
/** Part f's agent exports metrics where nothing listens (the Hubble API is what it measures). */
const NO_COLLECTOR = 'http://127.0.0.1:1';
/**
 * Part f's configurations. The target's "≥ 50,000 flows/s" is judged on the lower bound of a 95%
 * CI of the delivered rate, which cannot clear 50,000 when exactly 50,000 drops/s are offered (a
 * client cannot receive more than is offered): the target configuration offers 10% more, 55,000/s,
 * so the interval can say "met" when nothing is lost — and its CPU is measured at that higher rate.
 */
const F_CONFIGS: readonly HubbleFlowsConfig[] = [
  { id: '55k/0 clients', offeredPps: 55_000, streams: 0, mask: false },
  { id: '25k/1 client', offeredPps: 25_000, streams: 1, mask: false },
  { id: '55k/1 client', offeredPps: 55_000, streams: 1, mask: false },
  { id: '100k/1 client', offeredPps: 100_000, streams: 1, mask: false },
  { id: '55k/8 clients', offeredPps: 55_000, streams: 8, mask: false },
  { id: '55k/1 client, CLI mask', offeredPps: 55_000, streams: 1, mask: true },
];

interface Settings {
  readonly a: ThroughputSettings;
  readonly b: TcCostSettings;
  readonly c: AgentCostSettings;
  readonly d: FlowsSettings;
  readonly e: EventsStormSettings;
  readonly f: HubbleFlowsSettings;
  readonly g: TcpCostSettings;
  readonly h: DnsStormSettings;
  readonly i: IdleCostSettings;
  readonly j: ManyFlowsSettings;
}

function settingsFor(quick: boolean): Settings {
  return {
    a: quick
      ? { pairs: 2, seconds: 2, warmupSeconds: 1, exportIntervalMs: EXPORT_INTERVAL_MS }
      : { pairs: 8, seconds: 5, warmupSeconds: 2, exportIntervalMs: EXPORT_INTERVAL_MS },
    b: { repeat: 1_000_000, rounds: quick ? 3 : 7, frameSizes: [64, 1500] },
    c: quick
      ? { idleSeconds: 5, stormSeconds: 5, referenceStormSeconds: 3, settleSeconds: 2, exportIntervalMs: EXPORT_INTERVAL_MS, floodProcesses: 2 }
      : { idleSeconds: 30, stormSeconds: 30, referenceStormSeconds: 10, settleSeconds: 5, exportIntervalMs: EXPORT_INTERVAL_MS, floodProcesses: 2 },
    d: quick
      ? { flowCounts: [1_000, 5_000], windowSeconds: 12, periodMs: 3_000, settleSeconds: 1, exportIntervalMs: EXPORT_INTERVAL_D_MS }
      : { flowCounts: [10_000, 100_000], windowSeconds: 60, periodMs: 5_000, settleSeconds: 3, exportIntervalMs: EXPORT_INTERVAL_D_MS },
    e: quick
      ? { stormSeconds: 3, settleSeconds: 1, exportIntervalMs: EXPORT_INTERVAL_MS, ratePerCpu: 100, singleDrops: 5, referenceSeconds: 2, statsSeconds: 2 }
      : { stormSeconds: 10, settleSeconds: 2, exportIntervalMs: EXPORT_INTERVAL_MS, ratePerCpu: 100, singleDrops: 20, referenceSeconds: 5, statsSeconds: 5 },
    f: {
      rounds: quick ? 2 : 4, warmupSeconds: quick ? 1 : 1.5, windowSeconds: quick ? 2 : 6, settleSeconds: 0.5,
      // BENCH_F_CONFIGS="55k/0 clients;55k/1 client": only these configurations (iterating on one figure)
      exportIntervalMs: EXPORT_INTERVAL_D_MS, ratePerCpu: 200_000,
      configs: process.env['BENCH_F_CONFIGS'] ? F_CONFIGS.filter((c) => process.env['BENCH_F_CONFIGS']!.split(';').includes(c.id)) : F_CONFIGS,
      targetConfig: '55k/1 client', targetFlowsPerSecond: 50_000, targetCpuPct: 25,
    },
    g: {
      connect: { rate: 10_000, workers: 2, rounds: quick ? 1 : 4, warmupSeconds: 2, windowSeconds: quick ? 5 : 15 },
      programs: { stormSeconds: quick ? 3 : 10, bulkSeconds: quick ? 3 : 10, resetEvery: 7, refusedEvery: 11 },
      // throughput: see docs/benchmark.md ("Throughput: why part a's pairs spread, and what part g does") and bench/throughput-toggle.ts;
      // BENCH_G_TOGGLE='{"segments":2}' overrides these settings, of both configurations (iterating; bench/manual/throughput-toggle.mjs
      // runs the measure alone). Two configurations, one after the other: the agent's defaults, and pod mode (--netns: flow records
      // and DNS on the veths); G_TOGGLE's 8 connections in 1,230 s are split between them (5 + 5 in at most 800 s each) so the part
      // stays near 30 min. BENCH_G_TOGGLE_DEFAULTS='{"segments":1}' overrides the defaults configuration's alone (after
      // BENCH_G_TOGGLE), e.g. to spend a short run's time on pod mode; the report gives each configuration's pair count.
      throughput: {
        ...(quick ? { ...G_TOGGLE, segments: 1, cyclesPerSegment: 2, shamEvery: 2 } : { ...G_TOGGLE, segments: 5, maxSeconds: 800 }),
        ...(process.env['BENCH_G_TOGGLE'] ? JSON.parse(process.env['BENCH_G_TOGGLE']) as Partial<ToggleSettings> : {}),
        ...(process.env['BENCH_G_TOGGLE_DEFAULTS'] ? JSON.parse(process.env['BENCH_G_TOGGLE_DEFAULTS']) as Partial<ToggleSettings> : {}),
      },
      throughputPods: {
        ...(quick ? { ...G_TOGGLE, segments: 1, cyclesPerSegment: 2, shamEvery: 2 } : { ...G_TOGGLE, segments: 5, maxSeconds: 800 }),
        ...(process.env['BENCH_G_TOGGLE'] ? JSON.parse(process.env['BENCH_G_TOGGLE']) as Partial<ToggleSettings> : {}),
        netns: true,
      },
      hold: { connections: quick ? 10_000 : 100_000, maxSockets: 262_144, windowSeconds: quick ? 6 : 20 },
      settleSeconds: quick ? 1 : 3,
      exportIntervalMs: EXPORT_INTERVAL_MS,
    },
    h: {
      rate: 50_000, generators: 2, responders: 2, sockets: 64, nxEvery: 10,
      rounds: quick ? 1 : 4, warmupSeconds: 2, windowSeconds: quick ? 5 : 15, drainMs: 500,
      programRounds: quick ? 1 : 2, programSeconds: quick ? 3 : 10,
      settleSeconds: quick ? 1 : 3, exportIntervalMs: EXPORT_INTERVAL_MS, eventRatePerCpu: 100,
    },
    // BENCH_I='{"rounds":3}' overrides these settings (~8.5 min a round with the steady-state window at 180 s, ~3 min with
    // "steadyStartSeconds":0; 5 rounds by default: with 3, the 95% CI's t is 4.30 and no idle figure can show a target met)
    i: {
      ...(quick
        ? { pods: 10, rounds: 1, settleSeconds: 5, windowSeconds: 10, steadyStartSeconds: 0, exportIntervalMs: EXPORT_INTERVAL_D_MS }
        : { pods: 50, rounds: 5, settleSeconds: 15, windowSeconds: 60, steadyStartSeconds: 180, exportIntervalMs: EXPORT_INTERVAL_D_MS }),
      ...(process.env['BENCH_I'] ? JSON.parse(process.env['BENCH_I']) as Partial<IdleCostSettings> : {}),
    },
    // part g's toggle under many flows (bench/many-flows.ts, docs/benchmark.md "Part j"); BENCH_J_TOGGLE='{"segments":2}' overrides the toggle,
    // BENCH_J_CONNECT='{"rate":1000}' the connect loop (iterating)
    j: {
      toggle: {
        ...G_TOGGLE, streams: 16, exportIntervalMs: 1_000,
        ...(quick ? { segments: 1, cyclesPerSegment: 4, shamEvery: 2, maxSeconds: 120 } : { segments: 6, cyclesPerSegment: 16, maxSeconds: 900 }),
        ...(process.env['BENCH_J_TOGGLE'] ? JSON.parse(process.env['BENCH_J_TOGGLE']) as Partial<ToggleSettings> : {}),
      },
      connect: { rate: 1_000, workers: 1, ports: 4, ...(process.env['BENCH_J_CONNECT'] ? JSON.parse(process.env['BENCH_J_CONNECT']) as Partial<ManyFlowsSettings['connect']> : {}) },
      loadCpu: 1, benchCpu: 0, exportIntervalMs: 1_000,
    },
  };
}

const USAGE = 'Usage: node dist/bench/run.js [--quick] [--only a,b,c,d,e,f,g,h,i,j]\n' +
  '  --quick      short durations and few flows (a smoke test of the benchmark, not a measurement)\n' +
  '  --only LIST  run only these parts: a (throughput), b (tc cost), c (agent CPU/RSS, drop storm),\n' +
  '               d (agent CPU/RSS with 10k and 100k active flows, share of flows counted),\n' +
  '               e (drop events under a 1M drops/s storm: CPU/RSS, reconciliation, latency),\n' +
  '               f (Hubble API: flows/s to 1 and 8 GetFlows clients, agent CPU/RSS, 95% CIs)\n' +
  '               g (tcp probe: ns/run per program, throughput ratio with a 95% CI, agent CPU at\n' +
  '               10k connections/s, agent memory with 100k connections open)\n' +
  '               h (DNS storm at 50k queries/s: agent CPU/RSS, rate ratio with a 95% CI, exact pod\n' +
  '               DNS counts and NXDOMAIN events, tc program ns/run with DNS on vs --no-dns)\n' +
  '               i (idle CPU and VmHWM with 50 pods, pod mode and node level, Node\'s own floor)\n' +
  '               j (TCP throughput with many flows, agent in pod mode with flow events toggled\n' +
  '               underneath: ratio with a 95% CI, A/A floor, agent CPU, flow records exported)\n' +
  '               A run of some parts writes bench/results/part-<parts>.{json,md}, not latest.*\n';

function parseCli(argv: string[]): { quick: boolean; parts: PartId[] } | undefined {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return undefined;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const parts = values.only === undefined ? [...PART_IDS] : values.only.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = parts.filter((p) => !(PART_IDS as readonly string[]).includes(p));
  if (bad.length || parts.length === 0) {
    process.stderr.write(`--only: unknown part(s) ${bad.join(', ') || '(none given)'}; use ${PART_IDS.join(', ')}\n${USAGE}`);
    return undefined;
  }
  return { quick: values.quick ?? false, parts: PART_IDS.filter((p) => parts.includes(p)) };
}

/** Everything that must not outlive the bench: the agent, the lab, the receiver. Idempotent. */
class Resources {
  lab: Lab | undefined;
  labD: Lab | undefined;
  labI: Lab | undefined;
  receiver: OtlpReceiver | undefined;
  agent: AgentProcess | undefined;
  private closing: Promise<void> | undefined;

  close(): Promise<void> {
    this.closing ??= (async () => {
      const steps: Array<[string, () => Promise<unknown> | undefined]> = [
        ['stop the agent', () => this.agent?.stop()],
        ['destroy the lab', () => this.lab?.destroy()],
        ['destroy the lab of part d', () => this.labD?.destroy()],
        ['destroy the lab of part i', () => this.labI?.destroy()],
        ['remove the storm veth of parts e and f', () => tearDownStorm()],
        ['restore kernel.bpf_stats_enabled', () => { restoreBpfStats(); return undefined; }],
        ['stop the OTLP receiver', () => this.receiver?.stop()],
      ];
      for (const [what, step] of steps) {
        try { await step(); } catch (err) { process.stderr.write(`bench: cleanup: could not ${what}: ${(err as Error).message}\n`); }
      }
    })();
    return this.closing;
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const cli = parseCli(argv);
  if (!cli) return 2;
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, nft, eBPF programs)\n');
    return 1;
  }
  const root = packageRoot();
  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  for (const f of readdirSync(resultsDir)) if (/^tmp-agent-.*\.log$/.test(f)) rmSync(join(resultsDir, f), { force: true });
  const pidPath = join(resultsDir, 'tmp-agent.pid');
  const stale = endStaleAgent(pidPath, INTERFACES);
  if (stale) progress(`ended agent pid ${stale} left behind by an earlier bench run`);
  const pidPathD = join(resultsDir, 'tmp-agent-d.pid');
  const staleD = endStaleAgent(pidPathD, INTERFACES_D);
  if (staleD) progress(`ended agent pid ${staleD} left behind by an earlier bench run (part d)`);

  const startedAt = new Date();
  const command = `node ${relative(root, process.argv[1] ?? 'dist/bench/run.js')}${argv.length ? ` ${argv.join(' ')}` : ''}`;
  const settings = settingsFor(cli.quick);
  const res = new Resources();
  let signalled = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signalled > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    progress(`${sig}: cleaning up (again to exit at once)`);
    void res.close().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const agentOpts = (label: string): AgentProcessOptions => ({
    root, endpoint: res.receiver!.endpoint, interfaces: INTERFACES, exportIntervalMs: EXPORT_INTERVAL_MS,
    logPath: join(resultsDir, `tmp-agent-${label}.log`), pidPath,
  });
  const agentOptsD: () => AgentProcessOptions = () => ({
    root, endpoint: res.receiver!.endpoint, interfaces: INTERFACES_D, exportIntervalMs: EXPORT_INTERVAL_D_MS,
    logPath: join(resultsDir, 'tmp-agent-d.log'), pidPath: pidPathD, extraArgs: ['--netns', NETNS_D],
  });
  const track = (a: AgentProcess | undefined): void => { res.agent = a; };

  progress(`Fovea benchmark v1 (${cli.quick ? 'quick' : 'full'}), parts ${cli.parts.join(', ')}`);
  const machine = await machineInfo(root);
  progress(`machine: ${machine.cpuModel}, ${machine.cores} cores, kernel ${machine.kernel}, Node ${machine.node}, ${machine.libbpf}`);

  const out: { a?: BenchResults['a']; b?: BenchResults['b']; c?: BenchResults['c']; d?: BenchResults['d']; e?: BenchResults['e']; f?: BenchResults['f']; g?: BenchResults['g']; h?: BenchResults['h']; i?: BenchResults['i']; j?: BenchResults['j'] } = {};
  const errors: Array<{ part: PartId | 'setup'; message: string }> = [];
  try {
    if (cli.parts.some((p) => p !== 'b' && p !== 'f')) res.receiver = await OtlpReceiver.start();
    if (cli.parts.some((p) => p === 'a' || p === 'c' || p === 'g' || p === 'h' || p === 'j')) {
      res.lab = await Lab.create({ name: LAB_NAME, pods: 2 });
      progress(`lab ${LAB_NAME}: ${res.lab.pods.map((p) => `${p.hostIfname} ↔ ${p.ip}`).join(', ')}; OTLP receiver ${res.receiver!.endpoint}`);
    }
    const parts: Record<PartId, () => Promise<void>> = {
      a: async () => { out.a = await runThroughput(res.lab!, res.receiver!, settings.a, agentOpts, track); },
      b: async () => { out.b = await runTcCost(root, settings.b, TC_LIMIT_NS); },
      c: async () => { out.c = await runAgentCost(res.lab!, res.receiver!, settings.c, agentOpts('c'), track); },
      d: async () => {
        res.labD = await Lab.create({ name: LAB_D, pods: 3 });
        progress(`d: lab ${LAB_D}: ${res.labD.pods.map((p) => `${p.hostIfname} ↔ ${p.ip}`).join(', ')}`);
        try {
          out.d = await runFlows(res.labD, res.receiver!, settings.d, agentOptsD(), track);
        } finally {
          await res.labD.destroy();
          res.labD = undefined;
        }
      },
      e: async () => { out.e = await runEventsStorm(root, res.receiver!, settings.e, agentOpts('e'), track); },
      f: async () => {
        out.f = await runHubbleFlows(settings.f, {
          root, endpoint: NO_COLLECTOR, interfaces: INTERFACES, exportIntervalMs: settings.f.exportIntervalMs,
          logPath: join(resultsDir, 'tmp-agent-f.log'), pidPath,
          // BENCH_AGENT_WRAPPER=<script>: start part f's agent through a wrapper (a profiler, say)
          ...(process.env['BENCH_AGENT_WRAPPER'] ? { entry: process.env['BENCH_AGENT_WRAPPER'] } : {}),
        }, track);
      },
      // part g's agents serve `fovea observe` on their own socket: an agent already running on this machine may hold the default one
      g: async () => {
        const observe = join(tmpdir(), `fovea-bench-g-observe-${process.pid}.sock`);
        out.g = await runTcpCost(res.lab!, res.receiver!, settings.g, (l) => ({ ...agentOpts(l), extraArgs: ['--observe-socket', observe] }), track);
      },
      h: async () => { out.h = await runDnsStorm(res.lab!, res.receiver!, settings.h, agentOpts, track); },
      i: async () => {
        res.labI = await Lab.create({ name: LAB_I, pods: settings.i.pods });
        progress(`i: lab ${LAB_I}: ${settings.i.pods} pods (${res.labI.pods[0]!.hostIfname} … ${res.labI.pods[settings.i.pods - 1]!.hostIfname})`);
        try {
          out.i = await runIdleCost(res.labI, res.receiver!, settings.i, (label) => ({ ...agentOpts(label), interfaces: INTERFACES_I }), track);
        } finally {
          await res.labI.destroy();
          res.labI = undefined;
        }
      },
      // like part g's agents: an own `fovea observe` socket
      j: async () => {
        const observe = join(tmpdir(), `fovea-bench-j-observe-${process.pid}.sock`);
        out.j = await runManyFlows(res.lab!, res.receiver!, settings.j, (l) => ({ ...agentOpts(l), extraArgs: ['--observe-socket', observe] }), track);
      },
    };
    for (const p of cli.parts) {
      if (signalled) break; // interrupted: cleanup is running, results will not be written
      progress(`part ${p}: start`);
      try {
        await parts[p]();
        progress(`part ${p}: done`);
      } catch (err) {
        if (signalled) break;
        const message = (err as Error).stack ?? String(err);
        errors.push({ part: p, message: (err as Error).message ?? String(err) });
        progress(`part ${p}: FAILED: ${message}`);
        await res.agent?.stop();
        res.agent = undefined;
      }
    }
  } catch (err) {
    errors.push({ part: 'setup', message: (err as Error).message ?? String(err) });
    progress(`setup FAILED: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await res.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const finishedAt = new Date();
  const targets: Target[] = [...(out.a?.targets ?? []), ...(out.b?.targets ?? []), ...(out.c?.targets ?? []), ...(out.d?.targets ?? []), ...(out.e?.targets ?? []), ...(out.f?.targets ?? []), ...(out.g?.targets ?? []), ...(out.h?.targets ?? []), ...(out.i?.targets ?? []), ...(out.j?.targets ?? [])];
  const results: BenchResults = {
    benchmark: 'fovea-bench', version: 1,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(),
    durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    command, mode: cli.quick ? 'quick' : 'full', parts: cli.parts, machine, ...out, errors, targets,
  };
  const base = cli.parts.length === PART_IDS.length ? 'latest' : `part-${cli.parts.join('')}`;
  writeFileSync(join(resultsDir, `${base}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(resultsDir, `${base}.md`), renderMarkdown(results, `${base}.json`));
  progress(`wrote ${relative(process.cwd(), join(resultsDir, `${base}.json`))} and ${base}.md`);
  for (const t of targets) {
    progress(`${t.pass ? 'pass' : 'MISS'}  ${t.id}: ${t.measured} ${t.unit} (${t.op} ${t.limit}; ${t.marginText})`);
  }
  return errors.length ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
