import { describe, expect, it } from 'vitest';
import { nodeId } from '../util/index.js';
import { Inflights } from './inflights.js';
import { Progress } from './progress.js';
import { ProgressTracker } from './progress-tracker.js';
import { idx } from './test-network.js';

const progress = (match: number, next: number): Progress => new Progress({ match: idx(match), next: idx(next), inflightAppendsMax: 2, recentActive: true });

describe('Progress and Inflights', () => {
  it('bounds the inflight window and frees acknowledged appends', () => {
    // Proves Inflights fills up at countMax and freeLE / freeFirstOne open it again.
    const w = new Inflights(2);
    w.add(idx(3));
    w.add(idx(5));
    expect(w.full()).toBe(true);
    expect(() => w.add(idx(7))).toThrow();
    w.freeLE(idx(4));
    expect([w.count(), w.full()]).toEqual([1, false]);
    w.freeFirstOne();
    expect(w.count()).toBe(0);
  });

  it('ignores stale rejections and backs up with the hint otherwise', () => {
    // Proves maybeDecrTo only acts on the answer to the latest probe, and never goes below match + 1.
    const pr = progress(2, 10);
    expect(pr.maybeDecrTo(idx(7), idx(3))).toBe(false);
    expect(pr.maybeDecrTo(idx(9), idx(4))).toBe(true);
    expect(pr.next).toBe(5);
    expect(pr.maybeDecrTo(idx(4), idx(0))).toBe(true);
    expect(pr.next).toBe(3);
    pr.becomeReplicate();
    expect(pr.maybeDecrTo(idx(2), idx(0))).toBe(false);
  });

  it('pauses a probe after one append and a replicating follower when the window is full', () => {
    // Proves isPaused() in each state.
    const pr = progress(0, 1);
    pr.sentAppend(0, idx(0));
    expect(pr.isPaused()).toBe(true);
    pr.maybeUpdate(idx(1));
    pr.becomeReplicate();
    pr.sentAppend(1, idx(2));
    pr.sentAppend(1, idx(3));
    expect([pr.next, pr.isPaused()]).toEqual([4, true]);
    pr.becomeSnapshot(idx(9));
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(10);
  });

  it('computes the commit index and election outcome from voters only', () => {
    // Proves learners never count: committedIndex and voteResult use the voters' majority.
    const t = new ProgressTracker(4);
    t.setConf({ voters: ['a', 'b', 'c'].map(nodeId), learners: [nodeId('d')] }, idx(10));
    const set = (id: string, match: number): void => void t.progress.get(nodeId(id))?.maybeUpdate(idx(match));
    set('a', 9);
    set('b', 7);
    set('d', 9);
    expect(t.committedIndex()).toBe(7);
    t.recordVote(nodeId('a'), true);
    t.recordVote(nodeId('d'), true);
    expect(t.voteResult().result).toBe('pending');
    t.recordVote(nodeId('b'), false);
    t.recordVote(nodeId('c'), false);
    expect(t.voteResult()).toEqual({ granted: 1, rejected: 2, result: 'lost' });
  });
});
