/**
 * Who a certificate names. The convention (docs: README "Security"): a node's certificate carries
 * the SAN URI `raftkv://node/<id>`, a client's the SAN URI `raftkv://client/<name>`. A URI SAN,
 * not the CN or a DNS name, because DNS and IP SANs already say where a node is reachable (and
 * clients check them against the address they dialled); the URI says who it is, and the `node/`
 * and `client/` prefixes keep a client certificate, signed by the same CA, from passing as a
 * peer. `raftkv certs` writes certificates that follow it.
 */
import type { PeerCertificate } from 'node:tls';

/** The SAN URI prefix of a node certificate. */
export const nodeUriPrefix = 'raftkv://node/';
/** The SAN URI prefix of a client certificate. */
export const clientUriPrefix = 'raftkv://client/';

/** What a certificate says its holder is. */
export type CertificateIdentity =
  | { readonly kind: 'node'; readonly id: string }
  | { readonly kind: 'client'; readonly name: string }
  | { readonly kind: 'none' };

/** The `URI:` entries of a `subjectaltname` string (`DNS:a, IP Address:1.2.3.4, URI:x`). */
export function sanUris(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  return subjectAltName
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice('URI:'.length));
}

/** Node ids and client names are what `--id` accepts: 1-64 of letters, digits, `_ . -`. */
const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The identity in a SAN string. Exactly one raftkv URI is allowed: a certificate that names two
 * identities is treated as naming none, so that nobody can be two nodes at once.
 */
export function identityOfSan(subjectAltName: string | undefined): CertificateIdentity {
  const ours = sanUris(subjectAltName).filter((u) => u.startsWith(nodeUriPrefix) || u.startsWith(clientUriPrefix));
  if (ours.length !== 1) return { kind: 'none' };
  const uri = ours[0] ?? '';
  if (uri.startsWith(nodeUriPrefix)) {
    const id = uri.slice(nodeUriPrefix.length);
    return namePattern.test(id) ? { kind: 'node', id } : { kind: 'none' };
  }
  const name = uri.slice(clientUriPrefix.length);
  return namePattern.test(name) ? { kind: 'client', name } : { kind: 'none' };
}

/** The identity of a TLS peer certificate (as `getPeerCertificate()` or gRPC's auth context give it). */
export function identityOfCertificate(cert: PeerCertificate | undefined): CertificateIdentity {
  return identityOfSan(cert?.subjectaltname);
}

/** The node id a certificate names, or null if it names no node. */
export function nodeIdOfCertificate(cert: PeerCertificate | undefined): string | null {
  const identity = identityOfCertificate(cert);
  return identity.kind === 'node' ? identity.id : null;
}
