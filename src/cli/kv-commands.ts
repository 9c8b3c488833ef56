/**
 * The key-value commands: `put`, `get`, `del`, `range` (alias `list`), `cas`, `txn`, `watch`.
 * Each prints its result (`--output table|json`) and exits with a documented code
 * (see exit-codes.ts); an expected failure prints one line to stderr.
 */
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import { formatDurationMs, InvalidArgumentError } from '../util/index.js';
import type { GetResult, KeyValue, RaftkvClient, TxnOpResult, TxnResult } from '../client/index.js';
import { addClientFlags, clientFlagsOf, parseCount, parseDuration, withClient } from './client-flags.js';
import type { ClientFlags } from './client-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import { cell, printJson, println, printTable } from './output.js';
import { parseLeaseId } from './lease-commands.js';
import { parseTxn } from './txn-input.js';

/** Registers the key-value commands on the program. */
export function registerKvCommands(program: Command): void {
  registerPut(program);
  registerGet(program);
  registerDel(program);
  registerRange(program);
  registerCas(program);
  registerTxn(program);
  registerWatch(program);
}

/** Reads all of stdin (for a value or a txn given by pipe). */
async function readStdin(what: string): Promise<Buffer> {
  if (process.stdin.isTTY) throw new InvalidArgumentError(what, 'missing: give it as an argument or pipe it on stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function registerPut(program: Command): void {
  addClientFlags(
    program
      .command('put')
      .description('set a key to a value (the value is read from stdin when omitted)')
      .argument('<key>', 'the key (UTF-8)')
      .argument('[value]', 'the value (UTF-8); omit it to read raw bytes from stdin')
      .option('--prev-kv', 'print the previous key-value')
      .addOption(new Option('--lease <id>', 'attach the key to this lease (hex id, as `lease grant` prints it)').argParser(parseLeaseId)),
  ).action(async (key: string, value: string | undefined, o: { prevKv?: boolean; lease?: number }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const bytes = value ?? (await readStdin('value'));
    const r = await withClient(flags, (kv) => kv.put(key, bytes, { prevKv: o.prevKv === true, ...(o.lease === undefined ? {} : { lease: o.lease }) }));
    if (flags.output === 'json') printJson({ revision: r.revision, ...(o.prevKv ? { prevKv: r.prevKv } : {}) });
    else {
      println('OK');
      if (o.prevKv && r.prevKv) println(cell(r.prevKv.value));
    }
  });
}

function registerGet(program: Command): void {
  addClientFlags(
    program
      .command('get')
      .description('print the value of a key (exit code 1 if it does not exist)')
      .argument('<key>', 'the key (UTF-8)')
      .option('--stale', 'read the answering node\'s local state (fast, maybe behind)')
      .addOption(new Option('--max-staleness <duration>', 'with --stale: refuse answers older than this').argParser(parseDuration))
      .option('--fallback-to-stale', 'answer with a stale read if no quorum can be reached'),
  ).action(async (key: string, o: { stale?: boolean; maxStaleness?: number; fallbackToStale?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const r = await withClient(flags, (kv) =>
      kv.get(key, { consistency: o.stale ? 'stale' : 'linearizable', maxStalenessMs: o.maxStaleness ?? 0, fallbackToStale: o.fallbackToStale === true }),
    );
    printGet(r, flags);
    if (!r.found) throw new CliFailure(`key ${JSON.stringify(key)} not found`, ExitCode.notFound);
  });
}

function printGet(r: GetResult, flags: ClientFlags): void {
  if (flags.output === 'json') {
    printJson({ found: r.found, ...(r.kv ? r.kv.toJSON() : {}), revision: r.revision, stale: r.stale, stalenessMs: r.stalenessMs, nodeId: r.nodeId });
    return;
  }
  if (r.kv === null) return;
  if (r.stale) process.stderr.write(`raftkv: note: stale read from ${r.nodeId} (up to ${r.stalenessMs} ms behind)\n`);
  process.stdout.write(r.kv.value);
  process.stdout.write('\n');
}

function registerDel(program: Command): void {
  addClientFlags(
    program
      .command('del')
      .alias('delete')
      .description('delete a key, or every key under a prefix; prints how many were deleted')
      .argument('<key>', 'the key, or the prefix with --prefix')
      .option('--prefix', 'delete every key that starts with <key>')
      .option('--prev-kv', 'print the deleted key-values'),
  ).action(async (key: string, o: { prefix?: boolean; prevKv?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const r = await withClient(flags, (kv) => kv.delete(o.prefix ? { prefix: key } : key, { prevKv: o.prevKv === true }));
    if (flags.output === 'json') printJson({ deleted: r.deleted, revision: r.revision, ...(o.prevKv ? { prevKvs: r.prevKvs } : {}) });
    else {
      println(String(r.deleted));
      if (o.prevKv) printKvs(r.prevKvs);
    }
  });
}

function printKvs(kvs: readonly KeyValue[]): void {
  printTable(
    ['KEY', 'VALUE', 'VERSION', 'MOD_REVISION'],
    kvs.map((kv) => [cell(kv.key), cell(kv.value), String(kv.version), String(kv.modRevision)]),
  );
}

function registerRange(program: Command): void {
  addClientFlags(
    program
      .command('range')
      .alias('list')
      .description('list the keys under a prefix (every key when omitted), in key order')
      .argument('[prefix]', 'the prefix (UTF-8)', '')
      .addOption(new Option('--limit <n>', 'most keys to print (0: the server\'s limit)').argParser(parseCount))
      .option('--keys-only', 'print keys only, one per line')
      .option('--count-only', 'print only the number of keys')
      .option('--stale', 'read the answering node\'s local state (fast, maybe behind)'),
  ).action(async (prefix: string, o: { limit?: number; keysOnly?: boolean; countOnly?: boolean; stale?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const r = await withClient(flags, (kv) =>
      kv.range({ prefix, limit: o.limit ?? 0, keysOnly: o.keysOnly === true, countOnly: o.countOnly === true, consistency: o.stale ? 'stale' : 'linearizable' }),
    );
    if (flags.output === 'json') {
      printJson({ count: r.count, more: r.more, revision: r.revision, stale: r.stale, ...(o.countOnly ? {} : { kvs: o.keysOnly ? r.kvs.map((kv) => keyJson(kv)) : r.kvs }) });
      return;
    }
    if (o.countOnly) println(String(r.count));
    else if (o.keysOnly) for (const kv of r.kvs) println(cell(kv.key));
    else printKvs(r.kvs);
    if (r.more && !o.countOnly) process.stderr.write(`raftkv: note: ${r.kvs.length} of ${r.count} keys shown; raise --limit to see more\n`);
  });
}

function keyJson(kv: KeyValue): Record<string, string | number> {
  const { value: _value, valueBase64: _valueBase64, ...rest } = kv.toJSON();
  return rest;
}

function registerCas(program: Command): void {
  addClientFlags(
    program
      .command('cas')
      .description('compare-and-swap: set <key> to <new> only if it holds <expected> ("-": only if it does not exist); exit code 1 if not')
      .argument('<key>', 'the key (UTF-8)')
      .argument('<expected>', 'the value the key must hold, or - for "must not exist"')
      .argument('<new>', 'the value to set'),
  ).action(async (key: string, expected: string, value: string, _o: unknown, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const r = await withClient(flags, (kv) => kv.cas(key, expected === '-' ? null : expected, value));
    if (flags.output === 'json') printJson({ succeeded: r.succeeded, revision: r.revision, current: r.current });
    else if (r.succeeded) println('OK');
    if (!r.succeeded) {
      const now = r.current === null ? 'does not exist' : expected === '-' ? 'exists' : `holds ${JSON.stringify(cell(r.current.value))}`;
      throw new CliFailure(`cas failed: key ${JSON.stringify(key)} ${now}`, ExitCode.notFound);
    }
  });
}

function registerTxn(program: Command): void {
  addClientFlags(
    program
      .command('txn')
      .description('run a transaction given as JSON (argument, --file, or stdin); exit code 1 if its guard failed')
      .argument('[json]', '{"if":[compares],"then":[ops],"else":[ops]}')
      .option('--file <path>', 'read the transaction from a file')
      .addHelpText(
        'after',
        `
Compares: {"key":"k","target":"value"|"version"|"modRevision"|"createRevision","op":"=="|"!="|"<"|">","value":...}
Ops:      {"type":"put","key":"k","value":"v"}  {"type":"delete","key":"k"}  {"type":"delete","prefix":"p/"}
          {"type":"range","key":"k"}  {"type":"range","prefix":"p/","limit":10}

Example:
  raftkv txn '{"if":[{"key":"lock","target":"version","op":"==","value":0}],
               "then":[{"type":"put","key":"lock","value":"me"}],
               "else":[{"type":"range","key":"lock"}]}'`,
      ),
  ).action(async (json: string | undefined, o: { file?: string }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const text = json ?? (o.file !== undefined ? readFileSync(o.file, 'utf8') : (await readStdin('txn')).toString('utf8'));
    const spec = parseTxn(text);
    const r = await withClient(flags, (kv: RaftkvClient) => kv.txn().if(spec.if).then(spec.then).else(spec.else).commit());
    printTxn(r, flags);
    if (!r.succeeded) throw new CliFailure('txn: the guard failed; the else branch ran', ExitCode.notFound);
  });
}

function printTxn(r: TxnResult, flags: ClientFlags): void {
  if (flags.output === 'json') {
    printJson({ succeeded: r.succeeded, revision: r.revision, results: r.results });
    return;
  }
  println(r.succeeded ? 'SUCCEEDED' : 'FAILED');
  r.results.forEach((result: TxnOpResult) => {
    switch (result.type) {
      case 'put':
        println('OK');
        return;
      case 'delete':
        println(String(result.deleted));
        return;
      case 'range':
        printKvs(result.kvs);
        return;
    }
  });
}

function registerWatch(program: Command): void {
  addClientFlags(
    program
      .command('watch')
      .description('print changes to a key (or every key under a prefix) until Ctrl-C')
      .argument('<key>', 'the key, or the prefix with --prefix')
      .option('--prefix', 'watch every key that starts with <key>')
      .addOption(new Option('--from-revision <n>', 'replay changes from this revision on').argParser(parseCount))
      .addOption(new Option('--count <n>', 'exit after this many changes').argParser(parseCount))
      .option('--prev-kv', 'include previous values (json output)'),
    // A watch runs until Ctrl-C or --count; --timeout bounds it (a watch has no deadline otherwise).
    { defaultMs: null, help: 'stop watching after this long (exit code 3 if --count changes were not seen by then)' },
  ).action(async (key: string, o: { prefix?: boolean; fromRevision?: number; count?: number; prevKv?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    // The client's calls (reading the current revision) keep their usual 5 s deadline.
    await withClient({ ...flags, timeoutMs: undefined }, async (kv) => {
      const watch = kv.watch(key, { prefix: o.prefix === true, fromRevision: o.fromRevision ?? 0, prevKv: o.prevKv === true });
      const stop = (): void => watch.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let timedOut = false;
      const timer = flags.timeoutMs === undefined ? null : setTimeout(() => ((timedOut = true), watch.close()), flags.timeoutMs);
      let seen = 0;
      try {
        for await (const e of watch) {
          if (flags.output === 'json') printJson({ type: e.type, revision: e.revision, ...e.kv.toJSON(), ...(e.prevKv ? { prevKv: e.prevKv } : {}) }, true);
          else println(e.type === 'put' ? `PUT ${cell(e.kv.key)} ${cell(e.kv.value)} (revision ${e.revision})` : `DELETE ${cell(e.kv.key)} (revision ${e.revision})`);
          seen += 1;
          if (o.count !== undefined && seen >= o.count) break;
        }
      } finally {
        if (timer !== null) clearTimeout(timer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      if (timedOut && o.count !== undefined && seen < o.count) {
        throw new CliFailure(`watch: ${seen} of ${o.count} changes seen within ${formatDurationMs(flags.timeoutMs ?? 0)}`, ExitCode.unavailable);
      }
    });
  });
}
