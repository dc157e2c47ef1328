/**
 * Part (j): TCP throughput with many flows while the agent does its job (issue 12, item 4), with
 * part g's method (bench/throughput-toggle.ts): the agent started and stopped under running traffic,
 * adjacent 1 s windows paired across each start and stop, A/A cycles interleaved.
 *
 * The traffic, all of it pinned to one core (`loadCpu`, as part g pins its one stream) so that the
 * data path saturates that core and the agent's cost shows in the bytes it carries:
 *  - iperf3 with `streams` parallel streams, pod 0 → pod 1 (the bytes: pod 1's host veth counter);
 *  - bench/tcp-load.c's paced connect loop in pod 0 (connect, close) to servers in pod 1 (accept,
 *    close), `rate` connections per second for the whole part: new 5-tuples every millisecond, so the
 *    kernel flow table takes new records all the time (4 per connection: each direction at each
 *    veth), the tcp probe sees every state change, and the agent's flow records grow with them.
 * A mix, because neither alone does the job: parallel streams are few flows that never end, and short
 * connections carry almost no bytes.
 *
 * The agent: pod mode (`--netns` of the lab: flow records and DNS on the veths, as on pods' veths in a
 * cluster), every probe on (its defaults), flow events on (`--flow-events`: the flow table is read and
 * its records exported as OTLP log records) with the flow table read and the metrics exported every
 * `exportIntervalMs`, so reads and exports happen inside the with windows.
 *
 * Around each real agent (hooks of the toggle): once it started and its log says flow records are on
 * for both veths, the loop's counters are marked; again just before its SIGTERM. Every connection the
 * loop made between the two marks was made while the agent's programs were attached to both veths,
 * so each must come back as at least one flow record (its final flow read happens after its programs
 * are detached). The loop writes every connection it makes (client port, server port) to a port log
 * (tcp-load's TCP_LOAD_PORT_LOG), so the part knows which 4-tuples were made between the marks; after
 * the agent's exit it looks each one up among the loop connections in the flow records the receiver
 * got from it, then clears the receiver (its memory stays bounded). Counting is not enough: the loop
 * uses a 4-tuple again within seconds (the server closes first, so the TIME_WAIT is the server's and
 * the client's port is free at once; tcp_tw_reuse cannot prevent it), and two connections on one
 * 4-tuple are one flow record at each veth and direction (the second shows as `active`).
 *
 * The bench process (and its OTLP receiver, which decodes every record) is pinned to the other core for
 * the part: a collector is not the agent's cost. The agent inherits that pinning when it is spawned and
 * is given every core again once it started (before its with phase): unpinned, as in part g.
 */
import { closeSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/run.js';
import { ATTR, EVENT, INSTRUMENTS } from '../src/names.js';
import type { Attrs, OtlpReceiver, ReceivedLogRecord } from '../src/otlp/receiver.js';
import { waitFlowsTracked, type AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { compileLoad, LoadProcess } from './load-process.js';
import { nofileHardLimit, podSysctl, type LoadMark } from './tcp-cost.js';
import { iperf3Load, runThroughputToggle, type ToggleLoad, type ToggleResult, type ToggleSettings } from './throughput-toggle.js';
import { progress, target, type Target } from './util.js';

export interface ManyFlowsSettings {
  /** the toggle (its `streams`: iperf3 -P) */
  readonly toggle: ToggleSettings;
  readonly connect: {
    /** connections per second asked of the loop, Σ over its processes */
    readonly rate: number;
    readonly workers: number;
    /** server processes in pod 1, one port each (more 4-tuples for pod 0's port range) */
    readonly ports: number;
  };
  /** the load's core: iperf3's two ends, the loop and its servers */
  readonly loadCpu: number;
  /** the bench process's core during the part */
  readonly benchCpu: number;
  /** the agent's metric export interval and flow-record read interval */
  readonly exportIntervalMs: number;
}

/** Throughput target: part g's bar (issue 9) applied to many flows; issue 12 item 4 asks for the ratio with its CI, not a number. */
const THROUGHPUT_MIN_RATIO_PCT = 98;
const PORT_BASE = 7000;

/** A loop connection as the part names it: client port → server port (the addresses are the pods'). */
export const loopConnection = (clientPort: number, serverPort: number): string => `${clientPort}>${serverPort}`;

/** Bytes per connection in tcp-load's port log: u16 client port, u16 server port, u32 ms (little-endian). */
const PORT_LOG_RECORD = 8;

/**
 * Connections `from` to `to` (its `connected` counter at two marks) of a tcp-load port log, as
 * loopConnection names, in the order they were made.
 */
export function readPortLog(path: string, from: number, to: number): string[] {
  const n = Math.max(0, to - from);
  const buf = Buffer.alloc(n * PORT_LOG_RECORD);
  const fd = openSync(path, 'r');
  let got = 0;
  try {
    while (got < buf.length) {
      const r = readSync(fd, buf, got, buf.length - got, from * PORT_LOG_RECORD + got);
      if (r === 0) break;
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  if (got !== buf.length) throw new Error(`port log ${path}: ${got / PORT_LOG_RECORD} connections from ${from}, want ${n}`);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = loopConnection(buf.readUInt16LE(i * PORT_LOG_RECORD), buf.readUInt16LE(i * PORT_LOG_RECORD + 2));
  return out;
}

/** Flow records counted from the OTLP log records of one agent. */
export interface FlowTally {
  /** fovea.network.flow records */
  readonly records: number;
  /** by fovea.flow.state (new / active / ended) */
  readonly byState: Readonly<Record<string, number>>;
  /** distinct connections of the loop (client port → server port) with at least one record */
  readonly loopConnections: number;
  /** records of other flows (iperf3's streams and its control connection) */
  readonly otherRecords: number;
}

/**
 * Counts flow records as they arrive: every record by state, and the distinct connections of the
 * connect loop among them — a record whose one end is the server pod on a loop port; the connection
 * is (client port, server port), the same for the 4 records it gets (both directions, both veths).
 */
export class FlowRecordCounter {
  private records = 0;
  private byState: Record<string, number> = {};
  private loop = new Set<string>();
  private other = 0;

  constructor(private readonly serverIp: string, private readonly loopPorts: ReadonlySet<number>) {}

  /** one log record (its event name and flattened attributes) */
  add(eventName: string, attrs: Attrs): void {
    if (eventName !== EVENT.flow) return;
    this.records++;
    const state = String(attrs[ATTR.flowState] ?? '?');
    this.byState[state] = (this.byState[state] ?? 0) + 1;
    const sp = Number(attrs[ATTR.srcPort]);
    const dp = Number(attrs[ATTR.dstPort]);
    if (attrs[ATTR.dstAddress] === this.serverIp && this.loopPorts.has(dp)) this.loop.add(loopConnection(sp, dp));
    else if (attrs[ATTR.srcAddress] === this.serverIp && this.loopPorts.has(sp)) this.loop.add(loopConnection(dp, sp));
    else this.other++;
  }

  /** Of `made` (loopConnection names, repeats allowed), the distinct connections with no record since the last take. */
  missing(made: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const c of made) if (!this.loop.has(c)) out.add(c);
    return [...out];
  }

  /** log records as the receiver keeps them */
  addAll(records: readonly ReceivedLogRecord[]): void {
    for (const r of records) this.add(r.eventName, r.attrs);
  }

  /** what was counted since the last take, and starts over */
  take(): FlowTally {
    const t: FlowTally = { records: this.records, byState: this.byState, loopConnections: this.loop.size, otherRecords: this.other };
    this.records = 0;
    this.byState = {};
    this.loop = new Set();
    this.other = 0;
    return t;
  }
}

/** One real agent of the run. */
export interface AgentLife {
  readonly index: number;
  /** s between the marks (flow records on for both veths → just before SIGTERM) */
  readonly markedSeconds: number;
  /** connections the loop made between the marks */
  readonly connectionsMade: number;
  /** distinct 4-tuples among them (less when the loop used a 4-tuple again: one flow record per veth and direction for both) */
  readonly fourTuplesMade: number;
  /** 4-tuples made between the marks without a flow record from this agent, and up to 5 of them */
  readonly missing: number;
  readonly missingExamples: readonly string[];
  readonly flows: FlowTally;
  /** the agent's own series at its last export (a fresh process: its counters start at 0) */
  readonly eventsRead: number | undefined;
  readonly flowsActive: number | undefined;
  readonly flowsEvicted: number | undefined;
  /** fovea.agent.events.lost by stage, every event kind */
  readonly eventsLost: Readonly<Record<string, number>>;
  readonly metricExports: number;
}

export interface ManyFlowsResult {
  readonly settings: ManyFlowsSettings;
  readonly agentCommand: string;
  readonly agentConfig: string;
  readonly load: string;
  readonly podSysctls: Readonly<Record<string, string>>;
  readonly throughput: ToggleResult;
  /** the connect loop over the whole part (Σ over its processes) */
  readonly loop: { readonly seconds: number; readonly connected: number; readonly perSecond: number; readonly errors: number; readonly firstError?: string; readonly cpuPct: number };
  readonly lives: readonly AgentLife[];
  readonly totals: {
    readonly records: number;
    readonly byState: Readonly<Record<string, number>>;
    readonly connectionsMade: number;
    readonly fourTuplesMade: number;
    readonly connectionsRecorded: number;
    /** Σ over the lives of the 4-tuples made between the marks without a flow record */
    readonly shortfall: number;
    readonly livesShort: number;
    readonly eventsRead: number;
    readonly flowsEvicted: number;
    readonly eventsLost: Readonly<Record<string, number>>;
  };
  readonly benchAffinity: string;
  readonly targets: readonly Target[];
}

const sumMarks = (ms: readonly LoadMark[], k: 'connected' | 'errors' | 'cpuUs'): number => ms.reduce((a, m) => a + m[k], 0);

/** The agent's series of one name summed over its attributes matching `match`, from the latest export. */
function latestSum(receiver: OtlpReceiver, name: string, match: (a: Attrs) => boolean = () => true): number | undefined {
  const s = receiver.series(name).filter((x) => match(x.attrs));
  return s.length ? s.reduce((a, x) => a + x.value, 0) : undefined;
}

/** `taskset -p` of a process: its CPU list, e.g. "0,1" or "0-1". */
async function affinityOf(pid: number): Promise<string> {
  const { stdout } = await run(['taskset', '-c', '-p', String(pid)]);
  const m = /:\s*(\S+)\s*$/.exec(stdout.trim());
  if (!m) throw new Error(`taskset -c -p ${pid}: ${stdout}`);
  return m[1]!;
}

export async function runManyFlows(lab: Lab, receiver: OtlpReceiver, s: ManyFlowsSettings,
  agentOpts: (label: string) => AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<ManyFlowsResult> {
  const nofile = nofileHardLimit();
  const cpu = String(s.loadCpu);
  const server = lab.pod(1);
  const ports = Array.from({ length: s.connect.ports }, (_, i) => PORT_BASE + i);
  // client ports in the ephemeral range (above the server ports, as in a cluster: the agent's server-port guess takes the lower port
  // below 32768, so a client port under 7000 would be taken for the server's), and widened to 65535; no TIME_WAIT reuse (the server
  // mostly closes first and holds the TIME_WAIT, so 4-tuples still come back within seconds: the port log counts them)
  const sysctls = { 'net.ipv4.ip_local_port_range': '32768 65535', 'net.ipv4.tcp_tw_reuse': '0' };
  const saved: Record<string, string> = {};
  for (const k of Object.keys(sysctls)) saved[k] = await podSysctl(lab, 0, k);
  const podGlob = lab.pod(0).netns.replace(/\d+$/, '*');
  const prefix = lab.pod(0).hostIfname.replace(/\d+$/, '');
  const config = join(tmpdir(), `fovea-bench-j-${process.pid}.json`);
  const agentConfig = { events: { flows: { enabled: true, intervalMs: s.exportIntervalMs } } };
  writeFileSync(config, JSON.stringify(agentConfig));
  let logs = 0;
  let logPath = '';
  let agentCommand = '';
  const opts = (label: string): AgentProcessOptions => {
    const o = agentOpts(label);
    logPath = o.logPath.replace(/\.log$/, `-${++logs}.log`); // one log per agent: its flow-records lines are its own
    return { ...o, logPath, exportIntervalMs: s.exportIntervalMs, extraArgs: [...(o.extraArgs ?? []), '--netns', podGlob, '--flow-events', '--config', config] };
  };
  const benchAffinity = await affinityOf(process.pid);
  const counter = new FlowRecordCounter(server.ip, new Set(ports));
  const portLogs = Array.from({ length: s.connect.workers }, (_, i) => join(tmpdir(), `fovea-bench-j-ports-${process.pid}-${i}.bin`));
  let servers: LoadProcess<LoadMark>[] = [];
  let loop: LoadProcess<LoadMark>[] = [];
  let bin: string | undefined;
  try {
    await run(['taskset', '-a', '-c', '-p', String(s.benchCpu), String(process.pid)]);
    bin = await compileLoad('tcp-load');
    for (const [k, v] of Object.entries(sysctls)) await podSysctl(lab, 0, k, v);
    servers = ports.map((port) => LoadProcess.start<LoadMark>(lab, 1, bin!, ['server', port, 0], nofile, cpu));
    await Promise.all(servers.map((w) => w.ready()));
    for (let i = 0; i < s.connect.workers; i++) {
      loop.push(LoadProcess.start<LoadMark>(lab, 0, bin, ['connect', server.ip, s.connect.rate / s.connect.workers, 0, 0, 0, ...ports], nofile, cpu,
        { TCP_LOAD_PORT_LOG: portLogs[i]! }));
    }
    await Promise.all(loop.map((w) => w.ready()));
    const loop0 = await Promise.all(loop.map((w) => w.mark()));
    progress(`j: connect loop ${s.connect.rate}/s (${s.connect.workers} process(es)) pod 0 → pod 1 ports ${ports.join(', ')}, pinned to core ${cpu}; ` +
      `bench process pinned to core ${s.benchCpu} (was ${benchAffinity})`);

    const inner = await iperf3Load(lab, s.toggle);
    const load: ToggleLoad = {
      description: `${inner.description}, beside a paced connect loop (bench/tcp-load.c, ${s.connect.rate.toLocaleString('en-US')} connections/s, connect then close) ` +
        `to ${ports.length} server ports in pod 1; the loop and its servers pinned to core ${cpu} too`,
      veths: inner.veths,
      bytes: () => inner.bytes(),
      start: async (seconds) => {
        const seg = await inner.start(seconds);
        return {
          ended: () => seg.ended() ?? (loop.every((w) => w.running) && servers.every((w) => w.running) ? undefined : 'the connect loop or a server ended'),
          stop: () => seg.stop(),
        };
      },
      close: () => inner.close(),
    };

    const lives: AgentLife[] = [];
    let startMarks: LoadMark[] = [];
    let stopMarks: LoadMark[] = [];
    receiver.clear();
    const throughput = await runThroughputToggle(lab, s.toggle, opts, track, 'j', {
      load,
      hooks: {
        agentStarted: async (agent) => {
          agentCommand ||= agent.argv.join(' ');
          // it inherited the bench's core; from now on the scheduler places it, as in part g (its start-up ran on the bench's core)
          await run(['taskset', '-a', '-c', '-p', benchAffinity, String(agent.pid)]);
          await waitFlowsTracked(logPath, prefix, 2, 10_000);
          startMarks = await Promise.all(loop.map((w) => w.mark()));
        },
        agentStopping: async () => {
          stopMarks = await Promise.all(loop.map((w) => w.mark()));
        },
        agentStopped: async () => {
          counter.addAll(receiver.logRecords());
          const made = loop.flatMap((_, i) => readPortLog(portLogs[i]!, startMarks[i]!.connected, stopMarks[i]!.connected));
          const missing = counter.missing(made);
          const flows = counter.take();
          const lost: Record<string, number> = {};
          for (const x of receiver.series(INSTRUMENTS.eventsLost.name)) {
            const k = String(x.attrs[ATTR.lossStage] ?? '?');
            lost[k] = (lost[k] ?? 0) + x.value;
          }
          const life: AgentLife = {
            index: lives.length + 1,
            markedSeconds: (stopMarks[0]!.atMs - startMarks[0]!.atMs) / 1000,
            connectionsMade: made.length,
            fourTuplesMade: new Set(made).size,
            missing: missing.length,
            missingExamples: missing.slice(0, 5),
            flows,
            eventsRead: latestSum(receiver, INSTRUMENTS.eventsRead.name, (a) => a[ATTR.eventName] === EVENT.flow),
            flowsActive: latestSum(receiver, INSTRUMENTS.flowRecords.name),
            flowsEvicted: latestSum(receiver, INSTRUMENTS.flowEvictions.name),
            eventsLost: lost,
            metricExports: receiver.requestCount,
          };
          lives.push(life);
          receiver.clear(); // bounded memory: each agent's records are counted, then forgotten
          const short = life.missing > 0;
          if (!short) rmSync(logPath, { force: true }); // kept where connections are missing, for a look
          progress(`j: agent ${life.index}: ${life.connectionsMade} connections made while attached (${life.fourTuplesMade} distinct 4-tuples), ` +
            `${life.missing} of those without a flow record${short ? ` (e.g. ${life.missingExamples.join(', ')})` : ''}; ${life.flows.loopConnections} of the loop's in its flow records ` +
            `(${life.flows.records} records: ${Object.entries(life.flows.byState).map(([k, v]) => `${k} ${v}`).join(', ')}), flows active at its last export ${life.flowsActive ?? 'n/a'}` +
            (short ? `; SHORT: its log is kept in ${logPath}` : ''));
        },
      },
    });
    const loop1 = await Promise.all(loop.map((w) => w.mark()));
    const loopSeconds = (loop1[0]!.atMs - loop0[0]!.atMs) / 1000;
    const connected = sumMarks(loop1, 'connected') - sumMarks(loop0, 'connected');
    const firstError = loop1.map((m) => m.firstError).find((x) => x !== undefined);

    const sum = (f: (l: AgentLife) => number | undefined): number => lives.reduce((a, l) => a + (f(l) ?? 0), 0);
    const byState: Record<string, number> = {};
    const eventsLost: Record<string, number> = {};
    for (const l of lives) {
      for (const [k, v] of Object.entries(l.flows.byState)) byState[k] = (byState[k] ?? 0) + v;
      for (const [k, v] of Object.entries(l.eventsLost)) eventsLost[k] = (eventsLost[k] ?? 0) + v;
    }
    const totals = {
      records: sum((l) => l.flows.records), byState,
      connectionsMade: sum((l) => l.connectionsMade), fourTuplesMade: sum((l) => l.fourTuplesMade), connectionsRecorded: sum((l) => l.flows.loopConnections),
      shortfall: sum((l) => l.missing),
      livesShort: lives.filter((l) => l.missing > 0).length,
      eventsRead: sum((l) => l.eventsRead), flowsEvicted: sum((l) => l.flowsEvicted), eventsLost,
    };
    const r = throughput.real;
    const aa = throughput.aa;
    const targets: Target[] = [
      target('j', 'j.throughput-ratio', `TCP throughput with many flows (${s.toggle.streams ?? 1} iperf3 streams + ${s.connect.rate.toLocaleString('en-US')} new connections/s), ` +
        `the agent in pod mode with flow events ÷ without: lower bound of the 95% CI of the ${throughput.judged} of ${r.n} pair ratios (adjacent ${s.toggle.windowSeconds} s windows, ` +
        `the agent started and stopped between them; median ${r.median.median.toFixed(2)}%, CI ${r.median.lo.toFixed(2)}–${r.median.hi.toFixed(2)}%; mean ${r.mean.mean.toFixed(2)}%, ` +
        `CI ${r.mean.lo.toFixed(2)}–${r.mean.hi.toFixed(2)}%; A/A pairs in the same run: median ${aa.median.median.toFixed(2)}%, CI ${aa.median.lo.toFixed(2)}–${aa.median.hi.toFixed(2)}%, n ${aa.n}); ` +
        'the limit is part g\'s', throughput.judgedLo, '>=', THROUGHPUT_MIN_RATIO_PCT, '%', 2),
      target('j', 'j.flows-recorded', `connections of the loop made while an agent was attached (${totals.connectionsMade.toLocaleString('en-US')} over ${lives.length} agents, ` +
        `${totals.fourTuplesMade.toLocaleString('en-US')} distinct 4-tuples per agent summed) without a flow record from that agent: Σ per agent of the 4-tuples from the loop's ` +
        `port log between the marks not among the agent's flow records (loop connections recorded: ${totals.connectionsRecorded.toLocaleString('en-US')})`,
      totals.shortfall, '==', 0, 'connections', 0),
    ];
    return {
      settings: s, agentCommand, agentConfig: JSON.stringify(agentConfig),
      load: load.description, podSysctls: sysctls, throughput,
      loop: { seconds: loopSeconds, connected, perSecond: connected / loopSeconds, errors: sumMarks(loop1, 'errors') - sumMarks(loop0, 'errors'),
        ...(firstError ? { firstError } : {}), cpuPct: ((sumMarks(loop1, 'cpuUs') - sumMarks(loop0, 'cpuUs')) / 1e6 / loopSeconds) * 100 },
      lives, totals, benchAffinity, targets,
    };
  } finally {
    await Promise.all([...loop, ...servers].map((w) => w.stop()));
    loop = [];
    servers = [];
    if (bin) rmSync(bin, { force: true });
    rmSync(config, { force: true });
    for (const p of portLogs) rmSync(p, { force: true });
    for (const [k, v] of Object.entries(saved)) await podSysctl(lab, 0, k, v).catch(() => undefined);
    await run(['taskset', '-a', '-c', '-p', benchAffinity, String(process.pid)]).catch(() => undefined);
  }
}
