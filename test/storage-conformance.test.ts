// Runs the storage conformance suite against every DurableRaftStorage implementation.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../src/raft/index.js';
import type { ConfState } from '../src/raft/index.js';
import { LevelStorage } from '../src/storage/index.js';
import { nodeId, SeededPrng } from '../src/util/index.js';
import { SimDisk } from './sim/sim-level.js';
import { runStorageConformance } from './storage-conformance.js';
import type { StorageUnderTest } from './storage-conformance.js';

const bootstrapConf: ConfState = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] };

/** A LevelStorage that `open` opens again on every reopen; `cleanup` runs after the last close. */
async function reopenable(open: () => Promise<LevelStorage>, cleanup: () => Promise<void>): Promise<StorageUnderTest> {
  let current = await open();
  return {
    storage: current,
    reopen: async () => {
      await current.close();
      current = await open();
      return current;
    },
    close: async () => {
      await current.close();
      await cleanup();
    },
  };
}

runStorageConformance('LevelStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'raftkv-conformance-'));
  const path = join(dir, 'data');
  return reopenable(
    () => LevelStorage.open({ path, nodeId: nodeId('n1'), initialConf: bootstrapConf }),
    () => rm(dir, { recursive: true, force: true }),
  );
});

// The same LevelStorage on the simulator's LevelDB (test/sim/sim-level.ts), with WAL rotations at
// random points: the simulated disk must behave like LevelDB for everything the suite checks.
runStorageConformance('LevelStorage on SimDisk', async () => {
  const disk = new SimDisk(new SeededPrng(7), { rotationChance: 0.2 });
  return reopenable(
    () => LevelStorage.open({ path: 'sim/n1', nodeId: nodeId('n1'), initialConf: bootstrapConf, db: disk.open() }),
    async () => {},
  );
});

runStorageConformance('MemoryStorage', async () => ({ storage: new MemoryStorage({ confState: bootstrapConf }), close: async () => {} }));
