/**
 * `raftkv cluster up`: starts a local three-node cluster on loopback (client ports 7001-7003,
 * peer ports 7101-7103, HTTP ports 7201-7203, data under ./data), prints the addresses and the
 * leader, and stops every node on Ctrl-C. A node that exits meanwhile is reported on stderr with
 * the last lines of its log.
 */
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
    .action(async (o: Record<string, string>) => {
      const specs = planCluster({
        nodes: Number(o['nodes']),
        host: o['host'],
        dataRoot: o['dataRoot'],
        clientPortBase: Number(o['clientPortBase']),
        peerPortBase: Number(o['peerPortBase']),
        httpPortBase: Number(o['httpPortBase']),
      });
      let stopping = false;
      // The nodes this command stopped itself: their exit is no news.
      let stopped = new Set<string>();
      const local: LocalCluster = new LocalCluster(specs, {
        pidDir: o['dataRoot'],
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
