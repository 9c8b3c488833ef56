/**
 * Loading and checking PEM files: a certificate (chain), its private key, and optionally the CA
 * bundle that peers' certificates must chain to. Every problem an operator can make (a missing
 * file, a key that does not match, an expired certificate, a node certificate for another id) is
 * caught here, at start-up or at reload, with a message naming the file, instead of surfacing
 * later as a handshake failure on the other side.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FailedPreconditionError } from '../util/index.js';
import { identityOfSan } from './identity.js';
import type { CertificateIdentity } from './identity.js';

/** Where one TLS identity's files are. */
export interface TlsFiles {
  /** PEM certificate, optionally followed by its intermediates. */
  readonly certFile: string;
  /** PEM private key of the certificate. */
  readonly keyFile: string;
  /** PEM CA bundle the other side's certificate must chain to; null for none (server-only TLS). */
  readonly caFile: string | null;
}

/** The loaded, checked contents of a `TlsFiles`. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
  /** Who the certificate names (see identity.ts). */
  readonly identity: CertificateIdentity;
  /** When the certificate expires, ms since the epoch. */
  readonly notAfterMs: number;
}

/** A check on the loaded certificate: null if fine, else what is wrong. */
export type CertificateCheck = (material: TlsMaterial) => string | null;

/** The PEM blocks of a bundle. */
function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FailedPreconditionError(`${what}: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Reads and checks `files` (`what` names them in messages, for example "peer TLS"). Throws
 * `FailedPreconditionError` naming the file and the problem. `nowMs` is the current time.
 */
export function loadTlsMaterial(files: TlsFiles, what: string, nowMs: number, check?: CertificateCheck): TlsMaterial {
  const cert = read(files.certFile, what);
  const key = read(files.keyFile, what);
  const ca = files.caFile === null ? null : read(files.caFile, what);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new FailedPreconditionError(`${what}: ${files.certFile} is not a PEM certificate (${e instanceof Error ? e.message : String(e)})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new FailedPreconditionError(`${what}: ${files.keyFile} is not a PEM private key (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new FailedPreconditionError(`${what}: the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`);
  const notAfterMs = Date.parse(x509.validTo);
  const notBeforeMs = Date.parse(x509.validFrom);
  if (notAfterMs <= nowMs) throw new FailedPreconditionError(`${what}: the certificate in ${files.certFile} expired on ${x509.validTo}`);
  if (notBeforeMs > nowMs) throw new FailedPreconditionError(`${what}: the certificate in ${files.certFile} is not valid before ${x509.validFrom}`);
  if (ca !== null && files.caFile !== null) {
    const blocks = pemBlocks(ca.toString('utf8'));
    if (blocks.length === 0) throw new FailedPreconditionError(`${what}: ${files.caFile} holds no PEM certificate`);
    let authorities: X509Certificate[];
    try {
      authorities = blocks.map((b) => new X509Certificate(b));
    } catch (e) {
      throw new FailedPreconditionError(`${what}: ${files.caFile} holds an unreadable certificate (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!authorities.some((a) => x509.checkIssued(a) && x509.verify(a.publicKey))) {
      // Peers use the same CA bundle both ways: a certificate it did not issue would be refused
      // by every other node, so say so now. (A chain through an intermediate is not supported.)
      throw new FailedPreconditionError(`${what}: the certificate in ${files.certFile} was not issued by a CA in ${files.caFile}`);
    }
  }
  const material: TlsMaterial = { cert, key, ca, identity: identityOfSan(x509.subjectAltName), notAfterMs };
  const problem = check?.(material) ?? null;
  if (problem !== null) throw new FailedPreconditionError(`${what}: ${files.certFile}: ${problem}`);
  return material;
}

/** A check that the certificate names node `id` (a node's own peer certificate must). */
export function namesNode(id: string): CertificateCheck {
  return (m) => {
    if (m.identity.kind === 'node' && m.identity.id === id) return null;
    const named = m.identity.kind === 'node' ? `node "${m.identity.id}"` : m.identity.kind === 'client' ? `client "${m.identity.name}"` : 'no raftkv identity';
    return `the certificate names ${named}, but this node is "${id}" (it needs the SAN URI raftkv://node/${id}; see raftkv certs)`;
  };
}
