// The harness's own checks find lost, duplicated, phantom and stale elements, lost register writes, broken bank totals and slow recoveries, and pass clean histories.
import { describe, expect, it } from 'vitest';
import type { OpRecord } from '../history.js';
import { cutsBetween } from '../net/network.js';
import { checkAppend } from './append-check.js';
import { checkAvailability } from './availability.js';
import { checkBank } from './bank-check.js';
import { checkLinearizability } from './linearizability.js';
import { checkLostWrites } from './lost-writes.js';

let nextId = 1;
function op(fields: Partial<OpRecord> & Pick<OpRecord, 'f' | 'call'>): OpRecord {
  return { type: 'op', id: nextId++, client: 'c1', workload: 'append', ret: fields.call + 1, status: 'ok', ...fields } as OpRecord;
}

describe('append element check', () => {
  const base = (): OpRecord[] => [
    op({ f: 'append', key: 'a:0', element: 'e1', call: 0, ret: 10 }),
    op({ f: 'append', key: 'a:0', element: 'e2', call: 20, ret: 30 }),
    op({ f: 'get', key: 'a:0', value: 'e1 e2', call: 40, ret: 41, client: 'c2' }),
  ];

  it('passes a clean history', () => {
    const r = checkAppend(base());
    expect(r.ok, r.problems.join('\n')).toBe(true);
  });

  it('finds a duplicated element', () => {
    const r = checkAppend([...base(), op({ f: 'get', key: 'a:0', value: 'e1 e2 e2', call: 50, client: 'c3' })]);
    expect(r.ok).toBe(false);
    expect(r.data).toMatchObject({ duplicated: 1 });
  });

  it('finds a phantom element and one whose append certainly failed', () => {
    const failed = op({ f: 'append', key: 'a:0', element: 'e3', call: 60, ret: 70, status: 'fail', error: 'not applied' });
    const r = checkAppend([...base(), failed, op({ f: 'get', key: 'a:0', value: 'e1 e2 e3 zz', call: 80, client: 'c3' })]);
    expect(r.data).toMatchObject({ phantom: 2 });
  });

  it('finds a lost acknowledged element in a later read', () => {
    const r = checkAppend([...base(), op({ f: 'get', key: 'a:0', value: 'e1', call: 90, client: 'c3', final: true })]);
    expect(r.data).toMatchObject({ lost: 1 });
    expect(r.problems.join('\n')).toMatch(/e2.*missing from the final read/);
  });

  it('finds divergent and stale reads', () => {
    const r = checkAppend([
      ...base(),
      op({ f: 'get', key: 'a:0', value: 'e2', call: 12, ret: 13, client: 'c4' }),
      op({ f: 'get', key: 'a:0', value: 'e1', call: 50, ret: 51, client: 'c5' }),
    ]);
    expect(r.data).toMatchObject({ divergent: 1 });
    expect((r.data as { stale: number }).stale).toBeGreaterThan(0);
  });
});

describe('lost register writes', () => {
  const history = (finalValue: string | null): OpRecord[] => [
    op({ f: 'put', workload: 'register', key: 'r:0', value: 'v1', call: 0, ret: 5 }),
    op({ f: 'put', workload: 'register', key: 'r:0', value: 'v2', call: 10, ret: 15, client: 'c2' }),
    op({ f: 'get', workload: 'register', key: 'r:0', value: finalValue, call: 30, ret: 31, client: 'final', final: true }),
  ];

  it('passes when the final read sees the last acknowledged write', () => {
    expect(checkLostWrites(history('v2')).ok).toBe(true);
    expect(checkLinearizability(history('v2')).ok).toBe(true);
  });

  it('reports an acknowledged write the final read does not see', () => {
    const r = checkLostWrites(history('v1'));
    expect(r.ok).toBe(false);
    expect(r.data).toMatchObject({ lost: 1 });
    const lin = checkLinearizability(history('v1'));
    expect(lin.ok).toBe(false);
    expect(lin.data).toMatchObject({ verdict: 'not-linearizable' });
  });

  it('reports a final read that sees nothing after acknowledged writes', () => {
    expect(checkLostWrites(history(null)).data).toMatchObject({ lost: 1 });
  });

  it('does not blame a write concurrent with the one read', () => {
    const h = [
      op({ f: 'put', workload: 'register', key: 'r:1', value: 'a', call: 0, ret: 20 }),
      op({ f: 'put', workload: 'register', key: 'r:1', value: 'b', call: 5, ret: 10, client: 'c2' }),
      op({ f: 'get', workload: 'register', key: 'r:1', value: 'a', call: 30, ret: 31, client: 'c3', final: true }),
    ];
    expect(checkLostWrites(h).ok).toBe(true);
  });
});

describe('bank check', () => {
  it('passes the opening balances and fails a changed total or a negative balance', () => {
    const good = op({ f: 'read', workload: 'bank', balances: { 'b:0': 100, 'b:1': 100, 'b:2': 100, 'b:3': 100, 'b:4': 100 }, call: 0 });
    expect(checkBank([good]).ok).toBe(true);
    const bad = op({ f: 'read', workload: 'bank', balances: { 'b:0': 90, 'b:1': 100, 'b:2': 100, 'b:3': 100, 'b:4': 100 }, call: 5 });
    expect(checkBank([good, bad]).ok).toBe(false);
    const negative = op({ f: 'read', workload: 'bank', balances: { 'b:0': -10, 'b:1': 110, 'b:2': 100, 'b:3': 100, 'b:4': 200 }, call: 9 });
    expect(checkBank([good, negative]).problems.join('\n')).toMatch(/negative/);
    expect(checkBank([]).ok).toBe(false);
  });
});

describe('availability check', () => {
  const writes = (times: number[]): OpRecord[] => times.map((t) => op({ f: 'put', workload: 'register', key: 'r:0', value: `v${t}`, call: t - 5, ret: t }));
  const heal = { family: 'partition', kind: 'isolate-leader', healAt: 10_000, until: 30_000, leaderBefore: { id: 'n2', term: 3 }, leaderAfter: { id: 'n2', term: 3 }, leaderMayChange: false };
  const window = { family: 'partition', kind: 'isolate-leader', nodes: ['n1'], start: 5000, end: 10_000, detail: '' };

  it('measures recovery and the longest write gap after a heal', () => {
    const r = checkAvailability(writes([1000, 2000, 10_500, 11_000, 20_000, 29_000]), [window], [heal], { start: 0, end: 30_000 });
    expect(r.heals[0]?.recoveryMs).toBeCloseTo(500);
    expect(r.heals[0]?.longestWriteGapMs).toBeCloseTo(9000);
    expect(r.ok, r.problems.join('\n')).toBe(true);
  });

  it('fails a slow recovery, a long gap and a deposed leader', () => {
    const slow = checkAvailability(writes([1000, 22_000, 23_000]), [window], [heal], { start: 0, end: 30_000 });
    expect(slow.ok).toBe(false);
    expect(slow.problems.join('\n')).toMatch(/first successful write after 12\.0 s/);
    const deposed = checkAvailability(writes([1000, 10_100, 12_000, 20_000, 29_000]), [window], [{ ...heal, leaderAfter: { id: 'n1', term: 4 } }], { start: 0, end: 30_000 });
    expect(deposed.problems.join('\n')).toMatch(/replaced by n1/);
  });

  it('fails when too few operations succeed outside fault windows', () => {
    const failing = Array.from({ length: 10 }, (_, i) => op({ f: 'get', workload: 'register', key: 'r:0', call: 20_000 + i * 100, ret: 20_050 + i * 100, status: 'fail' }));
    const r = checkAvailability([...writes([1000, 10_100, 19_000, 29_000]), ...failing], [window], [heal], { start: 0, end: 30_000 });
    expect(r.problems.join('\n')).toMatch(/outside fault windows succeeded/);
  });
});

describe('cutsBetween', () => {
  it('cuts every link between groups both ways, and none inside a group or to a bridge', () => {
    expect(cutsBetween([['n1'], ['n2', 'n3']]).map((c) => `${c.from}>${c.to}`).sort()).toEqual(['n1>n2', 'n1>n3', 'n2>n1', 'n3>n1']);
    expect(cutsBetween([['n1'], ['n3']]).map((c) => `${c.from}>${c.to}`).sort()).toEqual(['n1>n3', 'n3>n1']);
  });
});
