// jepsen-lite leaves nothing behind: Ctrl-C stops a run cleanly (processes, namespaces, slot), and a harness killed with SIGKILL is cleaned up by the next run's sweep.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../cluster/local-cluster.js';
import { isAlive, registryDir, run, sweepLeftovers } from '../jepsen-lite/net/run-registry.js';
import type { SlotRecord } from '../jepsen-lite/net/run-registry.js';

const dir = mkdtempSync(join(tmpdir(), 'rkvj-cleanup-'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `npm run jepsen` (through tsx) and resolves once its cluster is up, with its slot record. */
async function startHarness(name: string): Promise<{ child: ChildProcess; slot: SlotRecord; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'jepsen-lite', 'cli.ts'), '--nemesis', 'partition,pause', '--interval', '2', '--time', '120', '--out', join(dir, name)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!/cluster of 3 up/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the harness did not bring its cluster up:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 3000)); // let a fault start, so there is something to clean up
  const slots = readdirSync(registryDir())
    .map((f) => JSON.parse(readFileSync(join(registryDir(), f), 'utf8')) as SlotRecord)
    .filter((s) => s.owner.pid === child.pid);
  const slot = slots[0];
  if (!slot) throw new Error(`no slot for harness ${child.pid}`);
  expect(slot.processes.filter((p) => p.what.startsWith('node ')).length).toBe(3);
  return { child, slot, output: () => output };
}

async function expectGone(slot: SlotRecord): Promise<void> {
  // SIGKILL takes effect asynchronously: give the processes a moment to die.
  for (let i = 0; i < 50 && slot.processes.some((p) => isAlive(p)); i++) await new Promise((r) => setTimeout(r, 100));
  for (const p of slot.processes) expect(isAlive(p), `${p.what} (pid ${p.pid}) still runs`).toBe(false);
  const namespaces = run('ip', ['netns', 'list']) ?? '';
  for (const ns of slot.namespaces) expect(namespaces).not.toContain(ns);
  const links = run('ip', ['-o', 'link', 'show']) ?? '';
  for (const l of slot.links) expect(links).not.toContain(`${l}:`);
  expect(existsSync(join(registryDir(), `slot-${slot.slot}.json`))).toBe(false);
}

describe('jepsen-lite cleanup', () => {
  it('Ctrl-C (SIGINT) heals, checks, writes the report and removes everything', async () => {
    const { child, slot, output } = await startHarness('sigint');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    const code = await exited;
    expect(code === 0 || code === 1, output()).toBe(true);
    expect(output()).toMatch(/SIGINT: stopping the run early/);
    expect(existsSync(join(dir, 'sigint', 'report.html'))).toBe(true);
    expect(existsSync(join(dir, 'sigint', 'history.jsonl'))).toBe(true);
    await expectGone(slot);
  }, 120_000);

  it('a harness killed with SIGKILL leaves a slot that the next sweep cleans up', async () => {
    const { child, slot } = await startHarness('sigkill');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(registryDir(), `slot-${slot.slot}.json`)), 'the dead run left its slot behind').toBe(true);
    const removed = sweepLeftovers();
    expect(removed.join('\n')).toMatch(new RegExp(`slot ${slot.slot} of dead run ${child.pid}`));
    await expectGone(slot);
  }, 120_000);
});
