/**
 * kv: the replicated key-value state machine (pure, deterministic), its data types, and the binary
 * codecs shared with the log (commands), the sessions (results) and LevelDB (records).
 */
export type * from './types.js';
export { KvStateMachine } from './kv-state-machine.js';
export type { KvStateMachineOptions } from './kv-state-machine.js';
export { encodeCommand, decodeCommand } from './command-codec.js';
export { encodeWriteResult, decodeWriteResult } from './result-codec.js';
export { encodeKeyValue, decodeKeyValue, decodePackedKeyValue, encodeSession, decodeSession } from './record-codec.js';
export type { PackedKeyValue } from './record-codec.js';
export { LoadedKeys } from './loaded-keys.js';
export { validateCommand, validateRangeOp } from './validate-command.js';
export type { CommandLimits } from './validate-command.js';
export {
  checkClusterLimits,
  clusterLimitNames,
  clusterLimitsCeiling,
  clusterLimitsOf,
  clusterLimitsRecordId,
  defaultClusterLimits,
  defaultLeaseLimits,
  defaultSessionTtlMs,
  describeLimitChanges,
} from './cluster-limits.js';
export { checkLeaseId, leaseIdMax, leaseRecordPrefix } from './lease-table.js';
export type { LeaseInfo } from './lease-table.js';
export { clusterCommandFormat, decodeClusterCommand, encodeClusterCommand } from './cluster-command-codec.js';
export type { ClusterCommand, SetClusterLimitsCommand } from './cluster-command-codec.js';
export { decodeLogCommand } from './log-command.js';
export type { LogCommand } from './log-command.js';
export { prefixEnd } from './key-range.js';
export { compareBytes, fromBinaryString, toBinaryString } from './binary-key.js';
export { packRecord, PackedRecord, unpackRecord } from './packed-record.js';
export { clientIdBytesMax, clockStepMsMax, savedResultBytesMax, sessionResponsesMax, sessionsExpiredPerApplyMax } from './session-limits.js';
export { compareRangeKeysMax, txnNestingDepthMax } from './txn-limits.js';
export { allows, applyAuthCommand, authLimits, authRecordId, emptyAuthState, isRoot, rootRole, rootUser } from './auth-state.js';
export type { Access, AuthCommand, AuthRole, AuthState, AuthUser, PasswordHash, Permission } from './auth-state.js';
export type { AuthClusterCommand } from './cluster-command-codec.js';
export { alarmLimits, alarmRecordId, alarmTypes, applyAlarmCommand, emptyAlarmState, hasAlarm } from './alarm-state.js';
export type { Alarm, AlarmCommand, AlarmState, AlarmType } from './alarm-state.js';
export type { AlarmClusterCommand, MemberUpdateClusterCommand } from './cluster-command-codec.js';
export { memberUpdateLimits } from './member-update.js';
export type { MemberUpdateCommand } from './member-update.js';
export { digestLimits, DigestCheckpoints, KeySpaceDigest, stateDigest } from './state-digest.js';
export type { DigestCheckpoint } from './state-digest.js';
