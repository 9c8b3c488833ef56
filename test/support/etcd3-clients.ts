/** npm etcd3 clients of a test's LocalCluster, closed together at the end of the file. */
import { Etcd3 } from 'etcd3';
import type { LocalCluster } from '../../cluster/local-cluster.js';

/** A pool: `client(nodes)` connects to those nodes (all three by default); `closeAll()` closes every one made. */
export function etcd3Clients(cluster: () => LocalCluster, ids: readonly string[] = ['n1', 'n2', 'n3']): { client: (nodes?: readonly string[]) => Etcd3; closeAll: () => void } {
  const made: Etcd3[] = [];
  return {
    client: (nodes = ids) => {
      const c = new Etcd3({ hosts: nodes.map((id) => `http://${cluster().spec(id).clientAddress}`), dialTimeout: 5_000 });
      made.push(c);
      return c;
    },
    closeAll: () => made.forEach((c) => c.close()),
  };
}
