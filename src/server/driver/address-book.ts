/**
 * The driver's address book: who the members are at the network level. Peer addresses (for the
 * transport), client addresses (for leader hints), the cluster id, and the learners to promote
 * once they have caught up. It is learned from three places, in this order of authority:
 * this node's own flags, the membership changes' contexts and the `memberUpdate` commands
 * (both replicated through the log, applied in log order), and the member data a snapshot
 * carries (member-addresses.ts). A snapshot's data is this book at the snapshot's index, so an
 * update before it travels in the snapshot and one after it is replayed from the log.
 */
import { clusterCommandFormat, decodeLogCommand } from '../../kv/index.js';
import type { MemberUpdateCommand } from '../../kv/index.js';
import { decodeConfChange } from '../../raft/index.js';
import type { ConfChange, ConfState, DurableRaftStorage, Snapshot } from '../../raft/index.js';
import { logIndex } from '../../util/index.js';
import type { LogIndex, NodeId } from '../../util/index.js';
import { decodeChangeContext, decodeSnapshotData, encodeSnapshotData } from '../member-addresses.js';
import type { MemberAddress } from '../member-addresses.js';

/** Bytes of log read per step while rebuilding the address book at start-up. */
const loadBytesMax = 4 * 1024 * 1024;

/** Member addresses, cluster id and promote-when-caught-up, by member id. */
export class AddressBook {
  /** Client addresses of members, by id, for leader hints. */
  readonly clientAddresses = new Map<NodeId, string>();
  /** Peer addresses of members, by id. */
  readonly peerAddresses = new Map<NodeId, string>();
  /** Learners to promote once caught up (added by `member add` without `--learner`). */
  readonly promoteWhenCaughtUp = new Set<NodeId>();

  constructor(
    private readonly self: { readonly id: NodeId; readonly peerAddress: string; readonly clientAddress: string },
    /** The cluster id: the data dir's, else the one the last snapshot carried ('' if unknown). */
    public clusterId: string,
  ) {}

  /** Records this node's own addresses: its flags win over whatever the log or a snapshot says. */
  setSelf(): void {
    this.clientAddresses.set(this.self.id, this.self.clientAddress);
    this.peerAddresses.set(this.self.id, this.self.peerAddress);
  }

  /**
   * The peers the transport should connect to: every member of `conf` but this node. A node that
   * has no membership yet (started with `--join`, waiting for its first snapshot) connects to
   * every node it was told about, so that it can answer the leader.
   */
  peers(conf: ConfState): Map<NodeId, string> {
    const members = new Set([...conf.voters, ...conf.learners]);
    const joining = members.size === 0;
    const peers = new Map<NodeId, string>();
    for (const [id, address] of this.peerAddresses) {
      if ((joining || members.has(id)) && id !== this.self.id && address !== '') peers.set(id, address);
    }
    return peers;
  }

  /** Applies a committed membership change's effect on the book; false if its context is unreadable. */
  onChange(change: ConfChange): boolean {
    const readable = change.type === 'removeNode' || change.context.length === 0 || this.learnChangeContext(change);
    if (change.type !== 'addLearner') this.promoteWhenCaughtUp.delete(change.nodeId);
    return readable;
  }

  /**
   * Records a committed member update (etcd's MemberUpdate, `raftkv member update`), also this
   * node's own: until it is restarted listening there, it reports the address every other node
   * now uses (as etcd's member list does). At start-up its flags win again (`load` ends with
   * `setSelf`), as they do over a change's context. Returns whether the update names this node
   * at an address other than its flags' (it should be restarted).
   */
  onMemberUpdate(update: MemberUpdateCommand): boolean {
    this.peerAddresses.set(update.member as NodeId, update.peerAddress);
    if (update.clientAddress !== '') this.clientAddresses.set(update.member as NodeId, update.clientAddress);
    return update.member === this.self.id && update.peerAddress !== this.self.peerAddress;
  }

  /** Records the addresses a membership change carries; false if its context is unreadable. */
  private learnChangeContext(change: ConfChange): boolean {
    const address = decodeChangeContext(change.context);
    if (address === null) return false;
    if (change.type === 'addLearner' && address.promote === true) this.promoteWhenCaughtUp.add(change.nodeId);
    if (change.nodeId === this.self.id) return true; // this node's own flags win
    if (address.peerAddress) this.peerAddresses.set(change.nodeId, address.peerAddress);
    if (address.clientAddress) this.clientAddresses.set(change.nodeId, address.clientAddress);
    return true;
  }

  /**
   * Records the address book (and cluster id) a snapshot carries. An installed snapshot replaces
   * the membership, so the promotions decided before it are dropped first (`reset`).
   */
  learnSnapshotData(data: Uint8Array, conf: ConfState, reset: boolean): void {
    if (reset) this.promoteWhenCaughtUp.clear();
    const decoded = decodeSnapshotData(data);
    if (this.clusterId === '') this.clusterId = decoded.clusterId;
    for (const [id, address] of decoded.members) {
      if (address.promote === true && conf.learners.includes(id)) this.promoteWhenCaughtUp.add(id);
      if (id === this.self.id) continue;
      if (address.peerAddress) this.peerAddresses.set(id, address.peerAddress);
      if (address.clientAddress) this.clientAddresses.set(id, address.clientAddress);
    }
  }

  /**
   * Rebuilds the book at start-up: the last snapshot's data, then the contexts of the membership
   * changes applied since (still in the log, which is compacted only up to the snapshot). Later
   * changes are learned as they are applied.
   */
  load(storage: Pick<DurableRaftStorage, 'entries' | 'firstIndex'>, snapshot: Snapshot, conf: ConfState, applied: LogIndex): void {
    this.learnSnapshotData(snapshot.data, conf, false);
    const lo = Math.max(snapshot.metadata.index + 1, storage.firstIndex());
    for (let at = lo; at <= applied; ) {
      const entries = storage.entries({ lo: logIndex(at), hi: logIndex(applied + 1), bytesMax: loadBytesMax });
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (entry.type === 'confChange') this.onChange(decodeConfChange(entry.data));
        else this.replayMemberUpdate(entry.data);
      }
      at = (entries[entries.length - 1]?.index ?? applied) + 1;
    }
    this.setSelf();
  }

  /** At start-up: a logged `memberUpdate` command (other entries, and any that do not decode, are not the book's). */
  private replayMemberUpdate(data: Uint8Array): void {
    if (data[0] !== clusterCommandFormat) return;
    try {
      const decoded = decodeLogCommand(data);
      if (decoded.type === 'cluster' && decoded.command.type === 'memberUpdate') this.onMemberUpdate(decoded.command.update);
    } catch {
      // Applied as an error result on every replica (apply-notes.ts): nothing to learn.
    }
  }

  /** The snapshot data (address book and cluster id) for a snapshot of membership `conf`. */
  snapshotData(conf: ConfState): Uint8Array {
    const members = new Map<NodeId, MemberAddress>();
    for (const id of [...conf.voters, ...conf.learners]) {
      const promote = conf.learners.includes(id) && this.promoteWhenCaughtUp.has(id);
      members.set(id, { peerAddress: this.peerAddresses.get(id) ?? '', clientAddress: this.clientAddresses.get(id) ?? '', ...(promote ? { promote } : {}) });
    }
    return encodeSnapshotData({ clusterId: this.clusterId, members });
  }
}
