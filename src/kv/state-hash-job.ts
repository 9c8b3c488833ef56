/**
 * The full state hash (`KvStateMachine.stateHash`) as a job that can run a slice at a time: the
 * keys are a copy-on-write clone taken when the job starts, and the small parts that follow them
 * (leases, sessions, retired sessions) are captured then too, so the hash is of the state at that
 * moment however many entries are applied while it runs. A host runs it in slices between event
 * loop turns (issue 12: at 1,000,000 keys the hash takes 2.5 s, too long to block a node's loop).
 */
import { assert } from '../util/index.js';
import type { PackedRecord } from './packed-record.js';
import { Fnv1a64 } from './state-hash.js';

/** Records what is mixed into it, to mix it into another hash later (the same bytes, in order). */
export class RecordedHash extends Fnv1a64 {
  private readonly chunks: Uint8Array[] = [];

  override raw(bytes: Uint8Array, length: number = bytes.length): this {
    this.chunks.push(bytes.slice(0, length));
    return this;
  }

  /** Mixes everything recorded into `hash`. */
  replayInto(hash: Fnv1a64): void {
    for (const chunk of this.chunks) hash.raw(chunk);
  }
}

/** What a job hashes: the part before the keys (already mixed in), the keys, and what follows them. */
export interface StateHashParts {
  /** The hash with everything before the keys mixed in. */
  readonly head: Fnv1a64;
  /** The live keys in byte order, from a frozen clone. */
  readonly keys: Iterator<[string, PackedRecord]>;
  /** Mixes in everything after the keys, as of the job's start. */
  readonly tail: (hash: Fnv1a64) => void;
}

const kvTag = new Uint8Array([1]);
const kvLeaseTag = new Uint8Array([6]);
const endTag = new Uint8Array([0]);

/** A state hash computed a slice of keys at a time. */
export class StateHashJob {
  private result: string | null = null;

  constructor(private readonly parts: StateHashParts) {}

  /** True once the hash is complete. */
  get done(): boolean {
    return this.result !== null;
  }

  /** The hash; only once `done`. */
  get digest(): string {
    assert(this.result !== null, 'StateHashJob: digest read before the job finished');
    return this.result;
  }

  /** Hashes up to `keysMax` more keys, and finishes if none are left; returns `done`. */
  step(keysMax: number): boolean {
    assert(keysMax >= 1, () => `StateHashJob: a step of ${keysMax} keys`);
    if (this.result !== null) return true;
    const { head: hash, keys } = this.parts;
    for (let i = 0; i < keysMax; i++) {
      const next = keys.next();
      if (next.done === true) {
        this.parts.tail(hash);
        this.result = hash.raw(endTag).digest();
        return true;
      }
      const [key, record] = next.value;
      // binaryString mixes exactly what bytes() mixes for the bytes the string stands for.
      hash.raw(kvTag).binaryString(key).binaryString(record.value).uint(record.createRevision).uint(record.modRevision).uint(record.version);
      if (record.lease !== undefined) hash.raw(kvLeaseTag).uint(record.lease);
    }
    return false;
  }

  /** Runs the job to the end at once. */
  run(): string {
    while (!this.step(Number.MAX_SAFE_INTEGER));
    return this.digest;
  }
}
