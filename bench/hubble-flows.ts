/**
 * Part (f): flows per second the Hubble server sustains to one client and to 8 clients, with the
 * agent's CPU and memory. Target: ≥ 50,000 flows/s to one client under 25% of a core.
 *
 * Flows: DROPPED flows from drop events. trafgen sends minimal UDP frames (`-b <n>pps`, one worker)
 * through a tbf qdisc that paces them evenly (storm.ts: trafgen alone sends each second's packets
 * in one burst) into the storm veth, where an nft netdev rule drops them; the agent's in-kernel
 * event rate limit is raised above the offered rate, so every drop is an event and a flow.
 * The agent: Hubble on a Unix socket only, no event export, an OTLP endpoint where nothing listens,
 * its own observe socket, default drain interval and flow buffer.
 * Clients: bench/hubble-client.mjs, one process per configuration holding 1 or 8 GetFlows
 * {follow: true} streams (each its own HTTP/2 connection), counting messages without decoding.
 *
 * Configurations are interleaved across rounds (their order rotated each round); each run: client
 * connected, paced storm started, a warm-up, then a window in which the bench reads the nft
 * counter, the agent's CPU ticks and VmHWM (reset at the window's start through clear_refs), the
 * Hubble ServerStatus (seen_flows: the drop events the agent read) and the client's counters and
 * CPU, at both ends. Rates and CPU are reported as the mean over rounds with a 95% confidence
 * interval (t-distribution); the target counts as met only when the interval says so.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import { hubbleTypes } from '../src/hubble/proto.js';
import { AgentProcess, type AgentProcessOptions } from './agent-process.js';
import { nftCount, pace, paceStats, setUp, startTrafgen, STORM_B, STORM_INTERFACES, tearDown, trafgenConfig, type Trafgen } from './storm.js';
import { benchScript, clockTicks, cpuTicks, MB, meanCi, procMem, progress, round, sleep, systemCpu, target, type MeanCi, type Target } from './util.js';

/** The field mask `hubble observe` sends by default (hubble CLI, cmd/observe: defaultFieldMask). */
export const HUBBLE_CLI_FIELD_MASK = [
  'time', 'verdict', 'ethernet', 'IP', 'l4', 'source.identity', 'source.namespace', 'source.pod_name',
  'destination.identity', 'destination.namespace', 'destination.pod_name', 'Type', 'node_name', 'l7', 'event_type',
  'source_service', 'destination_service', 'is_reply', 'Summary', 'ip_trace_id',
] as const;

export interface HubbleFlowsConfig {
  readonly id: string;
  /** drops/s trafgen is asked for */
  readonly offeredPps: number;
  /** GetFlows streams (0 = no client: the event pipeline and flow buffer alone) */
  readonly streams: number;
  /** the hubble CLI's default field mask */
  readonly mask: boolean;
}

export interface HubbleFlowsSettings {
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly windowSeconds: number;
  readonly settleSeconds: number;
  readonly exportIntervalMs: number;
  /** --drop-event-rate: above every offered rate, so nothing is suppressed */
  readonly ratePerCpu: number;
  readonly configs: readonly HubbleFlowsConfig[];
  /** the configuration the target is judged on */
  readonly targetConfig: string;
  readonly targetFlowsPerSecond: number;
  readonly targetCpuPct: number;
}

export interface StreamWindow {
  readonly flows: number;
  readonly flowsPerSecond: number;
  readonly messages: number;
  readonly lost: Readonly<Record<string, number>>;
  readonly lostMessages: number;
  readonly bytesPerFlow: number;
  readonly checked: number;
  readonly notDropped: number;
  readonly malformed: number;
  readonly status?: string;
  readonly error?: string;
}

export interface HubbleFlowsRun {
  readonly config: string;
  readonly round: number;
  readonly order: number;
  readonly wallSeconds: number;
  readonly offered: { readonly nftDelta: number; readonly perSecond: number };
  /** ServerStatus.seen_flows Δ: drop events the agent read (1 + suppressed each), every reason */
  readonly seen: { readonly delta: number; readonly perSecond: number };
  readonly streams: readonly StreamWindow[];
  /** mean over the streams of flows/s delivered to each */
  readonly deliveredPerClient: number;
  /** Σ over the streams */
  readonly deliveredTotal: number;
  readonly agent: { readonly cpuPct: number; readonly rssMax: number; readonly rssEnd: number; readonly hwm: number };
  readonly client?: { readonly cpuPct: number; readonly pid: number };
  readonly machineBusyPct: number;
  /** frames the pacing qdisc dropped during the run (0 expected: they would be QDISC_DROP drops) */
  readonly paceDropped: number;
}

export interface HubbleFlowsSummary {
  readonly config: HubbleFlowsConfig;
  readonly rounds: number;
  readonly offered: MeanCi;
  readonly seen: MeanCi;
  readonly deliveredPerClient: MeanCi;
  readonly deliveredTotal: MeanCi;
  /** delivered per client ÷ offered, per round */
  readonly ratio: MeanCi;
  readonly agentCpuPct: MeanCi;
  /** agent CPU minus that of the no-client configuration at the same offered rate, paired by round */
  readonly agentCpuAboveBaseline: MeanCi | undefined;
  readonly clientCpuPct: MeanCi | undefined;
  readonly agentHwmMax: number;
  readonly agentRssMax: number;
  readonly lost: Readonly<Record<string, number>>;
  readonly checked: number;
  readonly notDropped: number;
  readonly malformed: number;
  readonly bytesPerFlow: number;
  readonly streamErrors: readonly string[];
  readonly paceDropped: number;
}

export interface HubbleFlowsResult {
  readonly settings: HubbleFlowsSettings;
  readonly agentCommand: string;
  readonly clientCommand: string;
  readonly generator: string;
  readonly clockTicks: number;
  /** CONFIG_IRQ_TIME_ACCOUNTING of the running kernel (/boot/config-<release> or /proc/config.gz); undefined when unknown */
  readonly irqTimeAccounting: boolean | undefined;
  readonly runs: readonly HubbleFlowsRun[];
  readonly summary: readonly HubbleFlowsSummary[];
  readonly targets: Target[];
}

// ---- the bench's own unary calls (ServerStatus) ----

type StatusClient = grpc.Client & { ServerStatus(req: Buffer, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Buffer) => void): void };

function statusClient(socket: string): StatusClient {
  const id = (b: Buffer): Buffer => b;
  const Ctor = grpc.makeGenericClientConstructor({
    ServerStatus: { path: '/observer.Observer/ServerStatus', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  }, 'Observer');
  return new Ctor(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as StatusClient;
}

async function seenFlows(c: StatusClient, deadlineMs = 2_000): Promise<number> {
  const raw = await new Promise<Buffer>((resolve, reject) => {
    c.ServerStatus(Buffer.alloc(0), { deadline: Date.now() + deadlineMs }, (e, v) => (e ? reject(e) : resolve(v)));
  });
  const t = hubbleTypes().ServerStatusResponse;
  const o = t.toObject(t.decode(raw), { longs: Number }) as { seen_flows?: number };
  return o.seen_flows ?? 0;
}

// ---- the client process ----

interface ClientMark {
  readonly atMs: number;
  readonly cpu: { user: number; system: number };
  readonly streams: ReadonlyArray<{
    messages: number; flows: number; lostMessages: number; lost: Record<string, number>; bytes: number;
    checked: number; notDropped: number; malformed: number; status?: string; error?: string;
  }>;
}

class HubbleClientProcess {
  private readonly child: ChildProcess;
  private readonly waiters: Array<(o: Record<string, unknown>) => void> = [];
  private stderr = '';
  private exited = false;
  readonly pid: number;

  constructor(script: string, socket: string, streams: number, request: Uint8Array) {
    this.child = spawn(process.execPath, [script, '--socket', socket, '--streams', String(streams), '--request', Buffer.from(request).toString('base64')],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error('could not spawn the Hubble client');
    this.pid = this.child.pid;
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let o: Record<string, unknown>;
      try { o = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      this.waiters.shift()?.(o);
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w({ error: `client exited: ${this.stderr.trim().slice(-300)}` });
    });
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.exited) { reject(new Error(`Hubble client exited: ${this.stderr.trim().slice(-300)}`)); return; }
      const t = setTimeout(() => reject(new Error('Hubble client did not answer')), timeoutMs);
      this.waiters.push((o) => { clearTimeout(t); resolve(o); });
    });
  }

  async ready(): Promise<void> {
    const o = await this.next(10_000);
    if (!o['ready']) throw new Error(`Hubble client: ${String(o['error'] ?? JSON.stringify(o))}`);
  }

  async mark(): Promise<ClientMark> {
    const p = this.next(5_000);
    this.child.stdin!.write('mark\n');
    const o = await p;
    if (!o['mark']) throw new Error(`Hubble client: ${String(o['error'] ?? JSON.stringify(o))}`);
    return o as unknown as ClientMark;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.write('stop\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(t);
  }
}

// ---- one run ----

interface Snapshot {
  readonly nft: number;
  readonly nftAtMs: number;
  readonly seen: number;
  readonly ticks: number;
  readonly ticksAtMs: number;
  readonly sys: { busy: number; total: number };
  readonly client?: ClientMark;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

async function snapshot(agentPid: number, status: StatusClient, client: HubbleClientProcess | undefined): Promise<Snapshot> {
  const ticksAtMs = nowMs();
  const ticks = cpuTicks(agentPid);
  const sys = systemCpu();
  const nftP = (async () => { const t0 = nowMs(); const n = await nftCount(); return { n, at: (t0 + nowMs()) / 2 }; })();
  const [nft, seen, mark] = await Promise.all([nftP, seenFlows(status), client?.mark()]);
  return { nft: nft.n, nftAtMs: nft.at, seen, ticks, ticksAtMs, sys, ...(mark ? { client: mark } : {}) };
}

function requestFor(mask: boolean): Uint8Array {
  const t = hubbleTypes().GetFlowsRequest;
  return t.encode(t.fromObject({ follow: true, ...(mask ? { field_mask: { paths: [...HUBBLE_CLI_FIELD_MASK] } } : {}) })).finish();
}

async function oneRun(cfg: HubbleFlowsConfig, roundNo: number, order: number, s: HubbleFlowsSettings, ctx: {
  agent: AgentProcess; status: StatusClient; hubbleSocket: string; script: string; trafgenCfg: string;
}): Promise<HubbleFlowsRun> {
  let client: HubbleClientProcess | undefined;
  let gen: Trafgen | undefined;
  try {
    if (cfg.streams > 0) {
      client = new HubbleClientProcess(ctx.script, ctx.hubbleSocket, cfg.streams, requestFor(cfg.mask));
      await client.ready();
    }
    await pace(cfg.offeredPps);
    const paced0 = (await paceStats()).dropped;
    gen = startTrafgen(ctx.trafgenCfg, { threads: 1, ratePps: cfg.offeredPps });
    await sleep(s.warmupSeconds * 1000);
    const pid = ctx.agent.pid;
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS: the peak below is this window's
    let rssMax = procMem(pid).rss;
    const sampler = setInterval(() => { try { rssMax = Math.max(rssMax, procMem(pid).rss); } catch { /* gone */ } }, 250);
    const a = await snapshot(pid, ctx.status, client);
    await sleep(s.windowSeconds * 1000);
    const b = await snapshot(pid, ctx.status, client);
    clearInterval(sampler);
    const mem = procMem(pid);
    rssMax = Math.max(rssMax, mem.rss);
    await gen.stop();
    gen = undefined;
    // what the qdisc still holds goes out at the paced rate (≤ 2 s): let it, so the next run starts clean
    let ps = await paceStats();
    for (const until = Date.now() + 3_000; ps.backlog > 0 && Date.now() < until; ps = await paceStats()) await sleep(100);

    const agentWall = (b.ticksAtMs - a.ticksAtMs) / 1000;
    const nftWall = (b.nftAtMs - a.nftAtMs) / 1000;
    const nftDelta = b.nft - a.nft;
    const streams: StreamWindow[] = [];
    let clientCpuPct: number | undefined;
    if (a.client && b.client) {
      const cw = (b.client.atMs - a.client.atMs) / 1000;
      clientCpuPct = ((b.client.cpu.user + b.client.cpu.system - a.client.cpu.user - a.client.cpu.system) / 1e6 / cw) * 100;
      b.client.streams.forEach((sb, i) => {
        const sa = a.client!.streams[i]!;
        const lost: Record<string, number> = {};
        for (const [k, v] of Object.entries(sb.lost)) if (v - (sa.lost[k] ?? 0)) lost[k] = v - (sa.lost[k] ?? 0);
        const flows = sb.flows - sa.flows;
        streams.push({
          flows, flowsPerSecond: flows / cw, messages: sb.messages - sa.messages, lost, lostMessages: sb.lostMessages - sa.lostMessages,
          bytesPerFlow: flows ? (sb.bytes - sa.bytes) / (sb.messages - sa.messages) : NaN,
          checked: sb.checked - sa.checked, notDropped: sb.notDropped - sa.notDropped, malformed: sb.malformed - sa.malformed,
          ...(sb.status !== undefined ? { status: sb.status } : {}), ...(sb.error !== undefined ? { error: sb.error } : {}),
        });
      });
    }
    const deliveredTotal = streams.reduce((x, st) => x + st.flowsPerSecond, 0);
    const run: HubbleFlowsRun = {
      config: cfg.id, round: roundNo, order, wallSeconds: round(agentWall, 3),
      offered: { nftDelta, perSecond: nftDelta / nftWall },
      seen: { delta: b.seen - a.seen, perSecond: (b.seen - a.seen) / nftWall },
      streams, deliveredPerClient: streams.length ? deliveredTotal / streams.length : 0, deliveredTotal,
      agent: { cpuPct: ((b.ticks - a.ticks) / clockTicks() / agentWall) * 100, rssMax, rssEnd: mem.rss, hwm: mem.hwm },
      ...(client && clientCpuPct !== undefined ? { client: { cpuPct: clientCpuPct, pid: client.pid } } : {}),
      machineBusyPct: ((b.sys.busy - a.sys.busy) / Math.max(1, b.sys.total - a.sys.total)) * 100,
      paceDropped: ps.dropped - paced0,
    };
    if (run.offered.perSecond > 1_000 && run.seen.perSecond < run.offered.perSecond / 2) {
      progress(`f: WARNING: the agent read ${Math.round(run.seen.perSecond)} of ${Math.round(run.offered.perSecond)} drops/s offered ` +
        '(ring state: node bench/manual/ring-state.mjs <agent pid>)');
    }
    const lostSum: Record<string, number> = {};
    for (const st of streams) for (const [k, v] of Object.entries(st.lost)) lostSum[k] = (lostSum[k] ?? 0) + v;
    const lostText = Object.entries(lostSum).map(([k, v]) => `${k} ${v}`).join(' ');
    progress(`f: round ${roundNo} ${cfg.id}: offered ${Math.round(run.offered.perSecond)}/s, seen ${Math.round(run.seen.perSecond)}/s, ` +
      `delivered ${Math.round(run.deliveredPerClient)}/s per client, agent ${run.agent.cpuPct.toFixed(1)}% core` +
      `${run.client ? `, client ${run.client.cpuPct.toFixed(1)}%` : ''}, VmHWM ${(mem.hwm / MB).toFixed(0)} MB${lostText ? `, lost: ${lostText}` : ''}`);
    return run;
  } finally {
    await gen?.stop().catch(() => undefined);
    await client?.stop();
  }
}

function summarize(cfg: HubbleFlowsConfig, runs: readonly HubbleFlowsRun[], configs: readonly HubbleFlowsConfig[]): HubbleFlowsSummary {
  const rs = runs.filter((r) => r.config === cfg.id);
  const base = cfg.streams > 0 ? configs.find((c) => c.streams === 0 && c.offeredPps === cfg.offeredPps) : undefined;
  const paired = base ? rs.flatMap((r) => {
    const b = runs.find((x) => x.config === base.id && x.round === r.round);
    return b ? [r.agent.cpuPct - b.agent.cpuPct] : [];
  }) : [];
  const lost: Record<string, number> = {};
  for (const r of rs) for (const st of r.streams) for (const [k, v] of Object.entries(st.lost)) lost[k] = (lost[k] ?? 0) + v;
  const allStreams = rs.flatMap((r) => r.streams);
  const flows = allStreams.reduce((x, st) => x + st.flows, 0);
  const clientCpu = rs.filter((r) => r.client).map((r) => r.client!.cpuPct);
  return {
    config: cfg, rounds: rs.length,
    offered: meanCi(rs.map((r) => r.offered.perSecond)),
    seen: meanCi(rs.map((r) => r.seen.perSecond)),
    deliveredPerClient: meanCi(rs.map((r) => r.deliveredPerClient)),
    deliveredTotal: meanCi(rs.map((r) => r.deliveredTotal)),
    ratio: meanCi(rs.map((r) => r.deliveredPerClient / r.offered.perSecond)),
    agentCpuPct: meanCi(rs.map((r) => r.agent.cpuPct)),
    agentCpuAboveBaseline: paired.length ? meanCi(paired) : undefined,
    clientCpuPct: clientCpu.length ? meanCi(clientCpu) : undefined,
    agentHwmMax: Math.max(...rs.map((r) => r.agent.hwm)),
    agentRssMax: Math.max(...rs.map((r) => r.agent.rssMax)),
    lost,
    checked: allStreams.reduce((x, st) => x + st.checked, 0),
    notDropped: allStreams.reduce((x, st) => x + st.notDropped, 0),
    malformed: allStreams.reduce((x, st) => x + st.malformed, 0),
    bytesPerFlow: flows ? allStreams.reduce((x, st) => x + st.bytesPerFlow * st.messages, 0) / allStreams.reduce((x, st) => x + st.messages, 0) : NaN,
    paceDropped: rs.reduce((x, r) => x + r.paceDropped, 0),
    streamErrors: [...new Set(allStreams.flatMap((st) => [st.error, st.status].filter((x): x is string => x !== undefined)))],
  };
}

/** Whether the kernel keeps softirq time out of the interrupted task's times. */
function irqTimeAccounting(): boolean | undefined {
  const reads = [() => readFileSync(`/boot/config-${release()}`, 'utf8'), () => gunzipSync(readFileSync('/proc/config.gz')).toString('utf8')];
  for (const read of reads) {
    try {
      return /^CONFIG_IRQ_TIME_ACCOUNTING=y$/m.test(read());
    } catch { /* not there: the next */ }
  }
  return undefined;
}

async function waitServing(agent: AgentProcess, socket: string, status: StatusClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!agent.running) throw new Error(`agent exited before serving Hubble:\n${agent.logTail()}`);
    if (existsSync(socket)) {
      try { await seenFlows(status, 1_000); return; } catch (err) { last = (err as Error).message; }
    }
    await sleep(200);
  }
  throw new Error(`the agent's Hubble socket ${socket} did not answer ServerStatus within ${timeoutMs} ms (${last})\n${agent.logTail()}`);
}

export async function runHubbleFlows(settings: HubbleFlowsSettings, agentOpts: AgentProcessOptions,
  track: (a: AgentProcess | undefined) => void): Promise<HubbleFlowsResult> {
  const hubbleSocket = join(tmpdir(), `fovea-bench-hubble-${process.pid}.sock`);
  const observeSocket = join(tmpdir(), `fovea-bench-hubble-observe-${process.pid}.sock`);
  const script = benchScript('hubble-client.mjs');
  await setUp();
  let agent: AgentProcess | undefined;
  let status: StatusClient | undefined;
  try {
    const trafgenCfg = trafgenConfig();
    agent = AgentProcess.start({
      ...agentOpts, interfaces: STORM_INTERFACES,
      extraArgs: [...(agentOpts.extraArgs ?? []), '--hubble', '--hubble-socket', hubbleSocket, '--hubble-address', '',
        '--no-event-export', '--observe-socket', observeSocket, '--drop-event-rate', String(settings.ratePerCpu)],
    });
    track(agent);
    status = statusClient(hubbleSocket);
    await waitServing(agent, hubbleSocket, status, 30_000);
    // the drop path works end to end: a burst of drops shows up as seen flows
    const seen0 = await seenFlows(status);
    await pace(50_000);
    await startTrafgen(trafgenCfg, { threads: 1, count: 2_000 }).done;
    const until = Date.now() + 5_000;
    while ((await seenFlows(status)) - seen0 < 2_000) {
      if (Date.now() > until) throw new Error(`2000 drops on ${STORM_B} did not become Hubble flows within 5 s (seen_flows Δ ${(await seenFlows(status)) - seen0})\n${agent.logTail()}`);
      await sleep(100);
    }
    progress(`f: agent pid ${agent.pid} serving Hubble on ${hubbleSocket}; warm-up run (discarded)`);
    const ctx = { agent, status, hubbleSocket, script, trafgenCfg };
    const base = settings.configs.find((c) => c.id === settings.targetConfig) ?? settings.configs[0]!;
    await oneRun(base, 0, 0, { ...settings, windowSeconds: Math.min(2, settings.windowSeconds) }, ctx);

    const runs: HubbleFlowsRun[] = [];
    const k = settings.configs.length;
    for (let r = 1; r <= settings.rounds; r++) {
      for (let i = 0; i < k; i++) {
        const cfg = settings.configs[(i + r - 1) % k]!;
        if (!agent.running) throw new Error(`agent exited during part f:\n${agent.logTail()}`);
        runs.push(await oneRun(cfg, r, i, settings, ctx));
        await sleep(settings.settleSeconds * 1000);
      }
    }
    const summary = settings.configs.map((c) => summarize(c, runs, settings.configs));
    const t = summary.find((x) => x.config.id === settings.targetConfig);
    const targets: Target[] = [];
    if (t) {
      const d = t.deliveredPerClient, c = t.agentCpuPct;
      targets.push(
        target('f', 'f.flows-1client', `flows/s delivered to one GetFlows {follow} client at ${t.config.offeredPps.toLocaleString('en-US')} drops/s offered: ` +
          `lower bound of the 95% CI of the mean over ${d.n} rounds (mean ${Math.round(d.mean)}, CI ${Math.round(d.lo)}–${Math.round(d.hi)}; ` +
          `offered ${Math.round(t.offered.mean)}/s)`,
        d.lo, '>=', settings.targetFlowsPerSecond, 'flows/s', 0),
        target('f', 'f.cpu-1client', `agent CPU over the same windows, % of one core: upper bound of the 95% CI of the mean over ${c.n} rounds ` +
          `(mean ${c.mean.toFixed(2)}, CI ${c.lo.toFixed(2)}–${c.hi.toFixed(2)}); the target is < ${settings.targetCpuPct}`,
        c.hi, '<=', settings.targetCpuPct, '% core', 2),
      );
    }
    return {
      settings, agentCommand: agent.argv.join(' '),
      clientCommand: `node bench/hubble-client.mjs --socket <hubble socket> --streams N --request <GetFlowsRequest {follow: true[, field_mask]}>`,
      generator: `trafgen (netsniff-ng), 1 worker at -b <n>pps through a tbf qdisc at that rate (evenly paced) → ${STORM_B} (nft netdev ingress drop)`,
      clockTicks: clockTicks(), irqTimeAccounting: irqTimeAccounting(), runs, summary, targets,
    };
  } finally {
    status?.close();
    await agent?.stop();
    track(undefined);
    await tearDown();
    rmSync(observeSocket, { force: true });
    rmSync(hubbleSocket, { force: true });
  }
}

