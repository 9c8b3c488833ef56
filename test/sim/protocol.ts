/**
 * What simulated clients and nodes say to each other (the simulation's stand-in for the gRPC
 * client API). Requests and answers travel with latency; a crashed node loses the requests it held.
 */
import type { WriteOp, WriteResult } from '../../src/kv/index.js';

/** A client request. `reqId` is unique per attempt, so late answers to old attempts are ignored. */
export type ClientRequest =
  | {
      readonly kind: 'write';
      readonly reqId: number;
      readonly client: string;
      /** Exactly-once: a retried write reuses its seq. */
      readonly seq: number;
      readonly ackSeq: number;
      readonly op: WriteOp;
    }
  | { readonly kind: 'read'; readonly reqId: number; readonly client: string; readonly key: string };

/** A node's answer to one attempt. */
export type ClientResponse =
  /** The write was applied (or was a duplicate answered from the session). */
  | { readonly type: 'written'; readonly reqId: number; readonly result: WriteResult }
  /** The linearizable read's value (null: the key is absent). */
  | { readonly type: 'value'; readonly reqId: number; readonly value: string | null }
  /** This node is not the leader (the request was not proposed); `leader` is a hint. */
  | { readonly type: 'notLeader'; readonly reqId: number; readonly leader: string | null }
  /** The core refused the proposal or read before proposing it: certainly not applied. */
  | { readonly type: 'dropped'; readonly reqId: number }
  /** The write was proposed but leadership was lost or the entry was replaced: outcome unknown. */
  | { readonly type: 'unknown'; readonly reqId: number };
