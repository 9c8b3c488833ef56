// Proves the security switches of the built CLI: `raftkv certs` writes a usable set; the
// negative controls are hidden from `serve --help` and refused unless RAFTKV_ENABLE_TEST_FAULTS=1,
// with a loud warning when allowed; a node refuses to start with another node's peer certificate.
// Every node process started here is stopped by its pid.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../cluster/local-cluster.js';
import { createDevCerts } from '../src/tls/index.js';
import { runCli } from './support/run-cli.js';
import type { CliRun } from './support/run-cli.js';

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-security-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without RAFTKV_ENABLE_TEST_FAULTS unless `env` sets it. */
function raftkv(args: readonly string[], options: { env?: Record<string, string>; until?: RegExp } = {}): Promise<CliRun> {
  return runCli(args, { env: { RAFTKV_ENABLE_TEST_FAULTS: undefined, ...options.env }, ...(options.until === undefined ? {} : { until: options.until }) });
}

async function serveArgs(id: string): Promise<string[]> {
  const [client, peer, http] = await freePorts(3);
  return ['serve', '--id', id, '--data-dir', join(dir, `data-${id}-${client}`), '--listen-client', `127.0.0.1:${client}`, '--listen-peer', `127.0.0.1:${peer}`, '--listen-http', `127.0.0.1:${http}`];
}

describe('raftkv certs', () => {
  it('makes a CA, node and client certificates, keys readable by the owner only', async () => {
    const certs = join(dir, 'certs');
    const r = await raftkv(['certs', 'dev', '--dir', certs, '--nodes', 'n1,n2', '--clients', 'alice', '--hosts', 'raftkv-0.raftkv']);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['ca.pem', 'ca-key.pem', 'n1.pem', 'n1-key.pem', 'n2.pem', 'n2-key.pem', 'client-alice.pem', 'client-alice-key.pem']) expect(existsSync(join(certs, f)), f).toBe(true);
    expect(statSync(join(certs, 'n1-key.pem')).mode & 0o777).toBe(0o600);
    const again = await raftkv(['certs', 'node', 'n1', '--dir', certs]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/exists \(use --force/);
  });
});

describe('raftkv serve', () => {
  it('hides the negative controls from --help and lists the TLS flags', async () => {
    const r = await raftkv(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/--test-/);
    for (const flag of ['--cert-file', '--key-file', '--trusted-ca-file', '--client-cert-auth', '--peer-cert-file', '--peer-key-file', '--peer-trusted-ca-file']) expect(r.stdout).toContain(flag);
  });

  it('refuses a negative control without RAFTKV_ENABLE_TEST_FAULTS=1 and warns loudly with it', async () => {
    const refused = await raftkv([...(await serveArgs('n1')), '--test-ack-before-commit']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/testAckBeforeCommit: is a negative control .* refused unless RAFTKV_ENABLE_TEST_FAULTS=1/);
    const viaEnv = await raftkv(await serveArgs('n1'), { env: { RAFTKV_TEST_STALE_LINEARIZABLE_READS: 'true' } });
    expect(viaEnv.code).toBe(2);
    const allowed = await raftkv([...(await serveArgs('n1')), '--test-ack-before-commit'], { env: { RAFTKV_ENABLE_TEST_FAULTS: '1' }, until: /node: started/ });
    expect(allowed.stderr).toMatch(/\*\*\* WARNING: THIS NODE RUNS WITH TEST FAULTS \(testAckBeforeCommit\)/);
    expect(allowed.stdout).toMatch(/node: started/);
  });

  it('refuses to start with a peer certificate that names another node, before touching the data dir', async () => {
    const certs = join(dir, 'certs-wrong-id');
    createDevCerts(certs, ['n2'], { clients: [] });
    const args = await serveArgs('n1');
    const r = await raftkv([...args, '--peer-cert-file', join(certs, 'n2.pem'), '--peer-key-file', join(certs, 'n2-key.pem'), '--peer-trusted-ca-file', join(certs, 'ca.pem')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/peer TLS: .*n2\.pem: the certificate names node "n2", but this node is "n1"/);
    expect(existsSync(args[4] ?? '')).toBe(false);
  });
});
