/**
 * Snapshot staging for the simulator: the staged state lives in memory next to the node's
 * simulated disk (it survives the node's crashes and restarts, as the staged file does), and is
 * checked frame by frame on the way in with the production decoder.
 */
import type { SnapshotStaging } from '../../src/server/driver/world.js';
import { decodeStateStream } from '../../src/server/state-stream.js';
import { checkIncomingState, splitRecords } from '../../src/server/snapshot-staging.js';
import type { StagedSnapshot } from '../../src/server/snapshot-staging.js';
import type { KvStateSource } from '../../src/storage/index.js';
import type { LogIndex } from '../../src/util/index.js';

async function* replay(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

/** Staged snapshots of one node, by index. */
export class MemoryStaging implements SnapshotStaging {
  private readonly files = new Map<number, { staged: StagedSnapshot; chunks: Uint8Array[] }>();
  staged = 0;
  /** Called when the driver opens a staged snapshot to install it (the simulator may crash it then). */
  onOpen: () => void = () => {};

  async stage(options: Parameters<SnapshotStaging['stage']>[0]): Promise<StagedSnapshot> {
    const chunks: Uint8Array[] = [];
    async function* tee(): AsyncGenerator<Uint8Array> {
      for await (const chunk of options.chunks) {
        chunks.push(chunk.slice());
        yield chunk;
      }
    }
    const header = await checkIncomingState(tee(), options);
    const staged: StagedSnapshot = { ...header, path: `memory:snapshot-${header.index}`, bytes: chunks.reduce((n, c) => n + c.length, 0) };
    this.files.set(header.index, { staged, chunks });
    this.staged++;
    return staged;
  }

  async open(staged: StagedSnapshot): Promise<KvStateSource> {
    this.onOpen();
    return this.source(staged);
  }

  private async source(staged: StagedSnapshot): Promise<KvStateSource> {
    const file = this.files.get(staged.index);
    if (file === undefined) throw new Error(`no staged snapshot at ${staged.index}`);
    const frames = decodeStateStream(replay(file.chunks), staged.path);
    const first = await frames.next();
    if (first.done === true || first.value.type !== 'header') throw new Error(`${staged.path}: no header`);
    return { appliedIndex: staged.index, revision: staged.revision, clockMs: staged.clockMs, ...splitRecords(frames) };
  }

  async removeUpTo(index: LogIndex): Promise<void> {
    for (const i of [...this.files.keys()]) if (i <= index) this.files.delete(i);
  }

  /** Opens the staged state at `index` for start-up recovery (finishInterruptedInstall). */
  async openForRecovery(index: LogIndex): Promise<{ index: LogIndex; source: KvStateSource }> {
    const file = this.files.get(index);
    if (file === undefined) throw new Error(`no staged snapshot at index ${index}`);
    return { index, source: await this.source(file.staged) };
  }
}
