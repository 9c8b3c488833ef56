// Proves the CLI's exit code and stderr line for each typed failure: the two auth failures have
// their own codes (5 not signed in, 6 not allowed), distinct from each other and from 4.
import { describe, expect, it } from 'vitest';
import { CompactedError, InvalidArgumentError, NotFoundError, PermissionDeniedError, UnauthenticatedError, UnavailableError } from '../util/index.js';
import { CliFailure, ExitCode, errorLine, exitCodeOf } from './exit-codes.js';

describe('exitCodeOf', () => {
  it('keeps 0 to 4 and gives UNAUTHENTICATED 5 and PERMISSION_DENIED 6', () => {
    expect(ExitCode).toEqual({ ok: 0, notFound: 1, usage: 2, unavailable: 3, failed: 4, unauthenticated: 5, permissionDenied: 6 });
    expect(exitCodeOf(new NotFoundError('x'))).toBe(1);
    expect(exitCodeOf(new InvalidArgumentError('key', 'must not be empty'))).toBe(2);
    expect(exitCodeOf(new UnavailableError('no leader'))).toBe(3);
    expect(exitCodeOf(new CompactedError('compacted'))).toBe(4);
    expect(exitCodeOf(new Error('plain'))).toBe(4);
    expect(exitCodeOf(new UnauthenticatedError('authentication required: auth is enabled'))).toBe(5);
    expect(exitCodeOf(new UnauthenticatedError('authentication failed: the token has expired: authenticate again', true))).toBe(5);
    expect(exitCodeOf(new PermissionDeniedError('permission denied: user "a" may not write key "k"'))).toBe(6);
    expect(exitCodeOf(new CliFailure('chosen', 1))).toBe(1);
  });
});

describe('errorLine', () => {
  it('says "not logged in" and how to sign in, with the node\'s reason when credentials were refused', () => {
    expect(errorLine(new UnauthenticatedError('authentication required: auth is enabled; send a token from Auth/Authenticate'))).toBe(
      'raftkv: not logged in: the cluster has authentication enabled; pass --user <name>[:<password>] (or RAFTKV_USER and RAFTKV_PASSWORD), or --cert and --key of a client certificate that names a user [UNAUTHENTICATED]',
    );
    expect(errorLine(new UnauthenticatedError('authentication failed: the token has expired: authenticate again', true))).toMatch(
      /^raftkv: not logged in \(the token has expired: authenticate again\): pass --user <name>.* \[UNAUTHENTICATED\]$/,
    );
    expect(errorLine(new UnauthenticatedError('authentication failed: the client certificate names "bob", which is not a user'))).toMatch(/^raftkv: not logged in \(the client certificate names "bob", which is not a user\)/);
  });

  it('keeps the node\'s permission message, which names the user and the key', () => {
    expect(errorLine(new PermissionDeniedError('permission denied: user "alice" may not write key "other/x"'))).toBe('raftkv: permission denied: user "alice" may not write key "other/x" [PERMISSION_DENIED]');
  });
});
