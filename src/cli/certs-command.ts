/**
 * `raftkv certs`: development certificates made with openssl (src/tls/dev-certs.ts).
 *
 *   raftkv certs dev --dir certs --nodes n1,n2,n3     CA + one certificate per node + client "admin"
 *   raftkv certs ca --dir certs                       a CA (ca.pem, ca-key.pem)
 *   raftkv certs node n4 --dir certs --hosts raftkv-3.raftkv,10.0.0.4
 *   raftkv certs client alice --dir certs
 *
 * Node certificates carry the SAN URI raftkv://node/<id> (the peer port's identity) plus DNS
 * and IP names for clients to check; client certificates carry raftkv://client/<name>.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { println } from './output.js';

const list = (text: string): string[] => text.split(',').map((s) => s.trim()).filter((s) => s !== '');

function dirOption(): Option {
  return new Option('--dir <dir>', 'where the certificates go').default('certs');
}

function daysOption(fallback: number): Option {
  return new Option('--days <n>', 'validity in days').argParser((v) => Number(v)).default(fallback);
}

/** Registers `certs` and its subcommands. */
export function registerCertsCommand(program: Command): void {
  const certs = program.command('certs').description('make development TLS certificates with openssl (see README, Security)');
  certs
    .command('dev')
    .description('a CA, one certificate per node and a client certificate, in one go (existing files are kept)')
    .addOption(dirOption())
    .option('--nodes <ids>', 'node ids, comma-separated', 'n1,n2,n3')
    .option('--hosts <names>', 'extra DNS names or IPs for every node certificate, comma-separated', '')
    .option('--clients <names>', 'client certificate names, comma-separated', 'admin')
    .action(async (o: { dir: string; nodes: string; hosts: string; clients: string }) => {
      const { createDevCerts } = await import('../tls/index.js');
      createDevCerts(o.dir, list(o.nodes), { hosts: list(o.hosts), clients: list(o.clients) });
      println(`certificates in ${o.dir}: ca.pem, ${list(o.nodes).map((n) => `${n}.pem`).join(', ')}, ${list(o.clients).map((c) => `client-${c}.pem`).join(', ')} (each with its -key.pem)`);
    });
  certs
    .command('ca')
    .description('a new CA: ca.pem and ca-key.pem (keep ca-key.pem secret)')
    .addOption(dirOption())
    .addOption(daysOption(3650))
    .option('--force', 'replace an existing CA')
    .action(async (o: { dir: string; days: number; force?: boolean }) => {
      const { createCa } = await import('../tls/index.js');
      const p = createCa(o.dir, { days: o.days, force: o.force === true });
      println(`${p.certFile}\n${p.keyFile}`);
    });
  certs
    .command('node <id>')
    .description('a node certificate from the CA in --dir: SAN URI raftkv://node/<id>, loopback, <id>, and --hosts')
    .addOption(dirOption())
    .option('--hosts <names>', 'DNS names or IPs clients and peers reach this node at, comma-separated', '')
    .addOption(daysOption(365))
    .option('--force', 'replace an existing certificate')
    .action(async (id: string, o: { dir: string; hosts: string; days: number; force?: boolean }) => {
      const { createNodeCert } = await import('../tls/index.js');
      const p = createNodeCert(o.dir, id, { hosts: list(o.hosts), days: o.days, force: o.force === true });
      println(`${p.certFile}\n${p.keyFile}`);
    });
  certs
    .command('client <name>')
    .description('a client certificate from the CA in --dir: SAN URI raftkv://client/<name>')
    .addOption(dirOption())
    .addOption(daysOption(365))
    .option('--force', 'replace an existing certificate')
    .action(async (name: string, o: { dir: string; days: number; force?: boolean }) => {
      const { createClientCert } = await import('../tls/index.js');
      const p = createClientCert(o.dir, name, { days: o.days, force: o.force === true });
      println(`${p.certFile}\n${p.keyFile}`);
    });
}
