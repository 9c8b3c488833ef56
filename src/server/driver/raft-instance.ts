/**
 * One Raft instance of the driver: everything built from storage, as a start builds it. The
 * driver builds one at construction and, after a disk fault, another from the reopened storage
 * (disk-fault-recovery.ts): the new core then holds exactly what is on disk, as after a restart.
 * What outlives an instance (pending writes and reads, the lease keeper) is the driver's.
 */
import type { KvStateImage, WriteResult } from '../../kv/index.js';
import { RawNode } from '../../raft/index.js';
import type { ConfState, Message, RaftTestFaults } from '../../raft/index.js';
import type { Transport } from '../../transport/index.js';
import { SeededPrng } from '../../util/index.js';
import type { Logger, NodeId } from '../../util/index.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import { AddressBook } from './address-book.js';
import { ApplyStep } from './apply-step.js';
import { Freshness } from './freshness.js';
import { LinearizableReads } from './linearizable-reads.js';
import { PeerContact } from './peer-contact.js';
import type { ProposalTracker } from './proposal-tracker.js';
import { Proposer } from './proposer.js';
import type { ReadTracker } from './read-tracker.js';
import { SnapshotPipeline } from './snapshot-pipeline.js';
import type { AppliedChange, StateCapture } from './types.js';
import type { DriverStorage, DriverWorld, SnapshotStaging } from './world.js';

/** The parts of one instance. */
export interface RaftInstance {
  readonly storage: DriverStorage;
  readonly raw: RawNode;
  /** The state machine and the membership as of its applied index. */
  readonly applied: ApplyStep;
  readonly proposer: Proposer;
  /** How stale this node's state may be, as far as it can prove (freshness.ts). */
  readonly freshness: Freshness;
  /** Last contact, heartbeat round trips and freshness evidence by peer. */
  readonly contact: PeerContact;
  readonly linearizable: LinearizableReads;
  readonly book: AddressBook;
  readonly snapshots: SnapshotPipeline;
}

/** What an instance needs from the driver: its dependencies, and hooks back into it. */
export interface RaftInstanceDeps {
  readonly options: NodeOptions;
  readonly staging: SnapshotStaging;
  readonly transport: Transport;
  readonly world: DriverWorld;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  readonly raftTestFaults: RaftTestFaults | undefined;
  readonly proposals: ProposalTracker;
  readonly reads: ReadTracker;
  readonly onApplied: ((changes: readonly AppliedChange[]) => void) | undefined;
  readonly onResult: (result: WriteResult) => void;
  readonly peers: () => Map<NodeId, string>;
  readonly captureState: () => Promise<StateCapture>;
  readonly step: (m: Message) => void;
  readonly kick: () => void;
  readonly requireLeader: () => void;
  /** True once the driver stopped, or replaced this instance. */
  readonly isRetired: () => boolean;
}

/** Builds instance number `boot` (1 at construction) from `storage` and its loaded `image`. */
export function buildRaftInstance(deps: RaftInstanceDeps, storage: DriverStorage, image: KvStateImage, boot: number): RaftInstance {
  const { options, metrics, logger, transport, world, proposals, reads } = deps;
  const freshness = new Freshness();
  const book = new AddressBook({ id: options.id, peerAddress: options.advertisePeer, clientAddress: options.advertiseClient }, storage.clusterId);
  let raw: RawNode | null = null;
  const core = (): RawNode => raw as RawNode; // hooks run only once the core exists
  const applied = new ApplyStep(
    { options, metrics, logger, transport, book, proposals, reads, freshness, applyConfChange: (c) => core().applyConfChange(c), peers: deps.peers, onResult: deps.onResult, ...(deps.onApplied ? { onApplied: deps.onApplied } : {}) },
    image,
    storage.initialState().confState,
  );
  for (const m of options.initialCluster) book.peerAddresses.set(m.id, m.peerAddress);
  book.load(storage, storage.snapshot(), applied.conf, applied.kv.appliedIndex);
  const snapshots = new SnapshotPipeline(
    { options, storage, staging: deps.staging, transport, metrics, logger, nowMs: () => world.clock.monotonicMs() },
    {
      captureState: deps.captureState,
      snapshotData: (conf: ConfState) => book.snapshotData(conf),
      step: deps.step,
      reportSnapshot: (to, ok) => {
        core().reportSnapshot(to, ok);
        deps.kick();
      },
      isStopped: deps.isRetired,
    },
  );
  raw = new RawNode({
    id: options.id,
    storage,
    // Each instance's core draws its own election timeouts.
    prng: new SeededPrng(world.seed + boot - 1),
    electionTicks: options.electionTicks,
    heartbeatTicks: options.heartbeatTicks,
    applied: applied.kv.appliedIndex,
    inflightAppendsMax: options.limits.inflightAppendsMax,
    appendBytesMax: options.limits.appendBytesMax,
    uncommittedBytesMax: options.limits.uncommittedBytesMax,
    applyBytesMax: options.limits.applyBytesMax,
    logger,
    ...(deps.raftTestFaults ? { testFaults: deps.raftTestFaults } : {}),
  });
  const linearizable = new LinearizableReads({ options, metrics, world, raw, reads, kick: deps.kick });
  const proposer = new Proposer({ options, metrics, clock: world.clock, load: world.load, raw, proposals, kv: () => applied.kv, requireLeader: deps.requireLeader, kick: deps.kick });
  return { storage, raw, applied, proposer, freshness, contact: new PeerContact(freshness), linearizable, book, snapshots };
}
