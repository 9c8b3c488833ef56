// Proves the authorizer's identity rules without a network: a token signed by another key, a
// tampered token or one past its expiry is refused; a client certificate names a user by its
// raftkv client URI or CN but a node certificate never does; a forwarded call is believed only
// for the user the admitted follower vouched for, not for the peer stream's own certificate.
import { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { applyAuthCommand, emptyAuthState } from '../../kv/index.js';
import type { AuthCommand, AuthState } from '../../kv/index.js';
import { Authorizer, certificateUser, forwardedCalls, txnAccesses } from './authorizer.js';
import { issueToken } from './tokens.js';

const hash = { n: 1024, r: 8, p: 1, salt: new Uint8Array(16), hash: new Uint8Array(32) };
function stateWith(commands: AuthCommand[]): AuthState {
  let state = emptyAuthState;
  commands.forEach((c, i) => {
    const out = applyAuthCommand(state, c, i + 1);
    if ('refused' in out) throw new Error(out.refused);
    state = out.state;
  });
  return state;
}
const enabled = stateWith([
  { type: 'userAdd', name: 'root', password: hash },
  { type: 'userGrantRole', name: 'root', role: 'root' },
  { type: 'userAdd', name: 'alice', password: null },
  { type: 'authEnable', tokenKey: new Uint8Array(32).fill(1) },
]);
const call = (token: string | null, cert?: Partial<PeerCertificate>) => {
  const metadata = new Metadata();
  if (token !== null) metadata.set('authorization', token);
  return { metadata, getAuthContext: () => (cert === undefined ? {} : { transportSecurityType: 'ssl', sslPeerCertificate: cert as PeerCertificate }) };
};

describe('Authorizer', () => {
  const now = 1_000_000;
  const authorizer = new Authorizer({ auth: () => enabled, nowMs: () => now });
  const root = enabled.users.get('root');
  if (root === undefined) throw new Error('no root');

  it('accepts a token of this cluster until it expires, bare or as Bearer', () => {
    const { token } = issueToken(enabled, root, now, 1000);
    expect(authorizer.authenticate(call(token))?.name).toBe('root');
    expect(authorizer.authenticate(call(`Bearer ${token}`))?.name).toBe('root');
    const late = new Authorizer({ auth: () => enabled, nowMs: () => now + 1000 });
    expect(() => late.authenticate(call(token))).toThrow(/expired/);
  });

  it('refuses a token signed with another key, or tampered with', () => {
    const other = { ...enabled, tokenKey: new Uint8Array(32).fill(2) };
    const { token } = issueToken(other, root, now, 1000);
    expect(() => authorizer.authenticate(call(token))).toThrow(/invalid/);
    const [v, payload, mac] = issueToken(enabled, root, now, 1000).token.split('.');
    const forged = Buffer.from(JSON.stringify({ u: 'root', pi: root.passwordIndex, ei: enabled.enabledIndex, exp: now * 10 })).toString('base64url');
    expect(payload).not.toBe(forged);
    expect(() => authorizer.authenticate(call(`${v}.${forged}.${mac}`))).toThrow(/invalid/);
  });

  it('takes a user from a client certificate, never from a node certificate', () => {
    expect(certificateUser(call(null, { subject: { CN: 'alice' } as PeerCertificate['subject'], subjectaltname: 'URI:raftkv://client/alice' }))).toBe('alice');
    expect(certificateUser(call(null, { subject: { CN: 'alice' } as PeerCertificate['subject'] }))).toBe('alice');
    expect(certificateUser(call(null, { subject: { CN: 'root' } as PeerCertificate['subject'], subjectaltname: 'URI:raftkv://node/n1' }))).toBeNull();
    expect(authorizer.authenticate(call(null, { subject: { CN: 'alice' } as PeerCertificate['subject'] }))?.name).toBe('alice');
    expect(() => authorizer.authenticate(call(null, { subject: { CN: 'mallory' } as PeerCertificate['subject'] }))).toThrow(/not a user/);
    expect(() => authorizer.authenticate(call(null))).toThrow(/authentication required/);
  });

  it('believes a forwarded call only for the user the follower vouched for', () => {
    const forwarded = call(null, { subject: { CN: 'root' } as PeerCertificate['subject'] });
    forwardedCalls.set(forwarded, '');
    expect(() => authorizer.authenticate(forwarded)).toThrow(/authentication required/);
    forwardedCalls.set(forwarded, 'alice');
    expect(authorizer.authenticate(forwarded)?.name).toBe('alice');
  });

  it('lets everything through while auth is off', () => {
    const off = new Authorizer({ auth: () => ({ ...enabled, enabled: false }), nowMs: () => now });
    expect(off.authenticate(call(null))).toBeNull();
    expect(() => off.requireRoot(call(null), 'MemberAdd')).not.toThrow();
  });
});

describe('txnAccesses', () => {
  it('names every key of a txn tree: range compares read their range, nested puts and deletes need readwrite', () => {
    const b = (s: string): Uint8Array => new TextEncoder().encode(s);
    const accesses = txnAccesses({
      type: 'txn',
      compares: [{ key: b('a'), rangeEnd: b('c'), target: 'version', op: '=', value: 0 }],
      success: [{ type: 'txn', compares: [{ key: b('n'), target: 'lease', op: '=', value: 0 }], success: [{ type: 'put', key: b('deep'), value: b('') }], failure: [{ type: 'delete', key: b('gone') }] }],
      failure: [{ type: 'range', key: b('r') }],
    });
    expect(accesses).toEqual([
      { range: { key: b('a'), rangeEnd: b('c') }, access: 'read' },
      { range: { key: b('n') }, access: 'read' },
      { range: { type: 'put', key: b('deep'), value: b('') }, access: 'readwrite' },
      { range: { type: 'delete', key: b('gone') }, access: 'readwrite' },
      { range: { type: 'range', key: b('r') }, access: 'read' },
    ]);
  });
});
