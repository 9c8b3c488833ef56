/**
 * A raw `Pipeline/Stream` for end-to-end tests: sends frames as an outside gRPC tool would and
 * collects results by id, and the stream's final status.
 */
import * as grpc from '@grpc/grpc-js';
import type { PipelineFrameMsg, PipelineRequestMsg, PipelineResultFrameMsg, PipelineResultMsg } from '../../src/api/index.js';
import { pipelineService, toNumber } from '../../src/api/index.js';

/** How the stream ended, once it has. */
export interface StreamEnd {
  readonly code: grpc.status;
  readonly details: string;
  readonly trailers: Record<string, string>;
}

/** One raw pipeline stream to one node. */
export class RawPipeline {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<PipelineFrameMsg, PipelineResultFrameMsg>;
  readonly results = new Map<number, PipelineResultMsg>();
  private waiters: (() => void)[] = [];
  ended: StreamEnd | null = null;

  constructor(address: string, headers: Readonly<Record<string, string>> = {}) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    const def = pipelineService.Stream;
    this.call = this.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, metadata);
    this.call.on('data', (frame: PipelineResultFrameMsg) => {
      for (const r of frame.results ?? []) this.results.set(toNumber(r.id), r);
      this.wake();
    });
    this.call.on('status', (s: grpc.StatusObject) => {
      const trailers: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.metadata.getMap())) if (typeof v === 'string') trailers[k] = v;
      this.ended = { code: s.code, details: s.details, trailers };
      this.wake();
    });
    this.call.on('error', () => {});
  }

  /** Sends one frame. */
  send(requests: PipelineRequestMsg[]): void {
    this.call.write({ requests });
  }

  /** Resolves once every id has a result, or the stream ended (bounded by `timeoutMs`). */
  async waitFor(ids: readonly number[], timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!ids.every((id) => this.results.has(id)) && this.ended === null) {
      if (Date.now() > end) throw new Error(`results of ${ids.filter((id) => !this.results.has(id)).length} requests missing after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves once the stream has ended. */
  async waitForEnd(timeoutMs = 20_000): Promise<StreamEnd> {
    const end = Date.now() + timeoutMs;
    while (this.ended === null) {
      if (Date.now() > end) throw new Error('the stream did not end');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.ended;
  }

  /** Cancels the stream mid-flight (as a broken connection would end it). */
  cancel(): void {
    this.call.cancel();
  }

  /** Half-closes the stream (no more frames). */
  end(): void {
    this.call.end();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
