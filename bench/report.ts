/** Renders bench/results/latest.md (or part-<parts>.md) from the results document (the same data as its .json). */
import type { AgentCostResult } from './agent-cost.js';
import type { DnsStormResult, UdpErrors } from './dns-storm.js';
import type { EventsStormResult, Latency } from './events-storm.js';
import type { FlowsResult } from './flows.js';
import type { HubbleFlowsResult, HubbleFlowsSummary } from './hubble-flows.js';
import type { MachineInfo } from './machine.js';
import type { TcCostResult } from './tc-cost.js';
import type { ProgramRuns } from './bpf-stats.js';
import type { TcpCostResult } from './tcp-cost.js';
import { lastWindow, type IdleCostResult } from './idle-cost.js';
import type { ThroughputResult } from './throughput.js';
import type { ToggleResult } from './throughput-toggle.js';
import type { ManyFlowsResult } from './many-flows.js';
import { MB, median, type MeanCi, type PartId, type Target } from './util.js';

export interface BenchResults {
  readonly benchmark: 'fovea-bench';
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly command: string;
  readonly mode: 'full' | 'quick';
  readonly parts: readonly PartId[];
  readonly machine: MachineInfo;
  readonly a?: ThroughputResult;
  readonly b?: TcCostResult;
  readonly c?: AgentCostResult;
  readonly d?: FlowsResult;
  readonly e?: EventsStormResult;
  readonly f?: HubbleFlowsResult;
  readonly g?: TcpCostResult;
  readonly h?: DnsStormResult;
  readonly i?: IdleCostResult;
  readonly j?: ManyFlowsResult;
  readonly errors: ReadonlyArray<{ readonly part: PartId | 'setup'; readonly message: string }>;
  readonly targets: readonly Target[];
}

const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const mb = (b: number): string => (b / MB).toFixed(1);

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const COUNT_UNITS = new Set(['drops/s', 'drops', 'packets', 'flows', 'events', 'flows/s', 'messages', 'connections']);

function targetsTable(targets: readonly Target[]): string {
  return table(['target', 'measured', 'limit', 'result', 'margin', 'what is compared'], targets.map((t) => [
    t.id, `${COUNT_UNITS.has(t.unit) ? int(t.measured) : t.measured} ${t.unit}`,
    `${t.op} ${COUNT_UNITS.has(t.unit) ? int(t.limit) : t.limit} ${t.unit}`,
    t.pass ? '**pass**' : '**MISS**', t.marginText, t.description,
  ]));
}

/** "min–max Gbit/s (coefficient of variation x%)" */
function spread(xs: readonly number[]): string {
  if (xs.length < 2) return 'n/a (one run)';
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return `${f(Math.min(...xs))}–${f(Math.max(...xs))} Gbit/s (coefficient of variation ${f((sd / mean) * 100, 1)}%)`;
}

function partA(a: ThroughputResult): string {
  const pairs = [...new Set(a.runs.map((r) => r.pair))];
  const rows = pairs.map((p) => {
    const wo = a.runs.find((r) => r.pair === p && r.mode === 'without');
    const w = a.runs.find((r) => r.pair === p && r.mode === 'with');
    const counted = w?.agentCountedBytes !== undefined ? `${(w.agentCountedBytes / 1e9).toFixed(2)} GB (iperf3: ${(w.bytes / 1e9).toFixed(2)} GB)` : 'n/a';
    return [String(p), wo ? f(wo.gbps) : 'n/a', w ? f(w.gbps) : 'n/a', wo && w ? `${f((w.gbps / wo.gbps) * 100, 1)}%` : 'n/a',
      `${wo?.retransmits ?? 'n/a'} / ${w?.retransmits ?? 'n/a'}`, counted];
  });
  return [
    '## (a) TCP throughput between two pods, agent attached vs not',
    '',
    `${a.direction}; ${a.settings.pairs} pairs × ${a.settings.seconds} s, alternating without → with` +
    `${a.settings.warmupSeconds ? ` after a ${a.settings.warmupSeconds} s warm-up` : ''}. The packets cross both host-side veths ` +
    '(client pod egress = host veth ingress, then host veth egress into the server pod), where the agent\'s tc programs sit.',
    '',
    `"With": the real agent process (\`node bin/fovea.js agent\`, export interval ${a.settings.exportIntervalMs / 1000} s, drop probe on), started for the run ` +
    'and measured only after `fovea.agent.interfaces.attached` ≥ 2 arrived at the bench\'s OTLP receiver; stopped (SIGTERM, awaited) afterwards. ' +
    `"Without": ${a.withoutCheck}.`,
    '',
    table(['pair', 'without (Gbit/s)', 'with (Gbit/s)', 'with ÷ without', 'retransmits without / with', 'bytes the agent counted on the client veth'], rows),
    '',
    `Median without **${f(a.medianWithoutGbps)} Gbit/s**, with **${f(a.medianWithGbps)} Gbit/s** → ratio **${f(a.ratioPct)}%** ` +
    `(per-pair ratios ${a.pairRatiosPct.map((x) => `${x}%`).join(', ')}).`,
    '',
    `Run-to-run noise: without the agent the runs spread ${spread(a.runs.filter((r) => r.mode === 'without').map((r) => r.gbps))}, ` +
    `with it ${spread(a.runs.filter((r) => r.mode === 'with').map((r) => r.gbps))}. When that spread is many times the 2% the target allows, ` +
    'one run of this part cannot resolve the target either way: more and longer pairs, or a quieter machine, are needed.',
  ].join('\n');
}

function partB(b: TcCostResult): string {
  const rowsOf = (frames: TcCostResult['frames']): string[][] => frames.map((fr) => [
    `${fr.frameBytes} B`,
    `${fr.traffic.kernelNsMedian} (${fr.traffic.kernelNsMin}–${fr.traffic.kernelNsMax})`,
    `${fr.baseline.kernelNsMedian} (${fr.baseline.kernelNsMin}–${fr.baseline.kernelNsMax})`,
    String(fr.netNs),
    `${f(fr.traffic.wallNsMedian)} / ${f(fr.baseline.wallNsMedian)}`,
  ]);
  const rows = rowsOf(b.frames);
  const mc = b.mapCheck;
  return [
    '## (b) tc program cost per packet (BPF_PROG_TEST_RUN)',
    '',
    `${b.program} vs the baseline ${b.baselineProgram}, on an Ethernet/IPv4/TCP frame of each size, ` +
    `${b.settings.rounds} rounds × repeat ${b.settings.repeat.toLocaleString('en-US')}, the two programs interleaved in every round (order flipped each round). ` +
    'Kernel ns/run is BPF_PROG_TEST_RUN\'s own average (integer ns); the wall column is the syscall\'s wall time ÷ repeat.',
    '',
    'Normal path — the interface owns its fast-path slot (what the agent sets up on attach):',
    '',
    table(['frame', 'traffic_ingress raw ns/run, median (min–max)', 'empty baseline ns/run', 'net ns (median − median)', 'wall ns/run traffic / empty'], rows),
    '',
    'Fallback path — another interface owns the slot, so the per-CPU hash map is used (informational):',
    '',
    table(['frame', 'traffic_ingress raw ns/run, median (min–max)', 'empty baseline ns/run', 'net ns (median − median)', 'wall ns/run traffic / empty'], rowsOf(b.collisionPath ?? [])),
    '',
    `Counting path check: the slot and traffic_counts hold ${int(mc.countedPackets)} packets / ${int(mc.countedBytes)} bytes, ` +
    `expected ${int(mc.expectedPackets)} / ${int(mc.expectedBytes)} → ${mc.exact ? 'exact' : '**MISMATCH**'}.`,
    '',
    'Two verdicts against the 50 ns target: **net** (traffic_ingress − empty program, medians) is the probe\'s own work per packet per hook; ' +
    '**raw** (baseline not subtracted) is an upper bound that also carries BPF_PROG_TEST_RUN\'s per-iteration overhead — which the empty program ' +
    'measures, and which in the real datapath is replaced by the tcx dispatch. A pod-to-pod packet on one node passes two hooks ' +
    '(sender\'s host veth ingress, receiver\'s host veth egress).',
  ].join('\n');
}

function partC(c: AgentCostResult): string {
  const s = c.storm;
  const ref = c.referenceStorm;
  const rows: string[][] = [
    ['idle', f(c.idle.wallSeconds, 1), f(c.idle.pctOfOneCore, 3), mb(c.idle.rssMax), mb(c.idle.rssEnd), mb(c.idle.hwmEnd), f(c.idle.machineBusyPct, 1), '—'],
    ['drop storm', f(s.wallSeconds, 1), f(s.pctOfOneCore, 3), mb(s.rssMax), mb(s.rssEnd), mb(s.hwmEnd), f(s.machineBusyPct, 1), int(s.dropsPerSecond)],
  ];
  const d = c.dropCheck;
  const foreign = Object.entries(d.allDropDeltas).filter(([k]) => !k.startsWith('NETFILTER_DROP/udp/'));
  const mismatch = d.agentDelta - d.nftDelta;
  const verdict = mismatch === 0
    ? 'The agent\'s count moved by exactly the nft rule\'s count.'
    : `**Mismatch: the agent counted ${int(mismatch)} ${mismatch > 0 ? 'more' : 'fewer'} than the nft rule.** ` + (foreign.length || d.idleDelta
      ? `Other drops happened on the machine in the same window (${foreign.length} other drop series moved${d.idleDelta ? `, and ${int(d.idleDelta)} NETFILTER_DROP/udp drops came in while the bench sent nothing` : ''}): ` +
        'a parallel workload on this machine is the likely source; re-run on a quiet machine before reading this as a probe bug.'
      : 'No other drop activity was seen in the window: treat this as a probe bug.');
  return [
    '## (c) agent CPU and memory, idle and during a drop storm',
    '',
    `Agent: \`${c.agentCommand}\` (pid ${c.agentPid}), export interval **${c.settings.exportIntervalMs / 1000} s** (set explicitly), attached to both lab veths, drop probe on. ` +
    `CPU = (utime+stime) from /proc/<pid>/stat ÷ CLK_TCK ÷ wall time, all threads; VmRSS sampled every 0.5 s, VmHWM = peak since the agent started (MB = 10^6 bytes).`,
    '',
    table(['phase', 'wall s', 'agent CPU (% of one core)', 'VmRSS max (MB)', 'VmRSS end (MB)', 'VmHWM (MB)', 'whole machine busy (% of all cores)', 'drops/s'], rows),
    '',
    `Storm: \`udpFlood\` with ${c.settings.floodProcesses} sender processes, ${c.floodPath} (dropped by the lab's nft rule → NETFILTER_DROP); ` +
    `${int(s.flood.sent)} datagrams accepted by the senders' sockets, ${int(s.nftDelta)} counted by the nft rule in ${f(s.flood.elapsedMs / 1000, 1)} s` +
    `${s.flood.errors ? ` (${int(s.flood.errors)} send errors, first: ${s.flood.firstError ?? '?'})` : ''}.`,
    ref ? `Reference storm without the agent (same flood, ${c.settings.referenceStormSeconds} s): ${int(ref.dropsPerSecond)} drops/s — with the agent: ${int(s.dropsPerSecond)} drops/s (${f((s.dropsPerSecond / ref.dropsPerSecond) * 100, 1)}%).` : '',
    '',
    `**The flood itself uses the machine**: during the storm the whole machine was ${f(s.machineBusyPct, 0)}% busy (both cores: the senders and the kernel's forward/drop path). ` +
    'The agent\'s process CPU above is its user-space work (map reads, export); the drop probe\'s eBPF program runs in the senders\' kernel context ' +
    'and is charged to them, not to the agent — its cost shows up as the drop rate with vs without the agent.',
    '',
    table(['exact-count check', 'value'], [
      ['series', `\`${d.series}\``],
      ['nft deny-udp rule Δ (kernel ground truth)', int(d.nftDelta)],
      ['agent Δ, first export collected after the storm', int(d.agentDelta)],
      ['agent Δ, final export at shutdown', d.agentDeltaFinal === undefined ? 'n/a' : int(d.agentDeltaFinal)],
      ['drop rules of other nft tables, Δ meanwhile (interference check)', int(d.otherDropRulesDelta)],
      [`background: same series, Δ over ${f(d.idleSeconds, 1)} s of idle (no bench traffic)`, int(d.idleDelta)],
      ['agent kernel record failures / export failures / exit code', `${c.health.recordFailures} / ${c.health.exportFailures} / ${c.health.agentExitCode}`],
    ]),
    '',
    verdict,
    '',
    'The drop probe counts every drop on the machine (all network namespaces). An exact match needs no other NETFILTER_DROP/udp ' +
    'drop in the window; the background row and the list below show what else the kernel dropped meanwhile ' +
    '(on a shared machine, other tests running in parallel show up here).',
    '',
    `Every drop series that moved over the storm window (reason/transport/type: Δ): ${Object.entries(d.allDropDeltas)
      .sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || 'none'}.`,
    '',
    `CPU resolution: /proc/<pid>/stat counts in ticks of 1/${c.clockTicks} s, i.e. ${f(100 / c.clockTicks / c.idle.wallSeconds, 3)}% of a core over the idle window.`,
  ].join('\n');
}

function partD(d: FlowsResult): string {
  const s = d.settings;
  const k = (n: number): string => (n >= 1000 ? `${f(n / 1000, n % 1000 ? 1 : 0)}k` : String(n));
  const cost = table(
    ['active flows', 'wall s', 'exports', 'agent CPU (% of one core)', 'CPU per export (ms)', 'VmRSS max (MB)', 'VmHWM (MB)', 'machine busy (% of all cores)',
      'map read per export, mean / max (ms)'],
    d.runs.map((r) => [k(r.flows), f(r.window.wallSeconds, 1), String(r.exportsInWindow), f(r.window.pctOfOneCore, 3),
      r.exportsInWindow ? f((r.window.cpuSeconds / r.exportsInWindow) * 1000, 0) : 'n/a', mb(r.window.rssMax), mb(r.window.hwmEnd),
      f(r.window.machineBusyPct, 1), r.mapRead.map((x) => `${x.probe} ${f(x.meanMs, 1)} / ${f(x.maxMs, 1)}`).join('; ') || 'n/a']),
  );
  const counted = table(
    ['active flows', 'kernel records (all)', 'counted on pod 0\'s veth', 'share', 'with every datagram in the record', 'at the receivers\' veths',
      'other records', 'flows.active (agent)', 'flows.evicted (agent)', 'record failures'],
    d.runs.map((r) => [k(r.flows), int(r.kernel.records), int(r.kernel.counted), `${f(r.sharePct, 3)}%`, int(r.kernel.countedExactPackets),
      int(r.kernel.countedAtReceiver), int(r.kernel.otherRecords), r.agent.flowsActive === undefined ? 'n/a' : int(r.agent.flowsActive),
      r.agent.flowsEvicted === undefined ? 'n/a' : int(r.agent.flowsEvicted),
      Object.entries(r.agent.recordFailures).filter(([, v]) => v).map(([x, v]) => `${x}: ${int(v)}`).join(', ') || '0']),
  );
  const missing = d.runs.filter((r) => r.kernel.missingSample.length || r.kernel.missingAtReceiverSample.length).map((r) =>
    `${k(r.flows)}: without a record on pod 0's veth: ${r.kernel.missingSample.join(', ') || 'none'}; without one at the receiver's veth: ${r.kernel.missingAtReceiverSample.join(', ') || 'none'}`);
  const packets = table(
    ['active flows', 'datagrams sent (generator)', 'pod 0 host veth rx Δ (ip -s link)', 'Σ fovea.flow.packets from pod 0, Δ', 'series from pod 0',
      'received by the sinks', 'send errors', 'slowest round (ms)', 'overflowed series / export failures / exit code'],
    d.runs.map((r) => [k(r.flows), int(r.generator.sent), int(r.truth.hostVethRx), int(r.agent.flowPacketsDelta), String(r.agent.flowSeries),
      r.truth.sinkReceived === undefined ? 'n/a' : int(r.truth.sinkReceived), int(r.generator.errors), `${int(r.generator.maxRoundMs)}${r.generator.lateRounds ? ` (${r.generator.lateRounds} late)` : ''}`,
      `${r.agent.seriesOverflow} / ${r.agent.exportFailures} / ${r.agent.exitCode}`]),
  );
  const first = d.runs[0];
  return [
    '## (d) agent CPU and memory with many active flows; share of flows counted',
    '',
    `Agent: ${first ? `\`${first.agentCommand}\`` : 'n/a'} — the real process with pod attribution outside Kubernetes (the lab's three network namespaces are the workloads), ` +
    `**default flow settings** (flow table 262,144 entries, LRU; idle timeout 120 s), export interval **${s.exportIntervalMs / 1000} s** (the interval of the target). A fresh agent per flow count.`,
    '',
    `Traffic: one UDP socket in pod 0 bound to port ${d.sourcePort} sends ${d.payloadBytes}-byte datagrams to N distinct (pod 1 | pod 2 address, destination port) pairs — ` +
    `N distinct 5-tuples — one datagram per flow per round, a round every ${s.periodMs / 1000} s (N ÷ ${s.periodMs / 1000} datagrams/s, paced), so every flow stays active. ` +
    `The source port is a server-like port on purpose: the agent's flow series keep the server port and drop client ports by default, so the N flows aggregate into a few ` +
    'workload-to-workload series as real traffic does (many clients of one service); with ephemeral ports on both ends every flow would be its own series (a port-scan ' +
    'pattern, bounded by the cardinality cap — not what this part measures). ' +
    `Receiving side: ${first?.truth.receiveMode ?? 'n/a'}.`,
    '',
    `Window: the CPU/RSS window (${s.windowSeconds} s) starts once the first round has created every flow; CPU = (utime+stime) of the agent ÷ CLK_TCK ÷ wall time; ` +
    'VmRSS sampled every 0.5 s, VmHWM = peak since the agent started. CPU per export = the window\'s CPU seconds ÷ exports in it. ' +
    'Map read per export = Δ `fovea.agent.map.read.duration` between consecutive exports in the window, per probe, as the agent exports it: only the probes\' own ' +
    'collect (`traffic` = interface counters, `drop` = drop counters). Reading the flow table and turning its records into pod and workload series happens in the ' +
    'agent\'s `pods` source, whose time the agent measures but does not export (AgentHealth reports read time per probe only) — so the flow work shows up in the CPU columns, not here.',
    '',
    cost,
    '',
    '**Share of flows counted** (ground truth, exact): after the window, with the traffic stopped and the agent still running, the bench reads the agent\'s own ' +
    '`traffic_flows` map (found through the agent\'s fds: `/proc/<pid>/fdinfo` map_id → `bpf_map_get_fd_by_id`, batch lookup) and counts the generated 5-tuples that have a record ' +
    'on pod 0\'s host veth, ingress (pod 0 sent) — the records the agent attributes these flows from. `flows.active` (the agent\'s gauge) counts every record: each ' +
    'flow between two local pods has one on the sender\'s veth and one on the receiver\'s, so it is about 2 × N here (the default table holds 262,144 records, i.e. ' +
    '131,072 flows between local pods, or 262,144 to remote ends).',
    '',
    counted,
    '',
    ...(missing.length ? ['Generated flows missing a record (first 10 each, destination:port): ' + missing.join('. ') + '. ' +
      'Port 7777 is the lab\'s nft deny port: the root netns drops those datagrams in `forward` (NETFILTER_DROP), before the receiver\'s veth — ' +
      'so no record there and the sinks miss them; the sender\'s side, which the share and the packet check use, is unaffected.', ''] : []),
    '**Packets** (exact check): Σ `fovea.flow.packets` over pod 0\'s series (source workload = pod 0), first export collected after the traffic ended, minus its value before, ' +
    'against the datagrams the generator\'s socket accepted and pod 0\'s host veth rx counter.',
    '',
    packets,
  ].join('\n');
}

function partE(e: EventsStormResult): string {
  const s = e.storm;
  const r = e.reconcile;
  const lat = (name: string, l: Latency): string[] => [name, int(l.samples), f(l.p50Ms, 1), f(l.p95Ms, 1), f(l.maxMs, 1)];
  return [
    '## (e) drop events under a drop storm',
    '',
    `Storm: ${e.generator}, ${e.threads} threads, ${f(s.trafgenSeconds, 1)} s; ${int(s.nftDelta)} drops counted by the nft rule = ` +
    `**${int(s.dropsPerSecond)} drops/s**. The agent ran with \`--drop-event-rate ${e.settings.ratePerCpu}\` (events per second per CPU per ` +
    'reason, in the kernel), its `fovea observe` socket, and a `fovea observe --follow -o json --reason NETFILTER_DROP` client connected. ' +
    `The whole machine was ${f(s.machineBusyPct, 0)}% busy during the storm (both cores: trafgen and the kernel's receive/drop path). ` +
    `The same storm without the agent, just before it started and just after it stopped: ${int(e.reference.dropsPerSecond)} and ${int(e.referenceAfter.dropsPerSecond)} drops/s — ` +
    `with the agent **${f(e.rateRatio * 100, 1)}%** of their mean ` +
    '(the drop probe runs for every drop in the dropping CPU\'s softirq, not in the agent process). trafgen sends from a packet socket\'s TX ring: ' +
    'the frames\' headers are in page fragments, outside the skb\'s linear area, so the probe counts them as `header_unreadable` and their events carry no 5-tuple.',
    '',
    table(['agent', 'wall s', 'CPU % of one core', 'RSS max MB', 'RSS end MB', 'VmHWM MB'], [
      ['during the storm', f(s.wallSeconds, 1), f(s.pctOfOneCore, 3), mb(s.rssMax), mb(s.rssEnd), mb(s.hwmEnd)],
    ]),
    '',
    `The agent's programs during the same storm, ${f(e.programs.seconds, 1)} s more with \`kernel.bpf_stats_enabled=1\` ` +
    `(${int(e.programs.dropsPerSecond)} drops/s: the stats' own two clock reads per run slow every program down; ` +
    'an empty program on the same hook measures about 50 ns per run this way, see docs/benchmark.md):',
    '',
    table(['program', 'ns per run', 'runs per drop'], [
      ...e.programs.list.map((p) => [`\`${p.name}\``, f(p.nsPerRun, 1), f(p.runsPerDrop, 3)]),
      ['all, per drop', f(e.programs.nsPerDrop, 1), ''],
    ]),
    '',
    'Reconciliation (agent metrics are Δ between the export before and the first export collected after the storm):',
    '',
    table(['', 'count'], [
      ['drops, nft rule Δ (truth)', int(r.nftDelta)],
      ['drops, agent fovea.network.drop.packets{NETFILTER_DROP} Δ', int(r.agentDropDelta)],
      ['drop events read by the agent, every reason (fovea.agent.events.read) Δ', int(r.eventsRead)],
      ['suppressed by the in-kernel rate limit (fovea.agent.events.suppressed{NETFILTER_DROP}) Δ', int(r.suppressed)],
      ['lost to a full ring (fovea.agent.events.lost{ring_full}) Δ', int(r.ringFull)],
      ['NETFILTER_DROP events received as OTLP log records', int(r.otlpReceived)],
      ['NETFILTER_DROP events + suppressed + ring_full', int(r.otlpReceived + r.suppressed + r.ringFull)],
      ['drop events of every reason received as OTLP log records (other drops on the host included)', int(r.otlpReceivedAll)],
      ['drop events received by the `fovea observe` client', int(r.observeReceived)],
      ['Σ over received events of (1 + fovea.events.suppressed): the drops they stand for', int(r.carried)],
      ['lost in the export queue (queue_full) Δ', int(r.queueFull)],
    ]),
    '',
    'The events carry the suppressed drops before them; the drops after the last event of each CPU stay pending in the kernel until the next event, so Σ(1 + suppressed) is at most the truth.',
    '',
    'Latency from the drop (the kernel\'s bpf_ktime_get_ns, converted to wall clock) to arrival (ms):',
    '',
    table(['path', 'events', 'p50', 'p95', 'max'], [
      lat('storm → `fovea observe` line', e.latency.stormObserve),
      lat('storm → OTLP receiver', e.latency.stormOtlp),
      lat('single drop → `fovea observe` line', e.latency.singleObserve),
      lat('single drop → OTLP receiver', e.latency.singleOtlp),
    ]),
  ].join('\n');
}

/** "mean ± half-width" of a 95% CI, with `d` decimals (int when d = 0). */
function ci(c: MeanCi | undefined, d = 0, unit = ''): string {
  if (!c || !Number.isFinite(c.mean)) return 'n/a';
  const fmt = (x: number): string => (d === 0 ? int(x) : f(x, d));
  return Number.isFinite(c.halfWidth) ? `${fmt(c.mean)} ± ${fmt(c.halfWidth)}${unit}` : `${fmt(c.mean)}${unit} (one round)`;
}

function lostOf(streams: HubbleFlowsResult['runs'][number]['streams']): string {
  const sum: Record<string, number> = {};
  for (const st of streams) for (const [k, v] of Object.entries(st.lost)) sum[k] = (sum[k] ?? 0) + v;
  return Object.entries(sum).map(([k, v]) => `${k} ${int(v)}`).join(', ');
}

function verdictF(p: HubbleFlowsResult): string {
  const t = p.summary.find((x) => x.config.id === p.settings.targetConfig);
  if (!t || p.targets.length < 2) return '**Verdict: not measured.**';
  const met = p.targets.every((x) => x.pass);
  const d = t.deliveredPerClient, c = t.agentCpuPct;
  return `**Verdict: target ${met ? 'met' : 'NOT met'}** (≥ ${int(p.settings.targetFlowsPerSecond)} flows/s to one client under ${p.settings.targetCpuPct}% of a core, ` +
    `judged on "${t.config.id}"): delivered ${int(d.mean)} flows/s, 95% CI ${int(d.lo)}–${int(d.hi)} → lower bound ${d.lo >= p.settings.targetFlowsPerSecond ? '≥' : '<'} ${int(p.settings.targetFlowsPerSecond)}; ` +
    `agent CPU ${f(c.mean, 1)}%, 95% CI ${f(c.lo, 1)}–${f(c.hi, 1)}% → upper bound ${c.hi < p.settings.targetCpuPct ? '<' : '≥'} ${p.settings.targetCpuPct}%. ` +
    'The target configuration offers 10% more than the target rate: a delivered rate\'s confidence interval cannot clear 50,000 when exactly 50,000 are offered.';
}

function partF(p: HubbleFlowsResult): string {
  const s = p.settings;
  const lost = (x: HubbleFlowsSummary): string => Object.entries(x.lost).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || '0';
  const rows = p.summary.map((x) => [
    x.config.id, String(x.rounds), ci(x.offered), ci(x.seen),
    x.config.streams ? ci(x.deliveredPerClient) : '—',
    x.config.streams > 1 ? ci(x.deliveredTotal) : x.config.streams ? '(same)' : '—',
    x.config.streams ? ci({ ...x.ratio, mean: x.ratio.mean * 100, halfWidth: x.ratio.halfWidth * 100 }, 1, ' %') : '—',
    ci(x.agentCpuPct, 2), x.agentCpuAboveBaseline ? ci(x.agentCpuAboveBaseline, 2) : '—', mb(x.agentHwmMax), mb(x.agentRssMax),
    x.clientCpuPct ? ci(x.clientCpuPct, 1) : '—', x.config.streams ? lost(x) : '—',
    x.config.streams ? `${int(x.checked - x.notDropped)}/${int(x.checked)}` : '—',
  ]);
  const perRound = p.runs.map((r) => [
    String(r.round), r.config, int(r.offered.perSecond), int(r.seen.perSecond), r.streams.length ? int(r.deliveredPerClient) : '—',
    f(r.agent.cpuPct, 2), mb(r.agent.hwm), r.client ? f(r.client.cpuPct, 1) : '—', f(r.machineBusyPct, 0),
    lostOf(r.streams) || '—',
  ]);
  const errs = p.summary.flatMap((x) => x.streamErrors.map((e) => `${x.config.id}: ${e}`));
  const bpf = p.summary.find((x) => Number.isFinite(x.bytesPerFlow) && !x.config.mask);
  const bpfMask = p.summary.find((x) => Number.isFinite(x.bytesPerFlow) && x.config.mask);
  return [
    '## (f) Hubble API: flows per second to one and to 8 clients',
    '',
    `Flows: DROPPED flows from drop events. ${p.generator}; the agent's in-kernel event limit raised to ${int(s.ratePerCpu)} events/s per CPU per reason, ` +
    'above every offered rate, so every drop is an event and a flow. ' +
    `Agent: \`${p.agentCommand}\` — Hubble on its Unix socket only, no OTLP event export, metrics to an endpoint where nothing listens (export interval ${s.exportIntervalMs / 1000} s), ` +
    'default drain interval (100 ms) and flow buffer (4,095 flows). One agent for the whole part.',
    '',
    `Clients: \`${p.clientCommand}\` — one process per run holding 1 or 8 GetFlows {follow: true} streams, each on its own HTTP/2 connection (8 clients = 8 streams in one process, ` +
    'so they do not compete as 8 Node processes on 2 cores; its CPU is the "client CPU" column). It reads the gRPC length prefixes itself (node:http2) and walks only the ' +
    'responses\' top-level tags: field 1 = a flow, field 3 = a LostEvent (decoded: source, count); every 1000th flow is opened and must be DROPPED. ' +
    '"CLI mask" sends the field mask `hubble observe` sends by default (time, verdict, ethernet, IP, l4, source/destination identity, namespace, pod_name, Type, node_name, l7, ' +
    'event_type, source/destination_service, is_reply, Summary, ip_trace_id).',
    '',
    `Method: ${s.configs.length} configurations × ${s.rounds} rounds, interleaved (the order rotated each round), after a discarded warm-up run. Each run: client connected, paced storm ` +
    `started, ${s.warmupSeconds} s warm-up, then a ${s.windowSeconds} s window between two snapshots of: the nft rule's counter (offered), the Hubble ServerStatus \`seen_flows\` ` +
    '(drop events the agent read: "seen"), the agent\'s utime+stime (/proc, % of one core), the client\'s counters and its own process.cpuUsage(); the agent\'s VmHWM is reset ' +
    'at the window\'s start (`/proc/<pid>/clear_refs` = 5), so it is that window\'s peak. Cells are **mean ± half-width of the 95% confidence interval** over the rounds ' +
    '(Student\'s t, n − 1 degrees of freedom); VmHWM and RSS are the largest over the rounds (MB = 10^6 bytes). "delivered" counts flows only (not LostEvent messages), per client.',
    '',
    table(['configuration', 'rounds', 'offered drops/s', 'seen by the agent /s', 'delivered flows/s per client', 'delivered, all clients', 'delivered ÷ offered',
      'agent CPU % of a core', 'agent CPU above 0 clients (paired by round)', 'agent VmHWM MB', 'agent RSS max MB', 'client CPU % of a core', 'LostEvents (flows, Σ over rounds and clients)', 'checked flows DROPPED'], rows),
    '',
    verdictF(p),
    '',
    ...(errs.length ? [`Stream errors or statuses: ${errs.join('; ')}.`, ''] : []),
    `Runs in which the agent read less than half the offered drops (seen < offered ÷ 2): ${p.runs.filter((r) => r.seen.perSecond < r.offered.perSecond / 2)
      .map((r) => `round ${r.round} ${r.config} (${int(r.seen.perSecond)} of ${int(r.offered.perSecond)}/s)`).join(', ') || 'none'}. ` +
    `Response size: ${bpf ? `${f(bpf.bytesPerFlow, 0)} bytes per flow message` : 'n/a'}${bpfMask ? `; with the CLI mask ${f(bpfMask.bytesPerFlow, 0)} bytes` : ''}. ` +
    `Frames the pacing qdisc dropped (would be QDISC_DROP drops, not part of the storm): ${int(p.summary.reduce((x, y) => x + y.paceDropped, 0))}. ` +
    'LostEvent sources: HUBBLE_RING_BUFFER = flows the server\'s flow buffer overwrote before the client\'s cursor reached them; PERF_EVENT_RING_BUFFER = drop events the ' +
    'kernel could not queue (its ring buffer was full).',
    '',
    'Per run:',
    '',
    table(['round', 'configuration', 'offered /s', 'seen /s', 'delivered /s per client', 'agent CPU %', 'agent VmHWM MB', 'client CPU %', 'machine busy %', 'LostEvents'], perRound),
    '',
    'Agent CPU is utime+stime of all its threads (GC and libuv threads included). ' + (p.irqTimeAccounting === false
      ? 'This kernel has no CONFIG_IRQ_TIME_ACCOUNTING, so packet-path softirq work that interrupts the agent is charged to the agent too; '
      : p.irqTimeAccounting ? 'This kernel keeps softirq time apart (CONFIG_IRQ_TIME_ACCOUNTING); '
        : 'Whether this kernel charges softirq time to the interrupted task is unknown (no /boot/config); ') +
    'the no-client configuration at the same rate carries the storm\'s share, and the "above 0 clients" column is what serving the flows adds.',
  ].join('\n');
}

/** The toggle's figures (bench/throughput-toggle.ts), shared by parts g and j. */
function toggleStat(x: ToggleResult['real'], label: string): string {
  return `${label}: median **${f(x.median.median)}%**, 95% CI ${f(x.median.lo)}–${f(x.median.hi)}% (distribution-free: ranks ${x.median.k} and ${x.n + 1 - x.median.k} of ${x.n}, coverage ${f(x.median.coveragePct, 1)}%); ` +
    `mean ${f(x.mean.mean)}%, 95% CI ${f(x.mean.lo)}–${f(x.mean.hi)}% (t, ± ${f(x.mean.halfWidth)}); sd ${f(x.sd, 2)} points`;
}

function toggleWindows(t: ToggleResult): string {
  const winGbps = (k: string): number[] => t.phases.filter((p) => p.kind === k).flatMap((p) => p.windows.map((w) => w.gbps));
  const busy = t.phases.flatMap((p) => p.windows.map((w) => w.machineBusyPct));
  return `windows: without ${spread(winGbps('without'))}, with ${spread(winGbps('with'))}, A/A ${spread(winGbps('sham'))}; machine busy ${busy.length ? `${f(Math.min(...busy), 0)}–${f(Math.max(...busy), 0)}` : 'n/a'}% ` +
    `(iperf3 alone keeps one of the 2 cores busy: 50%); retransmitted segments per connection (iperf3): ${t.retransmits.map((x) => x ?? 'n/a').join(', ')}; ${f(t.seconds / 60, 1)} min` +
    (t.cut?.length ? `; connections cut short (their complete phases kept): ${t.cut.join('; ')}` : '');
}

function togglePairs(t: ToggleResult): string {
  const pairRows = t.pairs.map((p, i) => [String(i + 1), String(p.segment), String(p.cycle), p.kind === 'with' ? 'agent' : 'A/A (no agent)',
    p.order === 'without → other' ? 'without → other' : 'other → without', f(p.withoutGbps), f(p.otherGbps), `${f(p.ratioPct, 1)}%`, f(p.gapSeconds, 1), f(p.machineBusyPct, 0)]);
  return table(['pair', 'connection', 'cycle', 'other', 'order', 'without (Gbit/s)', 'other (Gbit/s)', 'other ÷ without', 'gap (s)', 'machine busy, max of the two (%)'], pairRows);
}

/** The toggle's procedure in words. */
function toggleMethod(t: ToggleResult): string {
  const ts = t.settings;
  const starts = t.phases.filter((p) => p.startSeconds !== undefined).map((p) => p.startSeconds!);
  return `${t.direction}. ${new Set(t.phases.map((p) => p.segment)).size} iperf3 connections (${ts.segments} planned${ts.maxSeconds ? `, time budget ${ts.maxSeconds} s` : ''}), one after the other, each ${ts.cyclesPerSegment} cycles long after a ${ts.warmupSeconds} s warm-up; ` +
    `the rate is pod 1's host veth byte counter over windows of ${ts.windowSeconds} s, ${ts.windowsPerPhase} per phase. Phases alternate: without, ` +
    `agent start (measured ${f(ts.settleAfterStartSeconds, 1)} s after its log says "agent started", both veths attached${t.netns ? ' with flow records on' : ''}; start-up took ${f(t.medianStartSeconds)} s median, ` +
    `${starts.length ? `${f(Math.min(...starts))}–${f(Math.max(...starts))}` : 'n/a'}), with, agent stop (exit awaited, then ${f(ts.settleAfterStopSeconds, 1)} s), without … ` +
    `A pair is the last window of a phase and the first of the next, seconds apart; half are without → with, half with → without. ` +
    `One cycle in ${ts.shamEvery} is A/A: no agent at all, its start and stop replaced by sleeps as long as the real ones, its pairs without ÷ without ` +
    `(the method's own noise floor, in the same run). "Without": ${t.withoutCheck}. The agent is not pinned: the scheduler places it ` +
    `(iperf3's two ends are pinned to core ${ts.affinity.client}); its CPU over the with phases was ${ci(t.agentCpuPct, 2, '%')} of a core. ` +
    `Judged statistic, fixed before this run from A/A data (bench/throughput-toggle.ts, JUDGED): the ${t.judged}.`;
}

function partG(g: TcpCostResult): string {
  const s = g.settings;
  const ns = (x: ProgramRuns | undefined): string => (x && Number.isFinite(x.nsPerRun) ? f(x.nsPerRun, 0) : 'n/a');
  const names = [...new Set([...g.programs.storm.programs, ...g.programs.bulk.programs].map((x) => x.name))];
  const progRows = names.map((n) => {
    const a = g.programs.storm.programs.find((x) => x.name === n);
    const b = g.programs.bulk.programs.find((x) => x.name === n);
    return [`\`${n}\``, a ? int(a.runs) : 'n/a', a ? int(a.runsPerSecond) : 'n/a', ns(a), b ? int(b.runs) : 'n/a', b ? int(b.runsPerSecond) : 'n/a', ns(b),
      b && b.runs > 0 ? f((b.nsPerRun * b.runsPerSecond) / 1e9 * 100, 3) : '—'];
  });
  const t = g.throughput;
  const bulk = g.programs.bulk;
  const c = g.connect;
  const connRows = c.windows.map((w) => [String(w.round), w.mode, f(w.wallSeconds, 1), int(w.achievedPerSecond), int(w.skipped), int(w.errors),
    f(w.loopCpuPct, 0), w.agent ? f(w.agent.pctOfOneCore, 2) : '—', w.agent ? mb(w.agent.rssMax) : '—', f(w.machineBusyPct, 0), String(w.otherTcpProbes)]);
  const h = g.hold;
  const mapRows = (maps: TcpCostResult['mapsDefault']): string[][] => maps.map((m) => [`\`${m.name}\``, m.type, int(m.maxEntries), f(m.bytesMemlock / MB, 2)]);
  const mapSum = (maps: TcpCostResult['mapsDefault']): string => f(maps.reduce((a, m) => a + m.bytesMemlock, 0) / MB, 1);
  return [
    '## (g) the tcp probe\'s cost',
    '',
    `Agent: \`${g.agentCommand}\` — its defaults: drop, traffic, tcp (TCP events on) and netstack probes, attached to both lab veths as in parts a and c, ` +
    `export interval ${s.exportIntervalMs / 1000} s; a fresh agent for each measure below. Load: ${g.load}; pod 0's namespace: ` +
    `${Object.entries(g.podSysctls).map(([k, v]) => `\`${k}=${v}\``).join(', ')} (so the loop never runs out of ports; restored at the end).`,
    '',
    '### 1. ns per run of each tcp program (and, under a bulk transfer, of every program)',
    '',
    `kernel.bpf_stats_enabled=1 (it was ${g.programs.bpfStatsBefore}; restored afterwards); run_cnt and run_time_ns of the agent's tcp_* programs from \`bpftool -j prog show\`, ` +
    `Δ over each window (bpf_stats itself adds two clock reads per run). Connection storm: ${s.programs.stormSeconds} s of the connect loop at ${int(s.connect.rate)}/s asked ` +
    `(${int(g.programs.storm.connectionsPerSecond)}/s connected; every ${s.programs.resetEvery}th closed with a reset — ${int(g.programs.storm.resets)} — and every ` +
    `${s.programs.refusedEvery}th sent to a closed port — ${int(g.programs.storm.refused)} refused; tcp probes of other processes loaded meanwhile: ${g.programs.storm.otherTcpProbes}). Bulk transfer: iperf3, 1 stream, ${g.programs.bulk.seconds} s, ` +
    `item 2's settings (both ends on core ${s.throughput.affinity.client}, -l ${s.throughput.length}), ${f(g.programs.bulk.gbps)} Gbit/s, ${g.programs.bulk.retransmits ?? 'n/a'} retransmitted segments; ` +
    `every program of the agent (its tc and drop programs too): together ${f(g.programs.bulk.pctOfCore, 2)}% of a core (Σ run_time_ns ÷ the window), the model cross-check of item 2.`,
    '',
    table(['program', 'storm: runs', 'storm: runs/s', 'storm: ns/run', 'bulk: runs', 'bulk: runs/s', 'bulk: ns/run', 'bulk: % of a core'], progRows),
    '',
    '### 2. TCP throughput, every probe on ÷ no agent',
    '',
    toggleMethod(t),
    '',
    `- ${toggleStat(t.real, `**with ÷ without**, ${t.real.n} pairs`)}`,
    `- ${toggleStat(t.aa, `A/A (without ÷ without), ${t.aa.n} pairs`)}`,
    `- model: during a ${bulk.seconds} s bulk transfer with the same iperf3 settings (item 1, bpf_stats on) the agent's programs ran ` +
    `${f(bulk.pctOfCore, 2)}% of a core (${bulk.programs.filter((x) => x.runs > 0).map((x) => `\`${x.name}\` ${int(x.runsPerSecond)}/s × ${f(x.nsPerRun, 0)} ns`).join(', ')}); ` +
    `the data path saturates one core, so about ${f(100 - bulk.pctOfCore, 1)}% is what the kernel-side cost alone predicts (bpf_stats' own clock reads included, so a little low)` +
    (g.programs.bulkPods ? `. With pod attribution on (\`--netns ${g.programs.bulkPods.netns}\`: flow records on these veths, as on pods' veths in a cluster; ${g.throughputPods ? 'the configuration of the pod-mode measure below' : 'not the configuration measured here'}) ` +
      `the programs took ${f(g.programs.bulkPods.pctOfCore, 2)}% of a core (${g.programs.bulkPods.programs.filter((x) => x.runs > 0).map((x) => `\`${x.name}\` ${int(x.runsPerSecond)}/s × ${f(x.nsPerRun, 0)} ns`).join(', ')}), ` +
      `${f(g.programs.bulkPods.gbps)} Gbit/s: about ${f(100 - g.programs.bulkPods.pctOfCore, 1)}% predicted` : ''),
    `- ${toggleWindows(t)}`,
    '',
    togglePairs(t),
    '',
    ...(g.throughputPods ? [
      `#### In pod mode: \`--netns ${g.throughputPods.netns}\` (flow records and DNS on both veths)`,
      '',
      `The same procedure, right after the one above, with the agent started with \`--netns ${g.throughputPods.netns}\`: pod attribution, as on a node of a cluster — ` +
      'flow records (and DNS) on both lab veths; a with phase begins once the agent\'s log says both veths have flow records on.',
      '',
      toggleMethod(g.throughputPods),
      '',
      `- ${toggleStat(g.throughputPods.real, `**with ÷ without**, ${g.throughputPods.real.n} pairs`)}`,
      `- ${toggleStat(g.throughputPods.aa, `A/A (without ÷ without), ${g.throughputPods.aa.n} pairs`)}`,
      ...(g.programs.bulkPods ? [`- model: item 1's bulk transfer with this configuration: the agent's programs took ${f(g.programs.bulkPods.pctOfCore, 2)}% of a core ` +
        `(\`traffic_egress\` / \`traffic_ingress\` ${['traffic_egress', 'traffic_ingress'].map((n) => f(g.programs.bulkPods!.programs.find((x) => x.name === n)?.nsPerRun ?? NaN, 0)).join(' / ')} ns per run): ` +
        `about ${f(100 - g.programs.bulkPods.pctOfCore, 1)}% predicted`] : []),
      `- ${toggleWindows(g.throughputPods)}`,
      '',
      togglePairs(g.throughputPods),
      '',
    ] : []),
    `### 3. agent CPU at ${int(s.connect.rate)} new TCP connections per second`,
    '',
    `The connect loop (${s.connect.workers} processes of bench/tcp-load.c in pod 0, ${int(s.connect.rate / s.connect.workers)}/s each, connection n due at n ÷ rate; blocking connect(), then close()) ` +
    `to pod 1's servers (one process per port: accept(), close()); ${s.connect.rounds} round(s) of (without the agent, with it), the order flipped every other round; each window ${s.connect.windowSeconds} s after a ` +
    `${s.connect.warmupSeconds} s warm-up. Agent CPU = utime+stime of all its threads over the window (/proc/<pid>/stat); the probe's programs run in the loop's ` +
    'and the servers\' kernel context, so their cost shows in the achieved rate, not in the agent\'s CPU.',
    '',
    table(['round', 'agent', 'wall s', 'connections/s achieved', 'behind the pace at the end (connects)', 'errors', 'loop CPU (% of a core)', 'agent CPU (% of one core)',
      'agent VmRSS max (MB)', 'machine busy (%)', 'other tcp probes loaded'], connRows),
    '',
    `Agent CPU **${ci(c.agentCpuPct, 2, '%')} of a core** (mean ± 95% CI half-width); achieved rate with the agent ${ci(c.achievedWith)}/s, without ${ci(c.achievedWithout)}/s; ` +
    `with ÷ without **${ci(c.rateRatioPct, 1, '%')}**` +
    (c.loopCpuDelta ? `; with − without, paired by round: the loop's CPU ${ci(c.loopCpuDelta, 1)} points of a core, the machine's busy share ${ci(c.machineBusyDelta, 1)} points ` +
      '(while the asked rate is met, the probes\' kernel-side cost shows there, not in the rate)' : '') + '.',
    '',
    `### 4. agent memory with ${int(h.connections)} TCP connections open`,
    '',
    `Agent: \`${h.agentCommand}\`. Both ends of every connection are sockets of this host, so the probe follows 2 × ${int(h.connections)} sockets ` +
    `plus the listeners: more than the default --tcp-max-sockets (131,072), hence ${int(h.agentMaxSockets)} for this run. ${h.processes} holder processes in pod 0, ` +
    `one per server port (open-file limit ${int(h.nofilePerProcess)} each, the hard limit here), opened ${int(h.held)} connections in ${f(h.openSeconds, 1)} s ` +
    `(${int(h.errors)} failed${h.firstError ? `: ${h.firstError}` : ''}).`,
    '',
    table(['', 'value'], [
      ['established sockets, `ss -s` in pod 0 / pod 1', `${int(h.establishedPod0)} / ${int(h.establishedPod1)}`],
      ['agent: `fovea.tcp.connections{network.connection.state=established}` (whole node)', h.agentEstablished === undefined ? 'n/a' : int(h.agentEstablished)],
      ['agent: tcp record failures (kind: count)', Object.entries(h.recordFailures).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || 'none exported'],
      [`agent before opening (${f(h.before.wallSeconds, 0)} s): VmRSS max / VmHWM (MB)`, `${mb(h.before.rssMax)} / ${mb(h.before.hwmEnd)}`],
      [`agent with them open (${f(h.during.wallSeconds, 0)} s): VmRSS max / end / VmHWM (MB)`, `${mb(h.during.rssMax)} / ${mb(h.during.rssEnd)} / ${mb(h.during.hwmEnd)}`],
      ['agent CPU with them open (% of one core)', f(h.during.pctOfOneCore, 2)],
      ['kernel memory of the tcp_* maps, this agent / default settings (MB, bytes_memlock)', `${mapSum(h.maps)} / ${mapSum(g.mapsDefault)}`],
    ]),
    '',
    'Maps of the tcp probe (`bpftool -j map show`, bytes_memlock), this run\'s agent:',
    '',
    table(['map', 'type', 'max entries', 'MB'], mapRows(h.maps)),
    '',
    'With the defaults (items 1–3):',
    '',
    table(['map', 'type', 'max entries', 'MB'], mapRows(g.mapsDefault)),
  ].join('\n');
}

function partH(h: DnsStormResult): string {
  const s = h.settings;
  const rows = h.windows.map((w) => [String(w.round), w.mode, f(w.wallSeconds, 1), int(w.sentPerSecond), int(w.achievedPerSecond), int(w.skipped), int(w.errors),
    f(w.loadCpuPct, 0), w.agent ? f(w.agent.pctOfOneCore, 2) : '—', w.agent ? `${mb(w.agent.rssMax)} / ${mb(w.agent.hwmEnd)}` : '—', f(w.machineBusyPct, 0)]);
  const ex = h.windows.filter((w) => w.exact);
  const eq = (a: number, b: number): string => (a === b ? `${int(a)} = ${int(b)}` : `**${int(a)} ≠ ${int(b)}**`);
  const exRows = ex.map((w) => {
    const x = w.exact!;
    const udp = (u: UdpErrors): string => `${int(u.rcvbufErrors)}/${int(u.inErrors)}`;
    return [String(w.round), eq(x.client.queries, x.generators.sent), eq(x.client.noerror, x.generators.noerror), eq(x.client.nxdomain, x.generators.nxdomain),
      eq(x.server.queries, x.responders.received), eq(x.server.noerror, x.responders.noerror), eq(x.server.nxdomain, x.responders.nxdomain),
      `${udp(x.udpErrors.client)} · ${udp(x.udpErrors.server)}`, `${int(x.client.timeouts)} · ${int(x.generators.sent - x.generators.received)}`,
      `${f(x.client.meanLatencyUs, 0)} · ${f(x.server.meanLatencyUs, 0)}`, Object.entries(x.recordFailures).filter(([, v]) => v).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || '0'];
  });
  const evRows = ex.map((w) => {
    const x = w.exact!;
    const e = x.events;
    const pending = e.kernel.reduce((a, k) => a + k.pending, 0);
    const accounted = e.client + e.server + e.carriedClient + e.carriedServer + pending;
    return [String(w.round), f(x.stormSeconds, 1), `${int(e.client)} / ${int(e.server)}`, `${f(e.client / x.stormSeconds, 1)} / ${f(e.server / x.stormSeconds, 1)}`,
      int(e.carriedClient + e.carriedServer), int(pending), eq(accounted, x.client.nxdomain + x.server.nxdomain),
      e.kernel.map((k) => int(k.emitted)).join(' / '), `${int(e.kernel.reduce((a, k) => a + k.emitted, 0))} · ${int(e.agentRead)}`,
      `${int(e.kernel.reduce((a, k) => a + k.suppressed, 0))} · ${int(e.agentSuppressed)}`, int(e.kernel.reduce((a, k) => a + k.ringFull, 0)), int(e.other)];
  });
  const names = [...new Set(h.programs.summary.map((x) => x.name))];
  const progRows = names.map((n) => {
    const on = h.programs.summary.find((x) => x.name === n && x.mode === 'dns');
    const off = h.programs.summary.find((x) => x.name === n && x.mode === 'no-dns');
    return [`\`${n}\``, on ? int(on.runsPerSecond) : 'n/a', on ? f(on.nsPerRun, 0) : 'n/a', off ? int(off.runsPerSecond) : 'n/a', off ? f(off.nsPerRun, 0) : 'n/a',
      on && off ? f(on.nsPerRun - off.nsPerRun, 0) : 'n/a'];
  });
  const progWindows = h.programs.windows.map((w) => [String(w.round), w.mode, f(w.seconds, 1), int(w.achievedPerSecond),
    ...names.map((n) => { const p = w.programs.find((x) => x.name === n); return p && Number.isFinite(p.nsPerRun) ? f(p.nsPerRun, 0) : 'n/a'; })]);
  const cpu = h.targets.find((t) => t.id === 'h.storm-cpu');
  return [
    '## (h) a DNS storm: the agent\'s cost and exact counts',
    '',
    `Agent: \`${h.agentCommand}\` — its defaults (DNS on, DNS events for failed responses at ${s.eventRatePerCpu}/s per CPU per slot), pod attribution on for the lab's ` +
    `namespaces (\`--netns\`: the tc programs look at DNS on the veths they keep flow records for, pods' veths), export interval ${s.exportIntervalMs / 1000} s; ` +
    `a fresh agent for each window with it. Load: ${h.load}. The generators ask ${int(s.rate)} queries/s together (query n due at n ÷ rate; every millisecond each ` +
    'generator sends the queries due and reads the responses that arrived), ' +
    `every ${s.nxEvery}th for \`nxN.storm.lab\` (answered NXDOMAIN), the others for \`qN.storm.lab\` (NOERROR, one A record).`,
    '',
    `### 1. agent CPU and memory, and the storm's rate with ÷ without the agent`,
    '',
    `${s.rounds} round(s) of (without the agent, with it), the order flipped every other round; each window ${s.windowSeconds} s after a ${s.warmupSeconds} s warm-up. ` +
    '"answered/s" = responses the generators received per second (the storm\'s achieved rate); agent CPU = utime+stime of all its threads over the window ' +
    '(/proc/<pid>/stat), % of one core; VmRSS is the largest sample, VmHWM the peak since the agent started. The tc programs run in the generators\' and responders\' ' +
    'kernel context, so their cost shows in the load\'s CPU and the machine\'s busy share, not in the agent\'s CPU.',
    '',
    table(['round', 'agent', 'wall s', 'sent/s', 'answered/s', 'behind the pace at the end (queries)', 'send errors', 'load CPU (% of a core)', 'agent CPU (% of one core)',
      'agent VmRSS max / VmHWM (MB)', 'machine busy (%)'], rows),
    '',
    `Agent CPU **${ci(h.agentCpuPct, 2, '%')} of a core** (mean ± 95% CI half-width; VmRSS max ${f(h.agentRssMaxMb, 1)} MB, VmHWM max ${f(h.agentHwmMaxMb, 1)} MB); ` +
    `answered with the agent ${ci(h.achievedWith)}/s, without ${ci(h.achievedWithout)}/s; with ÷ without **${ci(h.rateRatioPct, 2, '%')}**; with − without, paired by round: ` +
    `the load's CPU ${ci(h.loadCpuDelta, 1)} points of a core, the machine's busy share ${ci(h.machineBusyDelta, 1)} points.` +
    (cpu ? ` Target (≤ ${cpu.limit}% of a core at ${int(s.rate)} queries/s, judged on the upper bound of the 95% CI when there are rounds to have one: ` +
      `${f(cpu.measured)}): **${cpu.pass ? 'met' : 'NOT met'}** (${cpu.marginText}).` : ''),
    '',
    '### 2. exact counts',
    '',
    'Each window with the agent: every DNS message of that agent\'s life is the storm\'s. After the generators stopped (and waited ' +
    `${s.drainMs} ms for responses on their way), two exports later: the agent's series (latest values) against the load's own counts — the generators' totals, ` +
    'the responders\' Δ — and the pods\' UDP error counters (/proc/net/snmp in each namespace: a datagram the socket could not take is counted by the agent but never ' +
    'reached the program). "a = b": agent = load. Mean latency: fovea.pod.dns.lookup.duration (sum ÷ count), client view (pod 0 waits for its answer) and ' +
    'server view (pod 1 takes to answer: the time a query waits in the responders\' sockets).',
    '',
    table(['round', 'client: queries = sent', 'client: NOERROR = received', 'client: NXDOMAIN = received', 'server: queries = responders received',
      'server: NOERROR = answered', 'server: NXDOMAIN = answered', 'UDP RcvbufErrors/InErrors pod 0 · pod 1', 'client timeouts (agent) · unanswered (generators)',
      'mean latency client · server (µs)', 'kernel record failures'], exRows),
    '',
    'Events: `fovea.dns.message` with NXDOMAIN received at the OTLP receiver, per view (client: the response reaching pod 0\'s veth; server: leaving pod 1\'s), ' +
    'with the `fovea.events.suppressed` they carry, and the kernel\'s pending count (events suppressed or lost since each CPU\'s last event: `dns_event_limits`, ' +
    'failed slot, read with bpftool after the storm). The limit is per CPU per slot, and both views share the failed slot: a CPU that runs the responder\'s ' +
    'sendmmsg sees a response leave pod 1 and reach pod 0 in one pass, so the views split each CPU\'s budget. Reconciled: events + carried + pending = NXDOMAIN ' +
    'responses counted (client + server view).',
    '',
    table(['round', 'storm s', 'events client / server', 'events/s client / server', 'carried', 'kernel pending', 'events + carried + pending = NXDOMAIN counted',
      'kernel emitted per CPU', 'emitted (kernel) · read (agent)', 'suppressed (kernel) · exported', 'ring full', 'other DNS events'], evRows),
    '',
    '### 3. the tc programs\' cost per packet, DNS on vs off',
    '',
    `kernel.bpf_stats_enabled=1 (it was ${h.programs.bpfStatsBefore}; restored afterwards); run_cnt and run_time_ns of the agent's traffic_* programs (\`bpftool -j prog show\`, ` +
    `ids from its fds), Δ over ${s.programSeconds} s windows of the same storm, ${s.programRounds} window(s) per mode, alternating: the agent with its defaults ("DNS on") and with ` +
    '`--no-dns` (flow records still on; the DNS path stops at its config check). Every query and every response passes each program twice (pod 0\'s and pod 1\'s veth).',
    '',
    table(['program', 'DNS on: runs/s', 'DNS on: ns/run', '--no-dns: runs/s', '--no-dns: ns/run', 'DNS adds (ns/run)'], progRows),
    '',
    'Per window:',
    '',
    table(['round', 'mode', 'seconds', 'answered/s', ...names.map((n) => `\`${n}\` ns/run`)], progWindows),
  ].join('\n');
}

function partI(p: IdleCostResult): string {
  const drops = (d: { dropEvents?: number; newDropSites?: readonly string[] }): string => `${d.dropEvents ?? 'n/a'}${d.newDropSites?.length ? ` (new: ${d.newDropSites.join(', ')})` : ''}`;
  const steadyOn = p.steadyCpu !== undefined;
  const rows = p.windows.map((w) => [String(w.round), w.mode === 'pod' ? 'pod mode' : 'node level', String(w.attached), f(w.window.wallSeconds, 1),
    f(w.window.pctOfOneCore, 3), ...(steadyOn ? [w.steady ? f(w.steady.window.pctOfOneCore, 3) : 'n/a'] : []),
    mb(Math.max(w.window.rssMax, w.steady?.window.rssMax ?? 0)), mb(lastWindow(w).hwmEnd), f(w.window.machineBusyPct, 1),
    drops(w), ...(steadyOn ? [w.steady ? drops(w.steady) : 'n/a'] : [])]);
  return [
    '## (i) idle cost in pod mode with many pods',
    '',
    `Lab \`${p.lab}\`: ${p.settings.pods} pods (named network namespaces behind host-side veths). ${p.settings.rounds} round(s); in each, the agent in pod mode and at node level, ` +
    `one after the other (order flipped every round), export interval ${p.settings.exportIntervalMs / 1000} s; after it attached to every veth, ${p.settings.settleSeconds} s to settle, ` +
    `then CPU (utime+stime of all threads ÷ wall) over ${p.settings.windowSeconds} s with no traffic` +
    (steadyOn ? ` (the first minute), and again over ${p.settings.windowSeconds} s from ${p.settings.steadyStartSeconds} s after it attached (steady state: ` +
      'V8 compiles the code an export runs once per interval only after minutes of exports; the targets are judged on this window)' : '') +
    ', and VmHWM (peak RSS since start) at the end.',
    '',
    `Pod mode: \`${p.commands.pod}\`. Node level: \`${p.commands.node}\`.`,
    '',
    table(['round', 'mode', 'veths attached', 'wall s', steadyOn ? 'agent CPU, first minute (% of one core)' : 'agent CPU (% of one core)',
      ...(steadyOn ? ['agent CPU, steady state (% of one core)'] : []), 'VmRSS max (MB)', 'VmHWM (MB)', 'machine busy (%)',
      steadyOn ? 'host drop events in the first minute (drop sites new to the agent)' : 'host drop events in the window (drop sites new to the agent)',
      ...(steadyOn ? ['host drop events in the steady-state window'] : [])], rows),
    '',
    'The drop probe sees the whole host: its background drops are events, and a drop location new to the agent is named then ' +
    '(by the kernel, `%pS` through bpf/symbol.bpf.c, on 5.13+: well under a millisecond; before 5.13 /proc/kallsyms read up to its name, ~30–70 ms of CPU, ' +
    'the agent\'s first one also loading the file\'s addresses) — one-off work of a fresh agent that lands in a window or not ' +
    '([benchmark.md](../../docs/benchmark.md#what-lands-in-some-idle-windows-and-not-in-others-2026-12-03)).',
    '',
    (p.steadyCpu ? `Steady state: pod mode **${ci(p.steadyCpu.pod, 3, '% of a core')}**, node level **${ci(p.steadyCpu.node, 3, '% of a core')}**; first minute: ` +
      `pod mode ${ci(p.cpu.pod, 3, '% of a core')}, node level ${ci(p.cpu.node, 3, '% of a core')} (mean ± 95% CI half-width). `
      : `Pod mode **${ci(p.cpu.pod, 3, '% of a core')}**, node level **${ci(p.cpu.node, 3, '% of a core')}** (mean ± 95% CI half-width). `) +
    `VmHWM largest: pod mode ${mb(p.hwmMax.pod)} MB, node level ${mb(p.hwmMax.node)} MB; Node's own floor (an empty process with the agent's V8 flags) ${mb(p.nodeFloorHwm)} MB, ` +
    `so the agent's own share is ${mb(p.hwmMax.pod - p.nodeFloorHwm)} MB in pod mode.`,
  ].join('\n');
}

function partJ(j: ManyFlowsResult): string {
  const t = j.throughput;
  const x = j.totals;
  const byOrder = (o: string): string => {
    const rs = t.pairs.filter((p) => p.kind === 'with' && p.order === o).map((p) => p.ratioPct);
    return rs.length ? `${f(median(rs))}% (${rs.length})` : 'n/a';
  };
  const states = (s: Readonly<Record<string, number>>): string => Object.entries(s).map(([k, v]) => `${k} ${int(v)}`).join(', ') || 'none';
  const lost = Object.entries(x.eventsLost).filter(([, v]) => v).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || 'none';
  const lifeRows = j.lives.map((l) => [String(l.index), f(l.markedSeconds, 2), int(l.connectionsMade), int(l.fourTuplesMade),
    l.missing ? `**${int(l.missing)}** (e.g. ${l.missingExamples.join(', ')})` : '0', int(l.flows.loopConnections),
    int(l.flows.records), states(l.flows.byState), int(l.flows.otherRecords), l.eventsRead === undefined ? 'n/a' : int(l.eventsRead),
    l.flowsActive === undefined ? 'n/a' : int(l.flowsActive), l.flowsEvicted === undefined ? 'n/a' : int(l.flowsEvicted), String(l.metricExports)]);
  const tp = j.targets.find((y) => y.id === 'j.throughput-ratio');
  return [
    '## (j) TCP throughput with many flows, the agent doing its job',
    '',
    `Agent: \`${j.agentCommand}\` with the config file \`${j.agentConfig}\` — pod mode for the lab's namespaces (flow records and DNS on the veths), every probe ` +
    `on (its defaults), flow events on: the kernel flow table is read and its records exported as OTLP log records every ${j.settings.exportIntervalMs / 1000} s, ` +
    `the metrics too. Load: ${j.load}; pod 0's namespace: ${Object.entries(j.podSysctls).map(([k, v]) => `\`${k}=${v}\``).join(', ')} (restored at the end). ` +
    `The bench process (its OTLP receiver decodes every flow record) was pinned to core ${j.settings.benchCpu} for the part (it was on ${j.benchAffinity}).`,
    '',
    '### Throughput, with ÷ without',
    '',
    toggleMethod(t),
    '',
    `- ${toggleStat(t.real, `**with ÷ without**, ${t.real.n} pairs`)}; by order: without → with ${byOrder('without → other')}, with → without ${byOrder('other → without')} (median, pairs)`,
    `- ${toggleStat(t.aa, `A/A (without ÷ without), ${t.aa.n} pairs`)}`,
    `- agent CPU over the with phases ${ci(t.agentCpuPct, 2, '%')} of a core (mean ± 95% CI half-width, ${t.agentCpuPct.n} phases)` +
    (tp ? `; target (lower bound of the ${t.judged}'s CI ≥ ${tp.limit}%, part g's bar): **${tp.pass ? 'met' : 'NOT met'}** (${tp.marginText})` : ''),
    `- ${toggleWindows(t)}`,
    `- the connect loop over the whole part: ${int(j.loop.connected)} connections in ${f(j.loop.seconds, 0)} s = ${int(j.loop.perSecond)}/s ` +
    `(asked ${int(j.settings.connect.rate)}/s), ${int(j.loop.errors)} errors${j.loop.firstError ? ` (${j.loop.firstError})` : ''}, its own CPU ${f(j.loop.cpuPct, 1)}% of a core`,
    '',
    '### Flow records: was the flow table exercised?',
    '',
    'Each agent\'s flow records (`fovea.network.flow` log records) are counted as they reach the receiver, by state, and the loop\'s connections among them ' +
    '(distinct client port → server port on the loop\'s ports: a connection gets 4 records, each direction at each veth). "Made" are the connections the loop ' +
    'made between two marks of its counters: after the agent\'s log said flow records are on for both veths, and just before its SIGTERM — every one of them ' +
    'crossed the veths while the programs were attached, so every one must be in that agent\'s records (the last read of the table happens after the ' +
    'programs are detached). Which 4-tuples they were comes from the loop\'s own port log (every connection it made, client port and server port, in the ' +
    'order of its counter); each is looked up among the agent\'s records. Distinct 4-tuples can be fewer than connections: the loop uses a 4-tuple again ' +
    'within seconds (the server closes first and holds the TIME_WAIT), and two connections on one 4-tuple are one flow record per veth and direction.',
    '',
    `Over ${j.lives.length} agents: **${int(x.records)} flow records exported** (${states(x.byState)}); the loop made **${int(x.connectionsMade)} connections** ` +
    `while an agent was attached (${int(x.fourTuplesMade)} distinct 4-tuples, per agent summed), **${int(x.shortfall)}** of those 4-tuples without a flow record ` +
    `from that agent (in ${x.livesShort} agent(s)); ${int(x.connectionsRecorded)} loop connections are in the records (those made before the first mark and after ` +
    `the last included). The agents' own count of flow records read: ${int(x.eventsRead)}; flows evicted from the kernel table ` +
    `(fovea.agent.flows.evicted): ${int(x.flowsEvicted)}; events lost (fovea.agent.events.lost, every kind, by stage): ${lost}.`,
    '',
    table(['agent', 's between the marks', 'connections made', 'distinct 4-tuples', 'without a flow record', 'loop connections recorded', 'flow records', 'by state', 'other flows\' records',
      'flow records read (agent)', 'flows active at the last export', 'evicted', 'metric exports'], lifeRows),
    '',
    togglePairs(t),
  ].join('\n');
}

export function renderMarkdown(r: BenchResults, jsonName = 'latest.json'): string {
  const m = r.machine;
  const passed = r.targets.filter((t) => t.pass).length;
  return [
    '# Fovea benchmark v1 — results',
    '',
    `Generated by \`bench/run.ts\`; every number below was measured in this run (raw data: [${jsonName}](${jsonName})).`,
    '',
    table(['', ''], [
      ['date', `${r.startedAt} (took ${Math.round(r.durationSeconds)} s)`],
      ['command', `\`${r.command}\``],
      ['mode', r.mode === 'quick' ? 'quick (short durations: a smoke test, not a measurement)' : 'full'],
      ['parts', r.parts.join(', ')],
      ['commit', m.gitCommit],
      ['CPU', `${m.cpuModel} — ${m.cores} cores visible`],
      ['memory', `${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
      ['kernel', m.kernel],
      ['virtualization (systemd-detect-virt)', m.virtualization],
      ['Node', m.node],
      ['libbpf', m.libbpf],
      ['clang', m.clang],
      ['iperf3', m.iperf3],
    ]),
    '',
    '## Targets',
    '',
    r.targets.length ? targetsTable(r.targets) : '(no target measured)',
    '',
    `${passed} of ${r.targets.length} targets passed${r.errors.length ? `; ${r.errors.length} part(s) failed to run` : ''}.`,
    ...(r.errors.length ? ['', '## Errors', '', ...r.errors.map((e) => `- part ${e.part}: \`${e.message.split('\n')[0]}\``)] : []),
    ...(r.a ? ['', partA(r.a)] : []),
    ...(r.b ? ['', partB(r.b)] : []),
    ...(r.c ? ['', partC(r.c)] : []),
    ...(r.d ? ['', partD(r.d)] : []),
    ...(r.e ? ['', partE(r.e)] : []),
    ...(r.f ? ['', partF(r.f)] : []),
    ...(r.g ? ['', partG(r.g)] : []),
    ...(r.h ? ['', partH(r.h)] : []),
    ...(r.i ? ['', partI(r.i)] : []),
    ...(r.j ? ['', partJ(r.j)] : []),
    '',
    '## Reproduce',
    '',
    'As root on a machine with the kernel features of the agent (tcx, BTF): `npm run bench` ' +
    '(= `bash scripts/setup.sh --test && node dist/bench/run.js`); `--quick` for a smoke test, `--only a,b,c,d,e,f,g,h,i,j` to pick parts (written to `part-<parts>.md`/`.json` instead of `latest.*`). ' +
    'The bench creates a two-pod lab (`fovea-bnch-*` netns, `fvbnch-*` veths, nft table `fovea_bnch`) for parts a, c, g, h and j, ' +
    'a three-pod lab (`fovea-bnfl-*`, `fvbnfl-*`) for part d, a veth pair `fvstrm0`/`fvstrm1` with nft table `netdev fovea_bench_storm` ' +
    'for parts e and f (trafgen from Debian\'s netsniff-ng; part f also a Hubble socket in the temp directory), and removes them on exit.',
    '',
  ].join('\n');
}
