/**
 * `memberUpdate`: a cluster command that changes a member's addresses (etcd's MemberUpdate,
 * `raftkv member update`). Member addresses are not key-value state: they live in the driver's
 * address book, which learns them from the log (membership changes' contexts, and this command)
 * and from the data a Raft snapshot carries (src/server/member-addresses.ts). The state machine
 * only checks the command and answers it, the same on every replica; the driver applies it to
 * the book in log order, as it does a membership change's context.
 */
import { InvalidArgumentError } from '../util/index.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/** Named limits of the command (each refused with a clear error when hit). */
export const memberUpdateLimits = Object.freeze({
  /** Longest member id. */
  memberBytesMax: 128,
  /** Longest address (host:port). */
  addressBytesMax: 512,
});

/** New addresses for `member`; an empty `clientAddress` keeps the one the book has. */
export interface MemberUpdateCommand {
  readonly member: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
}

/** Checks a command's fields; throws `InvalidArgumentError`. */
export function checkMemberUpdate(c: MemberUpdateCommand): void {
  if (c.member.length === 0) throw new InvalidArgumentError('member', 'must not be empty');
  if (c.member.length > memberUpdateLimits.memberBytesMax) throw new InvalidArgumentError('member', `is ${c.member.length} characters; the limit is memberBytesMax (${memberUpdateLimits.memberBytesMax})`);
  if (c.peerAddress.length === 0) throw new InvalidArgumentError('peerAddress', 'must not be empty');
  for (const [field, value] of [['peerAddress', c.peerAddress], ['clientAddress', c.clientAddress]] as const) {
    if (value.length > memberUpdateLimits.addressBytesMax) throw new InvalidArgumentError(field, `is ${value.length} characters; the limit is addressBytesMax (${memberUpdateLimits.addressBytesMax})`);
  }
}

/** Writes a command's fields (the cluster command codec's `memberUpdate` kind). */
export function writeMemberUpdateFields(w: ByteWriter, c: MemberUpdateCommand): void {
  w.string(c.member, 'member');
  w.string(c.peerAddress, 'peerAddress');
  w.string(c.clientAddress, 'clientAddress');
}

/** Reads what `writeMemberUpdateFields` wrote; field checks run when the command is applied. */
export function readMemberUpdateFields(r: ByteReader): MemberUpdateCommand {
  return { member: r.string('member'), peerAddress: r.string('peerAddress'), clientAddress: r.string('clientAddress') };
}
