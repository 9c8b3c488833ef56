/**
 * The Ready contract (after etcd-io/raft). The driver loop calls `ready()`, then, IN THIS ORDER:
 *
 * 1. PERSIST `snapshot` (if any), `entries` and `hardState` in ONE synced batch.
 * 2. Only AFTER that batch is durable, SEND `messages`: votes and append acknowledgements in them
 *    depend on the persisted term, vote and entries. Exception: when `sendBeforePersist` is set
 *    (a leader whose term and vote did not change), send them first and persist meanwhile (Raft
 *    thesis §10.2.1): a leader's appends do not depend on its own copy being durable, because it
 *    counts its own entries toward the commit index only at `advance()`.
 * 3. APPLY `committedEntries` in order (the state machine change and its applied index in one batch).
 * 4. Answer `readStates` once applied >= their index.
 * 5. Call `advance()`.
 */
import type { Message } from './message.js';
import type { Entry, HardState, ReadState, Snapshot, SoftState } from './types.js';

/** Everything the core needs the driver to do. */
export interface Ready {
  /** Set when the leader or role changed since the last Ready. Never persisted. */
  readonly softState: SoftState | null;
  /** Set when term, vote or commit changed: persist it BEFORE sending `messages`. */
  readonly hardState: HardState | null;
  /** New entries to append to stable storage (overwriting any conflicting suffix) BEFORE sending. */
  readonly entries: readonly Entry[];
  /** An incoming snapshot to persist and install BEFORE the entries; the log before it is discarded. */
  readonly snapshot: Snapshot | null;
  /** Messages to send AFTER persisting. */
  readonly messages: readonly Message[];
  /** Entries known to be committed and not yet handed out: apply them in order. */
  readonly committedEntries: readonly Entry[];
  /** Linearizable reads confirmed since the last Ready. */
  readonly readStates: readonly ReadState[];
  /** True if `hardState`, `entries` or `snapshot` need a synced write before anything else. */
  readonly mustSync: boolean;
  /**
   * True when `messages` may be sent BEFORE the batch is durable: this node is the leader and
   * neither its term nor its vote changed, so its messages (appends, heartbeats, snapshots, read
   * and transfer messages) claim nothing that is not already on disk. The leader's own entries
   * count toward commit only after `advance()`, so a commit never rests on a copy not yet synced.
   */
  readonly sendBeforePersist: boolean;
}
