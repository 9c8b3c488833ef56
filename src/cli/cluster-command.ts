/**
 * `raftkv cluster up`: starts a local three-node cluster on loopback (client ports 7001-7003,
 * peer ports 7101-7103, HTTP ports 7201-7203, data under ./data), prints the addresses and the
 * leader, and stops every node on Ctrl-C. A node that exits meanwhile is reported on stderr with
 * the last lines of its log. With `--tls` it first makes development certificates in
 * <data-root>/certs (kept across runs) and runs TLS on the client ports and mutual TLS between
 * nodes; `--client-cert-auth` requires client certificates too.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { LocalCluster, planCluster } from '../../cluster/local-cluster.js';

/** Lines of a dead node's log `cluster up` prints. */
const logTailLines = 20;

/** Registers `cluster up` on the program. */
export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('run a local cluster on this machine');
  cluster
    .command('up')
    .description('start a local cluster on loopback and stop it on Ctrl-C')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--data-root <dir>', 'where node data dirs and pid files go', 'data')
    .option('--host <ip>', 'loopback address to bind', '127.0.0.1')
    .option('--client-port-base <n>', 'node i listens for clients on base+i', '7000')
    .option('--peer-port-base <n>', 'node i listens for peers on base+i', '7100')
    .option('--http-port-base <n>', 'node i serves /metrics on base+i', '7200')
    .option('--tls', 'TLS for clients and mutual TLS between nodes, with certificates made in <data-root>/certs')
    .option('--client-cert-auth', 'with --tls: clients need a certificate too (client-admin.pem)')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const dataRoot = String(o['dataRoot']);
      const host = String(o['host']);
      const specs = planCluster({
        nodes: Number(o['nodes']),
        host,
        dataRoot,
        clientPortBase: Number(o['clientPortBase']),
        peerPortBase: Number(o['peerPortBase']),
        httpPortBase: Number(o['httpPortBase']),
      });
      const certsDir = join(dataRoot, 'certs');
      const tls = o['tls'] === true ? { certsDir, clientCertAuth: o['clientCertAuth'] === true } : undefined;
      if (tls !== undefined) {
        const { createDevCerts } = await import('../tls/index.js');
        createDevCerts(certsDir, specs.map((s) => s.id), { hosts: [host] });
      }
      let stopping = false;
      // The nodes this command stopped itself: their exit is no news.
      let stopped = new Set<string>();
      const local: LocalCluster = new LocalCluster(specs, {
        pidDir: dataRoot,
        ...(tls === undefined ? {} : { tls }),
        // A node that dies while the cluster is up is reported at once, with the end of its log.
        onExit: (id, code, signal) => {
          if (stopped.has(id)) return;
          const log = `${local.spec(id).dataDir}.log`;
          const tail = local.logTail(id, logTailLines);
          process.stderr.write(`raftkv: node ${id} exited (${signal === null ? `code ${code}` : `signal ${signal}`}); the last ${tail.length} lines of ${log}:\n`);
          for (const line of tail) process.stderr.write(`  ${line}\n`);
        },
      });
      const stop = async (): Promise<void> => {
        if (stopping) return;
        stopping = true;
        stopped = new Set(local.running());
        process.stdout.write('\nstopping every node...\n');
        await local.stopAll();
        process.stdout.write('stopped.\n');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      let leader: Awaited<ReturnType<LocalCluster['waitForLeader']>>;
      try {
        await local.startAll();
        leader = await local.waitForLeader(30_000);
      } catch (e) {
        // Leave nothing running behind a cluster that did not come up.
        stopping = true;
        stopped = new Set(local.running());
        await local.stopAll();
        throw e;
      }
      for (const s of specs) {
        process.stdout.write(`${s.id}  client ${s.clientAddress}  peer ${s.peerAddress}  http ${s.httpAddress}  pid ${local.pid(s.id)}  log ${s.dataDir}.log\n`);
      }
      process.stdout.write(`leader: ${leader.id} (term ${leader.term})\n`);
      process.stdout.write(`endpoints: ${local.endpoints}\n`);
      if (tls !== undefined) {
        const clientCert = tls.clientCertAuth ? ` --cert ${join(certsDir, 'client-admin.pem')} --key ${join(certsDir, 'client-admin-key.pem')}` : '';
        process.stdout.write(`tls: certificates in ${certsDir}; for example: raftkv get k --cacert ${join(certsDir, 'ca.pem')}${clientCert}\n`);
      }
      process.stdout.write('Ctrl-C stops every node.\n');
      await new Promise<void>((resolveForever) => {
        const timer = setInterval(() => {
          if (!stopping && local.running().length === 0) {
            clearInterval(timer);
            process.stdout.write('every node has exited.\n');
            resolveForever();
          }
        }, 1000);
      });
    });
}
