/** Liveness/readiness verdicts, and the endpoint over real HTTP on 127.0.0.1. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { HealthServer, judge, type HealthState } from '../../src/agent/health-server.js';

const s = (x: Partial<HealthState>): HealthState => ({ lastCollectAt: undefined, probesUp: 1, stopping: false, ...x });

describe('judge', () => {
  it('live while collections are recent; a grace period at start; never while stopping', () => {
    expect(judge(s({}), 0, 5_000, 30_000).live).toEqual({ ok: true, detail: 'starting: no collection yet' });
    expect(judge(s({}), 0, 31_000, 30_000).live.ok).toBe(false);
    expect(judge(s({ lastCollectAt: 10_000 }), 0, 39_000, 30_000).live).toEqual({ ok: true, detail: 'last collection 29000 ms ago' });
    expect(judge(s({ lastCollectAt: 10_000 }), 0, 41_000, 30_000).live.detail).toBe('last collection 31000 ms ago (limit 30000 ms)');
    expect(judge(s({ lastCollectAt: 10_000, stopping: true }), 0, 11_000, 30_000).live).toEqual({ ok: false, detail: 'stopping' });
  });
  it('ready once a probe is up and a first collection happened', () => {
    expect(judge(s({}), 0, 1_000, 30_000).ready).toEqual({ ok: false, detail: 'waiting for the first collection' });
    expect(judge(s({ lastCollectAt: 900, probesUp: 0 }), 0, 1_000, 30_000).ready).toEqual({ ok: false, detail: 'no probe is up' });
    expect(judge(s({ lastCollectAt: 900, probesUp: 2 }), 0, 1_000, 30_000).ready.ok).toBe(true);
    expect(judge(s({ lastCollectAt: 0 }), 0, 40_000, 30_000).ready.detail).toMatch(/^not live/);
  });
});

describe('HealthServer', () => {
  it('answers /livez and /readyz with 200/503 and the reason, 404 elsewhere; refuses a bad address', async () => {
    let state = s({});
    const server = await HealthServer.start({ address: '127.0.0.1:0', state: () => state, staleAfterMs: 30_000, logger: pino({ level: 'silent' }) });
    const url = (p: string) => `http://127.0.0.1:${server.address.port}${p}`;
    try {
      let r = await fetch(url('/readyz'));
      expect([r.status, await r.text()]).toEqual([503, 'fail: waiting for the first collection\n']);
      r = await fetch(url('/livez'));
      expect(r.status).toBe(200);
      state = s({ lastCollectAt: Date.now() });
      r = await fetch(url('/readyz'));
      expect(r.status).toBe(200);
      expect((await fetch(url('/metrics'))).status).toBe(404);
    } finally {
      await server.stop();
    }
    await expect(HealthServer.start({ address: 'nonsense', state: () => state, staleAfterMs: 1, logger: pino({ level: 'silent' }) }))
      .rejects.toThrow(/health.address must be host:port/);
  });
});
