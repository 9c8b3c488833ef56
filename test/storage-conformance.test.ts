// Runs the storage conformance suite against every DurableRaftStorage implementation.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../src/raft/index.js';
import type { ConfState } from '../src/raft/index.js';
import { LevelStorage } from '../src/storage/index.js';
import { nodeId } from '../src/util/index.js';
import { runStorageConformance } from './storage-conformance.js';

const bootstrapConf: ConfState = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] };

runStorageConformance('LevelStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'raftkv-conformance-'));
  const path = join(dir, 'data');
  const open = () => LevelStorage.open({ path, nodeId: nodeId('n1'), initialConf: bootstrapConf });
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
      await rm(dir, { recursive: true, force: true });
    },
  };
});

runStorageConformance('MemoryStorage', async () => ({ storage: new MemoryStorage({ confState: bootstrapConf }), close: async () => {} }));
