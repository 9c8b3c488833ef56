// Proves authenticated backups end to end with the built CLI: `backup save --hmac-key-file`
// signs the backup; a copy whose value was changed and whose SHA-256 was recomputed still passes
// the SHA-256 check (what issue 11 found) but is refused by `backup verify` and `backup restore`
// given the key, and so is an unsigned backup; the untouched backup verifies and restores.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster } from '../cluster/local-cluster.js';
import { verifyBackupFile } from '../src/server/index.js';
import { runCli } from './support/run-cli.js';
import type { CliRun } from './support/run-cli.js';

let dir = '';
let cluster: LocalCluster;
const key = (): string => join(dir, 'backup.key');
const backup = (): string => join(dir, 'signed.rkvb');

function raftkv(args: readonly string[]): Promise<CliRun> {
  return runCli(args, { env: { RAFTKV_ENDPOINTS: cluster.endpoints } });
}

/** Changes `from` to `to` (same length) in a copy of the backup and recomputes its SHA-256 trailer, as an attacker without the key can. */
function tamper(source: string, target: string, from: string, to: string): void {
  const data = readFileSync(source);
  const at = data.indexOf(Buffer.from(from));
  expect(at).toBeGreaterThan(0);
  Buffer.from(to).copy(data, at);
  const body = data.subarray(0, data.length - 32);
  createHash('sha256').update(body).digest().copy(data, data.length - 32);
  writeFileSync(target, data);
}

const restoreArgs = (file: string, dataDir: string): string[] => ['backup', 'restore', file, '--id', 'r1', '--data-dir', dataDir, '--initial-cluster', 'r1=127.0.0.1:1', '--hmac-key-file', key()];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-backup-hmac-'));
  writeFileSync(key(), randomBytes(32));
  cluster = new LocalCluster(await planTestCluster(1, join(dir, 'cluster')));
  await cluster.startAll();
  await cluster.waitForLeader();
});
afterAll(async () => {
  await cluster?.killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('authenticated backups', () => {
  it('signs on save, and refuses a tampered or unsigned copy given the key', async () => {
    expect((await raftkv(['put', 'account', 'balance=100'])).code).toBe(0);
    const saved = await raftkv(['backup', 'save', backup(), '--hmac-key-file', key()]);
    expect(saved.code, saved.stderr).toBe(0);
    expect(readFileSync(`${backup()}.hmac`, 'utf8')).toMatch(/^raftkv-backup-hmac-sha256 [0-9a-f]{64}\n$/);
    const ok = await raftkv(['backup', 'verify', backup(), '--hmac-key-file', key()]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/authenticated\s+yes/);

    // The attack of issue 11: change the value, recompute the SHA-256, keep the old .hmac.
    const forged = join(dir, 'forged.rkvb');
    tamper(backup(), forged, 'balance=100', 'balance=999');
    writeFileSync(`${forged}.hmac`, readFileSync(`${backup()}.hmac`));
    await expect(verifyBackupFile(forged)).resolves.toMatchObject({ header: { keyCount: 1 } }); // the SHA-256 alone cannot tell
    expect((await raftkv(['backup', 'verify', forged])).code).toBe(0);
    const refused = await raftkv(['backup', 'verify', forged, '--hmac-key-file', key()]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/fails its HMAC check: it was changed after it was signed/);
    const restoreForged = await raftkv(restoreArgs(forged, join(dir, 'restored-forged')));
    expect(restoreForged.code).toBe(4);
    expect(existsSync(join(dir, 'restored-forged'))).toBe(false);

    // An unsigned backup is refused when a key is given (an attacker would just delete the .hmac).
    const unsigned = join(dir, 'unsigned.rkvb');
    writeFileSync(unsigned, readFileSync(forged));
    const noMac = await raftkv(['backup', 'verify', unsigned, '--hmac-key-file', key()]);
    expect(noMac.code).toBe(4);
    expect(noMac.stderr).toMatch(/is not signed/);
    expect((await raftkv(restoreArgs(unsigned, join(dir, 'restored-unsigned')))).code).toBe(4);
    expect(existsSync(join(dir, 'restored-unsigned'))).toBe(false);

    // Another key does not verify it either; a short key is refused outright.
    const otherKey = join(dir, 'other.key');
    writeFileSync(otherKey, randomBytes(32));
    expect((await raftkv(['backup', 'verify', backup(), '--hmac-key-file', otherKey])).code).toBe(4);
    writeFileSync(otherKey, 'short');
    const short = await raftkv(['backup', 'verify', backup(), '--hmac-key-file', otherKey]);
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/use at least 32 random bytes/);

    // The untouched backup restores; `backup sign` signs a file made without a key.
    const restored = await raftkv(restoreArgs(backup(), join(dir, 'restored')));
    expect(restored.code, restored.stderr).toBe(0);
    const plain = join(dir, 'plain.rkvb');
    expect((await raftkv(['backup', 'save', plain])).code).toBe(0);
    expect(existsSync(`${plain}.hmac`)).toBe(false);
    expect((await raftkv(['backup', 'sign', plain, '--hmac-key-file', key()])).code).toBe(0);
    expect((await raftkv(['backup', 'verify', plain, '--hmac-key-file', key()])).code).toBe(0);
  });
});
