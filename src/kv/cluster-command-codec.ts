/**
 * Cluster administration commands: Raft log entries that change replicated settings rather than
 * keys. Today there is one, `setClusterLimits` (see cluster-limits.ts). They share the log with
 * KV commands and are told apart by the entry's first byte (log-command.ts).
 *
 * Layout (format 2): `u8 format, u8 kind, ...` where kind 1 (setClusterLimits) is
 * `u8 flags(ifUnset), varint × clusterLimitNames.length` in `clusterLimitNames` order.
 */
import { InvalidArgumentError } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { checkClusterLimits, clusterLimitNames } from './cluster-limits.js';
import type { ClusterLimits } from './cluster-limits.js';

/** The format byte of a cluster command (a KV command's is 1). */
export const clusterCommandFormat = 2;

/** Command kinds on the wire. */
const commandKind = { setClusterLimits: 1 } as const;

/**
 * Replace the cluster limits. With `ifUnset`, it changes them only if no `setClusterLimits` was
 * ever applied: what a new leader proposes from its flags, harmlessly repeated by later leaders.
 */
export interface SetClusterLimitsCommand {
  readonly type: 'setClusterLimits';
  readonly limits: ClusterLimits;
  readonly ifUnset: boolean;
}

/** Every cluster command. */
export type ClusterCommand = SetClusterLimitsCommand;

/** Encodes a cluster command; throws `InvalidArgumentError` if its limits are not valid. */
export function encodeClusterCommand(command: ClusterCommand): Uint8Array {
  switch (command.type) {
    case 'setClusterLimits': {
      checkClusterLimits(command.limits);
      const w = new ByteWriter(64);
      w.u8(clusterCommandFormat);
      w.u8(commandKind.setClusterLimits);
      w.u8(command.ifUnset ? 1 : 0);
      for (const name of clusterLimitNames) w.varint(command.limits[name], name);
      return w.finish();
    }
    default:
      throw new InvalidArgumentError('command.type', `unknown cluster command ${JSON.stringify((command as { type: unknown }).type)}`);
  }
}

/**
 * Decodes a cluster command; throws `InvalidArgumentError` (field `command`) on malformed input.
 * Limits out of range decode (they are refused when applied, the same way on every replica).
 */
export function decodeClusterCommand(bytes: Uint8Array): ClusterCommand {
  const r = new ByteReader(bytes, 'command');
  const format = r.u8('format');
  if (format !== clusterCommandFormat) throw r.error(`not a cluster command (format ${format})`);
  const kind = r.u8('kind');
  if (kind !== commandKind.setClusterLimits) throw r.error(`unknown cluster command kind ${kind}`);
  const flags = r.u8('flags');
  if ((flags & ~1) !== 0) throw r.error(`unknown flag bits 0x${(flags & ~1).toString(16)}`);
  const limits = {} as Record<(typeof clusterLimitNames)[number], number>;
  for (const name of clusterLimitNames) limits[name] = r.varint(name);
  r.end();
  return { type: 'setClusterLimits', limits, ifUnset: (flags & 1) === 1 };
}
