/**
 * One three-node (by default) cluster of real processes per test file: started in `beforeAll`
 * under a fresh temporary directory, killed by pid and removed in `afterAll`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { LocalCluster, planTestCluster } from '../../cluster/local-cluster.js';
import type { LocalClusterOptions } from '../../cluster/local-cluster.js';
import { waitForAllToKnowLeader } from './cluster-wait.js';

/** Options of `useTestCluster`. */
export interface TestClusterOptions extends LocalClusterOptions {
  readonly nodes?: number;
  /** Called with the running cluster once it has a leader. */
  readonly started: (cluster: LocalCluster, dir: string) => void;
  /** Runs before the cluster is killed (close clients here). */
  readonly beforeClose?: () => void;
}

/** Registers the hooks that start and stop the file's cluster; `name` prefixes its temp dir. */
export function useTestCluster(name: string, options: TestClusterOptions): void {
  let dir = '';
  let cluster: LocalCluster | null = null;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `raftkv-${name}-`));
    cluster = new LocalCluster(await planTestCluster(options.nodes ?? 3, dir), options);
    await cluster.startAll();
    await cluster.waitForLeader();
    // Every node, not just a majority: a follower that does not know the leader yet answers
    // "no leader" (reads, forwarded writes, etcd calls), which a test's first call must not meet.
    await waitForAllToKnowLeader(cluster, cluster.specs.map((s) => s.id));
    options.started(cluster, dir);
  });
  afterAll(async () => {
    options.beforeClose?.();
    await cluster?.killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}
