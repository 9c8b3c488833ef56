/**
 * `raftkv.v1.Maintenance/Alarm` (proto/kv.proto): list and disarm alarms. Listing answers from the
 * replicated alarm list (every member's alarms) plus this node's own NOSPACE while it is held
 * only locally. Disarming is split where the state lives: the leader clears the matching
 * replicated alarms through the log; a node holding a local NOSPACE alarm retries its disk at
 * once (`RaftDriver.resume`), and keeps the alarm if the disk is still not writable.
 */
import type { handleUnaryCall } from '@grpc/grpc-js';
import type * as M from '../../api/index.js';
import { alarmTypes } from '../../kv/index.js';
import type { AlarmType } from '../../kv/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import type { Authorizer } from '../auth/authorizer.js';
import { responseHeader, unary } from '../kv-service.js';
import type { KvServiceDeps } from '../kv-service.js';
import type { RaftDriver } from '../raft-driver.js';

/** The alarms this node reports (see the file comment). */
export function alarmList(driver: RaftDriver, self: string): M.AlarmMemberMsg[] {
  const list: M.AlarmMemberMsg[] = driver.kv.alarms.alarms.map((a) => ({ memberId: a.member, type: a.type, reason: a.reason, raisedIndex: a.raisedIndex, local: false }));
  const disk = driver.diskAlarm;
  if (disk !== null && !list.some((a) => a.memberId === self && a.type === 'nospace')) list.push({ memberId: self, type: 'nospace', reason: disk, raisedIndex: 0, local: true });
  return list;
}

/**
 * Disarms the alarms of `member` ('' for every member) of `type` (null for every type): this
 * node's local NOSPACE is retried now if it matches, and on the leader the matching replicated
 * alarms are cleared through the log. The one disarm path: `raftkv alarm disarm` and etcd's
 * Alarm DEACTIVATE (etcd-maintenance-service.ts) both run it.
 */
export async function disarmAlarms(driver: RaftDriver, self: string, member: string, type: AlarmType | null): Promise<void> {
  if ((member === '' || member === self) && (type === null || type === 'nospace')) await driver.resume();
  const matches = driver.kv.alarms.alarms.some((a) => (member === '' || a.member === member) && (type === null || a.type === type));
  if (matches && driver.role === 'leader') await driver.proposeClusterCommand({ type: 'alarm', alarm: { action: 'clear', member, type } }, 'alarm disarm');
}

/** The `Alarm` handler. */
export function alarmHandler(deps: Pick<KvServiceDeps, 'driver' | 'options' | 'metrics'> & { readonly authorizer: Authorizer }): handleUnaryCall<M.AlarmRequestMsg, M.AlarmResponseMsg> {
  const { driver, options, authorizer } = deps;
  return unary<M.AlarmRequestMsg, M.AlarmResponseMsg>(
    'Alarm',
    false,
    async (req, _deadlineMs, call) => {
      const action = req.action ?? 0;
      if (action !== 0 && action !== 1) throw new InvalidArgumentError('action', `unknown value ${action} (GET = 0, DEACTIVATE = 1)`);
      authorizer.requireRoot(call, action === 1 ? 'disarming alarms' : 'listing alarms');
      if (action === 1) await disarmAlarms(driver, options.id, req.memberId ?? '', alarmTypeOf(req.type ?? ''));
      return { header: responseHeader(deps), alarms: alarmList(driver, options.id) };
    },
    deps,
  );
}

function alarmTypeOf(text: string): AlarmType | null {
  if (text === '') return null;
  const type = alarmTypes.find((t) => t === text.toLowerCase());
  if (type === undefined) throw new InvalidArgumentError('type', `unknown alarm type ${JSON.stringify(text)} (nospace, corrupt, or empty for every type)`);
  return type;
}
