/**
 * TLS material for the Hubble server (src/hubble/tls.ts): start-up checks that name the file at
 * fault, and reloads that keep the current set when the new files are wrong. Certificates are made
 * here with openssl (a CA, a server certificate it signed with a SAN, an unrelated RSA one) in a
 * temporary directory; the reload interval runs on fake timers.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerCredentials, type experimental } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReloadingCertificates, TlsError, loadTlsMaterial, type TlsFiles } from '../../src/hubble/tls.js';

let dir: string;
const pem = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fovea-hubble-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=fovea-test-ca', '-days', '2');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=node-a');
  writeFileSync(pem('san.cnf'), 'subjectAltName=DNS:node-a.default.hubble-grpc.cilium.io\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'san.cnf', '-out', 'server.crt');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-subj', '/CN=other',
    '-days', '2', '-addext', 'subjectAltName=DNS:other.default.hubble-grpc.cilium.io');
  writeFileSync(pem('garbage.pem'), 'this is not a certificate\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the generated certificates (fixture check)', () => {
  it('the server certificate has its SAN and is signed by the CA; the other one is not', () => {
    const ca = new X509Certificate(readFileSync(pem('ca.crt')));
    const server = new X509Certificate(readFileSync(pem('server.crt')));
    const other = new X509Certificate(readFileSync(pem('other.crt')));
    expect(server.subjectAltName).toBe('DNS:node-a.default.hubble-grpc.cilium.io');
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(other.verify(ca.publicKey)).toBe(false);
    expect(other.publicKey.asymmetricKeyType).toBe('rsa');
    expect(server.publicKey.asymmetricKeyType).toBe('ec');
  });
});

describe('loadTlsMaterial', () => {
  it('reads a matching pair and the client CA, as they are on disk', () => {
    const m = loadTlsMaterial({ certFile: pem('server.crt'), keyFile: pem('server.key'), clientCaFile: pem('ca.crt') });
    expect(m.cert.equals(readFileSync(pem('server.crt')))).toBe(true);
    expect(m.key.equals(readFileSync(pem('server.key')))).toBe(true);
    expect(m.ca!.equals(readFileSync(pem('ca.crt')))).toBe(true);
    const plain = loadTlsMaterial({ certFile: pem('other.crt'), keyFile: pem('other.key') });
    expect(plain).not.toHaveProperty('ca');
  });

  it('a missing file is named, with what it should have been', () => {
    const cases: [TlsFiles, RegExp][] = [
      [{ certFile: pem('nope.crt'), keyFile: pem('server.key') }, /^cannot read the Hubble TLS certificate .*nope\.crt: no such file$/],
      [{ certFile: pem('server.crt'), keyFile: pem('nope.key') }, /^cannot read the Hubble TLS private key .*nope\.key: no such file$/],
      [{ certFile: pem('server.crt'), keyFile: pem('server.key'), clientCaFile: pem('nope-ca.crt') }, /^cannot read the Hubble TLS client CA .*nope-ca\.crt: no such file$/],
    ];
    for (const [files, message] of cases) {
      const err = catchError(() => loadTlsMaterial(files));
      expect(err).toBeInstanceOf(TlsError);
      expect(err.name).toBe('TlsError');
      expect(err.message).toMatch(message);
    }
  });

  it('a directory where a file should be', () => {
    const err = catchError(() => loadTlsMaterial({ certFile: dir, keyFile: pem('server.key') }));
    expect(err).toBeInstanceOf(TlsError);
    expect(err.message).toContain(`cannot read the Hubble TLS certificate ${dir}: `);
  });

  it('a file that is not a certificate', () => {
    for (const bad of ['garbage.pem', 'server.key']) {
      const err = catchError(() => loadTlsMaterial({ certFile: pem(bad), keyFile: pem('server.key') }));
      expect(err).toBeInstanceOf(TlsError);
      expect(err.message).toContain(`the Hubble TLS certificate ${pem(bad)} is not a PEM certificate`);
    }
    const ca = catchError(() => loadTlsMaterial({ certFile: pem('server.crt'), keyFile: pem('server.key'), clientCaFile: pem('garbage.pem') }));
    expect(ca).toBeInstanceOf(TlsError);
    expect(ca.message).toContain(`the Hubble client CA ${pem('garbage.pem')} is not a PEM certificate`);
  });

  it('a key that does not fit the certificate', () => {
    for (const [cert, key] of [['server.crt', 'other.key'], ['other.crt', 'server.key'], ['server.crt', 'ca.key'], ['server.crt', 'garbage.pem']] as const) {
      const err = catchError(() => loadTlsMaterial({ certFile: pem(cert), keyFile: pem(key) }));
      expect(err, `${cert} + ${key}`).toBeInstanceOf(TlsError);
      expect(err.message).toContain(`the Hubble TLS key ${pem(key)} does not fit the certificate ${pem(cert)}`);
    }
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('ReloadingCertificates', () => {
  let work: string;
  let files: TlsFiles;
  let logs: Record<string, unknown>[];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s) as Record<string, unknown>); } });
  const put = (cert: string, key: string, ca?: string): void => {
    copyFileSync(pem(cert), files.certFile);
    copyFileSync(pem(key), files.keyFile);
    if (ca) copyFileSync(pem(ca), files.clientCaFile!);
  };
  const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

  beforeEach(() => {
    work = join(dir, `work-${Math.random().toString(36).slice(2)}`);
    mkdirSync(work);
    files = { certFile: join(work, 'tls.crt'), keyFile: join(work, 'tls.key'), clientCaFile: join(work, 'ca.crt') };
    logs = [];
    put('server.crt', 'server.key', 'ca.crt');
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses to start on invalid files', () => {
    copyFileSync(pem('other.key'), files.keyFile);
    expect(() => new ReloadingCertificates(files, 0, logger)).toThrow(TlsError);
  });

  it('listeners get the current set on subscription', async () => {
    const certs = new ReloadingCertificates(files, 0, logger);
    const identity: (experimental.IdentityCertificateUpdate | null)[] = [];
    const cas: (experimental.CaCertificateUpdate | null)[] = [];
    certs.addIdentityCertificateListener((u) => identity.push(u));
    certs.addCaCertificateListener((u) => cas.push(u));
    expect(identity).toEqual([]); // on the next tick, as grpc-js expects
    await tick();
    expect(identity).toEqual([{ certificate: readFileSync(pem('server.crt')), privateKey: readFileSync(pem('server.key')) }]);
    expect(cas).toEqual([{ caCertificate: readFileSync(pem('ca.crt')) }]);
    const noCa = new ReloadingCertificates({ certFile: files.certFile, keyFile: files.keyFile }, 0, logger);
    const none: unknown[] = [];
    noCa.addCaCertificateListener((u) => none.push(u));
    await tick();
    expect(none).toEqual([null]);
  });

  it('reload: unchanged files change nothing', async () => {
    const certs = new ReloadingCertificates(files, 0, logger);
    const identity: unknown[] = [];
    certs.addIdentityCertificateListener((u) => identity.push(u));
    await tick();
    put('server.crt', 'server.key', 'ca.crt'); // rewritten, same bytes
    expect(certs.reload()).toBe(false);
    expect(certs.reloads).toBe(0);
    expect(certs.reloadFailures).toBe(0);
    expect(identity).toHaveLength(1);
  });

  it('reload: invalid files keep the current set, counted and logged', async () => {
    const certs = new ReloadingCertificates(files, 0, logger);
    const identity: unknown[] = [];
    certs.addIdentityCertificateListener((u) => identity.push(u));
    await tick();
    writeFileSync(files.certFile, 'half-written');
    expect(certs.reload()).toBe(false);
    put('other.crt', 'server.key'); // a renewal caught between the two writes
    expect(certs.reload()).toBe(false);
    rmSync(files.keyFile);
    expect(certs.reload()).toBe(false);
    expect(certs.reloadFailures).toBe(3);
    expect(certs.reloads).toBe(0);
    expect(identity).toHaveLength(1);
    const warnings = logs.filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]!['err']).toMatch(/is not a PEM certificate/);
    expect(warnings[1]!['err']).toMatch(/does not fit/);
    expect(warnings[2]!['err']).toMatch(/no such file/);
    // a new subscriber still gets the set in use
    const late: experimental.IdentityCertificateUpdate[] = [];
    certs.addIdentityCertificateListener((u) => late.push(u!));
    await tick();
    expect(late[0]!.certificate.equals(readFileSync(pem('server.crt')))).toBe(true);
  });

  it('reload: a changed valid set is taken and given to the listeners', async () => {
    const certs = new ReloadingCertificates(files, 0, logger);
    const identity: experimental.IdentityCertificateUpdate[] = [];
    const cas: experimental.CaCertificateUpdate[] = [];
    const removed: unknown[] = [];
    const removedListener = (u: unknown): void => { removed.push(u); };
    certs.addIdentityCertificateListener((u) => identity.push(u!));
    certs.addCaCertificateListener((u) => cas.push(u!));
    certs.addIdentityCertificateListener(removedListener);
    await tick();
    certs.removeIdentityCertificateListener(removedListener);
    put('other.crt', 'other.key');
    expect(certs.reload()).toBe(true);
    expect(certs.reloads).toBe(1);
    expect(identity).toHaveLength(2);
    expect(identity[1]!.certificate.equals(readFileSync(pem('other.crt')))).toBe(true);
    expect(identity[1]!.privateKey.equals(readFileSync(pem('other.key')))).toBe(true);
    expect(cas).toHaveLength(2);
    expect(cas[1]!.caCertificate.equals(readFileSync(pem('ca.crt')))).toBe(true);
    expect(removed).toHaveLength(1);
    expect(logs.some((l) => l['level'] === 30 && l['msg'] === 'Hubble TLS certificate reloaded')).toBe(true);
    // only the CA changes: taken too
    copyFileSync(pem('other.crt'), files.clientCaFile!);
    expect(certs.reload()).toBe(true);
    expect(cas[2]!.caCertificate.equals(readFileSync(pem('other.crt')))).toBe(true);
    expect(certs.reloads).toBe(2);
    expect(certs.reload()).toBe(false);
  });

  it('re-reads the files on its interval until stopped', () => {
    vi.useFakeTimers();
    const certs = new ReloadingCertificates(files, 60_000, logger);
    put('other.crt', 'other.key');
    vi.advanceTimersByTime(59_999);
    expect(certs.reloads).toBe(0);
    vi.advanceTimersByTime(1);
    expect(certs.reloads).toBe(1);
    put('server.crt', 'server.key');
    certs.stop();
    certs.stop(); // idempotent
    vi.advanceTimersByTime(600_000);
    expect(certs.reloads).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('no interval when it is 0', () => {
    vi.useFakeTimers();
    new ReloadingCertificates(files, 0, logger);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('credentials: secure, for TLS and mTLS', () => {
    const mtls = new ReloadingCertificates(files, 0, logger).credentials();
    expect(mtls).toBeInstanceOf(ServerCredentials);
    expect(mtls._isSecure()).toBe(true);
    const tls = new ReloadingCertificates({ certFile: files.certFile, keyFile: files.keyFile }, 0, logger).credentials();
    expect(tls._isSecure()).toBe(true);
  });
});
