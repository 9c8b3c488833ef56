/**
 * Progress bars (cli-progress) for long work: backup save, verify and restore, and bench. A bar is
 * drawn on stderr when it is a terminal and the output is a table (JSON output stays clean for
 * scripts); `RAFTKV_PROGRESS=1` forces it (for logs), `RAFTKV_PROGRESS=0` turns it off.
 */
import { createRequire } from 'node:module';
import type { OutputFormat } from './output.js';

/** The little of cli-progress this uses (it ships no types). */
export interface ProgressBar {
  start(total: number, value: number): void;
  update(value: number): void;
  setTotal(total: number): void;
  stop(): void;
}
interface CliProgressModule {
  SingleBar: new (options: object, preset: object) => ProgressBar;
  Presets: { shades_classic: object };
}

/** A bar labelled `label` counting `unit` (`keys`, `ops`), or null when none should be drawn. */
export function progressBar(output: OutputFormat, label: string, unit: string): ProgressBar | null {
  const forced = process.env['RAFTKV_PROGRESS'];
  if (forced === '0' || output === 'json') return null;
  if (forced !== '1' && !process.stderr.isTTY) return null;
  const cliProgress = createRequire(import.meta.url)('cli-progress') as CliProgressModule;
  return new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`, hideCursor: true, stream: process.stderr, noTTYOutput: forced === '1', notTTYSchedule: 1000 },
    cliProgress.Presets.shades_classic,
  );
}
