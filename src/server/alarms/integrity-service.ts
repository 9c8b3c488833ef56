/**
 * `raftkv.raft.v1.Integrity` (proto/integrity.proto): a member's state digest at a checkpoint
 * index, for the leader's corruption check (corruption-check.ts). On the peer port, admitted like
 * forwarded writes: only a member may ask (its certificate must name the node it claims, when the
 * peer port has TLS). It reveals a 64-bit digest, never keys or values.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { handleUnaryCall, MethodDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { decodeRequest, resolveProtoFile, toNumber } from '../../api/index.js';
import type { Uint64 } from '../../api/index.js';
import type { KvStateMachine } from '../../kv/index.js';
import { admitCall, peerMetadataKeys } from '../../transport/index.js';
import type { AdmissionContext } from '../../transport/index.js';

const root = protobuf.loadSync(resolveProtoFile('integrity.proto'));
const requestType = root.lookupType('raftkv.raft.v1.DigestRequest');
const responseType = root.lookupType('raftkv.raft.v1.DigestResponse');

export interface DigestRequestMsg {
  index?: Uint64;
}
export interface DigestResponseMsg {
  found: boolean;
  index: Uint64;
  revision: Uint64;
  digest: string;
  appliedIndex: Uint64;
}

/** The `Digest` method, for `grpc.Server.addService` and `makeGenericClientConstructor`. */
export const integrityService = {
  Digest: {
    path: '/raftkv.raft.v1.Integrity/Digest',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: DigestRequestMsg) => Buffer.from(requestType.encode(m).finish()),
    requestDeserialize: (b: Buffer) => decodeRequest<DigestRequestMsg>(requestType, b),
    responseSerialize: (m: DigestResponseMsg) => Buffer.from(responseType.encode(m).finish()),
    responseDeserialize: (b: Buffer) => responseType.decode(b) as unknown as DigestResponseMsg,
    originalName: 'digest',
  } satisfies MethodDefinition<DigestRequestMsg, DigestResponseMsg>,
};

/** The member's side: answers from its own checkpoint ring. */
export function integrityImplementation(kv: () => KvStateMachine, admission: AdmissionContext): UntypedServiceImplementation {
  const digest: handleUnaryCall<DigestRequestMsg, DigestResponseMsg> = (call, callback) => {
    const claimed = call.metadata.get(peerMetadataKeys.from)[0];
    const admitted = admitCall(admission, typeof claimed === 'string' ? claimed : undefined, call.getAuthContext(), 'digest request');
    if (!admitted.ok || !admission.isKnownPeer(admitted.peer)) {
      if (admitted.ok) admission.metrics.peerRejected('notMember', 1);
      callback({ code: grpcStatus.PERMISSION_DENIED, details: admitted.ok ? `node "${admitted.peer}" is not a member` : admitted.details });
      return;
    }
    const machine = kv();
    const at = machine.digestAt(toNumber(call.request.index));
    callback(null, { found: at !== undefined, index: at?.index ?? 0, revision: at?.revision ?? 0, digest: at?.digest ?? '', appliedIndex: machine.appliedIndex });
  };
  return { Digest: digest };
}
