/**
 * A message as the core composes it: `from` is always this node and is filled in by `send`, and
 * `term` defaults to the current term (vote traffic sets it explicitly, Raft thesis §9.6).
 */
import type { Term } from '../util/index.js';
import type { Message } from './message.js';

/** `Omit` that distributes over a union, keeping each member's own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A message before `send` stamps it with `from` (and, unless given, the current `term`). */
export type Outgoing = DistributiveOmit<Message, 'from' | 'term'> & { readonly term?: Term };
