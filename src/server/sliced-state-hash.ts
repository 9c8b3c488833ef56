/**
 * The full state hash (`/status?hash=1`, etcd's Hash and HashKV) computed a slice of keys per
 * event-loop turn, so that a node holding 1,000,000 keys (2.5 s of hashing) keeps stepping Raft,
 * sending heartbeats and serving calls while it runs. The hash is of the state when it started.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { KvStateMachine } from '../kv/index.js';

/** Keys hashed per event-loop turn: about 25 ms of work with 256-byte values. */
export const STATE_HASH_KEYS_PER_TURN = 10_000;

/** The state hash of `kv` as of now, yielding to the event loop between slices. */
export async function slicedStateHash(kv: Pick<KvStateMachine, 'stateHashJob'>): Promise<string> {
  const job = kv.stateHashJob();
  while (!job.step(STATE_HASH_KEYS_PER_TURN)) await nextTurn();
  return job.digest;
}
