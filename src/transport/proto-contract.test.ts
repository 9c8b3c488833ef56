// Proves the .proto contracts load with the standard gRPC loader and keep the shapes outside tools rely on.
import { loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { resolveProtoFile } from '../api/index.js';
import { raftPeerServiceDefinition } from './service.js';

const loaderOptions = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** `name = number: type` for every field of a message, as protoc would see it. */
function fields(root: protobuf.Root, name: string): string[] {
  return root.lookupType(name).fieldsArray.map((f) => `${f.name}=${f.id}:${f.repeated ? 'repeated ' : ''}${f.type}`);
}

describe('proto/kv.proto (public client API, package raftkv.v1)', () => {
  // Field names as written in the .proto (protobufjs camel-cases them by default).
  const root = new protobuf.Root().loadSync(resolveProtoFile('kv.proto'), { keepCase: true });
  root.resolveAll();

  it('declares the KV, Cluster and Maintenance services with the required methods', () => {
    // Proves the service surface that grpcurl and other-language clients call.
    const definition = loadSync(resolveProtoFile('kv.proto'), loaderOptions);
    const methods = (service: string): string[] =>
      Object.values(definition[`raftkv.v1.${service}`] as Record<string, { path: string; requestStream: boolean; responseStream: boolean }>).map(
        (m) => `${m.path} ${m.requestStream ? 'stream' : 'unary'}->${m.responseStream ? 'stream' : 'unary'}`,
      );
    expect(methods('KV')).toEqual([
      '/raftkv.v1.KV/Put unary->unary',
      '/raftkv.v1.KV/Get unary->unary',
      '/raftkv.v1.KV/Delete unary->unary',
      '/raftkv.v1.KV/Range unary->unary',
      '/raftkv.v1.KV/Txn unary->unary',
      '/raftkv.v1.KV/Watch unary->stream',
    ]);
    expect(methods('Cluster')).toEqual([
      '/raftkv.v1.Cluster/Status unary->unary',
      '/raftkv.v1.Cluster/MemberList unary->unary',
      '/raftkv.v1.Cluster/MemberAdd unary->unary',
      '/raftkv.v1.Cluster/MemberPromote unary->unary',
      '/raftkv.v1.Cluster/MemberRemove unary->unary',
      '/raftkv.v1.Cluster/MemberUpdate unary->unary',
      '/raftkv.v1.Cluster/LeaderTransfer unary->unary',
      '/raftkv.v1.Cluster/ClusterLimitsGet unary->unary',
      '/raftkv.v1.Cluster/ClusterLimitsSet unary->unary',
    ]);
    expect(methods('Maintenance')).toEqual(['/raftkv.v1.Maintenance/Backup unary->stream', '/raftkv.v1.Maintenance/Alarm unary->unary']);
  });

  it('keeps the exact field numbers and types of the required messages', () => {
    // Proves the wire shapes named in the API contract; renumbering any of them breaks clients.
    expect(fields(root, 'raftkv.v1.PutRequest')).toEqual(['key=1:bytes', 'value=2:bytes', 'prev_kv=3:bool', 'client_id=4:string', 'seq=5:uint64', 'ack_seq=6:uint64', 'lease=7:uint64', 'ignore_value=8:bool', 'ignore_lease=9:bool']);
    expect(fields(root, 'raftkv.v1.PutResponse')).toEqual(['header=1:ResponseHeader', 'prev_kv=2:KeyValue']);
    expect(fields(root, 'raftkv.v1.GetRequest')).toEqual(['key=1:bytes', 'consistency=2:Consistency', 'max_staleness_ms=3:uint64']);
    expect(fields(root, 'raftkv.v1.GetResponse')).toEqual(['header=1:ResponseHeader', 'found=2:bool', 'value=3:bytes', 'kv=4:KeyValue', 'staleness_ms=5:uint64']);
    expect(fields(root, 'raftkv.v1.ResponseHeader')).toEqual(['revision=1:uint64', 'raft_term=2:uint64', 'node_id=3:string', 'applied_index=4:uint64', 'leader_id=5:string']);
    expect(fields(root, 'raftkv.v1.KeyValue')).toEqual(['key=1:bytes', 'value=2:bytes', 'create_revision=3:uint64', 'mod_revision=4:uint64', 'version=5:uint64', 'lease=6:uint64']);
    expect(root.lookupEnum('raftkv.v1.Consistency').values).toEqual({ LINEARIZABLE: 0, STALE: 1 });
    expect(root.lookupEnum('raftkv.v1.Compare.CompareTarget').values).toEqual({ VALUE: 0, VERSION: 1, MOD: 2, CREATE: 3, LEASE: 4 });
    expect(root.lookupEnum('raftkv.v1.Compare.CompareResult').values).toEqual({ EQUAL: 0, NOT_EQUAL: 1, LESS: 2, GREATER: 3 });
    expect(root.lookupType('raftkv.v1.Compare').oneofs?.target_union?.fieldsArray.map((f) => f.name)).toEqual(['value', 'version', 'mod_revision', 'create_revision', 'lease']);
    expect(fields(root, 'raftkv.v1.Compare')).toEqual(expect.arrayContaining(['range_end=9:bytes']));
    expect(root.lookupType('raftkv.v1.RequestOp').oneofs?.request?.fieldsArray.map((f) => f.name)).toEqual(['request_range', 'request_put', 'request_delete', 'request_txn']);
    expect(root.lookupType('raftkv.v1.ResponseOp').oneofs?.response?.fieldsArray.map((f) => f.name)).toEqual(['response_range', 'response_put', 'response_delete', 'response_txn']);
    expect(root.lookupEnum('raftkv.v1.Event.EventType').values).toEqual({ PUT: 0, DELETE: 1 });
    for (const write of ['PutRequest', 'DeleteRequest', 'TxnRequest']) {
      expect(fields(root, `raftkv.v1.${write}`)).toEqual(expect.arrayContaining([expect.stringMatching(/^client_id=\d+:string$/), expect.stringMatching(/^seq=\d+:uint64$/), expect.stringMatching(/^ack_seq=\d+:uint64$/)]));
    }
  });
});

describe('proto/raft.proto (peer protocol, package raftkv.raft.v1)', () => {
  it('matches the pass-through service definition the transport registers', () => {
    // Proves the hand-written gRPC definition uses the paths and streaming modes of the .proto.
    const definition = loadSync(resolveProtoFile('raft.proto'), loaderOptions)['raftkv.raft.v1.RaftPeer'] as Record<string, { path: string; requestStream: boolean; responseStream: boolean }>;
    const fromProto = Object.values(definition).map(({ path, requestStream, responseStream }) => ({ path, requestStream, responseStream }));
    const ours = Object.values(raftPeerServiceDefinition).map(({ path, requestStream, responseStream }) => ({ path, requestStream, responseStream }));
    expect(ours).toEqual(fromProto);
  });
});
