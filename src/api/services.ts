/**
 * gRPC service definitions for the public client API, with binary protobuf (de)serialisers built
 * directly on protobufjs types: no JSON and no intermediate plain-object conversion on the hot
 * path. The server (`server/`) and the client library (`client/`) share these definitions, so the
 * two ends can never disagree on a method path or a codec.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type * as M from './messages.js';
import { loadProtoRoot, resolveProtoFile } from './proto-files.js';
import { decodeRequest } from './request-validation.js';

/** The loaded `proto/kv.proto`. */
export const apiRoot: protobuf.Root = loadProtoRoot(resolveProtoFile('kv.proto'));

function method<Req, Res>(service: string, name: string, req: string, res: string, responseStream = false, requestStream = false): MethodDefinition<Req, Res> {
  const reqType = apiRoot.lookupType(`raftkv.v1.${req}`);
  const resType = apiRoot.lookupType(`raftkv.v1.${res}`);
  return {
    path: `/raftkv.v1.${service}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: (m: Req) => Buffer.from(reqType.encode(m as object).finish()),
    // The server's side: never throws (grpc-js would answer INTERNAL); see request-validation.ts.
    requestDeserialize: (b: Buffer) => decodeRequest<Req>(reqType, b),
    responseSerialize: (m: Res) => Buffer.from(resType.encode(m as object).finish()),
    responseDeserialize: (b: Buffer) => resType.decode(b) as unknown as Res,
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

/** `raftkv.v1.KV`. */
export const kvService = {
  Put: method<M.PutRequestMsg, M.PutResponseMsg>('KV', 'Put', 'PutRequest', 'PutResponse'),
  Get: method<M.GetRequestMsg, M.GetResponseMsg>('KV', 'Get', 'GetRequest', 'GetResponse'),
  Delete: method<M.DeleteRequestMsg, M.DeleteResponseMsg>('KV', 'Delete', 'DeleteRequest', 'DeleteResponse'),
  Range: method<M.RangeRequestMsg, M.RangeResponseMsg>('KV', 'Range', 'RangeRequest', 'RangeResponse'),
  Txn: method<M.TxnRequestMsg, M.TxnResponseMsg>('KV', 'Txn', 'TxnRequest', 'TxnResponse'),
  Watch: method<M.WatchRequestMsg, M.WatchResponseMsg>('KV', 'Watch', 'WatchRequest', 'WatchResponse', true),
} satisfies ServiceDefinition;

/** `raftkv.v1.Cluster`. */
export const clusterService = {
  Status: method<object, M.StatusResponseMsg>('Cluster', 'Status', 'StatusRequest', 'StatusResponse'),
  MemberList: method<object, M.MemberListResponseMsg>('Cluster', 'MemberList', 'MemberListRequest', 'MemberListResponse'),
  MemberAdd: method<M.MemberAddRequestMsg, M.MemberChangeResponseMsg>('Cluster', 'MemberAdd', 'MemberAddRequest', 'MemberAddResponse'),
  MemberPromote: method<M.MemberPromoteRequestMsg, M.MemberChangeResponseMsg>('Cluster', 'MemberPromote', 'MemberPromoteRequest', 'MemberPromoteResponse'),
  MemberUpdate: method<M.MemberUpdateRequestMsg, M.MemberChangeResponseMsg>('Cluster', 'MemberUpdate', 'MemberUpdateRequest', 'MemberUpdateResponse'),
  MemberRemove: method<M.MemberRemoveRequestMsg, M.MemberChangeResponseMsg>('Cluster', 'MemberRemove', 'MemberRemoveRequest', 'MemberRemoveResponse'),
  LeaderTransfer: method<M.LeaderTransferRequestMsg, M.LeaderTransferResponseMsg>('Cluster', 'LeaderTransfer', 'LeaderTransferRequest', 'LeaderTransferResponse'),
  ClusterLimitsGet: method<object, M.ClusterLimitsResponseMsg>('Cluster', 'ClusterLimitsGet', 'ClusterLimitsGetRequest', 'ClusterLimitsResponse'),
  ClusterLimitsSet: method<M.ClusterLimitsSetRequestMsg, M.ClusterLimitsResponseMsg>('Cluster', 'ClusterLimitsSet', 'ClusterLimitsSetRequest', 'ClusterLimitsResponse'),
} satisfies ServiceDefinition;

/** `raftkv.v1.Maintenance`. */
export const maintenanceService = {
  Backup: method<M.BackupRequestMsg, M.BackupResponseMsg>('Maintenance', 'Backup', 'BackupRequest', 'BackupResponse', true),
  Alarm: method<M.AlarmRequestMsg, M.AlarmResponseMsg>('Maintenance', 'Alarm', 'AlarmRequest', 'AlarmResponse'),
} satisfies ServiceDefinition;

/** `raftkv.v1.Auth`. */
export const authService = {
  Authenticate: method<M.AuthenticateRequestMsg, M.AuthenticateResponseMsg>('Auth', 'Authenticate', 'AuthenticateRequest', 'AuthenticateResponse'),
  AuthStatus: method<object, M.AuthStatusResponseMsg>('Auth', 'AuthStatus', 'AuthStatusRequest', 'AuthStatusResponse'),
  AuthEnable: method<object, M.AuthChangeResponseMsg>('Auth', 'AuthEnable', 'AuthEnableRequest', 'AuthChangeResponse'),
  AuthDisable: method<object, M.AuthChangeResponseMsg>('Auth', 'AuthDisable', 'AuthDisableRequest', 'AuthChangeResponse'),
  UserAdd: method<M.AuthUserAddRequestMsg, M.AuthChangeResponseMsg>('Auth', 'UserAdd', 'AuthUserAddRequest', 'AuthChangeResponse'),
  UserDelete: method<M.AuthNameRequestMsg, M.AuthChangeResponseMsg>('Auth', 'UserDelete', 'AuthUserDeleteRequest', 'AuthChangeResponse'),
  UserChangePassword: method<M.AuthUserChangePasswordRequestMsg, M.AuthChangeResponseMsg>('Auth', 'UserChangePassword', 'AuthUserChangePasswordRequest', 'AuthChangeResponse'),
  UserGrantRole: method<M.AuthUserRoleRequestMsg, M.AuthChangeResponseMsg>('Auth', 'UserGrantRole', 'AuthUserGrantRoleRequest', 'AuthChangeResponse'),
  UserRevokeRole: method<M.AuthUserRoleRequestMsg, M.AuthChangeResponseMsg>('Auth', 'UserRevokeRole', 'AuthUserRevokeRoleRequest', 'AuthChangeResponse'),
  UserList: method<object, M.AuthUserListResponseMsg>('Auth', 'UserList', 'AuthUserListRequest', 'AuthUserListResponse'),
  RoleAdd: method<M.AuthNameRequestMsg, M.AuthChangeResponseMsg>('Auth', 'RoleAdd', 'AuthRoleAddRequest', 'AuthChangeResponse'),
  RoleDelete: method<M.AuthNameRequestMsg, M.AuthChangeResponseMsg>('Auth', 'RoleDelete', 'AuthRoleDeleteRequest', 'AuthChangeResponse'),
  RoleGrantPermission: method<M.AuthRoleGrantPermissionRequestMsg, M.AuthChangeResponseMsg>('Auth', 'RoleGrantPermission', 'AuthRoleGrantPermissionRequest', 'AuthChangeResponse'),
  RoleRevokePermission: method<M.AuthRoleRevokePermissionRequestMsg, M.AuthChangeResponseMsg>('Auth', 'RoleRevokePermission', 'AuthRoleRevokePermissionRequest', 'AuthChangeResponse'),
  RoleList: method<object, M.AuthRoleListResponseMsg>('Auth', 'RoleList', 'AuthRoleListRequest', 'AuthRoleListResponse'),
} satisfies ServiceDefinition;

/** `raftkv.v1.Lease` (KeepAlive is a bidirectional stream). */
export const leaseService = {
  Grant: method<M.LeaseGrantRequestMsg, M.LeaseGrantResponseMsg>('Lease', 'Grant', 'LeaseGrantRequest', 'LeaseGrantResponse'),
  Revoke: method<M.LeaseRevokeRequestMsg, M.LeaseRevokeResponseMsg>('Lease', 'Revoke', 'LeaseRevokeRequest', 'LeaseRevokeResponse'),
  KeepAlive: method<M.LeaseKeepAliveRequestMsg, M.LeaseKeepAliveResponseMsg>('Lease', 'KeepAlive', 'LeaseKeepAliveRequest', 'LeaseKeepAliveResponse', true, true),
  TimeToLive: method<M.LeaseTimeToLiveRequestMsg, M.LeaseTimeToLiveResponseMsg>('Lease', 'TimeToLive', 'LeaseTimeToLiveRequest', 'LeaseTimeToLiveResponse'),
  Leases: method<object, M.LeaseLeasesResponseMsg>('Lease', 'Leases', 'LeaseLeasesRequest', 'LeaseLeasesResponse'),
} satisfies ServiceDefinition;
