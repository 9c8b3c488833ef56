/**
 * TypeScript shapes of the public client API messages (proto/kv.proto, package raftkv.v1), as
 * protobufjs decodes them (camelCase fields, bytes as Uint8Array, uint64 as number or Long) and as
 * our code builds them for encoding (numbers). Only the fields we read or write are listed.
 */

/** A uint64 as protobufjs may decode it. */
export type Uint64 = number | { toNumber(): number };

/** `raftkv.v1.Consistency`. */
export const Consistency = { LINEARIZABLE: 0, STALE: 1 } as const;

export interface ResponseHeaderMsg {
  revision: Uint64;
  raftTerm: Uint64;
  nodeId: string;
  appliedIndex: Uint64;
  leaderId: string;
}

export interface KeyValueMsg {
  key: Uint8Array;
  value: Uint8Array;
  createRevision: Uint64;
  modRevision: Uint64;
  version: Uint64;
  lease?: Uint64;
}

export interface PutRequestMsg {
  key: Uint8Array;
  value: Uint8Array;
  prevKv?: boolean;
  clientId?: string;
  seq?: Uint64;
  ackSeq?: Uint64;
  /** 0 or absent: no lease. */
  lease?: Uint64;
  /** Keep the key's current value (`value` empty); the key must exist. */
  ignoreValue?: boolean;
  /** Keep the key's current lease (`lease` 0); the key must exist. */
  ignoreLease?: boolean;
}
export interface PutResponseMsg {
  header: ResponseHeaderMsg;
  prevKv?: KeyValueMsg | null;
}

export interface GetRequestMsg {
  key: Uint8Array;
  consistency?: number;
  maxStalenessMs?: Uint64;
}
export interface GetResponseMsg {
  header: ResponseHeaderMsg;
  found: boolean;
  value: Uint8Array;
  kv?: KeyValueMsg | null;
  stalenessMs: Uint64;
}

export interface DeleteRequestMsg {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prefix?: boolean;
  prevKv?: boolean;
  clientId?: string;
  seq?: Uint64;
  ackSeq?: Uint64;
}
export interface DeleteResponseMsg {
  header: ResponseHeaderMsg;
  deleted: Uint64;
  prevKvs: KeyValueMsg[];
}

export interface RangeRequestMsg {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prefix?: boolean;
  limit?: Uint64;
  keysOnly?: boolean;
  countOnly?: boolean;
  consistency?: number;
  maxStalenessMs?: Uint64;
}
export interface RangeResponseMsg {
  header: ResponseHeaderMsg;
  kvs: KeyValueMsg[];
  more: boolean;
  count: Uint64;
  stalenessMs: Uint64;
}

/** Compare targets and results, as numbered in kv.proto. */
export const CompareTarget = { VALUE: 0, VERSION: 1, MOD: 2, CREATE: 3, LEASE: 4 } as const;
export const CompareResult = { EQUAL: 0, NOT_EQUAL: 1, LESS: 2, GREATER: 3 } as const;

export interface CompareMsg {
  key: Uint8Array;
  target?: number;
  result?: number;
  value?: Uint8Array | null;
  version?: Uint64 | null;
  modRevision?: Uint64 | null;
  createRevision?: Uint64 | null;
  lease?: Uint64 | null;
  targetUnion?: string;
  rangeEnd?: Uint8Array;
}
export interface RequestOpMsg {
  requestRange?: RangeRequestMsg | null;
  requestPut?: PutRequestMsg | null;
  requestDelete?: DeleteRequestMsg | null;
  requestTxn?: TxnRequestMsg | null;
}
export interface ResponseOpMsg {
  responseRange?: RangeResponseMsg | null;
  responsePut?: PutResponseMsg | null;
  responseDelete?: DeleteResponseMsg | null;
  responseTxn?: TxnResponseMsg | null;
}
export interface TxnRequestMsg {
  compare: CompareMsg[];
  success: RequestOpMsg[];
  failure: RequestOpMsg[];
  clientId?: string;
  seq?: Uint64;
  ackSeq?: Uint64;
}
export interface TxnResponseMsg {
  header: ResponseHeaderMsg;
  succeeded: boolean;
  responses: ResponseOpMsg[];
}

export interface WatchRequestMsg {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prefix?: boolean;
  startRevision?: Uint64;
  prevKv?: boolean;
}
/** `raftkv.v1.Event.EventType`. */
export const EventType = { PUT: 0, DELETE: 1 } as const;
export interface EventMsg {
  type: number;
  kv: KeyValueMsg;
  prevKv?: KeyValueMsg | null;
}
export interface WatchResponseMsg {
  header: ResponseHeaderMsg;
  events: EventMsg[];
  compactRevision: Uint64;
  canceled: boolean;
  cancelReason: string;
}

/** `raftkv.v1.StatusResponse.Role`. */
export const RoleNumber = { follower: 0, preCandidate: 1, candidate: 2, leader: 3 } as const;
export interface StatusResponseMsg {
  header: ResponseHeaderMsg;
  nodeId: string;
  leaderId: string;
  raftTerm: Uint64;
  commitIndex: Uint64;
  appliedIndex: Uint64;
  role: number;
  raftIndex: Uint64;
  dbSizeBytes: Uint64;
  revision: Uint64;
  isLearner: boolean;
  errors: string[];
  version: string;
}
export interface MemberMsg {
  id: string;
  peerAddresses: string[];
  clientAddress: string;
  isLearner: boolean;
}
export interface MemberListResponseMsg {
  header: ResponseHeaderMsg;
  members: MemberMsg[];
}

export interface MemberAddRequestMsg {
  id: string;
  peerAddress: string;
  clientAddress?: string;
  isLearner?: boolean;
}
export interface MemberChangeResponseMsg {
  header: ResponseHeaderMsg;
  members: MemberMsg[];
}
export interface MemberUpdateRequestMsg {
  id: string;
  peerAddress: string;
  clientAddress?: string;
}
export interface MemberPromoteRequestMsg {
  id: string;
  force?: boolean;
}
export interface MemberRemoveRequestMsg {
  id: string;
  force?: boolean;
}
export interface LeaderTransferRequestMsg {
  to?: string;
}
export interface LeaderTransferResponseMsg {
  header: ResponseHeaderMsg;
  leaderId: string;
  previousLeaderId: string;
}

/** `raftkv.v1.ClusterLimits` (a 0 field in a set request keeps the current value). */
export interface ClusterLimitsMsg {
  keyBytesMax?: Uint64;
  valueBytesMax?: Uint64;
  requestBytesMax?: Uint64;
  txnOpsMax?: Uint64;
  rangeKeysMax?: Uint64;
  dataBytesMax?: Uint64;
  sessionsMax?: Uint64;
  sessionTtlMs?: Uint64;
  leasesMax?: Uint64;
  leaseKeysMax?: Uint64;
  leaseTtlSMin?: Uint64;
  leaseTtlSMax?: Uint64;
}
export interface ClusterLimitsSetRequestMsg {
  limits?: ClusterLimitsMsg | null;
}
export interface ClusterLimitsResponseMsg {
  header: ResponseHeaderMsg;
  limits: ClusterLimitsMsg;
  setIndex: Uint64;
}

export interface AlarmRequestMsg {
  /** 0 = GET, 1 = DEACTIVATE. */
  action?: number;
  memberId?: string;
  type?: string;
}
export interface AlarmMemberMsg {
  memberId: string;
  type: string;
  reason: string;
  raisedIndex: Uint64;
  local: boolean;
}
export interface AlarmResponseMsg {
  header: ResponseHeaderMsg;
  alarms: AlarmMemberMsg[];
}

export interface BackupRequestMsg {
  local?: boolean;
}
export interface BackupInfoMsg {
  formatVersion: number;
  clusterId: string;
  nodeId: string;
  revision: Uint64;
  raftIndex: Uint64;
  raftTerm: Uint64;
  createdMs: Uint64;
  keyCount: Uint64;
  sessionCount: Uint64;
  linearizable: boolean;
}
export interface BackupResponseMsg {
  data: Uint8Array;
  info?: BackupInfoMsg | null;
}

/** A uint64 field as a JavaScript number (exact below 2^53, which every raftkv counter stays under). */
export function toNumber(v: Uint64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** `raftkv.v1.Permission.Type`. */
export const PermissionType = { READ: 0, READWRITE: 1 } as const;

export interface AuthenticateRequestMsg {
  name?: string;
  password?: string;
}
export interface AuthenticateResponseMsg {
  header: ResponseHeaderMsg;
  token: string;
  expiresMs: Uint64;
}
export interface AuthUserAddRequestMsg {
  name?: string;
  password?: string;
  noPassword?: boolean;
}
export interface AuthNameRequestMsg {
  name?: string;
}
export interface AuthUserChangePasswordRequestMsg {
  name?: string;
  password?: string;
}
export interface AuthUserRoleRequestMsg {
  user?: string;
  role?: string;
}
export interface PermissionMsg {
  permType?: number;
  prefix?: Uint8Array;
}
export interface AuthRoleGrantPermissionRequestMsg {
  name?: string;
  perm?: PermissionMsg | null;
}
export interface AuthRoleRevokePermissionRequestMsg {
  role?: string;
  prefix?: Uint8Array;
}
export interface AuthChangeResponseMsg {
  header: ResponseHeaderMsg;
  authRevision: Uint64;
}
export interface AuthStatusResponseMsg {
  header: ResponseHeaderMsg;
  enabled: boolean;
  authRevision: Uint64;
}
export interface AuthUserMsg {
  name: string;
  roles: string[];
  hasPassword: boolean;
}
export interface AuthUserListResponseMsg {
  header: ResponseHeaderMsg;
  users: AuthUserMsg[];
}
export interface AuthRoleMsg {
  name: string;
  permissions: PermissionMsg[];
}
export interface AuthRoleListResponseMsg {
  header: ResponseHeaderMsg;
  roles: AuthRoleMsg[];
}

/** `raftkv.v1.Lease` messages. */
export interface LeaseGrantRequestMsg {
  ttlS?: Uint64;
  id?: Uint64;
  clientId?: string;
  seq?: Uint64;
  ackSeq?: Uint64;
}
export interface LeaseGrantResponseMsg {
  header: ResponseHeaderMsg;
  id: Uint64;
  ttlS: Uint64;
}
export interface LeaseRevokeRequestMsg {
  id?: Uint64;
  clientId?: string;
  seq?: Uint64;
  ackSeq?: Uint64;
}
export interface LeaseRevokeResponseMsg {
  header: ResponseHeaderMsg;
  deleted: Uint64;
}
export interface LeaseKeepAliveRequestMsg {
  id?: Uint64;
}
export interface LeaseKeepAliveResponseMsg {
  header: ResponseHeaderMsg;
  id: Uint64;
  ttlS: Uint64;
}
export interface LeaseTimeToLiveRequestMsg {
  id?: Uint64;
  keys?: boolean;
}
export interface LeaseTimeToLiveResponseMsg {
  header: ResponseHeaderMsg;
  id: Uint64;
  ttlS: Uint64;
  grantedTtlS: Uint64;
  keys: Uint8Array[];
  keyCount: Uint64;
}
export interface LeaseLeasesResponseMsg {
  header: ResponseHeaderMsg;
  ids: Uint64[];
}
