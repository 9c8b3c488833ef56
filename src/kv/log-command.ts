/**
 * What a normal Raft log entry of the state machine carries: a KV command (format byte 1) or a
 * cluster command (format byte 2). Anything else, or bytes that do not decode, is an
 * `InvalidArgumentError`: the state machine answers it as an error result on every replica.
 */
import { ByteReader } from './byte-reader.js';
import { clusterCommandFormat, decodeClusterCommand } from './cluster-command-codec.js';
import type { ClusterCommand } from './cluster-command-codec.js';
import { decodeCommand } from './command-codec.js';
import type { KvCommand } from './types.js';

/** A decoded entry. */
export type LogCommand = { readonly type: 'kv'; readonly command: KvCommand } | { readonly type: 'cluster'; readonly command: ClusterCommand };

/** Decodes an entry's data by its format byte. */
export function decodeLogCommand(bytes: Uint8Array): LogCommand {
  const format = new ByteReader(bytes, 'command').u8('format');
  if (format === clusterCommandFormat) return { type: 'cluster', command: decodeClusterCommand(bytes) };
  // Any other format byte fails in decodeCommand with "unsupported format version".
  return { type: 'kv', command: decodeCommand(bytes) };
}
