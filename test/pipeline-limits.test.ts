// The pipeline stream's own bookkeeping, on a real gRPC server on loopback with KV handlers that
// answer only when the test releases them (so "in flight" is exact, with no timing involved):
// requests past requestsInFlightMax and frames past framesPendingMax are refused with
// RESOURCE_EXHAUSTED before they run, and room comes back as requests complete. The real KV
// handlers behind the stream are covered on real nodes by test/pipeline.test.ts.
import * as grpc from '@grpc/grpc-js';
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineService } from '../src/api/index.js';
import { noopLogger, pipelineLimits } from '../src/util/index.js';
import { RawPipeline } from './support/raw-pipeline.js';
import { NodeMetrics } from '../src/server/metrics.js';
import { pipelineServiceImplementation } from '../src/server/pipeline-service.js';

/** Gets answered when released; their count is what the stream has in flight. */
const held: (() => void)[] = [];
const ran: number[] = [];
const get: handleUnaryCall<unknown, unknown> = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
  ran.push(Number((call.request as { key: Uint8Array }).key[0]));
  held.push(() => callback(null, { header: { revision: 1, raftTerm: 1, nodeId: 'stub', appliedIndex: 1, leaderId: 'stub' }, found: false }));
};
const unused: handleUnaryCall<unknown, unknown> = (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in this test' });
const metrics = new NodeMetrics({ processMetrics: false });
let server: grpc.Server;
let address = '';
const streams: RawPipeline[] = [];

beforeAll(async () => {
  server = new grpc.Server();
  const kv = { Put: unused, Get: get, Delete: unused, Range: unused, Txn: unused };
  server.addService(pipelineService, pipelineServiceImplementation({ kv, metrics, logger: noopLogger }));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  address = `127.0.0.1:${port}`;
});
afterAll(() => {
  for (const s of streams) s.close();
  server.forceShutdown();
});

const gets = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i, timeoutMs: 60_000, get: { key: new Uint8Array([1]) } }));

async function openStreamsOnNode(): Promise<number> {
  const m = await metrics.registry.getSingleMetric('raftkv_pipeline_streams')?.get();
  return m?.values[0]?.value ?? -1;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe('pipeline stream limits', () => {
  it('refuses requests past requestsInFlightMax and admits new ones once others complete', async () => {
    const p = new RawPipeline(address);
    streams.push(p);
    const perFrame = pipelineLimits.requestsPerFrameMax;
    const frames = Math.ceil(pipelineLimits.requestsInFlightMax / perFrame) + 1;
    for (let f = 0; f < frames; f++) p.send(gets(1 + f * perFrame, perFrame));
    const total = frames * perFrame;
    const excess = total - pipelineLimits.requestsInFlightMax;
    // The excess is answered at once; the admitted ones are held.
    await until(() => p.results.size === excess);
    expect(held.length).toBe(pipelineLimits.requestsInFlightMax);
    for (const r of p.results.values()) {
      expect(r.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.error?.trailers['raftkv-code']).toBe('OVERLOADED');
      expect(r.error?.details).toMatch(/requestsInFlightMax/);
    }
    // Completing one makes room for exactly one more.
    held.shift()?.();
    await until(() => p.results.size === excess + 1);
    p.send(gets(total + 1, 2));
    await until(() => p.results.size === excess + 2);
    expect(held.length).toBe(pipelineLimits.requestsInFlightMax);
    expect(p.results.get(total + 1)?.error).toBeFalsy();
    expect(p.results.get(total + 2)?.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    for (const release of held.splice(0)) release();
    await until(() => p.results.size === total + 2);
    p.end();
    expect((await p.waitForEnd()).code).toBe(grpc.status.OK);
  });

  it('refuses every request of a frame past framesPendingMax', async () => {
    const p = new RawPipeline(address);
    streams.push(p);
    for (let f = 0; f < pipelineLimits.framesPendingMax; f++) p.send(gets(1 + f, 1));
    p.send(gets(1000, 1));
    await until(() => p.results.size === 1);
    expect(p.results.get(1000)?.error?.details).toMatch(/framesPendingMax/);
    expect(held.length).toBe(pipelineLimits.framesPendingMax);
    for (const release of held.splice(0)) release();
    await until(() => p.results.size === pipelineLimits.framesPendingMax + 1);
  });

  it('refuses a stream past streamsMax, and every stream that ended, however, gave its slot back', async () => {
    // The earlier tests' streams, closed first: this one counts every slot.
    for (const p of streams) p.close();
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const def = pipelineService.Stream;
    const statuses: (grpc.status | null)[] = [];
    // Frames go as raw bytes, so a test can send one that is not protobuf.
    const openStream = (): { call: grpc.ClientDuplexStream<Buffer, unknown>; index: number } => {
      const call = client.makeBidiStreamRequest(def.path, (b: Buffer) => b, def.responseDeserialize, new grpc.Metadata());
      const index = statuses.push(null) - 1;
      call.on('status', (s: grpc.StatusObject) => (statuses[index] = s.code));
      call.on('error', () => {});
      call.on('data', () => {});
      return { call, index };
    };
    try {
      // As many streams as the limit allows, ended three ways: half-closed, refused by the node
      // (a frame that is not protobuf: INVALID_ARGUMENT) and cancelled by the client.
      const ended = Array.from({ length: pipelineLimits.streamsMax }, (_, i) => {
        const s = openStream();
        if (i % 3 === 0) s.call.end();
        else if (i % 3 === 1) s.call.write(Buffer.from([0x0a, 0x05, 0xff]));
        else s.call.cancel();
        return s;
      });
      await until(() => ended.every((s) => statuses[s.index] !== null));
      // The node counted each one closed (the client may learn of its own cancel first).
      let openOnNode = -1;
      await until(() => {
        void openStreamsOnNode().then((n) => (openOnNode = n));
        return openOnNode === 0;
      });
      const wanted = [grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.CANCELLED];
      expect(ended.map((s, i) => [i, statuses[s.index]]).filter(([i, code]) => code !== wanted[(i as number) % 3])).toEqual([]);
      // Every slot is free again: the limit's worth of streams opens, and one more is refused.
      const live = Array.from({ length: pipelineLimits.streamsMax }, () => openStream());
      const extra = openStream();
      await until(() => statuses[extra.index] !== null);
      expect(statuses[extra.index]).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(live.map((s) => statuses[s.index]).filter((code) => code !== null)).toEqual([]);
      for (const s of live) s.call.cancel();
    } finally {
      client.close();
    }
  });
});
