// The follower's side of the etcd leader proxy without a network: a leader-only call is shed
// (OVERLOADED, nothing sent) when every forwardsPendingMax place is taken, and gives its place
// back however it ends; a call or keep-alive stream that already came forwarded is answered
// "not leader", never passed on again; only the methods the peer port serves can be proxied;
// and the peer port serves each (keep-alive included) under its forwarded path, same codecs.
import { Metadata } from '@grpc/grpc-js';
import type { handleUnaryCall } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { etcdAuthService, etcdKvService } from '../../api/etcd/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import { noopLogger, OverloadedError } from '../../util/index.js';
import type { NodeId } from '../../util/index.js';
import { forwardedCalls } from '../auth/authorizer.js';
import type { EtcdHandler } from './etcd-call.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { EtcdLeaderProxy, forwardedEtcdPath, forwardedEtcdService, leaderOnlyEtcdMethods, leaderOnlyEtcdStreams } from './etcd-leader-proxy.js';

const leader = 'n1' as NodeId;
const deps = { driver: { role: 'follower', leader }, options: { id: 'n2' } } as unknown as Pick<EtcdServiceDeps, 'driver' | 'options'>;

/** A proxy whose forwarder has no place free; `sent` counts the channels asked for. */
function proxyWith(reserve: () => () => void): { proxy: EtcdLeaderProxy; sent: () => number } {
  let channels = 0;
  const forwarder = {
    target: () => ({ leader, address: '127.0.0.1:1' }),
    clientFor: () => {
      channels++;
      throw new Error('no channel in this test');
    },
    reserve,
  };
  return { proxy: new EtcdLeaderProxy(deps, forwarder as never), sent: () => channels };
}

const neverRuns: EtcdHandler = () => Promise.reject(new Error('the handler runs on the leader only'));

describe('EtcdLeaderProxy on a follower', () => {
  it('sheds a leader-only call when every forwardsPendingMax place is taken, before sending anything', async () => {
    const { proxy, sent } = proxyWith(() => {
      throw new OverloadedError('too many calls forwarded to the leader and not yet answered (forwardsPendingMax 1)', 100);
    });
    const call = { metadata: new Metadata(), getDeadline: () => Date.now() + 1_000 };
    await expect(proxy.onLeader(etcdAuthService.UserAdd, neverRuns)({ name: 'x' }, Date.now() + 1_000, call)).rejects.toThrow(OverloadedError);
    expect(sent()).toBe(0);
  });

  it('gives its forwardsPendingMax place back when the call fails before it is sent', async () => {
    let held = 0;
    const { proxy, sent } = proxyWith(() => {
      held++;
      return () => held--;
    });
    const call = { metadata: new Metadata(), getDeadline: () => Date.now() + 1_000 };
    await expect(proxy.onLeader(etcdAuthService.UserAdd, neverRuns)({ name: 'x' }, Date.now() + 1_000, call)).rejects.toThrow('no channel in this test');
    expect({ sent: sent(), held }).toEqual({ sent: 1, held: 0 });
  });

  it('answers "not leader" to a call that came forwarded, and never passes it on', async () => {
    const { proxy, sent } = proxyWith(() => () => {});
    const call = { metadata: new Metadata(), getDeadline: () => Date.now() + 1_000 };
    forwardedCalls.set(call, 'app');
    await expect(proxy.onLeader(etcdKvService.Put, neverRuns)({}, Date.now() + 1_000, call)).rejects.toThrow('etcdserver: not leader');
    expect(sent()).toBe(0);
  });

  it('opens no keep-alive stream for a stream that came forwarded', () => {
    const { proxy, sent } = proxyWith(() => () => {});
    const call = { metadata: new Metadata(), getDeadline: () => Date.now() + 1_000 };
    forwardedCalls.set(call, '');
    expect(proxy.keepAliveUpstream(call)).toBeNull();
    expect(sent()).toBe(0);
  });

  it('refuses to proxy a method the peer port does not serve', () => {
    const { proxy } = proxyWith(() => () => {});
    expect(() => proxy.onLeader(etcdKvService.Range, neverRuns)).toThrow(/not in leaderOnlyEtcdMethods/);
  });
});

describe('forwardedEtcdService', () => {
  it('serves every leader-only method under its forwarded path with the etcd codecs, and needs a handler for each', () => {
    const handler: handleUnaryCall<EtcdMsg, EtcdMsg> = () => {};
    const admission = { nodeId: leader, authentication: 'none', isKnownPeer: () => true, logger: noopLogger, metrics: {} } as unknown as AdmissionContext;
    const methods = [...leaderOnlyEtcdMethods, ...leaderOnlyEtcdStreams];
    const all = new Map(methods.map((m) => [m.path, handler] as const));
    const { service, implementation } = forwardedEtcdService(all, admission);
    const served = Object.entries(service);
    expect(served).toHaveLength(methods.length);
    expect(served.map(([, d]) => d.path)).toContain('/raftkv.raft.v1.forwarded.etcdserverpb.Lease/LeaseKeepAlive');
    for (const m of methods) {
      const entry = served.find(([, d]) => d.path === forwardedEtcdPath(m.path));
      expect(entry, m.path).toBeDefined();
      expect(entry?.[1].path).toMatch(/^\/raftkv\.raft\.v1\.forwarded\.etcdserverpb\.[A-Za-z]+\/[A-Za-z]+$/);
      expect(entry?.[1].requestStream).toBe(m.requestStream);
      expect(entry?.[1].responseStream).toBe(m.responseStream);
      expect(entry?.[1].requestDeserialize).toBe(m.requestDeserialize);
      expect(entry?.[1].responseSerialize).toBe(m.responseSerialize);
      expect(typeof implementation[entry?.[0] ?? '']).toBe('function');
    }
    const missing = new Map(all);
    missing.delete(etcdAuthService.UserAdd.path);
    expect(() => forwardedEtcdService(missing, admission)).toThrow(/no handler for leader-only \/etcdserverpb\.Auth\/UserAdd/);
  });
});
