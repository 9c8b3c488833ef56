/**
 * Per-key append: each key holds a space-separated list of unique elements, and a client appends
 * an element by compare-and-swap (read the list, then a Txn that puts `list + element` only if the
 * value is still `list`), reading again and retrying when the swap loses a race. Reads return the
 * whole list. The element checker (checks/append-check.ts) then finds acknowledged elements that
 * were lost, elements that appear twice (a retried write applied twice: exactly-once broken) and
 * elements that appear although their append certainly failed. The gets and cases are also
 * register operations for the linearizability checker.
 */
import type { OpRecord } from '../history.js';
import { finalRangeReads, recordedCas, recordedGet } from './register.js';
import type { Workload, WorkloadContext } from './workload.js';
import { clientName, KeyPool } from './workload.js';

/** Most read-then-swap rounds one append makes before it gives up. */
export const appendRoundsMax = 5;

/** The list a value holds. */
export function parseList(value: string | null | undefined): string[] {
  return value === null || value === undefined || value === '' ? [] : value.split(' ');
}

/** The append workload. */
export function appendWorkload(options: { keys: number; opsPerKey: number }): Workload & { pool: KeyPool } {
  // An append costs two or more register operations on its key: retire keys by appends.
  const pool = new KeyPool('a:', options.keys, Math.max(4, Math.floor(options.opsPerKey / 3)));
  return {
    name: 'append',
    pool,
    async setup(): Promise<void> {},
    async client(ctx: WorkloadContext, index: number): Promise<void> {
      let counter = 0;
      while (ctx.running()) {
        const started = Date.now();
        const key = pool.pick(ctx.random);
        if (ctx.random.chance(0.25)) await recordedGet(ctx, index, key, 'append');
        else await append(ctx, index, key, `${clientName(index)}.${++counter}`);
        await ctx.pace(index, started);
      }
    },
    async finalReads(ctx: WorkloadContext): Promise<void> {
      await finalRangeReads(ctx, 'a:', pool.touched, 'append');
    },
  };
}

/**
 * Appends `element` to `key`: read, swap, and on a lost race read and swap again. The logical
 * append is `ok` once a swap succeeded, `indeterminate` if a swap's outcome stayed unknown (it may
 * yet apply, so the client stops there), and `fail` if no swap can have applied.
 */
async function append(ctx: WorkloadContext, index: number, key: string, element: string): Promise<void> {
  const id = ctx.recorder.allocateId();
  const call = ctx.recorder.now();
  let status: OpRecord['status'] = 'fail';
  let error: string | undefined;
  for (let round = 0; round < appendRoundsMax; round++) {
    const read = await recordedGet(ctx, index, key, 'append', { parent: id });
    if (read.status !== 'ok') {
      error = `read failed: ${read.error ?? ''}`;
      break;
    }
    const current = read.value ?? null;
    const next = current === null ? element : `${current} ${element}`;
    const cas = await recordedCas(ctx, index, key, current, next, 'append', { parent: id });
    if (cas.status === 'ok' && cas.casOk === true) {
      status = 'ok';
      break;
    }
    if (cas.status === 'indeterminate') {
      status = 'indeterminate';
      error = cas.error;
      break;
    }
    error = cas.status === 'fail' ? cas.error : 'lost every compare-and-swap race';
    if (!ctx.running()) break;
  }
  ctx.recorder.add<OpRecord>({
    type: 'op',
    id,
    client: clientName(index),
    workload: 'append',
    f: 'append',
    key,
    element,
    call,
    ret: status === 'indeterminate' ? null : ctx.recorder.now(),
    status,
    ...(error === undefined || status === 'ok' ? {} : { error }),
  });
}
