/**
 * The exit codes scripts can rely on, and the one line every expected failure prints.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success |
 * | 1 | not found: `get` of a missing key, `cas` or `txn` whose guard failed |
 * | 2 | usage or invalid argument (bad flag, bad key, value too large, bad JSON) |
 * | 3 | unavailable: no leader, no quorum, node unreachable, deadline exceeded, outcome unknown, overloaded |
 * | 4 | any other failure |
 * | 5 | not authenticated: auth is on and no credentials were given, or they were refused (wrong password, expired token, unknown certificate user) |
 * | 6 | permission denied: the user is signed in but its roles do not allow the call |
 *
 * 5 and 6 were added after 0 to 4 (which keep their meaning): before, both fell under 4.
 */
import { CommanderError } from 'commander';
import { RaftkvError } from '../util/index.js';
import type { ErrorCode } from '../util/index.js';

/** Exit codes scripts can rely on. */
export const ExitCode = {
  ok: 0,
  notFound: 1,
  usage: 2,
  unavailable: 3,
  failed: 4,
  unauthenticated: 5,
  permissionDenied: 6,
} as const;

/** A failure the CLI reports with a chosen exit code (for example "not found"). */
export class CliFailure extends Error {
  constructor(
    message: string,
    /** The process exit code. */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const unavailableCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNAVAILABLE', 'NOT_LEADER', 'DEADLINE_EXCEEDED', 'OUTCOME_UNKNOWN', 'OVERLOADED', 'PROPOSAL_DROPPED']);

/** The exit code for an error that ended a command. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CliFailure) return e.exitCode;
  if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  if (e instanceof RaftkvError) {
    if (e.code === 'INVALID_ARGUMENT') return ExitCode.usage;
    if (e.code === 'NOT_FOUND') return ExitCode.notFound;
    if (e.code === 'UNAUTHENTICATED') return ExitCode.unauthenticated;
    if (e.code === 'PERMISSION_DENIED') return ExitCode.permissionDenied;
    if (unavailableCodes.has(e.code)) return ExitCode.unavailable;
  }
  return ExitCode.failed;
}

/** The single stderr line for an error: `raftkv: <message>` (with the code for typed errors), no stack. */
export function errorLine(e: unknown): string {
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  if (e instanceof RaftkvError && e.code === 'UNAUTHENTICATED') return `raftkv: ${unauthenticatedMessage(message)} [${e.code}]`;
  if (e instanceof RaftkvError) return `raftkv: ${message} [${e.code}]`;
  return `raftkv: ${message}`;
}

/** The CLI's hint after the node's reason: how this command signs in. */
const signInHint = 'pass --user <name>[:<password>] (or RAFTKV_USER and RAFTKV_PASSWORD), or --cert and --key of a client certificate that names a user';

/**
 * The node's UNAUTHENTICATED reason said the CLI's way: "not logged in" when nothing was sent,
 * "not logged in / token refused" with the node's reason otherwise, and how to sign in. The
 * node's text is written for every client (it names the Authenticate RPC and metadata); the CLI
 * user needs its own flags.
 */
function unauthenticatedMessage(nodeMessage: string): string {
  if (/^authentication required\b/.test(nodeMessage)) return `not logged in: the cluster has authentication enabled; ${signInHint}`;
  const reason = nodeMessage.replace(/^authentication failed: /, '');
  return `not logged in (${reason}): ${signInHint}`;
}
