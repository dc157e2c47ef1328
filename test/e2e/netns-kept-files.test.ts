/**
 * NetnsFiles (src/kernel/netns.ts) on the real kernel: /proc/thread-self/net files opened inside a
 * network namespace once keep reading that namespace from the agent's own, with no setns(2) after
 * the first read; and what a kept fd costs — it holds its namespace alive — is always undone:
 * a deleted namespace is let go at the next read, keepOnly() lets go of the ones left out, a
 * namespace re-created under the same name is read afresh, and no more than `maxKept` are kept.
 *
 * "Let go" is checked where the kernel shows it: a namespace that is freed takes its end of a veth
 * pair with it, so the host end vanishes; while anything holds the namespace, the host end stays.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLONE_NEWNET, libcSetns, NetnsError, NetnsFiles, THREAD_PROC_NET, type SetnsFn } from '../../src/kernel/netns.js';
import { describeRoot } from '../helpers/root.js';

const NS = (i: number) => `fovea-kept-${i}`;
const HOST = (i: number) => `fvkept-${i}`;
const FILES = [`${THREAD_PROC_NET}/snmp`, `${THREAD_PROC_NET}/snmp6`, `${THREAD_PROC_NET}/no-such-file`];
const path = (i: number) => `/var/run/netns/${NS(i)}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function createNs(i: number, host = HOST(i)): void {
  ip('netns', 'add', NS(i));
  ip('-n', NS(i), 'link', 'set', 'lo', 'up');
  ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS(i));
}

function deleteNs(i: number): void {
  try { ip('netns', 'del', NS(i)); } catch { /* gone */ }
}

/** Connection attempts to a closed port on the namespace's loopback: `n` each of Tcp ActiveOpens, AttemptFails and OutRsts there. */
function refusedConnects(i: number, n: number): void {
  execFileSync('ip', ['netns', 'exec', NS(i), 'bash', '-c', `for k in $(seq ${n}); do (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; done; true`]);
}

const tcp = (snmp: string | undefined, field: string): number => {
  const [names, values] = snmp!.split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.split(' '));
  return Number(values![names!.indexOf(field)]);
};

/** The host end of namespace i's veth exists: the namespace is alive (something holds it, or it is mounted). */
const alive = (i: number) => existsSync(`/sys/class/net/${HOST(i)}`);

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** This process's fds open on a /proc/<tid>/net file. */
const procNetFds = () => readdirSync('/proc/self/fd').filter((fd) => {
  try { return /^\/proc\/\d+\/(task\/\d+\/)?net\//.test(readlinkSync(`/proc/self/fd/${fd}`)); } catch { return false; }
}).length;

describeRoot('NetnsFiles: /proc/net files kept open per network namespace (real kernel)', 'creates and enters network namespaces', () => {
  const N = 4;
  let setnsCalls = 0;
  const counting: SetnsFn = (fd, type) => { setnsCalls++; return libcSetns(fd, type); };
  let files: NetnsFiles;
  let home: string;
  beforeAll(() => {
    home = readlinkSync('/proc/thread-self/ns/net');
    for (let i = 0; i < N; i++) { deleteNs(i); createNs(i); }
    files = new NetnsFiles(FILES, { setns: counting, maxKept: 3 });
  });
  afterAll(() => {
    files?.close();
    for (let i = 0; i < N; i++) deleteNs(i);
    try { ip('link', 'del', `${HOST(0)}b`); } catch { /* gone with its namespace */ }
  });

  it('entered once; later reads see the counters move inside, from the agent\'s own namespace, with no setns', () => {
    const first = files.read(path(0));
    expect(setnsCalls).toBe(2); // in and back
    expect(first[2]).toBeUndefined(); // a file that does not exist there
    expect(first[1]).toMatch(/^Ip6InReceives\s/);
    expect(tcp(first[0], 'ActiveOpens')).toBe(0);
    refusedConnects(0, 5);
    const again = files.read(path(0));
    expect(setnsCalls).toBe(2);
    expect([tcp(again[0], 'ActiveOpens'), tcp(again[0], 'AttemptFails'), tcp(again[0], 'OutRsts')]).toEqual([5, 5, 5]);
    // the thread never stayed anywhere else: its own /proc/net is the host's, not the namespace's
    expect(tcp(files.read(path(0))[0], 'ActiveOpens')).toBe(5);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(home);
    expect(procNetFds()).toBe(2); // snmp, snmp6; the missing file holds nothing
  });

  it('a kept fd holds its namespace alive: deleted, it is let go at the next read (ENOENT), and the kernel frees it', async () => {
    files.read(path(1));
    deleteNs(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(1)).toBe(true); // held by the kept fds
    expect(() => files.read(path(1))).toThrow(NetnsError);
    expect(() => files.read(path(1))).toThrow(/cannot open network namespace .*fovea-kept-1: ENOENT/);
    expect(files.keptPaths()).not.toContain(path(1));
    expect(await until(() => !alive(1))).toBe(true);
  });

  it('keepOnly: namespaces left out are let go (freed once deleted); the others stay kept', async () => {
    files.read(path(2));
    expect(files.keptPaths().sort()).toEqual([path(0), path(2)]);
    deleteNs(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(2)).toBe(true);
    files.keepOnly(new Set([path(0)]));
    expect(files.keptPaths()).toEqual([path(0)]);
    expect(procNetFds()).toBe(2);
    expect(await until(() => !alive(2))).toBe(true);
  });

  it('another namespace under the same name is read afresh, and the old one is let go and freed', async () => {
    const calls = setnsCalls;
    deleteNs(0); // the kept fds still read the old one, which lives on until they close
    createNs(0, `${HOST(0)}b`); // the old one's veth still holds the name HOST(0)
    expect(alive(0)).toBe(true);
    const fresh = files.read(path(0));
    expect(setnsCalls).toBe(calls + 2);
    expect(tcp(fresh[0], 'ActiveOpens')).toBe(0); // not the old namespace's 5
    expect(procNetFds()).toBe(2);
    expect(await until(() => !alive(0))).toBe(true);
  });

  it('no more than maxKept namespaces are kept; the others are entered at every read', () => {
    createNs(1);
    createNs(2);
    for (const i of [0, 1, 2, 3]) files.read(path(i));
    expect(files.keptPaths()).toHaveLength(3);
    expect(procNetFds()).toBe(6);
    const calls = setnsCalls;
    for (const i of [0, 1, 2, 3]) files.read(path(i));
    expect(setnsCalls).toBe(calls + 2); // the one not kept
    files.close();
    expect(procNetFds()).toBe(0);
    expect(files.read(path(3))[1]).toMatch(/^Ip6InReceives\s/); // reopened after close
    expect(files.keptPaths()).toEqual([path(3)]);
  });

  it('setns refused: NetnsError, nothing kept', () => {
    const refusing = new NetnsFiles(FILES, { setns: (fd, type) => (type === CLONE_NEWNET ? 1 /* EPERM */ : 0) });
    expect(() => refusing.read(path(3))).toThrow(/setns\(2\) into .*: EPERM/);
    expect(refusing.keptPaths()).toEqual([]);
    refusing.close();
  });
});
