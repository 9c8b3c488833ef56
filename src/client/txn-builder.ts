/** `client.txn()`: a transaction under construction, sent by `commit()`. */
import type { CallOptions } from './call-options.js';
import type { Compare, TxnOp } from './requests.js';
import type { TxnResult } from './results.js';

/** What `commit()` sends. */
export interface TxnSpec {
  readonly compares: readonly Compare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

/** A transaction under construction: `.if(...)`, `.then(...)`, `.else(...)`, `.commit()`. */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private readonly success: TxnOp[] = [];
  private readonly failure: TxnOp[] = [];

  constructor(private readonly commitFn: (txn: TxnSpec, options: CallOptions) => Promise<TxnResult>) {}

  /** Guards that must all hold for the `then` branch (see `compare`). */
  if(...compares: (Compare | readonly Compare[])[]): this {
    this.compares.push(...compares.flat());
    return this;
  }

  /** Operations applied when every guard holds (see `op`). */
  then(...ops: (TxnOp | readonly TxnOp[])[]): this {
    this.success.push(...ops.flat());
    return this;
  }

  /** Operations applied otherwise. */
  else(...ops: (TxnOp | readonly TxnOp[])[]): this {
    this.failure.push(...ops.flat());
    return this;
  }

  /** Sends the transaction; it applies atomically, at one revision, exactly once. */
  commit(options: CallOptions = {}): Promise<TxnResult> {
    return this.commitFn({ compares: this.compares, success: this.success, failure: this.failure }, options);
  }
}

