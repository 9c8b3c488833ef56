/**
 * The append workload's element checks. Each element is appended at most once by its client, and
 * lists only grow, so:
 * - duplicated: an element appears twice in one list (a retried write was applied twice);
 * - phantom: an element appears that no client tried to append, or whose append certainly failed;
 * - lost: an element whose append was acknowledged is missing from a read invoked after the
 *   acknowledgement (in the final reads: lost for good);
 * - divergent: two reads of a key where neither list is a prefix of the other;
 * - stale: a read invoked after another read returned sees a strictly shorter list.
 */
import type { OpRecord } from '../history.js';
import { parseList } from '../workloads/append.js';
import type { CheckOutcome } from './check.js';

/** Checks the append workload's operations. */
export function checkAppend(ops: readonly OpRecord[]): CheckOutcome {
  const appends = new Map<string, OpRecord>();
  for (const op of ops) if (op.workload === 'append' && op.f === 'append' && op.element !== undefined) appends.set(op.element, op);
  const readsByKey = new Map<string, OpRecord[]>();
  for (const op of ops) {
    if (op.workload !== 'append' || op.f !== 'get' || op.status !== 'ok' || op.key === undefined) continue;
    const list = readsByKey.get(op.key) ?? [];
    list.push(op);
    readsByKey.set(op.key, list);
  }
  const problems = { duplicated: [] as string[], phantom: [] as string[], lost: [] as string[], divergent: [] as string[], stale: [] as string[] };
  const reported = new Set<string>();
  const once = (kind: keyof typeof problems, id: string, line: string): void => {
    if (reported.has(`${kind}:${id}`)) return;
    reported.add(`${kind}:${id}`);
    problems[kind].push(line);
  };
  let reads = 0;
  for (const [key, keyReads] of readsByKey) {
    const lists = keyReads.map((r) => ({ r, list: parseList(r.value) }));
    for (const { r, list } of lists) {
      reads++;
      const seen = new Set<string>();
      for (const e of list) {
        if (seen.has(e)) once('duplicated', `${key}/${e}`, `key ${JSON.stringify(key)}: element ${e} appears more than once in read #${r.id} on ${r.node ?? '?'}: [${list.join(' ')}]`);
        seen.add(e);
        const a = appends.get(e);
        if (!a || a.key !== key) once('phantom', `${key}/${e}`, `key ${JSON.stringify(key)}: element ${e} in read #${r.id} was never appended to this key`);
        else if (a.status === 'fail') once('phantom', `${key}/${e}`, `key ${JSON.stringify(key)}: element ${e} in read #${r.id} although its append #${a.id} certainly failed (${a.error ?? ''})`);
      }
    }
    for (const a of appends.values()) {
      if (a.key !== key || a.status !== 'ok' || a.ret === null) continue;
      const missing = lists.find(({ r, list }) => r.call > (a.ret ?? Infinity) && !list.includes(a.element ?? ''));
      if (missing) {
        const where = missing.r.final === true ? 'the final read' : 'read';
        once('lost', `${key}/${a.element}`, `key ${JSON.stringify(key)}: acknowledged element ${a.element} (append #${a.id}, acknowledged at ${a.ret.toFixed(1)} ms) is missing from ${where} #${missing.r.id} on ${missing.r.node ?? '?'} at ${missing.r.call.toFixed(1)} ms`);
      }
    }
    const byLength = [...lists].sort((x, y) => x.list.length - y.list.length);
    for (let i = 1; i < byLength.length; i++) {
      const a = byLength[i - 1];
      const b = byLength[i];
      if (a && b && !isPrefix(a.list, b.list)) {
        once('divergent', key, `key ${JSON.stringify(key)}: reads #${a.r.id} [${a.list.join(' ')}] and #${b.r.id} [${b.list.join(' ')}] disagree (neither is a prefix of the other)`);
        break;
      }
    }
    for (const later of lists) {
      const earlier = lists.find((e) => e.r.ret !== null && e.r.ret < later.r.call && e.list.length > later.list.length);
      if (earlier) once('stale', `${key}/${later.r.id}`, `key ${JSON.stringify(key)}: read #${later.r.id} on ${later.r.node ?? '?'} saw ${later.list.length} elements after read #${earlier.r.id} had returned ${earlier.list.length}`);
    }
  }
  const counts = Object.fromEntries(Object.entries(problems).map(([k, v]) => [k, v.length]));
  const ok = Object.values(problems).every((v) => v.length === 0);
  const acknowledged = [...appends.values()].filter((a) => a.status === 'ok').length;
  const summary = ok
    ? `no lost, duplicated, phantom or divergent elements (${appends.size} appends, ${acknowledged} acknowledged, ${reads} reads)`
    : Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
  return { name: 'elements', ok, summary, problems: Object.values(problems).flatMap((v) => v.slice(0, 10)), data: { ...counts, appends: appends.size, acknowledged, reads } };
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  return a.length <= b.length && a.every((e, i) => b[i] === e);
}
