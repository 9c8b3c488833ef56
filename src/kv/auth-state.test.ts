// Proves users, roles and the auth switch are replicated state: set only by committed auth
// entries (refusals identical on every replica), kept in images (what snapshots, backups and
// LevelDB carry), in the state hash, and that prefix permissions cover exactly their keys.
import { describe, expect, it } from 'vitest';
import { logIndex } from '../util/index.js';
import { allows, authRecordId, decodeLogCommand, defaultClusterLimits, encodeClusterCommand, KvStateMachine } from './index.js';
import type { AuthCommand, PasswordHash } from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const hash: PasswordHash = { n: 16384, r: 8, p: 1, salt: new Uint8Array(16).fill(7), hash: new Uint8Array(32).fill(9) };
const fresh = (): KvStateMachine => new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs });
const entry = (auth: AuthCommand): Uint8Array => encodeClusterCommand({ type: 'auth', auth });
const apply = (sm: KvStateMachine, auth: AuthCommand) => sm.applyEncoded(logIndex(sm.appliedIndex + 1), entry(auth));

const setup: AuthCommand[] = [
  { type: 'userAdd', name: 'root', password: hash },
  { type: 'userGrantRole', name: 'root', role: 'root' },
  { type: 'roleAdd', name: 'app' },
  { type: 'roleGrant', name: 'app', permission: { prefix: b('app/'), access: 'readwrite' } },
  { type: 'roleGrant', name: 'app', permission: { prefix: b('shared/'), access: 'read' } },
  { type: 'userAdd', name: 'alice', password: hash },
  { type: 'userGrantRole', name: 'alice', role: 'app' },
  { type: 'authEnable', tokenKey: new Uint8Array(32).fill(1) },
];

describe('auth state', () => {
  it('round-trips every auth command through the log codec', () => {
    for (const c of [...setup, { type: 'roleRevoke', name: 'app', prefix: b('x') }, { type: 'authDisable' }, { type: 'userPasswd', name: 'a', password: hash }] as AuthCommand[]) {
      expect(decodeLogCommand(entry(c))).toEqual({ type: 'cluster', command: { type: 'auth', auth: c } });
    }
  });

  it('refuses enabling auth before a root user with the root role exists, the same on every replica', () => {
    const replicas = [fresh(), fresh()];
    for (const sm of replicas) {
      const refused = apply(sm, { type: 'authEnable', tokenKey: new Uint8Array(32) });
      expect(refused.result).toMatchObject({ type: 'error', code: 'FAILED_PRECONDITION' });
      expect((refused.result as { message: string }).message).toMatch(/user "root" exists with role "root"/);
      expect(sm.auth.enabled).toBe(false);
      apply(sm, { type: 'userAdd', name: 'root', password: hash });
      expect(apply(sm, { type: 'authEnable', tokenKey: new Uint8Array(32) }).result.type).toBe('error');
    }
    expect(replicas[0]?.stateHash()).toBe(replicas[1]?.stateHash());
  });

  it('keeps users, roles and the switch in the image, so a replica built from a snapshot has them', () => {
    const sm = fresh();
    for (const c of setup) expect(apply(sm, c).result.type).toBe('auth');
    const image = sm.image();
    expect([...image.sessions].map((s) => s.clientId)).toEqual([authRecordId]);
    const copy = new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
    expect(copy.auth.enabled).toBe(true);
    expect(copy.auth.tokenKey).toEqual(new Uint8Array(32).fill(1));
    expect(copy.auth.users.get('alice')?.roles).toEqual(['app']);
    expect(copy.auth.roles.get('app')?.permissions).toHaveLength(2);
    expect(copy.stateHash()).toBe(sm.stateHash());
    expect(copy.sessionRecordCount()).toBe(1); // the auth record rides in the session keyspace
    // The state hash sees auth changes: a replica that missed one differs.
    apply(sm, { type: 'userRevokeRole', name: 'alice', role: 'app' });
    expect(copy.stateHash()).not.toBe(sm.stateHash());
  });

  it('protects root while auth is on, and drops a deleted role from its users', () => {
    const sm = fresh();
    for (const c of setup) apply(sm, c);
    expect(apply(sm, { type: 'userDelete', name: 'root' }).result).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(apply(sm, { type: 'userRevokeRole', name: 'root', role: 'root' }).result).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(apply(sm, { type: 'roleDelete', name: 'root' }).result).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(apply(sm, { type: 'roleDelete', name: 'app' }).result.type).toBe('auth');
    expect(sm.auth.users.get('alice')?.roles).toEqual([]);
  });

  it('grants read or read-write on exactly the keys under a prefix', () => {
    const sm = fresh();
    for (const c of setup) apply(sm, c);
    const alice = sm.auth.users.get('alice');
    const root = sm.auth.users.get('root');
    if (alice === undefined || root === undefined) throw new Error('users missing');
    const can = (range: Parameters<typeof allows>[2], access: 'read' | 'readwrite'): boolean => allows(sm.auth, alice, range, access);
    expect(can({ key: b('app/x') }, 'readwrite')).toBe(true);
    expect(can({ key: b('app/'), prefix: true }, 'read')).toBe(true);
    expect(can({ key: b('app/a'), rangeEnd: b('app0') }, 'read')).toBe(true);
    expect(can({ key: b('app/a'), rangeEnd: b('app1') }, 'read')).toBe(false);
    expect(can({ key: b('app/a'), rangeEnd: new Uint8Array(0) }, 'read')).toBe(false);
    expect(can({ key: b('ap'), prefix: true }, 'read')).toBe(false);
    expect(can({ key: b('other') }, 'read')).toBe(false);
    expect(can({ key: b('shared/k') }, 'read')).toBe(true);
    expect(can({ key: b('shared/k') }, 'readwrite')).toBe(false);
    expect(allows(sm.auth, root, { key: b(''), prefix: true }, 'readwrite')).toBe(true);
  });

  it('applies a forged entry with an empty role name as INVALID_ARGUMENT, changing nothing', () => {
    const sm = fresh();
    expect(() => entry({ type: 'userAdd', name: '', password: null })).toThrow(/name/);
    const before = sm.stateHash();
    // format 2 (cluster), kind 2 (auth), roleAdd, a zero-length name: what the encoder refuses.
    const forged = new Uint8Array([2, 2, 5, 0]);
    const outcome = sm.applyEncoded(logIndex(1), forged);
    expect(outcome.result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(outcome.mutations).toEqual([]);
    expect(sm.stateHash()).toBe(before);
    expect(sm.auth.setIndex).toBe(0);
  });
});
