/**
 * CachedDiscovery: discovery (processes) runs only when the host changed, the last result was
 * incomplete, or it is older than maxAgeMs; hostSignature reads this host's files.
 */
import { describe, expect, it } from 'vitest';
import { CachedDiscovery, hostSignature } from '../../src/netns/discovery-cache.js';
import type { DiscoveryOptions, DiscoveryResult, PodInterface } from '../../src/netns/pod-interfaces.js';

const pod = (ifindex: number, ips: string[]): PodInterface => ({ ifindex, ifname: `veth${ifindex}`, ips, source: 'netns', sources: ['netns'] });

function harness(results: DiscoveryResult[]) {
  let sig = 'a';
  let now = 0;
  const calls: DiscoveryOptions[] = [];
  const d = new CachedDiscovery({
    maxAgeMs: 60_000,
    signature: async () => sig,
    now: () => now,
    discover: async (o) => { calls.push(o); return results[Math.min(calls.length - 1, results.length - 1)]!; },
  });
  return { d, calls, setSig: (s: string) => { sig = s; }, advance: (ms: number) => { now += ms; } };
}

describe('CachedDiscovery', () => {
  it('answers from the last discovery while the host is unchanged, and rediscovers when it changed', async () => {
    const h = harness([{ interfaces: [pod(5, ['10.0.0.5'])], warnings: [{ method: 'netns', message: 'x' }] }]);
    expect((await h.d.discover()).warnings).toHaveLength(1);
    h.advance(2_000);
    const again = await h.d.discover();
    expect(again.interfaces).toEqual([pod(5, ['10.0.0.5'])]);
    expect(again.warnings).toEqual([]); // reported once, when it ran
    expect(h.calls).toHaveLength(1);
    h.setSig('b');
    await h.d.discover();
    expect(h.calls).toHaveLength(2);
    expect(h.d.skipped).toBe(1);
  });

  it('rediscovers when the last result is older than maxAgeMs, and passes one namespace cache along', async () => {
    const h = harness([{ interfaces: [pod(5, ['10.0.0.5'])], warnings: [] }]);
    await h.d.discover();
    h.advance(59_000); await h.d.discover();
    expect(h.calls).toHaveLength(1);
    h.advance(2_000); await h.d.discover();
    expect(h.calls).toHaveLength(2);
    expect(h.calls[0]!.netnsCache).toBeInstanceOf(Map);
    expect(h.calls[1]!.netnsCache).toBe(h.calls[0]!.netnsCache);
  });

  it('keeps looking while a pod interface has no address yet (the CNI may still be setting it up)', async () => {
    const h = harness([{ interfaces: [pod(5, [])], warnings: [] }, { interfaces: [pod(5, ['10.0.0.5'])], warnings: [] }]);
    await h.d.discover();
    h.advance(2_000);
    expect((await h.d.discover()).interfaces[0]!.ips).toEqual(['10.0.0.5']);
    h.advance(2_000); await h.d.discover();
    expect(h.calls).toHaveLength(2);
  });
});

describe('hostSignature', () => {
  it('reads this host\'s links (name, ifindex, master) and routes without starting a process', async () => {
    const a = await hostSignature([]);
    expect(a.split('\n')[0]!.split(',')).toContain('lo:1:');
    expect(a).toContain('Iface\tDestination'); // /proc/net/route's header
  });
});

describe('CachedDiscovery with a change watch', () => {
  function watched(results: DiscoveryResult[]) {
    let changed = true;
    let signatures = 0;
    let now = 0;
    const calls: DiscoveryOptions[] = [];
    const d = new CachedDiscovery({
      maxAgeMs: 60_000,
      changes: { changed: () => { const c = changed; changed = false; return c; }, close: () => undefined, unavailable: undefined },
      signature: async () => { signatures++; return 'same'; },
      now: () => now,
      discover: async (o) => { calls.push(o); return results[Math.min(calls.length - 1, results.length - 1)]!; },
    });
    return { d, calls, signatures: () => signatures, notify: () => { changed = true; }, advance: (ms: number) => { now += ms; } };
  }

  it('reads nothing while the kernel reports no change; reads the signature after a notification; rediscovers at maxAgeMs', async () => {
    const h = watched([{ interfaces: [pod(5, ['10.0.0.5'])], warnings: [] }]);
    await h.d.discover();
    expect([h.calls.length, h.signatures()]).toEqual([1, 1]);
    for (let i = 0; i < 5; i++) { h.advance(2_000); await h.d.discover(); }
    expect([h.calls.length, h.signatures(), h.d.quiet]).toEqual([1, 1, 5]);
    h.notify();
    await h.d.discover(); // a notification: the signature is read (unchanged here), discovery not run
    expect([h.calls.length, h.signatures(), h.d.skipped]).toEqual([1, 2, 1]);
    h.advance(60_000);
    await h.d.discover(); // too old: a full discovery, notification or not
    expect(h.calls).toHaveLength(2);
  });

  it('an incomplete result (a pod interface without an address) is rediscovered at every rescan, notified or not', async () => {
    const h = watched([{ interfaces: [pod(5, [])], warnings: [] }, { interfaces: [pod(5, ['10.0.0.5'])], warnings: [] }]);
    await h.d.discover();
    h.advance(2_000);
    await h.d.discover();
    expect(h.calls).toHaveLength(2);
    h.advance(2_000);
    await h.d.discover(); // complete now, and no notification: answered from the last
    expect([h.calls.length, h.d.quiet]).toEqual([2, 1]);
  });

  it('readSignature: false — a notification runs discovery itself, without reading the signature', async () => {
    let changed = true;
    let signatures = 0;
    const calls: DiscoveryOptions[] = [];
    const d = new CachedDiscovery({
      maxAgeMs: 60_000, readSignature: false,
      changes: { changed: () => { const c = changed; changed = false; return c; }, close: () => undefined, unavailable: undefined },
      signature: async () => { signatures++; return 'same'; },
      now: () => 0,
      discover: async (o) => { calls.push(o); return { interfaces: [pod(5, ['10.0.0.5'])], warnings: [] }; },
    });
    await d.discover();
    await d.discover();
    expect([calls.length, signatures, d.quiet]).toEqual([1, 0, 1]);
    changed = true;
    await d.discover();
    expect([calls.length, signatures]).toEqual([2, 0]);
  });
});
