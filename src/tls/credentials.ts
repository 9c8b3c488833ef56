/**
 * gRPC credentials from a `CertificateSource`: the server side of the client and peer ports, and
 * the channel side of peer connections (mutual TLS, and the server must be the node dialled).
 */
import { ServerCredentials, experimental } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateSource } from './certificate-source.js';
import { nodeIdOfCertificate } from './identity.js';
import type { TlsMaterial } from './tls-material.js';

function contextOf(m: TlsMaterial, withCa: boolean): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(withCa && m.ca !== null ? { ca: m.ca } : {}), minVersion: 'TLSv1.2' };
}

/**
 * Server credentials that follow `source`'s reloads. With `requireClientCert`, a client must
 * present a certificate issued by the source's CA, or the handshake fails; without it, no client
 * certificate is asked for.
 */
class ReloadingServerCredentials extends ServerCredentials {
  constructor(source: CertificateSource, requireClientCert: boolean) {
    super({ requestCert: requireClientCert, rejectUnauthorized: requireClientCert }, contextOf(source.current, requireClientCert));
    source.onChange((m) => this.updateSecureContextOptions(contextOf(m, requireClientCert)));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/** Credentials for a TLS server port. `requireClientCert` needs a CA file in `source`. */
export function tlsServerCredentials(source: CertificateSource, requireClientCert: boolean): ServerCredentials {
  if (requireClientCert && source.current.ca === null) throw new Error('client certificates need a CA file');
  return new ReloadingServerCredentials(source, requireClientCert);
}

/**
 * Channel credentials to peer `peerId`: this node's certificate is presented, the server's must
 * chain to the CA and name `peerId` (its SAN URI, see identity.ts). The identity replaces the
 * host name check: a node is who its certificate says, wherever it is reachable.
 */
export function peerChannelCredentials(source: CertificateSource, peerId: string): ChannelCredentials {
  if (source.current.ca === null) throw new Error('peer TLS needs a CA file');
  return experimental.createCertificateProviderChannelCredentials(source, source, {
    checkServerIdentity: (_host, cert) => {
      const named = nodeIdOfCertificate(cert);
      return named === peerId ? undefined : new Error(`the peer at this address presented a certificate for ${named === null ? 'no raftkv node' : `node "${named}"`}, expected "${peerId}"`);
    },
  });
}
