// Cost of publishing one revision into the watch history, empty versus holding its full
// 100,000 events: run with `npx vitest bench --run src/server/watch-history.bench.ts`.
// Before the deque, the full case cost O(history) per write (Array.prototype.shift).
import { bench, describe } from 'vitest';
import { revision } from '../util/index.js';
import { WatchHistory } from './watch-history.js';
import { watchHistoryEventsMax } from './watch-hub.js';

function filled(count: number): { h: WatchHistory<number>; next: number } {
  const h = new WatchHistory<number>(watchHistoryEventsMax);
  for (let i = 1; i <= count; i++) h.push(revision(i), [i]);
  return { h, next: count + 1 };
}

describe('watch history push', () => {
  const small = filled(10);
  const full = filled(watchHistoryEventsMax);
  bench('history of 10 events', () => {
    small.h.push(revision(small.next++), [0]);
  });
  bench(`full history (${watchHistoryEventsMax} events)`, () => {
    full.h.push(revision(full.next++), [0]);
  });
});

// The layout this replaced, for comparison: an array trimmed with shift().
describe('array with shift (the layout before the deque)', () => {
  const full = Array.from({ length: watchHistoryEventsMax }, (_, i) => ({ revision: i + 1, events: [i] }));
  let next = watchHistoryEventsMax + 1;
  bench(`full history (${watchHistoryEventsMax} events)`, () => {
    full.push({ revision: next++, events: [0] });
    full.shift();
  });
});
