/**
 * Part (h): a DNS storm between two lab pods, and what DNS observability (the traffic probe's tc
 * programs on the pods' host veths: bpf/traffic.bpf.c track_dns) costs and counts. The real agent
 * runs as a process with its defaults, pod attribution on (`--netns` of the lab: the tc programs
 * look at DNS only on interfaces they keep flow records for, pods' veths).
 *
 * The load is bench/dns-load.c (compiled with clang at the start of the part): responders in pod 1
 * answer every UDP query on port 53 at once (NOERROR with one A answer, NXDOMAIN for "nx…" names),
 * generators in pod 0 send A queries paced at the asked rate (1 in 10 for "nxN.storm.lab") over a
 * few sockets each, and count what they sent and the responses they got by code.
 *
 *   1. interleaved rounds without / with the agent: the storm's achieved rate (responses the
 *      generators received per second) with ÷ without (95% CI over the rounds), the agent's CPU
 *      (utime+stime of all its threads over the window, % of one core) and VmRSS / VmHWM
 *   2. in every round with the agent, exactness against the load's own counts: the client pod's
 *      fovea.pod.dns.queries = queries sent, fovea.pod.dns.responses by code = responses received
 *      by code; the server pod's = what the responders received and answered; NXDOMAIN events
 *      received over OTLP + the fovea.events.suppressed they carry + the kernel's pending count
 *      (dns_event_limits) = the NXDOMAIN responses the agent counted, and the kernel's events per CPU
 *      within the rate limit (events.dns.ratePerCpu, 100/s per CPU per slot)
 *   3. ns per run of traffic_ingress / traffic_egress (kernel.bpf_stats_enabled=1, restored) under
 *      the same storm, with DNS on (defaults) and with --no-dns, in alternating windows
 */
import { rmSync } from 'node:fs';
import type { Lab } from '../src/lab/lab.js';
import { ATTR, EVENT, INSTRUMENTS } from '../src/names.js';
import type { OtlpReceiver } from '../src/otlp/receiver.js';
import { run } from '../src/lab/run.js';
import { DNS_EVENT_SLOT } from '../src/probes/dns/layout.js';
// the layout of every Fovea event limit (FOVEA_EVENT_RESERVE), dns_event_limits' too
import { DROP_EVENT_LIMIT as L } from '../src/probes/drop/layout.js';
import { bpfFdsOf, exportAfter, startAgent, stopAgent, waitFlowsTracked, type AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { enableBpfStats, programDelta, programsOf, restoreBpfStats, type ProgramRuns } from './bpf-stats.js';
import { compileLoad, LoadProcess } from './load-process.js';
import { MB, meanCi, measureProcess, progress, round, sleep, systemCpu, target, type CpuWindow, type MeanCi, type Target } from './util.js';

export interface DnsStormSettings {
  /** queries per second asked of the generators together */
  readonly rate: number;
  /** generator processes in pod 0, each at rate ÷ generators */
  readonly generators: number;
  /** responder processes in pod 1 (sharing port 53: SO_REUSEPORT) */
  readonly responders: number;
  /** sockets (source ports) per generator */
  readonly sockets: number;
  /** every n-th query asks for an "nx" name (NXDOMAIN) */
  readonly nxEvery: number;
  /** rounds of (without, with), the order alternating */
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly windowSeconds: number;
  /** after the last query, how long the generators wait for responses still on their way */
  readonly drainMs: number;
  /** item 3: windows per mode (DNS on, --no-dns), the order alternating, and their length */
  readonly programRounds: number;
  readonly programSeconds: number;
  /** after the agent attached (and flow records are on for both veths), before the storm */
  readonly settleSeconds: number;
  readonly exportIntervalMs: number;
  /** the agent's events.dns.ratePerCpu: its default, not passed (checked against what the kernel emitted) */
  readonly eventRatePerCpu: number;
}

/** Target (issue 10, item 6). */
const STORM_CPU_MAX_PCT = 10;
const DNS_PORT = 53;
const RCODE_NOERROR = 0;
const RCODE_NXDOMAIN = 3;

// ---- the load ----

/** Cumulative counters of a dns-load generator (`query`). */
interface QueryMark {
  readonly atMs: number;
  readonly cpuUs: number;
  readonly sent: number;
  readonly nxSent: number;
  readonly received: number;
  readonly unexpected: number;
  readonly errors: number;
  /** queries due by the pace but not sent yet (a level: the loop is behind) */
  readonly skipped: number;
  readonly rcodes: readonly number[];
  readonly firstError?: string;
}

/** Cumulative counters of a dns-load responder (`serve`). */
interface ServeMark {
  readonly atMs: number;
  readonly cpuUs: number;
  readonly received: number;
  readonly answered: number;
  readonly noerror: number;
  readonly nxdomain: number;
  readonly malformed: number;
  readonly errors: number;
}

interface Load {
  readonly lab: Lab;
  readonly bin: string;
  readonly s: DnsStormSettings;
  readonly responders: ReadonlyArray<LoadProcess<ServeMark>>;
}

async function startGenerators(l: Load): Promise<Array<LoadProcess<QueryMark>>> {
  const gens: Array<LoadProcess<QueryMark>> = [];
  try {
    for (let i = 0; i < l.s.generators; i++) {
      gens.push(LoadProcess.start<QueryMark>(l.lab, 0, l.bin,
        ['query', l.lab.pod(1).ip, DNS_PORT, l.s.rate / l.s.generators, 0, l.s.sockets, l.s.nxEvery, l.s.drainMs]));
    }
    await Promise.all(gens.map((g) => g.ready()));
    return gens;
  } catch (err) {
    await Promise.all(gens.map((g) => g.stop()));
    throw err;
  }
}

/** Ends the generators (SIGTERM: they stop sending, wait drainMs for responses, print their totals). */
async function stopGenerators(gens: ReadonlyArray<LoadProcess<QueryMark>>): Promise<QueryMark[]> {
  const results = await Promise.all(gens.map((g) => g.stop()));
  return results.map((r, i) => {
    if (r.event !== 'result') throw new Error(`dns-load generator ${i} ended without its result`);
    return r as unknown as QueryMark;
  });
}

/** Σ over the processes of what changed between two marks of each. */
function sumDelta<M extends { atMs: number; cpuUs: number }>(a: readonly M[], b: readonly M[], key: (m: M) => number): number {
  return b.reduce((acc, y, i) => acc + key(y) - key(a[i]!), 0);
}

/** A pod's UDP counters (/proc/net/snmp of its netns): datagrams its sockets could not take show here. */
async function udpCounters(lab: Lab, pod: number): Promise<Record<string, number>> {
  const { stdout } = await lab.exec(pod, ['cat', '/proc/net/snmp']);
  const [head, values] = stdout.split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.trim().split(/\s+/).slice(1));
  if (!head || !values) throw new Error(`no Udp lines in /proc/net/snmp of pod ${pod}`);
  return Object.fromEntries(head.map((k, i) => [k, Number(values[i])]));
}

function udpDelta(a: Record<string, number>, b: Record<string, number>): UdpErrors {
  const d = (k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
  return { inErrors: d('InErrors'), rcvbufErrors: d('RcvbufErrors'), sndbufErrors: d('SndbufErrors'), noPorts: d('NoPorts') };
}

export interface UdpErrors {
  readonly inErrors: number;
  readonly rcvbufErrors: number;
  readonly sndbufErrors: number;
  readonly noPorts: number;
}

// ---- what the agent exported and what its kernel side holds ----

/** Per-CPU counters of the DNS event limit's "failed" slot (dns_event_limits[0], bpf/dns.h), via bpftool. */
export interface EventLimitCpu {
  readonly cpu: number;
  readonly emitted: number;
  readonly suppressed: number;
  readonly ringFull: number;
  readonly pending: number;
}

async function dnsFailedLimits(pid: number): Promise<EventLimitCpu[]> {
  const ids = new Set(bpfFdsOf(pid).filter((f) => f.kind === 'map').map((f) => f.fields['map_id']));
  const maps = JSON.parse((await run(['bpftool', '-j', 'map', 'show'])).stdout) as Array<{ id: number; name?: string }>;
  // kernel object names are cut at 15 characters: dns_event_limits → dns_event_limit
  const m = maps.find((x) => ids.has(x.id) && (x.name ?? '').startsWith('dns_event_limit'));
  if (!m) throw new Error(`the agent (pid ${pid}) holds no dns_event_limits map`);
  // without the map's BTF, bpftool prints keys and values as arrays of hex bytes ("0x2a")
  const dump = JSON.parse((await run(['bpftool', '-j', 'map', 'dump', 'id', String(m.id)])).stdout) as Array<{
    key: number | string[]; values?: Array<{ cpu: number; value: string[] | Record<string, number> }>;
  }>;
  const bytes = (x: string[]): Buffer => Buffer.from(x.map((b) => parseInt(b, 16)));
  const failed = dump.find((e) => (Array.isArray(e.key) ? bytes(e.key).readUInt32LE(0) : Number(e.key)) === DNS_EVENT_SLOT.failed);
  if (!failed?.values) throw new Error(`no failed slot in dns_event_limits (map id ${m.id}): ${JSON.stringify(dump).slice(0, 300)}`);
  return failed.values.map(({ cpu, value }) => {
    if (!Array.isArray(value)) {
      return { cpu, emitted: Number(value['emitted']), suppressed: Number(value['suppressed']), ringFull: Number(value['ring_full']), pending: Number(value['pending']) };
    }
    const b = bytes(value);
    const u64 = (off: number): number => Number(b.readBigUInt64LE(off));
    return { cpu, emitted: u64(L.emitted), suppressed: u64(L.suppressed), ringFull: u64(L.ringFull), pending: u64(L.pending) };
  });
}

/** What the agent counted for one pod in one role, from the latest export. */
export interface RoleCounts {
  readonly queries: number;
  readonly responses: number;
  readonly noerror: number;
  readonly nxdomain: number;
  readonly timeouts: number;
  /** mean of fovea.pod.dns.lookup.duration (client: the wait for the answer; server: the time to answer), µs */
  readonly meanLatencyUs: number;
}

function roleCounts(receiver: OtlpReceiver, pod: string, role: 'client' | 'server'): RoleCounts {
  const at = { [ATTR.podName]: pod, [ATTR.dnsRole]: role };
  const v = (name: string, extra: Record<string, string> = {}): number => receiver.latest(name, { ...at, ...extra }) ?? 0;
  const h = receiver.series(INSTRUMENTS.podDnsDuration.name).filter((s) => s.attrs[ATTR.podName] === pod && s.attrs[ATTR.dnsRole] === role);
  const count = h.reduce((a, s) => a + (s.histogram?.count ?? 0), 0);
  const sum = h.reduce((a, s) => a + (s.histogram?.sum ?? 0), 0);
  return {
    queries: v(INSTRUMENTS.podDnsQueries.name), responses: v(INSTRUMENTS.podDnsResponses.name),
    noerror: v(INSTRUMENTS.podDnsResponses.name, { [ATTR.dnsResponseCode]: 'NOERROR' }),
    nxdomain: v(INSTRUMENTS.podDnsResponses.name, { [ATTR.dnsResponseCode]: 'NXDOMAIN' }),
    timeouts: v(INSTRUMENTS.podDnsTimeouts.name),
    meanLatencyUs: count ? (sum / count) * 1e6 : NaN,
  };
}

/** The agent's kernel record failures of DNS (dns_map_full, dns_pending_full, dns_malformed), latest values. */
function dnsRecordFailures(receiver: OtlpReceiver): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of receiver.series(INSTRUMENTS.recordFailures.name)) {
    const kind = String(s.attrs[ATTR.failureKind] ?? '');
    if (kind.startsWith('dns_')) out[kind] = s.value;
  }
  return out;
}

// ---- one window of the storm ----

export interface Exactness {
  /** from the generators' start to their end (drain included), s */
  readonly stormSeconds: number;
  readonly generators: {
    readonly sent: number; readonly nxSent: number; readonly received: number; readonly noerror: number; readonly nxdomain: number;
    readonly otherCodes: number; readonly unexpected: number; readonly errors: number;
  };
  readonly responders: { readonly received: number; readonly answered: number; readonly noerror: number; readonly nxdomain: number; readonly malformed: number };
  /** datagrams the pods' sockets could not take (pod 0: responses, pod 1: queries) */
  readonly udpErrors: { readonly client: UdpErrors; readonly server: UdpErrors };
  readonly client: RoleCounts;
  readonly server: RoleCounts;
  readonly recordFailures: Record<string, number>;
  readonly events: {
    /** fovea.dns.message events with NXDOMAIN received at the OTLP receiver, per view, and Σ of their fovea.events.suppressed */
    readonly client: number;
    readonly server: number;
    readonly carriedClient: number;
    readonly carriedServer: number;
    /** other fovea.dns.message / fovea.dns.timeout events received (none expected) */
    readonly other: number;
    /** fovea.agent.events.read{fovea.dns.message} and fovea.agent.events.suppressed{fovea.dns.message, failed}, latest */
    readonly agentRead: number;
    readonly agentSuppressed: number;
    /** the failed slot of dns_event_limits per CPU, read from the kernel after the storm */
    readonly kernel: readonly EventLimitCpu[];
  };
}

export interface StormWindow {
  readonly mode: 'without' | 'with';
  readonly round: number;
  readonly wallSeconds: number;
  readonly sentPerSecond: number;
  /** responses the generators received per second: the storm's achieved rate */
  readonly achievedPerSecond: number;
  /** queries due but not sent at the window's end, Σ over the generators */
  readonly skipped: number;
  readonly errors: number;
  readonly firstError?: string;
  /** CPU of the generators and responders, Σ, % of one core */
  readonly loadCpuPct: number;
  readonly machineBusyPct: number;
  readonly agent?: CpuWindow;
  readonly exact?: Exactness;
}

function rateLine(w: Pick<StormWindow, 'achievedPerSecond' | 'sentPerSecond' | 'skipped' | 'errors' | 'firstError' | 'loadCpuPct' | 'machineBusyPct'>, asked: number): string {
  return `${Math.round(w.achievedPerSecond)} answered/s, ${Math.round(w.sentPerSecond)} sent/s (asked ${asked}; behind by ${w.skipped}, ` +
    `errors ${w.errors}${w.firstError ? `: ${w.firstError}` : ''}), load ${w.loadCpuPct.toFixed(0)}% of a core, machine ${w.machineBusyPct.toFixed(0)}% busy`;
}

async function stormWindow(l: Load, receiver: OtlpReceiver, roundNo: number, agent: AgentProcess | undefined): Promise<StormWindow> {
  const s = l.s;
  const serve0 = await Promise.all(l.responders.map((r) => r.mark()));
  const udp0 = await Promise.all([udpCounters(l.lab, 0), udpCounters(l.lab, 1)]);
  const t0 = Date.now();
  const gens = await startGenerators(l);
  let marks: { q: QueryMark[][]; r: ServeMark[][] };
  let window: CpuWindow | undefined;
  let totals: QueryMark[];
  let sys: { busy: number; total: number }[];
  try {
    await sleep(s.warmupSeconds * 1000);
    const body = async (): Promise<typeof marks> => {
      const q0 = await Promise.all(gens.map((g) => g.mark()));
      const r0 = await Promise.all(l.responders.map((r) => r.mark()));
      await sleep(s.windowSeconds * 1000);
      return { q: [q0, await Promise.all(gens.map((g) => g.mark()))], r: [r0, await Promise.all(l.responders.map((r) => r.mark()))] };
    };
    const sys0 = systemCpu();
    if (agent) ({ value: marks, window } = await measureProcess(agent.pid, body));
    else marks = await body();
    sys = [sys0, systemCpu()];
  } finally {
    totals = await stopGenerators(gens);
  }
  const stormSeconds = (Date.now() - t0) / 1000;
  const [q0, q1] = marks.q as [QueryMark[], QueryMark[]];
  const [r0, r1] = marks.r as [ServeMark[], ServeMark[]];
  const wall = Math.max(...q1.map((y, i) => (y.atMs - q0[i]!.atMs) / 1000));
  const perSecond = (key: (m: QueryMark) => number): number => q1.reduce((a, y, i) => a + (key(y) - key(q0[i]!)) / ((y.atMs - q0[i]!.atMs) / 1000), 0);
  const cpuPct = (sumDelta(q0, q1, (m) => m.cpuUs) + sumDelta(r0, r1, (m) => m.cpuUs)) / 1e6 / wall * 100;
  const firstError = q1.map((m) => m.firstError).find((x) => x !== undefined);
  const w = {
    mode: agent ? 'with' as const : 'without' as const, round: roundNo, wallSeconds: round(wall, 2),
    sentPerSecond: perSecond((m) => m.sent), achievedPerSecond: perSecond((m) => m.received),
    skipped: q1.reduce((a, m) => a + m.skipped, 0), errors: sumDelta(q0, q1, (m) => m.errors), ...(firstError ? { firstError } : {}),
    loadCpuPct: cpuPct, machineBusyPct: ((sys[1]!.busy - sys[0]!.busy) / Math.max(1, sys[1]!.total - sys[0]!.total)) * 100,
    ...(window ? { agent: window } : {}),
  };
  progress(`h: round ${roundNo} ${w.mode} agent: ${rateLine(w, s.rate)}` +
    (window ? `; agent ${window.pctOfOneCore.toFixed(2)}% of a core, VmRSS ${(window.rssMax / MB).toFixed(1)} MB, VmHWM ${(window.hwmEnd / MB).toFixed(1)} MB` : ''));
  if (!agent) return w;

  // ---- exactness: every message of this agent's life was the storm's ----
  const serve1 = await Promise.all(l.responders.map((r) => r.mark()));
  const udp1 = await Promise.all([udpCounters(l.lab, 0), udpCounters(l.lab, 1)]);
  const quiet = Date.now();
  await exportAfter(receiver, quiet, s.exportIntervalMs);
  await exportAfter(receiver, Date.now(), s.exportIntervalMs); // and one more: the events' last batch is out too
  const kernel = await dnsFailedLimits(agent.pid);
  const code = (c: number): number => totals.reduce((a, m) => a + (m.rcodes[c] ?? 0), 0);
  const received = totals.reduce((a, m) => a + m.received, 0);
  const sd = (key: (m: ServeMark) => number): number => sumDelta(serve0, serve1, key);
  const events = receiver.logRecords().filter((r) => r.eventName === EVENT.dns || r.eventName === EVENT.dnsTimeout);
  const nx = (view: string) => events.filter((r) => r.eventName === EVENT.dns && r.attrs[ATTR.dnsResponseCode] === 'NXDOMAIN' && r.attrs[ATTR.dnsView] === view);
  const carried = (rs: ReturnType<typeof nx>): number => rs.reduce((a, r) => a + Number(r.attrs[ATTR.eventsSuppressed] ?? 0), 0);
  const [nxClient, nxServer] = [nx('client'), nx('server')];
  const exact: Exactness = {
    stormSeconds: round(stormSeconds, 2),
    generators: {
      sent: totals.reduce((a, m) => a + m.sent, 0), nxSent: totals.reduce((a, m) => a + m.nxSent, 0), received,
      noerror: code(RCODE_NOERROR), nxdomain: code(RCODE_NXDOMAIN), otherCodes: received - code(RCODE_NOERROR) - code(RCODE_NXDOMAIN),
      unexpected: totals.reduce((a, m) => a + m.unexpected, 0), errors: totals.reduce((a, m) => a + m.errors, 0),
    },
    responders: { received: sd((m) => m.received), answered: sd((m) => m.answered), noerror: sd((m) => m.noerror), nxdomain: sd((m) => m.nxdomain), malformed: sd((m) => m.malformed) },
    udpErrors: { client: udpDelta(udp0[0]!, udp1[0]!), server: udpDelta(udp0[1]!, udp1[1]!) },
    client: roleCounts(receiver, l.lab.pod(0).netns, 'client'),
    server: roleCounts(receiver, l.lab.pod(1).netns, 'server'),
    recordFailures: dnsRecordFailures(receiver),
    events: {
      client: nxClient.length, server: nxServer.length, carriedClient: carried(nxClient), carriedServer: carried(nxServer),
      other: events.length - nxClient.length - nxServer.length,
      agentRead: receiver.latest(INSTRUMENTS.eventsRead.name, { [ATTR.eventName]: EVENT.dns }) ?? 0,
      agentSuppressed: receiver.latest(INSTRUMENTS.eventsSuppressed.name, { [ATTR.eventName]: EVENT.dns, [ATTR.dnsEventSlot]: 'failed' }) ?? 0,
      kernel,
    },
  };
  const c = exact.client;
  const g = exact.generators;
  const e = exact.events;
  const pending = kernel.reduce((a, x) => a + x.pending, 0);
  progress(`h: round ${roundNo}: client pod: queries ${c.queries} (sent ${g.sent}), NOERROR ${c.noerror} (received ${g.noerror}), NXDOMAIN ${c.nxdomain} (received ${g.nxdomain}); ` +
    `server pod: queries ${exact.server.queries} (responders received ${exact.responders.received}), NOERROR ${exact.server.noerror} / NXDOMAIN ${exact.server.nxdomain} ` +
    `(answered ${exact.responders.noerror} / ${exact.responders.nxdomain}); NXDOMAIN events ${e.client} client + ${e.server} server, carried ${e.carriedClient + e.carriedServer}, ` +
    `kernel pending ${pending}: ${e.client + e.server + e.carriedClient + e.carriedServer + pending} of ${c.nxdomain + exact.server.nxdomain}; ` +
    `kernel emitted per CPU ${kernel.map((k) => k.emitted).join('/')} in ${stormSeconds.toFixed(1)} s`);
  return { ...w, exact };
}

// ---- item 3: the tc programs' cost per run, DNS on vs off ----

export interface ProgramWindow {
  readonly mode: 'dns' | 'no-dns';
  readonly round: number;
  readonly seconds: number;
  readonly achievedPerSecond: number;
  readonly programs: readonly ProgramRuns[];
}

async function programWindow(l: Load, receiver: OtlpReceiver, agentOpts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void,
  mode: ProgramWindow['mode'], roundNo: number): Promise<ProgramWindow> {
  const agent = await startStormAgent(l, receiver, { ...agentOpts, extraArgs: [...(agentOpts.extraArgs ?? []), ...(mode === 'no-dns' ? ['--no-dns'] : [])] }, track);
  try {
    const gens = await startGenerators(l);
    let programs: ProgramRuns[];
    let achieved: number;
    let seconds: number;
    try {
      await sleep(l.s.warmupSeconds * 1000);
      const m0 = await Promise.all(gens.map((g) => g.mark()));
      const c0 = await programsOf(agent.pid, (n) => n.startsWith('traffic_'));
      const t0 = Date.now();
      await sleep(l.s.programSeconds * 1000);
      const c1 = await programsOf(agent.pid, (n) => n.startsWith('traffic_'));
      seconds = (Date.now() - t0) / 1000;
      const m1 = await Promise.all(gens.map((g) => g.mark()));
      programs = programDelta(c0, c1, seconds);
      achieved = m1.reduce((a, y, i) => a + (y.received - m0[i]!.received) / ((y.atMs - m0[i]!.atMs) / 1000), 0);
    } finally {
      await stopGenerators(gens);
    }
    progress(`h: ${mode} round ${roundNo}: ${Math.round(achieved)} answered/s; ` +
      programs.map((p) => `${p.name} ${Number.isFinite(p.nsPerRun) ? p.nsPerRun.toFixed(0) : 'n/a'} ns/run (${Math.round(p.runsPerSecond)} runs/s)`).join(', '));
    return { mode, round: roundNo, seconds: round2(seconds), achievedPerSecond: achieved, programs };
  } finally {
    await stopAgent(agent, track);
  }
}

const round2 = (x: number): number => round(x, 2);

/** The agent with pod attribution, attached, with flow records (and so DNS) on for both pod veths. */
async function startStormAgent(l: Load, receiver: OtlpReceiver, opts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<AgentProcess> {
  const agent = await startAgent(receiver, opts, track, 0);
  try {
    await waitFlowsTracked(opts.logPath, `fv${l.lab.name}-`, 2, 30_000);
    await sleep(l.s.settleSeconds * 1000);
    return agent;
  } catch (err) {
    await agent.stop();
    track(undefined);
    throw err;
  }
}

// ---- the part ----

export interface DnsStormResult {
  readonly settings: DnsStormSettings;
  readonly agentCommand: string;
  readonly load: string;
  readonly windows: readonly StormWindow[];
  readonly agentCpuPct: MeanCi;
  readonly agentRssMaxMb: number;
  readonly agentHwmMaxMb: number;
  readonly achievedWith: MeanCi;
  readonly achievedWithout: MeanCi;
  /** with ÷ without per round, % */
  readonly rateRatioPct: MeanCi;
  /** with − without per round: the load's CPU and the machine's busy share, points (the kernel-side cost while the rate is met) */
  readonly loadCpuDelta: MeanCi;
  readonly machineBusyDelta: MeanCi;
  readonly programs: {
    readonly bpfStatsBefore: string;
    readonly windows: readonly ProgramWindow[];
    /** per mode and program: Σ run_time_ns Δ ÷ Σ run_cnt Δ over its windows */
    readonly summary: ReadonlyArray<{ readonly mode: ProgramWindow['mode']; readonly name: string; readonly nsPerRun: number; readonly runsPerSecond: number }>;
  };
  readonly targets: readonly Target[];
}

export async function runDnsStorm(lab: Lab, receiver: OtlpReceiver, s: DnsStormSettings,
  agentOpts: (label: string) => AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<DnsStormResult> {
  const netns = `fovea-${lab.name}-*`;
  const opts = (label: string): AgentProcessOptions => {
    const o = agentOpts(label);
    return { ...o, extraArgs: [...(o.extraArgs ?? []), '--netns', netns] };
  };
  let bin: string | undefined;
  let responders: Array<LoadProcess<ServeMark>> = [];
  let agent: AgentProcess | undefined;
  try {
    bin = await compileLoad('dns-load');
    responders = Array.from({ length: s.responders }, () => LoadProcess.start<ServeMark>(lab, 1, bin!, ['serve', DNS_PORT]));
    await Promise.all(responders.map((r) => r.ready()));
    const l: Load = { lab, bin, s, responders };
    progress(`h: ${s.responders} DNS responders in pod 1 (${lab.pod(1).ip}:${DNS_PORT}/udp), ${s.generators} generators in pod 0 at ${s.rate} queries/s ` +
      `(${s.sockets} sockets each, every ${s.nxEvery}th an NXDOMAIN), agent with --netns ${netns}`);

    // ---- items 1 and 2: interleaved rounds ----
    const windows: StormWindow[] = [];
    let agentCommand = '';
    for (let r = 1; r <= s.rounds; r++) {
      const order: Array<'without' | 'with'> = r % 2 ? ['without', 'with'] : ['with', 'without'];
      for (const mode of order) {
        if (mode === 'without') {
          windows.push(await stormWindow(l, receiver, r, undefined));
          continue;
        }
        agent = await startStormAgent(l, receiver, opts(`h-storm${r}`), track);
        agentCommand = agent.argv.join(' ');
        windows.push(await stormWindow(l, receiver, r, agent));
        await stopAgent(agent, track);
        agent = undefined;
      }
    }
    const withW = windows.filter((w) => w.mode === 'with');
    const partner = (w: StormWindow): StormWindow => windows.find((x) => x.mode === 'without' && x.round === w.round)!;

    // ---- item 3 ----
    const bpfStatsBefore = enableBpfStats();
    const programWindows: ProgramWindow[] = [];
    try {
      progress(`h: kernel.bpf_stats_enabled=1 (was ${bpfStatsBefore}); traffic_* programs under the storm, DNS on vs --no-dns, ${s.programSeconds} s windows`);
      for (let r = 1; r <= s.programRounds; r++) {
        const order: Array<ProgramWindow['mode']> = r % 2 ? ['dns', 'no-dns'] : ['no-dns', 'dns'];
        for (const mode of order) programWindows.push(await programWindow(l, receiver, opts(`h-${mode}${r}`), track, mode, r));
      }
    } finally {
      restoreBpfStats();
    }
    const summary = (['dns', 'no-dns'] as const).flatMap((mode) => {
      const ws = programWindows.filter((w) => w.mode === mode);
      const names = [...new Set(ws.flatMap((w) => w.programs.map((p) => p.name)))].sort();
      return names.map((name) => {
        const ps = ws.flatMap((w) => w.programs.filter((p) => p.name === name).map((p) => ({ ...p, seconds: w.seconds })));
        const runs = ps.reduce((a, p) => a + p.runs, 0);
        const ns = ps.reduce((a, p) => a + (Number.isFinite(p.nsPerRun) ? p.nsPerRun * p.runs : 0), 0);
        return { mode, name, nsPerRun: runs ? ns / runs : NaN, runsPerSecond: runs / ps.reduce((a, p) => a + p.seconds, 0) };
      });
    });

    // ---- targets ----
    const cpu = meanCi(withW.map((w) => w.agent!.pctOfOneCore));
    const achievedWith = meanCi(withW.map((w) => w.achievedPerSecond));
    const ex = withW.map((w) => w.exact!);
    const sum = (f: (x: Exactness) => number): number => ex.reduce((a, x) => a + f(x), 0);
    const clientOff = sum((x) => Math.abs(x.client.queries - x.generators.sent) + Math.abs(x.client.noerror - x.generators.noerror) +
      Math.abs(x.client.nxdomain - x.generators.nxdomain) + Math.abs(x.client.responses - x.generators.received));
    const serverOff = sum((x) => Math.abs(x.server.queries - x.responders.received) + Math.abs(x.server.noerror - x.responders.noerror) +
      Math.abs(x.server.nxdomain - x.responders.nxdomain) + Math.abs(x.server.responses - x.responders.answered));
    const accounted = sum((x) => x.events.client + x.events.server + x.events.carriedClient + x.events.carriedServer + x.events.kernel.reduce((a, k) => a + k.pending, 0));
    const nxCounted = sum((x) => x.client.nxdomain + x.server.nxdomain);
    // a CPU's window restarts at its first event ≥ 1 s after the last start: within T seconds at most ⌊T⌋ + 1 windows
    const perCpuRate = Math.max(...ex.flatMap((x) => x.events.kernel.map((k) => k.emitted / (Math.floor(x.stormSeconds) + 1))));
    const targets: Target[] = [
      target('h', 'h.storm-cpu', `agent CPU (defaults) during a DNS storm of ${s.rate.toLocaleString('en-US')} queries/s asked ` +
        `(achieved ${Math.round(achievedWith.mean).toLocaleString('en-US')} answered/s), ` +
        (cpu.n > 1 ? `upper bound of the 95% CI over ${cpu.n} rounds (mean ${cpu.mean.toFixed(2)}, CI ${cpu.lo.toFixed(2)}–${cpu.hi.toFixed(2)}), ` : 'one window, ') +
        `utime+stime over ${s.windowSeconds} s windows, % of one core`, cpu.n > 1 ? cpu.hi : cpu.mean, '<=', STORM_CPU_MAX_PCT, '% core', 2),
      target('h', 'h.client-exact', `client pod (role client): Σ over ${ex.length} rounds of |fovea.pod.dns.queries − queries sent| + |responses − responses received| ` +
        '+ per code (NOERROR, NXDOMAIN) |agent − generators|', clientOff, '==', 0, 'messages', 0),
      target('h', 'h.server-exact', `server pod (role server): Σ over ${ex.length} rounds of |fovea.pod.dns.queries − queries the responders received| + ` +
        '|responses − answered| + per code (NOERROR, NXDOMAIN) |agent − responders|', serverOff, '==', 0, 'messages', 0),
      target('h', 'h.events-reconcile', `NXDOMAIN events received over OTLP (both views) + their fovea.events.suppressed + the kernel's pending (dns_event_limits, ` +
        `failed slot, Σ CPUs) = NXDOMAIN responses the agent counted (client + server view), Σ over ${ex.length} rounds`, accounted, '==', nxCounted, 'events', 0),
      target('h', 'h.event-rate', 'DNS events the kernel emitted per CPU (failed slot, both views: the limit is per CPU per slot) ÷ the rate-limit windows ' +
        `the storm spans (⌊s⌋ + 1), largest CPU of any round`, perCpuRate, '<=', s.eventRatePerCpu, 'events/s', 1),
    ];
    return {
      settings: s, agentCommand,
      load: `bench/dns-load.c (clang -O2): ${s.responders} responders in pod 1 (SO_REUSEPORT on port ${DNS_PORT}), ${s.generators} paced generators in pod 0 ` +
        `(${s.sockets} connected sockets each, sendmmsg / recvmmsg)`,
      windows, agentCpuPct: cpu,
      agentRssMaxMb: Math.max(...withW.map((w) => w.agent!.rssMax)) / MB,
      agentHwmMaxMb: Math.max(...withW.map((w) => w.agent!.hwmEnd)) / MB,
      achievedWith, achievedWithout: meanCi(windows.filter((w) => w.mode === 'without').map((w) => w.achievedPerSecond)),
      rateRatioPct: meanCi(withW.map((w) => (w.achievedPerSecond / partner(w).achievedPerSecond) * 100)),
      loadCpuDelta: meanCi(withW.map((w) => w.loadCpuPct - partner(w).loadCpuPct)),
      machineBusyDelta: meanCi(withW.map((w) => w.machineBusyPct - partner(w).machineBusyPct)),
      programs: { bpfStatsBefore, windows: programWindows, summary },
      targets,
    };
  } finally {
    restoreBpfStats();
    if (agent) { await agent.stop(); track(undefined); }
    await Promise.all(responders.map((r) => r.stop()));
    if (bin) rmSync(bin, { force: true });
  }
}
