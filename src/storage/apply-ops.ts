/**
 * The LevelDB operations of one apply batch (`KvApplyBatch`): the state machine's mutations, its
 * applied index, revision and clock, and the membership if it changed. Planned here, written by
 * `LevelStorage` either alone (`applyBatch`) or inside a Ready's persist batch
 * (`persistWithApply`), always as ONE LevelDB batch so a crash never applies an entry twice or
 * skips one.
 */
import type { ConfState } from '../raft/index.js';
import { assert, unreachable } from '../util/index.js';
import type { LogIndex, Revision } from '../util/index.js';
import { confProblem } from './invariants.js';
import { kvKey, MetaKey, sessionKey } from './keys.js';
import { encodeCounter, encodeKeyValueRecord, encodeSessionRecord, keyValueProblem } from './kv-records.js';
import type { KvApplyBatch } from './kv-state-store.js';
import { encodeConfState } from './raft-records.js';

/** One LevelDB batch operation. */
export type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** The stored state machine counters an apply batch moves forward. */
export interface KvCounters {
  readonly applied: LogIndex;
  readonly revision: Revision;
  readonly clockMs: number;
}

/**
 * Appends the operations of `batch` to `ops`, asserting that it moves the stored state forward
 * from `stored` and stays at or below `commit` (the commit index durable with it or before it).
 * Returns the membership to record (a copy), or null if unchanged.
 */
export function planApplyOps(batch: KvApplyBatch, stored: KvCounters, commit: LogIndex, ops: BatchOp[]): ConfState | null {
  assert(batch.appliedIndex > stored.applied, () => `applyBatch: applied index ${batch.appliedIndex} does not advance past ${stored.applied} (an entry would be applied twice)`);
  assert(batch.appliedIndex <= commit, () => `applyBatch: applied index ${batch.appliedIndex} beyond the persisted commit index ${commit}`);
  assert(batch.revision >= stored.revision, () => `applyBatch: revision would go down from ${stored.revision} to ${batch.revision}`);
  assert(Number.isSafeInteger(batch.clockMs) && batch.clockMs >= stored.clockMs, () => `applyBatch: clock would go from ${stored.clockMs} to ${batch.clockMs}`);
  const sessionLast = lastSessionMutations(batch.mutations);
  batch.mutations.forEach((mutation, at) => {
    switch (mutation.type) {
      case 'putKey': {
        const problem = keyValueProblem(mutation.kv, batch.revision);
        assert(problem === null, () => `applyBatch: ${problem}`);
        ops.push({ type: 'put', key: kvKey(mutation.kv.key), value: encodeKeyValueRecord(mutation.kv) });
        break;
      }
      case 'deleteKey':
        ops.push({ type: 'del', key: kvKey(mutation.key) });
        break;
      case 'putSession':
        // Only a session's last record in the batch is written (see `lastSessionMutations`).
        if (sessionLast.get(mutation.session.clientId) === at) ops.push({ type: 'put', key: sessionKey(mutation.session.clientId), value: encodeSessionRecord(mutation.session) });
        break;
      case 'deleteSession':
        if (sessionLast.get(mutation.clientId) === at) ops.push({ type: 'del', key: sessionKey(mutation.clientId) });
        break;
      default:
        unreachable(mutation, 'mutation');
    }
  });
  ops.push({ type: 'put', key: MetaKey.appliedIndex, value: encodeCounter(MetaKey.appliedIndex, batch.appliedIndex) });
  ops.push({ type: 'put', key: MetaKey.revision, value: encodeCounter(MetaKey.revision, batch.revision) });
  ops.push({ type: 'put', key: MetaKey.clockMs, value: encodeCounter(MetaKey.clockMs, batch.clockMs) });
  if (batch.confState === undefined) return null;
  const problem = confProblem(batch.confState, 'membership');
  assert(problem === null, () => `applyBatch: ${problem}`);
  const conf: ConfState = { voters: [...batch.confState.voters], learners: [...batch.confState.learners] };
  ops.push({ type: 'put', key: MetaKey.conf, value: encodeConfState(conf) });
  return conf;
}

/**
 * For each session the batch changes, the position of its LAST mutation. A client's session
 * record holds its saved responses (up to `sessionResponsesMax`), and every write of that client
 * replaces the whole record: a batch of k writes from one pipelined client would encode and store
 * k records of up to 1,024 responses each when only the last one survives the batch. The batch is
 * one LevelDB WriteBatch, applied atomically, so writing only the last put or delete of each
 * session key stores exactly the same state (docs/benchmarks.md, "two storage costs found by profiling").
 */
function lastSessionMutations(mutations: KvApplyBatch['mutations']): Map<string, number> {
  const last = new Map<string, number>();
  mutations.forEach((mutation, at) => {
    if (mutation.type === 'putSession') last.set(mutation.session.clientId, at);
    else if (mutation.type === 'deleteSession') last.set(mutation.clientId, at);
  });
  return last;
}
