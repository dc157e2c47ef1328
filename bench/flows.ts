/**
 * Part (d): the agent with many active flows — CPU, memory and map-read time of the real agent
 * process with pod attribution on (`--netns` / `--interfaces` of a three-pod lab, default flow
 * settings, export interval 10 s), and the share of the generated flows the kernel flow table
 * holds.
 *
 * Traffic: bench/flow-worker.mjs in pod 0 sends from one UDP socket bound to port 53 to N
 * distinct (pod 1|2 address, port) pairs — N distinct 5-tuples — one datagram per flow per round,
 * a round every `periodMs`, so every flow stays active for the whole window. In pods 1 and 2 a
 * stateless nft rule (the pods' own netns, prerouting) rewrites the destination port to a UDP
 * sink's: every datagram is delivered to a socket, so the run has no drops and no ICMP replies,
 * and the flow records (taken on the host-side veths, before the rewrite) keep the N ports.
 *
 * Ground truth for "flows counted": after the window, the bench reads the agent's own
 * traffic_flows map (found through the agent's fds: /proc/<pid>/fdinfo map_id →
 * bpf_map_get_fd_by_id; BPF_MAP_LOOKUP_BATCH) while the agent still runs, and counts the records
 * on pod 0's host veth, ingress (= pod 0 sent), whose (destination, port) is one of the generated
 * flows. The agent process is untouched by this read (it happens after the CPU window).
 */
import { spawn } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { libbpf } from '../src/kernel/libbpf.js';
import type { MapSnapshot } from '../src/kernel/map.js';
import { linkStats, parseNftCounters } from '../src/lab/kernel-truth.js';
import type { Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/run.js';
import { startUdpSink, type Server, type UdpSinkResult } from '../src/lab/traffic.js';
import { ATTR, INSTRUMENTS } from '../src/names.js';
import { flattenAttrs, type OtlpReceiver } from '../src/otlp/receiver.js';
import { FLOW_KEY, FLOW_VALUE, TRAFFIC_EGRESS, TRAFFIC_INGRESS, decodeFlows } from '../src/probes/traffic/layout.js';
import { AgentProcess, bpfFdsOf, ifindexOf, waitFlowsTracked, type AgentProcessOptions } from './agent-process.js';
import { benchScript, MB, measureProcess, progress, round, sleep, target, type CpuWindow, type Target } from './util.js';

export interface FlowsSettings {
  /** flow counts to measure, one agent run each (the last one is judged against the targets) */
  readonly flowCounts: readonly number[];
  /** CPU/RSS window, after the first round created every flow */
  readonly windowSeconds: number;
  /** every flow gets one datagram per period */
  readonly periodMs: number;
  /** after the agent tracks flows on all pod veths, before traffic */
  readonly settleSeconds: number;
  readonly exportIntervalMs: number;
}

/** Source port of the generator: a server-like port, so the flows aggregate as real ones do. */
export const FLOW_SPORT = 53;
const SINK_PORT = 5000;
const PORT_FROM = 1024;
const PORT_TO = 65535;
const PAYLOAD = 32;
const NFT_TABLE = 'fovea_bench_flows';
/** Target limits (issue 3, "Done when"). */
const SHARE_MIN_PCT = 99.9;
const CPU_MAX_PCT = 5;
const RSS_MAX_MB = 200;

export interface FlowRunResult {
  readonly flows: number;
  /** e.g. "198.18.x.11 ports 1024–51023, 198.18.x.12 ports 1024–51023" */
  readonly destinations: string;
  readonly agentPid: number;
  readonly agentCommand: string;
  readonly generator: {
    readonly rounds: number;
    readonly sent: number;
    readonly errors: number;
    readonly firstError?: string;
    readonly elapsedMs: number;
    readonly maxRoundMs: number;
    readonly lateRounds: number;
    /** datagrams per second while generating (flows ÷ period) */
    readonly pps: number;
  };
  readonly window: CpuWindow;
  readonly exportsInWindow: number;
  /**
   * fovea.agent.map.read.duration per probe: ms per export, over the exports in the window. The agent
   * exports it per probe only; the flow-table read (its `pods` source) is not among them.
   */
  readonly mapRead: ReadonlyArray<{ readonly probe: string; readonly meanMs: number; readonly maxMs: number; readonly exports: number }>;
  readonly kernel: {
    readonly mapId: number;
    readonly maxEntries: number;
    /** every record in traffic_flows after the window */
    readonly records: number;
    readonly readMs: number;
    /** generated flows with a record on pod 0's host veth, ingress (what the agent attributes) */
    readonly counted: number;
    /** …of which with exactly `rounds` packets (every datagram of the flow counted in its record) */
    readonly countedExactPackets: number;
    /** generated flows with a record on the receiving pod's host veth, egress (the other end) */
    readonly countedAtReceiver: number;
    /** records not belonging to a generated flow */
    readonly otherRecords: number;
    /** up to 10 generated flows without a record at the receiver's veth ("dst:port") */
    readonly missingAtReceiverSample: readonly string[];
    /** up to 10 generated flows without a record on pod 0's veth */
    readonly missingSample: readonly string[];
  };
  /** counted ÷ flows × 100 */
  readonly sharePct: number;
  readonly truth: {
    /** datagrams pod 0's host veth received (ip -s link rx_packets Δ): what pod 0 sent */
    readonly hostVethRx: number;
    /** how the receivers took the datagrams */
    readonly receiveMode: string;
    /** datagrams the two sinks received (a sink may lose some to its socket buffer: informational) */
    readonly sinkReceived?: number;
    /** packets the port-rewrite rules saw in pods 1 and 2 */
    readonly rewritten?: number;
  };
  readonly agent: {
    /** fovea.agent.flows.active, first export after the traffic ended (records on every pod veth) */
    readonly flowsActive: number | undefined;
    readonly flowsEvicted: number | undefined;
    /** fovea.flow.packets summed over pod 0's series (source workload = pod 0), Δ over the run */
    readonly flowPacketsDelta: number;
    /** fovea.flow.packets series from pod 0 */
    readonly flowSeries: number;
    readonly recordFailures: Record<string, number>;
    readonly seriesOverflow: number;
    readonly exportFailures: number;
    readonly exitCode: number | null;
  };
}

export interface FlowsResult {
  readonly settings: FlowsSettings;
  readonly sourcePort: number;
  readonly payloadBytes: number;
  readonly runs: readonly FlowRunResult[];
  readonly targets: readonly Target[];
}

// ---- the generator ----

interface GeneratorResult {
  flows: number; rounds: number; sent: number; errors: number; firstError?: string;
  elapsedMs: number; maxRoundMs: number; lateRounds: number;
}

interface Generator {
  /** resolves when round `n` is done */
  round(n: number, timeoutMs: number): Promise<void>;
  readonly done: Promise<GeneratorResult>;
  kill(): void;
}

function startGenerator(lab: Lab, opts: Record<string, unknown>): Generator {
  const child = lab.spawn(0, [process.execPath, benchScript('flow-worker.mjs'), JSON.stringify(opts)]);
  let buf = '';
  let stderr = '';
  let rounds = 0;
  let result: GeneratorResult | undefined;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let ev: { event: string; round?: number } & GeneratorResult;
      try { ev = JSON.parse(line) as typeof ev; } catch { stderr += `${line}\n`; continue; }
      if (ev.event === 'round') rounds = ev.round ?? rounds;
      if (ev.event === 'result') result = ev;
      for (const w of waiters.filter((x) => rounds >= x.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const done = new Promise<GeneratorResult>((resolve, reject) => child.once('close', (code) => {
    if (result && code === 0) resolve(result);
    else reject(new Error(`flow generator exited with ${code}: ${stderr.trim().slice(0, 1000)}`));
  }));
  void done.catch(() => undefined); // the caller awaits it; a kill after a failure must not be an unhandled rejection
  return {
    done,
    kill: () => child.kill('SIGKILL'),
    round: (n, timeoutMs) => new Promise<void>((resolve, reject) => {
      if (rounds >= n) return resolve();
      const t = setTimeout(() => reject(new Error(`flow generator: round ${n} not done after ${timeoutMs} ms (at round ${rounds}): ${stderr.trim()}`)), timeoutMs);
      waiters.push({ n, resolve: () => { clearTimeout(t); resolve(); } });
      done.catch((err: unknown) => { clearTimeout(t); reject(err as Error); });
    }),
  };
}

// ---- receivers: a sink per pod and a stateless port rewrite to it ----

interface Receivers {
  readonly mode: string;
  stop(): Promise<{ received?: number; rewritten?: number }>;
}

async function startReceivers(lab: Lab, pods: readonly number[]): Promise<Receivers> {
  const script = `table inet ${NFT_TABLE} {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    iifname "eth0" udp dport != ${SINK_PORT} counter udp dport set ${SINK_PORT} comment "to-sink"
    iifname "eth0" udp dport ${SINK_PORT} counter comment "sink-port"
  }
}
`;
  const sinks: Array<Server<UdpSinkResult>> = [];
  try {
    for (const p of pods) await lab.exec(p, ['nft', '-f', '-'], { input: script });
    for (const p of pods) sinks.push(await startUdpSink(lab, p, SINK_PORT));
  } catch (err) {
    for (const s of sinks) await s.stop().catch(() => undefined);
    for (const p of pods) await lab.exec(p, ['nft', 'delete', 'table', 'inet', NFT_TABLE], { allowFail: true });
    progress(`d: port rewrite to a sink unavailable (${(err as Error).message.split('\n')[0]}); closed ports instead (NO_SOCKET drops, ICMP)`);
    return { mode: 'closed ports: the receiving kernels drop the datagrams (NO_SOCKET) and answer with rate-limited ICMP', stop: () => Promise.resolve({}) };
  }
  return {
    mode: `nft in pods ${pods.join(', ')} (prerouting, stateless) rewrites the destination port to ${SINK_PORT}, where a UDP sink reads every datagram: no drops, no ICMP`,
    stop: async () => {
      let rewritten = 0;
      for (const p of pods) {
        const { stdout } = await lab.exec(p, ['nft', '-j', 'list', 'table', 'inet', NFT_TABLE]);
        const c = parseNftCounters(stdout);
        rewritten += c['sink-port']?.packets ?? 0; // every datagram, after the rewrite (to-sink counts only the rewritten ones)
      }
      let received = 0;
      for (const s of sinks) received += (await s.stop()).received;
      for (const p of pods) await lab.exec(p, ['nft', 'delete', 'table', 'inet', NFT_TABLE], { allowFail: true });
      return { received, rewritten };
    },
  };
}

// ---- the agent's flow table, read from outside ----

const BPF_MAP_TYPE_LRU_HASH = 9;
const ENOENT = 2;
const ENOSPC = 28;
let getFdById: ((id: number) => number) | undefined;

/** The id, size and fd-less description of the agent's traffic_flows map, from its fds. */
function findFlowMap(pid: number): { id: number; maxEntries: number } {
  const found = bpfFdsOf(pid).filter(({ kind, fields: f }) => kind === 'map' && f['map_type'] === BPF_MAP_TYPE_LRU_HASH &&
    f['key_size'] === FLOW_KEY.size && f['value_size'] === FLOW_VALUE.size).map(({ fields: f }) => ({ id: f['map_id']!, maxEntries: f['max_entries']! }));
  const unique = [...new Map(found.map((f) => [f.id, f])).values()];
  if (unique.length !== 1) throw new Error(`agent pid ${pid}: expected one traffic_flows map among its fds, found ${unique.length}`);
  return unique[0]!;
}

/** Every entry of a (non-per-CPU) map by id, with BPF_MAP_LOOKUP_BATCH. */
function readMapById(id: number, maxEntries: number): MapSnapshot {
  const lib = libbpf();
  getFdById ??= lib.lib.func('int bpf_map_get_fd_by_id(uint32_t id)') as (id: number) => number;
  const fd = getFdById(id);
  if (fd < 0) throw new Error(`bpf_map_get_fd_by_id(${id}) failed: ${-fd}`);
  try {
    const keySize = FLOW_KEY.size;
    const stride = FLOW_VALUE.size;
    const keys = Buffer.alloc(keySize * maxEntries);
    const values = Buffer.alloc(stride * maxEntries);
    const token = Buffer.alloc(Math.max(8, keySize));
    const countBuf = Buffer.alloc(4);
    let chunk = 4096;
    let total = 0;
    let first = true;
    while (total < maxEntries) {
      const want = Math.min(chunk, maxEntries - total);
      countBuf.writeUInt32LE(want);
      const rc = lib.bpf_map_lookup_batch(fd, first ? null : token, token,
        keys.subarray(total * keySize), values.subarray(total * stride), countBuf, null) as number;
      const got = countBuf.readUInt32LE();
      if (rc === -ENOSPC && got === 0) { chunk *= 2; continue; }
      if (rc < 0 && rc !== -ENOENT) throw new Error(`batch read of map id ${id} failed: errno ${-rc}`);
      total += got;
      first = false;
      if (rc === -ENOENT) break;
    }
    return { count: total, keys, values, keySize, valueStride: stride, cpus: 1 };
  } finally {
    closeSync(fd);
  }
}

// ---- the agent's own numbers ----

/** Per export (in arrival order): value of `metric` per value of attribute `by`. */
function perExport(receiver: OtlpReceiver, metric: string, by: string): Array<{ at: number; values: Map<string, number> }> {
  const out: Array<{ at: number; values: Map<string, number> }> = [];
  for (const e of receiver.requests) {
    const values = new Map<string, number>();
    for (const rm of e.request.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
      if (m.name !== metric) continue;
      for (const dp of (m.sum ?? m.gauge)?.dataPoints ?? []) {
        const k = String(flattenAttrs(dp.attributes)[by] ?? '');
        values.set(k, (values.get(k) ?? 0) + Number(dp.value === 'asInt' ? dp.asInt : dp.asDouble ?? 0));
      }
    }
    if (values.size) out.push({ at: e.receivedAt, values });
  }
  return out;
}

/** Map-read seconds per export, per probe, for exports that arrived in [t0, t1]. */
function mapReadPerExport(receiver: OtlpReceiver, t0: number, t1: number): FlowRunResult['mapRead'] {
  const list = perExport(receiver, INSTRUMENTS.mapReadDuration.name, ATTR.probe);
  const deltas = new Map<string, number[]>();
  for (let i = 1; i < list.length; i++) {
    const cur = list[i]!;
    const prev = list[i - 1]!;
    if (cur.at < t0 || cur.at > t1) continue;
    for (const [probe, v] of cur.values) {
      const d = v - (prev.values.get(probe) ?? 0);
      deltas.set(probe, [...(deltas.get(probe) ?? []), d]);
    }
  }
  return [...deltas].sort().map(([probe, ds]) => ({
    probe, exports: ds.length,
    meanMs: round((ds.reduce((a, b) => a + b, 0) / Math.max(1, ds.length)) * 1000, 1),
    maxMs: round(Math.max(0, ...ds) * 1000, 1),
  }));
}

// ---- one run ----

async function runOne(lab: Lab, receiver: OtlpReceiver, settings: FlowsSettings, flows: number,
  baseOpts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<FlowRunResult> {
  // a log per run: waitFlowsTracked reads it, and every run uses the same interface names
  const agentOpts = { ...baseOpts, logPath: baseOpts.logPath.replace(/(\.log)?$/, `-${flows}.log`) };
  const [p0, p1, p2] = [lab.pod(0), lab.pod(1), lab.pod(2)];
  const perDest = Math.ceil(flows / 2);
  const span = PORT_TO - PORT_FROM + 1;
  if (perDest > span) throw new Error(`${flows} flows: at most ${2 * span} with two destinations`);
  const targets = [
    { ip: p1.ip, portFrom: PORT_FROM, portTo: PORT_FROM + perDest - 1 },
    { ip: p2.ip, portFrom: PORT_FROM, portTo: PORT_FROM + (flows - perDest) - 1 },
  ];
  const destinations = targets.map((t) => `${t.ip} ports ${t.portFrom}–${t.portTo}`).join(', ');
  const wanted = new Set<string>();
  for (const t of targets) for (let p = t.portFrom; p <= t.portTo; p++) wanted.add(`${t.ip}|${p}`);
  const ifPod0 = ifindexOf(p0.hostIfname);
  const receiverIfs = new Set([ifindexOf(p1.hostIfname), ifindexOf(p2.hostIfname)]);
  const label = flows >= 1000 ? `${round(flows / 1000, 1)}k` : String(flows);

  receiver.clear();
  const agent = AgentProcess.start(agentOpts);
  track(agent);
  let gen: Generator | undefined;
  let receivers: Receivers | undefined;
  try {
    const attached = await agent.waitAttached(receiver, 3, settings.exportIntervalMs * 2 + 30_000);
    await waitFlowsTracked(agentOpts.logPath, `fv${lab.name}-`, 3, 30_000);
    progress(`d[${label}]: agent pid ${agent.pid} attached to ${attached} interfaces, flow records on for the 3 pod veths; settling ${settings.settleSeconds} s`);
    receivers = await startReceivers(lab, [1, 2]);
    const receiveMode = receivers.mode;
    await sleep(settings.settleSeconds * 1000);

    const flowBase = receiver.latest(INSTRUMENTS.flowPackets.name, { [ATTR.srcWorkload]: p0.netns }) ?? 0;
    const link0 = await linkStats(p0.hostIfname);
    const rounds = 1 + Math.ceil((settings.windowSeconds * 1000) / settings.periodMs) + 1;
    progress(`d[${label}]: ${flows} flows from ${p0.ip}:${FLOW_SPORT}/udp to ${destinations}; one datagram per flow every ${settings.periodMs / 1000} s, ${rounds} rounds`);
    gen = startGenerator(lab, { sport: FLOW_SPORT, size: PAYLOAD, periodMs: settings.periodMs, rounds, targets });
    await gen.round(1, settings.periodMs * 4 + 30_000);
    progress(`d[${label}]: every flow created (round 1 done); measuring the agent for ${settings.windowSeconds} s (export interval ${settings.exportIntervalMs / 1000} s)`);

    const t0 = Date.now();
    const m = await measureProcess(agent.pid, () => sleep(settings.windowSeconds * 1000));
    const t1 = Date.now();
    const window = m.window;
    progress(`d[${label}]: agent ${window.pctOfOneCore.toFixed(2)}% of a core, VmRSS max ${(window.rssMax / MB).toFixed(1)} MB, VmHWM ${(window.hwmEnd / MB).toFixed(1)} MB, machine ${window.machineBusyPct.toFixed(0)}% busy`);
    const exportsInWindow = receiver.requests.filter((e) => e.receivedAt >= t0 && e.receivedAt <= t1).length;

    const g = await gen.done;
    gen = undefined;
    const tEndNs = BigInt(Date.now()) * 1_000_000n;
    await sleep(300);
    const link1 = await linkStats(p0.hostIfname);
    const recv = await receivers.stop();
    receivers = undefined;
    progress(`d[${label}]: generator sent ${g.sent} datagrams in ${g.rounds} rounds (${g.errors} errors, slowest round ${g.maxRoundMs} ms)`);

    // The kernel's flow table, read now (the agent keeps it until it stops).
    const fm = findFlowMap(agent.pid);
    const r0 = process.hrtime.bigint();
    const snap = readMapById(fm.id, fm.maxEntries);
    const readMs = Number(process.hrtime.bigint() - r0) / 1e6;
    let counted = 0;
    let countedExactPackets = 0;
    let countedAtReceiver = 0;
    let otherRecords = 0;
    const seenSender = new Set<string>();
    const seenReceiver = new Set<string>();
    for (const r of decodeFlows(snap)) {
      const mine = r.proto === 17 && r.src === p0.ip && r.sport === FLOW_SPORT && wanted.has(`${r.dst}|${r.dport}`);
      if (mine && r.ifindex === ifPod0 && r.direction === TRAFFIC_INGRESS) {
        counted++;
        seenSender.add(`${r.dst}|${r.dport}`);
        if (r.packets === BigInt(g.rounds)) countedExactPackets++;
      } else if (mine && receiverIfs.has(r.ifindex) && r.direction === TRAFFIC_EGRESS) {
        countedAtReceiver++;
        seenReceiver.add(`${r.dst}|${r.dport}`);
      } else {
        otherRecords++;
      }
    }
    const sample = (seen: Set<string>): string[] => {
      const out: string[] = [];
      for (const w of wanted) if (!seen.has(w) && out.push(w.replace('|', ':')) >= 10) break;
      return out;
    };
    const missingSample = sample(seenSender);
    const missingAtReceiverSample = sample(seenReceiver);
    const sharePct = (counted / flows) * 100;
    progress(`d[${label}]: kernel flow table: ${snap.count} records (read in ${readMs.toFixed(0)} ms); ${counted} of ${flows} generated flows on pod 0's veth (${sharePct.toFixed(3)}%), ${countedAtReceiver} at the receivers' veths`);

    // The first export whose flow series were read after the traffic ended.
    await receiver.waitFor((r) => {
      const s = r.series(INSTRUMENTS.flowPackets.name).filter((x) => x.attrs[ATTR.srcWorkload] === p0.netns);
      return s.length > 0 && s.every((x) => BigInt(x.time) > tEndNs);
    }, settings.exportIntervalMs * 2 + 15_000).catch((err: unknown) => {
      throw new Error(`no export of ${INSTRUMENTS.flowPackets.name} from ${p0.netns} after the traffic: ${(err as Error).message}`);
    });
    const flowSeries = receiver.series(INSTRUMENTS.flowPackets.name).filter((x) => x.attrs[ATTR.srcWorkload] === p0.netns);
    const flowPacketsDelta = flowSeries.reduce((a, x) => a + x.value, 0) - flowBase;
    const flowsActive = receiver.latest(INSTRUMENTS.flowRecords.name);
    const flowsEvicted = receiver.latest(INSTRUMENTS.flowEvictions.name);
    const recordFailures: Record<string, number> = {};
    for (const s of receiver.series(INSTRUMENTS.recordFailures.name)) {
      recordFailures[`${String(s.attrs[ATTR.probe] ?? '?')}/${String(s.attrs[ATTR.failureKind] ?? '?')}`] = s.value;
    }
    const seriesOverflow = receiver.latest(INSTRUMENTS.seriesOverflow.name) ?? 0;
    const mapRead = mapReadPerExport(receiver, t0, t1);

    progress(`d[${label}]: agent: flows.active ${flowsActive ?? 'n/a'}, flows.evicted ${flowsEvicted ?? 'n/a'}, fovea.flow.packets from pod 0 Δ ${flowPacketsDelta} (sent ${g.sent}, veth rx Δ ${link1.rxPackets - link0.rxPackets})`);
    const exit = await agent.stop();
    track(undefined);
    const exportFailures = receiver.latest(INSTRUMENTS.exportFailures.name) ?? 0;
    return {
      flows, destinations, agentPid: agent.pid, agentCommand: agent.argv.join(' '),
      generator: {
        rounds: g.rounds, sent: g.sent, errors: g.errors, ...(g.firstError ? { firstError: g.firstError } : {}),
        elapsedMs: g.elapsedMs, maxRoundMs: g.maxRoundMs, lateRounds: g.lateRounds,
        pps: Math.round(flows / (settings.periodMs / 1000)),
      },
      window, exportsInWindow, mapRead,
      kernel: { mapId: fm.id, maxEntries: fm.maxEntries, records: snap.count, readMs: round(readMs, 1), counted, countedExactPackets, countedAtReceiver, otherRecords, missingSample, missingAtReceiverSample },
      sharePct,
      truth: {
        hostVethRx: link1.rxPackets - link0.rxPackets, receiveMode,
        ...(recv.received !== undefined ? { sinkReceived: recv.received } : {}),
        ...(recv.rewritten !== undefined ? { rewritten: recv.rewritten } : {}),
      },
      agent: {
        flowsActive, flowsEvicted, flowPacketsDelta, flowSeries: flowSeries.length, recordFailures,
        seriesOverflow, exportFailures, exitCode: exit.code,
      },
    };
  } finally {
    gen?.kill();
    await receivers?.stop().catch(() => undefined);
    await agent.stop();
    track(undefined);
  }
}

// ---- the part ----

const mbOf = (b: number): number => b / MB;

export async function runFlows(lab: Lab, receiver: OtlpReceiver, settings: FlowsSettings,
  agentOpts: AgentProcessOptions, track: (a: AgentProcess | undefined) => void): Promise<FlowsResult> {
  if (lab.pods.length < 3) throw new Error(`part d needs a lab with 3 pods (has ${lab.pods.length})`);
  const runs: FlowRunResult[] = [];
  for (const n of settings.flowCounts) runs.push(await runOne(lab, receiver, settings, n, agentOpts, track));
  const last = runs[runs.length - 1];
  const targets: Target[] = [];
  if (last) {
    const at = `@${last.flows >= 1000 ? `${round(last.flows / 1000, 1)}k` : last.flows}`;
    const w = last.window;
    targets.push(
      target('d', `d.share${at}`, `generated flows with a record in the kernel flow table on pod 0's veth (ingress), read from the agent's map after the window, of ${last.flows}`, last.sharePct, '>=', SHARE_MIN_PCT, '%', 3),
      target('d', `d.cpu${at}`, `agent CPU with ${last.flows} active flows, utime+stime over ${round(w.wallSeconds, 1)} s wall (${last.exportsInWindow} export${last.exportsInWindow === 1 ? '' : 's'} at ${settings.exportIntervalMs / 1000} s), % of one core`, w.pctOfOneCore, '<=', CPU_MAX_PCT, '% core', 3),
      target('d', `d.rss${at}`, 'agent VmHWM (peak RSS since start) at the end of the window (MB = 10^6 bytes)', mbOf(w.hwmEnd), '<=', RSS_MAX_MB, 'MB', 1),
      target('d', `d.evicted${at}`, 'fovea.agent.flows.evicted with default flow settings (first export after the traffic)', last.agent.flowsEvicted ?? NaN, '==', 0, 'flows', 0),
      target('d', `d.flow-packets${at}`, 'Σ fovea.flow.packets of pod 0\'s series (Δ over the run) = datagrams the generator sent', last.agent.flowPacketsDelta, '==', last.generator.sent, 'packets', 0),
    );
  }
  return { settings, sourcePort: FLOW_SPORT, payloadBytes: PAYLOAD, runs, targets };
}
