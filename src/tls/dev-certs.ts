/**
 * Certificates for development and tests, made with the `openssl` command line (OpenSSL 1.1.1 or
 * 3.x): a CA, node certificates and client certificates that follow identity.ts. Keys are EC
 * P-256, written with mode 0600. This is a convenience for local clusters and CI; production
 * certificates come from the operator's own CA (cert-manager, Vault, ...), following the same
 * SAN convention.
 *
 * Files, in `dir`: `ca.pem` + `ca-key.pem`; `<id>.pem` + `<id>-key.pem` per node;
 * `client-<name>.pem` + `client-<name>-key.pem` per client.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../util/index.js';
import { clientUriPrefix, nodeUriPrefix } from './identity.js';

/** Default validity of certificates made here. */
export const devCertDaysDefault = 365;
/** Hosts every node certificate names, so that local clients can check them. */
export const loopbackHosts: readonly string[] = ['127.0.0.1', '::1', 'localhost'];

const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;
const hostPattern = /^[A-Za-z0-9*_.-]{1,253}$/;

/** The files of one certificate. */
export interface CertPaths {
  readonly certFile: string;
  readonly keyFile: string;
}

/** The CA's files in `dir`. */
export function caPaths(dir: string): CertPaths {
  return { certFile: join(dir, 'ca.pem'), keyFile: join(dir, 'ca-key.pem') };
}

/** Node `id`'s files in `dir`. */
export function nodeCertPaths(dir: string, id: string): CertPaths {
  return { certFile: join(dir, `${id}.pem`), keyFile: join(dir, `${id}-key.pem`) };
}

/** Client `name`'s files in `dir`. */
export function clientCertPaths(dir: string, name: string): CertPaths {
  return { certFile: join(dir, `client-${name}.pem`), keyFile: join(dir, `client-${name}-key.pem`) };
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer; message: string };
    if (err.code === 'ENOENT') throw new FailedPreconditionError('raftkv certs needs the openssl command (install the openssl package)');
    throw new FailedPreconditionError(`openssl ${args[0] ?? ''} failed: ${err.stderr?.toString('utf8').trim() || err.message}`);
  }
}

/** Runs `fn` with a private temporary directory, removed afterwards. */
function withTemp<T>(fn: (tmp: string) => T): T {
  const tmp = mkdtempSync(join(tmpdir(), 'raftkv-certs-'));
  try {
    return fn(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function checkDays(days: number): void {
  if (!Number.isSafeInteger(days) || days < 1 || days > 3650) throw new InvalidArgumentError('days', `must be 1-3650, got ${days}`);
}

function refuseOverwrite(paths: CertPaths, force: boolean): void {
  if (force) return;
  for (const p of [paths.certFile, paths.keyFile]) if (existsSync(p)) throw new FailedPreconditionError(`${p} exists (use --force to replace it)`);
}

/** Creates a CA in `dir` (`ca.pem`, `ca-key.pem`). */
export function createCa(dir: string, options: { readonly days?: number; readonly commonName?: string; readonly force?: boolean } = {}): CertPaths {
  const days = options.days ?? devCertDaysDefault * 10;
  checkDays(days);
  mkdirSync(dir, { recursive: true });
  const paths = caPaths(dir);
  refuseOverwrite(paths, options.force === true);
  withTemp((tmp) => {
    const ext = join(tmp, 'ca.cnf');
    writeFileSync(ext, ['[req]', 'distinguished_name = dn', 'x509_extensions = v3', '[dn]', '[v3]', 'basicConstraints = critical,CA:TRUE,pathlen:0', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash', ''].join('\n'));
    openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', paths.keyFile, '-out', paths.certFile, '-days', String(days), '-subj', `/CN=${options.commonName ?? 'raftkv development CA'}`, '-config', ext, '-set_serial', serial()]);
  });
  chmodSync(paths.keyFile, 0o600);
  return paths;
}

function serial(): string {
  // A positive 63-bit serial: the first byte's top bit is cleared.
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

/** What an issued certificate is for. */
interface LeafSpec {
  readonly commonName: string;
  readonly uri: string;
  readonly hosts: readonly string[];
  readonly extendedKeyUsage: string;
}

function issue(ca: CertPaths, out: CertPaths, spec: LeafSpec, days: number): void {
  checkDays(days);
  for (const p of [ca.certFile, ca.keyFile]) if (!existsSync(p)) throw new FailedPreconditionError(`no CA at ${p} (run raftkv certs ca first)`);
  const sans = [`URI:${spec.uri}`, ...spec.hosts.map((h) => (isIP(h) !== 0 ? `IP:${h}` : `DNS:${h}`))];
  withTemp((tmp) => {
    const csr = join(tmp, 'leaf.csr');
    const ext = join(tmp, 'leaf.cnf');
    writeFileSync(ext, ['[v3]', 'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature,keyEncipherment', `extendedKeyUsage = ${spec.extendedKeyUsage}`, `subjectAltName = ${sans.join(',')}`, 'authorityKeyIdentifier = keyid', 'subjectKeyIdentifier = hash', ''].join('\n'));
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', out.keyFile, '-out', csr, '-subj', `/CN=${spec.commonName}`]);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', serial(), '-days', String(days), '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', out.certFile]);
  });
  chmodSync(out.keyFile, 0o600);
}

/**
 * Issues node `id`'s certificate from the CA in `dir`: SAN URI `raftkv://node/<id>`, the
 * loopback addresses, `id` itself as a DNS name, and `hosts` (the addresses clients dial);
 * usable as server and client (a node dials its peers with it).
 */
export function createNodeCert(dir: string, id: string, options: { readonly hosts?: readonly string[]; readonly days?: number; readonly force?: boolean } = {}): CertPaths {
  if (!namePattern.test(id)) throw new InvalidArgumentError('id', 'must be 1-64 characters of letters, digits, _ . -');
  const hosts = [...new Set([...loopbackHosts, id, ...(options.hosts ?? [])])];
  for (const h of hosts) if (!hostPattern.test(h) && isIP(h) === 0) throw new InvalidArgumentError('hosts', `"${h}" is not a host name or IP address`);
  const out = nodeCertPaths(dir, id);
  refuseOverwrite(out, options.force === true);
  issue(caPaths(dir), out, { commonName: id, uri: `${nodeUriPrefix}${id}`, hosts, extendedKeyUsage: 'serverAuth,clientAuth' }, options.days ?? devCertDaysDefault);
  return out;
}

/** Issues client `name`'s certificate from the CA in `dir`: SAN URI `raftkv://client/<name>`, client use only. */
export function createClientCert(dir: string, name: string, options: { readonly days?: number; readonly force?: boolean } = {}): CertPaths {
  if (!namePattern.test(name)) throw new InvalidArgumentError('name', 'must be 1-64 characters of letters, digits, _ . -');
  const out = clientCertPaths(dir, name);
  refuseOverwrite(out, options.force === true);
  issue(caPaths(dir), out, { commonName: name, uri: `${clientUriPrefix}${name}`, hosts: [], extendedKeyUsage: 'clientAuth' }, options.days ?? devCertDaysDefault);
  return out;
}

/**
 * A whole development set in `dir`: the CA (kept if it exists), one certificate per node id and
 * one client certificate (`admin` by default). Existing node and client certificates are kept.
 */
export function createDevCerts(dir: string, nodeIds: readonly string[], options: { readonly hosts?: readonly string[]; readonly clients?: readonly string[] } = {}): void {
  if (!existsSync(caPaths(dir).certFile)) createCa(dir);
  for (const id of nodeIds) if (!existsSync(nodeCertPaths(dir, id).certFile)) createNodeCert(dir, id, options.hosts === undefined ? {} : { hosts: options.hosts });
  for (const name of options.clients ?? ['admin']) if (!existsSync(clientCertPaths(dir, name).certFile)) createClientCert(dir, name);
}
