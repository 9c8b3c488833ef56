/**
 * The replicated key-value state machine: pure and deterministic. Every replica that applies the
 * same committed entries in the same order from the same image reaches the same state and gives
 * the same answers: the limits apply uses are replicated state too (cluster-limits.ts), changed
 * only by a committed `setClusterLimits` entry. The whole live key space is held in memory; LevelDB
 * keeps the durable copy by persisting the `mutations` of each `ApplyOutcome` together with its
 * `appliedIndex`, `revision` and `clockMs` in ONE batch, and hands back a `KvStateImage` at start-up.
 *
 * Exactly-once writes follow Raft thesis §6.3: a command carries `clientId`, `seq` and `ackSeq`;
 * the session saves the answer of each applied seq until the client acknowledges it, and a retry
 * is answered from the session instead of being applied again.
 */
import { assert, InvalidArgumentError, logIndex, revision } from '../util/index.js';
import type { Limits, LogIndex, Revision } from '../util/index.js';
import { alarmRecord, alarmRecordId, applyAlarmCommand, checkAlarmCommand, decodeAlarmRecord, emptyAlarmState } from './alarm-state.js';
import type { AlarmState } from './alarm-state.js';
import { checkMemberUpdate } from './member-update.js';
import type { MemberUpdateCommand } from './member-update.js';
import { applyAuthCommand, authRecord, authRecordId, checkAuthCommand, decodeAuthRecord, emptyAuthState } from './auth-state.js';
import type { AuthState } from './auth-state.js';
import { toBinaryString } from './binary-key.js';
import { encodeClusterCommand } from './cluster-command-codec.js';
import type { ClusterCommand } from './cluster-command-codec.js';
import { checkClusterLimits, clusterLimitNames, clusterLimitsOf, clusterLimitsRecord, clusterLimitsRecordId, decodeClusterLimitsRecord } from './cluster-limits.js';
import type { ClusterLimits, ClusterSettings } from './cluster-limits.js';
import { decodeLogCommand } from './log-command.js';
import { KeySpace } from './key-space.js';
import { LoadedKeys } from './loaded-keys.js';
import { decodeLeaseRecord, leaseRecord, leaseRecordId, leaseRecordPrefix, LeaseTable } from './lease-table.js';
import type { LeaseInfo } from './lease-table.js';
import { queryRange } from './range-query.js';
import { decodeWriteResult, encodeWriteResult } from './result-codec.js';
import { clockStepMsMax, savedResultBytesMax, sessionResponsesMax, sessionsExpiredPerApplyMax } from './session-limits.js';
import { acknowledge, findResponse, newSession, saveResponse } from './session-record.js';
import { RetiredSessions, retiredSessionPrefix } from './retired-sessions.js';
import { SessionTable } from './session-table.js';
import { DigestCheckpoints, stateDigest } from './state-digest.js';
import type { DigestCheckpoint } from './state-digest.js';
import { Fnv1a64 } from './state-hash.js';
import { RecordedHash, StateHashJob } from './state-hash-job.js';
import type { ApplyOutcome, ErrorResult, KeyValue, KvCommand, KvStateImage, Mutation, RangeOp, RangeResult, SessionRecord, WriteResult } from './types.js';
import { validateCommand, validateRangeOp } from './validate-command.js';
import { WriteExecutor } from './write-executor.js';

/** How to build a state machine. */
export interface KvStateMachineOptions {
  /**
   * The initial cluster limits (with `sessionTtlMs`), used until the image or a committed
   * `setClusterLimits` entry sets them. They must be the same on every replica, so a node passes
   * `defaultClusterLimits`, never its own flags. Only the `ClusterLimits` fields are used.
   */
  readonly limits: Limits | ClusterLimits;
  /** The initial session TTL (see `limits`). */
  readonly sessionTtlMs: number;
  /** The state to start from (LevelDB at start-up, or a snapshot); empty if absent. */
  readonly image?: KvStateImage;
}

/** The key-value state machine. Not thread-safe; one driver loop calls it. */
export class KvStateMachine {
  /** The cluster limits every entry is applied by (replicated state). */
  private settings: ClusterSettings;
  /** Users, roles and the auth switch (replicated state, auth-state.ts). */
  private authState: AuthState = emptyAuthState;
  /** The alarm list (replicated state, alarm-state.ts). */
  private alarmState: AlarmState = emptyAlarmState;
  /** State digests at the last checkpoint indexes applied (the corruption check, state-digest.ts). */
  private readonly checkpoints = new DigestCheckpoints();
  /** Live keys (replaced once, by the image's, at construction). */
  private keys = new KeySpace();
  /** Live client sessions. */
  private readonly sessions = new SessionTable();
  /** Live leases and their keys (lease-table.ts). */
  private readonly leaseTable = new LeaseTable();
  /** What is left of expired and evicted sessions (retired-sessions.ts). */
  private readonly retired = new RetiredSessions();
  /** The index of the last entry applied. */
  private applied: LogIndex = logIndex(0);
  /** The store revision: raised by one for every command that changed keys. */
  private rev: Revision = revision(0);
  /** The largest command `timeMs` applied. Invariant: every session's `lastSeenMs <= clock`. */
  private clock = 0;

  constructor(options: KvStateMachineOptions) {
    const initial = clusterLimitsOf(options.limits, options.sessionTtlMs);
    checkClusterLimits(initial, 'initial limits');
    this.settings = { limits: initial, setIndex: 0 };
    if (options.image !== undefined) this.load(options.image);
  }

  /** The cluster limits entries are applied by. */
  get limits(): ClusterLimits {
    return this.settings.limits;
  }

  /** Users, roles, the auth switch and the token key, as of the last applied entry. */
  get auth(): AuthState {
    return this.authState;
  }

  /** The alarm list, as of the last applied entry. */
  get alarms(): AlarmState {
    return this.alarmState;
  }

  /** The incremental digest of the state now (state-digest.ts): cheap, order-independent. */
  digest(): string {
    return stateDigest(this.keys.digest.sum, this.rev);
  }

  /** The digest recorded at checkpoint `index`, if this replica applied it and still keeps it. */
  digestAt(index: number): DigestCheckpoint | undefined {
    return this.checkpoints.at(index);
  }

  /** The newest checkpoint at or below `index` this replica keeps. */
  latestCheckpoint(atOrBelow: number = this.applied): DigestCheckpoint | undefined {
    return this.checkpoints.latestAtOrBelow(atOrBelow);
  }

  /** The cluster limits and the index of the entry that set them (0: never set, the initial values). */
  get clusterSettings(): ClusterSettings {
    return this.settings;
  }

  /**
   * Checks a write against the cluster limits before it is proposed, so that a write the state
   * machine would refuse is refused without a log entry. Throws `InvalidArgumentError`.
   */
  admit(command: KvCommand): void {
    validateCommand(command, this.settings.limits);
  }

  /**
   * The entry a new leader proposes to record its own flags as the cluster limits, or null once
   * limits were set by the log. It is conditional (`ifUnset`), so proposing it again, or after
   * another leader's, changes nothing.
   */
  bootstrapLimitsEntry(proposed: ClusterLimits): Uint8Array | null {
    if (this.settings.setIndex > 0) return null;
    return encodeClusterCommand({ type: 'setClusterLimits', limits: proposed, ifUnset: true });
  }

  /** The index of the last entry applied (0 before any). */
  get appliedIndex(): LogIndex {
    return this.applied;
  }

  /** The current store revision (0 before any write). */
  get revision(): Revision {
    return this.rev;
  }

  /** The state machine's clock: the largest `timeMs` of any applied command. */
  get clockMs(): number {
    return this.clock;
  }

  /** Sum of key and value bytes over live keys (what `dataBytesMax` limits). */
  get dataBytes(): number {
    return this.keys.dataBytes;
  }

  /** Number of live keys. */
  get keyCount(): number {
    return this.keys.size;
  }

  /** Number of live client sessions. */
  sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Number of records in the session keyspace, as the stored state and a backup hold them: the
   * live sessions, the retired ones, one record per live lease, the cluster limits record once
   * limits were set, the auth record once auth was changed, and the alarm record once an alarm was.
   */
  sessionRecordCount(): number {
    return this.sessions.size + this.retired.size + this.leaseTable.size + (this.settings.setIndex > 0 ? 1 : 0) + (this.authState.setIndex > 0 ? 1 : 0) + (this.alarmState.setIndex > 0 ? 1 : 0);
  }

  /** Every live lease, in id order (a copy). */
  leases(): LeaseInfo[] {
    return this.leaseTable.infos();
  }

  /** Lease `id`'s granted TTL in seconds and key count, or null if it does not exist. */
  leaseInfo(id: number): LeaseInfo | null {
    const lease = this.leaseTable.get(id);
    return lease === undefined ? null : { id, ttlS: lease.ttlS, keyCount: lease.keys.size };
  }

  /** Lease `id` with its attached keys (sorted), or null. The returned key arrays are shared. */
  lease(id: number): { readonly id: number; readonly ttlS: number; readonly keys: Uint8Array[] } | null {
    const lease = this.leaseTable.get(id);
    if (lease === undefined) return null;
    const keys = [...lease.keys].sort().map((key) => {
      const kv = this.keys.get(key);
      assert(kv !== undefined, 'a lease key is live');
      return kv.key;
    });
    return { id, ttlS: lease.ttlS, keys };
  }

  /**
   * Applies the command of the committed entry at `index`, which must be `appliedIndex + 1`
   * (entries without a command go through `applyNoop`). Never throws for bad input.
   *
   * - An invalid command (by the cluster limits): INVALID_ARGUMENT; only `appliedIndex` changes.
   * - A client id without a session whose write may have been applied under a session that
   *   expired or was evicted (a seq at or below its retired session's highest, or `ackSeq > 0`
   *   with no retired session): SESSION_EXPIRED, outcome unknown; changes only `appliedIndex`
   *   and the clock (retired-sessions.ts).
   * - A stale seq (at or below the session's ackSeq): FAILED_PRECONDITION; a duplicate (seq
   *   saved): the saved answer with `duplicate: true`. Both change only `appliedIndex` and the
   *   clock, so they have no mutations (the session is refreshed by the client's next new seq).
   * - Otherwise: up to `sessionsExpiredPerApplyMax` expired sessions are removed, the operation
   *   runs (or is refused by the quota with OVERLOADED, changing no key), and the client's
   *   session saves the answer unless it is an error.
   *
   * The command's byte arrays are kept as they are: do not modify them afterwards
   * (`decodeCommand` returns fresh ones).
   */
  apply(index: LogIndex, command: KvCommand): ApplyOutcome {
    this.advance(index);
    try {
      validateCommand(command, this.settings.limits);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return this.outcome(errorResult('INVALID_ARGUMENT', e.message), [], false);
      throw e;
    }
    this.clock = nextClock(this.clock, command.timeMs);
    const session = command.clientId === '' ? undefined : this.sessions.get(command.clientId);
    if (session === undefined && command.clientId !== '') {
      // This write may be a retry of one applied under a session this state no longer has
      // (expired or evicted): applying it as a new session's write could apply it twice.
      const seqMax = this.retired.seqMax(command.clientId);
      const lost = seqMax === undefined ? command.ackSeq > 0 : command.seq <= seqMax;
      if (lost) {
        const known = seqMax === undefined ? `acknowledges seq ${command.ackSeq}` : `had seqs up to ${seqMax} applied`;
        const message = `session expired: client ${JSON.stringify(command.clientId)} has no session (it expired or was evicted) and ${known}; seq ${command.seq} was not applied now and may have been applied before (read to find out)`;
        return this.outcome(errorResult('SESSION_EXPIRED', message), [], false);
      }
    }
    if (session !== undefined) {
      if (command.seq <= session.ackSeq) {
        const message = `stale sequence number: seq ${command.seq} of client ${JSON.stringify(command.clientId)} is at or below its acknowledged seq ${session.ackSeq}; its answer is no longer kept`;
        return this.outcome(errorResult('FAILED_PRECONDITION', message), [], false);
      }
      const saved = findResponse(session, command.seq);
      if (saved !== undefined) return this.outcome(decodeWriteResult(saved), [], true);
    }
    const mutations: Mutation[] = this.expireSessions(command.clientId);
    const executed = new WriteExecutor(this.keys, this.settings.limits, this.rev, { table: this.leaseTable, index }).execute(command.op);
    assert(executed.revision === this.rev || executed.revision === this.rev + 1, 'a command raises the revision by at most one');
    this.rev = executed.revision;
    mutations.push(...executed.mutations, ...this.updateLeases(executed.result, executed.mutations));
    if (command.clientId !== '') mutations.push(...this.recordInSession(command, session, executed.result));
    return this.outcome(executed.result, mutations, false);
  }

  /**
   * Decodes and applies an entry's data: a KV command or a cluster command (log-command.ts).
   * Data that does not decode (which validation before proposing makes impossible, but a forged
   * or damaged entry can still carry) is answered with an INVALID_ARGUMENT `ErrorResult` marked
   * `undecodable`, identically on every replica, and changes nothing but `appliedIndex`: the node
   * never stops on it, and the entries after it apply normally.
   */
  applyEncoded(index: LogIndex, data: Uint8Array): ApplyOutcome {
    let decoded;
    try {
      decoded = decodeLogCommand(data);
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      this.advance(index);
      const message = `undecodable entry at index ${index} (${data.length} bytes): ${e.message}`;
      return { ...this.outcome(errorResult('INVALID_ARGUMENT', message), [], false), undecodable: true };
    }
    return decoded.type === 'kv' ? this.apply(index, decoded.command) : this.applyCluster(index, decoded.command);
  }

  /**
   * Applies a cluster command at `index`. `setClusterLimits` replaces the cluster limits (refused
   * with INVALID_ARGUMENT if they are out of range); with `ifUnset` it changes nothing once limits
   * were set. Later entries are applied by the new limits; existing keys and sessions are kept
   * (a lowered quota refuses writes that grow the data, lowered `sessionsMax` evicts lazily).
   */
  applyCluster(index: LogIndex, command: ClusterCommand): ApplyOutcome {
    this.advance(index);
    if (command.type === 'auth') return this.applyAuth(command.auth);
    if (command.type === 'alarm') return this.applyAlarm(command.alarm);
    if (command.type === 'memberUpdate') return this.applyMemberUpdate(command.update);
    try {
      checkClusterLimits(command.limits);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return this.outcome(errorResult('INVALID_ARGUMENT', e.message), [], false);
      throw e;
    }
    if (command.ifUnset && this.settings.setIndex > 0) {
      return this.outcome({ type: 'clusterLimits', limits: this.settings.limits, setIndex: this.settings.setIndex, changed: false }, [], false);
    }
    const limits: ClusterLimits = { ...command.limits };
    this.settings = { limits, setIndex: index };
    const mutations: Mutation[] = [{ type: 'putSession', session: clusterLimitsRecord(this.settings) }];
    return this.outcome({ type: 'clusterLimits', limits, setIndex: index, changed: true }, mutations, false);
  }

  /**
   * Applies an auth command (already advanced to its index): FAILED_PRECONDITION naming why when
   * it is refused (a user that exists, enabling without a root user...), the same on every replica.
   */
  private applyAuth(command: Extract<ClusterCommand, { type: 'auth' }>['auth']): ApplyOutcome {
    try {
      checkAuthCommand(command);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return this.outcome(errorResult('INVALID_ARGUMENT', e.message), [], false);
      throw e;
    }
    const applied = applyAuthCommand(this.authState, command, this.applied);
    if ('refused' in applied) return this.outcome(errorResult('FAILED_PRECONDITION', applied.refused), [], false);
    this.authState = applied.state;
    return this.outcome({ type: 'auth', setIndex: this.applied }, [{ type: 'putSession', session: authRecord(this.authState) }], false);
  }

  /**
   * Applies an alarm command (already advanced to its index): raise or clear, the same on every
   * replica; FAILED_PRECONDITION when the list is full.
   */
  private applyAlarm(command: Extract<ClusterCommand, { type: 'alarm' }>['alarm']): ApplyOutcome {
    try {
      checkAlarmCommand(command);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return this.outcome(errorResult('INVALID_ARGUMENT', e.message), [], false);
      throw e;
    }
    const applied = applyAlarmCommand(this.alarmState, command, this.applied);
    if ('refused' in applied) return this.outcome(errorResult('FAILED_PRECONDITION', applied.refused), [], false);
    if (!applied.changed) return this.outcome({ type: 'alarm', alarms: this.alarmState.alarms, changed: false }, [], false);
    this.alarmState = applied.state;
    return this.outcome({ type: 'alarm', alarms: this.alarmState.alarms, changed: true }, [{ type: 'putSession', session: alarmRecord(this.alarmState) }], false);
  }

  /**
   * Answers a member update (already advanced to its index): no key-value state changes; the
   * driver records the addresses in its address book (member-update.ts).
   */
  private applyMemberUpdate(command: MemberUpdateCommand): ApplyOutcome {
    try {
      checkMemberUpdate(command);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return this.outcome(errorResult('INVALID_ARGUMENT', e.message), [], false);
      throw e;
    }
    return this.outcome({ type: 'memberUpdate', member: command.member, peerAddress: command.peerAddress, clientAddress: command.clientAddress }, [], false);
  }

  /** Records that the entry at `index` (a leader's no-op or a configuration change) was applied. */
  applyNoop(index: LogIndex): void {
    this.advance(index);
    this.noteCheckpoint();
  }

  /**
   * Deliberately diverges this replica (the CORRUPT alarm's negative control, gated by
   * RAFTKV_ENABLE_TEST_FAULTS in the server): stores `value` under `key` without a log entry, so
   * this replica's state differs from the others' from now on. Never called outside tests.
   */
  divergeForTest(key: Uint8Array, value: Uint8Array): void {
    const bin = toBinaryString(key);
    const previous = this.keys.get(bin);
    this.keys.set(bin, { key, value, createRevision: previous?.createRevision ?? revision(Math.max(1, this.rev)), modRevision: revision(Math.max(1, this.rev)), version: (previous?.version ?? 0) + 1 });
  }

  /** The live key `key`, or null. The returned arrays are shared: do not modify them. */
  get(key: Uint8Array): KeyValue | null {
    return this.keys.get(toBinaryString(key)) ?? null;
  }

  /**
   * A read-only range query at the current revision (see `queryRange` for limit, keysOnly and
   * countOnly). Throws `InvalidArgumentError` for an invalid query. Returned arrays are shared.
   */
  range(op: RangeOp): RangeResult {
    validateRangeOp(op, this.settings.limits);
    return { type: 'range', revision: this.rev, ...queryRange(this.keys, op, this.settings.limits.rangeKeysMax) };
  }

  /**
   * The full state, for a snapshot or a test. Keys and sessions are copy-on-write clones taken
   * now: iterating them later, even while more entries are applied, sees exactly this state.
   */
  image(): KvStateImage {
    const sessions = this.sessions.snapshot();
    // The alarm record, the auth record, then the cluster limits record: their ids sort first, in
    // this order, in the stored session keyspace too (then the lease records, then retired sessions).
    const settings = [...(this.alarmState.setIndex > 0 ? [alarmRecord(this.alarmState)] : []), ...(this.authState.setIndex > 0 ? [authRecord(this.authState)] : []), ...(this.settings.setIndex > 0 ? [clusterLimitsRecord(this.settings)] : [])];
    const retired = this.retired.snapshot();
    const leases = this.leaseTable.records();
    return {
      appliedIndex: this.applied,
      revision: this.rev,
      clockMs: this.clock,
      kvs: this.keys.snapshot(),
      // The reserved records first: their ids sort first in the stored session keyspace too.
      sessions: {
        *[Symbol.iterator]() {
          yield* settings;
          yield* leases;
          yield* retired;
          yield* sessions;
        },
      },
    };
  }

  /**
   * A deterministic FNV-1a 64 fingerprint (16 hex digits) of the replicated state: the revision,
   * the clock, every key with its value, revisions and version, every session and, once set, the
   * cluster limits. It leaves out `appliedIndex`, so replicas compare equal whenever they applied
   * the same commands.
   */
  stateHash(): string {
    return this.stateHashJob().run();
  }

  /**
   * `stateHash` as a job a host can run a slice of keys at a time (state-hash-job.ts): it hashes
   * the state as of this call, however many entries are applied while it runs.
   */
  stateHashJob(): StateHashJob {
    const head = new Fnv1a64().string('raftkv/kv-state/1').uint(this.rev).uint(this.clock);
    if (this.settings.setIndex > 0) {
      head.raw(limitsTag).uint(this.settings.setIndex);
      for (const name of clusterLimitNames) head.uint(this.settings.limits[name]);
    }
    // The auth state by its canonical encoding (users and roles sorted by name).
    if (this.alarmState.setIndex > 0) head.raw(alarmTag).bytes(alarmRecord(this.alarmState).responses[0]?.result ?? new Uint8Array(0));
    if (this.authState.setIndex > 0) head.raw(authTag).bytes(authRecord(this.authState).responses[0]?.result ?? new Uint8Array(0));
    // What follows the keys, captured now: the leases and retired sessions as the bytes they
    // mix in, the sessions as a copy-on-write clone.
    const leases = new RecordedHash();
    this.leaseTable.hashInto(leases);
    const sessions = this.sessions.snapshot();
    const retired = new RecordedHash();
    this.retired.hashInto(retired);
    const tail = (hash: Fnv1a64): void => {
      leases.replayInto(hash);
      for (const session of sessions) {
        hash.raw(sessionTag).string(session.clientId).uint(session.ackSeq).uint(session.lastSeenMs).uint(session.responses.length);
        for (const response of session.responses) hash.uint(response.seq).bytes(response.result);
      }
      retired.replayInto(hash);
    };
    return new StateHashJob({ head, keys: this.keys.frozenEntries(), tail });
  }

  private advance(index: LogIndex): void {
    assert(index === this.applied + 1, () => `applying index ${index} after ${this.applied}: entries must be applied in order, once`);
    this.applied = index;
  }

  /** Records the digest when the entry just applied is at a checkpoint index (every entry passes here once, after its effects). */
  private noteCheckpoint(): void {
    if (this.checkpoints.isCheckpoint(this.applied)) this.checkpoints.record({ index: this.applied, revision: this.rev, digest: this.digest() });
  }

  private outcome(result: WriteResult, mutations: readonly Mutation[], duplicate: boolean): ApplyOutcome {
    this.noteCheckpoint();
    return { result, mutations, duplicate, appliedIndex: this.applied, revision: this.rev, clockMs: this.clock };
  }

  /**
   * Brings the lease table in step with a command that stands: every changed key moves from its
   * previous lease to its new one, a grant adds its lease, a revoke (its keys already deleted)
   * removes it. Returns the lease record mutations.
   */
  private updateLeases(result: WriteResult, keyMutations: readonly Mutation[]): Mutation[] {
    for (const m of keyMutations) {
      if (m.type === 'putKey') this.leaseTable.reattach(toBinaryString(m.kv.key), m.prev?.lease, m.kv.lease);
      else if (m.type === 'deleteKey') this.leaseTable.reattach(toBinaryString(m.key), m.prev?.lease, undefined);
    }
    if (result.type === 'leaseGrant') {
      this.leaseTable.add(result.id, result.ttlS);
      return [{ type: 'putSession', session: leaseRecord(result.id, result.ttlS) }];
    }
    if (result.type === 'leaseRevoke') {
      assert(this.leaseTable.get(result.id)?.keys.size === 0, 'a revoke deleted every key of its lease');
      this.leaseTable.delete(result.id);
      return [{ type: 'deleteSession', clientId: leaseRecordId(result.id) }];
    }
    return [];
  }

  /** Lazily removes up to `sessionsExpiredPerApplyMax` expired sessions, least recently seen first. */
  private expireSessions(keepClientId: string): Mutation[] {
    const expired = this.sessions.leastRecent({
      countMax: sessionsExpiredPerApplyMax,
      keepClientId,
      stale: (session) => this.clock - session.lastSeenMs > this.settings.limits.sessionTtlMs,
    });
    return expired.flatMap((session) => this.dropSession(session));
  }

  /**
   * Saves the command's answer in its session (creating it if needed) and evicts the least
   * recently seen sessions beyond `sessionsMax`. A refused write changed nothing, so its
   * ErrorResult is not saved: a retry with the same seq is evaluated afresh.
   */
  private recordInSession(command: KvCommand, existing: SessionRecord | undefined, result: WriteResult): Mutation[] {
    // A session started after a retired one counts every seq applied under the old one as
    // acknowledged, so a late retry of one of them is refused as stale, never applied again.
    const retiredSeqMax = existing === undefined ? (this.retired.seqMax(command.clientId) ?? 0) : 0;
    const revived = existing === undefined ? this.retired.forget(command.clientId) : [];
    let session = acknowledge(existing ?? newSession(command.clientId, Math.max(command.ackSeq, retiredSeqMax), this.clock), command.ackSeq);
    if (result.type === 'error') session = { ...session, lastSeenMs: this.clock };
    else session = saveResponse(session, { seq: command.seq, result: savedAnswer(command.seq, result), nowMs: this.clock });
    this.sessions.set(session);
    const mutations: Mutation[] = [...revived, { type: 'putSession', session }];
    const excess = this.sessions.size - this.settings.limits.sessionsMax;
    if (excess > 0) {
      const evicted = this.sessions.leastRecent({ countMax: excess, keepClientId: command.clientId, stale: () => true });
      for (const victim of evicted) mutations.push(...this.dropSession(victim));
    }
    return mutations;
  }

  /** Removes an expired or evicted session, keeping what is left of it (retired-sessions.ts). */
  private dropSession(session: SessionRecord): Mutation[] {
    this.sessions.delete(session.clientId);
    return [{ type: 'deleteSession', clientId: session.clientId }, ...this.retired.retire(session, this.clock, this.settings.limits.sessionsMax)];
  }

  /** Loads an image, checking every durable invariant after reading it back. */
  private load(image: KvStateImage): void {
    for (const [name, n] of [['appliedIndex', image.appliedIndex], ['revision', image.revision], ['clockMs', image.clockMs]] as const) {
      assert(Number.isSafeInteger(n) && n >= 0, () => `image ${name} must be a non-negative integer, got ${String(n)}`);
    }
    this.applied = image.appliedIndex;
    this.rev = image.revision;
    this.clock = image.clockMs;
    const { space, leased } = LoadedKeys.from(image.kvs, this.rev).adopt();
    this.keys = space;
    for (const session of image.sessions) {
      if (session.clientId === alarmRecordId) {
        assert(this.alarmState.setIndex === 0, 'image holds the alarm record twice');
        this.alarmState = decodeAlarmRecord(session);
        assert(this.alarmState.setIndex > 0 && this.alarmState.setIndex <= this.applied, () => `image alarms were set at index ${this.alarmState.setIndex}, outside [1, ${this.applied}]`);
        continue;
      }
      if (session.clientId === authRecordId) {
        assert(this.authState.setIndex === 0, 'image holds the auth record twice');
        this.authState = decodeAuthRecord(session);
        assert(this.authState.setIndex > 0 && this.authState.setIndex <= this.applied, () => `image auth state was set at index ${this.authState.setIndex}, outside [1, ${this.applied}]`);
        continue;
      }
      if (session.clientId === clusterLimitsRecordId) {
        assert(this.settings.setIndex === 0, 'image holds the cluster limits record twice');
        this.settings = decodeClusterLimitsRecord(session);
        assert(this.settings.setIndex > 0 && this.settings.setIndex <= this.applied, () => `image cluster limits were set at index ${this.settings.setIndex}, outside [1, ${this.applied}]`);
        continue;
      }
      if (session.clientId.startsWith(leaseRecordPrefix)) {
        const lease = decodeLeaseRecord(session);
        assert(this.leaseTable.get(lease.id) === undefined, () => `image holds lease ${lease.id} twice`);
        this.leaseTable.add(lease.id, lease.ttlS);
        continue;
      }
      if (session.clientId.startsWith(retiredSessionPrefix)) {
        assert(session.lastSeenMs <= this.clock, () => `image retired session ${JSON.stringify(session.clientId)} was retired after the clock`);
        this.retired.load(session);
        continue;
      }
      assert(session.clientId !== '' && this.sessions.get(session.clientId) === undefined, () => `image session ${JSON.stringify(session.clientId)} is empty or repeated`);
      assert(session.lastSeenMs <= this.clock, () => `image session ${JSON.stringify(session.clientId)} was seen after the clock`);
      assert(session.responses.length <= sessionResponsesMax, 'image session has too many responses');
      let previousSeq = session.ackSeq;
      for (const response of session.responses) {
        assert(response.seq > previousSeq, () => `image session ${JSON.stringify(session.clientId)} responses out of order`);
        previousSeq = response.seq;
      }
      this.sessions.set(session);
    }
    for (const [key, lease] of leased) {
      assert(this.leaseTable.get(lease) !== undefined, () => `image key ${JSON.stringify(key)} is attached to lease ${lease}, which the image does not hold`);
      this.leaseTable.reattach(key, undefined, lease);
    }
  }
}

const sessionTag = new Uint8Array([2]);
const limitsTag = new Uint8Array([3]);
const authTag = new Uint8Array([4]);
const alarmTag = new Uint8Array([5]);

/**
 * The clock after an entry stamped `timeMs`: it never goes back, and one entry moves it forward
 * by at most `clockStepMsMax`, so one leader's clock jump cannot expire every session at once.
 * The first stamped entry of a fresh state (clock 0) sets it.
 */
function nextClock(clock: number, timeMs: number): number {
  if (clock === 0) return timeMs;
  return Math.max(clock, Math.min(timeMs, clock + clockStepMsMax));
}

function errorResult(code: ErrorResult['code'], message: string): ErrorResult {
  return { type: 'error', code, message };
}

/**
 * The encoded answer to save for replay: the result itself, or, when it is larger than
 * `savedResultBytesMax`, a small FAILED_PRECONDITION saying that the write was applied.
 */
function savedAnswer(seq: number, result: WriteResult): Uint8Array {
  const encoded = encodeWriteResult(result);
  if (encoded.length <= savedResultBytesMax) return encoded;
  const revisionNote = 'revision' in result ? ` at revision ${result.revision}` : '';
  return encodeWriteResult(
    errorResult(
      'FAILED_PRECONDITION',
      `seq ${seq} was applied${revisionNote}, but its ${encoded.length}-byte answer is over savedResultBytesMax (${savedResultBytesMax}) and was not kept; read the keys to see the outcome`,
    ),
  );
}
