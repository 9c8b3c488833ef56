/**
 * The node's options: every `raftkv serve` flag can also come from a `RAFTKV_*` environment variable
 * or a JSON config file (`--config`). Precedence: flag > environment > config file > default.
 * Resolution is pure (inputs in, options out) so it is easy to test.
 */
import { InvalidArgumentError, makeLimits, nodeId, parseDurationMs } from '../util/index.js';
import type { Limits, NodeId } from '../util/index.js';

/** One member of the initial cluster. */
export interface InitialMember {
  readonly id: NodeId;
  /** The member's peer (Raft) address, host:port. */
  readonly peerAddress: string;
}

/**
 * The environment variable that must be `1` for any test fault to be accepted: a negative control
 * switched on by a stray flag or variable would silently break the guarantees in production.
 */
export const testFaultsEnvName = 'RAFTKV_ENABLE_TEST_FAULTS';

/** The option names of the test faults (hidden from `--help`). */
export const testFaultOptionNames = ['testStaleLinearizableReads', 'testAckBeforeCommit', 'testSkipDuplicateCheck', 'testDivergeReplica'] as const;

/** TLS on the client port. */
export interface ClientTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA client certificates must chain to; required with `requireClientCert`. */
  readonly caFile: string | null;
  /** Mutual TLS for clients: a client without a certificate from `caFile` is refused. */
  readonly requireClientCert: boolean;
}

/** Mutual TLS on the peer port (and on this node's connections to its peers). */
export interface PeerTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** The node's TLS settings; null parts are plaintext. */
export interface NodeTlsOptions {
  readonly client: ClientTlsOptions | null;
  readonly peer: PeerTlsOptions | null;
  /** How often certificate files are read again (a changed, valid pair is used without restart). */
  readonly reloadIntervalMs: number;
}

/** Negative controls for jepsen-lite. Never set outside tests. */
export interface NodeTestFaults {
  /** Serve linearizable reads from local state without ReadIndex. */
  readonly staleLinearizableReads: boolean;
  /** Acknowledge writes as soon as they are proposed, before they commit. */
  readonly ackBeforeCommit: boolean;
  /** Apply retried writes again instead of answering from the session. */
  readonly skipDuplicateCheck: boolean;
  /** Change one key in this replica's state machine at start, without a log entry (the CORRUPT alarm's negative control). */
  readonly divergeReplica: boolean;
}

/** Everything `raftkv serve` needs. */
export interface NodeOptions {
  readonly id: NodeId;
  readonly dataDir: string;
  /** Address the client gRPC API binds, host:port. */
  readonly listenClient: string;
  /** Address the peer gRPC API binds, host:port. */
  readonly listenPeer: string;
  /** Address the metrics and health HTTP server binds, host:port. */
  readonly listenHttp: string;
  /** Client address other nodes and clients are told to use (defaults to listenClient). */
  readonly advertiseClient: string;
  /** Peer address other nodes are told to use (defaults to listenPeer). */
  readonly advertisePeer: string;
  /** The members a brand-new cluster starts with (ignored once the data dir holds a membership). */
  readonly initialCluster: readonly InitialMember[];
  /** Join an existing cluster: start with no membership and wait to be added (issue: membership). */
  readonly join: boolean;
  readonly tickIntervalMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Take a snapshot every this many applied entries. */
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot for slow followers. */
  readonly snapshotCatchupEntries: number;
  /**
   * Also take a snapshot once the applied entries still in the log hold this many data bytes: the
   * log is kept in memory (log-mirror.ts), and entries of large transactions would otherwise hold
   * up to `snapshotEntries` times the largest request.
   */
  readonly snapshotLogBytes: number;
  /** The catch-up entries kept behind a snapshot hold at most this many data bytes. */
  readonly snapshotCatchupBytes: number;
  /** Exactly-once sessions expire after this long without a write. */
  readonly sessionTtlMs: number;
  /** Default deadline for a request that carries none. */
  readonly requestTimeoutMs: number;
  /** How long an auth token (Auth/Authenticate) is valid. */
  readonly authTokenTtlMs: number;
  /** Where scheduled backups go; '' turns them off. */
  readonly backupDir: string;
  /** Time between scheduled backups. */
  readonly backupIntervalMs: number;
  /** Scheduled backups kept (the newest). */
  readonly backupKeep: number;
  readonly logLevel: string;
  readonly limits: Limits;
  readonly tls: NodeTlsOptions;
  readonly testFaults: NodeTestFaults;
}

/** Raw string values, by option name in camelCase, as given by flags, environment or file. */
export type RawOptions = Readonly<Record<string, string | number | boolean | undefined>>;

const numberOptions = [
  'tickIntervalMs',
  'electionTicks',
  'heartbeatTicks',
  'snapshotEntries',
  'snapshotCatchupEntries',
  'snapshotLogBytes',
  'snapshotCatchupBytes',
  'sessionTtlMs',
  'requestTimeoutMs',
  'authTokenTtlMs',
  'backupIntervalMs',
  'backupKeep',
  'tlsReloadIntervalMs',
] as const;

const limitNames = [
  'keyBytesMax',
  'valueBytesMax',
  'requestBytesMax',
  'txnOpsMax',
  'proposalsPendingMax',
  'proposalBytesPendingMax',
  'eventLoopDelayMsMax',
  'readsPendingMax',
  'inflightAppendsMax',
  'appendBytesMax',
  'uncommittedBytesMax',
  'applyBytesMax',
  'snapshotChunkBytesMax',
  'sessionsMax',
  'watchersMax',
  'peerQueueMessagesMax',
  'rangeKeysMax',
  'dataBytesMax',
] as const satisfies readonly (keyof Limits)[];

/** The TLS options (etcd's names): client port, then peer port. */
const tlsOptionNames = ['certFile', 'keyFile', 'trustedCaFile', 'clientCertAuth', 'peerCertFile', 'peerKeyFile', 'peerTrustedCaFile'] as const;

/** Every option name that can be set, for flags, environment and config file alike. */
export const optionNames: readonly string[] = [
  'id',
  'dataDir',
  'listenClient',
  'listenPeer',
  'listenHttp',
  'advertiseClient',
  'advertisePeer',
  'initialCluster',
  'join',
  'backupDir',
  'logLevel',
  ...tlsOptionNames,
  ...numberOptions,
  ...limitNames,
  ...testFaultOptionNames,
];

/** Options that are switches (flags without a value). */
export const booleanOptionNames: readonly string[] = ['join', 'clientCertAuth', ...testFaultOptionNames];

/** `dataDir` → `RAFTKV_DATA_DIR`. */
export function envName(option: string): string {
  return `RAFTKV_${option.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Picks the `RAFTKV_*` variables that name known options. */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>>): RawOptions {
  const out: Record<string, string> = {};
  for (const name of optionNames) {
    const value = env[envName(name)];
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

/** Checks a parsed JSON config file: an object whose keys are known options. */
export function optionsFromFile(parsed: unknown, path: string): RawOptions {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError('config', `${path} must hold a JSON object`);
  }
  for (const key of Object.keys(parsed)) {
    if (!optionNames.includes(key)) throw new InvalidArgumentError('config', `${path}: unknown option "${key}"`);
  }
  return parsed as RawOptions;
}

/** Parses `n1=127.0.0.1:7101,n2=127.0.0.1:7102`. */
export function parseInitialCluster(text: string): InitialMember[] {
  const members = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((part) => {
      const match = /^([A-Za-z0-9_.-]{1,64})=(\S+:\d{1,5})$/.exec(part);
      if (!match) throw new InvalidArgumentError('initialCluster', `"${part}" is not id=host:port`);
      return { id: nodeId(match[1] ?? ''), peerAddress: match[2] ?? '' };
    });
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length) throw new InvalidArgumentError('initialCluster', 'lists a node id twice');
  return members;
}

function toNumber(name: string, value: string | number | boolean): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(name, `must be a positive integer, got "${String(value)}"`);
  return n;
}

function toDurationMs(name: string, value: string | number | boolean): number {
  const ms = typeof value === 'number' ? value : parseDurationMs(String(value), name);
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded) || rounded < 1) throw new InvalidArgumentError(name, `must be a duration of at least 1ms, got "${String(value)}"`);
  return rounded;
}

function toBoolean(name: string, value: string | number | boolean | undefined): boolean {
  if (value === undefined || value === false || value === 'false' || value === '0' || value === '') return false;
  if (value === true || value === 'true' || value === '1') return true;
  throw new InvalidArgumentError(name, `must be true or false, got "${String(value)}"`);
}

function checkAddress(name: string, value: string): string {
  if (!/^\S+:\d{1,5}$/.test(value)) throw new InvalidArgumentError(name, `"${value}" is not host:port`);
  return value;
}

/** The TLS settings from the raw options (`pick` gives the merged value of one). */
function resolveTls(pick: (name: string) => string | number | boolean | undefined, reloadIntervalMs: number): NodeTlsOptions {
  const path = (name: string): string | null => {
    const v = pick(name);
    return v === undefined || v === '' ? null : String(v);
  };
  const certFile = path('certFile');
  const keyFile = path('keyFile');
  const trustedCaFile = path('trustedCaFile');
  const requireClientCert = toBoolean('clientCertAuth', pick('clientCertAuth'));
  if ((certFile === null) !== (keyFile === null)) throw new InvalidArgumentError(certFile === null ? 'certFile' : 'keyFile', 'client TLS needs both --cert-file and --key-file');
  if (requireClientCert && (certFile === null || trustedCaFile === null)) {
    throw new InvalidArgumentError('clientCertAuth', 'needs --cert-file, --key-file and --trusted-ca-file (the CA client certificates must chain to)');
  }
  if (trustedCaFile !== null && !requireClientCert) throw new InvalidArgumentError('trustedCaFile', 'is only used with --client-cert-auth');
  const peer = { certFile: path('peerCertFile'), keyFile: path('peerKeyFile'), caFile: path('peerTrustedCaFile') };
  const given = [peer.certFile, peer.keyFile, peer.caFile].filter((v) => v !== null).length;
  if (given !== 0 && given !== 3) {
    throw new InvalidArgumentError('peerCertFile', 'peer TLS is mutual: give all of --peer-cert-file, --peer-key-file and --peer-trusted-ca-file');
  }
  return {
    client: certFile !== null && keyFile !== null ? { certFile, keyFile, caFile: trustedCaFile, requireClientCert } : null,
    peer: peer.certFile !== null && peer.keyFile !== null && peer.caFile !== null ? { certFile: peer.certFile, keyFile: peer.keyFile, caFile: peer.caFile } : null,
    reloadIntervalMs,
  };
}

/**
 * Refuses test faults unless `RAFTKV_ENABLE_TEST_FAULTS=1` is in `env`. Returns the names of
 * the faults that are on (for the start-up warning).
 */
export function checkTestFaults(options: NodeOptions, env: Readonly<Record<string, string | undefined>>): string[] {
  const on = [
    ...(options.testFaults.staleLinearizableReads ? ['testStaleLinearizableReads'] : []),
    ...(options.testFaults.ackBeforeCommit ? ['testAckBeforeCommit'] : []),
    ...(options.testFaults.skipDuplicateCheck ? ['testSkipDuplicateCheck'] : []),
    ...(options.testFaults.divergeReplica ? ['testDivergeReplica'] : []),
  ];
  const first = on[0];
  if (first !== undefined && env[testFaultsEnvName] !== '1') {
    throw new InvalidArgumentError(first, `is a negative control that breaks raftkv's guarantees on purpose, for tests only; it is refused unless ${testFaultsEnvName}=1`);
  }
  return on;
}

/**
 * Merges option sources (earlier wins) over the defaults and checks the result.
 * Throws `InvalidArgumentError` naming the option on any bad value.
 */
export function resolveNodeOptions(...sources: RawOptions[]): NodeOptions {
  const pick = (name: string): string | number | boolean | undefined => {
    for (const s of sources) if (s[name] !== undefined) return s[name];
    return undefined;
  };
  const str = (name: string, fallback?: string): string => {
    const v = pick(name);
    if (v === undefined) {
      if (fallback === undefined) throw new InvalidArgumentError(name, `is required (flag --${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} or ${envName(name)})`);
      return fallback;
    }
    return String(v);
  };
  const num = (name: string, fallback: number): number => {
    const v = pick(name);
    if (v === undefined) return fallback;
    // `...Ms` options are durations: `1m30s`, `1h`, `250ms` or a number of milliseconds.
    return name.endsWith('Ms') ? toDurationMs(name, v) : toNumber(name, v);
  };
  const id = str('id');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidArgumentError('id', 'must be 1-64 characters of letters, digits, _ . -');
  const listenClient = checkAddress('listenClient', str('listenClient', '127.0.0.1:7001'));
  const listenPeer = checkAddress('listenPeer', str('listenPeer', '127.0.0.1:7101'));
  const limitOverrides: Partial<Record<keyof Limits, number>> = {};
  for (const name of limitNames) {
    const v = pick(name);
    if (v !== undefined) limitOverrides[name] = toNumber(name, v);
  }
  const options: NodeOptions = {
    id: nodeId(id),
    dataDir: str('dataDir', `data/${id}`),
    listenClient,
    listenPeer,
    listenHttp: checkAddress('listenHttp', str('listenHttp', '127.0.0.1:7201')),
    advertiseClient: checkAddress('advertiseClient', str('advertiseClient', listenClient)),
    advertisePeer: checkAddress('advertisePeer', str('advertisePeer', listenPeer)),
    initialCluster: parseInitialCluster(str('initialCluster', `${id}=${listenPeer}`)),
    join: toBoolean('join', pick('join')),
    tickIntervalMs: num('tickIntervalMs', 50),
    electionTicks: num('electionTicks', 10),
    heartbeatTicks: num('heartbeatTicks', 1),
    snapshotEntries: num('snapshotEntries', 10_000),
    snapshotCatchupEntries: num('snapshotCatchupEntries', 5_000),
    snapshotLogBytes: num('snapshotLogBytes', 64 * 1024 * 1024),
    snapshotCatchupBytes: num('snapshotCatchupBytes', 32 * 1024 * 1024),
    sessionTtlMs: num('sessionTtlMs', 10 * 60 * 1000),
    requestTimeoutMs: num('requestTimeoutMs', 5_000),
    authTokenTtlMs: num('authTokenTtlMs', 5 * 60 * 1000),
    backupDir: str('backupDir', ''),
    backupIntervalMs: num('backupIntervalMs', 60 * 60 * 1000),
    backupKeep: num('backupKeep', 24),
    logLevel: str('logLevel', 'info'),
    limits: makeLimits(limitOverrides),
    tls: resolveTls(pick, num('tlsReloadIntervalMs', 60_000)),
    testFaults: {
      staleLinearizableReads: toBoolean('testStaleLinearizableReads', pick('testStaleLinearizableReads')),
      ackBeforeCommit: toBoolean('testAckBeforeCommit', pick('testAckBeforeCommit')),
      skipDuplicateCheck: toBoolean('testSkipDuplicateCheck', pick('testSkipDuplicateCheck')),
      divergeReplica: toBoolean('testDivergeReplica', pick('testDivergeReplica')),
    },
  };
  if (options.snapshotCatchupBytes >= options.snapshotLogBytes) {
    // Otherwise the catch-up tail alone could keep the log at the snapshot threshold: a snapshot per apply.
    throw new InvalidArgumentError('snapshotCatchupBytes', `(${options.snapshotCatchupBytes}) must be less than snapshotLogBytes (${options.snapshotLogBytes})`);
  }
  if (options.heartbeatTicks >= options.electionTicks) {
    throw new InvalidArgumentError('heartbeatTicks', `(${options.heartbeatTicks}) must be less than electionTicks (${options.electionTicks})`);
  }
  if (!options.join && !options.initialCluster.some((m) => m.id === options.id)) {
    throw new InvalidArgumentError('initialCluster', `does not list this node's id "${id}"`);
  }
  return options;
}
