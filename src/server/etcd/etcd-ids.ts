/**
 * etcd's uint64 member and cluster ids, derived from raftkv's string ids so that every node (and
 * every restart) computes the same ones without storing anything:
 *
 * - member id: the first 8 bytes of SHA-256("raftkv/etcd-member/" + node id), big-endian, with the
 *   top bit cleared (so tools that read ids as int64 see the same positive number) and never 0
 *   (etcd uses 0 for "none");
 * - cluster id: raftkv's cluster id is "c-" and 16 hex digits: those digits, top bit cleared;
 *   any other form is hashed like a member id (prefix "raftkv/etcd-cluster/").
 *
 * A member id maps back to a node id by trying the nodes this node knows (members and peers).
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../util/index.js';

const int63Mask = (1n << 63n) - 1n;

function hashedId(prefix: string, id: string): bigint {
  const digest = createHash('sha256').update(`${prefix}${id}`).digest();
  const n = digest.readBigUInt64BE(0) & int63Mask;
  return n === 0n ? 1n : n;
}

/** The etcd member id of raftkv node `nodeId`. */
export function memberIdOf(nodeId: string): bigint {
  return hashedId('raftkv/etcd-member/', nodeId);
}

/** The etcd cluster id of raftkv cluster `clusterId`. */
export function clusterIdOf(clusterId: string): bigint {
  const m = /^c-([0-9a-f]{16})$/.exec(clusterId);
  if (m !== null) {
    const n = BigInt(`0x${m[1] ?? ''}`) & int63Mask;
    if (n !== 0n) return n;
  }
  return hashedId('raftkv/etcd-cluster/', clusterId);
}

/** The node among `nodeIds` whose member id is `memberId`, or null. */
export function nodeIdOfMember(memberId: bigint, nodeIds: Iterable<string>): string | null {
  for (const id of nodeIds) if (memberIdOf(id) === memberId) return id;
  return null;
}

/** A decoded 64-bit field (protobufjs Long, number, string or absent) as a bigint. */
export function u64(value: unknown): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string') return BigInt(value);
  if (typeof value === 'object' && 'toString' in value) return BigInt((value as { toString(): string }).toString());
  return 0n;
}

/** A decoded 64-bit field as a JavaScript number; INVALID_ARGUMENT beyond 2^53 - 1 or below `min`. */
export function int(value: unknown, field: string, min = 0): number {
  const n = u64(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(min)) throw new InvalidArgumentError(field, `must be between ${min} and 2^53 - 1, got ${n}`);
  return Number(n);
}
