/**
 * The flags every client command takes (`--endpoints`, `--output`, `--timeout`, each also a
 * `RAFTKV_*` variable) and the client a command runs with. A command's client lives for the
 * command and is closed after it.
 */
import { InvalidArgumentError as CommanderInvalidArgument, Option } from 'commander';
import type { Command } from 'commander';
import { createClient, defaultEndpoints } from '../client/index.js';
import type { RaftkvClient } from '../client/index.js';
import { formatDurationMs, parseDurationMs } from '../util/index.js';
import type { OutputFormat } from './output.js';

/** What the common flags resolve to. */
export interface ClientFlags {
  readonly endpoints: string;
  readonly output: OutputFormat;
  /** The command's deadline; undefined for a command without one (see `addClientFlags`). */
  readonly timeoutMs: number | undefined;
}

/** Parses a Go duration (`500ms`, `5s`, `1m30s`, `1h`) or a bare number of milliseconds; at least 1ms. */
export function parseDuration(text: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch (e) {
    throw new CommanderInvalidArgument((e as Error).message.replace(/^duration: /, ''));
  }
  if (!(ms >= 1)) throw new CommanderInvalidArgument('must be at least 1ms');
  return Math.round(ms);
}

/** Parses a non-negative integer flag. */
export function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new CommanderInvalidArgument('expected a non-negative integer');
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CommanderInvalidArgument('too large');
  return n;
}

/** How a command's `--timeout` reads: its default (null: none) and what it bounds. */
export interface TimeoutFlag {
  readonly defaultMs: number | null;
  readonly help: string;
}

/** The usual `--timeout`: the deadline of the command's call, 5 s. */
export const callTimeout: TimeoutFlag = { defaultMs: 5000, help: 'deadline of the command' };

/**
 * Adds the common client flags to `command`, each with its `RAFTKV_*` variable: `--endpoints`,
 * `--output` and, unless `timeout` is false (a command that would ignore it), `--timeout`.
 */
export function addClientFlags(command: Command, timeout: TimeoutFlag | false = callTimeout): Command {
  command
    .addOption(new Option('--endpoints <list>', 'comma-separated client addresses: host:port or http://host:port').env('RAFTKV_ENDPOINTS').default(defaultEndpoints.join(',')))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).env('RAFTKV_OUTPUT').default('table'));
  if (timeout === false) return command;
  const option = new Option('--timeout <duration>', `${timeout.help} (500ms, 5s, 1m30s, 1h)${timeout.defaultMs === null ? ' (default: none)' : ''}`).argParser(parseDuration).env('RAFTKV_TIMEOUT');
  return command.addOption(timeout.defaultMs === null ? option : option.default(timeout.defaultMs, formatDurationMs(timeout.defaultMs)));
}

/** The common flags of the command being run. */
export function clientFlagsOf(command: Command): ClientFlags {
  const o = command.optsWithGlobals<{ endpoints: string; output: OutputFormat; timeout?: number }>();
  return { endpoints: o.endpoints, output: o.output, timeoutMs: o.timeout };
}

/** Runs `fn` with a client for `flags`, closing it afterwards. */
export async function withClient<T>(flags: ClientFlags, fn: (kv: RaftkvClient) => Promise<T>): Promise<T> {
  const kv = createClient({ endpoints: flags.endpoints, ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }) });
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}
