// Proves the in-memory transport keeps the Transport contract: ordered async delivery, bounded queues, partitions, chunked snapshots.
import { afterEach, describe, expect, it } from 'vitest';
import { logIndex, nodeId, term } from '../util/index.js';
import type { NodeId } from '../util/index.js';
import type { Message, SnapshotMessage } from '../raft/index.js';
import { MemoryNetwork, MemoryTransport } from './memory-transport.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

interface Node {
  readonly transport: MemoryTransport;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  readonly snapshots: Array<{ message: SnapshotMessage; chunks: number[] }>;
  readonly statuses: Array<[NodeId, boolean]>;
}

async function cluster(ids: string[], queueMax = 100): Promise<{ network: MemoryNetwork; nodes: Map<string, Node> }> {
  const network = new MemoryNetwork();
  const peers = new Map(ids.map((id) => [nodeId(id), `mem://${id}`]));
  const nodes = new Map<string, Node>();
  for (const id of ids) {
    const node: Omit<Node, 'transport'> = { received: [], unreachable: [], snapshots: [], statuses: [] };
    const transport = new MemoryTransport({
      nodeId: nodeId(id),
      address: `mem://${id}`,
      network,
      peers,
      limits: { peerQueueMessagesMax: queueMax, snapshotChunkBytesMax: 1000 },
      handlers: {
        onMessage: (m) => node.received.push(m),
        onUnreachable: (p) => node.unreachable.push(p),
        onSnapshotStatus: (p, ok) => node.statuses.push([p, ok]),
        onSnapshot: async (message, chunks) => {
          const record = { message, chunks: [] as number[] };
          node.snapshots.push(record);
          for await (const c of chunks) record.chunks.push(c.length);
        },
      },
    });
    await transport.start();
    stops.push(() => transport.stop());
    nodes.set(id, { ...node, transport });
  }
  return { network, nodes };
}

const hb = (from: string, to: string, seq: number): Message => ({ type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(1), commit: logIndex(seq), context: String(seq) });
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
const node = (nodes: Map<string, Node>, id: string): Node => nodes.get(id) as Node;

describe('MemoryTransport', () => {
  it('delivers later, in order, as copies', async () => {
    // Proves send() never delivers re-entrantly and the receiver gets equal but distinct objects.
    const { nodes } = await cluster(['a', 'b']);
    const sent = [hb('a', 'b', 1), hb('a', 'b', 2)];
    node(nodes, 'a').transport.send(sent);
    expect(node(nodes, 'b').received).toEqual([]);
    await settle();
    expect(node(nodes, 'b').received).toEqual(sent);
    expect(node(nodes, 'b').received[0]).not.toBe(sent[0]);
  });

  it('drops beyond the queue limit and across a partition, reporting the peer once', async () => {
    // Proves the bounded queue and partitions, with onUnreachable once per episode.
    const { network, nodes } = await cluster(['a', 'b'], 3);
    node(nodes, 'a').transport.send([1, 2, 3, 4, 5].map((k) => hb('a', 'b', k)));
    await settle();
    expect(node(nodes, 'b').received.map((m) => (m.type === 'heartbeat' ? m.context : ''))).toEqual(['1', '2', '3']);
    expect(node(nodes, 'a').unreachable).toEqual([nodeId('b')]);
    network.partition(nodeId('a'), nodeId('b'));
    node(nodes, 'a').transport.send([hb('a', 'b', 6)]);
    await settle();
    expect(node(nodes, 'b').received).toHaveLength(3);
    network.heal(nodeId('a'), nodeId('b'));
    node(nodes, 'a').transport.send([hb('a', 'b', 7)]);
    await settle();
    expect(node(nodes, 'b').received).toHaveLength(4);
  });

  it('streams snapshots in chunks and reports the status', async () => {
    // Proves snapshot chunks respect the receiver's chunk limit and success is reported.
    const { nodes } = await cluster(['a', 'b']);
    const message: SnapshotMessage = { type: 'snapshot', from: nodeId('a'), to: nodeId('b'), term: term(2), snapshot: { metadata: { index: logIndex(9), term: term(2), conf: { voters: [nodeId('a')], learners: [] } }, data: new Uint8Array(0) } };
    async function* data(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(2500);
      yield new Uint8Array(10);
    }
    expect(await node(nodes, 'a').transport.sendSnapshot(nodeId('b'), message, data())).toBe(true);
    expect(node(nodes, 'b').snapshots).toEqual([{ message, chunks: [1000, 1000, 510] }]);
    await settle();
    expect(node(nodes, 'a').statuses).toEqual([[nodeId('b'), true]]);
  });
});
