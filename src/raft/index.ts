/**
 * raft: the pure, deterministic Raft core (after etcd-io/raft). No I/O, no clock, no randomness
 * of its own: time enters as `tick()`, randomness as `config.prng`, input as `step()`/`propose()`,
 * and everything to do comes out of `ready()`. This file is the folder's public surface.
 */
// The contracts: configuration, messages, the Ready, storage and data types.
export type { RaftConfig, RaftTestFaults } from './config.js';
export type {
  AppendMessage,
  AppendResponseMessage,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  Message,
  MessageType,
  ReadIndexMessage,
  ReadIndexResponseMessage,
  SnapshotMessage,
  TimeoutNowMessage,
  TransferLeaderMessage,
  VoteMessage,
  VoteResponseMessage,
} from './message.js';
export type { Ready } from './ready.js';
export type { DurableRaftStorage, EntriesQuery, InitialState, PersistBatch, RaftStorage } from './storage.js';
export type { ConfChange, ConfState, Entry, EntryType, HardState, ReadState, Role, Snapshot, SnapshotMetadata, SoftState } from './types.js';
export { emptyHardState } from './types.js';
// Status reporting.
export type { ProgressState } from './progress.js';
export type { ProgressStatus, RaftStatus } from './status.js';
// The core, its in-memory storage, membership-change helpers, printers and message checks.
export { RawNode } from './raw-node.js';
export { MemoryStorage } from './memory-storage.js';
export { applyToConfState, checkConfChange, decodeConfChange, encodeConfChange } from './conf-change.js';
export { describeEntry, describeMessage, describeReady } from './describe.js';
export { checkMessage } from './message-check.js';
