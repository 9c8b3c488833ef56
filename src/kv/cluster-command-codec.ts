/**
 * Cluster administration commands: Raft log entries that change replicated settings rather than
 * keys: `setClusterLimits` (see cluster-limits.ts) and `auth` (users, roles, the on/off switch:
 * auth-state.ts). They share the log with KV commands and are told apart by the entry's first
 * byte (log-command.ts).
 *
 * Layout (format 2): `u8 format, u8 kind, ...` where kind 1 (setClusterLimits) is
 * `u8 flags(ifUnset), varint × clusterLimitNames.length` in `clusterLimitNames` order, and kind 2
 * (auth) is `u8 authCommandTypes index, fields` (see `writeAuthFields`), and kind 3 (alarm) is
 * `u8 action, string member, u8 type (0 = any), [string reason]` (alarm-state.ts), and kind 4
 * (memberUpdate) is `string member, string peerAddress, string clientAddress` (member-update.ts).
 */
import { InvalidArgumentError } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { authCommandTypes, checkAuthCommand, readPasswordHash, writePasswordHash } from './auth-state.js';
import type { AuthCommand, PasswordHash } from './auth-state.js';
import { checkAlarmCommand, readAlarmFields, writeAlarmFields } from './alarm-state.js';
import type { AlarmCommand } from './alarm-state.js';
import { checkMemberUpdate, readMemberUpdateFields, writeMemberUpdateFields } from './member-update.js';
import type { MemberUpdateCommand } from './member-update.js';
import { checkClusterLimits, clusterLimitNames, preLeaseLimitCount, readClusterLimitValues } from './cluster-limits.js';
import type { ClusterLimits } from './cluster-limits.js';

/** The format byte of a cluster command (a KV command's is 1). */
export const clusterCommandFormat = 2;

/** Command kinds on the wire. */
const commandKind = { setClusterLimits: 1, auth: 2, alarm: 3, memberUpdate: 4 } as const;

/**
 * Replace the cluster limits. With `ifUnset`, it changes them only if no `setClusterLimits` was
 * ever applied: what a new leader proposes from its flags, harmlessly repeated by later leaders.
 */
export interface SetClusterLimitsCommand {
  readonly type: 'setClusterLimits';
  readonly limits: ClusterLimits;
  readonly ifUnset: boolean;
}

/** A change to users, roles or the auth switch (auth-state.ts). */
export interface AuthClusterCommand {
  readonly type: 'auth';
  readonly auth: AuthCommand;
}

/** A change to the replicated alarm list (alarm-state.ts). */
export interface AlarmClusterCommand {
  readonly type: 'alarm';
  readonly alarm: AlarmCommand;
}

/** New addresses for a member (member-update.ts). */
export interface MemberUpdateClusterCommand {
  readonly type: 'memberUpdate';
  readonly update: MemberUpdateCommand;
}

/** Every cluster command. */
export type ClusterCommand = SetClusterLimitsCommand | AuthClusterCommand | AlarmClusterCommand | MemberUpdateClusterCommand;

/** Encodes a cluster command; throws `InvalidArgumentError` if its limits are not valid. */
export function encodeClusterCommand(command: ClusterCommand): Uint8Array {
  switch (command.type) {
    case 'setClusterLimits': {
      checkClusterLimits(command.limits);
      const w = new ByteWriter(64);
      w.u8(clusterCommandFormat);
      w.u8(commandKind.setClusterLimits);
      w.u8(command.ifUnset ? 1 : 0);
      for (const name of clusterLimitNames) w.varint(command.limits[name], name);
      return w.finish();
    }
    case 'auth':
      checkAuthCommand(command.auth);
      return framed(commandKind.auth, 128, (w) => writeAuthFields(w, command.auth));
    case 'alarm':
      checkAlarmCommand(command.alarm);
      return framed(commandKind.alarm, 64, (w) => writeAlarmFields(w, command.alarm));
    case 'memberUpdate':
      checkMemberUpdate(command.update);
      return framed(commandKind.memberUpdate, 64, (w) => writeMemberUpdateFields(w, command.update));
    default:
      throw new InvalidArgumentError('command.type', `unknown cluster command ${JSON.stringify((command as { type: unknown }).type)}`);
  }
}

/** A cluster command of `kind`: the format byte, the kind, then what `write` writes. */
function framed(kind: number, sizeHint: number, write: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(sizeHint);
  w.u8(clusterCommandFormat);
  w.u8(kind);
  write(w);
  return w.finish();
}

/**
 * Decodes a cluster command; throws `InvalidArgumentError` (field `command`) on malformed input.
 * Limits out of range decode (they are refused when applied, the same way on every replica).
 */
export function decodeClusterCommand(bytes: Uint8Array): ClusterCommand {
  const r = new ByteReader(bytes, 'command');
  const format = r.u8('format');
  if (format !== clusterCommandFormat) throw r.error(`not a cluster command (format ${format})`);
  const kind = r.u8('kind');
  if (kind === commandKind.auth) {
    const auth = readAuthFields(r);
    r.end();
    return { type: 'auth', auth };
  }
  if (kind === commandKind.alarm) {
    const alarm = readAlarmFields(r);
    r.end();
    return { type: 'alarm', alarm };
  }
  if (kind === commandKind.memberUpdate) {
    const update = readMemberUpdateFields(r);
    r.end();
    return { type: 'memberUpdate', update };
  }
  if (kind !== commandKind.setClusterLimits) throw r.error(`unknown cluster command kind ${kind}`);
  const flags = r.u8('flags');
  if ((flags & ~1) !== 0) throw r.error(`unknown flag bits 0x${(flags & ~1).toString(16)}`);
  // Entries written before the lease limits existed end after the first preLeaseLimitCount values.
  const limits = readClusterLimitValues(r, preLeaseLimitCount);
  const newer = r.remaining() > 0 ? readClusterLimitValues(r, clusterLimitNames.length, preLeaseLimitCount) : {};
  r.end();
  return { type: 'setClusterLimits', limits: { ...limits, ...newer }, ifUnset: (flags & 1) === 1 };
}

function writeAuthFields(w: ByteWriter, c: AuthCommand): void {
  w.u8(authCommandTypes.indexOf(c.type));
  switch (c.type) {
    case 'userAdd':
      w.string(c.name, 'name');
      writePasswordHash(w, c.password);
      return;
    case 'userPasswd':
      w.string(c.name, 'name');
      writePasswordHash(w, c.password);
      return;
    case 'userGrantRole':
    case 'userRevokeRole':
      w.string(c.name, 'name');
      w.string(c.role, 'role');
      return;
    case 'roleGrant':
      w.string(c.name, 'name');
      w.bytes(c.permission.prefix, 'prefix');
      w.u8(c.permission.access === 'readwrite' ? 1 : 0);
      return;
    case 'roleRevoke':
      w.string(c.name, 'name');
      w.bytes(c.prefix, 'prefix');
      return;
    case 'userDelete':
    case 'roleAdd':
    case 'roleDelete':
      w.string(c.name, 'name');
      return;
    case 'authEnable':
      w.bytes(c.tokenKey, 'tokenKey');
      return;
    case 'authDisable':
      return;
  }
}

/** Reads what `writeAuthFields` wrote; field checks run when the command is applied. */
function readAuthFields(r: ByteReader): AuthCommand {
  const typeIndex = r.u8('auth command');
  const type = authCommandTypes[typeIndex];
  switch (type) {
    case 'userAdd':
      return { type, name: r.string('name'), password: readPasswordHash(r) };
    case 'userPasswd': {
      const name = r.string('name');
      const password: PasswordHash | null = readPasswordHash(r);
      if (password === null) throw r.error('userPasswd without a password');
      return { type, name, password };
    }
    case 'userGrantRole':
    case 'userRevokeRole':
      return { type, name: r.string('name'), role: r.string('role') };
    case 'roleGrant':
      return { type, name: r.string('name'), permission: { prefix: r.bytes('prefix'), access: r.bool('access') ? 'readwrite' : 'read' } };
    case 'roleRevoke':
      return { type, name: r.string('name'), prefix: r.bytes('prefix') };
    case 'userDelete':
    case 'roleAdd':
    case 'roleDelete':
      return { type, name: r.string('name') };
    case 'authEnable':
      return { type, tokenKey: r.bytes('tokenKey') };
    case 'authDisable':
      return { type };
    default:
      throw r.error(`unknown auth command ${typeIndex}`);
  }
}
