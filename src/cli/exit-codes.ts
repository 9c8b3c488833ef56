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
    if (unavailableCodes.has(e.code)) return ExitCode.unavailable;
  }
  return ExitCode.failed;
}

/** The single stderr line for an error: `raftkv: <message>` (with the code for typed errors), no stack. */
export function errorLine(e: unknown): string {
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  if (e instanceof RaftkvError) return `raftkv: ${message} [${e.code}]`;
  return `raftkv: ${message}`;
}
