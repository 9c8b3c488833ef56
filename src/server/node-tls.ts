/**
 * The TLS parts of a node: server credentials for the client and peer ports, channel credentials
 * for the connections to peers, and how the peer port identifies callers. The node's own peer
 * certificate must name the node (SAN URI `raftkv://node/<id>`); that is checked at start-up and
 * at every reload, so a node cannot start, or go on, with another node's identity.
 */
import { ServerCredentials } from '@grpc/grpc-js';
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
    if (peer !== null) {
      const source = new CertificateSource({ files: peer, what: 'peer TLS', reloadIntervalMs, check: namesNode(options.id), logger });
      sources.push(source);
      peerServerCredentials = tlsServerCredentials(source, true);
      peerCredentials = (id) => peerChannelCredentials(source, id);
    }
    return {
      clientServerCredentials,
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
