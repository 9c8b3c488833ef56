/**
 * Authentication and roles as replicated state (etcd's auth model): users (with a scrypt password
 * hash computed by the node that took the request, never the password), roles granting read or
 * read-write on key prefixes, the built-in `root` role that also grants administration, the
 * on/off switch, and the key tokens are signed with. It changes only through committed `auth`
 * cluster commands (cluster-command-codec.ts), so every replica enforces the same rules.
 *
 * The token key is replicated state too: the node that enables auth proposes 32 random bytes in
 * the `authEnable` entry (randomness stays out of this pure module). So any node can verify a
 * token another node issued, and a replica that catches up from a snapshot verifies the same
 * tokens. The key is in snapshots and backups; whoever holds a backup holds the data anyway.
 *
 * Stored form: one record in the session keyspace under the reserved id `authRecordId` (client ids
 * starting with U+0000 are refused), as the cluster limits are (cluster-limits.ts): LevelDB, the
 * snapshot stream, backups and restore carry it with no format change. State without the record
 * (every image from before auth existed) decodes as auth off, no users, no roles.
 */
import { InvalidArgumentError } from '../util/index.js';
import { toBinaryString } from './binary-key.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { prefixEnd, resolveRange } from './key-range.js';
import type { KeyRange, SessionRecord } from './types.js';

const utf8 = new TextEncoder();

/** The built-in administrator role: every key, read-write, and every admin call. */
export const rootRole = 'root';
/** The user that must exist (with the root role) before auth can be enabled. */
export const rootUser = 'root';

/** Named limits on the auth state (each refused with a clear error when hit). */
export const authLimits = Object.freeze({
  usersMax: 10_000,
  rolesMax: 1_000,
  rolesPerUserMax: 64,
  permissionsPerRoleMax: 256,
  nameBytesMax: 128,
  prefixBytesMax: 64 * 1024,
  saltBytesMax: 64,
  hashBytesMax: 128,
  tokenKeyBytes: 32,
});

/** A scrypt password hash with the parameters it was made with (so they can change later). */
export interface PasswordHash {
  /** scrypt cost N (a power of two), block size r, parallelism p. */
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

/** What a permission grants. */
export type Access = 'read' | 'readwrite';

/** A permission: `access` on every key starting with `prefix` (an empty prefix: every key). */
export interface Permission {
  readonly prefix: Uint8Array;
  readonly access: Access;
}

/** A role. */
export interface AuthRole {
  readonly name: string;
  readonly permissions: readonly Permission[];
}

/** A user. `password` is null for a user who signs in only with a client certificate. */
export interface AuthUser {
  readonly name: string;
  readonly password: PasswordHash | null;
  readonly roles: readonly string[];
  /** The index of the entry that last set the password: tokens issued before it are refused. */
  readonly passwordIndex: number;
}

/** The whole auth state. */
export interface AuthState {
  readonly enabled: boolean;
  /** The HMAC key of tokens (empty while auth was never enabled). */
  readonly tokenKey: Uint8Array;
  /** The index of the entry that last enabled auth (tokens name it: re-enabling refuses old ones). */
  readonly enabledIndex: number;
  readonly users: ReadonlyMap<string, AuthUser>;
  readonly roles: ReadonlyMap<string, AuthRole>;
  /** The index of the last auth entry applied; 0: never changed (no record stored). */
  readonly setIndex: number;
}

/** The state of a cluster that never had an auth entry. */
export const emptyAuthState: AuthState = Object.freeze({ enabled: false, tokenKey: new Uint8Array(0), enabledIndex: 0, users: new Map(), roles: new Map(), setIndex: 0 });

/** Every auth command (the `auth` kind of cluster command). */
export type AuthCommand =
  | { readonly type: 'userAdd'; readonly name: string; readonly password: PasswordHash | null }
  | { readonly type: 'userDelete'; readonly name: string }
  | { readonly type: 'userPasswd'; readonly name: string; readonly password: PasswordHash }
  | { readonly type: 'userGrantRole'; readonly name: string; readonly role: string }
  | { readonly type: 'userRevokeRole'; readonly name: string; readonly role: string }
  | { readonly type: 'roleAdd'; readonly name: string }
  | { readonly type: 'roleDelete'; readonly name: string }
  | { readonly type: 'roleGrant'; readonly name: string; readonly permission: Permission }
  | { readonly type: 'roleRevoke'; readonly name: string; readonly prefix: Uint8Array }
  | { readonly type: 'authEnable'; readonly tokenKey: Uint8Array }
  | { readonly type: 'authDisable' };

/** The command kinds, in wire order (append only). */
export const authCommandTypes = ['userAdd', 'userDelete', 'userPasswd', 'userGrantRole', 'userRevokeRole', 'roleAdd', 'roleDelete', 'roleGrant', 'roleRevoke', 'authEnable', 'authDisable'] as const satisfies readonly AuthCommand['type'][];

/** Checks a user or role name; throws `InvalidArgumentError`. */
export function checkName(name: string, field: string): void {
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(field, 'must not be empty');
  if (utf8.encode(name).length > authLimits.nameBytesMax) throw new InvalidArgumentError(field, `is over nameBytesMax (${authLimits.nameBytesMax} bytes)`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new InvalidArgumentError(field, 'must not contain control characters');
}

function checkPasswordHash(h: PasswordHash, field: string): void {
  for (const [name, v] of [['n', h.n], ['r', h.r], ['p', h.p]] as const) {
    if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 30) throw new InvalidArgumentError(`${field}.${name}`, `must be an integer in [1, 2^30], got ${String(v)}`);
  }
  if (h.salt.length < 8 || h.salt.length > authLimits.saltBytesMax) throw new InvalidArgumentError(`${field}.salt`, `must be 8 to ${authLimits.saltBytesMax} bytes`);
  if (h.hash.length < 16 || h.hash.length > authLimits.hashBytesMax) throw new InvalidArgumentError(`${field}.hash`, `must be 16 to ${authLimits.hashBytesMax} bytes`);
}

/**
 * Applies an auth command to `state` as the entry at `index`: the new state, or why it was
 * refused (the same on every replica; nothing changes). Pure.
 */
export function applyAuthCommand(state: AuthState, command: AuthCommand, index: number): { readonly state: AuthState } | { readonly refused: string } {
  const users = new Map(state.users);
  const roles = new Map(state.roles);
  const done = (changes: Partial<AuthState> = {}): { state: AuthState } => ({ state: { ...state, users, roles, ...changes, setIndex: index } });
  const refuse = (refused: string): { refused: string } => ({ refused });
  const user = 'name' in command ? users.get(command.name) : undefined;
  const roleExists = (role: string): boolean => role === rootRole || roles.has(role);
  switch (command.type) {
    case 'userAdd':
      if (user !== undefined) return refuse(`user "${command.name}" already exists`);
      if (users.size >= authLimits.usersMax) return refuse(`there are already usersMax (${authLimits.usersMax}) users`);
      users.set(command.name, { name: command.name, password: command.password, roles: [], passwordIndex: index });
      return done();
    case 'userDelete':
      if (user === undefined) return refuse(`user "${command.name}" does not exist`);
      if (state.enabled && command.name === rootUser) return refuse(`user "${rootUser}" cannot be deleted while auth is enabled (disable auth first)`);
      users.delete(command.name);
      return done();
    case 'userPasswd':
      if (user === undefined) return refuse(`user "${command.name}" does not exist`);
      users.set(command.name, { ...user, password: command.password, passwordIndex: index });
      return done();
    case 'userGrantRole':
      if (user === undefined) return refuse(`user "${command.name}" does not exist`);
      if (!roleExists(command.role)) return refuse(`role "${command.role}" does not exist`);
      if (user.roles.includes(command.role)) return refuse(`user "${command.name}" already has role "${command.role}"`);
      if (user.roles.length >= authLimits.rolesPerUserMax) return refuse(`user "${command.name}" already has rolesPerUserMax (${authLimits.rolesPerUserMax}) roles`);
      users.set(command.name, { ...user, roles: [...user.roles, command.role].sort() });
      return done();
    case 'userRevokeRole':
      if (user === undefined) return refuse(`user "${command.name}" does not exist`);
      if (!user.roles.includes(command.role)) return refuse(`user "${command.name}" does not have role "${command.role}"`);
      if (state.enabled && command.name === rootUser && command.role === rootRole) return refuse(`the root role cannot be revoked from user "${rootUser}" while auth is enabled`);
      users.set(command.name, { ...user, roles: user.roles.filter((r) => r !== command.role) });
      return done();
    case 'roleAdd':
      if (roleExists(command.name)) return refuse(`role "${command.name}" already exists`);
      if (roles.size >= authLimits.rolesMax) return refuse(`there are already rolesMax (${authLimits.rolesMax}) roles`);
      roles.set(command.name, { name: command.name, permissions: [] });
      return done();
    case 'roleDelete':
      if (command.name === rootRole) return refuse(`the built-in role "${rootRole}" cannot be deleted`);
      if (!roles.has(command.name)) return refuse(`role "${command.name}" does not exist`);
      roles.delete(command.name);
      // A deleted role is taken from every user that had it (etcd does the same).
      for (const u of users.values()) if (u.roles.includes(command.name)) users.set(u.name, { ...u, roles: u.roles.filter((r) => r !== command.name) });
      return done();
    case 'roleGrant':
    case 'roleRevoke': {
      if (command.name === rootRole) return refuse(`the built-in role "${rootRole}" already grants everything and cannot be changed`);
      const role = roles.get(command.name);
      if (role === undefined) return refuse(`role "${command.name}" does not exist`);
      const prefix = command.type === 'roleGrant' ? command.permission.prefix : command.prefix;
      const others = role.permissions.filter((p) => toBinaryString(p.prefix) !== toBinaryString(prefix));
      if (command.type === 'roleRevoke') {
        if (others.length === role.permissions.length) return refuse(`role "${command.name}" has no permission on prefix ${JSON.stringify(toBinaryString(prefix))}`);
        roles.set(command.name, { ...role, permissions: others });
        return done();
      }
      // Granting a prefix again replaces its access (read -> readwrite or back).
      if (others.length >= authLimits.permissionsPerRoleMax) return refuse(`role "${command.name}" already has permissionsPerRoleMax (${authLimits.permissionsPerRoleMax}) permissions`);
      roles.set(command.name, { ...role, permissions: [...others, command.permission] });
      return done();
    }
    case 'authEnable': {
      if (state.enabled) return refuse('auth is already enabled');
      const root = users.get(rootUser);
      if (root === undefined || !root.roles.includes(rootRole)) return refuse(`auth cannot be enabled before user "${rootUser}" exists with role "${rootRole}" (raftkv user add root; raftkv user grant-role root root)`);
      if (command.tokenKey.length !== authLimits.tokenKeyBytes) return refuse(`the token key must be ${authLimits.tokenKeyBytes} bytes`);
      return done({ enabled: true, tokenKey: command.tokenKey, enabledIndex: index });
    }
    case 'authDisable':
      if (!state.enabled) return refuse('auth is not enabled');
      return done({ enabled: false });
  }
}

/** Checks an auth command's fields before it is encoded or applied; throws `InvalidArgumentError`. */
export function checkAuthCommand(command: AuthCommand): void {
  if ('name' in command) checkName(command.name, 'name');
  switch (command.type) {
    case 'userAdd':
      if (command.password !== null) checkPasswordHash(command.password, 'password');
      return;
    case 'userPasswd':
      checkPasswordHash(command.password, 'password');
      return;
    case 'userGrantRole':
    case 'userRevokeRole':
      checkName(command.role, 'role');
      return;
    case 'roleGrant':
      if (command.permission.prefix.length > authLimits.prefixBytesMax) throw new InvalidArgumentError('prefix', `is over prefixBytesMax (${authLimits.prefixBytesMax} bytes)`);
      if (command.permission.access !== 'read' && command.permission.access !== 'readwrite') throw new InvalidArgumentError('access', 'must be read or readwrite');
      return;
    case 'roleRevoke':
      if (command.prefix.length > authLimits.prefixBytesMax) throw new InvalidArgumentError('prefix', `is over prefixBytesMax (${authLimits.prefixBytesMax} bytes)`);
      return;
    case 'authEnable':
      if (command.tokenKey.length !== authLimits.tokenKeyBytes) throw new InvalidArgumentError('tokenKey', `must be ${authLimits.tokenKeyBytes} bytes`);
      return;
    case 'userDelete':
    case 'roleAdd':
    case 'roleDelete':
    case 'authDisable':
      return;
  }
}

/** Whether `user` has the root role. */
export function isRoot(user: AuthUser): boolean {
  return user.roles.includes(rootRole);
}

/**
 * Whether `user`'s roles grant `access` on every key of `range` (a single permission must cover
 * the whole range; etcd merges adjacent ones, raftkv does not). Root covers everything.
 */
export function allows(state: AuthState, user: AuthUser, range: KeyRange, access: Access): boolean {
  if (isRoot(user)) return true;
  const resolved = resolveRange(range);
  for (const roleName of user.roles) {
    const role = state.roles.get(roleName);
    if (role === undefined) continue;
    for (const p of role.permissions) {
      if (access === 'readwrite' && p.access !== 'readwrite') continue;
      if (covers(p.prefix, resolved)) return true;
    }
  }
  return false;
}

function covers(prefix: Uint8Array, range: ReturnType<typeof resolveRange>): boolean {
  const low = toBinaryString(prefix);
  const endBytes = prefixEnd(prefix);
  const high = endBytes.length === 0 ? null : toBinaryString(endBytes);
  if (range.kind === 'single') return range.key.startsWith(low);
  // A range that selects nothing reads nothing.
  if (range.high !== null && range.high <= range.low) return true;
  if (range.low < low) return false;
  if (high === null) return true;
  return range.high !== null && range.high <= high;
}

/** The reserved session-keyspace id of the auth record (sorts before the cluster limits record). */
export const authRecordId = '\u0000raftkv/auth';
/** The format version of the auth record body. */
const authRecordFormat = 1;

/** The session-keyspace record that stores `state`. */
export function authRecord(state: AuthState): SessionRecord {
  const w = new ByteWriter(256);
  w.u8(authRecordFormat);
  w.varint(state.setIndex, 'setIndex');
  w.u8(state.enabled ? 1 : 0);
  w.bytes(state.tokenKey, 'tokenKey');
  w.varint(state.enabledIndex, 'enabledIndex');
  const users = [...state.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  w.varint(users.length, 'users');
  for (const u of users) {
    w.string(u.name, 'user');
    writePasswordHash(w, u.password);
    w.varint(u.passwordIndex, 'passwordIndex');
    w.varint(u.roles.length, 'roles');
    for (const r of u.roles) w.string(r, 'role');
  }
  const roles = [...state.roles.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  w.varint(roles.length, 'roles');
  for (const role of roles) {
    w.string(role.name, 'role');
    w.varint(role.permissions.length, 'permissions');
    for (const p of role.permissions) {
      w.bytes(p.prefix, 'prefix');
      w.u8(p.access === 'readwrite' ? 1 : 0);
    }
  }
  return { clientId: authRecordId, ackSeq: 0, lastSeenMs: 0, responses: [{ seq: 1, result: w.finish() }] };
}

/** Writes an optional password hash (shared with the command codec). */
export function writePasswordHash(w: ByteWriter, h: PasswordHash | null): void {
  w.u8(h === null ? 0 : 1);
  if (h === null) return;
  w.varint(h.n, 'n');
  w.varint(h.r, 'r');
  w.varint(h.p, 'p');
  w.bytes(h.salt, 'salt');
  w.bytes(h.hash, 'hash');
}

/** Reads an optional password hash written by `writePasswordHash`. */
export function readPasswordHash(r: ByteReader): PasswordHash | null {
  if (!r.bool('hasPassword')) return null;
  const h = { n: r.varint('n'), r: r.varint('r'), p: r.varint('p'), salt: r.bytes('salt'), hash: r.bytes('hash') };
  checkPasswordHash(h, 'password');
  return h;
}

/** Reads the auth state back from its record; throws `InvalidArgumentError` if it is malformed. */
export function decodeAuthRecord(record: SessionRecord): AuthState {
  const body = record.responses.length === 1 ? record.responses[0] : undefined;
  if (record.clientId !== authRecordId || body === undefined || body.seq !== 1) throw new InvalidArgumentError('auth', 'the reserved record does not have the auth shape');
  const r = new ByteReader(body.result, 'auth');
  const format = r.u8('format');
  if (format !== authRecordFormat) throw r.error(`unsupported format version ${format}`);
  const setIndex = r.varint('setIndex');
  const enabled = r.bool('enabled');
  const tokenKey = r.bytes('tokenKey');
  const enabledIndex = r.varint('enabledIndex');
  const users = new Map<string, AuthUser>();
  for (let i = r.count('users'); i > 0; i--) {
    const name = r.string('user');
    checkName(name, 'auth.user');
    const password = readPasswordHash(r);
    const passwordIndex = r.varint('passwordIndex');
    const roles: string[] = [];
    for (let j = r.count('roles'); j > 0; j--) roles.push(r.string('role'));
    if (users.has(name)) throw r.error(`user ${JSON.stringify(name)} appears twice`);
    users.set(name, { name, password, passwordIndex, roles });
  }
  const roles = new Map<string, AuthRole>();
  for (let i = r.count('roles'); i > 0; i--) {
    const name = r.string('role');
    checkName(name, 'auth.role');
    const permissions: Permission[] = [];
    for (let j = r.count('permissions'); j > 0; j--) permissions.push({ prefix: r.bytes('prefix'), access: r.bool('access') ? 'readwrite' : 'read' });
    if (roles.has(name)) throw r.error(`role ${JSON.stringify(name)} appears twice`);
    roles.set(name, { name, permissions });
  }
  r.end();
  if (enabled && tokenKey.length !== authLimits.tokenKeyBytes) throw r.error('auth is enabled without a token key');
  return { enabled, tokenKey, enabledIndex, users, roles, setIndex };
}
