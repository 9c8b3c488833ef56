/**
 * The state-machine stream format: how a node's whole KV state travels as bytes, for snapshots
 * sent to followers (and, with a file header, for backups). Frames, in order:
 *
 *   header  (appliedIndex, revision, clockMs)
 *   kv*     (one per key, in key order)
 *   session* (one per client session)
 *   end     (the number of kv and session frames, so that truncation is detected)
 *
 * Each frame is `[u8 type][u32 big-endian length][payload]`. Payloads reuse the state machine's
 * record codecs. Encoding is streamed in chunks of about `chunkBytes`, so memory stays bounded.
 */
import { decodeKeyValue, decodeSession, encodeKeyValue, encodeSession } from '../kv/index.js';
import type { KeyValue, SessionRecord } from '../kv/index.js';
import { CorruptionError, logIndex, revision } from '../util/index.js';
import type { LogIndex, Revision } from '../util/index.js';

const FrameType = { header: 1, kv: 2, session: 3, end: 4 } as const;
const frameHeaderBytes = 5;
/** Largest frame payload accepted: a key and a value at their limits, with room to spare. */
export const stateFrameBytesMax = 64 * 1024 * 1024;

/** One decoded frame. */
export type StateFrame =
  | { readonly type: 'header'; readonly appliedIndex: LogIndex; readonly revision: Revision; readonly clockMs: number }
  | { readonly type: 'kv'; readonly kv: KeyValue }
  | { readonly type: 'session'; readonly session: SessionRecord }
  | { readonly type: 'end'; readonly records: number };

/** A record to encode. */
export type StateRecord = { readonly type: 'kv'; readonly kv: KeyValue } | { readonly type: 'session'; readonly session: SessionRecord };

function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(frameHeaderBytes + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint32(1, payload.length);
  out.set(payload, frameHeaderBytes);
  return out;
}

function u64s(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigUint64(8 * i, BigInt(v)));
  return out;
}

/** Encodes a state as a stream of chunks of about `chunkBytes` each. */
export async function* encodeStateStream(
  header: { readonly appliedIndex: LogIndex; readonly revision: Revision; readonly clockMs: number },
  records: AsyncIterable<StateRecord> | Iterable<StateRecord>,
  chunkBytes: number,
): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [frame(FrameType.header, u64s([header.appliedIndex, header.revision, header.clockMs]))];
  let pendingBytes = pending[0]?.length ?? 0;
  let count = 0;
  const flush = (): Uint8Array => {
    const out = concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const r of records) {
    const f = r.type === 'kv' ? frame(FrameType.kv, encodeKeyValue(r.kv)) : frame(FrameType.session, encodeSession(r.session));
    pending.push(f);
    pendingBytes += f.length;
    count += 1;
    if (pendingBytes >= chunkBytes) yield flush();
  }
  const end = new Uint8Array(8);
  new DataView(end.buffer).setBigUint64(0, BigInt(count));
  pending.push(frame(FrameType.end, end));
  pendingBytes += frameHeaderBytes + 8;
  yield flush();
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Decodes a state stream frame by frame. Throws `CorruptionError` (naming `source` and the byte
 * offset) on a malformed frame, frames out of order, a record count that does not match, or a
 * stream that ends before its `end` frame.
 */
export async function* decodeStateStream(chunks: AsyncIterable<Uint8Array>, source: string): AsyncGenerator<StateFrame> {
  let buffer: Uint8Array = new Uint8Array(0);
  let offset = 0;
  let records = 0;
  let stage: 'start' | 'records' | 'done' = 'start';
  const fail = (what: string): never => {
    throw new CorruptionError(`${source}: ${what} at byte ${offset}`);
  };
  for await (const chunk of chunks) {
    buffer = buffer.length === 0 ? chunk : concat([buffer, chunk], buffer.length + chunk.length);
    let at = 0;
    while (buffer.length - at >= frameHeaderBytes) {
      const view = new DataView(buffer.buffer, buffer.byteOffset + at);
      const type = view.getUint8(0);
      const length = view.getUint32(1);
      if (length > stateFrameBytesMax) fail(`frame of ${length} bytes exceeds stateFrameBytesMax (${stateFrameBytesMax})`);
      if (buffer.length - at < frameHeaderBytes + length) break;
      const payload = buffer.subarray(at + frameHeaderBytes, at + frameHeaderBytes + length);
      if (stage === 'done') fail('data after the end frame');
      yield decodeFrame(type, payload, stage, records, fail);
      if (type === FrameType.header) stage = 'records';
      else if (type === FrameType.end) stage = 'done';
      else records += 1;
      at += frameHeaderBytes + length;
      offset += frameHeaderBytes + length;
    }
    buffer = buffer.subarray(at);
  }
  if (stage !== 'done' || buffer.length > 0) fail('stream truncated before its end frame');
}

function decodeFrame(type: number, payload: Uint8Array, stage: 'start' | 'records' | 'done', records: number, fail: (what: string) => never): StateFrame {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  try {
    switch (type) {
      case FrameType.header:
        if (stage !== 'start' || payload.length !== 24) return fail('misplaced or malformed header frame');
        return {
          type: 'header',
          appliedIndex: logIndex(Number(view.getBigUint64(0))),
          revision: revision(Number(view.getBigUint64(8))),
          clockMs: Number(view.getBigUint64(16)),
        };
      case FrameType.kv:
        if (stage !== 'records') return fail('key record before the header');
        return { type: 'kv', kv: decodeKeyValue(payload) };
      case FrameType.session:
        if (stage !== 'records') return fail('session record before the header');
        return { type: 'session', session: decodeSession(payload) };
      case FrameType.end: {
        if (stage !== 'records' || payload.length !== 8) return fail('misplaced or malformed end frame');
        const count = Number(view.getBigUint64(0));
        if (count !== records) return fail(`end frame counts ${count} records but ${records} were read`);
        return { type: 'end', records: count };
      }
      default:
        return fail(`unknown frame type ${type}`);
    }
  } catch (e) {
    if (e instanceof CorruptionError) throw e;
    return fail(`undecodable record: ${e instanceof Error ? e.message : String(e)}`);
  }
}
