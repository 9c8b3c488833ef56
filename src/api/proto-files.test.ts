// Proves every decoder gets an empty Uint8Array for a bytes field absent on the wire (protobufjs's
// own default is a frozen plain array, which once made an empty value unwritable from the wire).
import { describe, expect, it } from 'vitest';
import { etcdRoot } from './etcd/index.js';
import { apiRoot, decodeRequest } from './index.js';

describe('bytes fields absent on the wire', () => {
  it('decode as an empty Uint8Array, at every depth, in raftkv.v1 and etcd messages', () => {
    const txn = apiRoot.lookupType('raftkv.v1.TxnRequest');
    const body = txn.encode({ success: [{ requestPut: { key: new Uint8Array([107]), value: new Uint8Array(0) } }] }).finish();
    const decoded = decodeRequest<{ success: { requestPut: { key: Uint8Array; value: unknown } }[] }>(txn, body);
    const put = decoded.success[0]?.requestPut;
    expect(put?.value).toBeInstanceOf(Uint8Array);
    expect(put?.value).toHaveLength(0);
    const etcdPut = etcdRoot.lookupType('etcdserverpb.PutRequest');
    const e = etcdPut.decode(etcdPut.encode({ key: new Uint8Array([107]) }).finish()) as unknown as { value: unknown };
    expect(e.value).toBeInstanceOf(Uint8Array);
    // A present value still decodes as itself.
    const full = etcdPut.decode(etcdPut.encode({ key: new Uint8Array([107]), value: new Uint8Array([1, 2]) }).finish()) as unknown as { value: Uint8Array };
    expect([...full.value]).toEqual([1, 2]);
  });
});
