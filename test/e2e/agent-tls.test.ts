/**
 * TLS and auth headers to the collector: the real agent exports over gRPC with TLS, a client
 * certificate (mTLS) and an authorization header, all from the standard OTEL_EXPORTER_OTLP_*
 * variables; a collector that requires a client certificate refuses an agent without one, and the
 * agent counts the failures instead of dying.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(dir: string): Record<'ca' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert', string> {
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '1', '-subj', '/CN=fovea-test-ca');
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const who of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p(`${who}.key`), '-out', p(`${who}.csr`), '-subj', `/CN=fovea-test-${who}`);
    ssl('x509', '-req', '-in', p(`${who}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
      '-out', p(`${who}.pem`), '-days', '1', ...(who === 'server' ? ['-extfile', p('server.ext')] : []));
  }
  return { ca: p('ca.pem'), serverKey: p('server.key'), serverCert: p('server.pem'), clientKey: p('client.key'), clientCert: p('client.pem') };
}

describeRoot('agent → collector over TLS', 'the agent loads eBPF programs', () => {
  let pki: ReturnType<typeof makePki>;
  let rx: OtlpReceiver;
  beforeAll(async () => {
    pki = makePki(mkdtempSync(join(tmpdir(), 'fovea-pki-')));
    rx = await OtlpReceiver.start({
      tls: { key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCert), clientCa: readFileSync(pki.ca) },
    });
  });
  afterAll(async () => {
    await rx?.stop();
  });

  it('mTLS + authorization header from OTEL_EXPORTER_OTLP_*: exports arrive with the header', async () => {
    expect(rx.endpoint).toMatch(/^https:/);
    const agent = AgentProcess.start(['--no-traffic', '--export-interval', '300ms'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint,
      OTEL_EXPORTER_OTLP_CERTIFICATE: pki.ca,
      OTEL_EXPORTER_OTLP_CLIENT_KEY: pki.clientKey,
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: pki.clientCert,
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret,x-scope-orgid=team-a',
    });
    try {
      await agent.waitStarted();
      await rx.waitFor((r) => r.requestCount >= 2, 10_000);
      const last = rx.requests[rx.requests.length - 1]!;
      expect(last.headers['authorization']).toBe('Bearer s3cret');
      expect(last.headers['x-scope-orgid']).toBe('team-a');
      expect(rx.latest('fovea.agent.probe.up', { 'fovea.probe': 'drop' })).toBe(1);
    } finally {
      expect((await agent.stop()).code).toBe(0);
    }
  });

  it('without a client certificate the collector refuses: failures are logged and counted, the agent keeps running', async () => {
    const before = rx.requestCount;
    const agent = AgentProcess.start(['--no-traffic', '--export-interval', '300ms'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint,
      OTEL_EXPORTER_OTLP_CERTIFICATE: pki.ca,
    });
    try {
      await agent.waitStarted();
      await agent.waitForLog((l) => String(l['msg']).includes('export failed'), 10_000);
      expect(agent.exited).toBeUndefined();
      expect(rx.requestCount).toBe(before);
    } finally {
      expect((await agent.stop()).code).toBe(0);
    }
  });
});
