// Proves the certificate side of TLS with real openssl-made certificates: the identity
// convention (node vs client SAN URI, exactly one), the start-up checks on PEM files (missing,
// mismatched key, wrong CA, wrong node id), and reloading (a valid change is published, an
// invalid one keeps the pair in use).
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { Server } from '@grpc/grpc-js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateSource, createClientCert, createDevCerts, createNodeCert, identityOfSan, loadTlsMaterial, namesNode, tlsServerCredentials } from './index.js';

let dir = '';
let other = '';
const files = (d: string, id: string) => ({ certFile: join(d, `${id}.pem`), keyFile: join(d, `${id}-key.pem`), caFile: join(d, 'ca.pem') });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-tls-unit-'));
  other = join(dir, 'other');
  createDevCerts(join(dir, 'a'), ['n1', 'n2'], { clients: ['alice'] });
  createDevCerts(other, ['n1'], { clients: [] });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('certificate identity', () => {
  it('reads node and client SAN URIs, and names nobody for zero, two or malformed ones', () => {
    expect(identityOfSan('DNS:localhost, IP Address:127.0.0.1, URI:raftkv://node/n1')).toEqual({ kind: 'node', id: 'n1' });
    expect(identityOfSan('URI:raftkv://client/alice')).toEqual({ kind: 'client', name: 'alice' });
    expect(identityOfSan('DNS:n1')).toEqual({ kind: 'none' });
    expect(identityOfSan(undefined)).toEqual({ kind: 'none' });
    expect(identityOfSan('URI:raftkv://node/n1, URI:raftkv://node/n2')).toEqual({ kind: 'none' });
    expect(identityOfSan('URI:raftkv://node/n1/../n2')).toEqual({ kind: 'none' });
    expect(identityOfSan('URI:raftkv://node/')).toEqual({ kind: 'none' });
  });

  it('raftkv certs writes node certificates that name the node and client certificates that name the client', () => {
    const a = join(dir, 'a');
    expect(loadTlsMaterial(files(a, 'n2'), 't', Date.now()).identity).toEqual({ kind: 'node', id: 'n2' });
    expect(loadTlsMaterial({ certFile: join(a, 'client-alice.pem'), keyFile: join(a, 'client-alice-key.pem'), caFile: join(a, 'ca.pem') }, 't', Date.now()).identity).toEqual({ kind: 'client', name: 'alice' });
    expect(() => createNodeCert(a, 'n1')).toThrow(/exists/);
    expect(() => createClientCert(a, 'bad name')).toThrow(/name/);
  });
});

describe('loading PEM files', () => {
  it('refuses missing files, a key of another certificate, a CA that did not issue it, and a node certificate for another id', () => {
    const a = join(dir, 'a');
    expect(() => loadTlsMaterial({ ...files(a, 'n1'), certFile: join(a, 'nope.pem') }, 'peer TLS', Date.now())).toThrow(/peer TLS: cannot read .*nope\.pem/);
    expect(() => loadTlsMaterial({ ...files(a, 'n1'), keyFile: join(a, 'n2-key.pem') }, 'peer TLS', Date.now())).toThrow(/does not belong to the certificate/);
    expect(() => loadTlsMaterial({ ...files(a, 'n1'), caFile: join(other, 'ca.pem') }, 'peer TLS', Date.now())).toThrow(/was not issued by a CA in/);
    expect(() => loadTlsMaterial(files(a, 'n2'), 'peer TLS', Date.now(), namesNode('n1'))).toThrow(/names node "n2", but this node is "n1"/);
    expect(() => loadTlsMaterial(files(a, 'n1'), 'peer TLS', Date.now() + 400 * 24 * 3600 * 1000)).toThrow(/expired/);
    expect(loadTlsMaterial(files(a, 'n1'), 'peer TLS', Date.now(), namesNode('n1')).notAfterMs).toBeGreaterThan(Date.now());
  });
});

describe('reloading', () => {
  it('publishes a changed valid pair and keeps the one in use when the new files do not load or name another node', () => {
    const a = join(dir, 'a');
    const live = join(dir, 'live');
    mkdirSync(live);
    copyFileSync(join(a, 'ca.pem'), join(live, 'ca.pem'));
    const use = (id: string, d = a): void => {
      copyFileSync(join(d, `${id}.pem`), join(live, 'node.pem'));
      copyFileSync(join(d, `${id}-key.pem`), join(live, 'node-key.pem'));
    };
    use('n1');
    const livefiles = { certFile: join(live, 'node.pem'), keyFile: join(live, 'node-key.pem'), caFile: join(live, 'ca.pem') };
    const source = new CertificateSource({ files: livefiles, what: 'peer TLS', reloadIntervalMs: 0, check: namesNode('n1') });
    const seen: string[] = [];
    source.onChange((m) => seen.push(m.cert.toString('utf8').slice(-40)));
    const first = source.current.cert;
    expect(source.reload()).toBe(false); // unchanged files: nothing published
    // A re-issued certificate for the same node (new key): published.
    createNodeCert(a, 'n1', { force: true });
    use('n1');
    expect(source.reload()).toBe(true);
    expect(source.current.cert.equals(first)).toBe(false);
    expect(seen).toHaveLength(1);
    const good = source.current.cert;
    // Half-written rotation (certificate without its key): the pair in use stays.
    copyFileSync(join(a, 'n2.pem'), join(live, 'node.pem'));
    expect(source.reload()).toBe(false);
    // Another node's complete pair: refused by the identity check.
    use('n2');
    expect(source.reload()).toBe(false);
    writeFileSync(join(live, 'node-key.pem'), 'garbage');
    expect(source.reload()).toBe(false);
    expect(source.current.cert.equals(good)).toBe(true);
    expect(seen).toHaveLength(1);
    source.close();
  });
});

/** The serial number of the certificate a TLS server at `port` presents to a new connection (with a client certificate unless `anonymous`). */
function servedSerial(port: number, a: string, anonymous = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const identity = anonymous ? {} : { cert: readFileSync(join(a, 'client-alice.pem')), key: readFileSync(join(a, 'client-alice-key.pem')) };
    const socket = connect({ port, host: '127.0.0.1', servername: 'localhost', ALPNProtocols: ['h2'], ca: readFileSync(join(a, 'ca.pem')), ...identity }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe('reloading a running server', () => {
  it('serves a renewed certificate to new connections without a restart', async () => {
    const a = join(dir, 'a');
    const live = join(dir, 'served');
    mkdirSync(live);
    const install = (): void => {
      copyFileSync(join(a, 'n2.pem'), join(live, 'node.pem'));
      copyFileSync(join(a, 'n2-key.pem'), join(live, 'node-key.pem'));
    };
    install();
    const source = new CertificateSource({ files: { certFile: join(live, 'node.pem'), keyFile: join(live, 'node-key.pem'), caFile: join(a, 'ca.pem') }, what: 'client TLS', reloadIntervalMs: 0 });
    const server = new Server();
    try {
      const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', tlsServerCredentials(source, true), (e, p) => (e ? fail(e) : ok(p))));
      const serial = (f: string): string => new X509Certificate(readFileSync(f)).serialNumber;
      expect(await servedSerial(port, a)).toBe(serial(join(live, 'node.pem')));
      createNodeCert(a, 'n2', { force: true });
      install();
      expect(source.reload()).toBe(true);
      expect(await servedSerial(port, a)).toBe(serial(join(a, 'n2.pem')));
    } finally {
      server.forceShutdown();
      source.close();
    }
  });
});

describe('client certificates on a server port', () => {
  it('are not asked for without --client-cert-auth', async () => {
    const a = join(dir, 'a');
    const source = new CertificateSource({ files: { certFile: join(a, 'n1.pem'), keyFile: join(a, 'n1-key.pem'), caFile: null }, what: 'client TLS', reloadIntervalMs: 0 });
    const server = new Server();
    try {
      expect(() => tlsServerCredentials(source, true)).toThrow(/need a CA file/);
      const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', tlsServerCredentials(source, false), (e, p) => (e ? fail(e) : ok(p))));
      expect(await servedSerial(port, a, true)).toBe(new X509Certificate(readFileSync(join(a, 'n1.pem'))).serialNumber);
    } finally {
      server.forceShutdown();
      source.close();
    }
  });
});
