// The places of forwardsPendingMax are shared by every call a follower passes on to the leader
// (its writes and the etcd leader proxy's calls): one more than the limit is shed with a clear
// error, and each place comes back exactly once.
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { noopLogger, OverloadedError } from '../../util/index.js';
import type { NodeId } from '../../util/index.js';
import { WriteForwarder } from './write-forwarder.js';

function forwarder(forwardsPendingMax: number): { forwarder: WriteForwarder; pending: () => Promise<number> } {
  const registry = new Registry();
  const f = new WriteForwarder({
    selfId: 'n2' as NodeId,
    view: { role: 'follower', leader: 'n1' as NodeId, peerAddresses: new Map([['n1' as NodeId, '127.0.0.1:1']]) },
    credentials: () => grpc.credentials.createInsecure(),
    forwardsPendingMax,
    defaultTimeoutMs: 1_000,
    registry,
    logger: noopLogger,
  });
  const pending = async (): Promise<number> => (await registry.getSingleMetric('raftkv_forwarded_writes_pending')?.get())?.values[0]?.value ?? -1;
  return { forwarder: f, pending };
}

describe('WriteForwarder.reserve', () => {
  it('sheds a call past forwardsPendingMax, naming the limit, and gives each place back once', async () => {
    const { forwarder: f, pending } = forwarder(2);
    const first = f.reserve();
    const second = f.reserve();
    expect(await pending()).toBe(2);
    expect(() => f.reserve()).toThrow(OverloadedError);
    expect(() => f.reserve()).toThrow(/forwardsPendingMax 2/);
    first();
    first();
    expect(await pending()).toBe(1);
    const third = f.reserve();
    expect(() => f.reserve()).toThrow(OverloadedError);
    second();
    third();
    expect(await pending()).toBe(0);
    f.close();
  });
});
