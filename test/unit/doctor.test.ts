/**
 * `fovea doctor` without a kernel: capability decoding, the privilege verdict, summary and exit
 * code, rendering, and the fallbacks of runChecks() walked with a fake host.
 */
import { describe, expect, it } from 'vitest';
import {
  CAP, decodeCapMask, doctorCommand, effectiveCaps, exitCode, parseKernelRelease, privilegeCheck, renderTable,
  runChecks, summarize, useColour, type CheckResult, type Host,
} from '../../src/commands/doctor.js';
import { BpfError } from '../../src/kernel/errors.js';

const ROOT_CAPS = '000001ffffffffff';
const ESC = '\u001b[';

describe('capabilities', () => {
  it('decodes CapEff masks bit by bit', () => {
    const root = decodeCapMask(ROOT_CAPS);
    expect(root.size).toBe(41);
    for (const c of Object.values(CAP)) expect(root.has(c)).toBe(true);
    // this development machine: everything but CAP_SYS_RESOURCE (bit 24)
    const lab = decodeCapMask('000001fffeffffff');
    expect(lab.has(CAP.SYS_RESOURCE)).toBe(false);
    expect(lab.has(CAP.BPF) && lab.has(CAP.PERFMON) && lab.has(CAP.NET_ADMIN)).toBe(true);
    expect([...decodeCapMask('0000000000000000')]).toEqual([]);
    expect([...decodeCapMask('0000008000001000')].sort((a, b) => a - b)).toEqual([CAP.NET_ADMIN, CAP.BPF]);
    expect(decodeCapMask('8000000000000000').has(63)).toBe(true);
  });

  it('rejects what is not a mask', () => {
    expect(() => decodeCapMask('')).toThrow(/not a capability mask/);
    expect(() => decodeCapMask('xyz')).toThrow(/not a capability mask/);
    expect(() => decodeCapMask('1'.repeat(17))).toThrow(/not a capability mask/);
  });

  it('reads CapEff (not CapPrm/CapBnd) from /proc/self/status', () => {
    const status = 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000001000\nCapBnd:\t000001ffffffffff\n';
    expect([...effectiveCaps(status)]).toEqual([CAP.NET_ADMIN]);
    expect(() => effectiveCaps('Name:\tnode\n')).toThrow(/CapEff/);
  });

  it('parses kernel releases', () => {
    expect(parseKernelRelease('6.18.44-fc-v595')).toEqual({ major: 6, minor: 18 });
    expect(parseKernelRelease('5.4.0-150-generic')).toEqual({ major: 5, minor: 4 });
    expect(parseKernelRelease('weird')).toBeUndefined();
  });
});

describe('privilegeCheck', () => {
  const k618 = { major: 6, minor: 18 };
  const caps = (...c: number[]) => new Set(c);

  it('root: ok', () => {
    const r = privilegeCheck(decodeCapMask(ROOT_CAPS), k618);
    expect(r.status).toBe('ok');
    expect(r.fix).toBeUndefined();
  });

  it('CAP_SYS_ADMIN stands in for BPF, PERFMON and NET_ADMIN', () => {
    const r = privilegeCheck(caps(CAP.SYS_ADMIN), k618);
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/through CAP_SYS_ADMIN/);
  });

  it('no capabilities: fail, and the fix lists all three for Kubernetes', () => {
    const r = privilegeCheck(caps(), k618);
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/no drop probe, no traffic probe/);
    expect(r.fix).toContain('securityContext.capabilities.add: ["BPF", "PERFMON", "NET_ADMIN"]');
    expect(r.fix).toMatch(/before 5\.8.*SYS_ADMIN/);
  });

  it('missing NET_ADMIN: warn, the drop probe still runs, the fix names only NET_ADMIN', () => {
    const r = privilegeCheck(caps(CAP.BPF, CAP.PERFMON), k618);
    expect(r.status).toBe('warn');
    expect(r.detail).toBe('missing CAP_NET_ADMIN: no traffic probe');
    expect(r.fix).toContain('add: ["NET_ADMIN"]');
    expect(r.fix).not.toMatch(/5\.8/);
  });

  it('missing PERFMON: warn, no drop probe', () => {
    const r = privilegeCheck(caps(CAP.BPF, CAP.NET_ADMIN), k618);
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/no drop probe$/);
  });

  it('CAP_SYS_RESOURCE matters only before 5.11 (RLIMIT_MEMLOCK accounting)', () => {
    const all = caps(CAP.BPF, CAP.PERFMON, CAP.NET_ADMIN);
    expect(privilegeCheck(all, { major: 5, minor: 11 }).status).toBe('ok');
    const old = privilegeCheck(all, { major: 5, minor: 10 });
    expect(old.status).toBe('warn');
    expect(old.detail).toMatch(/CAP_SYS_RESOURCE.*RLIMIT_MEMLOCK/);
    expect(privilegeCheck(all, undefined).status).toBe('ok');
  });
});

function row(id: string, status: CheckResult['status']): CheckResult {
  return { id, name: id, status, detail: `${id} is ${status}`, affects: 'x', ...(status === 'ok' || status === 'info' ? {} : { fix: `fix ${id}` }) };
}

describe('summarize and exit code', () => {
  it('both probes', () => {
    const s = summarize([row('drop-reasons', 'ok'), row('drop-tp_btf', 'ok'), row('drop-raw_tp', 'ok'), row('traffic-tcx', 'ok')]);
    expect(s).toMatchObject({ drop: 'tp_btf/kfree_skb', traffic: 'tcx', canRun: true });
    expect(s.message).toBe('Fovea can run: drop probe via tp_btf/kfree_skb, traffic via tcx');
    expect(exitCode(s)).toBe(0);
  });

  it('fallbacks: raw_tp and clsact', () => {
    const s = summarize([row('drop-tp_btf', 'warn'), row('drop-raw_tp', 'ok'), row('traffic-tcx', 'warn'), row('traffic-clsact', 'ok')]);
    expect(s.message).toBe('Fovea can run: drop probe via raw_tp/kfree_skb, traffic via clsact');
  });

  it('one probe is enough to run, and the other is named as missing', () => {
    const s = summarize([row('drop-tp_btf', 'fail'), row('drop-raw_tp', 'fail'), row('traffic-tcx', 'ok')]);
    expect(s).toMatchObject({ drop: null, traffic: 'tcx', canRun: true });
    expect(s.message).toBe('Fovea can run: traffic via tcx; not available: drop probe (see ✗ above)');
    expect(exitCode(s)).toBe(0);
  });

  it('the drop probe does not start without the kernel reason names, even when it attaches', () => {
    const s = summarize([row('drop-reasons', 'fail'), row('drop-tp_btf', 'ok'), row('traffic-tcx', 'fail')]);
    expect(s.drop).toBeNull();
    expect(s.canRun).toBe(false);
    expect(exitCode(s)).toBe(1);
  });

  it('nothing: cannot run, exit 1', () => {
    const s = summarize([row('libbpf', 'fail')]);
    expect(s).toMatchObject({ drop: null, traffic: null, canRun: false });
    expect(s.message).toMatch(/^Fovea cannot run here/);
    expect(exitCode(s)).toBe(1);
  });
});

describe('rendering', () => {
  const checks = [row('libbpf', 'ok'), row('traffic-tcx', 'warn'), row('drop-tp_btf', 'fail'), row('fentry', 'info')];
  const summary = summarize(checks);

  it('plain text when colour is off: marks, aligned columns, a fix under warn/fail rows only', () => {
    const out = renderTable(checks, summary, { colour: false, header: 'fovea doctor — test' });
    expect(out).not.toContain(ESC);
    const lines = out.split('\n');
    expect(lines[0]).toBe('fovea doctor — test');
    const rows = lines.filter((l) => /^[✓!✗·] /.test(l));
    expect(rows.map((l) => l[0])).toEqual(['✓', '!', '✗', '·']);
    const detailAt = new Set(rows.map((l) => l.indexOf(' is ')).map((i, n) => i - (checks[n]!.id.length)));
    expect(detailAt.size).toBe(1); // the DETAIL column starts at the same place on every row
    expect(lines.filter((l) => l.includes('fix: ')).map((l) => l.trim())).toEqual(['fix: fix traffic-tcx', 'fix: fix drop-tp_btf']);
    expect(out.trimEnd().endsWith(summary.message)).toBe(true);
  });

  it('colour codes only when asked', () => {
    const out = renderTable(checks, summary, { colour: true });
    expect(out).toContain(`${ESC}32m✓${ESC}0m`);
    expect(out).toContain(`${ESC}31m✗${ESC}0m`);
  });

  it('colour only on a TTY, and NO_COLOR (non-empty) turns it off', () => {
    expect(useColour({ isTTY: true }, {})).toBe(true);
    expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColour({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(useColour({ isTTY: false }, {})).toBe(false);
    expect(useColour({}, {})).toBe(false);
  });
});

/** A host where everything works; tests override what they break. */
function fakeHost(over: Partial<Host> = {}): Host & { calls: string[] } {
  const calls: string[] = [];
  const host: Host = {
    libbpfVersion: () => ({ major: 1, minor: 1 }),
    routeLibbpfLog: () => {},
    procStatus: () => `CapEff:\t${ROOT_CAPS}\n`,
    kernelRelease: () => '6.18.0',
    kernelBtfSize: () => 5 * 2 ** 20,
    dropReasonCount: () => 128,
    kfreeSkbHasReason: () => true,
    kernelBtfHasTypedef: () => true,
    tracepointArity: (name) => (name === 'tcp_retransmit_skb' || name === 'tcp_send_reset' ? 3 : name === 'tcp_receive_reset' ? 1 : 2),
    kfreeSkbFormat: () => ({ tracefs: '/sys/kernel/tracing', format: '\tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;\tsigned:0;\n' }),
    tryTracingAttach: (_o, p) => { calls.push(`attach ${p}`); },
    tryTcAttach: (_o, p, mode) => { calls.push(`${mode} ${p}`); },
    mapTypeSupported: () => true,
    batchLookupSupported: () => true,
    lockdownMode: () => 'none',
    tryFentryLoad: () => {},
    kprobePmuPresent: () => true,
    bpffsMounted: () => true,
    ...over,
  };
  return Object.assign(host, { calls });
}

const byId = (checks: CheckResult[]) => new Map(checks.map((c) => [c.id, c]));
const opts = { bpfDir: '/opt/fovea/bpf', verbose: false };

describe('runChecks with a fake host', () => {
  it('every capability but a seccomp filter denying bpf(): the EPERM rows and the ring buffer row point at seccomp', () => {
    const eperm = (what: string) => { throw new BpfError(what, 1); };
    const host = fakeHost({
      procStatus: () => `CapEff:\t${ROOT_CAPS}\nSeccomp:\t2\nSeccomp_filters:\t1\n`,
      tryTracingAttach: (_o, p) => eperm(`load ${p}`),
      tryTcAttach: (_o, p) => eperm(`load ${p}`),
      mapTypeSupported: () => false,
    });
    const c = byId(runChecks(opts, host));
    expect(c.get('privileges')).toMatchObject({ status: 'ok' });
    expect(c.get('privileges')!.detail).toContain('seccomp filter is on');
    expect(c.get('tcp')!.fix).toMatch(/seccomp filter denies bpf\(\).*seccomp-unconfined/);
    expect(c.get('ringbuf')).toMatchObject({ status: 'warn', detail: 'cannot create one (a seccomp filter, or kernel < 5.8)' });
    // without a filter, the same failures keep their usual advice
    const plain = byId(runChecks(opts, fakeHost({ tryTracingAttach: (_o, p) => eperm(`load ${p}`), mapTypeSupported: () => false })));
    expect(plain.get('tcp')!.fix).not.toMatch(/seccomp/);
    expect(plain.get('ringbuf')!.detail).toBe('not supported (kernel < 5.8)');
  });


  it('everything works: no warn/fail, tcx without touching clsact', () => {
    const host = fakeHost();
    const checks = runChecks(opts, host);
    expect(checks.filter((c) => c.status === 'warn' || c.status === 'fail')).toEqual([]);
    expect(host.calls).toEqual(['attach drop_tp_btf', 'attach drop_raw_tp', 'tcx traffic_ingress',
      'attach tcp_retransmit_err', 'attach tcp_retransmit_synack', 'attach tcp_send_reset', 'attach tcp_receive_reset', 'attach tcp_set_state']);
    expect(byId(checks).get('tcp')?.detail).toMatch(/^5 raw tracepoints load and attach \(tcp_retransmit_err,/);
    expect(checks.map((c) => c.id)).not.toContain('traffic-clsact');
    expect(checks.map((c) => c.id)).not.toContain('bpffs');
    expect(runChecks({ ...opts, verbose: true }, fakeHost()).map((c) => c.id)).toContain('bpffs');
    expect(summarize(checks).message).toBe('Fovea can run: drop probe via tp_btf/kfree_skb, traffic via tcx');
  });

  it('tcp: the retransmit program follows the tracepoint\'s arity; a missing tracepoint or a failed attach fails the row', () => {
    const old = fakeHost({ tracepointArity: (name) => (name === 'tcp_retransmit_skb' ? 2 : 1) });
    runChecks(opts, old);
    expect(old.calls).toContain('attach tcp_retransmit');
    expect(old.calls).not.toContain('attach tcp_retransmit_err');
    // tcp_send_reset with 2 arguments: before 6.10
    const noReason = byId(runChecks(opts, fakeHost({ tracepointArity: (name) => (name === 'tcp_retransmit_skb' ? 3 : name === 'tcp_receive_reset' ? 1 : 2) }))).get('tcp')!;
    expect(noReason.status).toBe('warn');
    expect(noReason.detail).toMatch(/^5 raw tracepoints load and attach .*full socket \(Linux < 6\.10\).*closed port.*TIME_WAIT/);
    expect(noReason.fix).toMatch(/Tcp OutRsts/);
    expect(byId(runChecks(opts, fakeHost())).get('tcp')!.status).toBe('ok');
    const none = byId(runChecks(opts, fakeHost({ tracepointArity: (name) => (name === 'tcp_receive_reset' ? undefined : 2) })));
    expect(none.get('tcp')).toMatchObject({ status: 'fail', detail: 'kernel has no tracepoint tcp_receive_reset' });
    const host = fakeHost({
      tryTracingAttach: (_o, p) => {
        if (p === 'tcp_set_state') throw new BpfError('attach tcp_set_state', 1);
      },
    });
    const c = byId(runChecks(opts, host)).get('tcp')!;
    expect(c.status).toBe('fail');
    expect(c.detail).toMatch(/^1 of 5 programs failed: tcp_set_state: .*EPERM/);
  });

  it('no tcx in the kernel: clsact is tried and will be used', () => {
    const host = fakeHost({
      tryTcAttach: (_o, p, mode) => {
        host.calls.push(`${mode} ${p}`);
        if (mode === 'tcx') throw new BpfError('tcx attach traffic_ingress to lo ingress', 22);
      },
    });
    const c = byId(runChecks(opts, host));
    expect(c.get('traffic-tcx')).toMatchObject({ status: 'warn', fix: 'tcx needs kernel >= 6.6' });
    expect(c.get('traffic-tcx')!.detail).toMatch(/EINVAL — clsact fallback will be used$/);
    expect(c.get('traffic-clsact')?.status).toBe('ok');
    expect(host.calls).toContain('clsact traffic_ingress');
    expect(summarize([...c.values()]).traffic).toBe('clsact');
  });

  it('tcx refused for another reason (EPERM): no clsact attempt, like the agent', () => {
    const host = fakeHost({
      procStatus: () => 'CapEff:\t000000c000000000\n', // BPF + PERFMON, no NET_ADMIN
      tryTcAttach: (_o, p, mode) => {
        host.calls.push(`${mode} ${p}`);
        throw new BpfError('tcx attach traffic_ingress to lo ingress', 1);
      },
    });
    const c = byId(runChecks(opts, host));
    expect(host.calls).not.toContain('clsact traffic_ingress');
    expect(c.get('traffic-tcx')).toMatchObject({ status: 'fail', fix: 'grant the missing capabilities (see privileges)' });
    expect(c.get('privileges')?.status).toBe('warn');
    expect(summarize([...c.values()]).message).toBe('Fovea can run: drop probe via tp_btf/kfree_skb; not available: traffic probe (see ✗ above)');
  });

  it('tp_btf refused: raw_tp will be used; raw_tp refused while tp_btf works is only informational', () => {
    let c = byId(runChecks(opts, fakeHost({
      tryTracingAttach: (_o, p) => { if (p === 'drop_tp_btf') throw new BpfError('load drop.bpf.o', 3); },
    })));
    expect(c.get('drop-tp_btf')?.status).toBe('warn');
    expect(c.get('drop-tp_btf')?.detail).toBe('load drop.bpf.o: ESRCH — raw_tp/kfree_skb will be used');
    expect(c.get('drop-raw_tp')?.status).toBe('ok');
    expect(summarize([...c.values()]).drop).toBe('raw_tp/kfree_skb');

    c = byId(runChecks(opts, fakeHost({
      tryTracingAttach: (_o, p) => { if (p === 'drop_raw_tp') throw new BpfError('load drop.bpf.o', 22); },
    })));
    expect(c.get('drop-raw_tp')?.status).toBe('info');
    expect(summarize([...c.values()]).drop).toBe('tp_btf/kfree_skb');
  });

  it('libbpf missing: no crash, nothing tried, every dependent row says why, exit 1', () => {
    const host = fakeHost({
      libbpfVersion: () => { throw new Error('cannot load libbpf.so.1 (not found); install it: apt-get install libbpf1'); },
      routeLibbpfLog: () => { throw new Error('must not be called'); },
    });
    const checks = runChecks(opts, host);
    const c = byId(checks);
    expect(host.calls).toEqual([]);
    expect(c.get('libbpf')).toMatchObject({ status: 'fail' });
    expect(c.get('libbpf')?.fix).toMatch(/^apt-get install libbpf1/);
    for (const id of ['drop-reasons', 'drop-tp_btf', 'drop-raw_tp', 'traffic-tcx', 'ringbuf', 'batch']) {
      expect(c.get(id), id).toMatchObject({ status: 'fail', detail: 'not checked: libbpf.so.1 is not loadable' });
    }
    expect(exitCode(summarize(checks))).toBe(1);
  });

  it('objects not built: the fix says how to build them and where we looked', () => {
    const missing = () => { throw new BpfError('open /opt/fovea/bpf/drop.bpf.o', 2, 'object file missing: run `npm run build:bpf`'); };
    const c = byId(runChecks(opts, fakeHost({ tryTracingAttach: missing, tryTcAttach: missing })));
    expect(c.get('drop-tp_btf')?.detail).toBe('open drop.bpf.o: ENOENT');
    expect(c.get('drop-tp_btf')?.fix).toMatch(/scripts\/build\.sh.*--bpf-dir.*\/opt\/fovea\/bpf/);
  });

  it('no kernel BTF or no drop reasons: the drop probe is out', () => {
    let checks = runChecks(opts, fakeHost({ kernelBtfSize: () => undefined }));
    expect(byId(checks).get('btf')?.status).toBe('fail');
    expect(byId(checks).get('drop-reasons')?.status).toBe('fail');
    expect(summarize(checks).drop).toBeNull();
    expect(byId(checks).get('btf')?.fix).toMatch(/CONFIG_DEBUG_INFO_BTF=y.*docs\/kernels\.md/);
    // the enum missing although the tracepoint has a reason argument: inconsistent BTF, the probe is out
    checks = runChecks(opts, fakeHost({
      dropReasonCount: () => { throw new Error('the kernel BTF has no enum skb_drop_reason: kernel older than 5.17 has no drop reasons'); },
      kfreeSkbFormat: () => ({ tracefs: '/sys/kernel/tracing', format: '\tfield:void * location;\toffset:16;\n' }),
    }));
    expect(byId(checks).get('tracepoint')).toMatchObject({ status: 'fail' });
    expect(byId(checks).get('tracepoint')?.detail).toMatch(/no reason field/);
    expect(summarize(checks)).toMatchObject({ drop: null, traffic: 'tcx', canRun: true });
  });

  it('a kernel without drop reasons (5.10): the probe counts by freeing function through the *_loc programs', () => {
    const host = fakeHost({
      kfreeSkbHasReason: () => false,
      dropReasonCount: () => { throw new Error('the kernel BTF has no enum skb_drop_reason'); },
      kfreeSkbFormat: () => ({ tracefs: '/sys/kernel/tracing', format: '\tfield:void * skbaddr;\toffset:8;\n\tfield:void * location;\toffset:16;\n' }),
    });
    const checks = runChecks(opts, host);
    const c = byId(checks);
    expect(c.get('drop-reasons')).toMatchObject({ status: 'warn' });
    expect(c.get('drop-reasons')?.detail).toMatch(/before 5\.17.*function that freed the packet.*NO_KERNEL_REASON/);
    expect(c.get('tracepoint')).toMatchObject({ status: 'warn' });
    expect(c.get('drop-tp_btf')).toMatchObject({ status: 'ok' });
    expect(c.get('drop-tp_btf')?.detail).toMatch(/drop_tp_btf_loc/);
    expect(host.calls.filter((x) => x.startsWith('attach drop_'))).toEqual(['attach drop_tp_btf_loc', 'attach drop_raw_tp_loc']);
    expect(summarize(checks)).toMatchObject({ drop: 'tp_btf/kfree_skb', traffic: 'tcx', canRun: true });
  });

  it('a check that crashes becomes a row; the others still run', () => {
    const checks = runChecks(opts, fakeHost({ lockdownMode: () => { throw new TypeError('boom'); } }));
    expect(byId(checks).get('lockdown')).toMatchObject({ status: 'fail', detail: 'check crashed: boom' });
    expect(byId(checks).get('kprobe')).toBeDefined();
  });

  it('informational rows never fail the run', () => {
    const checks = runChecks(opts, fakeHost({
      tryFentryLoad: () => { throw new BpfError('load fentry program on tcp_v4_rcv', 3); },
      kprobePmuPresent: () => false,
      lockdownMode: () => undefined,
    }));
    const c = byId(checks);
    expect(c.get('fentry')).toMatchObject({ status: 'info', detail: 'not available (load fentry program on tcp_v4_rcv: ESRCH); Fovea does not need it' });
    expect(c.get('kprobe')?.status).toBe('info');
    expect(c.get('lockdown')?.status).toBe('info');
    expect(exitCode(summarize(checks))).toBe(0);
  });

  it('lockdown=confidentiality is a warning', () => {
    expect(byId(runChecks(opts, fakeHost({ lockdownMode: () => 'confidentiality' }))).get('lockdown')?.status).toBe('warn');
  });
});

describe('doctor command usage', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out, err,
      io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} } as never,
    };
  }

  it('--help prints usage, exit 0', async () => {
    const t = io();
    expect(await doctorCommand.run(['--help'], t.io)).toBe(0);
    expect(t.out.join('')).toMatch(/^Usage: fovea doctor/);
  });

  it('an unknown option or an argument is bad usage, exit 2', async () => {
    let t = io();
    expect(await doctorCommand.run(['--bogus'], t.io)).toBe(2);
    expect(t.err.join('')).toMatch(/Unknown option '--bogus'/);
    t = io();
    expect(await doctorCommand.run(['extra'], t.io)).toBe(2);
  });
});
