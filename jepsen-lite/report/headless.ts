/**
 * Opens a page in headless Chromium (Debian's `chromium` package) and returns the DOM after its
 * scripts ran, for the report test. Every run gets a fresh profile directory, removed afterwards,
 * and the browser is killed by pid if it does not finish in time.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The Chromium binary: `$CHROMIUM`, else the usual Debian paths; null if none is installed. */
export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c)) ?? null;
}

/** The flags every headless run uses (no sandbox: CI runs as root). */
export function chromiumFlags(profileDir: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profileDir}`,
  ];
}

/** Loads `file` and resolves with the serialized DOM (after scripts) and Chromium's stderr. */
export async function dumpDom(chromium: string, file: string, timeoutMs = 60_000): Promise<{ dom: string; stderr: string; code: number | null }> {
  const profile = mkdtempSync(join(tmpdir(), 'rkvj-chromium-'));
  try {
    const child = spawn(chromium, [...chromiumFlags(profile), '--enable-logging=stderr', '--v=0', '--dump-dom', pathToFileURL(file).href], { stdio: ['ignore', 'pipe', 'pipe'] });
    let dom = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (dom += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { dom, stderr, code };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
