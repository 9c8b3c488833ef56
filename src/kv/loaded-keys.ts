/**
 * The live keys of a stored image, checked and packed one record at a time as they are read
 * (start-up, snapshot install), so that loading never holds the whole image twice: records go
 * from LevelDB straight into the key space the state machine then adopts (issue 12: a restart with
 * 1,000,000 keys built an array of 1,000,000 `KeyValue`s first). An image built in memory (a test,
 * the simulator) goes through the same checks with `LoadedKeys.from`.
 */
import { assert } from '../util/index.js';
import { toBinaryString } from './binary-key.js';
import { KeySpace } from './key-space.js';
import { packRecord } from './packed-record.js';
import type { PackedRecord } from './packed-record.js';
import type { KeyValue } from './types.js';

/** What the state machine takes over from a `LoadedKeys`. */
export interface AdoptedKeys {
  readonly space: KeySpace;
  /** Every key attached to a lease, with its lease: the machine checks the leases exist. */
  readonly leased: ReadonlyArray<readonly [key: string, lease: number]>;
}

/** Keys being loaded. Iterable as `KeyValue`s (in byte order) until the state machine adopts them. */
export class LoadedKeys implements Iterable<KeyValue> {
  private readonly space = new KeySpace();
  private readonly leased: Array<readonly [string, number]> = [];
  /** The last key added: keys read in byte order are checked for repeats without a lookup. */
  private lastKey: string | null = null;
  private adopted = false;

  /** Keys of an image at `revisionMax`: no key may have been modified after it. */
  constructor(readonly revisionMax: number) {
    assert(Number.isSafeInteger(revisionMax) && revisionMax >= 0, () => `LoadedKeys: revision ${revisionMax} is not a non-negative integer`);
  }

  /** The keys of an image built in memory, checked as `add` checks them. */
  static from(kvs: Iterable<KeyValue>, revisionMax: number): LoadedKeys {
    if (kvs instanceof LoadedKeys) {
      assert(kvs.revisionMax === revisionMax, () => `LoadedKeys: loaded at revision ${kvs.revisionMax}, used for an image at ${revisionMax}`);
      return kvs;
    }
    const keys = new LoadedKeys(revisionMax);
    for (const kv of kvs) keys.add(toBinaryString(kv.key), packRecord(kv));
    return keys;
  }

  /** Adds `record` under `key` (a binary string). Asserts the record's invariants and that the key is new. */
  add(key: string, record: PackedRecord): void {
    assert(!this.adopted, 'LoadedKeys: add after the state machine adopted the keys');
    assert(key.length > 0, 'image key is empty');
    const inOrder = this.lastKey === null || key > this.lastKey;
    assert(inOrder || !this.space.has(key), () => `image holds key ${JSON.stringify(key)} twice`);
    assert(record.version >= 1 && record.createRevision >= 1 && record.createRevision <= record.modRevision && record.modRevision <= this.revisionMax, () =>
      `image key ${JSON.stringify(key)} breaks 1 <= createRevision (${record.createRevision}) <= modRevision (${record.modRevision}) <= revision (${this.revisionMax}), version ${record.version} >= 1`);
    this.space.setRecord(key, record);
    if (inOrder) this.lastKey = key;
    if (record.lease !== undefined) this.leased.push([key, record.lease]);
  }

  /** Hands the keys to the state machine, once; after it they can be neither added to nor read. */
  adopt(): AdoptedKeys {
    assert(!this.adopted, 'LoadedKeys: adopted twice');
    this.adopted = true;
    return { space: this.space, leased: this.leased };
  }

  *[Symbol.iterator](): Iterator<KeyValue> {
    assert(!this.adopted, 'LoadedKeys: read after the state machine adopted the keys');
    yield* this.space.values();
  }
}
