/**
 * The cluster-wide limits: every limit that decides what applying an entry does (whether a write
 * is refused, what it stores, which sessions expire or are evicted, how many keys a txn range
 * returns into a saved answer). They are replicated state: they live in the state machine, travel
 * in its stored image, snapshots and backups, and change only through a committed
 * `setClusterLimits` entry, so every replica applies every entry by the same values. A node's own
 * flags are only the value it proposes when the cluster has never set them, and a per-node
 * admission check before proposing; they never change what apply does.
 *
 * Stored form: one record in the session keyspace under the reserved id `clusterLimitsRecordId`
 * (client ids starting with U+0000 are refused, so no client can collide with it). Riding there
 * means every path that carries sessions (LevelDB, the snapshot stream, backups, restore) carries
 * the limits too, with no second copy of any of them. The record body has its own format byte.
 */
import { InvalidArgumentError } from '../util/index.js';
import type { Limits } from '../util/index.js';
import { defaultLimits } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { ClusterLimits, ClusterSettings, SessionRecord } from './types.js';

export type { ClusterLimits, ClusterSettings } from './types.js';

/** The limits' names, in their fixed wire order (append only: the order is the format). */
export const clusterLimitNames = [
  'keyBytesMax',
  'valueBytesMax',
  'requestBytesMax',
  'txnOpsMax',
  'rangeKeysMax',
  'dataBytesMax',
  'sessionsMax',
  'sessionTtlMs',
  'leasesMax',
  'leaseKeysMax',
  'leaseTtlSMin',
  'leaseTtlSMax',
] as const satisfies readonly (keyof ClusterLimits)[];

/**
 * How many of `clusterLimitNames` the first formats carried: records and `setClusterLimits` entries
 * written before leases existed hold only these, and the lease limits read back as their defaults.
 */
export const preLeaseLimitCount = 8;

/** The lease limits a cluster has until it sets them (etcd's maximum TTL, 9e9 s, as the ceiling). */
export const defaultLeaseLimits: Pick<ClusterLimits, 'leasesMax' | 'leaseKeysMax' | 'leaseTtlSMin' | 'leaseTtlSMax'> = Object.freeze({
  leasesMax: 10_000,
  leaseKeysMax: 10_000,
  leaseTtlSMin: 2,
  leaseTtlSMax: 9_000_000_000,
});

/** The default session TTL (10 minutes), the `--session-ttl-ms` default. */
export const defaultSessionTtlMs = 10 * 60 * 1000;

/**
 * The limits of a state that never had a `setClusterLimits` entry applied: the same on every
 * replica whatever its flags (a constant of the code), so that apply is deterministic before the
 * first leader has recorded its flags.
 */
export const defaultClusterLimits: ClusterLimits = Object.freeze(clusterLimitsOf(defaultLimits, defaultSessionTtlMs));

/**
 * Ceilings no cluster limit may exceed: a key and a value at their limits must still fit in one
 * state-stream frame (64 MiB) and in a Raft entry; a TTL beyond 30 days keeps sessions forever.
 */
export const clusterLimitsCeiling: ClusterLimits = Object.freeze({
  keyBytesMax: 64 * 1024,
  valueBytesMax: 16 * 1024 * 1024,
  requestBytesMax: 24 * 1024 * 1024,
  txnOpsMax: 10_000,
  rangeKeysMax: 1_000_000,
  dataBytesMax: 2 ** 50,
  sessionsMax: 10_000_000,
  sessionTtlMs: 30 * 24 * 60 * 60 * 1000,
  leasesMax: 1_000_000,
  leaseKeysMax: 1_000_000,
  leaseTtlSMin: 9_000_000_000,
  leaseTtlSMax: 9_000_000_000,
});

/**
 * The cluster-limit part of a node's limits and TTL (what a node proposes at bootstrap). Lease
 * limits absent from `limits` (a node's flags have none) take `defaultLeaseLimits`.
 */
export function clusterLimitsOf(
  limits: Omit<ClusterLimits, 'sessionTtlMs' | keyof typeof defaultLeaseLimits> & Partial<ClusterLimits> & Partial<Limits>,
  sessionTtlMs: number,
): ClusterLimits {
  return {
    keyBytesMax: limits.keyBytesMax,
    valueBytesMax: limits.valueBytesMax,
    requestBytesMax: limits.requestBytesMax,
    txnOpsMax: limits.txnOpsMax,
    rangeKeysMax: limits.rangeKeysMax,
    dataBytesMax: limits.dataBytesMax,
    sessionsMax: limits.sessionsMax,
    sessionTtlMs,
    leasesMax: limits.leasesMax ?? defaultLeaseLimits.leasesMax,
    leaseKeysMax: limits.leaseKeysMax ?? defaultLeaseLimits.leaseKeysMax,
    leaseTtlSMin: limits.leaseTtlSMin ?? defaultLeaseLimits.leaseTtlSMin,
    leaseTtlSMax: limits.leaseTtlSMax ?? defaultLeaseLimits.leaseTtlSMax,
  };
}

/**
 * Checks a set of cluster limits: each a positive safe integer at most its ceiling, and a key and
 * a value each fit in a request. Throws `InvalidArgumentError` naming the limit.
 */
export function checkClusterLimits(limits: ClusterLimits, path = 'limits'): void {
  if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError(path, 'must be an object');
  for (const name of clusterLimitNames) {
    const value: unknown = limits[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidArgumentError(`${path}.${name}`, `must be a positive integer, got ${String(value)}`);
    }
    if (value > clusterLimitsCeiling[name]) {
      throw new InvalidArgumentError(`${path}.${name}`, `is ${value}, more than its ceiling ${clusterLimitsCeiling[name]}`);
    }
  }
  for (const small of ['keyBytesMax', 'valueBytesMax'] as const) {
    if (limits.requestBytesMax < limits[small]) {
      throw new InvalidArgumentError(`${path}.requestBytesMax`, `(${limits.requestBytesMax}) must be at least ${small} (${limits[small]})`);
    }
  }
  if (limits.leaseTtlSMin > limits.leaseTtlSMax) {
    throw new InvalidArgumentError(`${path}.leaseTtlSMin`, `(${limits.leaseTtlSMin}) must be at most leaseTtlSMax (${limits.leaseTtlSMax})`);
  }
}

/** The names of the limits where `a` and `b` differ, as `name a->b` (for logs). */
export function describeLimitChanges(a: ClusterLimits, b: ClusterLimits): string[] {
  return clusterLimitNames.filter((name) => a[name] !== b[name]).map((name) => `${name} ${a[name]}->${b[name]}`);
}

/** The reserved session-keyspace id of the cluster limits record (see the top of this file). */
export const clusterLimitsRecordId = '\u0000raftkv/cluster-limits';

/** The format version of the cluster limits record body (1: without the lease limits). */
const clusterLimitsFormat = 2;

/** The session-keyspace record that stores `settings`. */
export function clusterLimitsRecord(settings: ClusterSettings): SessionRecord {
  const w = new ByteWriter(64);
  w.u8(clusterLimitsFormat);
  w.varint(settings.setIndex, 'setIndex');
  for (const name of clusterLimitNames) w.varint(settings.limits[name], name);
  return { clientId: clusterLimitsRecordId, ackSeq: 0, lastSeenMs: 0, responses: [{ seq: 1, result: w.finish() }] };
}

/** Reads the settings back from their record; throws `InvalidArgumentError` if it is malformed. */
export function decodeClusterLimitsRecord(record: SessionRecord): ClusterSettings {
  const body = record.responses.length === 1 ? record.responses[0] : undefined;
  if (record.clientId !== clusterLimitsRecordId || body === undefined || body.seq !== 1) {
    throw new InvalidArgumentError('clusterLimits', 'the reserved record does not have the cluster limits shape');
  }
  const r = new ByteReader(body.result, 'clusterLimits');
  const format = r.u8('format');
  if (format !== clusterLimitsFormat && format !== 1) throw r.error(`unsupported format version ${format}`);
  const setIndex = r.varint('setIndex');
  const limits = readClusterLimitValues(r, format === 1 ? preLeaseLimitCount : clusterLimitNames.length);
  r.end();
  checkClusterLimits(limits, 'clusterLimits');
  return { limits, setIndex };
}

/**
 * Reads the limit values of `clusterLimitNames[from, count)` in order. With `from` 0, the names
 * after them (limits added later than the record or entry was written) take their defaults
 * (names before `from` are left to the caller, who read them first).
 */
export function readClusterLimitValues(r: ByteReader, count: number, from = 0): ClusterLimits {
  const limits = { ...defaultLeaseLimits } as Record<(typeof clusterLimitNames)[number], number>;
  for (const name of clusterLimitNames.slice(from, count)) limits[name] = r.varint(name);
  return limits;
}
