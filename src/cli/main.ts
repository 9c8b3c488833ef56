/**
 * The `raftkv` command line (commander). Expected failures print one line and exit with a
 * documented code; never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { RaftkvError } from '../util/index.js';
import { registerClusterCommand } from './cluster-command.js';
import { registerServeCommand } from './serve-command.js';

/** Exit codes scripts can rely on. */
export const ExitCode = {
  ok: 0,
  notFound: 1,
  usage: 2,
  unavailable: 3,
  failed: 4,
} as const;

const program = new Command()
  .name('raftkv')
  .description('raftkv: a replicated key-value database (Raft over gRPC, LevelDB storage)')
  .exitOverride()
  .showHelpAfterError(false);
registerServeCommand(program);
registerClusterCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exit(e.exitCode === 0 ? 0 : ExitCode.usage);
  }
  if (e instanceof RaftkvError) {
    console.error(`raftkv: ${e.message}`);
    process.exit(e.code === 'INVALID_ARGUMENT' ? ExitCode.usage : e.code === 'UNAVAILABLE' ? ExitCode.unavailable : ExitCode.failed);
  }
  console.error(`raftkv: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(ExitCode.failed);
}
