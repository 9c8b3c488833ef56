/**
 * Deterministic one-line printers for messages and Readys, for logs, test failures and golden
 * files. The same input always prints the same text.
 */
import { unreachable } from '../util/index.js';
import type { Message } from './message.js';
import type { Ready } from './ready.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/** `index/term type bytes`, e.g. `7/3 normal 12B`. */
export function describeEntry(e: Entry): string {
  return `${e.index}/${e.term} ${e.type} ${e.data.length}B`;
}

function describeEntries(entries: readonly Entry[]): string {
  return `[${entries.map(describeEntry).join(', ')}]`;
}

function describeConf(conf: ConfState): string {
  return `voters=${conf.voters.join(',')} learners=${conf.learners.join(',')}`;
}

function describeSnapshot(s: Snapshot): string {
  return `snapshot ${s.metadata.index}/${s.metadata.term} ${describeConf(s.metadata.conf)} ${s.data.length}B`;
}

function describeHardState(h: HardState): string {
  return `term=${h.term} vote=${h.vote ?? '-'} commit=${h.commit}`;
}

function describeBody(m: Message): string {
  switch (m.type) {
    case 'vote':
    case 'preVote':
      return `last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteResponse':
    case 'preVoteResponse':
      return m.reject ? 'rejected' : 'granted';
    case 'append':
      return `prev=${m.prevLogIndex}/${m.prevLogTerm} commit=${m.commit} entries=${describeEntries(m.entries)}`;
    case 'appendResponse':
      return m.reject ? `rejected index=${m.index} hint=${m.rejectHint}/${m.hintTerm}` : `index=${m.index}`;
    case 'heartbeat':
      return `commit=${m.commit} context=${JSON.stringify(m.context)}`;
    case 'heartbeatResponse':
    case 'readIndex':
      return `context=${JSON.stringify(m.context)}`;
    case 'readIndexResponse':
      return `index=${m.index} context=${JSON.stringify(m.context)}`;
    case 'snapshot':
      return describeSnapshot(m.snapshot);
    case 'timeoutNow':
      return '';
    case 'transferLeader':
      return `transferee=${m.transferee}`;
    default:
      return unreachable(m, 'message');
  }
}

/** One line, e.g. `n1->n2 append term=3 prev=5/2 commit=4 entries=[6/3 normal 0B]`. */
export function describeMessage(m: Message): string {
  const body = describeBody(m);
  return `${m.from}->${m.to} ${m.type} term=${m.term}${body === '' ? '' : ` ${body}`}`;
}

/** One line listing every non-empty field of a Ready, in the order the driver handles them. */
export function describeReady(r: Ready): string {
  const parts: string[] = [];
  if (r.softState !== null) parts.push(`soft=${r.softState.role}/leader=${r.softState.leader ?? '-'}`);
  if (r.hardState !== null) parts.push(`hard=(${describeHardState(r.hardState)})`);
  if (r.snapshot !== null) parts.push(`snap=(${describeSnapshot(r.snapshot)})`);
  if (r.entries.length > 0) parts.push(`entries=${describeEntries(r.entries)}`);
  if (r.messages.length > 0) parts.push(`messages=[${r.messages.map(describeMessage).join('; ')}]`);
  if (r.committedEntries.length > 0) parts.push(`committed=${describeEntries(r.committedEntries)}`);
  if (r.readStates.length > 0) parts.push(`reads=[${r.readStates.map((s) => `${s.index} ${JSON.stringify(s.context)}`).join(', ')}]`);
  parts.push(`mustSync=${r.mustSync}`);
  return `Ready ${parts.join(' ')}`;
}
