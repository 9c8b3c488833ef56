/**
 * Sanity checks on messages from peers. Malformed input is logged and dropped by `RawNode.step`,
 * never trusted and never allowed to crash the node.
 */
import { unreachable } from '../util/index.js';
import type { AppendMessage, Message } from './message.js';
import type { Snapshot } from './types.js';

const isIndex = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
const isId = (s: unknown): boolean => typeof s === 'string' && s.length > 0;

/** Why `m` is malformed, or null if it looks sound. */
export function checkMessage(m: Message): string | null {
  if (!isId(m.from) || !isId(m.to)) return 'from and to must be non-empty ids';
  if (!isIndex(m.term)) return `bad term ${String(m.term)}`;
  switch (m.type) {
    case 'vote':
    case 'preVote':
      return isIndex(m.lastLogIndex) && isIndex(m.lastLogTerm) && m.lastLogTerm <= m.term ? null : 'bad last log position';
    case 'voteResponse':
    case 'preVoteResponse':
      return typeof m.reject === 'boolean' ? null : 'bad reject flag';
    case 'append':
      return checkAppend(m);
    case 'appendResponse':
      return isIndex(m.index) && isIndex(m.rejectHint) && isIndex(m.hintTerm) ? null : 'bad indexes';
    case 'heartbeat':
      return isIndex(m.commit) && typeof m.context === 'string' ? null : 'bad commit or context';
    case 'heartbeatResponse':
    case 'readIndex':
      return typeof m.context === 'string' ? null : 'bad context';
    case 'readIndexResponse':
      return isIndex(m.index) && typeof m.context === 'string' ? null : 'bad index or context';
    case 'snapshot':
      return checkSnapshot(m.snapshot, m.term);
    case 'timeoutNow':
      return null;
    case 'transferLeader':
      return isId(m.transferee) ? null : 'bad transferee';
    default:
      return unreachable(m, 'message');
  }
}

/** Entries must follow `prevLogIndex` without gaps, with terms rising from `prevLogTerm` to at most the message's term. */
function checkAppend(m: AppendMessage): string | null {
  if (!isIndex(m.prevLogIndex) || !isIndex(m.prevLogTerm) || !isIndex(m.commit)) return 'bad indexes';
  if (!Array.isArray(m.entries)) return 'entries is not an array';
  let term = m.prevLogTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i];
    if (e === undefined || e.index !== m.prevLogIndex + 1 + i) return `entry ${i} is not at index ${m.prevLogIndex + 1 + i}`;
    if (!isIndex(e.term) || e.term < term || e.term > m.term) return `entry ${e.index} has bad term ${String(e.term)}`;
    if ((e.type !== 'normal' && e.type !== 'confChange') || !(e.data instanceof Uint8Array)) return `entry ${e.index} is malformed`;
    term = e.term;
  }
  return null;
}

function checkSnapshot(snapshot: Snapshot | undefined, term: number): string | null {
  const meta = snapshot?.metadata;
  if (meta === undefined || !(snapshot?.data instanceof Uint8Array)) return 'snapshot is malformed';
  if (!isIndex(meta.index) || meta.index === 0 || !isIndex(meta.term) || meta.term > term) return 'bad snapshot position';
  if (!Array.isArray(meta.conf?.voters) || !Array.isArray(meta.conf?.learners)) return 'bad snapshot membership';
  return null;
}
