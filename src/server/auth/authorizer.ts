/**
 * Who is calling, and may they do this: the check every client RPC makes once auth is enabled.
 * The identity is a token in the `authorization` metadata (`Bearer <token>` or the bare token,
 * as etcd takes it) or, without a token, a client certificate naming a user (SAN URI
 * `raftkv://client/<name>`, else its CN) when the client port verifies client certificates.
 * Everything is decided by this node's applied auth state (replicated: every node decides alike).
 *
 * A forwarded call (a raftkv.v1 write, a leader-only etcd call) is checked on the leader, which
 * runs it: the follower passes the client's token on, and for a certificate user its name in
 * `forwardedUserHeader`, which the leader believes only on the peer port, from an admitted member
 * (server/forwarding/forwarded-identity.ts).
 */
import type { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { allows, isRoot } from '../../kv/index.js';
import type { Access, AuthState, AuthUser, KeyRange, TxnOp } from '../../kv/index.js';
import { identityOfCertificate } from '../../tls/index.js';
import { PermissionDeniedError, UnauthenticatedError } from '../../util/index.js';
import { verifyToken } from './tokens.js';

/** The metadata a follower sets on a forwarded write of a client that signed in with a certificate. */
export const forwardedUserHeader = 'raftkv-forwarded-user';

/** What the authorizer needs to see of a call. */
export interface AuthorizedCall {
  readonly metadata: Metadata;
  getAuthContext?(): { readonly transportSecurityType?: string; readonly sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * Calls that arrived forwarded on the peer port, with the certificate user the follower vouched
 * for ('' for none). Set by `admitForwarded` (forwarded-identity.ts) after admitting the
 * follower, and copied by `onBehalfOf` to the calls a handler makes for a marked call; nothing
 * else sets it.
 */
export const forwardedCalls = new WeakMap<object, string>();

/**
 * `derived`, a call a handler builds to act for `call` (the etcd adapter's raftkv.v1 calls), with
 * the same identity: if `call` arrived forwarded, `derived` carries the user vouched for on it,
 * and never the peer hop's certificate. Returns `derived`.
 */
export function onBehalfOf<T extends object>(call: object, derived: T): T {
  const vouched = forwardedCalls.get(call);
  if (vouched !== undefined) forwardedCalls.set(derived, vouched);
  return derived;
}

/** A key range and the access it needs, for a permission check. */
export interface KeyAccess {
  readonly range: KeyRange;
  readonly access: Access;
}

/** The authorizer's inputs. */
export interface AuthorizerDeps {
  /** This node's applied auth state. */
  readonly auth: () => AuthState;
  readonly nowMs: () => number;
}

/** Checks calls against the replicated auth state. */
export class Authorizer {
  constructor(private readonly deps: AuthorizerDeps) {}

  /** Whether auth is on. */
  get enabled(): boolean {
    return this.deps.auth().enabled;
  }

  /** The caller, or null when auth is off (everything is allowed). Throws `UnauthenticatedError`. */
  authenticate(call: AuthorizedCall): AuthUser | null {
    const state = this.deps.auth();
    if (!state.enabled) return null;
    const token = tokenOf(call.metadata);
    if (token !== null) {
      const verified = verifyToken(state, token, this.deps.nowMs());
      if ('refused' in verified) throw new UnauthenticatedError(`authentication failed: ${verified.refused}`, true);
      return verified.user;
    }
    const certName = certificateUserOf(call);
    if (certName !== null) {
      const user = state.users.get(certName);
      if (user === undefined) throw new UnauthenticatedError(`authentication failed: the client certificate names "${certName}", which is not a user`);
      return user;
    }
    throw new UnauthenticatedError('authentication required: auth is enabled; send a token from Auth/Authenticate in the authorization metadata (raftkv --user, or the client library\'s credentials option)');
  }

  /** Throws unless the caller may access every range (PERMISSION_DENIED names the first refused). */
  requireKeys(call: AuthorizedCall, accesses: readonly KeyAccess[], method: string): void {
    const user = this.authenticate(call);
    if (user === null) return;
    const state = this.deps.auth();
    for (const { range, access } of accesses) {
      if (!allows(state, user, range, access)) {
        const verb = access === 'read' ? 'read' : 'write';
        throw new PermissionDeniedError(`permission denied: user "${user.name}" may not ${verb} ${describeRange(range)} (${method} needs ${access} on a prefix covering it; the user has roles ${JSON.stringify(user.roles)})`);
      }
    }
  }

  /** Throws unless the caller has the root role (or auth is off). */
  requireRoot(call: AuthorizedCall, what: string): void {
    const user = this.authenticate(call);
    if (user !== null && !isRoot(user)) throw new PermissionDeniedError(`permission denied: ${what} needs the root role; user "${user.name}" has roles ${JSON.stringify(user.roles)}`);
  }
}

/**
 * Every key a transaction touches, nested txns included, with the access each needs: compares
 * (over their range, if they have one) read, puts and deletes write.
 */
export function txnAccesses(op: TxnOp, out: KeyAccess[] = []): KeyAccess[] {
  for (const c of op.compares) out.push({ range: c.rangeEnd === undefined ? { key: c.key } : { key: c.key, rangeEnd: c.rangeEnd }, access: 'read' });
  for (const r of [...op.success, ...op.failure]) {
    if (r.type === 'txn') txnAccesses(r, out);
    else if (r.type === 'range') out.push({ range: r, access: 'read' });
    else out.push({ range: r, access: 'readwrite' });
  }
  return out;
}

function tokenOf(metadata: Metadata): string | null {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string' || value === '') return null;
  return value.startsWith('Bearer ') ? value.slice('Bearer '.length).trim() : value.trim();
}

/** The user a client certificate names: forwarded by an admitted follower, or this call's own certificate. */
function certificateUserOf(call: AuthorizedCall): string | null {
  const forwarded = forwardedCalls.get(call);
  if (forwarded !== undefined) return forwarded === '' ? null : forwarded;
  return certificateUser(call);
}

/** The user named by the call's own client certificate (never a node certificate), or null. */
export function certificateUser(call: AuthorizedCall): string | null {
  const context = call.getAuthContext?.() ?? null;
  if (context === null || context.transportSecurityType !== 'ssl' || context.sslPeerCertificate === undefined) return null;
  const cert = context.sslPeerCertificate;
  if (cert.subject === undefined) return null;
  const identity = identityOfCertificate(cert);
  if (identity.kind === 'client') return identity.name;
  if (identity.kind === 'node') return null;
  const cn = cert.subject.CN;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}

function describeRange(range: KeyRange): string {
  const show = (b: Uint8Array): string => {
    const text = Buffer.from(b).toString('latin1');
    return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
  };
  if (range.prefix === true) return `the keys with prefix ${show(range.key)}`;
  if (range.rangeEnd !== undefined) return `the range [${show(range.key)}, ${range.rangeEnd.length === 0 ? 'end' : show(range.rangeEnd)})`;
  return `key ${show(range.key)}`;
}
