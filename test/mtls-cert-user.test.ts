// Proves a client certificate's name is the raftkv user on a three-node TLS cluster of real
// processes (certificates made by `raftkv certs`, client certificates required, auth enabled):
// the certificate user "carol" reads and writes her prefix on every node (a follower forwards
// her writes to the leader, which believes the name only from an admitted member), is
// PERMISSION_DENIED (exit code 6) outside it and for admin calls; a certificate from the cluster's
// CA that names no user, or a node's certificate used as a client certificate, is UNAUTHENTICATED
// (exit code 5); without a certificate the TLS handshake itself is refused (exit code 3). Every
// node process started here is stopped by its pid (useTestCluster).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { forwardedUserHeader } from '../src/server/auth/authorizer.js';
import { bytes, RawClient } from './support/raw-client.js';
import { rawCredentials } from './support/raw-peer.js';
import { runCli } from './support/run-cli.js';
import type { CliRun } from './support/run-cli.js';
import { useTestCluster } from './support/test-cluster.js';

const certs = join(mkdtempSync(join(tmpdir(), 'raftkv-cert-user-')), 'certs');
let cluster: LocalCluster;
const closers: RawClient[] = [];

beforeAll(async () => {
  const made = await runCli(['certs', 'dev', '--dir', certs, '--nodes', 'n1,n2,n3', '--clients', 'root,carol,mallory']);
  expect(made.code, made.stderr).toBe(0);
}, 60_000);

useTestCluster('cert-user', { tls: { certsDir: certs, clientCertAuth: true }, started: (c) => (cluster = c), beforeClose: () => closers.forEach((c) => c.close()) });

afterAll(() => rmSync(join(certs, '..'), { recursive: true, force: true }));

/** The CLI against `endpoint` (all nodes by default) with the client certificate of `name` (a file prefix in the certs dir; null for none). */
function as(name: string | null, args: readonly string[], endpoint?: string): Promise<CliRun> {
  const endpoints = endpoint ?? cluster.specs.map((s) => s.clientAddress).join(',');
  const cert = name === null ? [] : ['--cert', join(certs, `${name}.pem`), '--key', join(certs, `${name}-key.pem`)];
  return runCli([...args, '--endpoints', endpoints, '--cacert', join(certs, 'ca.pem'), ...cert], {
    env: { RAFTKV_USER: undefined, RAFTKV_PASSWORD: undefined, RAFTKV_CERT: undefined, RAFTKV_KEY: undefined, RAFTKV_CACERT: undefined, RAFTKV_ENDPOINTS: undefined },
  });
}

async function ok(name: string, args: readonly string[], endpoint?: string): Promise<string> {
  const r = await as(name, args, endpoint);
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
  return r.stdout;
}

/** A raw gRPC client of node `address` with the certificate of `name`, closed after the file. */
function raw(name: string, address: string): RawClient {
  const c = new RawClient(address, rawCredentials({ ca: join(certs, 'ca.pem'), cert: join(certs, `${name}.pem`), key: join(certs, `${name}-key.pem`) }));
  closers.push(c);
  return c;
}

/** How many client puts node `id` forwarded to the leader and saw succeed (its /metrics). */
async function forwardedPuts(id: string): Promise<number> {
  const text = await (await fetch(`http://${cluster.spec(id).httpAddress}/metrics`)).text();
  const m = /^raftkv_forwarded_writes_total\{method="Put",outcome="ok"\} (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('a client certificate as the user', () => {
  it('sets up cert-only users root and carol and turns auth on, signed in by the root certificate', async () => {
    for (const args of [
      ['user', 'add', 'root', '--cert-only'],
      ['user', 'grant-role', 'root', 'root'],
      ['role', 'add', 'app'],
      ['role', 'grant', 'app', 'readwrite', 'carol/'],
      ['user', 'add', 'carol', '--cert-only'],
      ['user', 'grant-role', 'carol', 'app'],
      ['auth', 'enable'],
    ]) {
      await ok('client-root', args);
    }
    expect(await ok('client-root', ['auth', 'status'])).toMatch(/authentication enabled/);
    expect(JSON.parse(await ok('client-root', ['user', 'list', '-o', 'json'])).users).toContainEqual({ name: 'carol', roles: ['app'], hasPassword: false });
  }, 120_000);

  it('lets carol read and write her prefix on every node, followers included', async () => {
    const leader = await cluster.waitForLeader();
    for (const s of cluster.specs) {
      const key = `carol/${s.id}`;
      await ok('client-carol', ['put', key, `from-${s.id}`], s.clientAddress);
      expect((await ok('client-carol', ['get', key], s.clientAddress)).trim()).toBe(`from-${s.id}`);
      expect(await ok('client-carol', ['range', 'carol/'], s.clientAddress)).toContain(key);
    }
    // The root user sees all three.
    const all = await ok('client-root', ['range', 'carol/'], cluster.spec(leader.id).clientAddress);
    expect(all).toContain('from-n1');
    expect(all).toContain('from-n2');
    expect(all).toContain('from-n3');
  }, 120_000);

  it('answers carol PERMISSION_DENIED (exit code 6) outside her prefix and for admin calls, on every node', async () => {
    for (const s of cluster.specs) {
      const put = await as('client-carol', ['put', 'other/x', 'v'], s.clientAddress);
      expect({ node: s.id, code: put.code }).toEqual({ node: s.id, code: 6 });
      expect(put.stderr).toMatch(/^raftkv: permission denied: user "carol" may not write key "other\/x" .*\[PERMISSION_DENIED\]\n$/);
      const get = await as('client-carol', ['get', 'other/x'], s.clientAddress);
      expect({ node: s.id, code: get.code }).toEqual({ node: s.id, code: 6 });
      expect(get.stderr).toMatch(/user "carol" may not read key "other\/x"/);
    }
    const users = await as('client-carol', ['user', 'list']);
    expect(users.code).toBe(6);
    expect(users.stderr).toMatch(/UserList needs the root role; user "carol"/);
    const backup = await as('client-carol', ['backup', 'save', join(certs, '..', 'carol.backup')]);
    expect(backup.code).toBe(6);
    expect(backup.stderr).toMatch(/Maintenance\/Backup needs the root role/);
  }, 120_000);

  it('runs a write a follower forwards as the certificate user the follower vouches for, and believes no such claim from a client', async () => {
    // The client library sends `raftkv-forward: never` (it finds the leader itself); a raw client
    // does not, so each follower forwards these over the peer port.
    const leader = await cluster.waitForLeader();
    for (const f of cluster.specs.filter((s) => s.id !== leader.id)) {
      const before = await forwardedPuts(f.id);
      const carol = raw('client-carol', f.clientAddress);
      await carol.call('Put', { key: bytes(`carol/fwd-${f.id}`), value: bytes('forwarded') });
      expect(await forwardedPuts(f.id), `${f.id} forwarded the put`).toBe(before + 1);
      expect(await carol.failure('Put', { key: bytes('other/fwd'), value: bytes('v') })).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/user "carol" may not write key "other\/fwd"/) });
      expect(await raw('client-mallory', f.clientAddress).failure('Put', { key: bytes('carol/fwd'), value: bytes('stolen') })).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      // The header a follower sets for the leader means nothing on a client port.
      for (const s of cluster.specs) {
        const claim = await raw('client-carol', s.clientAddress).failure('Put', { key: bytes('other/claimed'), value: bytes('v') }, 5000, { [forwardedUserHeader]: 'root' });
        expect({ node: s.id, code: claim?.code }).toEqual({ node: s.id, code: grpc.status.PERMISSION_DENIED });
      }
    }
    expect((await as('client-root', ['get', 'other/claimed'])).code, 'other/claimed was never written').toBe(1);
  }, 120_000);

  it('answers a certificate that names no user, and a node certificate, UNAUTHENTICATED (exit code 5)', async () => {
    for (const s of cluster.specs) {
      const mallory = await as('client-mallory', ['get', 'carol/n1'], s.clientAddress);
      expect({ node: s.id, code: mallory.code }).toEqual({ node: s.id, code: 5 });
      expect(mallory.stderr).toMatch(/^raftkv: not logged in \(the client certificate names "mallory", which is not a user\): pass --user/);
      const write = await as('client-mallory', ['put', 'carol/n1', 'stolen'], s.clientAddress);
      expect({ node: s.id, code: write.code }).toEqual({ node: s.id, code: 5 });
      const nodeCert = await as('n1', ['get', 'carol/n1'], s.clientAddress);
      expect({ node: s.id, code: nodeCert.code }).toEqual({ node: s.id, code: 5 });
      expect(nodeCert.stderr).toMatch(/^raftkv: not logged in: the cluster has authentication enabled/);
    }
    expect((await ok('client-carol', ['get', 'carol/n1'])).trim()).toBe('from-n1');
  }, 120_000);

  it('refuses a client without a certificate at the TLS handshake (exit code 3): no call reaches the authorizer', async () => {
    const r = await as(null, ['get', 'carol/n1', '--timeout', '2s']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
  }, 60_000);
});
