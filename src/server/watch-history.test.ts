// Proves the watch history keeps exactly the newest revisions within its event bound, never drops
// the newest revision, and that `since` returns the same revisions as a plain scan, for random
// histories (fast-check against an array model).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { revision } from '../util/index.js';
import { WatchHistory } from './watch-history.js';

/** The reference: an array with the old O(n) trimming. */
function model(eventsMax: number, pushes: readonly number[]) {
  const kept: { revision: number; events: number[] }[] = [];
  let events = 0;
  pushes.forEach((n, i) => {
    kept.push({ revision: i + 1, events: Array.from({ length: n }, (_, j) => j) });
    events += n;
    while (events > eventsMax && kept.length > 1) events -= kept.shift()?.events.length ?? 0;
  });
  return kept;
}

describe('WatchHistory', () => {
  it('keeps what the array model keeps and answers since() like a scan', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 60 }), fc.integer({ min: 0, max: 70 }), (eventsMax, pushes, from) => {
        const h = new WatchHistory<number>(eventsMax);
        pushes.forEach((n, i) => h.push(revision(i + 1), Array.from({ length: n }, (_, j) => j)));
        const expected = model(eventsMax, pushes);
        expect(h.revisions).toBe(expected.length);
        expect(h.events).toBe(expected.reduce((a, e) => a + e.events.length, 0));
        expect(h.oldestRevision()).toBe(expected[0]?.revision ?? null);
        expect([...h.since(from)].map((e) => e.revision)).toEqual(expected.filter((e) => e.revision >= from).map((e) => e.revision));
      }),
    );
  });

  it('keeps the newest revision even when it alone exceeds the bound', () => {
    const h = new WatchHistory<number>(3);
    h.push(revision(1), [1]);
    h.push(revision(2), [1, 2, 3, 4, 5]);
    expect([...h.since(0)].map((e) => e.revision)).toEqual([2]);
    expect(h.events).toBe(5);
  });

  it('refuses a revision that does not grow, and forgets everything on clear', () => {
    const h = new WatchHistory<number>(10);
    h.push(revision(5), [1]);
    expect(() => h.push(revision(5), [1])).toThrow(/revision 5 after 5/);
    h.clear();
    expect(h.oldestRevision()).toBeNull();
    expect([...h.since(0)]).toEqual([]);
  });
});
