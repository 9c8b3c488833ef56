/**
 * The TLS parts of a node: server credentials for the client and peer ports, channel credentials
 * for the connections to peers, and how the peer port identifies callers. The node's own peer
 * certificate must name the node (SAN URI `raftkv://node/<id>`); that is checked at start-up and
 * at every reload, so a node cannot start, or go on, with another node's identity.
 */
import { ServerCredentials, credentials, experimental } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { CertificateSource, namesNode, peerChannelCredentials, tlsServerCredentials } from '../tls/index.js';
import type { PeerAuthentication } from '../transport/index.js';
import type { Logger, NodeId } from '../util/index.js';
import type { NodeOptions } from './options.js';

/** What the node builds its servers and transport with. */
export interface NodeTls {
  readonly clientServerCredentials: ServerCredentials;
  readonly peerServerCredentials: ServerCredentials;
  /** Per-peer channel credentials; undefined for plaintext. */
  readonly peerCredentials: ((peer: NodeId) => ChannelCredentials) | undefined;
  readonly peerAuthentication: PeerAuthentication;
  /**
   * Channel credentials for calling another node's client port (the etcd leader proxy):
   * insecure for a plaintext client port; null for a TLS one without peer TLS (no node certificate).
   */
  readonly clientPortCredentials: ChannelCredentials | null;
  /** One line for the start-up log. */
  readonly summary: { readonly client: string; readonly peer: string };
  /** Stops reloading the certificate files. */
  close(): void;
}

/** Loads and checks the certificate files; throws `FailedPreconditionError` naming the problem. */
export function nodeTls(options: NodeOptions, logger: Logger): NodeTls {
  const { client, peer, reloadIntervalMs } = options.tls;
  const sources: CertificateSource[] = [];
  try {
    let clientServerCredentials = ServerCredentials.createInsecure();
    if (client !== null) {
      const source = new CertificateSource({ files: client, what: 'client TLS', reloadIntervalMs, logger });
      sources.push(source);
      clientServerCredentials = tlsServerCredentials(source, client.requireClientCert);
    }
    let peerServerCredentials = ServerCredentials.createInsecure();
    let peerCredentials: ((id: NodeId) => ChannelCredentials) | undefined;
    let peerSource: CertificateSource | undefined;
    if (peer !== null) {
      const source = new CertificateSource({ files: peer, what: 'peer TLS', reloadIntervalMs, check: namesNode(options.id), logger });
      sources.push(source);
      peerSource = source;
      peerServerCredentials = tlsServerCredentials(source, true);
      peerCredentials = (id) => peerChannelCredentials(source, id);
    }
    return {
      clientServerCredentials,
      clientPortCredentials: client === null ? credentials.createInsecure() : clientPortCredentials(peerSource),
      peerServerCredentials,
      peerCredentials,
      peerAuthentication: peer === null ? 'none' : 'certificate',
      summary: {
        client: client === null ? 'plaintext' : client.requireClientCert ? 'tls, client certificates required' : 'tls',
        peer: peer === null ? 'plaintext' : 'mutual tls',
      },
      close: () => sources.forEach((s) => s.close()),
    };
  } catch (e) {
    sources.forEach((s) => s.close());
    throw e;
  }
}

/**
 * How a node calls another node's TLS client port (the etcd leader proxy): the server's
 * certificate must chain to the node's CA (the peer port's) and name the host dialled, as for
 * any client; the certificate presented (asked for under `--client-cert-auth`) is the node's peer
 * certificate, checked to name this node at every load. The authorizer never takes a user from a
 * node certificate, so such a call carries only the identity of the caller it is made for (its
 * token). The source is a certificate provider: new connections use reloaded certificates.
 * Without peer TLS there is no node certificate to present, nor a CA for server certificates
 * (`--trusted-ca-file` is for client certificates): null.
 */
function clientPortCredentials(peer: CertificateSource | undefined): ChannelCredentials | null {
  return peer === undefined ? null : experimental.createCertificateProviderChannelCredentials(peer, peer);
}
