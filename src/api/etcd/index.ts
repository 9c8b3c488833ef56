/** api/etcd: etcd's v3 wire API (proto/etcd/), served next to raftkv.v1 on the client port. */
export * from './etcd-services.js';
