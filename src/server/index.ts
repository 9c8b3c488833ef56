/** server: the raftkv node (driver loop, client gRPC services, health, metrics) and its options. */
export { RaftkvNode } from './node.js';
export { RaftDriver } from './raft-driver.js';
export type { AppliedChange, RaftDriverDeps, WriteSession } from './raft-driver.js';
export * from './options.js';
export { NodeMetrics } from './metrics.js';
export { decodeStateStream, encodeStateStream, stateFrameBytesMax } from './state-stream.js';
export type { StateFrame, StateRecord } from './state-stream.js';
export { WatchHub } from './watch-hub.js';
