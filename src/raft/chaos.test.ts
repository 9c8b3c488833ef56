import { describe, expect, it } from 'vitest';
import { isErrorCode, nodeId, SeededPrng } from '../util/index.js';
import type { Prng } from '../util/index.js';
import type { ConfChange } from './types.js';
import { TestNetwork } from './test-network.js';

const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** Checks Election Safety and State Machine Safety (Raft paper Figure 3) across the network. */
class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly appliedAt = new Map<number, string>();
  private readonly checkedCount = new Map<string, number>();

  check(net: TestNetwork): void {
    for (const n of net.nodes.values()) {
      if (!n.up) continue;
      const s = n.raw.status();
      if (s.role === 'leader') {
        const known = this.leaderOfTerm.get(s.term);
        expect(known === undefined || known === n.id, `two leaders in term ${s.term}: ${known} and ${n.id}`).toBe(true);
        this.leaderOfTerm.set(s.term, n.id);
      }
      for (const e of n.applied.slice(this.checkedCount.get(n.id) ?? 0)) {
        const text = `${e.term}:${e.type}:${Array.from(e.data).join(',')}`;
        const known = this.appliedAt.get(e.index);
        expect(known === undefined || known === text, `${n.id} applied ${text} at ${e.index}, another node ${known}`).toBe(true);
        this.appliedAt.set(e.index, text);
      }
      this.checkedCount.set(n.id, n.applied.length);
    }
  }
}

function attempt(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isErrorCode(e, 'PROPOSAL_DROPPED') && !isErrorCode(e, 'FAILED_PRECONDITION')) throw e;
  }
}

function pick<T>(prng: Prng, items: readonly T[]): T {
  return items[prng.int(0, items.length - 1)] as T;
}

/** One random step: a fault, a client operation, or nothing, then one tick everywhere. */
function randomStep(net: TestNetwork, prng: Prng, step: number): void {
  const roll = prng.float();
  const id = pick(prng, ids);
  const node = net.node(id);
  const down = [...net.nodes.values()].filter((n) => !n.up).length;
  if (roll < 0.3) {
    for (const leader of net.leaders()) attempt(() => net.raw(leader).propose(new TextEncoder().encode(`s${step}`)));
  } else if (roll < 0.33) {
    net.isolate(id);
  } else if (roll < 0.37) {
    net.heal();
  } else if (roll < 0.39 && node.up && down < 2) {
    net.crash(id);
  } else if (roll < 0.43 && !node.up) {
    net.restart(id);
  } else if (roll < 0.46 && node.up && node.appliedIndex > node.storage.snapshot().metadata.index) {
    node.storage.createSnapshotSync(node.appliedIndex, node.raw.status().conf, new Uint8Array([node.appliedIndex % 256]));
    node.storage.compactSync(node.appliedIndex);
  } else if (roll < 0.5 && node.up) {
    attempt(() => node.raw.readIndex(`read${step}`));
  } else if (roll < 0.51 && node.up) {
    node.raw.transferLeader(nodeId(pick(prng, ids)));
  } else if (roll < 0.53) {
    for (const leader of net.leaders()) {
      const conf = net.raw(leader).status().conf;
      const target = pick(prng, ids.filter((x) => x !== leader));
      const change: ConfChange = { type: conf.voters.includes(nodeId(target)) ? 'removeNode' : 'addVoter', nodeId: nodeId(target), context: new Uint8Array() };
      if (change.type === 'removeNode' && conf.voters.length <= 3) continue;
      attempt(() => net.raw(leader).proposeConfChange(change));
    }
  }
  net.tickAll();
}

describe('randomized fault injection', () => {
  for (let seed = 1; seed <= 12; seed++) {
    it(`seed ${seed}: keeps Election Safety and State Machine Safety, then converges`, () => {
      // Proves, under drops, delays, duplicates, partitions, crashes, compaction, transfers and membership changes, no two leaders share a term, applied entries agree, and the healed cluster converges.
      const prng = new SeededPrng(seed);
      const net = new TestNetwork(ids, { inflightAppendsMax: 4, appendBytesMax: 64, heartbeatTicks: 2 }, undefined, seed);
      net.chaos = { prng: prng.fork(), dropRate: 0.1, delayRate: 0.15, duplicateRate: 0.05 };
      const checker = new SafetyChecker();
      for (let step = 0; step < 800; step++) {
        randomStep(net, prng, step);
        checker.check(net);
      }
      net.chaos = null;
      net.heal();
      for (const n of net.nodes.values()) if (!n.up) net.restart(n.id);
      for (let i = 0; i < 200 && net.leaders().length !== 1; i++) net.tickAll();
      const [leader] = net.leaders();
      expect(leader, 'a leader after healing').toBeDefined();
      attempt(() => net.raw(leader as string).propose(new TextEncoder().encode('final')));
      net.tickAll(60);
      checker.check(net);
      const commit = net.raw(leader as string).status().commit;
      const members = net.raw(leader as string).status().conf.voters;
      for (const id of members) expect(net.node(id).appliedIndex, `${id} caught up`).toBe(commit);
    });
  }
});
