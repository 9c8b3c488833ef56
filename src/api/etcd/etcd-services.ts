/**
 * gRPC service definitions for etcd's v3 API (proto/etcd/rpc.proto, written for raftkv with
 * etcd's wire names and numbers), built on protobufjs types like raftkv.v1's (services.ts).
 *
 * Messages are handled as protobufjs decodes them: camelCase fields, bytes as Uint8Array, 64-bit
 * integers as `Long` (etcd's uint64 member ids use all 64 bits, so they cannot be numbers).
 * Decoding a request never throws (grpc-js would answer INTERNAL): a body that is not valid
 * protobuf decodes to a marker that `requireEtcdWellFormed` turns into INVALID_ARGUMENT.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { InvalidArgumentError } from '../../util/index.js';
import { findAbove, loadProtoRoot } from '../proto-files.js';

/** The loaded `proto/etcd/rpc.proto` (with kv.proto and auth.proto). */
export const etcdRoot: protobuf.Root = loadProtoRoot(findAbove('proto/etcd/rpc.proto'));

/** An etcd message as decoded or built: its fields by camelCase name. */
export type EtcdMsg = Record<string, unknown>;

const malformed: unique symbol = Symbol('raftkv.etcdMalformedRequest');

/** Throws the INVALID_ARGUMENT of a request that did not decode. */
export function requireEtcdWellFormed(request: unknown): void {
  if (typeof request === 'object' && request !== null && malformed in request) throw (request as { [malformed]: InvalidArgumentError })[malformed];
}

function decodeSafely(type: protobuf.Type, body: Uint8Array): EtcdMsg {
  try {
    return type.decode(body) as unknown as EtcdMsg;
  } catch (e) {
    return { [malformed]: new InvalidArgumentError('request', `not a valid ${type.fullName.slice(1)} protobuf body: ${e instanceof Error ? e.message : String(e)}`) } as unknown as EtcdMsg;
  }
}

function method(service: string, name: string, req: string, res: string, stream: { request?: boolean; response?: boolean } = {}): MethodDefinition<EtcdMsg, EtcdMsg> {
  const reqType = etcdRoot.lookupType(`etcdserverpb.${req}`);
  const resType = etcdRoot.lookupType(`etcdserverpb.${res}`);
  return {
    path: `/etcdserverpb.${service}/${name}`,
    requestStream: stream.request === true,
    responseStream: stream.response === true,
    requestSerialize: (m: EtcdMsg) => Buffer.from(reqType.encode(reqType.fromObject(m)).finish()),
    requestDeserialize: (b: Buffer) => decodeSafely(reqType, b),
    // fromObject: accepts the decimal strings we build uint64 ids as, and nested plain objects.
    responseSerialize: (m: EtcdMsg) => Buffer.from(resType.encode(resType.fromObject(m)).finish()),
    responseDeserialize: (b: Buffer) => resType.decode(b) as unknown as EtcdMsg,
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

/** A unary method whose request and response are `<Name>Request` and `<Name>Response`. */
function plain(service: string, name: string, prefix = ''): MethodDefinition<EtcdMsg, EtcdMsg> {
  return method(service, name, `${prefix}${name}Request`, `${prefix}${name}Response`);
}

/** `etcdserverpb.KV`. */
export const etcdKvService = {
  Range: plain('KV', 'Range'),
  Put: plain('KV', 'Put'),
  DeleteRange: plain('KV', 'DeleteRange'),
  Txn: plain('KV', 'Txn'),
  Compact: method('KV', 'Compact', 'CompactionRequest', 'CompactionResponse'),
} satisfies ServiceDefinition;

/** `etcdserverpb.Watch`. */
export const etcdWatchService = {
  Watch: method('Watch', 'Watch', 'WatchRequest', 'WatchResponse', { request: true, response: true }),
} satisfies ServiceDefinition;

/** `etcdserverpb.Lease`. */
export const etcdLeaseService = {
  LeaseGrant: plain('Lease', 'LeaseGrant'),
  LeaseRevoke: plain('Lease', 'LeaseRevoke'),
  LeaseKeepAlive: method('Lease', 'LeaseKeepAlive', 'LeaseKeepAliveRequest', 'LeaseKeepAliveResponse', { request: true, response: true }),
  LeaseTimeToLive: plain('Lease', 'LeaseTimeToLive'),
  LeaseLeases: plain('Lease', 'LeaseLeases'),
} satisfies ServiceDefinition;

/** `etcdserverpb.Cluster`. */
export const etcdClusterService = {
  MemberAdd: plain('Cluster', 'MemberAdd'),
  MemberRemove: plain('Cluster', 'MemberRemove'),
  MemberUpdate: plain('Cluster', 'MemberUpdate'),
  MemberList: plain('Cluster', 'MemberList'),
  MemberPromote: plain('Cluster', 'MemberPromote'),
} satisfies ServiceDefinition;

/** `etcdserverpb.Maintenance`. */
export const etcdMaintenanceService = {
  Alarm: plain('Maintenance', 'Alarm'),
  Status: plain('Maintenance', 'Status'),
  Defragment: plain('Maintenance', 'Defragment'),
  Hash: plain('Maintenance', 'Hash'),
  HashKV: plain('Maintenance', 'HashKV'),
  Snapshot: method('Maintenance', 'Snapshot', 'SnapshotRequest', 'SnapshotResponse', { response: true }),
  MoveLeader: plain('Maintenance', 'MoveLeader'),
} satisfies ServiceDefinition;

/** `etcdserverpb.Auth`. */
export const etcdAuthService = {
  AuthEnable: plain('Auth', 'AuthEnable'),
  AuthDisable: plain('Auth', 'AuthDisable'),
  Authenticate: plain('Auth', 'Authenticate'),
  UserAdd: plain('Auth', 'UserAdd', 'Auth'),
  UserGet: plain('Auth', 'UserGet', 'Auth'),
  UserList: plain('Auth', 'UserList', 'Auth'),
  UserDelete: plain('Auth', 'UserDelete', 'Auth'),
  UserChangePassword: plain('Auth', 'UserChangePassword', 'Auth'),
  UserGrantRole: plain('Auth', 'UserGrantRole', 'Auth'),
  UserRevokeRole: plain('Auth', 'UserRevokeRole', 'Auth'),
  RoleAdd: plain('Auth', 'RoleAdd', 'Auth'),
  RoleGet: plain('Auth', 'RoleGet', 'Auth'),
  RoleList: plain('Auth', 'RoleList', 'Auth'),
  RoleDelete: plain('Auth', 'RoleDelete', 'Auth'),
  RoleGrantPermission: plain('Auth', 'RoleGrantPermission', 'Auth'),
  RoleRevokePermission: plain('Auth', 'RoleRevokePermission', 'Auth'),
} satisfies ServiceDefinition;

/** Every etcd service, for metrics labels and registration. */
export const etcdServices = [etcdKvService, etcdWatchService, etcdLeaseService, etcdClusterService, etcdMaintenanceService, etcdAuthService] as const;
