/**
 * PodNetwork in standalone mode: named network namespaces become workloads on the identity's
 * node — also when the agent is given a node name other than the host name (--node-name), so
 * they are local pods and get pod-level series.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { StaticIdentity } from '../../src/k8s/static.js';
import { PodNetwork } from '../../src/pods/pod-network.js';

describe('PodNetwork (standalone)', () => {
  it('namespaces matching the globs are local pods of the configured node', async () => {
    const identity = new StaticIdentity({ nodeName: 'node-x' });
    const net = new PodNetwork({
      identity, logger: pino({ level: 'silent' }), standalone: { identity, netns: ['fovea-a-*'] },
      discover: async () => ({
        interfaces: [
          { ifindex: 7, ifname: 'fva-0', ips: ['198.18.0.10'], netns: 'fovea-a-0', source: 'netns', sources: ['netns'] },
          { ifindex: 8, ifname: 'other0', ips: ['198.18.0.11'], netns: 'elsewhere', source: 'netns', sources: ['netns'] },
        ],
        warnings: [],
      }),
    });
    await net.refresh();
    expect(identity.localPods().map((p) => [p.name, p.nodeName, p.ips])).toEqual([['fovea-a-0', 'node-x', ['198.18.0.10']]]);
    expect(net.isPodInterface(7)).toBe(true);
    expect(net.isPodInterface(8)).toBe(false);
  });

  it('a rediscovery that finds the same namespaces leaves the identity as it was (same objects, same generation); a new address replaces the pod', async () => {
    const identity = new StaticIdentity({ nodeName: 'node-x' });
    let ips = ['198.18.0.10'];
    const net = new PodNetwork({
      identity, logger: pino({ level: 'silent' }), standalone: { identity, netns: ['fovea-a-*'] },
      discover: async () => ({ interfaces: [{ ifindex: 7, ifname: 'fva-0', ips, netns: 'fovea-a-0', source: 'netns', sources: ['netns'] }], warnings: [] }),
    });
    await net.refresh();
    const first = identity.localPods()[0]!;
    const gen = identity.generation;
    await net.refresh();
    expect(identity.localPods()[0]).toBe(first);
    expect(identity.generation).toBe(gen);
    expect(net.namespaces().get(first.uid)?.pod).toBe(first);
    ips = ['198.18.0.10', '198.18.0.12'];
    await net.refresh();
    expect(identity.localPods().map((p) => p.ips)).toEqual([['198.18.0.10', '198.18.0.12']]);
    expect(identity.generation).toBeGreaterThan(gen);
  });
});
