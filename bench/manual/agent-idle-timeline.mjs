// Hand measurement for issue 12 (idle CPU): where in time an idle agent spends its CPU. The agent
// idle in pod mode (or node level with NODE_LEVEL=1) with N lab pods, 10 s exports; every second,
// each thread's CPU time (/proc/<pid>/task/<tid>/schedstat, ns), printed as one row per second
// beside what the agent wrote in that second (its log, and V8's `--trace-gc` lines, which carry
// V8's own ms-since-start) and the OTLP requests the receiver got. Seconds costing more than
// HOT ms (default 8) are listed at the end with their lines. Several agents one after the other
// (AGENTS=n, default 1), each alone on the lab, so modes can be compared. As root:
//   node bench/manual/agent-idle-timeline.mjs [pods=50] [seconds=120] [agent flags…]
// env LAB=<name> (default 'itl'); NODE_FLAGS (default '--max-semi-space-size=64 --trace-gc');
// AGENTS=<n>; HOT=<ms>; QUIET=1: rows of seconds under HOT ms are not printed; PROFILE=1: each agent
// runs with FOVEA_CPU_PROFILE (its sampling costs ~3 % of a core: read for what runs when, not for
// the CPU figure) and each second's row names the agent's code that ran in it. The host's link and
// netns notifications (`ip monitor`) are listed too: other labs' links wake the agent.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';

const pods = Number(process.argv[2] ?? 50), secs = Number(process.argv[3] ?? 120);
const extra = process.argv.slice(4);
const name = process.env.LAB ?? 'itl';
const agents = Number(process.env.AGENTS ?? 1);
const hot = Number(process.env.HOT ?? 8);
const nodeFlags = (process.env.NODE_FLAGS ?? '--max-semi-space-size=64 --trace-gc').split(' ').filter(Boolean);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** ns on CPU per thread, by tid, with the thread's name */
function threads(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      out.set(tid, { ns, comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')) });
    } catch { /* thread ended */ }
  }
  return out;
}

/** Per second since t0 (CLOCK_MONOTONIC ns, V8's clock too): the agent's code that ran, by its outermost Fovea frames. */
function profileBySecond(file, t0mono) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fn = (n) => `${n.callFrame.functionName || '(anon)'}${n.callFrame.url.includes('/dist/src/') ? '' : `@${n.callFrame.url.replace(/^.*\/(node_modules)\//, '').replace(/^node:/, '').slice(0, 40)}`}`;
  const keyOf = (id) => {
    const chain = [];
    for (let x = id; x !== undefined; x = parent.get(x)) chain.unshift(byId.get(x));
    const ours = chain.filter((n) => n.callFrame.url.includes('/dist/src/'));
    const leaf = chain[chain.length - 1];
    if (ours.length === 0) return fn(leaf);
    return `${ours.slice(0, 2).map(fn).join(' > ')} … ${fn(leaf)}`;
  };
  const secs = new Map();
  let t = BigInt(p.startTime) * 1000n;
  for (let i = 0; i < p.samples.length; i++) {
    t += BigInt(p.timeDeltas[i]) * 1000n;
    const n = byId.get(p.samples[i]);
    if (n.callFrame.functionName === '(idle)') continue;
    const sec = Number((t - t0mono) / 1_000_000_000n);
    const k = keyOf(p.samples[i]);
    if (!secs.has(sec)) secs.set(sec, new Map());
    const m = secs.get(sec);
    m.set(k, (m.get(k) ?? 0) + (p.timeDeltas[i + 1] ?? p.timeDeltas[i]) / 1000);
  }
  const out = [];
  for (const [sec, m] of secs) {
    const total = [...m.values()].reduce((s, v) => s + v, 0);
    if (total < hot / 2) continue;
    for (const [k, v] of [...m].sort((x, y) => y[1] - x[1]).slice(0, 6)) if (v >= 1) out.push([sec, `prof ${v.toFixed(1)} ms ${k}`]);
  }
  return out;
}

const lab = await Lab.create({ name, pods });
const rx = await OtlpReceiver.start({});
try {
  for (let a = 1; a <= agents; a++) {
    const t0 = Date.now();
    const t0mono = process.hrtime.bigint();
    const profile = process.env.PROFILE ? `/tmp/fovea-itl-${process.pid}-${a}.cpuprofile` : undefined;
    const at = () => ((Date.now() - t0) / 1000);
    const agent = spawn(process.execPath, [...nodeFlags, new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
      '--interfaces', `fv${name}-*`, ...(process.env.NODE_LEVEL ? [] : ['--netns', `fovea-${name}-*`]), '--export-interval', '10s', '--log-level', 'info', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(profile ? { FOVEA_CPU_PROFILE: profile } : {}) } });
    const monitor = spawn('ip', ['monitor', 'link', 'nsid'], { stdio: ['ignore', 'pipe', 'ignore'] });
    /** lines by second since start */
    const lines = new Map();
    const note = (sec, text) => { if (!lines.has(sec)) lines.set(sec, []); lines.get(sec).push(text); };
    for (const stream of [agent.stdout, agent.stderr]) {
      createInterface({ input: stream }).on('line', (l) => {
        const gc = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (.*)$/.exec(l);
        if (gc) { note(Math.floor(Number(gc[1]) / 1000), `gc ${gc[1]} ms: ${gc[2].replace(/\s+/g, ' ').slice(0, 150)}`); return; }
        let text = l;
        try { const j = JSON.parse(l); text = `log ${j.msg}${j.component ? ` [${j.component}]` : ''}`; } catch { /* not JSON */ }
        note(Math.floor(at()), text.slice(0, 160));
      });
    }
    createInterface({ input: monitor.stdout }).on('line', (l) => /^\s/.test(l) || note(Math.floor(at()), `host: ${l.slice(0, 120)}`));
    let requests = rx.requestCount;
    let records = rx.logRecords().length;
    let prev = threads(agent.pid);
    const rows = [];
    const end = t0 + secs * 1000;
    for (let s = 1; Date.now() < end; s++) {
      await sleep(t0 + s * 1000 - Date.now());
      const cur = threads(agent.pid);
      let main = 0, other = 0;
      const by = new Map();
      for (const [tid, c] of cur) {
        const d = (c.ns - (prev.get(tid)?.ns ?? 0)) / 1e6;
        if (tid === String(agent.pid)) main += d; else { other += d; by.set(c.comm, (by.get(c.comm) ?? 0) + d); }
      }
      prev = cur;
      const n = rx.requestCount - requests; requests = rx.requestCount;
      for (const lr of rx.logRecords().slice(records)) {
        const when = Number(BigInt(lr.timeUnixNano) / 1_000_000n) - t0;
        const what = Object.entries(lr.attrs).filter(([k]) => /reason|location|interface|netns|pod/.test(k)).map(([k, v]) => `${k.replace(/^fovea\./, '')}=${v}`).join(' ');
        note(Math.floor(when / 1000), `event ${lr.eventName} ${what}`.slice(0, 170));
      }
      records = rx.logRecords().length;
      rows.push({ s, main, other, by, n });
    }
    const status = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
    agent.kill('SIGTERM');
    monitor.kill('SIGTERM');
    await new Promise((r) => agent.on('exit', r));
    if (profile) for (const [sec, text] of profileBySecond(profile, t0mono)) note(sec, text);
    console.log(`\n=== agent ${a} (${process.env.NODE_LEVEL ? 'node level' : 'pod mode'}), ${secs} s from spawn; ms of CPU per second: main thread + other threads`);
    for (const r of rows) {
      const ls = lines.get(r.s - 1) ?? [];
      const total = r.main + r.other;
      if (process.env.QUIET && total < hot && ls.length === 0 && r.n === 0) continue;
      const others = [...r.by].filter(([, v]) => v >= 0.5).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
      console.log(`${String(r.s).padStart(4)} s ${total.toFixed(1).padStart(7)} ms  (main ${r.main.toFixed(1)}${others ? `; ${others}` : ''})${r.n ? `  ${r.n} request(s)` : ''}`);
      for (const l of ls) console.log(`           ${l}`);
    }
    const tail = (from) => { const xs = rows.filter((r) => r.s > from); return xs.reduce((s, r) => s + r.main + r.other, 0) / xs.length / 10; };
    const win = (from, to) => { const xs = rows.filter((r) => r.s > from && r.s <= to); return xs.length ? (xs.reduce((s, r) => s + r.main + r.other, 0) / xs.length / 10).toFixed(3) : '-'; };
    console.log(`agent ${a}: mean CPU after 30 s ${tail(30).toFixed(3)} %, after 60 s ${tail(60).toFixed(3)} %, after 90 s ${tail(90).toFixed(3)} % of a core; by 60 s window from 15 s: ${[15, 75, 135, 195, 255, 315].filter((f) => f < secs).map((f) => `${f}–${f + 60} s ${win(f, f + 60)}`).join(', ')}`);
    console.log(`agent ${a}: at the end VmHWM ${(kb('VmHWM') / 1024).toFixed(1)} MiB, VmRSS ${(kb('VmRSS') / 1024).toFixed(1)} MiB`);
    console.log(`hot seconds (≥ ${hot} ms) after 30 s: ${rows.filter((r) => r.s > 30 && r.main + r.other >= hot).map((r) => `${r.s}:${(r.main + r.other).toFixed(0)}`).join(' ')}`);
  }
} finally {
  await rx.stop();
  await lab.destroy();
}
