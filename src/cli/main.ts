/**
 * The `raftkv` command line (commander). Expected failures print one line and exit with a
 * documented code (see exit-codes.ts); never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { packageInfo } from '../api/package-info.js';
import { registerBackupCommand } from './backup-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerCertsCommand } from './certs-command.js';
import { registerClusterCommand } from './cluster-command.js';
import { registerConfigCommand } from './config-command.js';
import { registerCompletionCommand } from './completion-command.js';
import { errorLine, exitCodeOf } from './exit-codes.js';
import { registerKvCommands } from './kv-commands.js';
import { registerAlarmCommand } from './alarm-command.js';
import { registerLeaderCommand } from './leader-command.js';
import { registerLeaseCommands } from './lease-commands.js';
import { registerMemberCommand } from './member-command.js';
import { registerStatusCommand } from './status-command.js';

export { ExitCode } from './exit-codes.js';

/** Commands that only talk to a cluster as a client: they never need the node's code. */
const clientCommands: ReadonlySet<string> = new Set(['put', 'get', 'del', 'delete', 'range', 'list', 'cas', 'txn', 'watch', 'status', 'member']);

// TLS to an endpoint given by IP address makes Node warn once that SNI cannot carry an IP
// (DEP0123); the certificate is still checked against the IP. Keep that out of command output.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') for (const l of printWarning) l(w);
});

const program = new Command()
  .name('raftkv')
  .description('raftkv: a replicated key-value database (Raft over gRPC, LevelDB storage)')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .exitOverride()
  .showHelpAfterError(false)
  .addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 not found (get of a missing key, failed cas or txn guard),
2 usage or invalid argument, 3 unavailable (no leader or quorum, deadline exceeded,
outcome unknown), 4 other failure.
Client commands take --endpoints (RAFTKV_ENDPOINTS; host:port or http://host:port),
--output table|json (RAFTKV_OUTPUT) and --timeout (RAFTKV_TIMEOUT; 500ms, 5s, 1m30s, 1h).
Shell completion: eval "$(raftkv completion bash)" (or zsh).`,
  );

// The node's code (LevelDB, Raft, metrics) takes a while to load: client commands skip it.
const first = process.argv[2];
if (first === undefined || !clientCommands.has(first)) {
  const { registerServeCommand } = await import('./serve-command.js');
  registerServeCommand(program);
}
registerClusterCommand(program);
registerKvCommands(program);
registerLeaseCommands(program);
registerStatusCommand(program);
registerMemberCommand(program);
registerBackupCommand(program);
registerLeaderCommand(program);
registerAlarmCommand(program);
registerConfigCommand(program);
registerBenchCommand(program);
registerCertsCommand(program);
registerCompletionCommand(program);
(await import('./auth-commands.js')).registerAuthCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = exitCodeOf(e);
  // Commander has already printed its own one-line message for usage errors.
  if (!(e instanceof CommanderError)) console.error(errorLine(e));
  process.exit(code);
}
