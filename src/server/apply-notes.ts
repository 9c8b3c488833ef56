/**
 * What the driver does around the state machine for the replicated cluster limits and for
 * entries that do not decode, kept out of the Ready loop: logging and counting what operators
 * must see, and the bootstrap proposal of a new leader (kv/cluster-limits.ts).
 */
import { clusterLimitsOf, decodeLogCommand, describeLimitChanges } from '../kv/index.js';
import type { ApplyOutcome, KvStateMachine } from '../kv/index.js';
import type { Entry } from '../raft/index.js';
import type { Logger } from '../util/index.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';

/** Logs and counts what an applied entry did that operators must see. */
export function noteAppliedOutcome(entry: Entry, outcome: ApplyOutcome, deps: { readonly logger: Logger; readonly metrics: NodeMetrics; readonly options: NodeOptions }): void {
  const { logger, metrics, options } = deps;
  if (outcome.undecodable === true) {
    metrics.entriesUndecodable.inc();
    const reason = outcome.result.type === 'error' ? outcome.result.message : '';
    logger.error({ index: entry.index, term: entry.term, bytes: entry.data.length, reason }, 'apply: a committed entry does not decode; applied as an error result, as on every replica');
  } else if (outcome.result.type === 'clusterLimits' && outcome.result.changed) {
    const differFromFlags = describeLimitChanges(outcome.result.limits, clusterLimitsOf(options.limits, options.sessionTtlMs));
    logger.info({ index: entry.index, limits: outcome.result.limits, differFromFlags }, 'cluster limits set by the log; this node applies every entry by them (its flags only admit requests)');
  }
}

/**
 * On becoming leader: proposes this node's flags as the cluster limits if the log never set
 * them. The entry is conditional (`ifUnset`), so repeating it, or racing another leader's,
 * changes nothing; if the proposal is dropped, the next leader proposes again.
 */
export function proposeBootstrapLimits(kv: KvStateMachine, options: NodeOptions, logger: Logger, propose: (data: Uint8Array) => unknown): void {
  const data = kv.bootstrapLimitsEntry(clusterLimitsOf(options.limits, options.sessionTtlMs));
  if (data === null) return;
  try {
    propose(data);
    logger.info({}, "cluster limits never set: proposed this node's flags");
  } catch (e) {
    logger.warn({ err: String(e) }, "cluster limits never set: proposing this node's flags failed; the next leader will");
  }
}

/**
 * The `skipDuplicateCheck` negative control (tests only): a client command is applied as if it
 * carried no session, so a retried write applies twice. Any other entry (a cluster command, bytes
 * that do not decode) is applied as usual.
 */
export function applySkippingDuplicateCheck(kv: KvStateMachine, entry: Entry): ApplyOutcome {
  let decoded;
  try {
    decoded = decodeLogCommand(entry.data);
  } catch {
    decoded = null;
  }
  if (decoded === null || decoded.type !== 'kv') return kv.applyEncoded(entry.index, entry.data);
  return kv.apply(entry.index, { ...decoded.command, clientId: '' });
}
