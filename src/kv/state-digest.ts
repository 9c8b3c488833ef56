/**
 * The incremental state digest the corruption check compares (etcd's corruption check is the
 * model). `stateHash()` walks every key, which is fine for `/status` but far too slow to run on
 * the hot path of 1M keys; this digest is updated at apply, O(1) per changed key:
 *
 * - Each live key contributes FNV-1a 64 of (key, value, createRevision, modRevision, version,
 *   and its lease if attached).
 * - The key-space digest is the SUM of those contributions modulo 2^64: a put adds the new
 *   record's and subtracts the old one's, a delete subtracts. Addition is commutative, so the
 *   digest does not depend on the order keys were written, loaded from disk, or streamed in a
 *   snapshot: two replicas with the same keys have the same sum, whatever path they took.
 * - The digest of the state at an applied index mixes the sum with the revision.
 *
 * A sum of 64-bit hashes is not collision-resistant against an adversary; it detects accidental
 * divergence (a bug, a bad disk, a replica that skipped or changed a write), which is its job.
 * Pure: no clocks, no I/O.
 */
import { assert } from '../util/index.js';
import type { PackedRecord } from './packed-record.js';
import { Fnv1a64 } from './state-hash.js';

const two32 = 0x100000000;

/** A running sum of per-key hashes modulo 2^64, as two 32-bit halves. */
export class KeySpaceDigest {
  private hi = 0;
  private lo = 0;

  /** `record` was stored under `key` (a binary string); `previous`: what it replaced, if anything. */
  onSet(key: string, record: PackedRecord, previous: PackedRecord | undefined): void {
    if (previous !== undefined) this.add(recordHash(key, previous), -1);
    this.add(recordHash(key, record), 1);
  }

  /** The key `key` (a binary string), which held `previous`, was removed. */
  onDelete(key: string, previous: PackedRecord): void {
    this.add(recordHash(key, previous), -1);
  }

  /** The sum as 16 hex digits. */
  get sum(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }

  private add(h: { readonly hi: number; readonly lo: number }, sign: 1 | -1): void {
    let lo = this.lo + sign * h.lo;
    let carry = 0;
    if (lo >= two32) {
      lo -= two32;
      carry = 1;
    } else if (lo < 0) {
      lo += two32;
      carry = -1;
    }
    this.lo = lo;
    this.hi = (((this.hi + sign * h.hi + carry) % two32) + two32) % two32;
    assert(Number.isInteger(this.hi) && this.hi >= 0 && this.hi < two32 && this.lo >= 0 && this.lo < two32, 'key-space digest out of range');
  }
}

/** One key's contribution: the same bytes whether the record is packed or not (`binaryString` mixes as `bytes`). */
function recordHash(key: string, record: PackedRecord): { hi: number; lo: number } {
  const h = new Fnv1a64().raw(recordTag).binaryString(key).binaryString(record.value).uint(record.createRevision).uint(record.modRevision).uint(record.version);
  // A key's lease is replicated state too (stateHash hashes it the same way).
  if (record.lease !== undefined) h.raw(leaseTag).uint(record.lease);
  return h.halves();
}

const recordTag = new Uint8Array([0x6b]);
const leaseTag = new Uint8Array([0x6c]);

/** The digest of the state at an applied index: the key-space sum and the revision. */
export function stateDigest(keySum: string, revision: number): string {
  return new Fnv1a64().string('raftkv/state-digest/1').string(keySum).uint(revision).digest();
}

/** A digest recorded at a checkpoint index. */
export interface DigestCheckpoint {
  readonly index: number;
  readonly revision: number;
  readonly digest: string;
}

/** Named limits of the checkpoint ring. */
export const digestLimits = Object.freeze({
  /** A checkpoint is recorded at every applied index that is a multiple of this. */
  checkpointEveryEntries: 100,
  /** Checkpoints kept (oldest dropped first). */
  checkpointsMax: 64,
});

/**
 * The digests at the last `checkpointsMax` checkpoint indexes this replica applied. Replicas
 * record at the same indexes (multiples of `checkpointEveryEntries`), so the leader can ask a
 * member for a checkpoint both have. A replica that started from a snapshot or a restart has only
 * the checkpoints it applied since: the check waits until both hold a common one.
 */
export class DigestCheckpoints {
  private readonly ring: DigestCheckpoint[] = [];

  constructor(private readonly everyEntries: number = digestLimits.checkpointEveryEntries, private readonly max: number = digestLimits.checkpointsMax) {
    assert(Number.isSafeInteger(everyEntries) && everyEntries > 0 && Number.isSafeInteger(max) && max > 0, 'digest checkpoint limits must be positive integers');
  }

  /** Whether `index` is a checkpoint index. */
  isCheckpoint(index: number): boolean {
    return index > 0 && index % this.everyEntries === 0;
  }

  /** Records the digest at checkpoint `index` (indexes increase). */
  record(checkpoint: DigestCheckpoint): void {
    const last = this.ring[this.ring.length - 1];
    assert(last === undefined || checkpoint.index > last.index, () => `digest checkpoint ${checkpoint.index} after ${last?.index}`);
    this.ring.push(checkpoint);
    if (this.ring.length > this.max) this.ring.shift();
  }

  /** The checkpoint at `index`, if kept. */
  at(index: number): DigestCheckpoint | undefined {
    return this.ring.find((c) => c.index === index);
  }

  /** The newest checkpoint at or below `index`, if any. */
  latestAtOrBelow(index: number): DigestCheckpoint | undefined {
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const c = this.ring[i] as DigestCheckpoint;
      if (c.index <= index) return c;
    }
    return undefined;
  }

  /** Every kept checkpoint, oldest first. */
  list(): readonly DigestCheckpoint[] {
    return this.ring;
  }
}
