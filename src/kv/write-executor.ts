/**
 * Executes one write operation (put, delete or txn) against the key space, atomically: it keeps
 * the original state of every key it touches, so a refused write (the space quota) is rolled back
 * completely, and the touched keys' final states become the mutations to persist.
 *
 * Revisions follow etcd v3: a command that changes something raises the revision by exactly one,
 * however many keys it writes; every key it puts gets that revision as `modRevision`. A delete that
 * removes nothing and a txn whose branch writes nothing leave the revision alone. Results carry the
 * revision after the command (inside a txn too, for every sub-result).
 *
 * Leases (lease-table.ts): a put names the lease its key is attached to (none if absent); a put on a
 * lease that does not exist, or one that would attach more than `leaseKeysMax` keys to a lease,
 * refuses the whole command. A revoke deletes every key of the lease like a delete. The executor
 * only reads the lease table: the state machine updates it from the mutations once the command
 * stands, so a refused command leaves it untouched.
 */
import { assert, revision, unreachable } from '../util/index.js';
import type { Revision } from '../util/index.js';
import type { ClusterLimits } from './cluster-limits.js';
import { fromBinaryString, toBinaryString } from './binary-key.js';
import { resolveRange } from './key-range.js';
import type { KeySpace } from './key-space.js';
import { unpackRecord as unpack } from './packed-record.js';
import type { PackedRecord } from './packed-record.js';
import type { LeaseTable } from './lease-table.js';
import { queryRange } from './range-query.js';
import { compareOnKeys } from './txn-compare.js';
import type {
  DeleteOp,
  DeleteResult,
  ErrorResult,
  KeyValue,
  LeaseGrantOp,
  LeaseGrantResult,
  LeaseRevokeOp,
  LeaseRevokeResult,
  Mutation,
  PutOp,
  PutResult,
  RangeResult,
  TxnBranchOp,
  TxnBranchResult,
  TxnOp,
  TxnResult,
  WriteOp,
  WriteResult,
} from './types.js';

/** A result whose revision is not known yet (it depends on whether the whole command wrote). */
type Draft<T> = Omit<T, 'revision'>;
/** A draft of a txn's result, nested results included. */
interface TxnDraft extends Omit<TxnResult, 'revision' | 'results'> {
  readonly results: readonly BranchDraft[];
}
/** A draft of a result allowed inside a txn. */
type BranchDraft = Draft<PutResult> | Draft<DeleteResult> | Draft<RangeResult> | TxnDraft;
/** A draft of any successful result. */
type ResultDraft = BranchDraft | Draft<LeaseGrantResult> | Draft<LeaseRevokeResult>;

/**
 * The branch every txn of a tree takes, decided before any operation runs: `nested` has one path
 * per nested txn of the chosen branch, in order (etcd's `compareToPath`, as a tree).
 */
interface TxnPath {
  readonly succeeded: boolean;
  readonly nested: readonly TxnPath[];
}

/** Thrown inside a command to refuse it whole (rolled back by `execute`). */
class Refusal extends Error {
  constructor(readonly result: ErrorResult) {
    super(result.message);
  }
}

/** What the executor reads about leases: the table and the index of the entry being applied. */
export interface LeaseContext {
  readonly table: LeaseTable;
  /** The entry's index: a grant without an id gets the first free id from it (LeaseTable.freeId). */
  readonly index: number;
}

/** What executing one operation produced. */
export interface Executed {
  readonly result: WriteResult;
  /** The final state of every key that changed, in first-touch order. */
  readonly mutations: readonly Mutation[];
  /** The revision after the operation. */
  readonly revision: Revision;
}

/** Runs one write operation; use a new executor per command. */
export class WriteExecutor {
  /** The state before this command of every key it touched, by binary key, in first-touch order. */
  private readonly originals = new Map<string, PackedRecord | undefined>();
  /** The last `KeyValue` this command put under each key: the mutation carries it, so no one unpacks it again. */
  private readonly written = new Map<string, KeyValue>();
  /** True once a put ran or a delete removed a key: the command takes a new revision. */
  private wrote = false;
  /** The revision this command's writes carry. */
  private readonly nextRevision: Revision;
  /** Keys this command attached to each lease minus those it detached. */
  private readonly leaseKeyDeltas = new Map<number, number>();

  constructor(
    private readonly keys: KeySpace,
    private readonly limits: Pick<ClusterLimits, 'dataBytesMax' | 'rangeKeysMax' | 'leasesMax' | 'leaseKeysMax' | 'leaseTtlSMin' | 'leaseTtlSMax'>,
    /** The revision before this command. */
    private readonly currentRevision: Revision,
    private readonly leases: LeaseContext,
  ) {
    this.nextRevision = revision(currentRevision + 1);
  }

  /**
   * Executes `op` (already validated). The operation's byte arrays are stored as they are: the
   * caller hands them over and must not modify them afterwards (decodeCommand returns fresh ones).
   */
  execute(op: WriteOp): Executed {
    const dataBytesBefore = this.keys.dataBytes;
    let draft: ResultDraft;
    try {
      draft = this.run(op);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      this.rollBack();
      return { result: e.result, mutations: [], revision: this.currentRevision };
    }
    const dataBytesAfter = this.keys.dataBytes;
    // The quota refuses writes that grow the data past dataBytesMax; writes that shrink it are
    // always allowed, so an over-quota database can be cleaned up.
    if (dataBytesAfter > this.limits.dataBytesMax && dataBytesAfter > dataBytesBefore) {
      this.rollBack();
      assert(this.keys.dataBytes === dataBytesBefore, 'rollback restored dataBytes');
      const refused: ErrorResult = {
        type: 'error',
        code: 'OVERLOADED',
        message: `database space exceeded: the write would raise dataBytes from ${dataBytesBefore} to ${dataBytesAfter}, over dataBytesMax (${this.limits.dataBytesMax})`,
      };
      return { result: refused, mutations: [], revision: this.currentRevision };
    }
    const rev = this.wrote ? this.nextRevision : this.currentRevision;
    return { result: finish(draft, rev), mutations: this.mutations(), revision: rev };
  }

  private run(op: WriteOp): ResultDraft {
    switch (op.type) {
      case 'put':
        return this.put(op);
      case 'delete':
        return this.delete(op);
      case 'txn':
        return this.txn(op, this.decide(op));
      case 'leaseGrant':
        return this.grant(op);
      case 'leaseRevoke':
        return this.revoke(op);
      default:
        return unreachable(op, 'write operation');
    }
  }

  private runBranchOp(op: Exclude<TxnBranchOp, TxnOp>): BranchDraft {
    switch (op.type) {
      case 'put':
        return this.put(op);
      case 'delete':
        return this.delete(op);
      case 'range':
        return { type: 'range', ...queryRange(this.keys, op, this.limits.rangeKeysMax) };
      default:
        return unreachable(op, 'txn operation');
    }
  }

  private put(op: PutOp): Draft<PutResult> {
    const key = toBinaryString(op.key);
    // The previous record stays packed: only its revisions, version and lease are needed, and
    // its value only for ignoreValue or prevKv.
    const previous = this.keys.getRecord(key);
    const keeps = op.ignoreValue === true || op.ignoreLease === true;
    // etcd's ignore_value and ignore_lease: the key must exist where the put runs (in a txn, after
    // the operations before it), or the whole command is refused and changes nothing.
    if (keeps && previous === undefined) {
      const shown = key.length > 64 ? `${key.slice(0, 64)}...` : key;
      throw refuse('NOT_FOUND', `key ${JSON.stringify(shown)} not found: a put with ${op.ignoreValue === true ? 'ignoreValue' : 'ignoreLease'} keeps what an existing key has`);
    }
    const lease = op.ignoreLease === true ? previous?.lease : op.lease;
    this.moveLeaseKey(previous?.lease, lease);
    this.remember(key, previous);
    const kv: KeyValue = {
      key: op.key,
      value: op.ignoreValue === true && previous !== undefined ? fromBinaryString(previous.value) : op.value,
      createRevision: previous === undefined ? this.nextRevision : previous.createRevision,
      modRevision: this.nextRevision,
      version: previous === undefined ? 1 : previous.version + 1,
    };
    const stored = lease === undefined ? kv : { ...kv, lease };
    this.keys.set(key, stored);
    this.written.set(key, stored);
    this.wrote = true;
    return { type: 'put', prevKv: op.prevKv === true && previous !== undefined ? unpack(key, previous) : null };
  }

  private delete(op: DeleteOp): Draft<DeleteResult> {
    const victims: [string, PackedRecord][] = [];
    this.keys.scanKeys(resolveRange(op), (found) => {
      victims.push([found.key, found.record]);
      return true;
    });
    this.deleteKeys(victims);
    return { type: 'delete', deleted: victims.length, prevKvs: op.prevKv === true ? victims.map(([key, record]) => unpack(key, record)) : [] };
  }

  private deleteKeys(victims: readonly (readonly [string, PackedRecord])[]): void {
    for (const [key, record] of victims) {
      if (record.lease !== undefined) this.leaseKeyDeltas.set(record.lease, (this.leaseKeyDeltas.get(record.lease) ?? 0) - 1);
      this.remember(key, record);
      this.keys.delete(key);
    }
    if (victims.length > 0) this.wrote = true;
  }

  /** Checks a grant and picks its id; the state machine adds the lease once the command stands. */
  private grant(op: LeaseGrantOp): Draft<LeaseGrantResult> {
    const { table, index } = this.leases;
    if (op.id !== 0 && table.get(op.id) !== undefined) throw refuse('ALREADY_EXISTS', `lease ${op.id} already exists`);
    if (op.ttlS > this.limits.leaseTtlSMax) {
      throw refuse('INVALID_ARGUMENT', `lease TTL ${op.ttlS} s is over leaseTtlSMax (${this.limits.leaseTtlSMax} s)`);
    }
    if (table.size >= this.limits.leasesMax) throw refuse('OVERLOADED', `too many leases: ${table.size} live, leasesMax is ${this.limits.leasesMax}`);
    return { type: 'leaseGrant', id: op.id === 0 ? table.freeId(index) : op.id, ttlS: Math.max(op.ttlS, this.limits.leaseTtlSMin) };
  }

  /** Deletes every key attached to the lease, at this command's revision. */
  private revoke(op: LeaseRevokeOp): Draft<LeaseRevokeResult> {
    const lease = this.leases.table.get(op.id);
    if (lease === undefined) throw refuse('NOT_FOUND', `lease ${op.id} not found`);
    const victims: [string, PackedRecord][] = [];
    for (const key of lease.keys) {
      const record = this.keys.getRecord(key);
      assert(record !== undefined && record.lease === op.id, () => `lease ${op.id} lists key ${JSON.stringify(key)}, which is not attached to it`);
      victims.push([key, record]);
    }
    this.deleteKeys(victims);
    return { type: 'leaseRevoke', id: op.id, deleted: victims.length };
  }

  /** Accounts for a put moving a key from lease `from` to lease `to`, refusing a missing or full lease. */
  private moveLeaseKey(from: number | undefined, to: number | undefined): void {
    if (from === to) return;
    if (from !== undefined) this.leaseKeyDeltas.set(from, (this.leaseKeyDeltas.get(from) ?? 0) - 1);
    if (to === undefined) return;
    const lease = this.leases.table.get(to);
    if (lease === undefined) throw refuse('NOT_FOUND', `lease ${to} not found`);
    const delta = (this.leaseKeyDeltas.get(to) ?? 0) + 1;
    this.leaseKeyDeltas.set(to, delta);
    if (lease.keys.size + delta > this.limits.leaseKeysMax) {
      throw refuse('OVERLOADED', `lease ${to} would have ${lease.keys.size + delta} keys, more than leaseKeysMax (${this.limits.leaseKeysMax})`);
    }
  }

  /**
   * Judges the compares of `op` and, on the chosen branch, of every nested txn, all on the state
   * before the command ran any operation (etcd's `compareToPath`). Compares of a txn stop at the
   * first that fails, as etcd's `applyCompares` does. A compare over a range too large to judge
   * refuses the whole command.
   */
  private decide(op: TxnOp): TxnPath {
    const succeeded = op.compares.every((compare) => {
      const holds = compareOnKeys(compare, this.keys);
      if (typeof holds !== 'boolean') throw refuse('INVALID_ARGUMENT', holds.message);
      return holds;
    });
    const nested: TxnPath[] = [];
    for (const inner of succeeded ? op.success : op.failure) if (inner.type === 'txn') nested.push(this.decide(inner));
    return { succeeded, nested };
  }

  /** Runs the branch `path` chose, in order, nested txns on their own decided paths. */
  private txn(op: TxnOp, path: TxnPath): TxnDraft {
    let next = 0;
    const results = (path.succeeded ? op.success : op.failure).map((inner): BranchDraft => {
      if (inner.type !== 'txn') return this.runBranchOp(inner);
      const innerPath = path.nested[next++];
      assert(innerPath !== undefined, 'a decided path for every nested txn');
      return this.txn(inner, innerPath);
    });
    assert(next === path.nested.length, 'every decided nested path was used');
    return { type: 'txn', succeeded: path.succeeded, results };
  }

  /** Records `key`'s state before this command, the first time the command touches it. */
  private remember(key: string, original: PackedRecord | undefined): void {
    if (!this.originals.has(key)) this.originals.set(key, original);
  }

  private rollBack(): void {
    for (const [key, original] of this.originals) {
      if (original === undefined) this.keys.delete(key);
      else this.keys.setRecord(key, original);
    }
  }

  /** One mutation per touched key whose final state differs from its original state. */
  private mutations(): Mutation[] {
    const mutations: Mutation[] = [];
    for (const [key, original] of this.originals) {
      const current = this.keys.getRecord(key);
      // "Unchanged" is judged by revision: every put of this command gives the key this
      // command's revision, which no original has.
      if (current?.modRevision === original?.modRevision) continue;
      const prev = original === undefined ? undefined : unpack(key, original);
      if (current !== undefined) {
        const kv = this.written.get(key);
        assert(kv !== undefined && kv.modRevision === current.modRevision, () => `key ${JSON.stringify(key)} changed, but not by a put of this command`);
        mutations.push(prev === undefined ? { type: 'putKey', kv } : { type: 'putKey', kv, prev });
      } else if (prev !== undefined) mutations.push({ type: 'deleteKey', key: prev.key, prev });
    }
    return mutations;
  }
}

function refuse(code: ErrorResult['code'], message: string): Refusal {
  return new Refusal({ type: 'error', code, message });
}

/** Attaches the command's final revision to a draft and its sub-results. */
function finish(draft: ResultDraft, rev: Revision): PutResult | DeleteResult | TxnResult | LeaseGrantResult | LeaseRevokeResult {
  if (draft.type === 'txn') return finishTxn(draft, rev);
  assert(draft.type !== 'range', 'a range is not a top-level write');
  return { ...draft, revision: rev };
}

function finishTxn(draft: TxnDraft, rev: Revision): TxnResult {
  return { ...draft, revision: rev, results: draft.results.map((inner): TxnBranchResult => (inner.type === 'txn' ? finishTxn(inner, rev) : { ...inner, revision: rev })) };
}
