/**
 * A deterministic binary encoding of the KV state machine's image, used as snapshot data in the
 * simulation. Keys and sessions are sorted, so two replicas with the same state produce the same
 * bytes whatever their internal iteration order.
 *
 * Layout (all integers big-endian; numbers as float64 so revisions and times round-trip exactly):
 *   magic "KVI1" | appliedIndex f64 | revision f64 | clockMs f64 | nKvs u32 | kv* | nSessions u32 | session*
 *   kv      = key bytes | value bytes | createRevision f64 | modRevision f64 | version f64
 *   session = clientId string | ackSeq f64 | lastSeenMs f64 | nResponses u32 | (seq f64 | result bytes)*
 *   bytes   = length u32 | raw bytes;  string = bytes of its UTF-8 encoding
 */
import { assert, logIndex, revision } from '../../src/util/index.js';
import { compareBytes } from '../../src/kv/index.js';
import type { KeyValue, KvStateImage, SessionRecord } from '../../src/kv/index.js';

const magic = [0x4b, 0x56, 0x49, 0x31]; // "KVI1"
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes an image. Consumes its iterables once. */
export function encodeKvImage(image: KvStateImage): Uint8Array {
  const kvs = [...image.kvs].sort((a, b) => compareBytes(a.key, b.key));
  const sessions = [...image.sessions].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  const w = new ByteWriter();
  for (const b of magic) w.u8(b);
  w.f64(image.appliedIndex);
  w.f64(image.revision);
  w.f64(image.clockMs);
  w.u32(kvs.length);
  for (const kv of kvs) {
    w.bytes(kv.key);
    w.bytes(kv.value);
    w.f64(kv.createRevision);
    w.f64(kv.modRevision);
    w.f64(kv.version);
  }
  w.u32(sessions.length);
  for (const s of sessions) {
    w.bytes(utf8.encode(s.clientId));
    w.f64(s.ackSeq);
    w.f64(s.lastSeenMs);
    const responses = [...s.responses].sort((a, b) => a.seq - b.seq);
    w.u32(responses.length);
    for (const r of responses) {
      w.f64(r.seq);
      w.bytes(r.result);
    }
  }
  return w.finish();
}

/** Decodes an image written by `encodeKvImage`; asserts on malformed input (snapshot data is ours). */
export function decodeKvImage(data: Uint8Array): KvStateImage {
  const r = new ByteReader(data);
  for (const b of magic) assert(r.u8() === b, 'kv image: bad magic');
  const appliedIndex = logIndex(r.f64());
  const rev = revision(r.f64());
  const clockMs = r.f64();
  const kvs: KeyValue[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const key = r.bytes();
    const value = r.bytes();
    kvs.push({ key, value, createRevision: revision(r.f64()), modRevision: revision(r.f64()), version: r.f64() });
  }
  const sessions: SessionRecord[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const clientId = utf8Decoder.decode(r.bytes());
    const ackSeq = r.f64();
    const lastSeenMs = r.f64();
    const responses: { seq: number; result: Uint8Array }[] = [];
    for (let m = r.u32(); m > 0; m--) responses.push({ seq: r.f64(), result: r.bytes() });
    sessions.push({ clientId, ackSeq, lastSeenMs, responses });
  }
  assert(r.done(), 'kv image: trailing bytes');
  return { appliedIndex, revision: rev, clockMs, kvs, sessions };
}

class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
  }

  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class ByteReader {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): void {
    assert(this.pos + n <= this.data.length, 'kv image: truncated');
  }

  u8(): number {
    this.need(1);
    return this.data[this.pos++] as number;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const b = this.data.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  done(): boolean {
    return this.pos === this.data.length;
  }
}
