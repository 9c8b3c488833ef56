/**
 * Leases (etcd's lessor, the replicated half): a lease has an id, a granted TTL in seconds and the
 * set of keys attached to it (`Put{lease}`). The state machine holds no deadline: time is the
 * leader's business (server/driver/lease-keeper.ts), which proposes a `leaseRevoke` through the
 * log when a lease's deadline passes, so every replica deletes the same keys at the same revision.
 *
 * Stored form: one record per lease in the session keyspace under a reserved id
 * (`leaseRecordPrefix` + 16 hex digits of the id, so the stored order is the numeric order), like
 * the cluster limits record: every path that carries sessions (LevelDB, snapshots, backups,
 * restore) carries the leases with no second copy. A key's attachment is stored with the key
 * (`KeyValue.lease`), and the attached sets are rebuilt from the keys when an image is loaded.
 */
import { InvalidArgumentError } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { Fnv1a64 } from './state-hash.js';
import type { SessionRecord } from './types.js';

/** One live lease. `keys` holds binary-string keys (binary-key.ts). */
export interface Lease {
  readonly id: number;
  /** The granted TTL in seconds (after raising it to `leaseTtlSMin`). */
  readonly ttlS: number;
  readonly keys: Set<string>;
}

/** What a lease looks like from outside the state machine (no shared mutable set). */
export interface LeaseInfo {
  readonly id: number;
  readonly ttlS: number;
  readonly keyCount: number;
}

/** The largest lease id: ids are etcd's int64, limited here to what a JS number holds exactly. */
export const leaseIdMax = Number.MAX_SAFE_INTEGER;

/** The reserved session-keyspace prefix of lease records (sorts after the limits record, before retired sessions). */
export const leaseRecordPrefix = '\u0000raftkv/lease/';

/** The format version of a lease record body. */
const leaseRecordFormat = 1;

const leaseTag = new Uint8Array([5]);

/** Checks a lease id: a positive safe integer. Throws `InvalidArgumentError`. */
export function checkLeaseId(id: unknown, field: string): void {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    throw new InvalidArgumentError(field, `must be a lease id, an integer in [1, ${leaseIdMax}], got ${String(id)}`);
  }
}

/** The live leases, by id. Not thread-safe; the state machine owns it. */
export class LeaseTable {
  private readonly leases = new Map<number, Lease>();

  get size(): number {
    return this.leases.size;
  }

  get(id: number): Lease | undefined {
    return this.leases.get(id);
  }

  /** Adds a new lease (the id must be free). */
  add(id: number, ttlS: number): Lease {
    if (this.leases.has(id)) throw new Error(`lease ${id} exists`);
    const lease: Lease = { id, ttlS, keys: new Set() };
    this.leases.set(id, lease);
    return lease;
  }

  delete(id: number): void {
    this.leases.delete(id);
  }

  /**
   * The id a grant without one gets: the entry's index if free, else the next free id above it.
   * Deterministic (every replica picks the same), and unique while the lease lives.
   */
  freeId(index: number): number {
    let id = Math.max(1, index);
    while (this.leases.has(id)) id++;
    return id;
  }

  /** Moves `key` from lease `from` to lease `to` (either may be undefined: no lease). */
  reattach(key: string, from: number | undefined, to: number | undefined): void {
    if (from === to) return;
    if (from !== undefined) this.leases.get(from)?.keys.delete(key);
    if (to !== undefined) {
      const lease = this.leases.get(to);
      if (lease === undefined) throw new Error(`key attached to lease ${to}, which does not exist`);
      lease.keys.add(key);
    }
  }

  /** Every lease, in id order (a copy: safe to iterate while applying). */
  infos(): LeaseInfo[] {
    return [...this.leases.values()].sort((a, b) => a.id - b.id).map((l) => ({ id: l.id, ttlS: l.ttlS, keyCount: l.keys.size }));
  }

  /** The lease records, in stored order. */
  records(): SessionRecord[] {
    return this.infos().map((l) => leaseRecord(l.id, l.ttlS));
  }

  /** Adds the leases to a state fingerprint, in id order. */
  hashInto(hash: Fnv1a64): void {
    for (const lease of this.infos()) hash.raw(leaseTag).uint(lease.id).uint(lease.ttlS).uint(lease.keyCount);
  }
}

/** The stored record id of lease `id`. */
export function leaseRecordId(id: number): string {
  return leaseRecordPrefix + id.toString(16).padStart(16, '0');
}

/** The session-keyspace record that stores a lease (its keys are stored with the keys). */
export function leaseRecord(id: number, ttlS: number): SessionRecord {
  const w = new ByteWriter(24);
  w.u8(leaseRecordFormat);
  w.varint(id, 'id');
  w.varint(ttlS, 'ttlS');
  return { clientId: leaseRecordId(id), ackSeq: 0, lastSeenMs: 0, responses: [{ seq: 1, result: w.finish() }] };
}

/** Reads a lease record back; throws `InvalidArgumentError` if it is malformed. */
export function decodeLeaseRecord(record: SessionRecord): { id: number; ttlS: number } {
  const body = record.responses.length === 1 ? record.responses[0] : undefined;
  if (!record.clientId.startsWith(leaseRecordPrefix) || body === undefined || body.seq !== 1) {
    throw new InvalidArgumentError('lease', 'the reserved record does not have the lease shape');
  }
  const r = new ByteReader(body.result, 'lease');
  const format = r.u8('format');
  if (format !== leaseRecordFormat) throw r.error(`unsupported format version ${format}`);
  const id = r.varint('id');
  const ttlS = r.varint('ttlS');
  r.end();
  checkLeaseId(id, 'lease.id');
  if (record.clientId !== leaseRecordId(id)) throw r.error(`record ${JSON.stringify(record.clientId)} holds lease ${id}`);
  if (ttlS < 1) throw r.error(`ttlS must be at least 1, got ${ttlS}`);
  return { id, ttlS };
}
