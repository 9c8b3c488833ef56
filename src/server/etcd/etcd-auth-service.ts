/**
 * `etcdserverpb.Auth` on raftkv's users and roles (auth/auth-service.ts): each call becomes the
 * raftkv.v1.Auth call, so passwords, tokens, root-only administration and replication are
 * raftkv's. Changes sent to a follower are passed on to the leader (etcd-leader-proxy.ts). The token Authenticate returns is a raftkv token; etcd clients send it back in the
 * `token` metadata, which raftkv reads as `authorization` (etcd-call.ts).
 *
 * raftkv's roles grant READ or READWRITE on key prefixes, so an etcd permission maps only when
 * its range is a prefix (range_end = the prefix's end; key "" or "\0" with range_end "\0" = every
 * key) and its type is READ or READWRITE; anything else answers UNIMPLEMENTED saying why.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type * as M from '../../api/index.js';
import { PermissionType } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdAuthService } from '../../api/etcd/index.js';
import { compareBytes, prefixEnd } from '../../kv/index.js';
import { etcdUnary, raftkvCall } from './etcd-call.js';
import type { EtcdCallContext, EtcdHandler } from './etcd-call.js';
import { etcdHeader, etcdHeaderOf } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors, etcdUnimplemented } from './etcd-errors.js';
import type { EtcdLeaderProxy } from './etcd-leader-proxy.js';

/** `authpb.Permission.Type`, as numbered in auth.proto. */
const EtcdPermType = { READ: 0, WRITE: 1, READWRITE: 2 } as const;
const empty = new Uint8Array(0);

/** The raftkv prefix of an etcd permission range, or UNIMPLEMENTED when it is not a prefix. */
export function prefixOfRange(key: Uint8Array, rangeEnd: Uint8Array): Uint8Array {
  const allKeys = rangeEnd.length === 1 && rangeEnd[0] === 0 && (key.length === 0 || (key.length === 1 && key[0] === 0));
  if (allKeys) return empty;
  if (rangeEnd.length > 0 && key.length > 0 && compareBytes(prefixEnd(key), rangeEnd) === 0) return key;
  throw etcdUnimplemented('raftkv roles grant permissions on key prefixes only: give range_end as the prefix end of key (etcdctl role grant-permission --prefix)');
}

/** Builds the `etcdserverpb.Auth` implementation. */
export function etcdAuthImplementation(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy): UntypedServiceImplementation {
  const call = <Res>(method: string, request: unknown, c: EtcdCallContext, deadlineMs: number): Promise<Res> => raftkvCall<Res>(deps.raftkvAuth, method, request, c, deadlineMs);
  /** A change whose etcd answer is just a header. */
  const change =
    (method: string, request: (req: EtcdMsg) => unknown): EtcdHandler =>
    async (req, deadlineMs, c) => {
      const res = await call<M.AuthChangeResponseMsg>(method, request(req), c, deadlineMs);
      return { header: etcdHeaderOf(deps, res.header) };
    };
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');

  const users = async (c: EtcdCallContext, deadlineMs: number): Promise<M.AuthUserMsg[]> => (await call<M.AuthUserListResponseMsg>('UserList', {}, c, deadlineMs)).users;
  const roles = async (c: EtcdCallContext, deadlineMs: number): Promise<M.AuthRoleMsg[]> => (await call<M.AuthRoleListResponseMsg>('RoleList', {}, c, deadlineMs)).roles;

  const handlers: Record<string, EtcdHandler> = {
    AuthEnable: change('AuthEnable', () => ({})),
    AuthDisable: change('AuthDisable', () => ({})),
    Authenticate: async (req, deadlineMs, c) => {
      if (str(req.name) === '') throw etcdErrors.userEmpty();
      const res = await call<M.AuthenticateResponseMsg>('Authenticate', { name: str(req.name), password: str(req.password) }, c, deadlineMs);
      return { header: etcdHeaderOf(deps, res.header), token: res.token };
    },
    UserAdd: change('UserAdd', (req) => ({ name: str(req.name), password: str(req.password), noPassword: (req.options as EtcdMsg | undefined)?.noPassword === true })),
    UserDelete: change('UserDelete', (req) => ({ name: str(req.name) })),
    UserChangePassword: change('UserChangePassword', (req) => ({ name: str(req.name), password: str(req.password) })),
    UserGrantRole: change('UserGrantRole', (req) => ({ user: str(req.user), role: str(req.role) })),
    UserRevokeRole: change('UserRevokeRole', (req) => ({ user: str(req.name), role: str(req.role) })),
    RoleAdd: change('RoleAdd', (req) => ({ name: str(req.name) })),
    RoleDelete: change('RoleDelete', (req) => ({ name: str(req.role) })),
    RoleGrantPermission: async (req, deadlineMs, c) => {
      const perm = (req.perm as EtcdMsg | undefined) ?? {};
      const type = Number(perm.permType ?? 0);
      if (type === EtcdPermType.WRITE) throw etcdUnimplemented('raftkv roles grant READ or READWRITE: a write-only permission does not exist');
      const prefix = prefixOfRange((perm.key as Uint8Array | undefined) ?? empty, (perm.rangeEnd as Uint8Array | undefined) ?? empty);
      return change('RoleGrantPermission', () => ({ name: str(req.name), perm: { permType: type === EtcdPermType.READ ? PermissionType.READ : PermissionType.READWRITE, prefix } }))(req, deadlineMs, c);
    },
    RoleRevokePermission: async (req, deadlineMs, c) => {
      const prefix = prefixOfRange((req.key as Uint8Array | undefined) ?? empty, (req.rangeEnd as Uint8Array | undefined) ?? empty);
      return change('RoleRevokePermission', () => ({ role: str(req.role), prefix }))(req, deadlineMs, c);
    },
    UserList: async (_req, deadlineMs, c) => ({ header: etcdHeader(deps), users: (await users(c, deadlineMs)).map((u) => u.name) }),
    UserGet: async (req, deadlineMs, c) => {
      const user = (await users(c, deadlineMs)).find((u) => u.name === str(req.name));
      if (user === undefined) throw etcdErrors.userNotFound();
      return { header: etcdHeader(deps), roles: user.roles };
    },
    RoleList: async (_req, deadlineMs, c) => ({ header: etcdHeader(deps), roles: (await roles(c, deadlineMs)).map((r) => r.name) }),
    RoleGet: async (req, deadlineMs, c) => {
      const role = (await roles(c, deadlineMs)).find((r) => r.name === str(req.role));
      if (role === undefined) throw etcdErrors.roleNotFound();
      return {
        header: etcdHeader(deps),
        perm: role.permissions.map((p) => {
          const prefix = p.prefix ?? empty;
          return {
            permType: p.permType === PermissionType.READWRITE ? EtcdPermType.READWRITE : EtcdPermType.READ,
            key: prefix.length === 0 ? new Uint8Array([0]) : prefix,
            rangeEnd: prefix.length === 0 ? new Uint8Array([0]) : prefixEnd(prefix),
          };
        }),
      };
    },
  };
  const impl: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    // Changes go through the log, from the leader; sign-in and reads are answered by any node.
    const change = method !== 'Authenticate' && !method.endsWith('List') && !method.endsWith('Get');
    const definition = etcdAuthService[method as keyof typeof etcdAuthService];
    impl[method] = etcdUnary(method, change, change ? proxy.onLeader(definition, handler) : handler, deps);
  }
  return impl;
}
