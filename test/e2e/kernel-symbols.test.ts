/**
 * Drop sites named by the kernel itself (bpf/symbol.bpf.c: `%pS` through bpf_snprintf, run with
 * BPF_PROG_TEST_RUN), checked against an independent reading of /proc/kallsyms: random addresses
 * inside the running kernel's own functions and inside modules' functions must get the name and
 * offset the file gives them. On kernels without bpf_snprintf (< 5.13: the kernel matrix's 5.10) the
 * program does not load, and the same names must come from the file.
 *
 * With only the base DaemonSet's capabilities (BPF, PERFMON, NET_ADMIN: no SYSLOG, so the file
 * shows every address as 0) the kernel still names them: drop locations need no CAP_SYSLOG on 5.13+.
 *
 * Root only (loads a program, reads kallsyms addresses); skips with the reason elsewhere, fails in CI.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KernelSymbols } from '../../src/events/kallsyms.js';
import { BpfSymbolizer, SYMBOL_BATCH } from '../../src/kernel/symbolize.js';
import { prng } from '../helpers/prng.js';
import { describeRoot } from '../helpers/root.js';

const OBJECT = 'bpf/build/symbol.bpf.o';
const [major = 0, minor = 0] = release().split(/[.-]/).map(Number);
const hasSnprintf = major > 5 || (major === 5 && minor >= 13);

interface TextSymbol { addr: bigint; name: string; module: string | undefined; size: bigint }

/**
 * Text symbols with an address of their own (aliases aside) and a size (the next symbol's address
 * less theirs, under 1 MiB): `[bpf]` and `[__builtin__ftrace]` left out (they come and go while
 * tests run), each module's symbols sized only against its own.
 */
function textSymbols(): TextSymbol[] {
  const all = readFileSync('/proc/kallsyms', 'latin1').split('\n').map((l) => /^([0-9a-f]{16}) ([tT]) (\S+)(?:\t\[(\S+)\])?$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ addr: BigInt(`0x${m[1]}`), name: m[3]!, module: m[4] }))
    .filter((s) => s.module === undefined || !s.module.startsWith('bpf') && !s.module.startsWith('__builtin'));
  all.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  return all.map((s, i) => ({ ...s, size: (all[i + 1]?.addr ?? 0n) - s.addr }))
    .filter((s, i) => all[i - 1]?.addr !== s.addr && all[i + 1]?.module === s.module && s.size > 0n && s.size < 1n << 20n);
}

/** `count` random addresses inside `symbols`, each with the name the file gives it. */
function sample(symbols: TextSymbol[], count: number, seed: number): Map<bigint, string> {
  const rnd = prng(seed);
  const want = new Map<bigint, string>();
  while (want.size < Math.min(count, symbols.length * 4)) {
    const s = symbols[Math.floor(rnd() * symbols.length)]!;
    const off = BigInt(Math.floor(rnd() * Number(s.size)));
    want.set(s.addr + off, `${s.name}+0x${off.toString(16)}`);
  }
  return want;
}

describeRoot('drop sites named by the kernel', 'loading the symboliser program and reading kallsyms addresses need root', () => {
  let symbols: TextSymbol[];
  const opened: KernelSymbols[] = [];
  const kernelSymbols = (): KernelSymbols => {
    const k = new KernelSymbols({ bpfObject: OBJECT });
    opened.push(k);
    return k;
  };

  beforeAll(() => {
    symbols = textSymbols();
    expect(symbols.length, '/proc/kallsyms shows addresses').toBeGreaterThan(1000);
  });
  afterAll(() => {
    for (const k of opened) k.close();
  });

  it(`the kernel's own functions: 300 random addresses named as the file names them (${hasSnprintf ? 'the kernel names them' : 'from the file: no bpf_snprintf before 5.13'})`, async () => {
    const want = sample(symbols.filter((s) => s.module === undefined), 300, 20261203);
    const k = kernelSymbols();
    expect(k.source).toBeUndefined();
    k.prepare(); // as the agent does at start: the symboliser loaded before any drop
    expect(k.source).toBe(hasSnprintf ? 'bpf' : 'file');
    await k.resolve(want.keys());
    expect(k.source).toBe(hasSnprintf ? 'bpf' : 'file');
    expect(new Map([...want.keys()].map((a) => [a, k.known(a)]))).toEqual(want);
  });

  it('modules\' functions: named without the module, as the file names them', async (ctx) => {
    const inModules = symbols.filter((s) => s.module !== undefined);
    if (inModules.length === 0) ctx.skip(); // a kernel without modules loaded
    const want = sample(inModules, 100, 7);
    const k = kernelSymbols();
    await k.resolve(want.keys());
    expect(new Map([...want.keys()].map((a) => [a, k.known(a)]))).toEqual(want);
  });

  it('an address in no function has no name; one resolve of many addresses takes several batches', async () => {
    const k = kernelSymbols();
    const nowhere = 0xffff888000001000n; // the direct map: data, not text
    const many = [...sample(symbols.filter((s) => s.module === undefined), SYMBOL_BATCH * 3 + 5, 99)];
    await k.resolve([nowhere, ...many.map(([a]) => a)]);
    expect(k.known(nowhere)).toBeUndefined();
    expect(many.map(([a]) => k.known(a))).toEqual(many.map(([, name]) => name));
  });

  it.runIf(hasSnprintf)('with the base DaemonSet\'s capabilities only (no CAP_SYSLOG: the file shows zeros), the kernel names them', () => {
    const want = [...sample(symbols.filter((s) => s.module === undefined), 20, 5)];
    const caps = '-all,+bpf,+perfmon,+net_admin'; // deploy/base/fovea-agent.yaml
    const script = `const { KernelSymbols } = await import(${JSON.stringify(pathToFileURL(resolve('dist/src/events/kallsyms.js')).href)});
      const { readFileSync } = await import('node:fs');
      const k = new KernelSymbols({ bpfObject: ${JSON.stringify(resolve(OBJECT))} });
      const addrs = ${JSON.stringify(want.map(([a]) => a.toString()))}.map(BigInt);
      await k.resolve(addrs);
      console.log(JSON.stringify({ source: k.source, names: addrs.map((a) => k.known(a)),
        caps: /CapEff:\\s+(\\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1], fileFirst: readFileSync('/proc/kallsyms', 'latin1').slice(0, 16) }));
      k.close();`;
    const out = JSON.parse(execFileSync('setpriv', [`--bounding-set=${caps}`, `--inh-caps=${caps}`, process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8' })) as { source: string; names: string[]; caps: string; fileFirst: string };
    expect(BigInt(`0x${out.caps}`)).toBe((1n << 12n) | (1n << 38n) | (1n << 39n)); // CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF
    expect(out.fileFirst).toBe('0000000000000000');
    expect(out.source).toBe('bpf');
    expect(out.names).toEqual(want.map(([, name]) => name));
  });

  it.runIf(hasSnprintf)('naming drop sites makes no drop of its own (skb:kfree_skb, traced in a tracefs instance of its own, sees none from the runs)', async () => {
    // a socket filter's test run frees an skb with kfree_skb(): the agent would count a drop it made each time it named one
    const mnt = mkdtempSync(join(tmpdir(), 'fovea-tracefs-'));
    execFileSync('mount', ['-t', 'tracefs', 'nodev', mnt]);
    const inst = join(mnt, 'instances', `fovea-symbolize-${process.pid}`);
    try {
      mkdirSync(inst);
      writeFileSync(join(inst, 'events/skb/kfree_skb/enable'), '1');
      const bpf = BpfSymbolizer.load(OBJECT);
      try {
        for (let i = 0; i < 5; i++) bpf.names([...sample(symbols.filter((s) => s.module === undefined), SYMBOL_BATCH + 3, 100 + i).keys()]);
      } finally {
        bpf.close();
      }
      // the instance does see drops: a datagram to a closed loopback port is freed with NO_SOCKET
      const sock = createSocket('udp4');
      await new Promise<void>((done, fail) => sock.send(Buffer.from('x'), 9, '127.0.0.1', (err) => (err ? fail(err) : done())));
      sock.close();
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(join(inst, 'events/skb/kfree_skb/enable'), '0');
      const lines = readFileSync(join(inst, 'trace'), 'utf8').split('\n').filter((l) => l.includes('kfree_skb:'));
      expect(lines.some((l) => l.includes('reason: NO_SOCKET')), lines.join('\n')).toBe(true);
      // location printed as %pS (newer kernels) or as an address (named here after the trace was read)
      const hex = [...new Set(lines.map((l) => /location=(0x[0-9a-f]+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined))].map(BigInt);
      const k = kernelSymbols();
      await k.resolve(hex);
      const locations = lines.map((l) => /location=(\S+)/.exec(l)?.[1] ?? '').map((x) => (x.startsWith('0x') ? k.known(BigInt(x)) ?? x : x));
      expect(locations.filter((x) => x.startsWith('bpf_prog_test_run'))).toEqual([]);
    } finally {
      try { rmdirSync(inst); } catch { /* not made */ }
      execFileSync('umount', [mnt]);
      rmdirSync(mnt);
    }
  });

  it.runIf(!hasSnprintf)('where the program does not load, the kernel says why (and the file is read)', () => {
    expect(() => BpfSymbolizer.load(OBJECT)).toThrow(/load/);
  });
});
