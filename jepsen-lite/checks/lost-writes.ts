/**
 * Lost acknowledged writes on registers. Every value is written once, so a read that returns `w`
 * names the one write W that produced it. If an acknowledged write V of the same key was invoked
 * after W had returned, V must be ordered after W, and no later write can bring `w` back: a read
 * invoked after V returned that still sees `w` (or sees nothing at all) proves V was lost. The
 * final reads, made on every node after the last heal, are where lost writes show; earlier reads
 * that show the same pattern are reported as stale reads (the linearizability checker judges them too).
 */
import type { OpRecord } from '../history.js';
import type { CheckOutcome } from './check.js';

/** The value an acknowledged register write left, if it certainly wrote one. */
function writtenValue(op: OpRecord): string | null {
  if (op.status !== 'ok') return null;
  if (op.f === 'put') return op.value ?? null;
  if (op.f === 'cas' && op.casOk === true) return op.newValue ?? null;
  return null;
}

/** Checks register and append keys (both are registers on the wire). */
export function checkLostWrites(ops: readonly OpRecord[]): CheckOutcome {
  const writers = new Map<string, OpRecord>(); // key + value -> the op that may have written it
  const acked = new Map<string, OpRecord[]>(); // key -> acknowledged writes
  for (const op of ops) {
    if (op.workload === 'bank' || op.key === undefined) continue;
    if (op.f === 'put' && op.status !== 'fail') writers.set(`${op.key}\u0000${op.value ?? ''}`, op);
    if (op.f === 'cas' && op.status !== 'fail' && op.casOk !== false) writers.set(`${op.key}\u0000${op.newValue ?? ''}`, op);
    if (writtenValue(op) !== null) {
      const list = acked.get(op.key) ?? [];
      list.push(op);
      acked.set(op.key, list);
    }
  }
  const lost: string[] = [];
  const stale: string[] = [];
  let readsChecked = 0;
  for (const read of ops) {
    if (read.f !== 'get' || read.status !== 'ok' || read.key === undefined || read.ret === null) continue;
    readsChecked++;
    const w = read.value === null || read.value === undefined ? null : writers.get(`${read.key}\u0000${read.value}`);
    if (read.value !== null && read.value !== undefined && !w) continue; // a phantom: the linearizability checker reports it
    // The latest acknowledged write that must be visible to this read and must supersede w.
    const superseding = (acked.get(read.key) ?? []).filter((v) => v.ret !== null && v.ret < read.call && (w === null || w === undefined ? true : w.ret !== null && w.ret < v.call));
    const v = superseding.sort((a, b) => (b.ret ?? 0) - (a.ret ?? 0))[0];
    if (!v) continue;
    const line = `key ${JSON.stringify(read.key)}: write #${v.id} (${v.f} ${JSON.stringify(writtenValue(v))}, acknowledged at ${v.ret?.toFixed(1)} ms by ${v.node ?? '?'}) is missing from read #${read.id} on ${read.node ?? '?'} at ${read.call.toFixed(1)} ms, which saw ${read.value === null ? 'no value' : `${JSON.stringify(read.value)} written before it`}`;
    if (read.final === true) lost.push(line);
    else stale.push(line);
  }
  const ok = lost.length === 0 && stale.length === 0;
  const summary = ok
    ? `no lost acknowledged writes (${readsChecked} reads checked)`
    : `${lost.length} acknowledged writes missing from the final reads, ${stale.length} reads missed an acknowledged write`;
  return { name: 'lost-writes', ok, summary, problems: [...lost.slice(0, 15), ...stale.slice(0, 10)], data: { lost: lost.length, stale: stale.length, readsChecked } };
}
