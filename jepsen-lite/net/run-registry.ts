/**
 * Leftover control. Every run claims a numbered slot in a shared directory and records there,
 * as it creates them, the namespaces, links and processes it owns. A run that crashed (or was
 * killed with SIGKILL, which no handler sees) leaves its slot file behind with a dead owner; the
 * next run removes everything listed in it, and every `rkvj-` namespace or link that no live run
 * owns, BEFORE it starts. Processes are killed by pid only after checking that the pid is still
 * the process that was recorded (same start time), never by name.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Prefix of every namespace, link and slot this harness creates. */
export const resourcePrefix = 'rkvj-';

/** Where slot files live (shared by every run on the machine; `RKVJ_REGISTRY_DIR` overrides it, for tests). */
export function registryDir(): string {
  return process.env.RKVJ_REGISTRY_DIR ?? '/tmp/rkvj-runs';
}

/** Most slots (netns runs use the slot as the third octet of 10.77.<slot>.0/24). */
export const slotsMax = 200;

/** A process recorded by pid and start time (so a reused pid is never killed). */
export interface RecordedProcess {
  readonly pid: number;
  readonly startTime: string;
  readonly what: string;
}

/** What one slot file holds. */
export interface SlotRecord {
  readonly slot: number;
  readonly owner: RecordedProcess;
  readonly runDir: string;
  namespaces: string[];
  links: string[];
  processes: RecordedProcess[];
}

/** The start time of `pid` (field 22 of /proc/<pid>/stat), or null if no such process. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Records `pid` with its start time. */
export function recordProcess(pid: number, what: string): RecordedProcess {
  return { pid, startTime: processStartTime(pid) ?? '?', what };
}

/** True if the recorded process still runs (same pid AND same start time, and not a zombie waiting to be reaped). */
export function isAlive(p: RecordedProcess): boolean {
  const start = processStartTime(p.pid);
  return start !== null && start === p.startTime && !isZombie(p.pid);
}

/** True if `pid` has exited and only waits for its parent to reap it. */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** SIGKILLs a recorded process if it is still the same process. */
export function killRecorded(p: RecordedProcess): void {
  if (!isAlive(p)) return;
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Runs a command, returning its stdout, or null if it failed. Never throws. */
export function run(command: string, args: readonly string[], timeoutMs = 10_000): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch {
    return null;
  }
}

/** This run's slot. Update it as resources are created; `release()` when all are gone. */
export class Slot {
  private constructor(readonly record: SlotRecord, private readonly path: string) {}

  /** Claims the lowest free slot, cleaning up dead runs' leftovers first. */
  static claim(runDir: string): Slot {
    mkdirSync(registryDir(), { recursive: true });
    sweepLeftovers();
    for (let slot = 1; slot <= slotsMax; slot++) {
      const path = join(registryDir(), `slot-${slot}.json`);
      let fd: number;
      try {
        fd = openSync(path, 'wx');
      } catch {
        continue;
      }
      const record: SlotRecord = { slot, owner: recordProcess(process.pid, 'harness'), runDir, namespaces: [], links: [], processes: [] };
      writeFileSync(fd, JSON.stringify(record));
      closeSync(fd);
      return new Slot(record, path);
    }
    throw new Error(`every jepsen-lite slot (1..${slotsMax}) in ${registryDir()} is taken by a live run`);
  }

  /** Writes the record after a change. */
  save(): void {
    writeFileSync(this.path, JSON.stringify(this.record));
  }

  addNamespace(name: string): void {
    this.record.namespaces.push(name);
    this.save();
  }

  addLink(name: string): void {
    this.record.links.push(name);
    this.save();
  }

  addProcess(pid: number, what: string): void {
    this.record.processes.push(recordProcess(pid, what));
    this.save();
  }

  /** Removes everything recorded, then the slot file. Synchronous, so it also works in an exit handler. */
  cleanupAndRelease(): void {
    cleanupRecord(this.record);
    rmSync(this.path, { force: true });
  }
}

/** Removes what a record lists: processes, then namespaces (with whatever still runs in them), then links. */
export function cleanupRecord(record: SlotRecord): void {
  for (const p of record.processes) killRecorded(p);
  for (const ns of record.namespaces) removeNamespace(ns);
  for (const link of record.links) if (linkExists(link)) run('ip', ['link', 'del', link]);
}

/** Kills every process inside namespace `ns` (by pid, from `ip netns pids`), then deletes it. */
export function removeNamespace(ns: string): void {
  if (!namespaceExists(ns)) return;
  const pids = (run('ip', ['netns', 'pids', ns]) ?? '').split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  run('ip', ['netns', 'del', ns]);
}

function namespaceExists(ns: string): boolean {
  return existsSync(`/var/run/netns/${ns}`) || existsSync(`/run/netns/${ns}`);
}

function linkExists(name: string): boolean {
  return run('ip', ['link', 'show', name]) !== null;
}

/**
 * Cleans up after every dead run: slot files whose owner is gone, and `rkvj-` namespaces and links
 * that no live run owns. Returns what it removed, for the run log.
 */
export function sweepLeftovers(): string[] {
  const removed: string[] = [];
  const dir = registryDir();
  if (!existsSync(dir)) return removed;
  const live: SlotRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => /^slot-\d+\.json$/.test(f))) {
    const path = join(dir, file);
    let record: SlotRecord | null = null;
    try {
      record = JSON.parse(readFileSync(path, 'utf8')) as SlotRecord;
    } catch {
      // A slot file is created empty and written a moment later: leave a young one alone.
      if (Date.now() - statSync(path).mtimeMs < 10_000) continue;
      record = null;
    }
    if (record && isAlive(record.owner)) {
      live.push(record);
      continue;
    }
    if (record) {
      cleanupRecord(record);
      removed.push(`slot ${record.slot} of dead run ${record.owner.pid} (${record.runDir})`);
    }
    rmSync(path, { force: true });
  }
  if (run('ip', ['-V']) === null) return removed;
  const owned = new Set(live.flatMap((r) => [...r.namespaces, ...r.links]));
  const liveSlots = new Set(live.map((r) => r.slot));
  const ownedBySlot = (name: string): boolean => {
    const m = /^rkvj-(\d+)-/.exec(name);
    if (m !== null) return liveSlots.has(Number(m[1]));
    // A capability probe of a live process (detect.ts) is not a leftover.
    const probe = /^rkvj-probe-(\d+)$/.exec(name);
    return probe !== null && processStartTime(Number(probe[1])) !== null;
  };
  for (const ns of (run('ip', ['netns', 'list']) ?? '').split('\n').map((l) => l.split(' ')[0] ?? '')) {
    if (ns.startsWith(resourcePrefix) && !owned.has(ns) && !ownedBySlot(ns)) {
      removeNamespace(ns);
      removed.push(`namespace ${ns}`);
    }
  }
  for (const line of (run('ip', ['-o', 'link', 'show']) ?? '').split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '';
    if (name.startsWith(resourcePrefix) && !owned.has(name) && !ownedBySlot(name)) {
      run('ip', ['link', 'del', name]);
      removed.push(`link ${name}`);
    }
  }
  return removed;
}
