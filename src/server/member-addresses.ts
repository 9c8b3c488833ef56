/**
 * Where members live: each member's peer (Raft) and client addresses, and how they survive
 * restarts and log compaction without a storage format change.
 *
 * - A membership change carries the new member's addresses in its `ConfChange.context`, as JSON
 *   `{"peerAddress": "...", "clientAddress": "..."}`. Every node learns them when it applies it.
 * - A snapshot (taken locally or sent to a follower) carries the address book of its members in
 *   its opaque `data`, as JSON (see `encodeSnapshotData`). The snapshot record is persisted with
 *   the snapshot, so after a restart a node starts from the book of its last snapshot and replays
 *   the contexts of the configuration changes between the snapshot and its applied index, which
 *   the log still holds (the log is compacted only up to the snapshot). Changes after the applied
 *   index are applied, and so learned, as usual.
 * - The initial members' peer addresses come from `--initial-cluster`: the lowest priority source,
 *   overridden by what the replicated state says.
 *
 * The same data also carries the cluster id, so that a node that joined (and whose data dir was
 * created without one) can still report it, for backups.
 */
import { nodeId as toNodeId } from '../util/index.js';
import type { NodeId } from '../util/index.js';

/** One member's addresses; either may be unknown (''). */
export interface MemberAddress {
  readonly peerAddress: string;
  readonly clientAddress: string;
  /**
   * For a learner: promote it to a voter once it has caught up (`raftkv member add` without
   * `--learner`). Replicated with the change, so whichever node leads later honours it.
   */
  readonly promote?: boolean;
}

/** What a snapshot's opaque `data` holds. */
export interface SnapshotData {
  /** The cluster id ('' if unknown). */
  readonly clusterId: string;
  /** Addresses of the members at the snapshot's index. */
  readonly members: ReadonlyMap<NodeId, MemberAddress>;
}

/** Version tag of the JSON in a snapshot's data. */
const snapshotDataVersion = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Longest accepted address, to refuse junk early. */
const addressLengthMax = 512;

/** Encodes the JSON context of a membership change. */
export function encodeChangeContext(address: MemberAddress): Uint8Array {
  return encoder.encode(JSON.stringify(plain(address)));
}

function plain(a: MemberAddress): MemberAddress {
  return { peerAddress: a.peerAddress, clientAddress: a.clientAddress, ...(a.promote === true ? { promote: true } : {}) };
}

/** Decodes a membership change's context; null if it is empty or not the expected JSON. */
export function decodeChangeContext(context: Uint8Array): MemberAddress | null {
  if (context.length === 0) return null;
  try {
    const parsed = JSON.parse(decoder.decode(context)) as unknown;
    return addressOf(parsed);
  } catch {
    return null;
  }
}

/** Encodes the snapshot data for `members` (only addresses that are known are kept). */
export function encodeSnapshotData(data: SnapshotData): Uint8Array {
  const members: Record<string, MemberAddress> = {};
  for (const [id, a] of data.members) members[id] = plain(a);
  return encoder.encode(JSON.stringify({ raftkvSnapshotData: snapshotDataVersion, clusterId: data.clusterId, members }));
}

/**
 * Decodes what `encodeSnapshotData` wrote. Empty data (a snapshot taken before this format, or
 * the bootstrap snapshot at index 0) and unreadable data give an empty book: addresses are a
 * convenience that other sources (the initial cluster, peers' announcements) can fill in.
 */
export function decodeSnapshotData(bytes: Uint8Array): SnapshotData {
  const empty: SnapshotData = { clusterId: '', members: new Map() };
  if (bytes.length === 0) return empty;
  try {
    const parsed = JSON.parse(decoder.decode(bytes)) as { raftkvSnapshotData?: unknown; clusterId?: unknown; members?: unknown };
    if (parsed.raftkvSnapshotData !== snapshotDataVersion || typeof parsed.members !== 'object' || parsed.members === null) return empty;
    const members = new Map<NodeId, MemberAddress>();
    for (const [id, value] of Object.entries(parsed.members as Record<string, unknown>)) {
      const address = addressOf(value);
      if (address !== null && id.length > 0) members.set(toNodeId(id), address);
    }
    return { clusterId: typeof parsed.clusterId === 'string' ? parsed.clusterId : '', members };
  } catch {
    return empty;
  }
}

function addressOf(value: unknown): MemberAddress | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { peerAddress?: unknown; clientAddress?: unknown; promote?: unknown };
  const peerAddress = typeof v.peerAddress === 'string' && v.peerAddress.length <= addressLengthMax ? v.peerAddress : '';
  const clientAddress = typeof v.clientAddress === 'string' && v.clientAddress.length <= addressLengthMax ? v.clientAddress : '';
  if (peerAddress === '' && clientAddress === '' && v.promote !== true) return null;
  return { peerAddress, clientAddress, ...(v.promote === true ? { promote: true } : {}) };
}
