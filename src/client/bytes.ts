/**
 * Keys and values as users give them (UTF-8 strings or bytes) and as the wire carries them
 * (bytes), with the few byte helpers the client needs.
 */
import { InvalidArgumentError } from '../util/index.js';

/** A key or a value: a string (sent as UTF-8) or raw bytes. */
export type Bytes = string | Uint8Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** An empty byte array (shared; never written to). */
export const emptyBytes = new Uint8Array(0);

/** `value` as bytes; `field` names it in the error when it is neither a string nor bytes. */
export function toBytes(value: Bytes, field: string): Uint8Array {
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new InvalidArgumentError(field, `must be a string or a Uint8Array, got ${value === null ? 'null' : typeof value}`);
}

/** `bytes` decoded as UTF-8 (invalid sequences become U+FFFD). */
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** True if `bytes` is well-formed UTF-8. */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictDecoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Shared with the state machine (util). */
export { prefixEnd } from '../util/index.js';

/** The bytes as a string for messages: UTF-8 in quotes when printable, else hex. */
export function describeBytes(bytes: Uint8Array): string {
  if (isUtf8(bytes)) {
    const text = utf8(bytes);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u001f\u007f]/.test(text)) return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  }
  const hex = Buffer.from(bytes.subarray(0, 40)).toString('hex');
  return `0x${hex}${bytes.length > 40 ? '...' : ''}`;
}
