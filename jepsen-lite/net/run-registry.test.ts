// A crashed run's leftovers (its processes and, as root, its namespaces) are removed by the next run's sweep, and a live run's are not.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCapabilities } from './detect.js';
import { isAlive, processStartTime, recordProcess, registryDir, run, sweepLeftovers } from './run-registry.js';
import type { SlotRecord } from './run-registry.js';

/** A process that exits at once: its pid is a dead owner. */
async function deadPid(): Promise<{ pid: number; startTime: string }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 200)'], { stdio: 'ignore' });
  const pid = child.pid ?? 0;
  const startTime = processStartTime(pid) ?? '?';
  await new Promise((r) => child.once('exit', r));
  return { pid, startTime };
}

function writeSlot(slot: number, record: SlotRecord): string {
  mkdirSync(registryDir(), { recursive: true });
  const path = join(registryDir(), `slot-${slot}.json`);
  const fd = openSync(path, 'wx'); // Fails if a live run happens to hold this slot: then the test does not touch it.
  writeFileSync(fd, JSON.stringify(record));
  closeSync(fd);
  return path;
}

describe('run registry', () => {
  it('kills the processes of a dead run and removes its slot, leaving a live run alone', async () => {
    const victim = spawn('sleep', ['60'], { stdio: 'ignore' });
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const owner = await deadPid();
      const dead = writeSlot(197, { slot: 197, owner: { ...owner, what: 'harness' }, runDir: '/tmp/x', namespaces: [], links: [], processes: [recordProcess(victim.pid ?? 0, 'node n1')] });
      const live = writeSlot(198, { slot: 198, owner: recordProcess(process.pid, 'harness'), runDir: '/tmp/y', namespaces: [], links: [], processes: [recordProcess(bystander.pid ?? 0, 'node n1')] });
      const exited = new Promise((r) => victim.once('exit', r));
      const removed = sweepLeftovers();
      await exited;
      expect(removed.join('\n')).toMatch(/slot 197 of dead run/);
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(isAlive(recordProcess(bystander.pid ?? 0, 'x'))).toBe(true);
      run('rm', ['-f', live]);
    } finally {
      victim.kill('SIGKILL');
      bystander.kill('SIGKILL');
    }
  });

  it('never kills a recorded pid that now belongs to another process', async () => {
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const owner = await deadPid();
      writeSlot(196, { slot: 196, owner: { ...owner, what: 'harness' }, runDir: '/tmp/z', namespaces: [], links: [], processes: [{ pid: bystander.pid ?? 0, startTime: 'not-its-start-time', what: 'node n1' }] });
      sweepLeftovers();
      expect(processStartTime(bystander.pid ?? 0)).not.toBeNull();
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it.runIf(detectCapabilities().netns)('removes a dead run\'s namespaces and an unowned rkvj- namespace, with the processes inside', async () => {
    const owner = await deadPid();
    run('ip', ['netns', 'add', 'rkvj-195-t1']);
    run('ip', ['netns', 'add', 'rkvj-orphan-t2']);
    const inside = spawn('ip', ['netns', 'exec', 'rkvj-195-t1', 'sleep', '60'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    writeSlot(195, { slot: 195, owner: { ...owner, what: 'harness' }, runDir: '/tmp/w', namespaces: ['rkvj-195-t1'], links: [], processes: [] });
    const exited = new Promise((r) => inside.once('exit', r));
    sweepLeftovers();
    await exited;
    const list = run('ip', ['netns', 'list']) ?? '';
    expect(list).not.toMatch(/rkvj-195-t1|rkvj-orphan-t2/);
  });
});
