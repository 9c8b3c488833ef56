/**
 * A bank: a few accounts (`b:0` ... ) that start with 100 each. Transfers read every balance with
 * one linearizable Range, then move an amount with a Txn whose compares pin both balances (VALUE
 * equal to what was read) and whose success branch puts both new balances. Reads are Ranges too.
 * The total never changes and no balance goes negative, in every read, on every node, at the end.
 */
import type { RangeResponseMsg, TxnResponseMsg } from '../../src/api/index.js';
import { CompareResult, CompareTarget } from '../../src/api/index.js';
import type { OpRecord } from '../history.js';
import type { Workload, WorkloadContext } from './workload.js';
import { bytes, clientName, homeNode, statusOf, text } from './workload.js';

/** Accounts and their opening balance. */
export const bankAccounts = 5;
export const bankOpeningBalance = 100;

/** The account keys. */
export function accountKeys(): string[] {
  return Array.from({ length: bankAccounts }, (_, i) => `b:${i}`);
}

/** The bank workload. */
export function bankWorkload(): Workload {
  return {
    name: 'bank',
    async setup(ctx: WorkloadContext): Promise<void> {
      const client = ctx.clients[0];
      if (!client) return;
      const keys = accountKeys();
      const request = {
        compare: keys.map((k) => ({ key: bytes(k), target: CompareTarget.CREATE, result: CompareResult.EQUAL, createRevision: 0 })),
        success: keys.map((k) => ({ requestPut: { key: bytes(k), value: bytes(String(bankOpeningBalance)) } })),
        failure: [],
      };
      const call = ctx.recorder.now();
      const r = await client.write<TxnResponseMsg>('Txn', request, { budgetMs: 30_000, attemptTimeoutsMs: [2000, 5000] });
      const ret = ctx.recorder.now();
      if (r.kind !== 'ok' || !r.value.succeeded) throw new Error(`bank setup failed: ${r.kind === 'ok' ? 'accounts already exist' : r.error}`);
      ctx.recorder.add<OpRecord>({ type: 'op', client: 'setup', workload: 'bank', f: 'setup', call, ret, status: 'ok', node: r.node });
    },
    async client(ctx: WorkloadContext, index: number): Promise<void> {
      while (ctx.running()) {
        const started = Date.now();
        const balances = await read(ctx, index, false);
        if (balances !== null && ctx.random.chance(0.6)) await transfer(ctx, index, balances);
        await ctx.pace(index, started);
      }
    },
    async finalReads(ctx: WorkloadContext): Promise<void> {
      for (let i = 0; i < ctx.nodeIds.length; i++) await read(ctx, 0, true, ctx.nodeIds[i]);
    },
  };
}

/** Reads every balance (recorded); null if the read failed. */
async function read(ctx: WorkloadContext, index: number, final: boolean, node?: string): Promise<Record<string, number> | null> {
  const client = ctx.clients[index];
  if (!client) return null;
  const target = node ?? homeNode(ctx, index);
  const call = ctx.recorder.now();
  const timing = final ? { budgetMs: 10_000, attemptTimeoutMs: 5_000 } : ctx.timing.read;
  const r = await client.read<RangeResponseMsg>('Range', { key: bytes('b:'), prefix: true }, target, timing);
  const ret = ctx.recorder.now();
  const who = final ? `final:${target}` : clientName(index);
  if (r.kind !== 'ok' || (final && r.node !== target)) {
    ctx.recorder.add<OpRecord>({ type: 'op', client: who, workload: 'bank', f: 'read', call, ret, status: 'fail', node: target, error: r.kind === 'ok' ? `answered by ${r.node}` : r.error, ...(final ? { final } : {}) });
    return null;
  }
  const balances = Object.fromEntries(r.value.kvs.map((kv) => [text(kv.key), Number(text(kv.value))]));
  ctx.recorder.add<OpRecord>({ type: 'op', client: who, workload: 'bank', f: 'read', balances, call, ret, status: 'ok', node: r.node, ...(final ? { final } : {}) });
  return balances;
}

/** Moves a random amount between two random accounts, pinned to the balances just read. */
async function transfer(ctx: WorkloadContext, index: number, balances: Record<string, number>): Promise<void> {
  const client = ctx.clients[index];
  if (!client) return;
  const keys = accountKeys();
  const from = keys[ctx.random.int(0, keys.length - 1)] ?? 'b:0';
  let to = keys[ctx.random.int(0, keys.length - 2)] ?? 'b:1';
  if (to === from) to = keys[keys.length - 1] ?? 'b:1';
  const fromBalance = balances[from];
  const toBalance = balances[to];
  if (fromBalance === undefined || toBalance === undefined || fromBalance <= 0) return;
  const amount = ctx.random.int(1, Math.min(fromBalance, 20));
  const request = {
    compare: [
      { key: bytes(from), target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: bytes(String(fromBalance)) },
      { key: bytes(to), target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: bytes(String(toBalance)) },
    ],
    success: [
      { requestPut: { key: bytes(from), value: bytes(String(fromBalance - amount)) } },
      { requestPut: { key: bytes(to), value: bytes(String(toBalance + amount)) } },
    ],
    failure: [],
  };
  const call = ctx.recorder.now();
  const r = await client.write<TxnResponseMsg>('Txn', request, ctx.timing.write);
  const ret = ctx.recorder.now();
  const base = { type: 'op', client: clientName(index), workload: 'bank', f: 'transfer', call, attempts: r.attempts } as const;
  if (r.kind === 'ok') ctx.recorder.add<OpRecord>({ ...base, ret, status: 'ok', node: r.node, transfer: { from, to, amount, succeeded: r.value.succeeded } });
  else ctx.recorder.add<OpRecord>({ ...base, ret: r.kind === 'unknown' ? null : ret, status: statusOf(r.kind), transfer: { from, to, amount }, error: r.error });
}
