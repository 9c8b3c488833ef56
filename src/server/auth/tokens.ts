/**
 * Auth tokens: `rk1.<payload>.<mac>`, base64url, where the payload names the user, the index of
 * the entry that last set the user's password, the index of the entry that enabled auth, and the
 * expiry (ms since the epoch); the MAC is HMAC-SHA256 over `rk1.<payload>` with the cluster's
 * token key. The key is replicated state (kv/auth-state.ts), so a token issued by any node is
 * accepted by every node, including one that caught up from a snapshot; changing a password,
 * deleting the user or re-enabling auth refuses the tokens issued before. Expiry is checked
 * against the verifying node's clock (clock skew between nodes shortens or lengthens it).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthState, AuthUser } from '../../kv/index.js';

const version = 'rk1';
/** Longest token accepted, in characters (a valid one is about 150). */
export const tokenCharsMax = 1024;

interface Payload {
  readonly u: string;
  readonly pi: number;
  readonly ei: number;
  readonly exp: number;
}

function mac(key: Uint8Array, signed: string): Buffer {
  return createHmac('sha256', key).update(signed).digest();
}

/** A token for `user`, valid for `ttlMs` from `nowMs`. Auth must be enabled. */
export function issueToken(state: AuthState, user: AuthUser, nowMs: number, ttlMs: number): { readonly token: string; readonly expiresMs: number } {
  const expiresMs = nowMs + ttlMs;
  const payload: Payload = { u: user.name, pi: user.passwordIndex, ei: state.enabledIndex, exp: expiresMs };
  const signed = `${version}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return { token: `${signed}.${mac(state.tokenKey, signed).toString('base64url')}`, expiresMs };
}

/** The user a token names, or why it is refused (the reason never includes the token). */
export function verifyToken(state: AuthState, token: string, nowMs: number): { readonly user: AuthUser } | { readonly refused: string } {
  if (token.length > tokenCharsMax) return { refused: 'the token is malformed' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== version) return { refused: 'the token is malformed' };
  const signed = `${parts[0]}.${parts[1] ?? ''}`;
  const given = Buffer.from(parts[2] ?? '', 'base64url');
  const expected = mac(state.tokenKey, signed);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { refused: 'the token is invalid (not signed by this cluster, or auth was re-enabled since)' };
  let payload: Payload;
  try {
    payload = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as Payload;
  } catch {
    return { refused: 'the token is malformed' };
  }
  if (typeof payload.exp !== 'number' || payload.exp <= nowMs) return { refused: 'the token has expired: authenticate again' };
  if (payload.ei !== state.enabledIndex) return { refused: 'the token was issued before auth was last enabled: authenticate again' };
  const user = typeof payload.u === 'string' ? state.users.get(payload.u) : undefined;
  if (user === undefined) return { refused: 'the token names a user that no longer exists' };
  if (user.passwordIndex !== payload.pi) return { refused: 'the password changed since the token was issued: authenticate again' };
  return { user };
}
