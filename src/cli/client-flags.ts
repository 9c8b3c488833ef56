/**
 * The flags every client command takes (`--endpoints`, `--output`, `--timeout`) and the client
 * a command runs with. A command's client lives for the command and is closed after it.
 */
import { InvalidArgumentError as CommanderInvalidArgument, Option } from 'commander';
import type { Command } from 'commander';
import { createClient, defaultEndpoints } from '../client/index.js';
import type { RaftkvClient } from '../client/index.js';
import type { OutputFormat } from './output.js';

/** What the common flags resolve to. */
export interface ClientFlags {
  readonly endpoints: string;
  readonly output: OutputFormat;
  readonly timeoutMs: number;
}

/** Parses `500ms`, `5s`, `1m` or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new CommanderInvalidArgument('expected a duration such as 500ms, 5s or 1m');
  const n = Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1);
  if (!(n >= 1)) throw new CommanderInvalidArgument('must be at least 1ms');
  return Math.round(n);
}

/** Parses a non-negative integer flag. */
export function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new CommanderInvalidArgument('expected a non-negative integer');
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CommanderInvalidArgument('too large');
  return n;
}

/** Adds the common client flags to `command`. */
export function addClientFlags(command: Command): Command {
  return command
    .addOption(new Option('--endpoints <list>', 'comma-separated client addresses host:port').env('RAFTKV_ENDPOINTS').default(defaultEndpoints.join(',')))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(new Option('--timeout <duration>', 'deadline of the command (500ms, 5s, 1m)').argParser(parseDuration).default(5000, '5s'));
}

/** The common flags of the command being run. */
export function clientFlagsOf(command: Command): ClientFlags {
  const o = command.optsWithGlobals<{ endpoints: string; output: OutputFormat; timeout: number }>();
  return { endpoints: o.endpoints, output: o.output, timeoutMs: o.timeout };
}

/** Runs `fn` with a client for `flags`, closing it afterwards. */
export async function withClient<T>(flags: ClientFlags, fn: (kv: RaftkvClient) => Promise<T>): Promise<T> {
  const kv = createClient({ endpoints: flags.endpoints, timeoutMs: flags.timeoutMs });
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}
