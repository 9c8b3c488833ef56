// The simulated LevelDB's durability model (sim-level.ts): what survives a crash and a power loss.
import { describe, expect, it } from 'vitest';
import type { Prng } from '../../src/util/index.js';
import { SimDisk } from './sim-level.js';

/** A PRNG that always draws the lowest value: a power loss keeps no unsynced record. */
const worstCase: Prng = { int: (lo) => lo, float: () => 0, chance: () => false, fork: () => worstCase };
const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const put = (key: string) => ({ type: 'put' as const, key: k(key), value: k('v') });

async function survivors(disk: SimDisk, keys: readonly string[]): Promise<string[]> {
  const db = disk.open();
  const found: string[] = [];
  for (const key of keys) if ((await db.get(k(key))) !== undefined) found.push(key);
  await db.close();
  return found;
}

describe('SimDisk (LevelDB durability model)', () => {
  it('a synced write makes the unsynced writes before it in the same WAL file durable', async () => {
    const disk = new SimDisk(worstCase);
    const db = disk.open();
    await db.batch([put('a')], { sync: false });
    await db.batch([put('b')], { sync: true });
    await db.batch([put('c')], { sync: false });
    disk.powerLoss();
    expect(await survivors(disk, ['a', 'b', 'c'])).toEqual(['a', 'b']);
  });

  it('across a rotation an unsynced write can be lost while a later synced one survives', async () => {
    const disk = new SimDisk(worstCase);
    const db = disk.open();
    await db.batch([put('a')], { sync: false });
    disk.rotate();
    await db.batch([put('b')], { sync: true });
    expect(disk.powerLoss()).toBe(1);
    expect(await survivors(disk, ['a', 'b'])).toEqual(['b']);
    expect(disk.stats).toMatchObject({ rotations: 1, powerLosses: 1, unsyncedWritesLost: 1 });
  });

  it('the durability barrier (compactRange) and the background flush make everything durable', async () => {
    const disk = new SimDisk(worstCase);
    let db = disk.open();
    await db.batch([put('a')], { sync: false });
    disk.rotate();
    disk.flushImmutable();
    await db.batch([put('b')], { sync: false });
    await (db as unknown as { compactRange(a: Uint8Array, b: Uint8Array): Promise<void> }).compactRange(k('x'), k('x'));
    disk.powerLoss();
    expect(await survivors(disk, ['a', 'b'])).toEqual(['a', 'b']);
    db = disk.open();
    await db.close();
  });

  it('a process crash loses nothing written; reads see writes at once', async () => {
    const disk = new SimDisk(worstCase);
    const db = disk.open();
    await db.batch([put('a')], { sync: false });
    expect(await db.get(k('a'))).toBeDefined();
    disk.crash();
    await expect(db.get(k('a'))).rejects.toThrow(/not open/);
    expect(await survivors(disk, ['a'])).toEqual(['a']);
  });

  it('after an fsync error or a full disk the handle refuses every write', async () => {
    for (const fault of ['fsyncError', 'diskFull'] as const) {
      const disk = new SimDisk(worstCase);
      const db = disk.open();
      disk.injectFault(fault);
      await expect(db.batch([put('a')], { sync: true })).rejects.toThrow(/IO error/);
      await expect(db.batch([put('b')], { sync: true })).rejects.toThrow(/earlier write failed/);
      expect(await db.get(k('a'))).toBeUndefined();
    }
  });

  it('refuses a second open handle (the LOCK file)', () => {
    const disk = new SimDisk(worstCase);
    disk.open();
    expect(() => disk.open()).toThrow(/locked/);
  });
});
