/**
 * The public `raftkv.v1.Auth` gRPC service: Authenticate (any node: checks the password against
 * this node's applied users, issues a token signed with the replicated token key) and user, role
 * and switch management (root only once auth is on; changes go through the log on the leader,
 * a follower answers NOT_LEADER with the leader in the trailers). Passwords are hashed here,
 * before proposing: neither a password nor a token is ever logged or put in the log.
 */
import { randomBytes } from 'node:crypto';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type * as M from '../../api/index.js';
import { PermissionType } from '../../api/index.js';
import type { AuthCommand } from '../../kv/index.js';
import { authLimits, rootRole } from '../../kv/index.js';
import { FailedPreconditionError, InvalidArgumentError, UnauthenticatedError } from '../../util/index.js';
import type { Logger } from '../../util/index.js';
import { responseHeader, unary } from '../kv-service.js';
import type { Handler, KvServiceDeps } from '../kv-service.js';
import type { Authorizer } from './authorizer.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { issueToken } from './tokens.js';

/** What the Auth service needs. */
export interface AuthServiceDeps extends KvServiceDeps {
  readonly authorizer: Authorizer;
  readonly logger: Logger;
}

/** Builds the `Auth` service implementation. */
export function authServiceImplementation(deps: AuthServiceDeps): UntypedServiceImplementation {
  const { driver, options, authorizer, logger } = deps;
  const header = (): M.ResponseHeaderMsg => responseHeader(deps);
  /** Proposes an auth change as root (or anyone while auth is off) and answers once applied. */
  const change = async (call: Parameters<Handler<unknown, unknown>>[2], what: string, command: AuthCommand | (() => Promise<AuthCommand>)): Promise<M.AuthChangeResponseMsg> => {
    authorizer.requireRoot(call, what);
    const auth = typeof command === 'function' ? await command() : command;
    const result = await driver.proposeClusterCommand({ type: 'auth', auth }, what);
    if (result.type !== 'auth') throw new FailedPreconditionError(`${what}: unexpected result ${result.type}`);
    // The name of the change only: never a password, hash or key.
    logger.info({ change: auth.type, name: 'name' in auth ? auth.name : '', index: result.setIndex }, 'auth: changed through the log');
    return { header: header(), authRevision: result.setIndex };
  };
  const name = (value: string | undefined, field: string): string => {
    if (value === undefined || value === '') throw new InvalidArgumentError(field, 'must not be empty');
    return value;
  };

  const authenticate: Handler<M.AuthenticateRequestMsg, M.AuthenticateResponseMsg> = async (req) => {
    const state = driver.kv.auth;
    if (!state.enabled) throw new FailedPreconditionError('authentication is not enabled (raftkv auth enable)');
    const user = state.users.get(name(req.name, 'name'));
    // One message for an unknown user and a wrong password, so the answer does not say which users exist.
    const refused = new UnauthenticatedError('authentication failed: wrong user name or password');
    if (user === undefined || user.password === null) throw refused;
    if (!(await verifyPassword(req.password ?? '', user.password))) throw refused;
    // The state may have changed while scrypt ran: issue by the state now (a token for a deleted user fails later anyway).
    const { token, expiresMs } = issueToken(driver.kv.auth, user, Date.now(), options.authTokenTtlMs);
    return { header: header(), token, expiresMs };
  };
  const status: Handler<object, M.AuthStatusResponseMsg> = async () => ({ header: header(), enabled: driver.kv.auth.enabled, authRevision: driver.kv.auth.setIndex });
  const userList: Handler<object, M.AuthUserListResponseMsg> = async (_req, _deadline, call) => {
    authorizer.requireRoot(call, 'UserList');
    const users = [...driver.kv.auth.users.values()].map((u) => ({ name: u.name, roles: [...u.roles], hasPassword: u.password !== null }));
    return { header: header(), users: users.sort((a, b) => (a.name < b.name ? -1 : 1)) };
  };
  const roleList: Handler<object, M.AuthRoleListResponseMsg> = async (_req, _deadline, call) => {
    authorizer.requireRoot(call, 'RoleList');
    const roles: M.AuthRoleMsg[] = [{ name: rootRole, permissions: [{ permType: PermissionType.READWRITE, prefix: new Uint8Array(0) }] }];
    for (const r of driver.kv.auth.roles.values()) {
      roles.push({ name: r.name, permissions: r.permissions.map((p) => ({ permType: p.access === 'readwrite' ? PermissionType.READWRITE : PermissionType.READ, prefix: p.prefix })) });
    }
    return { header: header(), roles };
  };
  const handlers: Record<string, Handler<never, M.AuthChangeResponseMsg>> = {
    AuthEnable: async (_req: object, _d, call) => change(call, 'AuthEnable', { type: 'authEnable', tokenKey: new Uint8Array(randomBytes(authLimits.tokenKeyBytes)) }),
    AuthDisable: async (_req: object, _d, call) => change(call, 'AuthDisable', { type: 'authDisable' }),
    UserAdd: async (req: M.AuthUserAddRequestMsg, _d, call) =>
      change(call, 'UserAdd', async () => ({ type: 'userAdd', name: name(req.name, 'name'), password: req.noPassword === true ? null : await hashPassword(req.password ?? '') })),
    UserDelete: async (req: M.AuthNameRequestMsg, _d, call) => change(call, 'UserDelete', { type: 'userDelete', name: name(req.name, 'name') }),
    UserChangePassword: async (req: M.AuthUserChangePasswordRequestMsg, _d, call) =>
      change(call, 'UserChangePassword', async () => ({ type: 'userPasswd', name: name(req.name, 'name'), password: await hashPassword(req.password ?? '') })),
    UserGrantRole: async (req: M.AuthUserRoleRequestMsg, _d, call) => change(call, 'UserGrantRole', { type: 'userGrantRole', name: name(req.user, 'user'), role: name(req.role, 'role') }),
    UserRevokeRole: async (req: M.AuthUserRoleRequestMsg, _d, call) => change(call, 'UserRevokeRole', { type: 'userRevokeRole', name: name(req.user, 'user'), role: name(req.role, 'role') }),
    RoleAdd: async (req: M.AuthNameRequestMsg, _d, call) => change(call, 'RoleAdd', { type: 'roleAdd', name: name(req.name, 'name') }),
    RoleDelete: async (req: M.AuthNameRequestMsg, _d, call) => change(call, 'RoleDelete', { type: 'roleDelete', name: name(req.name, 'name') }),
    RoleGrantPermission: async (req: M.AuthRoleGrantPermissionRequestMsg, _d, call) =>
      change(call, 'RoleGrantPermission', {
        type: 'roleGrant',
        name: name(req.name, 'name'),
        permission: { prefix: req.perm?.prefix ?? new Uint8Array(0), access: req.perm?.permType === PermissionType.READWRITE ? 'readwrite' : 'read' },
      }),
    RoleRevokePermission: async (req: M.AuthRoleRevokePermissionRequestMsg, _d, call) =>
      change(call, 'RoleRevokePermission', { type: 'roleRevoke', name: name(req.role, 'role'), prefix: req.prefix ?? new Uint8Array(0) }),
  };
  const impl: UntypedServiceImplementation = {
    Authenticate: unary('Authenticate', false, authenticate, deps),
    AuthStatus: unary('AuthStatus', false, status, deps),
    UserList: unary('UserList', false, userList, deps),
    RoleList: unary('RoleList', false, roleList, deps),
  };
  for (const [method, handler] of Object.entries(handlers)) impl[method] = unary(method, true, handler as Handler<unknown, M.AuthChangeResponseMsg>, deps);
  return impl;
}


