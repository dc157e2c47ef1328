/**
 * `fovea doctor` against the real kernel: the checks this development/CI machine must pass
 * (kernel 6.x with BTF, tp_btf on skb:kfree_skb, tcx), and nothing left behind on lo or in the
 * kernel afterwards. Needs root; with CI=true a missing root is a failure, elsewhere it skips.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { runChecks, summarize } from '../../src/commands/doctor.js';
import { run } from '../../src/lab/run.js';
import { defaultBpfObjectDir } from '../../src/paths.js';

const isRoot = process.getuid?.() === 0;
const SKIP_REASON = 'doctor e2e loads and attaches eBPF programs: run as root — with CI=true this fails instead';
const OUR_PROGRAMS = new Set(['drop_tp_btf', 'drop_raw_tp', 'drop_tp_btf_loc', 'drop_raw_tp_loc', 'traffic_ingress', 'traffic_egress', 'fovea_probe']);

/** Our programs currently in the kernel, by name (bpftool truncates names to 15 chars; ours fit). */
async function ourPrograms(): Promise<string[]> {
  const progs = JSON.parse((await run(['bpftool', '-j', 'prog', 'show'])).stdout) as Array<{ name?: string }>;
  return progs.map((p) => p.name ?? '').filter((n) => OUR_PROGRAMS.has(n)).sort();
}

/** tc filters on lo (clsact); tcx links are covered by ourPrograms: a live link keeps its program loaded. */
async function loFilters(): Promise<string> {
  const dirs = await Promise.all(['ingress', 'egress'].map((d) => run(['tc', 'filter', 'show', 'dev', 'lo', d], { allowFail: true })));
  return dirs.map((r) => r.stdout.trim()).join('');
}

if (!isRoot && process.env['CI'] === 'true') {
  it('doctor e2e runs as root in CI', () => { throw new Error(SKIP_REASON); });
}

describe.skipIf(!isRoot)(isRoot ? 'fovea doctor (real kernel)' : `fovea doctor (real kernel) — skipped: ${SKIP_REASON}`, () => {
  it('finds BTF, the drop reasons, tp_btf and tcx on this machine, and leaves nothing loaded or attached', async () => {
    const progsBefore = await ourPrograms();
    const filtersBefore = await loFilters();

    const checks = runChecks({ bpfDir: defaultBpfObjectDir(), verbose: true });
    const status = Object.fromEntries(checks.map((c) => [c.id, c.status]));
    expect(status).toMatchObject({
      'libbpf': 'ok', 'privileges': 'ok', 'btf': 'ok', 'drop-reasons': 'ok', 'tracepoint': 'ok',
      'drop-tp_btf': 'ok', 'drop-raw_tp': 'ok', 'traffic-tcx': 'ok', 'ringbuf': 'ok', 'batch': 'ok',
    });
    expect(status['traffic-clsact']).toBeUndefined(); // clsact is only tried without tcx
    // informational rows are there and never fail
    for (const id of ['lockdown', 'fentry', 'kprobe', 'bpffs']) expect(['ok', 'info', 'warn']).toContain(status[id]);
    const reasons = checks.find((c) => c.id === 'drop-reasons')!;
    expect(Number(/(\d+) reasons/.exec(reasons.detail)?.[1])).toBeGreaterThan(50);
    const summary = summarize(checks);
    expect(summary).toMatchObject({ drop: 'tp_btf/kfree_skb', traffic: 'tcx', canRun: true });
    expect(summary.message).toBe('Fovea can run: drop probe via tp_btf/kfree_skb, traffic via tcx');

    expect(await ourPrograms()).toEqual(progsBefore);
    expect(await loFilters()).toBe(filtersBefore);
    expect(filtersBefore).toBe(''); // this machine has no clsact filters on lo: none appeared either
  });

  it('the CLI: --json is parseable, no colour when not a TTY, exit 0', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true }, env: {} } as never;
    expect(await main(['doctor', '--json'], io)).toBe(0);
    const json = JSON.parse(out.join('')) as { checks: Array<{ id: string; status: string }>; summary: { canRun: boolean } };
    expect(json.summary.canRun).toBe(true);
    expect(json.checks.find((c) => c.id === 'traffic-tcx')?.status).toBe('ok');

    out.length = 0;
    expect(await main(['doctor'], io)).toBe(0);
    const text = out.join('');
    expect(text).not.toContain('\u001b[');
    expect(text).toMatch(/^✓ {2}drop via tp_btf /m);
    expect(text.trimEnd().split('\n').at(-1)).toBe('Fovea can run: drop probe via tp_btf/kfree_skb, traffic via tcx');
  });

  it('a missing object directory is reported, not thrown; exit 1', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true }, env: {} } as never;
    expect(await main(['doctor', '--bpf-dir', '/nonexistent/fovea'], io)).toBe(1);
    expect(out.join('')).toMatch(/fix: build the eBPF objects/);
  });
});
