/**
 * Watches the LevelDB batches a `LevelStorage` writes: LevelStorage builds each batch with
 * classic-level's chained API (`db.batch()`, then `put`/`del`, then `write(options)`), so a spy
 * on `db.batch` alone sees neither the operations nor the sync flag. `recordBatches` wraps the
 * chained batches the handle makes and records each one written; `failNextBatch` makes the next
 * batch's write reject with `error` (a disk fault) without writing anything.
 */
import { vi } from 'vitest';
import type { LevelStorage } from '../../src/storage/level-storage.js';
import type { BytesLevel } from '../../src/storage/load-state.js';

/** One written batch: its operations in order and whether it was synced. */
export interface RecordedBatch {
  readonly ops: readonly { readonly type: 'put' | 'del'; readonly key: Uint8Array }[];
  readonly sync: boolean;
}

type ChainedBatch = ReturnType<BytesLevel['batch']> & {
  put(key: Uint8Array, value: Uint8Array): unknown;
  del(key: Uint8Array): unknown;
  write(options?: { sync?: boolean }): Promise<void>;
};

/** The LevelDB handle a storage writes through. */
function dbOf(storage: LevelStorage): BytesLevel {
  return (storage as unknown as { db: BytesLevel }).db;
}

/** Records every batch `storage` writes from now on (the array is filled as they are written). */
export function recordBatches(storage: LevelStorage): RecordedBatch[] {
  const db = dbOf(storage);
  const written: RecordedBatch[] = [];
  const original = db.batch.bind(db) as (...args: unknown[]) => unknown;
  vi.spyOn(db, 'batch').mockImplementation(((...args: unknown[]) => {
    if (args.length > 0) throw new Error('recordBatches: LevelStorage is expected to use the chained batch API');
    const batch = original() as ChainedBatch;
    const ops: { type: 'put' | 'del'; key: Uint8Array }[] = [];
    const put = batch.put.bind(batch);
    const del = batch.del.bind(batch);
    const write = batch.write.bind(batch);
    batch.put = (key: Uint8Array, value: Uint8Array) => (ops.push({ type: 'put', key }), put(key, value));
    batch.del = (key: Uint8Array) => (ops.push({ type: 'del', key }), del(key));
    batch.write = async (options?: { sync?: boolean }) => {
      await write(options);
      written.push({ ops, sync: options?.sync ?? false });
    };
    return batch;
  }) as never);
  return written;
}

/** Makes the next batch `storage` writes fail with `error`, writing nothing. */
export function failNextBatch(storage: LevelStorage, error: Error): void {
  const db = dbOf(storage);
  const original = db.batch.bind(db) as (...args: unknown[]) => unknown;
  vi.spyOn(db, 'batch').mockImplementationOnce(((...args: unknown[]) => {
    if (args.length > 0) throw new Error('failNextBatch: LevelStorage is expected to use the chained batch API');
    const batch = original() as ChainedBatch;
    batch.write = async () => {
      await batch.close();
      throw error;
    };
    return batch;
  }) as never);
}
