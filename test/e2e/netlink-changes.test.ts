/**
 * NetlinkChangeWatch against the real kernel: a link created, changed and deleted is reported; a
 * quiet host is not. (Creating links needs root.)
 */
import { describe, expect, it } from 'vitest';
import { NetlinkChangeWatch, RTMGRP } from '../../src/kernel/netlink-changes.js';
import { run } from '../../src/lab/run.js';

const isRoot = process.getuid?.() === 0;
const SKIP_REASON = 'netlink e2e creates a veth pair: run as root — with CI=true this fails instead';

if (!isRoot && process.env['CI'] === 'true') {
  it('netlink e2e runs as root in CI', () => { throw new Error(SKIP_REASON); });
}

describe.skipIf(!isRoot)(isRoot ? 'rtnetlink change watch (real kernel)' : `rtnetlink change watch — skipped: ${SKIP_REASON}`, () => {
  it('reports a link added, brought up and deleted, and nothing in between', async () => {
    const name = 'fvnlw0';
    await run(['ip', 'link', 'del', name]).catch(() => undefined);
    const w = new NetlinkChangeWatch(RTMGRP.link);
    try {
      expect(w.unavailable).toBeUndefined();
      expect(w.changed()).toBe(true); // the first call: the caller has not looked yet
      expect(w.changed()).toBe(false);
      await run(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
      expect(w.changed()).toBe(true);
      expect(w.messages).toBeGreaterThan(0);
      expect(w.changed()).toBe(false);
      await run(['ip', 'link', 'set', name, 'up']);
      expect(w.changed()).toBe(true);
      await run(['ip', 'link', 'del', name]);
      expect(w.changed()).toBe(true);
      expect(w.changed()).toBe(false);
      expect(w.overruns).toBe(0);
    } finally {
      w.close();
      await run(['ip', 'link', 'del', name]).catch(() => undefined);
    }
  });
});
