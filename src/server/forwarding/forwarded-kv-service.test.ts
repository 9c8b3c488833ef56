// Proves the forwarding service's hand-built definition matches proto/forward.proto: the same
// method paths, and request and response types that are exactly raftkv.v1.KV's (and Lease's for the lease writes).
import { dirname } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { kvService, leaseService, resolveProtoFile } from '../../api/index.js';
import { forwardedKvService, forwardedMethods } from './forwarded-kv-service.js';

describe('ForwardedKV', () => {
  it('has the paths and message types proto/forward.proto declares', () => {
    const file = resolveProtoFile('forward.proto');
    const definition = protoLoader.loadSync(file, { includeDirs: [dirname(file)] });
    const service = definition['raftkv.raft.v1.ForwardedKV'] as Record<string, protoLoader.MethodDefinition<object, object>>;
    expect(Object.keys(service).sort()).toEqual([...forwardedMethods].sort());
    for (const method of forwardedMethods) {
      const declared = service[method];
      expect(declared?.path).toBe(forwardedKvService[method].path);
      expect((declared?.requestType.type as { name?: string } | undefined)?.name).toBe(`${method}Request`);
      expect((declared?.responseType.type as { name?: string } | undefined)?.name).toBe(`${method}Response`);
      // The codecs are KV's (Lease's) own: what a follower forwards is the client's message as it came.
      const source = { Put: kvService.Put, Delete: kvService.Delete, Txn: kvService.Txn, LeaseGrant: leaseService.Grant, LeaseRevoke: leaseService.Revoke }[method];
      expect(forwardedKvService[method].requestSerialize).toBe(source.requestSerialize);
      expect(forwardedKvService[method].responseDeserialize).toBe(source.responseDeserialize);
    }
  });
});
