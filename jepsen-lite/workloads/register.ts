/**
 * Per-key registers: linearizable gets, puts of unique values and compare-and-swaps (a Txn whose
 * compare is the expected VALUE, or CREATE revision 0 for "absent", and whose success branch is
 * the put), over a pool of keys. Every operation is a register-model operation for the
 * linearizability checker.
 */
import type { GetResponseMsg, TxnResponseMsg } from '../../src/api/index.js';
import { CompareResult, CompareTarget } from '../../src/api/index.js';
import type { OpRecord } from '../history.js';
import type { Workload, WorkloadContext } from './workload.js';
import { bytes, clientName, homeNode, KeyPool, statusOf, text } from './workload.js';

/** A linearizable get of `key` by client `index`, recorded. Returns the record. */
export async function recordedGet(ctx: WorkloadContext, index: number, key: string, workload: OpRecord['workload'], extra: Partial<OpRecord> = {}): Promise<OpRecord> {
  const client = ctx.clients[index];
  if (!client) throw new Error(`no client ${index}`);
  const call = ctx.recorder.now();
  const r = await client.read<GetResponseMsg>('Get', { key: bytes(key) }, homeNode(ctx, index), ctx.timing.read);
  const ret = ctx.recorder.now();
  const base = { type: 'op', client: clientName(index), workload, f: 'get', key, call, ret, attempts: r.attempts, ...extra } as const;
  if (r.kind === 'ok') return ctx.recorder.add<OpRecord>({ ...base, status: 'ok', value: r.value.found ? text(r.value.value) : null, node: r.node });
  return ctx.recorder.add<OpRecord>({ ...base, status: 'fail', error: r.error });
}

/** A compare-and-swap of `key` from `expected` (null: absent) to `newValue`, recorded. */
export async function recordedCas(
  ctx: WorkloadContext,
  index: number,
  key: string,
  expected: string | null,
  newValue: string,
  workload: OpRecord['workload'],
  extra: Partial<OpRecord> = {},
): Promise<OpRecord> {
  const client = ctx.clients[index];
  if (!client) throw new Error(`no client ${index}`);
  const compare =
    expected === null
      ? { key: bytes(key), target: CompareTarget.CREATE, result: CompareResult.EQUAL, createRevision: 0 }
      : { key: bytes(key), target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: bytes(expected) };
  const request = { compare: [compare], success: [{ requestPut: { key: bytes(key), value: bytes(newValue) } }], failure: [] };
  const call = ctx.recorder.now();
  const r = await client.write<TxnResponseMsg>('Txn', request, ctx.timing.write);
  const ret = ctx.recorder.now();
  const base = { type: 'op', client: clientName(index), workload, f: 'cas', key, expected, newValue, call, attempts: r.attempts, ...extra } as const;
  if (r.kind === 'ok') return ctx.recorder.add<OpRecord>({ ...base, ret, status: 'ok', casOk: r.value.succeeded === true, node: r.node });
  return ctx.recorder.add<OpRecord>({ ...base, ret: r.kind === 'unknown' ? null : ret, status: statusOf(r.kind), error: r.error });
}

/** The register workload. */
export function registerWorkload(ctx: { keys: number; opsPerKey: number }): Workload & { pool: KeyPool } {
  const pool = new KeyPool('r:', ctx.keys, ctx.opsPerKey);
  return {
    name: 'register',
    pool,
    async setup(): Promise<void> {},
    async client(ctx: WorkloadContext, index: number): Promise<void> {
      const client = ctx.clients[index];
      if (!client) return;
      const lastSeen = new Map<string, string | null>();
      let counter = 0;
      while (ctx.running()) {
        const started = Date.now();
        const key = pool.pick(ctx.random);
        const dice = ctx.random.float();
        if (dice < 0.5) {
          const op = await recordedGet(ctx, index, key, 'register');
          if (op.status === 'ok') lastSeen.set(key, op.value ?? null);
        } else if (dice < 0.75) {
          const value = `${clientName(index)}-${++counter}`;
          const call = ctx.recorder.now();
          const r = await client.write('Put', { key: bytes(key), value: bytes(value) }, ctx.timing.write);
          const ret = ctx.recorder.now();
          const base = { type: 'op', client: clientName(index), workload: 'register', f: 'put', key, value, call, attempts: r.attempts } as const;
          if (r.kind === 'ok') {
            ctx.recorder.add<OpRecord>({ ...base, ret, status: 'ok', node: r.node });
            lastSeen.set(key, value);
          } else ctx.recorder.add<OpRecord>({ ...base, ret: r.kind === 'unknown' ? null : ret, status: statusOf(r.kind), error: r.error });
        } else {
          const expected = lastSeen.get(key) ?? null;
          const value = `${clientName(index)}-${++counter}`;
          const op = await recordedCas(ctx, index, key, expected, value, 'register');
          if (op.status === 'ok' && op.casOk === true) lastSeen.set(key, value);
        }
        await ctx.pace(index, started);
      }
    },
    async finalReads(ctx: WorkloadContext): Promise<void> {
      await finalRangeReads(ctx, 'r:', pool.touched, 'register');
    },
  };
}

/**
 * Reads every key under `prefix` from every node with one linearizable Range each, and records it
 * as one get per touched key (absent keys read as null). A Range is answered at one revision, so
 * each get is linearizable within the Range's interval.
 */
export async function finalRangeReads(ctx: WorkloadContext, prefix: string, touched: readonly string[], workload: OpRecord['workload']): Promise<void> {
  const client = ctx.clients[0];
  if (!client) return;
  for (const node of ctx.nodeIds) {
    const call = ctx.recorder.now();
    const r = await client.read<{ kvs: { key: Uint8Array; value: Uint8Array }[]; more: boolean }>(
      'Range',
      { key: bytes(prefix), prefix: true },
      node,
      { budgetMs: 10_000, attemptTimeoutMs: 5_000 },
    );
    const ret = ctx.recorder.now();
    if (r.kind !== 'ok' || r.node !== node) {
      ctx.recorder.add<OpRecord>({ type: 'op', client: 'final', workload, f: 'get', key: prefix, call, ret, status: 'fail', node, final: true, error: r.kind === 'ok' ? `answered by ${r.node}` : r.error });
      continue;
    }
    if (r.value.more) throw new Error(`final read of ${prefix}* on ${node} was cut by the server's range limit`);
    const values = new Map(r.value.kvs.map((kv) => [text(kv.key), text(kv.value)]));
    for (const key of touched) {
      ctx.recorder.add<OpRecord>({ type: 'op', client: `final:${node}:${key}`, workload, f: 'get', key, value: values.get(key) ?? null, call, ret, status: 'ok', node, final: true });
    }
  }
}
