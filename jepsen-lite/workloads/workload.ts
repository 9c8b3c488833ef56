/**
 * What every workload shares: the context its clients run in, a pool of keys that retires a key
 * after a bounded number of operations (so each key's sub-history stays small enough for the
 * linearizability checker), and helpers to run and record one operation.
 */
import type { Prng } from '../../src/util/index.js';
import type { JepsenClient, ReadTiming, WriteTiming } from '../client/kv-client.js';
import type { Recorder, WorkloadName } from '../history.js';

/** What a workload's clients get. */
export interface WorkloadContext {
  readonly recorder: Recorder;
  /** One client per concurrency slot; client `i` reads first from node `nodeIds[i % n]`. */
  readonly clients: readonly JepsenClient[];
  readonly nodeIds: readonly string[];
  readonly random: Prng;
  readonly timing: { readonly write: WriteTiming; readonly read: ReadTiming };
  /** False once the run's time is up: clients finish their operation and return. */
  readonly running: () => boolean;
  /** Waits so that all clients together stay near the target rate. */
  readonly pace: (client: number, opStartedAtMs: number) => Promise<void>;
  /** How many keys are in use at once, and how many operations a key gets before it retires. */
  readonly keys: number;
  readonly opsPerKey: number;
}

/** A workload: clients that generate operations, then reads of the final state. */
export interface Workload {
  readonly name: WorkloadName;
  /** Creates initial state (bank accounts); recorded. */
  setup(ctx: WorkloadContext): Promise<void>;
  /** Runs client `index` until `ctx.running()` turns false. */
  client(ctx: WorkloadContext, index: number): Promise<void>;
  /** After the final heal: reads every key the run touched, from every node. */
  finalReads(ctx: WorkloadContext): Promise<void>;
}

/** UTF-8 bytes. */
export const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
/** UTF-8 text. */
export const text = (b: Uint8Array | undefined | null): string => Buffer.from(b ?? new Uint8Array(0)).toString('utf8');

/** Keys in use, each retired after `opsPerKey` operations and replaced by a fresh one. */
export class KeyPool {
  private readonly slots: { key: string; uses: number }[] = [];
  private next = 0;
  /** Every key ever handed out, in order. */
  readonly touched: string[] = [];

  constructor(
    private readonly prefix: string,
    size: number,
    private readonly opsPerKey: number,
  ) {
    for (let i = 0; i < size; i++) this.slots.push({ key: this.fresh(), uses: 0 });
  }

  /** A key for the next operation. */
  pick(random: Prng): string {
    const slot = this.slots[random.int(0, this.slots.length - 1)];
    if (!slot) throw new Error('empty key pool');
    const key = slot.key;
    slot.uses += 1;
    if (slot.uses >= this.opsPerKey) {
      slot.key = this.fresh();
      slot.uses = 0;
    }
    return key;
  }

  private fresh(): string {
    const key = `${this.prefix}${this.next++}`;
    this.touched.push(key);
    return key;
  }
}

/** The node client `index` reads from first. */
export function homeNode(ctx: WorkloadContext, index: number): string {
  return ctx.nodeIds[index % ctx.nodeIds.length] ?? ctx.nodeIds[0] ?? '';
}

/** The client's id in the history. */
export function clientName(index: number): string {
  return `c${index + 1}`;
}

/** Maps a client call's outcome to a history status (a write's unknown outcome is indeterminate). */
export function statusOf(kind: 'ok' | 'fail' | 'unknown'): 'ok' | 'fail' | 'indeterminate' {
  return kind === 'unknown' ? 'indeterminate' : kind;
}
