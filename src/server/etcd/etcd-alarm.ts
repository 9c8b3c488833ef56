/**
 * `etcdserverpb.Maintenance/Alarm` on raftkv's replicated alarm list (src/kv/alarm-state.ts):
 *
 * - GET: every member's alarms (the hook `activeAlarms`, etcd-deps.ts), of the requested type
 *   (NONE: every type), as etcd's `alarmStore.Get` answers; the member id is ignored, as in etcd;
 * - ACTIVATE: raises the alarm through the log, on the leader; NONE is a no-op with an empty
 *   answer (etcd's applier skips it); member 0 raises it for every member ("if memberID is 0,
 *   the alarm request covers all members", rpc.proto); an id that is not a member answers
 *   etcd's "member not found" (etcd stores any id; raftkv's alarms belong to members). The
 *   answer lists the alarms now held, as etcd's does (also when one was held already);
 * - DEACTIVATE: raftkv's one disarm path (`disarmAlarms`, the same as `raftkv alarm disarm`),
 *   run on the leader; member 0 covers every member and NONE every type, so a raw DEACTIVATE
 *   {0, NONE} clears what etcdctl's `alarm disarm` clears (clientv3 expands that request into
 *   one per listed alarm). The answer lists the alarms that were held and matched.
 *
 * Changes need the root role once auth is on; a follower passes them on to the leader
 * (etcd-leader-proxy.ts), since only the leader proposes.
 */
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdMaintenanceService } from '../../api/etcd/index.js';
import type { AlarmType as RaftkvAlarmType } from '../../kv/index.js';
import type { NodeId } from '../../util/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import { disarmAlarms } from '../alarms/alarm-service.js';
import { errorOfResult } from '../driver/results.js';
import { authorizedCall } from './etcd-call.js';
import type { EtcdHandler } from './etcd-call.js';
import { etcdHeader } from './etcd-deps.js';
import type { EtcdAlarm, EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors } from './etcd-errors.js';
import type { EtcdLeaderProxy } from './etcd-leader-proxy.js';
import { memberIdOf, nodeIdOfMember, u64 } from './etcd-ids.js';

/** `AlarmType` and `AlarmRequest.AlarmAction`, as numbered in rpc.proto. */
const etcdAlarmNumbers: Record<EtcdAlarm, number> = { NOSPACE: 1, CORRUPT: 2 };
const AlarmAction = { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } as const;

/** The reason recorded with an alarm raised by hand. */
const activatedReason = 'raised by etcd Alarm ACTIVATE';

/** The requested alarm type: null for NONE (0). */
function alarmOfRequest(value: unknown): EtcdAlarm | null {
  const n = Number(value ?? 0);
  if (n === 0) return null;
  const alarm = (Object.keys(etcdAlarmNumbers) as EtcdAlarm[]).find((a) => etcdAlarmNumbers[a] === n);
  if (alarm === undefined) throw new InvalidArgumentError('alarm', `unknown alarm type ${n} (NONE = 0, NOSPACE = 1, CORRUPT = 2)`);
  return alarm;
}

function raftkvType(alarm: EtcdAlarm): RaftkvAlarmType {
  switch (alarm) {
    case 'NOSPACE':
      return 'nospace';
    case 'CORRUPT':
      return 'corrupt';
  }
}

function wire(member: string, alarm: EtcdAlarm): EtcdMsg {
  return { memberID: memberIdOf(member).toString(), alarm: etcdAlarmNumbers[alarm] };
}

/** The `Alarm` handler (GET here; ACTIVATE and DEACTIVATE on the leader). */
export function etcdAlarmHandler(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy): EtcdHandler {
  const { driver, options, authorizer } = deps;
  const members = (): NodeId[] => [...driver.confState.voters, ...driver.confState.learners];
  /** The members a request names: every member for id 0. */
  const named = (memberId: unknown, known: readonly string[]): string[] | null => {
    const id = u64(memberId);
    if (id === 0n) return [...known];
    const node = nodeIdOfMember(id, known);
    return node === null ? null : [node];
  };
  const held = (alarm: EtcdAlarm | null): { member: string; alarm: EtcdAlarm }[] => deps.activeAlarms().filter((a) => alarm === null || a.alarm === alarm);

  const activate = async (memberId: unknown, alarm: EtcdAlarm): Promise<EtcdMsg[]> => {
    const targets = named(memberId, members());
    if (targets === null) throw etcdErrors.memberNotFound();
    for (const member of targets) {
      const result = await driver.proposeClusterCommand({ type: 'alarm', alarm: { action: 'raise', member, type: raftkvType(alarm), reason: activatedReason } }, 'etcd alarm activate');
      if (result.type === 'error') throw errorOfResult(result);
    }
    return targets.map((m) => wire(m, alarm));
  };
  const deactivate = async (memberId: unknown, alarm: EtcdAlarm | null): Promise<EtcdMsg[]> => {
    const before = held(alarm);
    // A member that left may still hold an alarm: it can be named too.
    const targets = named(memberId, [...new Set([...members(), ...before.map((a) => a.member)])]);
    if (targets === null) return [];
    const all = u64(memberId) === 0n;
    await disarmAlarms(driver, options.id, all ? '' : (targets[0] ?? ''), alarm === null ? null : raftkvType(alarm));
    return before.filter((a) => all || targets.includes(a.member)).map((a) => wire(a.member, a.alarm));
  };

  const change = proxy.onLeader(etcdMaintenanceService.Alarm, async (req, _deadlineMs, call) => {
    const action = Number(req.action ?? 0);
    const alarm = alarmOfRequest(req.alarm);
    authorizer.requireRoot(authorizedCall(call), action === AlarmAction.ACTIVATE ? 'activating alarms' : 'deactivating alarms');
    let alarms: EtcdMsg[];
    if (action === AlarmAction.ACTIVATE) alarms = alarm === null ? [] : await activate(req.memberID, alarm);
    else alarms = await deactivate(req.memberID, alarm);
    return { header: etcdHeader(deps), alarms };
  });

  return async (req, deadlineMs, call) => {
    const action = Number(req.action ?? 0);
    switch (action) {
      case AlarmAction.GET: {
        const alarm = alarmOfRequest(req.alarm);
        return { header: etcdHeader(deps), alarms: held(alarm).map((a) => wire(a.member, a.alarm)) };
      }
      case AlarmAction.ACTIVATE:
      case AlarmAction.DEACTIVATE:
        return change(req, deadlineMs, call);
      default:
        throw new InvalidArgumentError('action', `unknown alarm action ${action} (GET = 0, ACTIVATE = 1, DEACTIVATE = 2)`);
    }
  };
}
