// Proves how the watch hub ends a watch: with its revisions as data, which each API words in its
// own numbering (raftkv.v1 as they are, the etcd API plus one, as every etcd revision).
import { describe, expect, it } from 'vitest';
import { logIndex, revision } from '../util/index.js';
import { toEtcdRevision } from './etcd/etcd-revision.js';
import { compactRevisionOf, describeWatchCancel, WatchHub } from './watch-hub.js';
import type { WatchCancel } from './watch-hub.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const putAt = (rev: number) => ({ index: logIndex(rev), revision: revision(rev), mutations: [{ type: 'putKey' as const, kv: { key: b('k'), value: b(`v${rev}`), createRevision: revision(1), modRevision: revision(rev), version: rev } }] });

describe('WatchHub cancels', () => {
  it('refuses a start older than the kept history with both revisions, worded per API', () => {
    let current = 0;
    const hub = new WatchHub(10, () => revision(current), 3);
    for (let r = 1; r <= 5; r++) {
      current = r;
      hub.publish([putAt(r)]);
    }
    const cancels: WatchCancel[] = [];
    hub.watch({ key: b('k'), rangeEnd: new Uint8Array(0), prefix: false, startRevision: 1 }, { events: () => {}, cancel: (c) => cancels.push(c) });
    expect(cancels).toEqual([{ kind: 'compacted', requested: 1, oldest: 3 }]);
    const [cancel] = cancels as [WatchCancel];
    expect(compactRevisionOf(cancel)).toBe(2);
    expect(describeWatchCancel(cancel)).toBe('revision 1 is older than the kept watch history (oldest 3)');
    // The etcd API's text quotes etcd's numbers (raftkv's plus one), like its compact_revision.
    expect(describeWatchCancel(cancel, toEtcdRevision)).toBe('revision 2 is older than the kept watch history (oldest 4)');
    // From the oldest kept revision on, the history replays.
    const seen: number[] = [];
    hub.watch({ key: b('k'), rangeEnd: new Uint8Array(0), prefix: false, startRevision: 3 }, { events: (_e, rev) => seen.push(rev), cancel: () => {} });
    expect(seen).toEqual([3, 4, 5]);
  });

  it('ends every watch at a snapshot install (resume from its revision) and at shutdown (none)', () => {
    const hub = new WatchHub(10, () => revision(7));
    const cancels: WatchCancel[] = [];
    const sink = { events: () => {}, cancel: (c: WatchCancel) => cancels.push(c) };
    hub.watch({ key: b('a'), rangeEnd: new Uint8Array(0), prefix: false, startRevision: 0 }, sink);
    hub.publish([{ index: logIndex(9), revision: revision(9), mutations: [], reset: true }]);
    expect(cancels.map((c) => [c.kind, compactRevisionOf(c)])).toEqual([['reset', 9]]);
    hub.watch({ key: b('a'), rangeEnd: new Uint8Array(0), prefix: false, startRevision: 0 }, sink);
    hub.close('the node is shutting down');
    expect(cancels.map((c) => [c.kind, compactRevisionOf(c), describeWatchCancel(c)])).toEqual([
      ['reset', 9, 'the node installed a snapshot; re-read and watch again'],
      ['closed', 0, 'the node is shutting down'],
    ]);
    expect(hub.size).toBe(0);
  });
});
