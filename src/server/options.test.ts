// Proves option resolution: precedence flag > env > file > default, and clear errors naming the option.
import { describe, expect, it } from 'vitest';
import { checkTestFaults, envName, optionsFromEnv, optionsFromFile, parseInitialCluster, resolveNodeOptions, testFaultsEnvName } from './options.js';

describe('node options', () => {
  it('maps option names to RAFTKV_ environment variables', () => {
    expect(envName('dataDir')).toBe('RAFTKV_DATA_DIR');
    expect(envName('keyBytesMax')).toBe('RAFTKV_KEY_BYTES_MAX');
  });

  it('applies flag over environment over file over default', () => {
    const file = optionsFromFile({ id: 'n1', electionTicks: 20, heartbeatTicks: 2, tickIntervalMs: 30 }, 'x.json');
    const env = optionsFromEnv({ RAFTKV_ELECTION_TICKS: '15', RAFTKV_UNRELATED: 'x' });
    const flags = { electionTicks: '12' };
    const o = resolveNodeOptions(flags, env, file);
    expect(o.electionTicks).toBe(12);
    expect(o.heartbeatTicks).toBe(2);
    expect(o.tickIntervalMs).toBe(30);
    expect(o.snapshotEntries).toBe(10_000);
    expect(o.dataDir).toBe('data/n1');
    expect(o.initialCluster).toEqual([{ id: 'n1', peerAddress: '127.0.0.1:7101' }]);
    expect(resolveNodeOptions({}, env, file).electionTicks).toBe(15);
  });

  it('parses the initial cluster and refuses malformed or duplicate entries', () => {
    expect(parseInitialCluster('n1=127.0.0.1:7101, n2=127.0.0.1:7102')).toHaveLength(2);
    expect(() => parseInitialCluster('n1=nohostport')).toThrow(/initialCluster: "n1=nohostport" is not id=host:port/);
    expect(() => parseInitialCluster('n1=a:1,n1=b:2')).toThrow(/twice/);
  });

  it('takes Go durations (or milliseconds) for every ...Ms option, from flags, environment and file', () => {
    const o = resolveNodeOptions({ id: 'n1', tickIntervalMs: '100ms', sessionTtlMs: '1h' }, optionsFromEnv({ RAFTKV_BACKUP_INTERVAL_MS: '1m30s' }), optionsFromFile({ requestTimeoutMs: 2500 }, 'x.json'));
    expect([o.tickIntervalMs, o.sessionTtlMs, o.backupIntervalMs, o.requestTimeoutMs]).toEqual([100, 3_600_000, 90_000, 2500]);
    expect(resolveNodeOptions({ id: 'n1', requestTimeoutMs: '750' }).requestTimeoutMs).toBe(750);
    expect(() => resolveNodeOptions({ id: 'n1', tickIntervalMs: '1 hour' })).toThrow(/tickIntervalMs: expected a duration/);
    expect(() => resolveNodeOptions({ id: 'n1', tickIntervalMs: '10us' })).toThrow(/tickIntervalMs: must be a duration of at least 1ms/);
  });

  it('names the option and the problem on bad values', () => {
    expect(() => resolveNodeOptions({})).toThrow(/id: is required/);
    expect(() => resolveNodeOptions({ id: 'n1', electionTicks: 'ten' })).toThrow(/electionTicks: must be a positive integer/);
    expect(() => resolveNodeOptions({ id: 'n1', heartbeatTicks: 10 })).toThrow(/heartbeatTicks/);
    expect(() => resolveNodeOptions({ id: 'n1', initialCluster: 'n2=a:1' })).toThrow(/does not list this node/);
    expect(() => resolveNodeOptions({ id: 'n1', valueBytesMax: 10 * 1024 * 1024 })).toThrow(/requestBytesMax/);
    expect(() => optionsFromFile({ bogus: 1 }, 'c.json')).toThrow(/unknown option "bogus"/);
  });

  it('reads the TLS options (etcd names) and refuses incomplete ones', () => {
    const plain = resolveNodeOptions({ id: 'n1' });
    expect(plain.tls).toEqual({ client: null, peer: null, reloadIntervalMs: 60_000 });
    const env = optionsFromEnv({ RAFTKV_PEER_CERT_FILE: 'n1.pem', RAFTKV_PEER_KEY_FILE: 'n1-key.pem', RAFTKV_PEER_TRUSTED_CA_FILE: 'ca.pem' });
    const o = resolveNodeOptions({ id: 'n1', certFile: 'c.pem', keyFile: 'k.pem', trustedCaFile: 'ca.pem', clientCertAuth: true }, env);
    expect(o.tls.client).toEqual({ certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem', requireClientCert: true });
    expect(o.tls.peer).toEqual({ certFile: 'n1.pem', keyFile: 'n1-key.pem', caFile: 'ca.pem' });
    expect(optionsFromFile({ id: 'n1', peerCertFile: 'a', peerKeyFile: 'b', peerTrustedCaFile: 'c' }, 'f.json')['peerCertFile']).toBe('a');
    expect(() => resolveNodeOptions({ id: 'n1', certFile: 'c.pem' })).toThrow(/keyFile: client TLS needs both/);
    expect(() => resolveNodeOptions({ id: 'n1', clientCertAuth: true, certFile: 'c', keyFile: 'k' })).toThrow(/clientCertAuth: needs/);
    expect(() => resolveNodeOptions({ id: 'n1', trustedCaFile: 'ca.pem', certFile: 'c', keyFile: 'k' })).toThrow(/trustedCaFile: is only used with --client-cert-auth/);
    expect(() => resolveNodeOptions({ id: 'n1', peerCertFile: 'n1.pem', peerKeyFile: 'k' })).toThrow(/peer TLS is mutual/);
  });

  it('refuses the test faults unless RAFTKV_ENABLE_TEST_FAULTS=1', () => {
    const normal = resolveNodeOptions({ id: 'n1' });
    expect(checkTestFaults(normal, {})).toEqual([]);
    const faulty = resolveNodeOptions({ id: 'n1', testAckBeforeCommit: true }, optionsFromEnv({ RAFTKV_TEST_SKIP_DUPLICATE_CHECK: '1' }));
    expect(() => checkTestFaults(faulty, {})).toThrow(/testAckBeforeCommit: is a negative control .* refused unless RAFTKV_ENABLE_TEST_FAULTS=1/);
    expect(() => checkTestFaults(faulty, { [testFaultsEnvName]: 'true' })).toThrow(/refused unless/);
    expect(checkTestFaults(faulty, { [testFaultsEnvName]: '1' })).toEqual(['testAckBeforeCommit', 'testSkipDuplicateCheck']);
  });
});
