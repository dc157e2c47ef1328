/**
 * TLS for the Hubble server, with certificate reload: the files are read at start (a missing or
 * mismatched pair is a start-up error naming the file) and re-read on an interval; a changed,
 * valid set replaces the old one for new connections (what cert-manager or a Secret update
 * needs), an invalid one is logged and the previous set kept. mTLS when a client CA is given:
 * clients without a certificate signed by it are refused.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../log.js';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** client CA bundle: mTLS */
  readonly clientCaFile?: string;
}

interface Material {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

type IdentityListener = (update: experimental.IdentityCertificateUpdate | null) => void;
type CaListener = (update: experimental.CaCertificateUpdate | null) => void;

export class TlsError extends Error {
  override readonly name = 'TlsError';
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsError(`cannot read the Hubble TLS ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
}

/** Reads and checks the files: the certificate parses, the key matches it, the CA parses. */
export function loadTlsMaterial(files: TlsFiles): Material {
  const cert = read(files.certFile, 'certificate');
  const key = read(files.keyFile, 'private key');
  const ca = files.clientCaFile ? read(files.clientCaFile, 'client CA') : undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsError(`the Hubble TLS certificate ${files.certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new TlsError(`the Hubble client CA ${files.clientCaFile} is not a PEM certificate: ${(err as Error).message}`);
    }
  }
  try {
    createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (err) {
    throw new TlsError(`the Hubble TLS key ${files.keyFile} does not fit the certificate ${files.certFile}: ${(err as Error).message}`);
  }
  // OpenSSL checks the pair only when both are of one key type: an RSA key with an EC certificate
  // passes createSecureContext and fails every handshake later
  let fits: boolean;
  try {
    fits = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new TlsError(`the Hubble TLS key ${files.keyFile} does not fit the certificate ${files.certFile}: ${(err as Error).message}`);
  }
  if (!fits) throw new TlsError(`the Hubble TLS key ${files.keyFile} does not fit the certificate ${files.certFile}: key values mismatch`);
  return { cert, key, ...(ca ? { ca } : {}) };
}

/** A grpc-js certificate provider over the files, re-read every `reloadIntervalMs`. */
export class ReloadingCertificates implements experimental.CertificateProvider {
  private material: Material;
  private readonly identity = new Set<IdentityListener>();
  private readonly cas = new Set<CaListener>();
  private timer: NodeJS.Timeout | undefined;
  /** successful reloads with changed files, and failed ones (kept the old set) */
  reloads = 0;
  reloadFailures = 0;

  constructor(private readonly files: TlsFiles, reloadIntervalMs: number, private readonly log: Logger) {
    this.material = loadTlsMaterial(files);
    if (reloadIntervalMs > 0) {
      this.timer = setInterval(() => this.reload(), reloadIntervalMs);
      this.timer.unref();
    }
  }

  /** Server credentials: TLS, and mTLS when a client CA is configured. */
  credentials(): ServerCredentials {
    const mtls = this.files.clientCaFile !== undefined;
    // grpc-js takes the identity provider first and the CA provider second (the .d.ts names them
    // the other way round); one object serves both, so the order cannot go wrong
    return experimental.createCertificateProviderServerCredentials(this, mtls ? this : null, mtls);
  }

  /** Re-reads the files now; returns whether they changed and were taken. */
  reload(): boolean {
    let next: Material;
    try {
      next = loadTlsMaterial(this.files);
    } catch (err) {
      this.reloadFailures++;
      this.log.warn({ err: (err as Error).message }, 'Hubble TLS files could not be reloaded; keeping the current certificate');
      return false;
    }
    const m = this.material;
    if (next.cert.equals(m.cert) && next.key.equals(m.key) && (next.ca?.equals(m.ca ?? Buffer.alloc(0)) ?? m.ca === undefined)) return false;
    this.material = next;
    this.reloads++;
    this.log.info({ certFile: this.files.certFile }, 'Hubble TLS certificate reloaded');
    for (const l of this.identity) l({ certificate: next.cert, privateKey: next.key });
    if (next.ca) for (const l of this.cas) l({ caCertificate: next.ca });
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identity.add(listener);
    process.nextTick(listener, { certificate: this.material.cert, privateKey: this.material.key });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identity.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.cas.add(listener);
    const ca = this.material.ca;
    process.nextTick(listener, ca ? { caCertificate: ca } : null);
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.cas.delete(listener);
  }
}
