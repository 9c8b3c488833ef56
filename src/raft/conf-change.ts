/**
 * Single-server membership changes (Raft thesis §4.1): their binary encoding inside a
 * `confChange` log entry, their validation, and their effect on a `ConfState`.
 *
 * Why this is safe. A change takes effect on each node when that node applies the committed
 * entry (etcd's "apply on commit"), and the leader refuses a new change while the previous one is
 * not applied (`pendingConfIndex > applied`). So the configurations in use across the cluster
 * differ by at most one server, and any majority of a configuration overlaps any majority of a
 * configuration that differs from it by one server: two leaders cannot be elected in one term,
 * and an entry committed under one configuration is held by a voter of every quorum of the other.
 * Ongaro's 2015 bug (raft-dev, "bug in single-server membership changes") needs a leader that
 * appends a change before it committed an entry of its own term; here a new leader sets
 * `pendingConfIndex` to its term's no-op entry, so it cannot propose a change until that no-op
 * is committed and applied. A node also refuses to campaign while a committed change is not yet
 * applied, so it never counts votes with an outdated configuration it already agreed to leave.
 *
 * Joining nodes: the membership is part of the replicated state. A new node must start from the
 * cluster's bootstrap membership (the `confState` the founding members were created with) and
 * replay the log's changes on top of it, or receive a snapshot, which carries the membership.
 * A node started with an empty membership would wrongly believe it is alone once it is added.
 */
import { CorruptionError, nodeId } from '../util/index.js';
import type { NodeId } from '../util/index.js';
import type { ConfChange, ConfState } from './types.js';

/** Version byte of the encoding; bump it when the layout changes. */
const encodingVersion = 1;
const changeTypes: readonly ConfChange['type'][] = ['addVoter', 'addLearner', 'removeNode'];

/**
 * Encodes a change as `[version u8][type u8][id length u32][id utf-8][context length u32][context]`
 * (big-endian lengths).
 */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const id = new TextEncoder().encode(change.nodeId);
  const out = new Uint8Array(2 + 4 + id.length + 4 + change.context.length);
  const view = new DataView(out.buffer);
  out[0] = encodingVersion;
  out[1] = changeTypes.indexOf(change.type);
  view.setUint32(2, id.length);
  out.set(id, 6);
  view.setUint32(6 + id.length, change.context.length);
  out.set(change.context, 10 + id.length);
  return out;
}

/** Decodes what `encodeConfChange` wrote. Throws `CorruptionError` on malformed input. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string): never => {
    throw new CorruptionError(`malformed conf change (${data.length} bytes): ${why}`);
  };
  if (data.length < 10) fail('too short');
  if (data[0] !== encodingVersion) fail(`unknown version ${String(data[0])}`);
  const type = changeTypes[data[1] as number] ?? fail(`unknown type ${String(data[1])}`);
  const idLength = view.getUint32(2);
  if (10 + idLength > data.length) fail('node id overruns the buffer');
  const id = new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(6, 6 + idLength));
  const contextLength = view.getUint32(6 + idLength);
  if (10 + idLength + contextLength !== data.length) fail('context length does not match the buffer');
  const context = data.slice(10 + idLength);
  return { type, nodeId: nodeId(id), context };
}

/**
 * Why `change` cannot be applied to `conf`, or null if it can. Refused: an empty id, adding a
 * voter twice, adding a learner that is already a member (demotion is not supported), removing a
 * node that is not a member, and removing the last voter.
 */
export function checkConfChange(conf: ConfState, change: ConfChange): string | null {
  const id = change.nodeId;
  const isVoter = conf.voters.includes(id);
  const isLearner = conf.learners.includes(id);
  if (id.length === 0) return 'the node id is empty';
  switch (change.type) {
    case 'addVoter':
      return isVoter ? `${id} is already a voter` : null;
    case 'addLearner':
      if (isVoter) return `${id} is a voter; demoting a voter to a learner is not supported`;
      return isLearner ? `${id} is already a learner` : null;
    case 'removeNode':
      if (!isVoter && !isLearner) return `${id} is not a member`;
      return isVoter && conf.voters.length === 1 ? `${id} is the last voter` : null;
  }
}

/** The membership after `change`, which must be valid (see `checkConfChange`). Lists stay sorted. */
export function applyToConfState(conf: ConfState, change: ConfChange): ConfState {
  const without = (ids: readonly NodeId[]): NodeId[] => ids.filter((id) => id !== change.nodeId);
  const sorted = (ids: NodeId[]): NodeId[] => ids.sort();
  switch (change.type) {
    case 'addVoter':
      return { voters: sorted([...without(conf.voters), change.nodeId]), learners: without(conf.learners) };
    case 'addLearner':
      return { voters: [...conf.voters], learners: sorted([...without(conf.learners), change.nodeId]) };
    case 'removeNode':
      return { voters: without(conf.voters), learners: without(conf.learners) };
  }
}
