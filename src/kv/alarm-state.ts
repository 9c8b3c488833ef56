/**
 * Alarms as replicated state (etcd's model: `AlarmType NOSPACE | CORRUPT`, per member). The list
 * changes only through committed `alarm` cluster commands (cluster-command-codec.ts), so every
 * replica agrees on which member holds which alarm: a CORRUPT member refuses reads because the
 * replicated list says so, the same on every replica, and `raftkv alarm list` is one answer for
 * the whole cluster. A node that cannot write its own log holds a NOSPACE alarm locally first
 * (src/server/alarms/), and its report becomes this replicated entry once the leader commits it.
 *
 * Stored form: one record in the session keyspace under the reserved id `alarmRecordId` (it sorts
 * before the auth record), as auth and the cluster limits are: LevelDB, snapshots, backups and
 * restore carry it with no format change. State without the record decodes as "no alarms".
 */
import { InvalidArgumentError } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { Alarm, AlarmType, SessionRecord } from './types.js';

export type { Alarm, AlarmType } from './types.js';

/** The alarm types, in wire order. */
export const alarmTypes = ['nospace', 'corrupt'] as const satisfies readonly AlarmType[];

/** Named limits on the alarm list (each refused with a clear error when hit). */
export const alarmLimits = Object.freeze({
  /** Most alarms held at once (members × types is far below this in any real cluster). */
  alarmsMax: 256,
  /** Longest member id. */
  memberBytesMax: 128,
  /** Longest reason text kept with an alarm. */
  reasonBytesMax: 512,
});


/** The replicated alarm list, sorted by member then type. */
export interface AlarmState {
  readonly alarms: readonly Alarm[];
  /** The index of the entry that last changed the list (0: never changed). */
  readonly setIndex: number;
}

/** The state before any alarm command. */
export const emptyAlarmState: AlarmState = Object.freeze({ alarms: Object.freeze([]), setIndex: 0 });

/**
 * A change to the alarm list. `raise` adds (or keeps) one alarm; `clear` removes the alarms that
 * match: one member's (`member` non-empty) or every member's, of one type or of every type.
 */
export type AlarmCommand =
  | { readonly action: 'raise'; readonly member: string; readonly type: AlarmType; readonly reason: string }
  | { readonly action: 'clear'; readonly member: string; readonly type: AlarmType | null };

/** Checks a command's fields; throws `InvalidArgumentError`. */
export function checkAlarmCommand(command: AlarmCommand): void {
  if (command.action === 'raise' && command.member.length === 0) throw new InvalidArgumentError('alarm.member', 'must not be empty when raising an alarm');
  if (command.member.length > alarmLimits.memberBytesMax) throw new InvalidArgumentError('alarm.member', `is ${command.member.length} characters; the limit is memberBytesMax (${alarmLimits.memberBytesMax})`);
  if (command.action === 'raise' && command.reason.length > alarmLimits.reasonBytesMax) {
    throw new InvalidArgumentError('alarm.reason', `is ${command.reason.length} characters; the limit is reasonBytesMax (${alarmLimits.reasonBytesMax})`);
  }
  if (command.type !== null && !alarmTypes.includes(command.type)) throw new InvalidArgumentError('alarm.type', `unknown alarm type ${JSON.stringify(command.type)}`);
}

/**
 * The list after `command` at `index`, and whether it changed. Raising an alarm already held keeps
 * the first one (its index and reason). Refused (a string) when the list is full.
 */
export function applyAlarmCommand(state: AlarmState, command: AlarmCommand, index: number): { readonly state: AlarmState; readonly changed: boolean } | { readonly refused: string } {
  if (command.action === 'raise') {
    if (state.alarms.some((a) => a.member === command.member && a.type === command.type)) return { state, changed: false };
    if (state.alarms.length >= alarmLimits.alarmsMax) return { refused: `the alarm list is full (alarmsMax ${alarmLimits.alarmsMax}); clear some alarms first` };
    const alarms = [...state.alarms, { member: command.member, type: command.type, raisedIndex: index, reason: command.reason }].sort(compareAlarms);
    return { state: { alarms, setIndex: index }, changed: true };
  }
  const keep = state.alarms.filter((a) => !((command.member === '' || a.member === command.member) && (command.type === null || a.type === command.type)));
  if (keep.length === state.alarms.length) return { state, changed: false };
  return { state: { alarms: keep, setIndex: index }, changed: true };
}

/** Whether `member` holds an alarm of `type`. */
export function hasAlarm(state: AlarmState, member: string, type: AlarmType): boolean {
  return state.alarms.some((a) => a.member === member && a.type === type);
}

function compareAlarms(a: Alarm, b: Alarm): number {
  if (a.member !== b.member) return a.member < b.member ? -1 : 1;
  return alarmTypes.indexOf(a.type) - alarmTypes.indexOf(b.type);
}

/** Writes a command's fields (the cluster command codec's `alarm` kind). */
export function writeAlarmFields(w: ByteWriter, c: AlarmCommand): void {
  w.u8(c.action === 'raise' ? 1 : 2);
  w.string(c.member, 'member');
  w.u8(c.type === null ? 0 : alarmTypes.indexOf(c.type) + 1);
  if (c.action === 'raise') w.string(c.reason, 'reason');
}

/** Reads what `writeAlarmFields` wrote; field checks run when the command is applied. */
export function readAlarmFields(r: ByteReader): AlarmCommand {
  const action = r.u8('action');
  const member = r.string('member');
  const typeByte = r.u8('type');
  const type = typeByte === 0 ? null : alarmTypes[typeByte - 1];
  if (type === undefined) throw r.error(`unknown alarm type ${typeByte}`);
  if (action === 1) {
    if (type === null) throw r.error('raising an alarm needs a type');
    return { action: 'raise', member, type, reason: r.string('reason') };
  }
  if (action === 2) return { action: 'clear', member, type };
  throw r.error(`unknown alarm action ${action}`);
}

/** The reserved session-keyspace id of the alarm record (sorts before the auth record). */
export const alarmRecordId = '\u0000raftkv/alarms';
/** The format version of the alarm record body. */
const alarmRecordFormat = 1;

/** The session-keyspace record that stores `state`. */
export function alarmRecord(state: AlarmState): SessionRecord {
  const w = new ByteWriter(64);
  w.u8(alarmRecordFormat);
  w.varint(state.setIndex, 'setIndex');
  w.varint(state.alarms.length, 'alarms');
  for (const a of state.alarms) {
    w.string(a.member, 'member');
    w.u8(alarmTypes.indexOf(a.type));
    w.varint(a.raisedIndex, 'raisedIndex');
    w.string(a.reason, 'reason');
  }
  return { clientId: alarmRecordId, ackSeq: 0, lastSeenMs: 0, responses: [{ seq: 1, result: w.finish() }] };
}

/** Reads the alarm list back from its record; throws `InvalidArgumentError` if it is malformed. */
export function decodeAlarmRecord(record: SessionRecord): AlarmState {
  const body = record.responses.length === 1 ? record.responses[0] : undefined;
  if (record.clientId !== alarmRecordId || body === undefined || body.seq !== 1) throw new InvalidArgumentError('alarms', 'the reserved record does not have the alarm shape');
  const r = new ByteReader(body.result, 'alarms');
  const format = r.u8('format');
  if (format !== alarmRecordFormat) throw r.error(`unsupported format version ${format}`);
  const setIndex = r.varint('setIndex');
  const alarms: Alarm[] = [];
  for (let i = r.count('alarms'); i > 0; i--) {
    const member = r.string('member');
    const typeIndex = r.u8('type');
    const type = alarmTypes[typeIndex];
    if (type === undefined) throw r.error(`unknown alarm type ${typeIndex}`);
    alarms.push({ member, type, raisedIndex: r.varint('raisedIndex'), reason: r.string('reason') });
  }
  r.end();
  if (alarms.length > alarmLimits.alarmsMax) throw r.error(`holds ${alarms.length} alarms; the limit is alarmsMax (${alarmLimits.alarmsMax})`);
  return { alarms: alarms.sort(compareAlarms), setIndex };
}
