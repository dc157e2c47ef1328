/**
 * Part (g): what the tcp probe (bpf/tcp.bpf.c, five raw tracepoints) costs, with the real agent as a
 * process with its defaults (drop, traffic, tcp and netstack probes, TCP events on), attached to the
 * two lab pods' host veths as in parts (a) and (c):
 *
 *   1. ns per run of each tcp program of the agent (kernel.bpf_stats_enabled=1, run_time_ns ÷
 *      run_cnt from `bpftool -j prog show`, Δ over the window) under a connection storm and under a
 *      bulk transfer (iperf3); bpf_stats_enabled is restored afterwards
 *   2. TCP throughput with the agent ÷ without (bench/throughput-toggle.ts: the agent started and
 *      stopped under one iperf3 stream), with its defaults and in pod mode (--netns: flow records and
 *      DNS on the veths), each judged on the lower bound of the 95% CI of the median pair ratio
 *   3. the agent's CPU while a paced loop in pod 0 opens and closes 10,000 TCP connections/s to
 *      pod 1, and the loop's achieved rate with the agent ÷ without (interleaved rounds, 95% CIs)
 *   4. the agent's VmRSS/VmHWM with 100,000 TCP connections held open between the two pods (several
 *      processes, each within the host's open-file limit), and the kernel memory of the tcp_* maps
 *
 * The load is bench/tcp-load.c (compiled with clang at the start of the part) inside the pods:
 * servers in pod 1 (one process per port), connect loops and holders in pod 0. Pod 0's ephemeral port range is widened and its TIME_WAIT
 * sockets are reusable for new connects (net.ipv4.ip_local_port_range, tcp_tw_reuse: per network
 * namespace, restored at the end), so neither runs out of ports.
 */
import { readFileSync, rmSync } from 'node:fs';
import type { Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/run.js';
import { iperf3Server } from '../src/lab/traffic.js';
import { ATTR, INSTRUMENTS } from '../src/names.js';
import type { OtlpReceiver } from '../src/otlp/receiver.js';
import { bpfFdsOf, exportAfter, startAgent, stopAgent, type AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { enableBpfStats, programDelta, programsOf, restoreBpfStats, type ProgramCounters, type ProgramRuns } from './bpf-stats.js';
import { compileLoad, LoadProcess } from './load-process.js';
import { iperf3Run } from './throughput.js';
import { runThroughputToggle, type ToggleResult, type ToggleSettings } from './throughput-toggle.js';
import {
  MB, meanCi, measureProcess, progress, round, sleep, systemCpu, target,
  type CpuWindow, type MeanCi, type Target,
} from './util.js';

export interface TcpCostSettings {
  /** item 3: the paced connect loop, rounds of (without, with) */
  readonly connect: {
    readonly rate: number;
    /** loop processes, each rate ÷ workers */
    readonly workers: number;
    readonly rounds: number;
    readonly warmupSeconds: number;
    readonly windowSeconds: number;
  };
  /** item 1: program runs under a connection storm and a bulk transfer */
  readonly programs: {
    readonly stormSeconds: number;
    readonly bulkSeconds: number;
    /** every n-th connection of the storm is closed with a reset (SO_LINGER 0) */
    readonly resetEvery: number;
    /** every n-th goes to a port nobody listens on (refused: a reset from no socket) */
    readonly refusedEvery: number;
  };
  /** item 2: the agent with its defaults */
  readonly throughput: ToggleSettings;
  /** item 2, pod mode (settings.netns): flow records and DNS on the veths as well; skipped when absent */
  readonly throughputPods?: ToggleSettings;
  /** item 4 */
  readonly hold: {
    readonly connections: number;
    /** --tcp-max-sockets for this agent: both ends of every connection are sockets of this host */
    readonly maxSockets: number;
    readonly windowSeconds: number;
  };
  /** after the agent attached, before a window */
  readonly settleSeconds: number;
  readonly exportIntervalMs: number;
}

/** Targets (issue 9, item 6). */
const CONNECT_CPU_MAX_PCT = 5;
const THROUGHPUT_MIN_RATIO_PCT = 98;
const HOLD_RSS_MAX_MB = 200;

const PORT_BASE = 6000;
/** nobody listens here in pod 1: connects are refused */
const REFUSED_PORT = 6999;
const IPERF_PORT = 5201;

// ---- the load: bench/tcp-load.c in a pod ----

/** Cumulative counters of a tcp-load process (its mark and result lines). */
export interface LoadMark {
  readonly atMs: number;
  readonly cpuUs: number;
  readonly issued: number;
  readonly connected: number;
  readonly resets: number;
  readonly refused: number;
  readonly errors: number;
  readonly held: number;
  /** connects due by the pace but not issued yet (the loop is behind) */
  readonly skipped: number;
  readonly firstError?: string;
}

async function startServers(lab: Lab, bin: string, ports: readonly number[], hold: boolean, nofile: number): Promise<LoadProcess<LoadMark>[]> {
  const servers = ports.map((port) => LoadProcess.start<LoadMark>(lab, 1, bin, ['server', port, hold ? 1 : 0], nofile));
  try {
    await Promise.all(servers.map((w) => w.ready()));
  } catch (err) {
    await Promise.all(servers.map((w) => w.stop()));
    throw err;
  }
  return servers;
}

/** Hard open-file limit of this process (what `prlimit` may raise its children's soft limit to). */
export function nofileHardLimit(): number {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = m?.[1] === 'unlimited' ? 1_048_576 : Number(m?.[1]);
  if (!Number.isFinite(n) || n < 1024) throw new Error(`cannot read the open-file limit from /proc/self/limits (${m?.[1]})`);
  return n;
}

// ---- per-namespace sysctls of the pods ----

export async function podSysctl(lab: Lab, pod: number, key: string, value?: string): Promise<string> {
  if (value !== undefined) await lab.exec(pod, ['sysctl', '-qw', `${key}=${value}`]);
  return (await lab.exec(pod, ['sysctl', '-n', key])).stdout.trim().replace(/\s+/g, ' ');
}

// ---- the agent's eBPF programs and maps ----

/** The agent's programs named tcp_* with their run counters. */
const tcpPrograms = (pid: number): Promise<ProgramCounters[]> => programsOf(pid, (n) => n.startsWith('tcp_'));

/**
 * tcp probes loaded by other processes (another agent: parallel e2e tests, say): their programs run
 * on the same tracepoints, so the kernel-side cost of a connection grows with each.
 */
async function otherTcpProbes(agentPid: number | undefined): Promise<number> {
  const mine = agentPid === undefined ? new Set<number>() : new Set(bpfFdsOf(agentPid).filter((f) => f.kind === 'prog').map((f) => f.fields['prog_id']));
  const { stdout } = await run(['bpftool', '-j', 'prog', 'show']);
  return (JSON.parse(stdout) as Array<{ id: number; name?: string }>).filter((p) => p.name === 'tcp_set_state' && !mine.has(p.id)).length;
}

export interface MapMemory {
  readonly name: string;
  readonly type: string;
  readonly maxEntries: number;
  readonly bytesMemlock: number;
}

/** The agent's maps named tcp_* (`bpftool -j map show`, ids from the agent's own fds). */
async function tcpMaps(pid: number): Promise<MapMemory[]> {
  const ids = new Set(bpfFdsOf(pid).filter((f) => f.kind === 'map').map((f) => f.fields['map_id']));
  const { stdout } = await run(['bpftool', '-j', 'map', 'show']);
  const maps = JSON.parse(stdout) as Array<{ id: number; name?: string; type?: string; max_entries?: number; bytes_memlock?: number }>;
  return maps.filter((m) => ids.has(m.id) && (m.name ?? '').startsWith('tcp_'))
    .map((m) => ({ name: m.name!, type: m.type ?? '?', maxEntries: m.max_entries ?? 0, bytesMemlock: m.bytes_memlock ?? 0 }))
    .sort((x, y) => y.bytesMemlock - x.bytesMemlock);
}

/** Kernel record failures the agent exported for the tcp probe, by kind (latest values). */
function tcpRecordFailures(receiver: OtlpReceiver): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of receiver.series(INSTRUMENTS.recordFailures.name)) {
    if (s.attrs[ATTR.probe] === 'tcp') out[String(s.attrs[ATTR.failureKind] ?? '?')] = s.value;
  }
  return out;
}

// ---- item 3: the connect loop ----

export interface ConnectWindow {
  readonly mode: 'without' | 'with';
  readonly round: number;
  readonly wallSeconds: number;
  /** connections established per second, Σ over the loop processes */
  readonly achievedPerSecond: number;
  readonly connected: number;
  /** connects due by the pace but not issued at the window's end (Σ over the loop processes): the loop is behind */
  readonly skipped: number;
  readonly errors: number;
  readonly firstError?: string;
  /** CPU of the loop processes, Σ, % of one core */
  readonly loopCpuPct: number;
  readonly machineBusyPct: number;
  /** tcp probes of other processes loaded at the window's end (otherTcpProbes) */
  readonly otherTcpProbes: number;
  /** with: the agent's CPU and memory over the window */
  readonly agent?: CpuWindow;
}

interface LoopOptions {
  readonly rate: number;
  readonly workers: number;
  readonly resetEvery?: number;
  readonly refusedEvery?: number;
}

/** Starts the loop processes (pod 0 → pod 1's servers) and waits until they run. */
async function startLoop(lab: Lab, bin: string, ports: readonly number[], o: LoopOptions, nofile: number): Promise<LoadProcess<LoadMark>[]> {
  const workers: LoadProcess<LoadMark>[] = [];
  try {
    for (let i = 0; i < o.workers; i++) {
      workers.push(LoadProcess.start<LoadMark>(lab, 0, bin, ['connect', lab.pod(1).ip, o.rate / o.workers, o.resetEvery ?? 0, o.refusedEvery ?? 0, REFUSED_PORT, ...ports], nofile));
    }
    await Promise.all(workers.map((w) => w.ready()));
    return workers;
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop()));
    throw err;
  }
}

/** Σ over the loop processes of the counters between two marks. */
function loopDelta(a: readonly LoadMark[], b: readonly LoadMark[]): {
  wallSeconds: number; perSecond: number; connected: number; skipped: number; errors: number; resets: number; refused: number; cpuPct: number; firstError?: string;
} {
  let perSecond = 0, connected = 0, skipped = 0, errors = 0, resets = 0, refused = 0, cpuPct = 0, wall = 0;
  let firstError: string | undefined;
  b.forEach((y, i) => {
    const x = a[i]!;
    const s = (y.atMs - x.atMs) / 1000;
    wall = Math.max(wall, s);
    connected += y.connected - x.connected;
    perSecond += (y.connected - x.connected) / s;
    skipped += y.skipped; // a level (due but not issued), not a count
    errors += y.errors - x.errors;
    resets += y.resets - x.resets;
    refused += y.refused - x.refused;
    cpuPct += ((y.cpuUs - x.cpuUs) / 1e6 / s) * 100;
    firstError ??= y.firstError;
  });
  return { wallSeconds: wall, perSecond, connected, skipped, errors, resets, refused, cpuPct, ...(firstError ? { firstError } : {}) };
}

async function connectWindow(lab: Lab, bin: string, ports: readonly number[], s: TcpCostSettings, nofile: number, round: number,
  agent: AgentProcess | undefined): Promise<ConnectWindow> {
  const c = s.connect;
  const workers = await startLoop(lab, bin, ports, { rate: c.rate, workers: c.workers }, nofile);
  try {
    await sleep(c.warmupSeconds * 1000);
    const sys0 = systemCpu();
    const body = async (): Promise<LoadMark[][]> => {
      const a = await Promise.all(workers.map((w) => w.mark()));
      await sleep(c.windowSeconds * 1000);
      return [a, await Promise.all(workers.map((w) => w.mark()))];
    };
    let marks: LoadMark[][];
    let window: CpuWindow | undefined;
    if (agent) ({ value: marks, window } = await measureProcess(agent.pid, body));
    else marks = await body();
    const sys1 = systemCpu();
    const others = await otherTcpProbes(agent?.pid);
    const d = loopDelta(marks[0]!, marks[1]!);
    const w: ConnectWindow = {
      mode: agent ? 'with' : 'without', round, wallSeconds: round2(d.wallSeconds), achievedPerSecond: d.perSecond, connected: d.connected,
      skipped: d.skipped, errors: d.errors, ...(d.firstError ? { firstError: d.firstError } : {}), loopCpuPct: d.cpuPct,
      machineBusyPct: ((sys1.busy - sys0.busy) / Math.max(1, sys1.total - sys0.total)) * 100,
      otherTcpProbes: others, ...(window ? { agent: window } : {}),
    };
    progress(`g: round ${round} ${w.mode} agent: ${Math.round(w.achievedPerSecond)} connections/s (asked ${c.rate}; behind by ${w.skipped}, errors ${w.errors}${w.firstError ? `: ${w.firstError}` : ''}), ` +
      `loop ${w.loopCpuPct.toFixed(0)}% of a core${others ? `, ${others} other tcp probe(s) loaded` : ''}${window ? `, agent ${window.pctOfOneCore.toFixed(2)}% of a core, VmRSS ${(window.rssMax / MB).toFixed(1)} MB` : ''}, machine ${w.machineBusyPct.toFixed(0)}% busy`);
    return w;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

const round2 = (x: number): number => round(x, 2);

// ---- item 4: connections held open ----

export interface HoldResult {
  readonly connections: number;
  readonly processes: number;
  readonly nofilePerProcess: number;
  readonly held: number;
  readonly errors: number;
  readonly firstError?: string;
  /** slowest holder: time to open its share */
  readonly openSeconds: number;
  /** `ss -s` "estab" in pod 0 and pod 1 while held */
  readonly establishedPod0: number;
  readonly establishedPod1: number;
  /** fovea.tcp.connections{network.connection.state=established} (whole node), first export after all were open */
  readonly agentEstablished: number | undefined;
  readonly agentMaxSockets: number;
  /** the agent before any connection was opened (same process) */
  readonly before: CpuWindow;
  readonly during: CpuWindow;
  readonly recordFailures: Record<string, number>;
  readonly maps: readonly MapMemory[];
  readonly agentCommand: string;
}

/** `ss -s` in a pod: the "estab" count of its TCP line. */
async function establishedIn(lab: Lab, pod: number): Promise<number> {
  const { stdout } = await lab.exec(pod, ['ss', '-s']);
  const m = /^TCP:\s+\d+\s+\(estab (\d+)/m.exec(stdout);
  if (!m) throw new Error(`cannot read ss -s in pod ${pod}: ${stdout.slice(0, 300)}`);
  return Number(m[1]);
}

// ---- item 1: a bulk transfer with item 2's iperf3 settings, every program of the agent timed (bpf_stats on) ----

async function bulkRun(lab: Lab, pid: number, s: TcpCostSettings): Promise<TcpCostResult['programs']['bulk']> {
  const srv = await iperf3Server(lab, 1, { port: IPERF_PORT });
  try {
    const all = (): Promise<ProgramCounters[]> => programsOf(pid, () => true);
    const c0 = await all();
    const t0 = Date.now();
    const ip = await iperf3Run(lab, lab.pod(1).ip, IPERF_PORT, { seconds: s.programs.bulkSeconds, affinity: s.throughput.affinity, length: s.throughput.length });
    const c1 = await all();
    const secs = (Date.now() - t0) / 1000;
    const retransmits = (ip.raw as { end?: { sum_sent?: { retransmits?: number } } }).end?.sum_sent?.retransmits;
    const runs = programDelta(c0, c1, secs);
    const pctOfCore = (runs.reduce((a, x) => a + (x.runs > 0 ? x.nsPerRun * x.runs : 0), 0) / (secs * 1e9)) * 100;
    return { seconds: s.programs.bulkSeconds, gbps: ip.bitsPerSecond / 1e9, retransmits, programs: runs, pctOfCore };
  } finally {
    await srv.stop();
  }
}

// ---- the part ----

export interface TcpCostResult {
  readonly settings: TcpCostSettings;
  readonly agentCommand: string;
  readonly load: string;
  readonly podSysctls: Record<string, string>;
  readonly programs: {
    readonly bpfStatsBefore: string;
    readonly storm: {
      readonly seconds: number; readonly connectionsPerSecond: number; readonly resets: number; readonly refused: number;
      readonly otherTcpProbes: number; readonly programs: readonly ProgramRuns[];
    };
    /**
     * iperf3 with item 2's settings (pinned, same write size) and every program of the agent: the model
     * cross-check of item 2 — Σ ns/run × runs/s is the share of a core the programs take from the
     * saturated data-path core, so with ÷ without should be about 100 % minus it.
     */
    readonly bulk: {
      readonly seconds: number; readonly gbps: number; readonly retransmits: number | undefined; readonly programs: readonly ProgramRuns[];
      /** Σ over the agent's programs of run_time_ns ÷ window ns × 100: % of one core */
      readonly pctOfCore: number;
    };
    /** the same with pod attribution on (--netns of the lab): flow records and DNS on the veths, as on pods' veths in a cluster */
    readonly bulkPods?: TcpCostResult['programs']['bulk'] & { readonly netns: string };
  };
  readonly throughput: ToggleResult;
  /** item 2 in pod mode (--netns of the lab: flow records and DNS on the veths) */
  readonly throughputPods?: ToggleResult;
  readonly connect: {
    readonly windows: readonly ConnectWindow[];
    readonly agentCpuPct: MeanCi;
    readonly agentRssMaxMb: number;
    readonly achievedWith: MeanCi;
    readonly achievedWithout: MeanCi;
    /** with ÷ without per round, % */
    readonly rateRatioPct: MeanCi;
    /** with − without per round: the loop's CPU and the machine's busy share, points (where the kernel-side cost shows while the rate is met) */
    readonly loopCpuDelta: MeanCi;
    readonly machineBusyDelta: MeanCi;
  };
  readonly mapsDefault: readonly MapMemory[];
  readonly hold: HoldResult;
  readonly targets: readonly Target[];
}

export async function runTcpCost(lab: Lab, receiver: OtlpReceiver, s: TcpCostSettings,
  agentOpts: (label: string) => AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<TcpCostResult> {
  const nofile = nofileHardLimit();
  // one server process per port, each holding its share of the held connections within the open-file limit
  const perProcess = nofile - 256;
  const processes = Math.max(2, Math.ceil(s.hold.connections / perProcess));
  const ports = Array.from({ length: processes }, (_, i) => PORT_BASE + i);
  const sysctls = { 'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_tw_reuse': '1' };
  const saved: Record<string, string> = {};
  for (const k of Object.keys(sysctls)) saved[k] = await podSysctl(lab, 0, k);
  let servers: LoadProcess<LoadMark>[] = [];
  let agent: AgentProcess | undefined;
  let bin: string | undefined;
  try {
    bin = await compileLoad('tcp-load');
    for (const [k, v] of Object.entries(sysctls)) await podSysctl(lab, 0, k, v);
    servers = await startServers(lab, bin, ports, false, nofile);
    progress(`g: ${processes} TCP servers in pod 1 (${lab.pod(1).ip}, ports ${ports[0]}–${ports[ports.length - 1]}), open-file limit ${nofile} per process; ` +
      `pod 0: ${Object.entries(sysctls).map(([k, v]) => `${k}=${v}`).join(', ')}`);

    // ---- item 3: agent CPU at the connect rate, and the achieved rate with ÷ without ----
    const windows: ConnectWindow[] = [];
    for (let r = 1; r <= s.connect.rounds; r++) {
      const order: Array<'without' | 'with'> = r % 2 ? ['without', 'with'] : ['with', 'without'];
      for (const mode of order) {
        if (mode === 'without') {
          windows.push(await connectWindow(lab, bin, ports, s, nofile, r, undefined));
          continue;
        }
        agent = await startAgent(receiver, agentOpts(`g-connect${r}`), track, s.settleSeconds);
        windows.push(await connectWindow(lab, bin, ports, s, nofile, r, agent));
        await stopAgent(agent, track);
        agent = undefined;
      }
    }
    const withW = windows.filter((w) => w.mode === 'with');
    const partner = (w: ConnectWindow): ConnectWindow => windows.find((x) => x.mode === 'without' && x.round === w.round)!;
    const ratios = withW.map((w) => (w.achievedPerSecond / partner(w).achievedPerSecond) * 100);
    const connect = {
      windows,
      agentCpuPct: meanCi(withW.map((w) => w.agent!.pctOfOneCore)),
      agentRssMaxMb: Math.max(...withW.map((w) => w.agent!.rssMax)) / MB,
      achievedWith: meanCi(withW.map((w) => w.achievedPerSecond)),
      achievedWithout: meanCi(windows.filter((w) => w.mode === 'without').map((w) => w.achievedPerSecond)),
      rateRatioPct: meanCi(ratios),
      loopCpuDelta: meanCi(withW.map((w) => w.loopCpuPct - partner(w).loopCpuPct)),
      machineBusyDelta: meanCi(withW.map((w) => w.machineBusyPct - partner(w).machineBusyPct)),
    };

    // ---- item 1: program runs under a connection storm and a bulk transfer ----
    agent = await startAgent(receiver, agentOpts('g-programs'), track, s.settleSeconds);
    const agentCommand = agent.argv.join(' ');
    const mapsDefault = await tcpMaps(agent.pid);
    const p = s.programs;
    let programs: TcpCostResult['programs'];
    const bpfStatsBefore = enableBpfStats();
    try {
      progress(`g: kernel.bpf_stats_enabled=1 (was ${bpfStatsBefore}); connection storm ${p.stormSeconds} s at ${s.connect.rate}/s ` +
        `(every ${p.resetEvery}th closed by a reset, every ${p.refusedEvery}th to a closed port)`);
      const loop = await startLoop(lab, bin, ports, { rate: s.connect.rate, workers: s.connect.workers, resetEvery: p.resetEvery, refusedEvery: p.refusedEvery }, nofile);
      let d: ReturnType<typeof loopDelta>;
      let stormRuns: ProgramRuns[];
      let stormOthers = 0;
      try {
        await sleep(1000);
        const m0 = await Promise.all(loop.map((w) => w.mark()));
        const c0 = await tcpPrograms(agent.pid);
        const t0 = Date.now();
        await sleep(p.stormSeconds * 1000);
        const c1 = await tcpPrograms(agent.pid);
        const secs = (Date.now() - t0) / 1000;
        d = loopDelta(m0, await Promise.all(loop.map((w) => w.mark())));
        stormRuns = programDelta(c0, c1, secs);
        stormOthers = await otherTcpProbes(agent.pid);
      } finally {
        await Promise.all(loop.map((w) => w.stop()));
      }
      for (const x of stormRuns) progress(`g: storm: ${x.name}: ${x.runs} runs, ${Number.isFinite(x.nsPerRun) ? x.nsPerRun.toFixed(0) : 'n/a'} ns/run`);

      progress(`g: bulk transfer: iperf3 ${p.bulkSeconds} s, pod 0 → pod 1`);
      const bulk = await bulkRun(lab, agent.pid, s);
      for (const x of bulk.programs) progress(`g: bulk: ${x.name}: ${x.runs} runs, ${Number.isFinite(x.nsPerRun) ? x.nsPerRun.toFixed(0) : 'n/a'} ns/run`);
      progress(`g: bulk: ${bulk.gbps.toFixed(2)} Gbit/s; the agent's programs took ${bulk.pctOfCore.toFixed(2)}% of a core`);
      programs = {
        bpfStatsBefore,
        storm: { seconds: p.stormSeconds, connectionsPerSecond: d.perSecond, resets: d.resets, refused: d.refused, otherTcpProbes: stormOthers, programs: stormRuns },
        bulk,
      };
    } finally {
      restoreBpfStats();
    }
    await stopAgent(agent, track);
    agent = undefined;

    // ---- item 1, model cross-check of item 2 with pod attribution on (flow records on the veths, as on pods' veths in a cluster) ----
    const podGlob = lab.pod(0).netns.replace(/\d+$/, '*');
    const podOpts = agentOpts('g-bulk-pods');
    agent = await startAgent(receiver, { ...podOpts, extraArgs: [...(podOpts.extraArgs ?? []), '--netns', podGlob] }, track, s.settleSeconds);
    enableBpfStats();
    let bulkPods: TcpCostResult['programs']['bulk'];
    try {
      bulkPods = await bulkRun(lab, agent.pid, s);
    } finally {
      restoreBpfStats();
    }
    progress(`g: bulk with --netns ${podGlob}: ${bulkPods.gbps.toFixed(2)} Gbit/s; the agent's programs took ${bulkPods.pctOfCore.toFixed(2)}% of a core`);
    await stopAgent(agent, track);
    agent = undefined;
    programs = { ...programs, bulkPods: { ...bulkPods, netns: podGlob } };

    // ---- item 2: throughput with every probe on ÷ without an agent ----
    const throughput = await runThroughputToggle(lab, s.throughput, agentOpts, track, 'g');
    const throughputPods = s.throughputPods ? await runThroughputToggle(lab, s.throughputPods, agentOpts, track, 'g-pods') : undefined;

    // ---- item 4: memory with many connections held open (servers that keep what they accept) ----
    await Promise.all(servers.map((w) => w.stop()));
    servers = await startServers(lab, bin, ports, true, nofile);
    const h = s.hold;
    const holdOpts = agentOpts('g-hold');
    agent = await startAgent(receiver, { ...holdOpts, extraArgs: [...(holdOpts.extraArgs ?? []), '--tcp-max-sockets', String(h.maxSockets)] }, track, s.settleSeconds);
    const holdCommand = agent.argv.join(' ');
    const before = (await measureProcess(agent.pid, () => sleep(s.exportIntervalMs * 2))).window;
    progress(`g: agent pid ${agent.pid} (--tcp-max-sockets ${h.maxSockets}) before: VmRSS ${(before.rssMax / MB).toFixed(1)} MB; ` +
      `opening ${h.connections} connections from ${processes} processes`);
    const holders: LoadProcess<LoadMark>[] = [];
    let hold: HoldResult;
    try {
      const t0 = Date.now();
      for (let i = 0; i < processes; i++) {
        const count = Math.floor(h.connections / processes) + (i < h.connections % processes ? 1 : 0);
        holders.push(LoadProcess.start<LoadMark>(lab, 0, bin, ['hold', lab.pod(1).ip, count, ports[i]!], nofile));
      }
      const ready = await Promise.all(holders.map((w) => w.ready(300_000)));
      const openedAt = Date.now();
      const held = ready.reduce((a, r) => a + Number(r['held'] ?? 0), 0);
      const errors = ready.reduce((a, r) => a + Number(r['errors'] ?? 0), 0);
      const firstError = ready.map((r) => r['firstError']).find((x) => typeof x === 'string') as string | undefined;
      progress(`g: ${held} connections open in ${((openedAt - t0) / 1000).toFixed(1)} s (${errors} failed${firstError ? `: ${firstError}` : ''})`);
      await exportAfter(receiver, openedAt, s.exportIntervalMs);
      const during = (await measureProcess(agent.pid, () => sleep(h.windowSeconds * 1000))).window;
      const [establishedPod0, establishedPod1] = [await establishedIn(lab, 0), await establishedIn(lab, 1)];
      const agentEstablished = receiver.latest(INSTRUMENTS.tcpConnections.name, { [ATTR.connectionState]: 'established' });
      const maps = await tcpMaps(agent.pid);
      hold = {
        connections: h.connections, processes, nofilePerProcess: nofile, held, errors, ...(firstError ? { firstError } : {}),
        openSeconds: round2((openedAt - t0) / 1000), establishedPod0, establishedPod1, agentEstablished, agentMaxSockets: h.maxSockets,
        before, during, recordFailures: tcpRecordFailures(receiver), maps, agentCommand: holdCommand,
      };
      progress(`g: with ${held} connections held: agent VmRSS max ${(during.rssMax / MB).toFixed(1)} MB, VmHWM ${(during.hwmEnd / MB).toFixed(1)} MB, ` +
        `CPU ${during.pctOfOneCore.toFixed(2)}% of a core; established: ss ${establishedPod0} (pod 0) + ${establishedPod1} (pod 1), agent ${agentEstablished ?? 'n/a'}; ` +
        `tcp_* maps ${(maps.reduce((a, m) => a + m.bytesMemlock, 0) / MB).toFixed(1)} MB`);
    } finally {
      await Promise.all(holders.map((w) => w.stop()));
    }
    await stopAgent(agent, track);
    agent = undefined;

    const c = connect.agentCpuPct;
    const ratioTarget = (id: string, what: string, t: ToggleResult): Target => {
      const ratio = t.real;
      const aa = t.aa;
      return target('g', id, `TCP throughput with the agent (${what}) ÷ without: lower bound of the 95% CI of the ${t.judged} of ` +
        `${ratio.n} pair ratios (adjacent ${t.settings.windowSeconds} s windows of one stream, the agent started and stopped between them; ` +
        `median ${ratio.median.median.toFixed(2)}%, CI ${ratio.median.lo.toFixed(2)}–${ratio.median.hi.toFixed(2)}%; mean ${ratio.mean.mean.toFixed(2)}%, ` +
        `CI ${ratio.mean.lo.toFixed(2)}–${ratio.mean.hi.toFixed(2)}%; A/A pairs in the same run: median ${aa.median.median.toFixed(2)}%, ` +
        `CI ${aa.median.lo.toFixed(2)}–${aa.median.hi.toFixed(2)}%, n ${aa.n})`, t.judgedLo, '>=', THROUGHPUT_MIN_RATIO_PCT, '%', 2);
    };
    const targets: Target[] = [
      ratioTarget('g.throughput-ratio', 'every probe on, its defaults: no flow records', throughput),
      ...(throughputPods ? [ratioTarget('g.throughput-ratio-pods', `every probe on in pod mode, --netns ${throughputPods.netns}: flow records and DNS on both veths`, throughputPods)] : []),
      target('g', 'g.connect-cpu', `agent CPU with ${s.connect.rate.toLocaleString('en-US')} new TCP connections/s asked (achieved ${Math.round(connect.achievedWith.mean).toLocaleString('en-US')}/s), ` +
        (c.n > 1 ? `upper bound of the 95% CI over ${c.n} rounds (mean ${c.mean.toFixed(2)}, CI ${c.lo.toFixed(2)}–${c.hi.toFixed(2)}), ` : 'one window, ') +
        `utime+stime over ${s.connect.windowSeconds} s windows, % of one core`, c.n > 1 ? c.hi : c.mean, '<=', CONNECT_CPU_MAX_PCT, '% core', 2),
      target('g', 'g.hold-rss', `agent VmRSS (largest sample) with ${hold.held.toLocaleString('en-US')} TCP connections held open between two pods (MB = 10^6 bytes)`,
        hold.during.rssMax / MB, '<=', HOLD_RSS_MAX_MB, 'MB', 1),
    ];
    return {
      settings: s, agentCommand,
      load: `bench/tcp-load.c (clang -O2): ${processes} servers in pod 1 (one per port); connect loops and holders in pod 0; each process \`prlimit --nofile=${nofile}\``,
      podSysctls: sysctls, programs, throughput, ...(throughputPods ? { throughputPods } : {}), connect, mapsDefault, hold, targets,
    };
  } finally {
    restoreBpfStats();
    if (agent) { await agent.stop(); track(undefined); }
    await Promise.all(servers.map((w) => w.stop()));
    if (bin) rmSync(bin, { force: true });
    for (const [k, v] of Object.entries(saved)) await podSysctl(lab, 0, k, v).catch(() => undefined);
  }
}
