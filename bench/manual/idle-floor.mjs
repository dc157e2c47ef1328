// Hand measurement for issue 12 (idle CPU): what an idle Node process costs on this machine with
// nothing of the agent's work — the runtime's floor beside the agent's idle figure. Variants, each a
// child process measured over the same window (utime+stime ÷ wall, all threads), with the agent's V8
// flags:
//   bare      `setInterval(() => {}, 1 << 30)`: an event loop that never wakes
//   modules   the agent's module graph imported (dist/src/commands/agent.js), no timer firing
//   timers    modules + the agent's idle timers with empty callbacks, at the given periods
//             (default 100 ms drain, 2 s interface rescan, 2 s pod tick, 10 s export; TIMERS=ms,ms,…)
//   garbage   timers + ALLOC_KB kilobytes of short-lived objects per 10 s "export" (default 0: off)
// As root or not:  node bench/manual/idle-floor.mjs [seconds=60] [rounds=3]   (VARIANTS=timers,bare: only those)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
const secs = Number(process.argv[2] ?? 60), rounds = Number(process.argv[3] ?? 3);
const flags = process.env.NODE_FLAGS !== undefined ? process.env.NODE_FLAGS.split(' ').filter(Boolean) : ['--max-semi-space-size=64'];
const timers = (process.env.TIMERS ?? '100,2000,2000,10000').split(',').map(Number);
const allocKb = Number(process.env.ALLOC_KB ?? 0);
const agentModule = new URL('../../dist/src/commands/agent.js', import.meta.url).href;
const body = {
  bare: 'setInterval(() => {}, 1 << 30);',
  modules: `await import(${JSON.stringify(agentModule)}); setInterval(() => {}, 1 << 30);`,
  timers: `await import(${JSON.stringify(agentModule)}); setInterval(() => {}, 1 << 30);
    for (const ms of ${JSON.stringify(timers)}) setInterval(() => {}, ms).unref();`,
  garbage: `await import(${JSON.stringify(agentModule)}); setInterval(() => {}, 1 << 30);
    for (const ms of ${JSON.stringify(timers)}) setInterval(() => {}, ms).unref();
    let keep; setInterval(() => { const a = []; for (let i = 0; i < ${allocKb} * 16; i++) a.push({ k: 'x' + i, v: i, w: [i, i] }); keep = a.length; }, 10000).unref();`,
};
const variants = process.env.VARIANTS ? process.env.VARIANTS.split(',') : allocKb > 0 ? ['bare', 'modules', 'timers', 'garbage'] : ['bare', 'modules', 'timers'];
const ticks = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const results = new Map(variants.map((v) => [v, []]));
for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 ? [...variants].reverse() : variants) {
    const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', body[v]], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 15000));
    const t0 = ticks(child.pid), w0 = Date.now();
    await new Promise((res) => setTimeout(res, secs * 1000));
    const t1 = ticks(child.pid), w1 = Date.now();
    const pct = (t1 - t0) / 100 / ((w1 - w0) / 1000) * 100;
    results.get(v).push(pct);
    console.log(`round ${r + 1} ${v.padEnd(8)} ${pct.toFixed(3)}% of a core over ${((w1 - w0) / 1000).toFixed(0)} s`);
    child.kill('SIGKILL');
    await new Promise((res) => child.on('exit', res));
  }
}
for (const [v, xs] of results) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`${v.padEnd(8)} mean ${mean.toFixed(3)}% of a core (${xs.map((x) => x.toFixed(3)).join(', ')}); flags ${flags.join(' ')}; timers ${timers.join(', ')} ms${v === 'garbage' ? `; ${allocKb} KB per 10 s` : ''}`);
}
