/**
 * TLS for the client: PEM contents (not file names: the library never reads files), and the
 * `https://` endpoint form that turns TLS on. The server's certificate is checked against `ca`
 * (or the system's CAs) and against the host dialled; `cert` and `key` are the client's own
 * certificate for a cluster that requires one (`--client-cert-auth`).
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { credentials } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../util/index.js';

/** The `tls` option of `connect()`. */
export interface ClientTlsOptions {
  /** PEM CA bundle the nodes' certificates chain to; the system's CAs by default. */
  readonly ca?: string | Uint8Array;
  /** PEM client certificate (mutual TLS); needs `key`. */
  readonly cert?: string | Uint8Array;
  /** PEM private key of `cert`. */
  readonly key?: string | Uint8Array;
}

const pem = (v: string | Uint8Array | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));

/**
 * Strips `https://` (TLS) or `http://` (plaintext) from every endpoint. Mixing them is refused:
 * one client speaks one way to every node.
 */
export function endpointSchemes(endpoints: string | readonly string[]): { endpoints: string[]; https: boolean } {
  const list = (typeof endpoints === 'string' ? endpoints.split(',') : [...endpoints]).map((e) => String(e).trim()).filter((e) => e !== '');
  const schemes = new Set<string>();
  const bare = list.map((e) => {
    const m = /^(https?):\/\/([^/]*)\/?$/i.exec(e);
    if (m === null) return e;
    schemes.add((m[1] ?? '').toLowerCase());
    return m[2] ?? '';
  });
  if (schemes.size > 1) throw new InvalidArgumentError('endpoints', 'mixes https:// and http:// endpoints');
  return { endpoints: bare, https: schemes.has('https') };
}

/** The channel credentials for `tls` (null: plaintext). Checks that `cert` and `key` come together. */
export function clientCredentials(tls: ClientTlsOptions | null): ChannelCredentials {
  if (tls === null) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new InvalidArgumentError(tls.cert === undefined ? 'tls.cert' : 'tls.key', 'a client certificate needs both cert and key');
  try {
    // grpc-js loads the PEM only when it connects: load it now, so that a bad file is a clear
    // error at connect() instead of every call failing with UNAVAILABLE.
    const [ca, key, cert] = [pem(tls.ca), pem(tls.key), pem(tls.cert)];
    // A CA bundle that holds no certificate would be ignored silently, and trust nothing.
    if (ca !== null) new X509Certificate(ca);
    createSecureContext({ ...(ca === null ? {} : { ca }), ...(key === null ? {} : { key }), ...(cert === null ? {} : { cert }) });
    return credentials.createSsl(ca, key, cert);
  } catch (e) {
    throw new InvalidArgumentError('tls', `unusable certificate or key: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The TLS setting from the `tls` option and the endpoints' scheme. */
export function resolveTls(tls: ClientTlsOptions | boolean | undefined, https: boolean): ClientTlsOptions | null {
  if (tls === false) {
    if (https) throw new InvalidArgumentError('tls', 'is false, but the endpoints are https://');
    return null;
  }
  if (tls === true) return {};
  if (tls === undefined) return https ? {} : null;
  if (typeof tls !== 'object' || tls === null) throw new InvalidArgumentError('tls', 'must be true, false or { ca, cert, key }');
  return tls;
}
