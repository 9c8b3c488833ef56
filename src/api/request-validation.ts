/**
 * How the server decodes client request bodies, and the checks protobuf decoding cannot make.
 *
 * grpc-js answers INTERNAL when a deserializer throws, so the server's deserializer never throws:
 * a body that is not valid protobuf for its type, or that breaks a rule below, decodes to a marker
 * that `requireWellFormed` (called first by every handler) turns into INVALID_ARGUMENT naming the
 * field. The rules, for every field at every depth of every request:
 *
 * - a `string` field must be valid UTF-8 on the wire: protobufjs would turn invalid bytes into
 *   U+FFFD, so two different client ids (0xff and 0xfe) would become one and share a session;
 * - a 64-bit integer must be at most 2^53 - 1 (JavaScript's exact integers; every raftkv counter
 *   stays below), so 2^64 - 1 is refused rather than silently rounded;
 * - an enum must be one of its declared values;
 * - the fields in `fieldRanges` must lie in their range;
 * - a Compare's operand must be the field its target names (kv.proto: "its field must match
 *   `target` (INVALID_ARGUMENT otherwise)").
 */
import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import { clusterLimitNames } from '../kv/index.js';
import type { ClusterLimits } from '../kv/index.js';
import { InvalidArgumentError } from '../util/index.js';
import { toNumber } from './messages.js';
import type { ClusterLimitsMsg } from './messages.js';

/** The largest `max_staleness_ms` a STALE read may ask for (one day): a larger bound means nothing. */
export const maxStalenessMsMax = 24 * 60 * 60 * 1000;

/** Fields (by their protobufjs name, at any depth) with a range narrower than 0..2^53-1. */
export const fieldRanges: Readonly<Record<string, { readonly min: number; readonly max: number; readonly why: string }>> = {
  maxStalenessMs: { min: 0, max: maxStalenessMsMax, why: 'maxStalenessMsMax, one day' },
};

/** The oneof member of `Compare.target_union` each target requires, by target number. */
const compareOperands: readonly string[] = ['value', 'version', 'modRevision', 'createRevision', 'lease'];

/**
 * Deepest nesting of messages in a request body (a txn inside a txn inside ...): deeper bodies are
 * refused before they are walked or decoded, so hostile nesting cannot exhaust the stack. Well
 * above what the deepest valid request needs (txns nest at most 16 deep, two messages a level).
 */
export const requestMessageDepthMax = 64;

const malformed: unique symbol = Symbol('raftkv.malformedRequest');

/** What `decodeRequest` returns for a body it refuses. */
interface MalformedRequest {
  readonly [malformed]: InvalidArgumentError;
}

/**
 * Decodes a request body as the server must: never throws. Returns the decoded message, or a
 * marker that makes `requireWellFormed` throw the `InvalidArgumentError` describing the problem.
 */
export function decodeRequest<T>(type: protobuf.Type, body: Uint8Array): T {
  try {
    checkWire(type, body, '', 0);
    const message = type.decode(body) as unknown as Record<string, unknown>;
    checkDecoded(type, message, '');
    return message as T;
  } catch (e) {
    const error = e instanceof InvalidArgumentError ? e : new InvalidArgumentError('request', `not a valid ${type.name} protobuf body: ${e instanceof Error ? e.message : String(e)}`);
    const marker: MalformedRequest = { [malformed]: error };
    return marker as T;
  }
}

/** Throws the `InvalidArgumentError` of a request `decodeRequest` refused; does nothing otherwise. */
export function requireWellFormed(request: unknown): void {
  if (typeof request === 'object' && request !== null && malformed in request) throw (request as MalformedRequest)[malformed];
}

/** `handler`, refusing a request `decodeRequest` refused before it runs (for the unary plumbing). */
export function wellFormedFirst<Req, Res, Args extends unknown[]>(handler: (request: Req, ...args: Args) => Promise<Res>): (request: Req, ...args: Args) => Promise<Res> {
  return async (request, ...args) => {
    requireWellFormed(request);
    return handler(request, ...args);
  };
}

const path = (prefix: string, name: string): string => (prefix === '' ? name : `${prefix}.${name}`);

/** Walks the wire format: every string field, at any depth, must be valid UTF-8. */
function checkWire(type: protobuf.Type, body: Uint8Array, prefix: string, depth: number): void {
  if (depth > requestMessageDepthMax) throw new InvalidArgumentError(prefix, `nests messages more than requestMessageDepthMax (${requestMessageDepthMax}) deep`);
  const reader = protobuf.Reader.create(body);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    const field = type.fieldsById[tag >>> 3];
    if (field !== undefined && wireType === 2 && field.type === 'string') {
      if (!isUtf8(reader.bytes())) throw new InvalidArgumentError(path(prefix, field.name), 'is not valid UTF-8');
    } else if (field !== undefined && wireType === 2 && field.resolvedType instanceof protobuf.Type) {
      checkWire(field.resolvedType, reader.bytes(), path(prefix, field.name), depth + 1);
    } else {
      reader.skipType(wireType);
    }
  }
}

const integerTypes = new Set(['uint64', 'int64', 'sint64', 'fixed64', 'sfixed64', 'uint32', 'int32', 'sint32', 'fixed32', 'sfixed32']);

/** Walks the decoded message: integers, enums, ranges and Compare operands. */
function checkDecoded(type: protobuf.Type, message: Record<string, unknown>, prefix: string): void {
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    const values = field.repeated && Array.isArray(value) ? (value as unknown[]) : [value];
    values.forEach((v, i) => {
      const at = field.repeated ? `${path(prefix, field.name)}[${i}]` : path(prefix, field.name);
      if (field.resolvedType instanceof protobuf.Type) checkDecoded(field.resolvedType, v as Record<string, unknown>, at);
      else if (field.resolvedType instanceof protobuf.Enum) checkEnum(field.resolvedType, v, at);
      else if (integerTypes.has(field.type)) checkInteger(field.name, v, at);
    });
  }
  if (type.fullName === '.raftkv.v1.Compare') checkCompareOperand(message, prefix);
}

function checkEnum(type: protobuf.Enum, value: unknown, at: string): void {
  if (typeof value !== 'number' || type.valuesById[value] === undefined) {
    const known = Object.entries(type.values).map(([name, n]) => `${name} = ${n}`).join(', ');
    throw new InvalidArgumentError(at, `unknown value ${String(value)} (${known})`);
  }
}

function checkInteger(name: string, value: unknown, at: string): void {
  // protobufjs decodes 64-bit fields as a Long (exact; its toString is the decimal value) or a number.
  const text = String(value);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(at, `is ${text}, outside the exact integers (at most 2^53 - 1)`);
  const range = fieldRanges[name];
  if (range !== undefined && (n < range.min || n > range.max)) {
    throw new InvalidArgumentError(at, `is ${n}, outside [${range.min}, ${range.max}] (${range.why})`);
  }
}

function checkCompareOperand(compare: Record<string, unknown>, at: string): void {
  const target = typeof compare['target'] === 'number' ? compare['target'] : 0;
  const expected = compareOperands[target];
  // Own properties only: a decoded message's prototype carries every field's default.
  const given = compareOperands.filter((name) => Object.hasOwn(compare, name) && compare[name] !== null);
  if (given.length > 1) throw new InvalidArgumentError(path(at, 'targetUnion'), `sets ${given.join(' and ')}; set one operand`);
  const operand = given[0];
  if (operand !== undefined && operand !== expected) {
    throw new InvalidArgumentError(path(at, operand), `is the operand of target ${compareOperands.indexOf(operand)}, but target is ${target}: set ${String(expected)}`);
  }
}

/** `current` with every non-zero field of a ClusterLimitsSet request's `limits` put in. */
export function mergeClusterLimits(current: ClusterLimits, update: ClusterLimitsMsg): ClusterLimits {
  const merged: Record<keyof ClusterLimits, number> = { ...current };
  for (const name of clusterLimitNames) {
    const value = toNumber(update[name]);
    if (value !== 0) merged[name] = value;
  }
  return merged;
}
