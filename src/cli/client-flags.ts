/**
 * The flags every client command takes (`--endpoints`, `--output`, `--timeout`, and for TLS
 * `--cacert`, `--cert`, `--key` as in etcdctl; each also a `RAFTKV_*` variable) and the client a
 * command runs with. A command's client lives for the command and is closed after it.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError as CommanderInvalidArgument, Option } from 'commander';
import type { Command } from 'commander';
import { createClient, defaultEndpoints, endpointSchemes } from '../client/index.js';
import type { ClientTlsOptions, RaftkvClient, UserCredentials } from '../client/index.js';
import { formatDurationMs, parseDurationMs } from '../util/index.js';
import { credentialsOfFlags } from './auth-flags.js';
import type { AuthFlags } from './auth-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import type { OutputFormat } from './output.js';

/** What the common flags resolve to. */
export interface ClientFlags {
  readonly endpoints: string;
  readonly output: OutputFormat;
  /** The command's deadline; undefined for a command without one (see `addClientFlags`). */
  readonly timeoutMs: number | undefined;
  /** TLS (PEM contents read from --cacert, --cert, --key), or null for plaintext. */
  readonly tls: ClientTlsOptions | null;
  /** --user / --password (auth-flags.ts), or null to call without signing in. */
  readonly credentials: UserCredentials | null;
}

/** The TLS flags as given. */
interface TlsFlags {
  readonly cacert?: string;
  readonly cert?: string;
  readonly key?: string;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliFailure(`${flag}: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, ExitCode.usage);
  }
}

/** TLS from the flags: on with any of them, or with https:// endpoints. */
export function tlsOfFlags(endpoints: string, o: TlsFlags): ClientTlsOptions | null {
  if (o.cacert === undefined && o.cert === undefined && o.key === undefined && !endpointSchemes(endpoints).https) return null;
  if ((o.cert === undefined) !== (o.key === undefined)) throw new CliFailure('--cert and --key go together', ExitCode.usage);
  return {
    ...(o.cacert === undefined ? {} : { ca: readPem(o.cacert, '--cacert') }),
    ...(o.cert === undefined ? {} : { cert: readPem(o.cert, '--cert') }),
    ...(o.key === undefined ? {} : { key: readPem(o.key, '--key') }),
  };
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
    .addOption(new Option('--endpoints <list>', 'comma-separated client addresses: host:port, http://host:port or https://host:port (TLS)').env('RAFTKV_ENDPOINTS').default(defaultEndpoints.join(',')))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).env('RAFTKV_OUTPUT').default('table'))
    .addOption(new Option('--cacert <file>', "TLS: PEM CA bundle the nodes' certificates chain to (turns TLS on)").env('RAFTKV_CACERT'))
    .addOption(new Option('--cert <file>', 'TLS: PEM client certificate, for clusters that require one').env('RAFTKV_CERT'))
    .addOption(new Option('--key <file>', 'TLS: PEM private key of --cert').env('RAFTKV_KEY'))
    .addOption(new Option('--user <name[:password]>', 'auth: sign in as this user').env('RAFTKV_USER'))
    .addOption(new Option('--password <password>', 'auth: the password of --user').env('RAFTKV_PASSWORD'));
  if (timeout === false) return command;
  const option = new Option('--timeout <duration>', `${timeout.help} (500ms, 5s, 1m30s, 1h)${timeout.defaultMs === null ? ' (default: none)' : ''}`).argParser(parseDuration).env('RAFTKV_TIMEOUT');
  return command.addOption(timeout.defaultMs === null ? option : option.default(timeout.defaultMs, formatDurationMs(timeout.defaultMs)));
}

/** The common flags of the command being run. */
export function clientFlagsOf(command: Command): ClientFlags {
  const o = command.optsWithGlobals<{ endpoints: string; output: OutputFormat; timeout?: number } & TlsFlags & AuthFlags>();
  return { endpoints: o.endpoints, output: o.output, timeoutMs: o.timeout, tls: tlsOfFlags(o.endpoints, o), credentials: credentialsOfFlags(o) };
}

/** Runs `fn` with a client for `flags`, closing it afterwards. */
export async function withClient<T>(flags: ClientFlags, fn: (kv: RaftkvClient) => Promise<T>): Promise<T> {
  const kv = createClient({ endpoints: flags.endpoints, ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }), ...(flags.tls === null ? {} : { tls: flags.tls }), ...(flags.credentials === null ? {} : { credentials: flags.credentials }) });
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}
