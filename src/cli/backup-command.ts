/**
 * `raftkv backup save|verify|restore`: online backups and disaster recovery (docs/disaster-recovery.md).
 *
 * - `backup save <file>`: streams a consistent backup from a node (the client library's
 *   `backup()`: any node, a follower too), with a progress bar on a terminal. The file appears only once complete and
 *   verified: it is written to `<file>.tmp`, checked, then renamed.
 * - `backup verify <file>`: checks the format, version, every record and the SHA-256; prints the header.
 * - `backup restore <file> --id <id> --data-dir <dir> --initial-cluster <id=peer,...>`: builds a
 *   fresh data dir for one node of a NEW cluster (run it for every node with the same file and
 *   flags). A bad file is refused and nothing is written.
 * - `--hmac-key-file <key>` (or RAFTKV_BACKUP_HMAC_KEY_FILE) on save, verify and restore, and
 *   `backup sign <file>`: an HMAC-SHA256 in `<file>.hmac` (server/backup-mac.ts); given the key,
 *   verify and restore refuse a file that was changed or is not signed.
 */
import { open, rename, rm } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import { toNumber } from '../api/index.js';
import type * as M from '../api/index.js';
import type { BackupHeader } from '../server/index.js';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import type { ClientFlags } from './client-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import { printJson, printTable, println } from './output.js';
import { progressBar } from './progress.js';
import type { ProgressBar } from './progress.js';
import type { OutputFormat } from './output.js';

/**
 * Counts the key frames of a backup file's bytes as they stream by (for the progress bar),
 * reading only frame headers: the prefix and JSON header, then `[type u8][length u32]` frames.
 */
class KeyFrameCounter {
  keys = 0;
  /** Bytes still to skip (the rest of the current prefix, header or frame payload). */
  private skip = 16;
  private prefixSeen = false;
  private pending: number[] = [];

  feed(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, bytes.length - at);
        if (!this.prefixSeen) for (let i = 0; i < n; i++) this.pending.push(bytes[at + i] ?? 0);
        this.skip -= n;
        at += n;
        if (this.skip === 0 && !this.prefixSeen) {
          this.prefixSeen = true;
          this.skip = Buffer.from(this.pending).readUInt32BE(12);
          this.pending = [];
        }
        continue;
      }
      this.pending.push(bytes[at] ?? 0);
      at += 1;
      if (this.pending.length === 5) {
        const header = Buffer.from(this.pending);
        if (header[0] === 2) this.keys += 1;
        this.skip = header.readUInt32BE(1);
        this.pending = [];
      }
    }
  }
}

function headerRows(h: BackupHeader | M.BackupInfoMsg, extra: readonly [string, string][] = []): [string, string][] {
  const info = 'raftIndex' in h
    ? { formatVersion: h.formatVersion, clusterId: h.clusterId, nodeId: h.nodeId, revision: toNumber(h.revision), index: toNumber(h.raftIndex), term: toNumber(h.raftTerm), createdMs: toNumber(h.createdMs), keyCount: toNumber(h.keyCount), sessionCount: toNumber(h.sessionCount), linearizable: h.linearizable }
    : h;
  return [
    ['format version', String(info.formatVersion)],
    ['cluster id', info.clusterId || '-'],
    ['taken on node', info.nodeId],
    ['raft index', String(info.index)],
    ['raft term', String(info.term)],
    ['revision', String(info.revision)],
    ['created', new Date(info.createdMs).toISOString()],
    ['keys', String(info.keyCount)],
    ['sessions', String(info.sessionCount)],
    ['consistent with the leader', info.linearizable ? 'yes' : 'no (local state)'],
    ...extra,
  ];
}

/** The HMAC key option of save, verify, restore and sign. */
function hmacKeyOption(required = false): Option {
  const o = new Option('--hmac-key-file <file>', 'authenticate the backup with HMAC-SHA256 under the key in this file (<file>.hmac)').env('RAFTKV_BACKUP_HMAC_KEY_FILE');
  return required ? o.makeOptionMandatory() : o;
}

/** Reads the key of `--hmac-key-file`, or null without one. */
async function hmacKey(path: string | undefined): Promise<Buffer | null> {
  if (path === undefined) return null;
  const { readBackupKey } = await import('../server/index.js');
  return readBackupKey(path);
}

/** `backup save`: streams a backup (client.backup(): the first node that serves it) into `file`. */
async function save(file: string, o: { local?: boolean; hmacKeyFile?: string }, flags: ClientFlags, timeoutMs: number | undefined): Promise<void> {
  // Read the key before taking the backup: a bad key path must not cost a whole backup.
  const key = await hmacKey(o.hmacKeyFile);
  const tmp = `${file}.tmp`;
  const started = Date.now();
  const handle = await open(tmp, 'w');
  const bar = progressBar(flags.output, 'backup', 'keys');
  const counter = new KeyFrameCounter();
  let bytes = 0;
  let endpoint = '';
  try {
    await withClient(flags, async (kv) => {
      for await (const chunk of kv.backup({ local: o.local === true, ...(timeoutMs === undefined ? {} : { timeoutMs }) })) {
        endpoint = chunk.endpoint;
        if (chunk.info) bar?.start(chunk.info.keyCount, 0);
        await handle.write(chunk.data);
        bytes += chunk.data.length;
        counter.feed(chunk.data);
        bar?.update(counter.keys);
      }
    });
    await handle.sync();
    await handle.close();
    bar?.stop();
  } catch (e) {
    bar?.stop();
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  const { removeBackupMac, signBackupFile, verifyBackupFile } = await import('../server/index.js');
  const verified = await verifyBackupFile(tmp).catch(async (e: unknown) => {
    await rm(tmp, { force: true });
    throw e;
  });
  // A MAC file of an earlier backup of this name would no longer match: replace or remove it.
  await removeBackupMac(file);
  await rename(tmp, file);
  const hmac = key === null ? null : await signBackupFile(file, key);
  const seconds = (Date.now() - started) / 1000;
  if (flags.output === 'json') printJson({ file, endpoint, bytes, sha256: verified.sha256, hmacSha256: hmac, seconds, header: verified.header });
  else printTable(['FIELD', 'VALUE'], headerRows(verified.header, [['file', file], ['bytes', String(bytes)], ['sha256', verified.sha256], ['hmac-sha256', hmac === null ? '- (no --hmac-key-file)' : `${hmac} (in ${file}.hmac)`], ['from', endpoint], ['took', `${seconds.toFixed(1)} s`]]));
}

/** Registers `backup` and its subcommands. */
export function registerBackupCommand(program: Command): void {
  const backup = program.command('backup').description('online backups and restore (docs/disaster-recovery.md)');

  addClientFlags(
    backup
      .command('save <file>')
      .description('stream a consistent online backup from a node (a follower too) into <file>')
      .option('--local', 'back up the node\'s local state without confirming with the leader first')
      .addOption(hmacKeyOption()),
    // A backup of a large state takes a while: no deadline unless --timeout is given.
    { defaultMs: null, help: 'deadline of the whole backup' },
  ).action(async (file: string, o: { local?: boolean; hmacKeyFile?: string }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await save(file, o, flags, flags.timeoutMs);
  });

  backup
    .command('verify <file>')
    .description('check a backup file (format, version, records, SHA-256, and with a key its HMAC) and print its header')
    .addOption(hmacKeyOption())
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (file: string, o: { output: OutputFormat; hmacKeyFile?: string }) => {
      const { readBackupHeader, verifyBackupFile, verifyBackupMac } = await import('../server/index.js');
      const key = await hmacKey(o.hmacKeyFile);
      const bar = progressBar(o.output, 'verify', 'keys');
      if (bar) bar.start((await readBackupHeader(file)).header.keyCount, 0);
      try {
        const verified = await verifyBackupFile(file, (keys) => bar?.update(keys));
        if (key !== null) await verifyBackupMac(file, key);
        bar?.stop();
        const authenticated = key === null ? 'not checked (no --hmac-key-file)' : 'yes (HMAC-SHA256)';
        if (o.output === 'json') printJson({ file, ok: true, authenticated: key !== null, bytes: verified.fileBytes, sha256: verified.sha256, header: verified.header });
        else printTable(['FIELD', 'VALUE'], headerRows(verified.header, [['bytes', String(verified.fileBytes)], ['sha256', verified.sha256], ['authenticated', authenticated], ['verified', 'ok']]));
      } finally {
        bar?.stop();
      }
    });

  backup
    .command('restore <file>')
    .description('build a fresh data dir for one node of a NEW cluster from a backup')
    .requiredOption('--id <id>', 'the node this data dir is for')
    .requiredOption('--initial-cluster <members>', 'the new cluster: id=peerHost:port,...')
    .option('--data-dir <dir>', 'the data dir to create (default data/<id>)')
    .option('--cluster-id <id>', 'the new cluster id (default: derived from the backup and --initial-cluster)')
    .addOption(hmacKeyOption())
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (file: string, o: { id: string; initialCluster: string; dataDir?: string; clusterId?: string; output: OutputFormat; hmacKeyFile?: string }) => {
      const { parseInitialCluster, readBackupHeader, restoreBackup, verifyBackupMac } = await import('../server/index.js');
      const { nodeId } = await import('../util/index.js');
      const members = parseInitialCluster(o.initialCluster);
      // With a key, nothing is written unless the file is exactly what was signed.
      const key = await hmacKey(o.hmacKeyFile);
      if (key !== null) await verifyBackupMac(file, key);
      const dataDir = o.dataDir ?? `data/${o.id}`;
      const started = Date.now();
      // One bar for the check, then one for the write (the header says how many keys).
      const bars = { verify: progressBar(o.output, 'verify ', 'keys'), write: progressBar(o.output, 'restore', 'keys') };
      const total = bars.verify === null ? 0 : (await readBackupHeader(file)).header.keyCount;
      const shown: { phase: 'verify' | 'write' | null; bar: ProgressBar | null } = { phase: null, bar: null };
      const onProgress = (phase: 'verify' | 'write', keys: number): void => {
        if (shown.phase !== phase) {
          shown.bar?.stop();
          shown.phase = phase;
          shown.bar = bars[phase];
          shown.bar?.start(total, 0);
        }
        shown.bar?.update(keys);
      };
      let result: Awaited<ReturnType<typeof restoreBackup>>;
      try {
        result = await restoreBackup({ file, dataDir, nodeId: nodeId(o.id), members, onProgress, ...(o.clusterId === undefined ? {} : { clusterId: o.clusterId }) });
      } finally {
        shown.bar?.stop();
      }
      const seconds = (Date.now() - started) / 1000;
      if (o.output === 'json') {
        printJson({ file, dataDir, nodeId: o.id, clusterId: result.clusterId, seconds, verifyMs: result.verifyMs, writeMs: result.writeMs, header: result.header });
        return;
      }
      printTable(['FIELD', 'VALUE'], headerRows(result.header, [['data dir', dataDir], ['new cluster id', result.clusterId], ['members', members.map((m) => m.id).join(',')], ['took', `${seconds.toFixed(1)} s`]]));
      println(`start it with: raftkv serve --id ${o.id} --data-dir ${dataDir} --initial-cluster ${o.initialCluster} (and its --listen-* flags)`);
    });

  backup
    .command('sign <file>')
    .description('verify a backup (a scheduled one, say) and write its HMAC-SHA256 to <file>.hmac')
    .addOption(hmacKeyOption(true))
    .action(async (file: string, o: { hmacKeyFile: string }) => {
      const { signBackupFile, verifyBackupFile } = await import('../server/index.js');
      const key = await hmacKey(o.hmacKeyFile);
      if (key === null) throw new CliFailure('--hmac-key-file is required', ExitCode.usage);
      await verifyBackupFile(file);
      const mac = await signBackupFile(file, key);
      println(`${file}.hmac: ${mac}`);
    });
}
