import { describe, expect, it } from 'vitest';
import { nodeId, SeededPrng, term } from '../util/index.js';
import { MemoryStorage } from './memory-storage.js';
import type { Message } from './message.js';
import { RawNode } from './raw-node.js';
import { idx, TestNetwork } from './test-network.js';
import type { ConfState, Entry, Snapshot } from './types.js';

const ids = ['n1', 'n2', 'n3'];
const conf: ConfState = { voters: ids.map(nodeId), learners: [] };
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Leader n1 with n3 cut off for 10 proposals, then n1 snapshots and compacts its log. */
function laggingFollowerAfterCompaction(): { net: TestNetwork; snapshotIndex: number } {
  const net = new TestNetwork(ids);
  net.elect('n1');
  net.isolate('n3');
  for (let i = 0; i < 10; i++) net.propose('n1', `p${i}`);
  const leader = net.node('n1');
  const at = leader.appliedIndex;
  leader.storage.createSnapshotSync(at, leader.raw.status().conf, bytes(`state@${at}`));
  leader.storage.compactSync(at);
  return { net, snapshotIndex: at };
}

/** A follower whose disk holds entries 1..10 of term 1, committed up to 5. */
function followerWithLog(): RawNode {
  const storage = new MemoryStorage({ confState: conf });
  const entries: Entry[] = Array.from({ length: 10 }, (_, i) => ({ index: idx(i + 1), term: term(1), type: 'normal', data: bytes(`e${i + 1}`) }));
  storage.persistSync({ hardState: { term: term(1), vote: null, commit: idx(5) }, entries, snapshot: null });
  return new RawNode({
    id: nodeId('n2'), storage, prng: new SeededPrng(7), electionTicks: 10, heartbeatTicks: 1, applied: idx(5),
    inflightAppendsMax: 8, appendBytesMax: 1 << 20, uncommittedBytesMax: 1 << 24, applyBytesMax: 1 << 22,
  });
}

function snapshotMessage(index: number, snapshotTerm: number, snapshotConf = conf): Message {
  const snapshot: Snapshot = { metadata: { index: idx(index), term: term(snapshotTerm), conf: snapshotConf }, data: bytes('state') };
  return { type: 'snapshot', from: nodeId('n1'), to: nodeId('n2'), term: term(2), snapshot };
}

describe('snapshots (Raft paper §7)', () => {
  it('sends a snapshot to a follower behind the compacted log, which installs it and catches up', () => {
    // Proves InstallSnapshot end to end: snapshot message, Ready.snapshot, restored log, then normal replication.
    const { net, snapshotIndex } = laggingFollowerAfterCompaction();
    net.heal();
    net.tickAll(3);
    expect(net.sent.filter((m) => m.type === 'snapshot' && m.to === 'n3')).toHaveLength(1);
    const installed = net.node('n3').readies.filter((r) => r.snapshot !== null);
    expect(installed.map((r) => r.snapshot?.metadata.index)).toEqual([snapshotIndex]);
    expect(installed[0]?.snapshot?.data).toEqual(bytes(`state@${snapshotIndex}`));
    expect(net.raw('n3').status()).toMatchObject({ firstIndex: snapshotIndex + 1, commit: snapshotIndex, applied: snapshotIndex });
    expect(net.node('n3').storage.snapshot().metadata.index).toBe(snapshotIndex);
    net.propose('n1', 'after');
    expect(net.node('n3').appliedTexts()).toEqual(['after']);
    expect(net.raw('n1').status().progress?.get(nodeId('n3'))?.state).toBe('replicate');
  });

  it('a follower restarted after installing a snapshot recovers from it', () => {
    // Proves the snapshot and the log after it survive a crash of the follower.
    const { net, snapshotIndex } = laggingFollowerAfterCompaction();
    net.heal();
    net.tickAll(3);
    net.crash('n3');
    net.restart('n3');
    expect(net.raw('n3').status()).toMatchObject({ firstIndex: snapshotIndex + 1, applied: snapshotIndex });
    net.propose('n1', 'later');
    expect(net.node('n3').appliedTexts()).toEqual(['later']);
  });

  it('resends a snapshot that was lost without any report', () => {
    // Proves a follower does not stay in the snapshot state forever when the snapshot message vanishes.
    const { net } = laggingFollowerAfterCompaction();
    net.heal();
    net.filter = (m) => m.type !== 'snapshot';
    net.tickAll(40);
    expect(net.sent.filter((m) => m.type === 'snapshot').length).toBeGreaterThanOrEqual(2);
    net.filter = null;
    net.tickAll(35);
    expect(net.raw('n3').status().commit).toBe(net.raw('n1').status().commit);
  });

  it('after reportSnapshot(failure) the leader probes again and resends', () => {
    // Proves the transport's failure report moves the follower out of the snapshot state.
    const { net } = laggingFollowerAfterCompaction();
    net.heal();
    net.filter = (m) => m.type !== 'snapshot';
    net.tickAll(1);
    expect(net.raw('n1').status().progress?.get(nodeId('n3'))?.state).toBe('snapshot');
    net.raw('n1').reportSnapshot(nodeId('n3'), false);
    expect(net.raw('n1').status().progress?.get(nodeId('n3'))?.state).toBe('probe');
    net.filter = null;
    net.tickAll(3);
    expect(net.sent.filter((m) => m.type === 'snapshot')).toHaveLength(2);
    expect(net.raw('n3').status().commit).toBe(net.raw('n1').status().commit);
  });

  it('keeps the log suffix when it already holds the snapshot last entry (Figure 13 step 6)', () => {
    // Proves a follower whose log contains (index, term) of the snapshot only advances its commit index.
    const raw = followerWithLog();
    raw.step(snapshotMessage(7, 1));
    const rd = raw.ready();
    expect(rd.snapshot).toBeNull();
    expect(rd.hardState?.commit).toBe(7);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([6, 7]);
    expect(rd.messages).toMatchObject([{ type: 'appendResponse', to: 'n1', index: 7, reject: false }]);
    expect(raw.status()).toMatchObject({ lastIndex: 10, firstIndex: 1, commit: 7 });
    raw.advance();
  });

  it('ignores a snapshot that is not newer than the commit index', () => {
    // Proves a stale snapshot is answered with the commit index and changes nothing.
    const raw = followerWithLog();
    raw.step(snapshotMessage(4, 1));
    const rd = raw.ready();
    expect(rd.snapshot).toBeNull();
    expect(rd.messages).toMatchObject([{ type: 'appendResponse', index: 5 }]);
    expect(raw.status()).toMatchObject({ lastIndex: 10, commit: 5 });
    raw.advance();
  });

  it('replaces a conflicting log with the snapshot', () => {
    // Proves a snapshot whose last entry our log lacks discards the log and restores conf, commit and applied.
    const raw = followerWithLog();
    raw.step(snapshotMessage(8, 2, { voters: conf.voters, learners: [nodeId('n4')] }));
    const rd = raw.ready();
    expect(rd.snapshot?.metadata.index).toBe(8);
    expect(rd.committedEntries).toEqual([]);
    expect(rd.hardState).toMatchObject({ term: 2, commit: 8 });
    expect(rd.messages).toMatchObject([{ type: 'appendResponse', index: 8, reject: false }]);
    expect(raw.status()).toMatchObject({ lastIndex: 8, firstIndex: 9, commit: 8, conf: { learners: ['n4'] } });
    raw.advance();
    expect(raw.status().applied).toBe(8);
  });
});
