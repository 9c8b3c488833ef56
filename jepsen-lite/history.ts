/**
 * The run's history: every client operation from invocation to completion, and every fault the
 * nemesis injected or healed, in one time base (ms since the run started, monotonic). Written as
 * JSONL while the run goes (so a crashed run still leaves its history) and kept in memory for the
 * checkers and the report.
 */
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { OpStatus } from './checker/index.js';

/** The workloads. */
export type WorkloadName = 'register' | 'append' | 'bank';

/**
 * One client operation. Register-model operations (`get`, `put`, `cas`) are what the
 * linearizability checker sees; `append`, `read` and `transfer` are the logical operations of the
 * append and bank workloads (an append is built from gets and cases, recorded too, with `parent`).
 */
export interface OpRecord {
  readonly type: 'op';
  readonly id: number;
  readonly client: string;
  readonly workload: WorkloadName;
  readonly f: 'get' | 'put' | 'cas' | 'append' | 'read' | 'transfer' | 'setup';
  readonly key?: string;
  /** get (ok): the value read, null when absent. put: the value written. */
  readonly value?: string | null;
  /** cas: expected value (null: absent) and new value; casOk when the cas completed. */
  readonly expected?: string | null;
  readonly newValue?: string;
  readonly casOk?: boolean;
  /** append: the unique element. */
  readonly element?: string;
  /** bank read (ok): balances by account key. */
  readonly balances?: Readonly<Record<string, number>>;
  /** bank transfer. */
  readonly transfer?: { readonly from: string; readonly to: string; readonly amount: number; readonly succeeded?: boolean };
  /** The logical operation this one is part of (append's gets and cases). */
  readonly parent?: number;
  /** True for the reads made after the final heal. */
  readonly final?: boolean;
  readonly call: number;
  /** Null exactly when the status is `indeterminate`. */
  readonly ret: number | null;
  readonly status: OpStatus;
  /** The node that answered (ok) or that was tried last. */
  readonly node?: string;
  readonly attempts?: number;
  readonly error?: string;
}

/** One nemesis event. */
export interface NemesisRecord {
  readonly type: 'nemesis';
  readonly id: number;
  readonly family: string;
  /** For example `isolate-leader`, `kill-all`, `latency`. */
  readonly kind: string;
  /** `start` and `stop` bound a fault window; `skip` says a family could not run and why; `info` is a note. */
  readonly action: 'start' | 'stop' | 'skip' | 'info';
  readonly at: number;
  readonly nodes: readonly string[];
  readonly detail: string;
  /** For `stop`: the id of the matching `start`. */
  readonly startId?: number;
}

/** A line of the history. */
export type HistoryRecord = OpRecord | NemesisRecord;

/** Distributes an `Omit` over a union. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The run's clock and record keeper. */
export class Recorder {
  readonly records: HistoryRecord[] = [];
  private nextId = 1;
  private readonly t0 = performance.now();
  private readonly out: WriteStream | null;

  constructor(path: string | null) {
    this.out = path === null ? null : createWriteStream(path, { flags: 'w' });
  }

  /** Ms since the run started, to the microsecond. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }

  /** Allocates an id (for a logical operation whose record is written when it completes). */
  allocateId(): number {
    return this.nextId++;
  }

  /** Appends a record; an `id` of 0 gets a fresh one. Returns the record. */
  add<R extends HistoryRecord>(record: DistributiveOmit<R, 'id'> & { id?: number }): R {
    const full = { ...record, id: record.id !== undefined && record.id > 0 ? record.id : this.nextId++ } as unknown as R;
    this.records.push(full);
    this.out?.write(`${JSON.stringify(full)}\n`);
    return full;
  }

  /** Operations only. */
  ops(): OpRecord[] {
    return this.records.filter((r): r is OpRecord => r.type === 'op');
  }

  /** Nemesis events only. */
  nemesis(): NemesisRecord[] {
    return this.records.filter((r): r is NemesisRecord => r.type === 'nemesis');
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    const out = this.out;
    if (!out) return;
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
}

/** A fault window: from a nemesis `start` to its `stop` (or the end of the run). */
export interface FaultWindow {
  readonly family: string;
  readonly kind: string;
  readonly nodes: readonly string[];
  readonly start: number;
  readonly end: number;
  readonly detail: string;
}

/** The fault windows of a history. */
export function faultWindows(records: readonly HistoryRecord[], endMs: number): FaultWindow[] {
  const windows: FaultWindow[] = [];
  const open = new Map<number, NemesisRecord>();
  for (const r of records) {
    if (r.type !== 'nemesis') continue;
    if (r.action === 'start') open.set(r.id, r);
    else if (r.action === 'stop' && r.startId !== undefined) {
      const s = open.get(r.startId);
      if (s) {
        windows.push({ family: s.family, kind: s.kind, nodes: s.nodes, start: s.at, end: r.at, detail: s.detail });
        open.delete(r.startId);
      }
    }
  }
  for (const s of open.values()) windows.push({ family: s.family, kind: s.kind, nodes: s.nodes, start: s.at, end: endMs, detail: s.detail });
  return windows.sort((a, b) => a.start - b.start);
}
