/**
 * The pipelined stream's wire layer (proto/kv.proto, `raftkv.v1.Pipeline/Stream`): message shapes
 * and the method definition shared by the server (server/pipeline-service.ts) and the client
 * library (client/pipeline.ts).
 *
 * The server's frame deserializer decodes every request of a frame ON ITS OWN, with the same
 * checks as a unary request body (request-validation.ts): one malformed request is answered
 * INVALID_ARGUMENT under its id while the rest of the frame runs. It never throws (grpc-js would
 * answer INTERNAL and end the stream).
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { InvalidArgumentError, pipelineLimits } from '../util/index.js';
import type * as M from './messages.js';
import { toNumber } from './messages.js';
import { decodeRequest, requireWellFormed } from './request-validation.js';
import { apiRoot } from './services.js';

/** The operations a pipeline request may carry (the oneof's members). */
export const pipelineOps = ['put', 'get', 'delete', 'range', 'txn'] as const;
/** One of them. */
export type PipelineOp = (typeof pipelineOps)[number];

/** `raftkv.v1.PipelineRequest`. */
export interface PipelineRequestMsg {
  id: M.Uint64;
  timeoutMs?: M.Uint64;
  put?: M.PutRequestMsg | null;
  get?: M.GetRequestMsg | null;
  delete?: M.DeleteRequestMsg | null;
  range?: M.RangeRequestMsg | null;
  txn?: M.TxnRequestMsg | null;
}
/** `raftkv.v1.PipelineFrame`. */
export interface PipelineFrameMsg {
  requests: PipelineRequestMsg[];
}
/** `raftkv.v1.PipelineError`: a unary call's status and its raftkv-* trailers. */
export interface PipelineErrorMsg {
  code: number;
  details: string;
  trailers: Record<string, string>;
}
/** `raftkv.v1.PipelineResult`. */
export interface PipelineResultMsg {
  id: M.Uint64;
  put?: M.PutResponseMsg | null;
  get?: M.GetResponseMsg | null;
  delete?: M.DeleteResponseMsg | null;
  range?: M.RangeResponseMsg | null;
  txn?: M.TxnResponseMsg | null;
  error?: PipelineErrorMsg | null;
}
/** `raftkv.v1.PipelineResultFrame`. */
export interface PipelineResultFrameMsg {
  results: PipelineResultMsg[];
}

/** One request of a received frame: decoded and well formed, or refused with its id (null: the id itself is unreadable). */
export type DecodedPipelineRequest =
  | { readonly ok: true; readonly id: number; readonly timeoutMs: number; readonly op: PipelineOp; readonly body: unknown }
  | { readonly ok: false; readonly id: number | null; readonly error: InvalidArgumentError };

/** A received frame as the server's deserializer gives it. */
export interface DecodedPipelineFrame {
  /** The frame's size on the wire. */
  readonly bytes: number;
  /** Its requests, in order; empty when `bytes` is over the limit (nothing was decoded). */
  readonly requests: readonly DecodedPipelineRequest[];
}

const frameType = apiRoot.lookupType('raftkv.v1.PipelineFrame');
const requestType = apiRoot.lookupType('raftkv.v1.PipelineRequest');
const resultFrameType = apiRoot.lookupType('raftkv.v1.PipelineResultFrame');

/**
 * Decodes a frame body request by request; never throws. A body larger than `bytesMax` is not
 * decoded at all (the server refuses it whole).
 */
export function decodePipelineFrame(body: Uint8Array, bytesMax: number): DecodedPipelineFrame {
  if (body.length > bytesMax) return { bytes: body.length, requests: [] };
  const requests: DecodedPipelineRequest[] = [];
  try {
    const reader = protobuf.Reader.create(body);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === 2) requests.push(decodeOne(reader.bytes()));
      else reader.skipType(tag & 7);
    }
  } catch (e) {
    requests.push({ ok: false, id: null, error: new InvalidArgumentError('frame', `not a valid PipelineFrame protobuf body: ${e instanceof Error ? e.message : String(e)}`) });
  }
  return { bytes: body.length, requests };
}

function decodeOne(bytes: Uint8Array): DecodedPipelineRequest {
  const msg = decodeRequest<PipelineRequestMsg>(requestType, bytes);
  try {
    requireWellFormed(msg);
  } catch (e) {
    return { ok: false, id: idOf(bytes), error: e as InvalidArgumentError };
  }
  const id = toNumber(msg.id);
  const set = pipelineOps.filter((op) => msg[op] !== undefined && msg[op] !== null);
  if (set.length !== 1) return { ok: false, id, error: new InvalidArgumentError('request', set.length === 0 ? 'has no operation set (put, get, delete, range or txn)' : `sets ${set.join(' and ')}; set one operation`) };
  const op = set[0] as PipelineOp;
  return { ok: true, id, timeoutMs: toNumber(msg.timeoutMs), op, body: msg[op] };
}

/** The id of a request refused by the checks, if its bytes still decode (an unchecked decode). */
function idOf(bytes: Uint8Array): number | null {
  try {
    const n = toNumber((requestType.decode(bytes) as unknown as PipelineRequestMsg).id);
    return Number.isSafeInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** The encoded size of one request, for the client's frame splitting. */
export function pipelineRequestBytes(request: PipelineRequestMsg): number {
  return requestType.encodeDelimited(request as object).len;
}

/**
 * `raftkv.v1.Pipeline/Stream`. The server's side decodes with `decodePipelineFrame` (under
 * `pipelineLimits.frameBytesMax`); the client's side encodes frames and decodes result frames.
 */
export const pipelineService = {
  Stream: pipelineMethod(pipelineLimits.frameBytesMax),
} satisfies ServiceDefinition;

function pipelineMethod(frameBytesMax: number): MethodDefinition<PipelineFrameMsg, PipelineResultFrameMsg> {
  return {
    path: '/raftkv.v1.Pipeline/Stream',
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: PipelineFrameMsg) => Buffer.from(frameType.encode(m as object).finish()),
    // The server's view: a DecodedPipelineFrame (typed as the frame for grpc-js's sake; see pipeline-service.ts).
    requestDeserialize: (b: Buffer) => decodePipelineFrame(b, frameBytesMax) as unknown as PipelineFrameMsg,
    responseSerialize: (m: PipelineResultFrameMsg) => Buffer.from(resultFrameType.encode(m as object).finish()),
    responseDeserialize: (b: Buffer) => resultFrameType.decode(b) as unknown as PipelineResultFrameMsg,
    originalName: 'stream',
  };
}
