/**
 * storage: the node's LevelDB storage. One database per node holds the Raft log, hard state,
 * membership and snapshot metadata, and the state machine's keys, sessions and applied index
 * (docs/design.md, "Storage"). `LevelStorage` implements the Raft core's `DurableRaftStorage`
 * and the state machine's `KvStateStore`.
 */
export { LevelStorage, RESTORE_BATCH_BYTES_MAX_DEFAULT } from './level-storage.js';
export type { LevelStorageOptions } from './level-storage.js';
export type {
  ApplyBatchOptions,
  KvApplyBatch,
  KvRecovery,
  KvSnapshotReader,
  KvSnapshotRecord,
  KvStateSource,
  KvStateStore,
} from './kv-state-store.js';
export { STORAGE_FORMAT_VERSION } from './raft-records.js';
