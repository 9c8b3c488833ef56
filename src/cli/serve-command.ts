/**
 * `raftkv serve`: runs one node. Every option is a flag, a `RAFTKV_*` environment variable, or a
 * key in the JSON file given by `--config` (flag > environment > file > default). The `...-ms`
 * options take Go durations (`50ms`, `1m30s`, `1h`) or a number of milliseconds.
 * SIGTERM and SIGINT shut the node down cleanly; a second signal exits at once.
 * The negative controls (`--test-*`) are hidden from `--help` and refused unless
 * RAFTKV_ENABLE_TEST_FAULTS=1; a node running with one says so loudly at start-up.
 */
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import { pino } from 'pino';
import { RaftkvNode, booleanOptionNames, checkTestFaults, envName, optionNames, optionsFromEnv, optionsFromFile, resolveNodeOptions, testFaultOptionNames, testFaultsEnvName } from '../server/index.js';
import type { RawOptions } from '../server/index.js';
import { defaultLimits } from '../util/index.js';
import type { Limits } from '../util/index.js';

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const descriptions: Record<string, string> = {
  id: 'this node\'s id (for example n1)',
  dataDir: 'data directory (default data/<id>)',
  listenClient: 'client gRPC address to bind, host:port (default 127.0.0.1:7001)',
  listenPeer: 'peer gRPC address to bind, host:port (default 127.0.0.1:7101)',
  listenHttp: 'metrics and health HTTP address to bind, host:port (default 127.0.0.1:7201)',
  advertiseClient: 'client address to tell others (default: --listen-client)',
  advertisePeer: 'peer address to tell others (default: --listen-peer)',
  initialCluster: 'members of a new cluster: id=peerHost:port,... (default: this node alone)',
  join: 'start without membership and wait to be added to an existing cluster',
  tickIntervalMs: 'Raft tick interval, a duration (default 50ms)',
  electionTicks: 'ticks before a follower campaigns (default 10)',
  heartbeatTicks: 'ticks between leader heartbeats (default 1)',
  snapshotEntries: 'applied entries between snapshots (default 10000)',
  snapshotCatchupEntries: 'entries kept behind a snapshot for slow followers (default 5000)',
  snapshotLogBytes: 'also snapshot once the applied log holds this many bytes (default 67108864)',
  snapshotCatchupBytes: 'bytes of entries kept behind a snapshot for slow followers (default 33554432)',
  sessionTtlMs: 'exactly-once client sessions expire after this long idle, a duration (default 10m)',
  requestTimeoutMs: 'deadline for requests that carry none, a duration (default 5s)',
  authTokenTtlMs: 'how long an auth token from Auth/Authenticate is valid, a duration (default 5m)',
  backupDir: 'write scheduled backups into this directory (default: off)',
  backupIntervalMs: 'time between scheduled backups, a duration (default 1h)',
  backupKeep: 'scheduled backups kept, newest first (default 24)',
  logLevel: 'log level: trace, debug, info, warn, error (default info)',
  certFile: 'PEM certificate of the client port: clients connect with TLS',
  keyFile: 'PEM private key of --cert-file',
  trustedCaFile: 'PEM CA that client certificates must chain to (with --client-cert-auth)',
  clientCertAuth: 'mutual TLS for clients: refuse clients without a certificate from --trusted-ca-file',
  peerCertFile: 'PEM certificate of this node for the peer port (SAN URI raftkv://node/<id>); peer TLS is mutual',
  peerKeyFile: 'PEM private key of --peer-cert-file',
  peerTrustedCaFile: 'PEM CA that every node\'s peer certificate chains to',
  tlsReloadIntervalMs: 'how often certificate files are read again, a valid change is used without restart (default 60000)',
};

const testFaults: readonly string[] = testFaultOptionNames;

/** What each limit bounds (src/util/limits.ts); the help adds its default. */
const limitDescriptions: Record<keyof Limits, string> = {
  keyBytesMax: 'largest key, bytes',
  valueBytesMax: 'largest value, bytes',
  requestBytesMax: 'largest client request, bytes',
  txnOpsMax: 'most operations in one transaction',
  proposalsPendingMax: 'most writes waiting to commit before new ones are refused',
  proposalBytesPendingMax: 'most bytes of writes waiting to commit before new ones are refused',
  eventLoopDelayMsMax: 'most event-loop delay (ms) at which the leader still admits a write',
  readsPendingMax: 'most linearizable reads waiting before new ones are refused',
  forwardsPendingMax: 'most client calls (writes, leader-only etcd calls) a follower has forwarded to the leader and not yet answered',
  inflightAppendsMax: 'most append messages in flight to one follower',
  appendBytesMax: 'most entry bytes in one append message',
  uncommittedBytesMax: 'most bytes of uncommitted entries on a leader',
  applyBytesMax: 'most committed bytes applied in one batch',
  snapshotChunkBytesMax: 'most bytes in one snapshot chunk',
  sessionsMax: 'most exactly-once client sessions kept',
  watchersMax: 'most concurrent watchers on the node',
  peerQueueMessagesMax: 'most messages queued for one peer',
  rangeKeysMax: 'most keys one range returns',
  dataBytesMax: 'most bytes of live keys and values (the space quota)',
};

/** The help line of an option. */
function describe(name: string): string {
  if (name in limitDescriptions) return `limit: ${limitDescriptions[name as keyof Limits]} (default ${defaultLimits[name as keyof Limits]})`;
  return descriptions[name] ?? name;
}

/** Registers `serve` on the program. */
export function registerServeCommand(program: Command): void {
  const serve = program.command('serve').description('run a raftkv node').option('--config <file>', 'JSON file of options (keys as in camelCase flag names)');
  for (const name of optionNames) {
    const hidden = testFaults.includes(name);
    const flag = booleanOptionNames.includes(name) ? `--${kebab(name)}` : `--${kebab(name)} <value>`;
    const option = new Option(flag, hidden ? `negative control for tests only (needs ${testFaultsEnvName}=1)` : `${describe(name)} [${envName(name)}]`);
    serve.addOption(hidden ? option.hideHelp() : option);
  }
  serve.action(async (flags: Record<string, string | boolean | undefined>) => {
    const file: RawOptions = flags['config'] ? optionsFromFile(JSON.parse(readFileSync(String(flags['config']), 'utf8')) as unknown, String(flags['config'])) : {};
    const fromFlags: Record<string, string | boolean> = {};
    for (const name of optionNames) {
      const v = flags[name];
      if (v !== undefined) fromFlags[name] = v;
    }
    const options = resolveNodeOptions(fromFlags, optionsFromEnv(process.env), file);
    const faults = checkTestFaults(options, process.env);
    // Every line carries the node id once, from this child's bindings; components log without it.
    const logger = pino({ level: options.logLevel }).child({ nodeId: options.id });
    if (faults.length > 0) {
      const line = `THIS NODE RUNS WITH TEST FAULTS (${faults.join(', ')}): it breaks raftkv's guarantees on purpose. Never use it for data.`;
      process.stderr.write(`\n*** WARNING: ${line} ***\n\n`);
      logger.warn({ testFaults: faults }, line);
    }
    const fatal = (e: unknown): void => {
      logger.fatal({ err: e }, 'node: fatal error, stopping');
      process.exit(1);
    };
    const node = await RaftkvNode.start(options, logger, fatal);
    let signals = 0;
    const shutdown = (signal: string): void => {
      signals += 1;
      if (signals > 1) process.exit(1);
      logger.info({ signal }, 'node: signal received');
      node.stop().then(
        () => process.exit(0),
        (e: unknown) => fatal(e),
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}
