/**
 * A simulated LevelDB with LevelDB's real durability model, for LevelStorage to run on in the
 * simulator and in tests (`LevelStorageOptions.db`). One `SimDisk` is one node's data dir: it
 * survives crashes and restarts; `SimLevel` is an open handle on it.
 *
 * The model (what LevelDB and the OS actually promise):
 * - Every write batch is appended to the current write-ahead log (WAL) file, then applied to the
 *   memtable (what reads see). A batch written with `sync: true` fsyncs the current file, which
 *   makes durable every record in THAT file up to it, including earlier unsynced ones.
 * - When the memtable is full LevelDB ROTATES: it starts a new WAL file and flushes the old
 *   memtable to a table file in the background; the old file is closed WITHOUT fsync. Until that
 *   flush finishes, the unsynced tail of the old file is not durable, even though a later synced
 *   write to the new file is. Rotations happen at points the application does not choose; here
 *   they come from the disk's seeded PRNG (`rotationChance` per write) or from `rotate()`.
 *   The background flush of the old memtable lands at the next rotation or barrier (LevelDB holds
 *   one immutable memtable at a time) or when `flushImmutable()` is called.
 * - `compactRange` (LevelStorage's durability barrier) flushes everything to synced table files.
 * - A process crash loses nothing that was written (the OS holds it); a POWER LOSS loses every
 *   record not durable under the rules above, except that the OS may have written a prefix of an
 *   unsynced tail on its own (a seeded random prefix survives).
 * - Faults: an fsync error (the record may or may not reach the disk; the handle then refuses
 *   every write, as LevelDB does after a background error), and a full disk (nothing written,
 *   same refusal).
 * Reopening replays the WAL into table files, as LevelDB does, so after `open` all is durable.
 */
import type { BytesLevel } from '../../src/storage/load-state.js';
import { compareStrings, OrderedTree } from '../../src/kv/ordered-tree.js';
import type { OrderedTree as Tree } from '../../src/kv/ordered-tree.js';
import type { Prng } from '../../src/util/index.js';

type Op = { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: Uint8Array };

/** One record of a WAL file: a batch. */
interface WalRecord {
  readonly ops: readonly { readonly key: string; readonly value: Uint8Array | null }[];
}

/** One WAL file: its records and how many of them an fsync made durable. */
interface WalFile {
  readonly records: WalRecord[];
  durableRecords: number;
}

/** What happened to a disk, for the simulator's summary. */
export interface SimDiskStats {
  writes: number;
  unsyncedWrites: number;
  syncs: number;
  rotations: number;
  barriers: number;
  powerLosses: number;
  /** Unsynced batches lost to power losses. */
  unsyncedWritesLost: number;
  fsyncErrors: number;
  diskFullErrors: number;
}

/** A fault the next write hits. `crash`: the process dies just before that write. */
export type DiskFault = 'fsyncError' | 'diskFull' | 'crash';

const toKey = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
const fromKey = (key: string): Uint8Array => new Uint8Array(Buffer.from(key, 'latin1'));
const newTree = (): Tree<string, Uint8Array> => new OrderedTree<string, Uint8Array>(undefined, compareStrings);

/** One node's simulated disk. */
export class SimDisk {
  /** Flushed table files: durable. */
  private tables = newTree();
  /** WAL files not yet flushed to tables, oldest first (at most one closed file, then the current one). */
  private wal: WalFile[] = [{ records: [], durableRecords: 0 }];
  /** The open handle, if any (at most one: LevelDB's LOCK). */
  private handle: SimLevel | null = null;
  /** Faults the next writes hit, in order. */
  private readonly faults: DiskFault[] = [];
  /** Called when a `crash` fault fires (the host stops the node's process). */
  onCrash: () => void = () => {};
  /** Probability that a write first rotates the WAL (a memtable filled up). */
  rotationChance: number;
  /**
   * How a synced write waits for its fsync: the host schedules the completion as a simulator
   * event (none: it completes at once). Until it completes the record is in the file but NOT
   * durable: a power loss in between may lose it.
   */
  fsyncWait: (() => Promise<void>) | null = null;
  readonly stats: SimDiskStats = { writes: 0, unsyncedWrites: 0, syncs: 0, rotations: 0, barriers: 0, powerLosses: 0, unsyncedWritesLost: 0, fsyncErrors: 0, diskFullErrors: 0 };

  constructor(
    private readonly prng: Prng,
    options: { readonly rotationChance?: number } = {},
  ) {
    this.rotationChance = options.rotationChance ?? 0;
  }

  /** Opens a handle (LevelStorageOptions.db). Refuses a second one, like LevelDB's LOCK file. */
  open(): BytesLevel {
    if (this.handle !== null && !this.handle.closed) throw new Error('SimDisk: the database is locked: another handle is open');
    this.handle = new SimLevel(this);
    return this.handle as unknown as BytesLevel;
  }

  /** The next write hits `fault`. */
  injectFault(fault: DiskFault): void {
    this.faults.push(fault);
  }

  /** Starts a new WAL file now (the memtable filled up). */
  rotate(): void {
    this.flushImmutable();
    this.wal.push({ records: [], durableRecords: 0 });
    this.stats.rotations++;
  }

  /** The background flush of the closed WAL file's memtable finished: its records are durable. */
  flushImmutable(): void {
    while (this.wal.length > 1) {
      const file = this.wal.shift();
      if (file !== undefined) for (const r of file.records) this.applyTo(this.tables, r);
    }
  }

  /** Makes everything durable (compactRange, and what reopening does). */
  flushAll(): void {
    for (const file of this.wal) for (const r of file.records) this.applyTo(this.tables, r);
    this.wal = [{ records: [], durableRecords: 0 }];
  }

  /** The process died: the open handle is gone; nothing written is lost. Pending faults are dropped. */
  crash(): void {
    if (this.handle !== null) this.handle.closed = true;
    this.handle = null;
    this.faults.length = 0;
  }

  /**
   * The machine lost power: the handle is gone, and every record that is not durable is lost,
   * except a seeded random prefix of each unsynced tail that the OS happened to write back.
   * Returns how many batches were lost.
   */
  powerLoss(): number {
    this.crash();
    let lost = 0;
    for (const file of this.wal) {
      const unsynced = file.records.length - file.durableRecords;
      const kept = unsynced === 0 ? 0 : this.prng.int(0, unsynced);
      lost += unsynced - kept;
      file.records.length = file.durableRecords + kept;
    }
    this.stats.powerLosses++;
    this.stats.unsyncedWritesLost += lost;
    return lost;
  }

  /** The state reads see: tables, then every WAL record in order. */
  liveTree(): Tree<string, Uint8Array> {
    const tree = this.tables.clone();
    for (const file of this.wal) for (const r of file.records) this.applyTo(tree, r);
    return tree;
  }

  /** Appends one batch (the handle's `batch`); throws on an injected fault. */
  append(ops: readonly Op[], sync: boolean): WalRecord {
    const fault = this.faults.shift();
    if (fault === 'crash') {
      this.crash();
      this.onCrash();
      throw Object.assign(new Error('Database is not open (the process crashed, simulated)'), { code: 'LEVEL_DATABASE_NOT_OPEN' });
    }
    if (fault === 'diskFull') {
      this.stats.diskFullErrors++;
      throw Object.assign(new Error('IO error: No space left on device (simulated)'), { code: 'LEVEL_IO_ERROR' });
    }
    if (this.rotationChance > 0 && this.prng.chance(this.rotationChance)) this.rotate();
    const record: WalRecord = { ops: ops.map((op) => ({ key: toKey(op.key), value: op.type === 'put' ? op.value.slice() : null })) };
    const file = this.wal[this.wal.length - 1];
    if (file === undefined) throw new Error('SimDisk: no WAL file');
    file.records.push(record);
    this.stats.writes++;
    if (fault === 'fsyncError') {
      // The record is in the file, maybe on the platter, maybe not: a power loss decides.
      this.stats.fsyncErrors++;
      throw Object.assign(new Error('IO error: fsync failed (simulated)'), { code: 'LEVEL_IO_ERROR' });
    }
    if (sync) this.stats.syncs++;
    else this.stats.unsyncedWrites++;
    return record;
  }

  /** The fsync of `record` completed: its file is durable up to it (if it is still there). */
  synced(record: WalRecord): void {
    for (const file of this.wal) {
      const at = file.records.indexOf(record);
      if (at >= 0) file.durableRecords = Math.max(file.durableRecords, at + 1);
    }
  }

  /** Applies one record to `tree`. */
  applyTo(tree: Tree<string, Uint8Array>, record: WalRecord): void {
    for (const op of record.ops) {
      if (op.value === null) tree.delete(op.key);
      else tree.set(op.key, op.value);
    }
  }
}

/** A point-in-time view (LevelDB snapshot). */
class SimSnapshot {
  constructor(readonly tree: Tree<string, Uint8Array>) {}

  async close(): Promise<void> {}
}

interface RangeOptions {
  readonly gte?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly limit?: number;
  readonly snapshot?: SimSnapshot;
}

/** classic-level's chained batch: operations collected in order, written as ONE batch. */
class SimChainedBatch {
  private readonly ops: Op[] = [];
  private done = false;

  constructor(private readonly writeOps: (ops: readonly Op[], options?: { readonly sync?: boolean }) => Promise<void>) {}

  put(key: Uint8Array, value: Uint8Array): this {
    this.checkUsable();
    this.ops.push({ type: 'put', key, value });
    return this;
  }

  del(key: Uint8Array): this {
    this.checkUsable();
    this.ops.push({ type: 'del', key });
    return this;
  }

  async write(options?: { readonly sync?: boolean }): Promise<void> {
    this.checkUsable();
    this.done = true;
    await this.writeOps(this.ops, options);
  }

  async close(): Promise<void> {
    this.done = true;
  }

  private checkUsable(): void {
    if (this.done) throw Object.assign(new Error('Batch is not open: cannot change operations after write() or close()'), { code: 'LEVEL_BATCH_NOT_OPEN' });
  }
}

/** An open handle on a SimDisk, with the part of classic-level's API that LevelStorage uses. */
export class SimLevel {
  /** The memtable view: what reads see (tables + WAL). */
  private tree: Tree<string, Uint8Array>;
  /** True once closed, crashed, or after a failed write (LevelDB's background error). */
  closed = false;
  private failed: Error | null = null;

  constructor(private readonly disk: SimDisk) {
    // LevelDB's recovery at open: the WAL is replayed into table files.
    disk.flushAll();
    this.tree = disk.liveTree();
  }

  async open(_options?: unknown): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  async get(key: Uint8Array, options?: { readonly snapshot?: SimSnapshot }): Promise<Uint8Array | undefined> {
    this.checkOpen();
    const value = (options?.snapshot?.tree ?? this.tree).get(toKey(key));
    return value?.slice();
  }

  /** classic-level's two forms: `batch(ops, options)` writes at once; `batch()` returns a chained batch. */
  batch(): SimChainedBatch;
  batch(ops: readonly Op[], options?: { readonly sync?: boolean }): Promise<void>;
  batch(ops?: readonly Op[], options?: { readonly sync?: boolean }): SimChainedBatch | Promise<void> {
    if (ops === undefined) {
      this.checkOpen();
      return new SimChainedBatch((collected, o) => this.writeBatch(collected, o));
    }
    return this.writeBatch(ops, options);
  }

  private async writeBatch(ops: readonly Op[], options?: { readonly sync?: boolean }): Promise<void> {
    this.checkWritable();
    const sync = options?.sync ?? false;
    let record: ReturnType<SimDisk['append']>;
    try {
      record = this.disk.append(ops, sync);
    } catch (e) {
      this.failed = e as Error;
      throw e;
    }
    if (sync) {
      if (this.disk.fsyncWait !== null) await this.disk.fsyncWait();
      // A crash or power loss while the fsync ran: the caller never hears back.
      this.checkOpen();
      this.disk.synced(record);
    }
    // LevelDB applies the batch to the memtable once the log write (and its sync) succeeded.
    this.disk.applyTo(this.tree, record);
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.batch([{ type: 'put', key, value }]);
  }

  snapshot(): SimSnapshot {
    this.checkOpen();
    return new SimSnapshot(this.tree.clone());
  }

  async clear(range: RangeOptions): Promise<void> {
    const ops: Op[] = this.entriesOf(range).map(([key]) => ({ type: 'del', key: fromKey(key) }));
    if (ops.length > 0) await this.batch(ops);
  }

  /** LevelStorage's durability barrier: flush everything to synced table files. */
  async compactRange(_start: Uint8Array, _end: Uint8Array): Promise<void> {
    this.checkWritable();
    this.disk.flushAll();
    this.disk.stats.barriers++;
  }

  keys(range: RangeOptions): { all(): Promise<Uint8Array[]> } {
    const keys = this.entriesOf(range).map(([key]) => fromKey(key));
    return { all: async () => keys };
  }

  iterator(range: RangeOptions): { nextv(n: number): Promise<[Uint8Array, Uint8Array][]>; close(): Promise<void> } {
    const entries = this.entriesOf(range);
    let at = 0;
    return {
      nextv: async (n: number) => {
        const chunk = entries.slice(at, at + n).map(([k, v]): [Uint8Array, Uint8Array] => [fromKey(k), v.slice()]);
        at += chunk.length;
        return chunk;
      },
      close: async () => {},
    };
  }

  private entriesOf(range: RangeOptions): [string, Uint8Array][] {
    this.checkOpen();
    const tree = range.snapshot?.tree ?? this.tree;
    const lo = range.gte === undefined ? undefined : toKey(range.gte);
    const hi = range.lt === undefined ? undefined : toKey(range.lt);
    const out: [string, Uint8Array][] = [];
    const limit = range.limit ?? Number.POSITIVE_INFINITY;
    tree.forRange(lo ?? tree.minKey() ?? '', hi ?? '\uffff', false, (k, v) => {
      if (out.length >= limit) return { break: true };
      out.push([k, v]);
      return undefined;
    });
    return out;
  }

  private checkOpen(): void {
    if (this.closed) throw Object.assign(new Error('Database is not open (simulated)'), { code: 'LEVEL_DATABASE_NOT_OPEN' });
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failed !== null) throw Object.assign(new Error(`IO error: an earlier write failed (${this.failed.message})`), { code: 'LEVEL_IO_ERROR' });
  }
}
