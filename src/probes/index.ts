/**
 * The probes Fovea has: one import and one entry each. The agent starts the enabled ones in
 * this order.
 */
import { DropProbe } from './drop/probe.js';
import { TrafficProbe } from './traffic/probe.js';
import type { ProbeDefinition } from './types.js';

export const PROBES: readonly ProbeDefinition[] = [
  {
    name: 'drop',
    description: 'kernel packet drops by skb_drop_reason (skb:kfree_skb tracepoint)',
    create: (ctx) => new DropProbe(ctx),
  },
  {
    name: 'traffic',
    description: 'packets and bytes per interface and direction (tc: tcx or clsact)',
    create: (ctx) => new TrafficProbe(ctx),
  },
];
