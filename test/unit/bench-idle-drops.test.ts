/** Part (i)'s account of the host's drop events in an idle window (bench/idle-cost.ts dropsInWindow). */
import { describe, expect, it } from 'vitest';
import { dropsInWindow } from '../../bench/idle-cost.js';
import type { ReceivedLogRecord } from '../../src/otlp/receiver.js';

const rec = (eventName: string, ms: number, location?: string): ReceivedLogRecord => ({
  transport: 'grpc', resource: {}, scope: { name: 'fovea', version: '0' }, eventName,
  timeUnixNano: `${BigInt(ms) * 1_000_000n}`, observedTimeUnixNano: '0', severityNumber: 'SEVERITY_NUMBER_INFO', severityText: 'INFO', body: '',
  attrs: location === undefined ? {} : { 'fovea.drop.location': location },
});

describe('dropsInWindow', () => {
  it('counts the drop events timed inside [from, to) and names the locations first seen there', () => {
    const records = [
      rec('fovea.network.packet.drop', 999, 'a+0x1'), // before the window
      rec('fovea.network.packet.drop', 1_000, 'a+0x1'), // seen before: not new
      rec('fovea.tcp.retransmit', 1_500), // not a drop
      rec('fovea.network.packet.drop', 1_700, 'b+0x2'),
      rec('fovea.network.packet.drop', 1_800, 'b+0x2'), // new once
      rec('fovea.network.packet.drop', 2_000, 'c+0x3'), // at the end: outside
    ];
    expect(dropsInWindow(records, 1_000, 2_000)).toEqual({ dropEvents: 3, newDropSites: ['b+0x2'] });
    expect(dropsInWindow([], 0, 1)).toEqual({ dropEvents: 0, newDropSites: [] });
  });
});
