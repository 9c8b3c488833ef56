/**
 * The lease commands and the recipes built on leases:
 *
 *   raftkv lease grant <ttl>            raftkv lease revoke <id>        raftkv lease list
 *   raftkv lease keep-alive <id>        raftkv lease time-to-live <id> [--keys]
 *   raftkv lock <name> [command...]     raftkv elect <name> [proposal]
 *
 * Lease ids are printed and read in hexadecimal, as etcdctl does (`put --lease <id>` takes the
 * same form); JSON output carries both the number and the hex form. Exit codes as exit-codes.ts:
 * a lease that does not exist is 1 (not found).
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { RaftkvClient } from '../client/index.js';
import { InvalidArgumentError } from '../util/index.js';
import { addClientFlags, clientFlagsOf, parseCount, withClient } from './client-flags.js';
import type { ClientFlags } from './client-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import { cell, printJson, println } from './output.js';

/** Registers `lease`, `lock` and `elect`. */
export function registerLeaseCommands(program: Command): void {
  const lease = program.command('lease').description('grant, renew, inspect and revoke leases (TTLs for keys)');
  registerGrant(lease);
  registerRevoke(lease);
  registerKeepAlive(lease);
  registerList(lease);
  registerTimeToLive(lease);
  registerLock(program);
  registerElect(program);
}

/** Parses a lease id in hexadecimal (etcdctl's form), with or without `0x`. */
export function parseLeaseId(text: string): number {
  const digits = text.startsWith('0x') ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{1,14}$/.test(digits)) throw new InvalidArgumentError('lease', `must be a lease id in hexadecimal, got ${JSON.stringify(text)}`);
  const id = Number.parseInt(digits, 16);
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError('lease', `must be a lease id between 1 and 2^53 - 1, got ${JSON.stringify(text)}`);
  return id;
}

/** A lease id as the CLI prints it. */
export function leaseHex(id: number): string {
  return id.toString(16);
}

function leaseJson(id: number): { id: number; idHex: string } {
  return { id, idHex: leaseHex(id) };
}

function registerGrant(lease: Command): void {
  addClientFlags(
    lease
      .command('grant')
      .description('grant a lease of <ttl> seconds (raised to the cluster minimum) and print its id')
      .argument('<ttl>', 'seconds', parseCount),
  ).action(async (ttlS: number, _o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const r = await withClient(flags, (kv) => kv.leases.grant(ttlS));
    if (flags.output === 'json') printJson({ ...leaseJson(r.id), ttlS: r.ttlS });
    else println(`lease ${leaseHex(r.id)} granted with TTL(${r.ttlS}s)`);
  });
}

function registerRevoke(lease: Command): void {
  addClientFlags(lease.command('revoke').description('revoke a lease: every key attached to it is deleted').argument('<id>', 'the lease id (hex)', parseLeaseId)).action(
    async (id: number, _o: object, cmd: Command) => {
      const flags = clientFlagsOf(cmd);
      const r = await withClient(flags, (kv) => kv.leases.revoke(id));
      if (flags.output === 'json') printJson({ ...leaseJson(id), deleted: r.deleted, revision: r.revision });
      else println(`lease ${leaseHex(id)} revoked (${r.deleted} keys deleted)`);
    },
  );
}

function registerKeepAlive(lease: Command): void {
  addClientFlags(
    lease
      .command('keep-alive')
      .description('renew a lease every third of its TTL until Ctrl-C (exit code 1 once it is gone)')
      .argument('<id>', 'the lease id (hex)', parseLeaseId)
      .option('--once', 'renew it once and exit'),
    { defaultMs: null, help: 'stop after this long' },
  ).action(async (id: number, o: { once?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient({ ...flags, timeoutMs: undefined }, async (kv) => {
      const print = (ttlS: number): void => {
        if (flags.output === 'json') printJson({ ...leaseJson(id), ttlS }, true);
        else println(`lease ${leaseHex(id)} keepalived with TTL(${ttlS})`);
      };
      if (o.once === true) {
        print((await kv.leases.keepAliveOnce(id)).ttlS);
        return;
      }
      const first = await kv.leases.keepAliveOnce(id);
      print(first.ttlS);
      const intervalMs = Math.max(100, Math.floor((first.ttlS * 1000) / 3));
      await untilStopped(flags, async (stopped) => {
        while (!stopped()) {
          await sleep(intervalMs, stopped);
          if (stopped()) return;
          try {
            print((await kv.leases.keepAliveOnce(id, { timeoutMs: intervalMs * 2 })).ttlS);
          } catch (e) {
            if ((e as { code?: string }).code === 'NOT_FOUND') throw new CliFailure(`lease ${leaseHex(id)} expired or was revoked`, ExitCode.notFound);
            // A failed renewal is retried at the next interval; the lease lives a full TTL.
          }
        }
      });
    });
  });
}

function registerList(lease: Command): void {
  addClientFlags(lease.command('list').description('list the live leases')).action(async (_o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const ids = await withClient(flags, (kv) => kv.leases.list());
    if (flags.output === 'json') printJson({ leases: ids.map(leaseJson) });
    else {
      println(`found ${ids.length} leases`);
      for (const id of ids) println(leaseHex(id));
    }
  });
}

function registerTimeToLive(lease: Command): void {
  addClientFlags(
    lease
      .command('time-to-live')
      .description("print a lease's granted and remaining TTL")
      .argument('<id>', 'the lease id (hex)', parseLeaseId)
      .option('--keys', 'list the attached keys'),
  ).action(async (id: number, o: { keys?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const r = await withClient(flags, (kv) => kv.leases.timeToLive(id, { keys: o.keys === true }));
    if (flags.output === 'json') {
      printJson({ ...leaseJson(id), ttlS: r.ttlS, grantedTtlS: r.grantedTtlS, keyCount: r.keyCount, ...(o.keys === true ? { keys: r.keys.map(cell) } : {}) });
      return;
    }
    const keys = o.keys === true ? `, attached keys([${r.keys.map(cell).join(' ')}])` : '';
    println(`lease ${leaseHex(id)} granted with TTL(${r.grantedTtlS}s), remaining(${r.ttlS}s)${keys}`);
  });
}

function registerLock(program: Command): void {
  addClientFlags(
    program
      .command('lock')
      .description('take a distributed lock; run [command...] while holding it (exit with its code), or hold it until Ctrl-C')
      .argument('<name>', 'the lock name (its keys are <name>/<lease id>)')
      .argument('[command...]', 'a command to run while the lock is held')
      .option('--ttl <seconds>', "the lock lease's TTL", parseCount, 60),
    { defaultMs: null, help: 'give up waiting for the lock after this long (exit code 3)' },
  ).action(async (name: string, command: string[], o: { ttl: number }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient({ ...flags, timeoutMs: undefined }, async (kv) => {
      const lock = await kv.lock(name, { ttlS: o.ttl, ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }) }).catch((e: unknown) => {
        throw (e as { name?: string }).name === 'AbortError' || /not acquired/.test(String(e)) ? new CliFailure(`lock ${name}: not acquired within the timeout`, ExitCode.unavailable) : e;
      });
      const lost = lock.lease.whenLost().then((e) => new CliFailure(`lock ${name}: lost (${e.message})`, ExitCode.failed));
      try {
        if (command.length === 0) {
          if (flags.output === 'json') printJson({ key: cell(lock.key), ...leaseJson(lock.lease.id), revision: lock.revision });
          else println(cell(lock.key));
          await untilStopped({ ...flags, timeoutMs: undefined }, async (stopped) => {
            const failure = await Promise.race([lost, waitFor(stopped)]);
            if (failure instanceof CliFailure) throw failure;
          });
          return;
        }
        const code = await run(command, { RAFTKV_LOCK_KEY: cell(lock.key), RAFTKV_LOCK_LEASE: leaseHex(lock.lease.id) }, lost);
        if (code !== 0) process.exitCode = code;
      } finally {
        await lock.release().catch(() => {});
      }
    });
  });
}

function registerElect(program: Command): void {
  addClientFlags(
    program
      .command('elect')
      .description('campaign with [proposal] and print it once elected, leading until Ctrl-C; without a proposal, print each leader as it changes')
      .argument('<name>', 'the election name (its keys are <name>/<lease id>)')
      .argument('[proposal]', 'this candidate\'s value')
      .option('--ttl <seconds>', "the campaign lease's TTL", parseCount, 60),
    { defaultMs: null, help: 'stop after this long' },
  ).action(async (name: string, proposal: string | undefined, o: { ttl: number }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient({ ...flags, timeoutMs: undefined }, async (kv) => {
      const election = kv.election(name, { ttlS: o.ttl });
      if (proposal === undefined) {
        await observe(kv, name, flags);
        return;
      }
      await election.campaign(proposal);
      const lease = election.lease;
      if (flags.output === 'json') printJson({ name, proposal, ...(lease ? leaseJson(lease.id) : {}) });
      else {
        println(name);
        println(proposal);
      }
      try {
        await untilStopped(flags, async (stopped) => {
          const lost = lease?.whenLost().then((e) => new CliFailure(`elect ${name}: leadership lost (${e.message})`, ExitCode.failed)) ?? new Promise<never>(() => {});
          const failure = await Promise.race([lost, waitFor(stopped)]);
          if (failure instanceof CliFailure) throw failure;
        });
      } finally {
        await election.resign().catch(() => {});
      }
    });
  });
}

/** Prints every leader of election `name` as it changes, until stopped. */
async function observe(kv: RaftkvClient, name: string, flags: ClientFlags): Promise<void> {
  const controller = new AbortController();
  await untilStopped(flags, async (stopped) => {
    void waitFor(stopped).then(() => controller.abort());
    for await (const leader of kv.election(name).observe({ signal: controller.signal })) {
      if (flags.output === 'json') printJson({ key: cell(leader.key), value: cell(leader.value) }, true);
      else {
        println(cell(leader.key));
        println(cell(leader.value));
      }
      if (stopped()) return;
    }
  });
}

/** Runs `body` until it returns, Ctrl-C / SIGTERM, or `--timeout` passes. */
async function untilStopped(flags: ClientFlags, body: (stopped: () => boolean) => Promise<void>): Promise<void> {
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = flags.timeoutMs === undefined ? null : setTimeout(onSignal, flags.timeoutMs);
  try {
    await body(() => stop);
  } finally {
    if (timer !== null) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Resolves once `stopped()` holds (checked every 100 ms). */
async function waitFor(stopped: () => boolean): Promise<void> {
  while (!stopped()) await sleep(100, stopped);
}

async function sleep(ms: number, stopped: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!stopped() && Date.now() < end) await new Promise((r) => setTimeout(r, Math.min(100, end - Date.now())));
}

/** Runs `command` with `env` added; resolves with its exit code (rejects if the lock is lost first). */
async function run(command: readonly string[], env: Readonly<Record<string, string>>, lost: Promise<CliFailure>): Promise<number> {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(new CliFailure(`lock: cannot run ${JSON.stringify(file)}: ${e.message}`, ExitCode.failed)));
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
  const failure = await Promise.race([exited, lost]);
  if (typeof failure === 'number') return failure;
  // The lock was lost while the command ran: stop it, say so.
  if (child.pid !== undefined) child.kill('SIGTERM');
  await exited.catch(() => 1);
  throw failure;
}
