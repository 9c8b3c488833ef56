/**
 * Branded primitive types: a `Term` cannot be passed where a `LogIndex` is expected, even though
 * both are numbers at run time. Construct them with the helpers below, never with a bare cast in
 * business code.
 */
declare const brand: unique symbol;

/** A primitive `T` tagged with the compile-time-only brand `B`. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** The id of a Raft node, as given by `--id` (for example `n1`). Never empty. */
export type NodeId = Brand<string, 'NodeId'>;
/** A Raft term. Terms start at 0 and only grow. */
export type Term = Brand<number, 'Term'>;
/** A position in the Raft log. Index 0 is the empty log's sentinel; real entries start at 1. */
export type LogIndex = Brand<number, 'LogIndex'>;
/** The key-value store's global revision, raised by one for every applied write. */
export type Revision = Brand<number, 'Revision'>;

/** Brands a string as a node id. */
export const nodeId = (s: string): NodeId => s as NodeId;
/** Brands a number as a term. */
export const term = (n: number): Term => n as Term;
/** Brands a number as a log index. */
export const logIndex = (n: number): LogIndex => n as LogIndex;
/** Brands a number as a revision. */
export const revision = (n: number): Revision => n as Revision;
