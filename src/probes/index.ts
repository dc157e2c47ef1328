/**
 * The probes Fovea has: one import and one entry each. The agent starts the enabled ones in
 * this order.
 */
import { DropProbe } from './drop/probe.js';
import { TcpProbe } from './tcp/probe.js';
import { TrafficProbe } from './traffic/probe.js';
import { NetstackProbe } from './netstack/probe.js';
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
  {
    name: 'tcp',
    description: 'TCP retransmissions, resets, opens, failed connects, handshake time, RTT and states (tcp:* and sock:inet_sock_set_state tracepoints)',
    create: (ctx) => new TcpProbe(ctx),
  },
  {
    name: 'netstack',
    description: 'kernel network counters (TCP, UDP, IP) of the node and of each pod\'s own network namespace (/proc/net/snmp, netstat, snmp6)',
    auxiliary: true,
    create: (ctx) => new NetstackProbe(ctx),
  },
];
