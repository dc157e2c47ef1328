#!/usr/bin/env node
/**
 * The kernel matrix (npm run test:kernels): boots each kernel of test/kernels/kernels.json under
 * qemu and runs, inside it, `fovea doctor`, `fovea reasons` and the e2e files chosen for that
 * kernel, with this checkout's prebuilt objects (bpf/build/*.o, dist/) — the host's root is the
 * guest's root (9p, read-only, under a tmpfs overlay), so nothing is copied or rebuilt.
 *
 *   1. scripts/build.sh (incremental), scripts/kernels/fetch.sh (kernels, qemu 10, busybox, kmod:
 *      Debian packages, cached under .cache/kernels/)
 *   2. per kernel: scripts/kernels/initramfs.sh, then qemu (KVM when it can run a stock kernel
 *      here, TCG otherwise), one vCPU; test/kernels/guest-run.sh writes the outputs to
 *      .cache/kernels/runs/<name>/ (console.log is the guest's serial console)
 *   3. test/kernels/results.json and the table in docs/kernels.md
 *
 * Options: --only 5.10,6.1   run some kernels (results of the others are kept)
 *          --no-docs         do not rewrite test/kernels/results.json and docs/kernels.md
 * Environment: FOVEA_KERNELS_ACCEL=tcg|kvm (skip detection), FOVEA_KERNELS_WAIT_FOR=<file> (before
 * each boot, wait while that file exists: a shared machine's "quiet, measuring" lock).
 *
 * Exit 0 when every kernel run passed. When the matrix cannot run at all (no qemu, no kernel
 * package, not root) it fails with CI=true and says why; elsewhere it says so and exits 0.
 * The last line is `kernels: N passed, M failed` (tests, summed over kernels; a kernel that did not
 * finish counts as one failure).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderKernelTable, replaceTable } from './table.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BASE = join(REPO, '.cache', 'kernels');
const TOOLS = join(BASE, 'tools');
const CI = process.env.CI === 'true';
const say = (s) => process.stdout.write(`kernels: ${s}\n`);

/** @typedef {{ name: string, suite: string, package: string, distro: string, tests: string[], timeoutMinutes: number, memoryMiB?: number }} KernelSpec */

function args() {
  const a = process.argv.slice(2);
  const only = a.includes('--only') ? a[a.indexOf('--only') + 1]?.split(',') : undefined;
  return { only, docs: !a.includes('--no-docs') };
}

/** Fails the run: in CI an error, elsewhere (cannot run here) a note and exit 0. */
function cannotRun(why) {
  if (CI) {
    say(`cannot run: ${why}`);
    say('0 passed, 1 failed');
    process.exit(1);
  }
  say(`skipped: ${why} (with CI=true this fails)`);
  process.exit(0);
}

function sh(cmd, argv, what) {
  const r = spawnSync(cmd, argv, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) cannotRun(`${what} failed (exit ${r.status ?? r.signal}); see the lines above`);
}

const qemuEnv = () => ({
  ...process.env,
  LD_LIBRARY_PATH: [join(TOOLS, 'usr/lib/x86_64-linux-gnu'), join(TOOLS, 'lib/x86_64-linux-gnu'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
});
const QEMU = join(TOOLS, 'usr/bin/qemu-system-x86_64');
const FIRMWARE = ['-L', join(TOOLS, 'usr/share/qemu'), '-L', join(TOOLS, 'usr/share/seabios')];

/**
 * KVM when /dev/kvm can run a stock kernel: boots the first kernel without a root under
 * `-accel kvm -cpu host` and expects it to reach its "no root" panic. Some hosts' /dev/kvm
 * cannot (a nested or paravirtual device: qemu aborts on an MSR), then TCG.
 */
function chooseAccel(kernel) {
  const forced = process.env.FOVEA_KERNELS_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') return { accel: forced, why: 'FOVEA_KERNELS_ACCEL' };
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', why: 'no /dev/kvm' };
  const r = spawnSync(QEMU, [...FIRMWARE, '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host', '-smp', '1', '-m', '256',
    '-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio', '-kernel', join(BASE, kernel, 'vmlinuz'),
    '-append', 'console=ttyS0 panic=-1 root=/dev/nonexistent'], { env: qemuEnv(), timeout: 30_000, encoding: 'utf8' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (/Kernel panic|VFS: Unable to mount root/.test(out)) return { accel: 'kvm', why: 'a test boot under KVM reached the kernel' };
  const first = out.split('\n').find((l) => /error|abort|fail/i.test(l)) ?? (r.error ? String(r.error.message) : `exit ${r.status}`);
  return { accel: 'tcg', why: `KVM cannot run a stock kernel here (${first.trim().slice(0, 120)})` };
}

async function waitQuiet() {
  const lock = process.env.FOVEA_KERNELS_WAIT_FOR;
  if (!lock) return;
  let told = false;
  while (existsSync(lock)) {
    if (!told) say(`waiting while ${lock} exists`);
    told = true;
    await new Promise((r) => setTimeout(r, 15_000));
  }
}

/** What a doctor row that warns means, in a few words (the table's "what degrades"); others: name + detail. */
const SHORT = {
  'drop-reasons': 'no drop reasons: counted by freeing function (NO_KERNEL_REASON)',
  'tracepoint': null, // the same fact as drop-reasons
  'traffic-tcx': 'no tcx: clsact filters',
  'ringbuf': 'no BPF ring buffer: no drop events',
  'batch': 'no batch map reads: key by key',
  'tcp': 'resets sent with no socket not traced (Linux < 6.10; Tcp OutRsts counts them)',
};

/** Rows of doctor's JSON that warn or fail, short: what this kernel lacks. */
function degradedRows(doctor) {
  return doctor.checks
    .filter((c) => c.status === 'warn' || c.status === 'fail')
    .filter((c) => c.id !== 'privileges') // the guest runs as root: a privileges row would be about the guest, not the kernel
    .map((c) => (c.id in SHORT && c.status === 'warn' ? SHORT[c.id] : `${c.name}: ${c.detail.slice(0, 80)}`))
    .filter((s) => s !== null);
}

function dropMode(doctor) {
  if (!doctor.summary.drop) return null;
  const kind = doctor.summary.drop.split('/')[0];
  const noReasons = doctor.checks.some((c) => c.id === 'drop-reasons' && c.status === 'warn');
  return noReasons ? `${kind}, by freeing function (no reasons)` : `${kind}, kernel reasons`;
}

/**
 * Boots one kernel and collects its outputs.
 * @param {KernelSpec} k
 * @param {{accel: string}} how
 */
async function runKernel(k, how, index, total) {
  const dir = join(BASE, 'runs', k.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const release = readFileSync(join(BASE, k.name, 'release'), 'utf8').trim();
  writeFileSync(join(dir, 'job.env'), [
    `REPO=${REPO}`, `TESTS="${k.tests.join(' ')}"`, `GUEST_RUN=${join(REPO, 'test/kernels/guest-run.sh')}`, '',
  ].join('\n'));
  const consolePath = join(dir, 'console.log');
  const qemuArgs = [
    ...FIRMWARE, '-machine', 'q35', '-accel', how.accel, '-cpu', how.accel === 'kvm' ? 'host' : 'max',
    '-smp', '1', '-m', String(k.memoryMiB ?? 1024),
    '-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio',
    '-kernel', join(BASE, k.name, 'vmlinuz'), '-initrd', join(BASE, k.name, 'initramfs.cpio.gz'),
    '-append', 'console=ttyS0 panic=-1 loglevel=4 rdinit=/init',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${join(BASE, k.name, 'root/lib/modules', release)},mount_tag=modules,security_model=none,readonly=on`,
    '-virtfs', `local,path=${dir},mount_tag=results,security_model=none`,
  ];
  writeFileSync(join(dir, 'qemu.args'), qemuArgs.join('\n') + '\n');
  const started = Date.now();
  const elapsed = () => Math.round((Date.now() - started) / 1000);
  say(`[${index}/${total}] ${k.name} (${release}, ${k.distro}): booting under ${how.accel.toUpperCase()}, 1 vCPU — console: ${consolePath}`);

  const log = createWriteStream(consolePath);
  const child = spawn(QEMU, qemuArgs, { env: qemuEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  // progress: the guest's steps as they come
  let shown = 0;
  const progress = setInterval(() => {
    try {
      const lines = readFileSync(join(dir, 'steps.log'), 'utf8').split('\n').filter(Boolean);
      for (const l of lines.slice(shown)) say(`  ${k.name} +${elapsed()}s ${l.replace(/^\d+ /, '')}`);
      shown = lines.length;
    } catch { /* not yet */ }
  }, 2_000);
  const timeoutMs = k.timeoutMinutes * 60_000;
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  const code = await new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
  clearTimeout(timer);
  clearInterval(progress);
  await new Promise((r) => log.end(r));
  const seconds = (Date.now() - started) / 1000;

  /** @type {import('./table.mjs').KernelResult} */
  const result = {
    name: k.name, distro: k.distro, release, ok: false, drop: null, traffic: null, passed: 0, failed: 0,
    tests: k.tests, degraded: [], seconds, accel: how.accel,
  };
  const read = (f) => { try { return readFileSync(join(dir, f), 'utf8'); } catch { return undefined; } };
  try {
    const doctor = JSON.parse(read('doctor.json') ?? 'null');
    if (doctor) {
      result.drop = dropMode(doctor);
      result.traffic = doctor.summary.traffic;
      result.degraded = degradedRows(doctor);
    }
  } catch (err) {
    result.error = `doctor's JSON unreadable (${err.message})`;
  }
  const vitest = read('vitest.json');
  if (vitest) {
    const v = JSON.parse(vitest);
    result.passed = v.numPassedTests;
    result.failed = v.numFailedTests + (v.success || v.numFailedTests ? 0 : 1); // a failed beforeAll fails no test
    result.failedTests = v.testResults.flatMap((f) => f.assertionResults.filter((t) => t.status === 'failed').map((t) => t.fullName))
      .concat(v.testResults.filter((f) => f.status === 'failed' && f.message).map((f) => `${f.name.replace(`${REPO}/`, '')}: ${f.message.split('\n')[0]}`));
  }
  const done = existsSync(join(dir, 'done'));
  const vitestRc = (read('vitest.rc') ?? '').trim();
  if (timedOut) result.error = `timed out after ${k.timeoutMinutes} min (console: ${consolePath})`;
  else if (!done) result.error = `the guest stopped before the end (qemu exit ${code}; console: ${consolePath})`;
  else if (!result.drop && !result.traffic) result.error ??= `doctor found no probe that can run (${join(dir, 'doctor.json')})`;
  else if (k.tests.length && vitestRc !== '0') result.error = `e2e tests failed (vitest exit ${vitestRc}; log: ${join(dir, 'vitest.log')})`;
  result.ok = result.error === undefined;
  if (!result.ok && result.failed === 0 && result.passed === 0) result.failed = 1;

  const mark = result.ok ? 'PASS' : 'FAIL';
  say(`[${index}/${total}] ${k.name}: ${mark} — ${result.passed}/${result.passed + result.failed} tests, drop ${result.drop ?? 'none'}, `
    + `traffic ${result.traffic ?? 'none'}, ${Math.round(seconds)} s${result.error ? ` — ${result.error}` : ''}`);
  for (const t of result.failedTests ?? []) say(`    failed: ${t}`);
  if (result.degraded.length) say(`    degraded: ${result.degraded.join('; ')}`);
  delete result.failedTests;
  return result;
}

async function main() {
  const opts = args();
  /** @type {KernelSpec[]} */
  const all = JSON.parse(readFileSync(join(REPO, 'test/kernels/kernels.json'), 'utf8'));
  const kernels = opts.only ? all.filter((k) => opts.only.includes(k.name)) : all;
  if (opts.only && kernels.length !== opts.only.length) {
    say(`unknown kernel in --only ${opts.only.join(',')} (known: ${all.map((k) => k.name).join(', ')})`);
    process.exit(2);
  }
  if (process.getuid?.() !== 0) cannotRun('needs root (the guest shares the host\'s root, which has root-only files)');
  for (const tool of ['apt-get', 'dpkg-deb']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) cannotRun(`missing ${tool}: the kernels and qemu come from Debian packages`);
  }
  const t0 = Date.now();
  say(`building the objects and dist/ the guests run (scripts/build.sh)`);
  sh('bash', ['scripts/build.sh'], 'scripts/build.sh');
  say(`fetching kernels and qemu (scripts/kernels/fetch.sh; cached in ${BASE})`);
  sh('bash', ['scripts/kernels/fetch.sh', ...kernels.map((k) => k.name)], 'scripts/kernels/fetch.sh');
  for (const k of kernels) sh('bash', ['scripts/kernels/initramfs.sh', k.name], `initramfs for ${k.name}`);
  const how = chooseAccel(kernels[0].name);
  say(`accelerator: ${how.accel} (${how.why})`);

  const results = [];
  for (const [i, k] of kernels.entries()) {
    await waitQuiet();
    results.push(await runKernel(k, how, i + 1, kernels.length));
  }
  const total = (Date.now() - t0) / 1000;
  const passed = results.reduce((a, r) => a + r.passed, 0);
  const failed = results.reduce((a, r) => a + r.failed, 0);
  say(`${results.filter((r) => r.ok).length}/${results.length} kernels passed in ${Math.round(total)} s (${how.accel})`);

  if (opts.docs) {
    const file = join(REPO, 'test/kernels/results.json');
    const old = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { kernels: [] };
    const byName = new Map(old.kernels.map((k) => [k.name, k]));
    for (const r of results) byName.set(r.name, r);
    const merged = {
      generated: new Date().toISOString(),
      command: `npm run test:kernels${opts.only ? ` -- --only ${opts.only.join(',')}` : ''}`,
      host: { cpus: (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm) ?? []).length },
      lastRunSeconds: Math.round(total),
      kernels: all.map((k) => byName.get(k.name)).filter(Boolean),
    };
    writeFileSync(file, JSON.stringify(merged, null, 2) + '\n');
    const docPath = join(REPO, 'docs/kernels.md');
    writeFileSync(docPath, replaceTable(readFileSync(docPath, 'utf8'), renderKernelTable(merged)));
    say(`wrote ${file} and the table in ${docPath}`);
  }
  say(`${passed} passed, ${failed} failed`);
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

main().catch((err) => {
  say(`error: ${err.stack ?? err}`);
  process.exit(1);
});
