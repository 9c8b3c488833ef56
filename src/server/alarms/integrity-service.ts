/**
 * `raftkv.raft.v1.Integrity` (proto/integrity.proto): a member's state digest at a checkpoint
 * index, for the leader's corruption check (corruption-check.ts). On the peer port, admitted like
 * forwarded writes: only a member may call (its certificate must name the node it claims, when the
 * peer port has TLS). `Digest` reveals a 64-bit digest, never keys or values; `ReportAlarm` lets a
 * member with a full disk have the leader replicate its NOSPACE alarm (alarm-reporter.ts).
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import type { handleUnaryCall, MethodDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { decodeRequest, loadProtoRoot, requireWellFormed, resolveProtoFile, toNumber } from '../../api/index.js';
import type { Uint64 } from '../../api/index.js';
import { alarmLimits, hasAlarm } from '../../kv/index.js';
import { admitCall, peerMetadataKeys } from '../../transport/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import type { NodeId } from '../../util/index.js';
import type { RaftDriver } from '../raft-driver.js';

const root = loadProtoRoot(resolveProtoFile('integrity.proto'));
const requestType = root.lookupType('raftkv.raft.v1.DigestRequest');
const responseType = root.lookupType('raftkv.raft.v1.DigestResponse');
const reportType = root.lookupType('raftkv.raft.v1.AlarmReport');
const reportResponseType = root.lookupType('raftkv.raft.v1.AlarmReportResponse');

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

export interface AlarmReportMsg {
  raised?: boolean;
  reason?: string;
}

/** The `Digest` and `ReportAlarm` methods, for `grpc.Server.addService` and `makeGenericClientConstructor`. */
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
  ReportAlarm: {
    path: '/raftkv.raft.v1.Integrity/ReportAlarm',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: AlarmReportMsg) => Buffer.from(reportType.encode(m).finish()),
    requestDeserialize: (b: Buffer) => decodeRequest<AlarmReportMsg>(reportType, b),
    responseSerialize: (m: object) => Buffer.from(reportResponseType.encode(m).finish()),
    responseDeserialize: (b: Buffer) => reportResponseType.decode(b) as unknown as object,
    originalName: 'reportAlarm',
  } satisfies MethodDefinition<AlarmReportMsg, object>,
};

/** What the peer side needs of the node. */
export interface IntegrityHost {
  readonly driver: () => RaftDriver;
  readonly admission: AdmissionContext;
}

/** The peer side: digests from this member's checkpoint ring; alarm reports (on the leader). */
export function integrityImplementation(host: IntegrityHost): UntypedServiceImplementation {
  const { admission } = host;
  /** The admitted member calling, or null after answering PERMISSION_DENIED. */
  const member = (call: { metadata: grpc.Metadata; getAuthContext(): object }, what: string, callback: (e: Partial<grpc.ServiceError>) => void): NodeId | null => {
    const claimed = call.metadata.get(peerMetadataKeys.from)[0];
    const admitted = admitCall(admission, typeof claimed === 'string' ? claimed : undefined, call.getAuthContext(), what);
    if (admitted.ok && admission.isKnownPeer(admitted.peer)) return admitted.peer;
    if (admitted.ok) admission.metrics.peerRejected('notMember', 1);
    callback({ code: grpcStatus.PERMISSION_DENIED, details: admitted.ok ? `node "${admitted.peer}" is not a member` : admitted.details });
    return null;
  };
  /** False after answering INVALID_ARGUMENT: a body that does not decode must not read as defaults (a report of "cleared"). */
  const wellFormed = (request: unknown, callback: (e: Partial<grpc.ServiceError>) => void): boolean => {
    try {
      requireWellFormed(request);
      return true;
    } catch (e) {
      callback({ code: grpcStatus.INVALID_ARGUMENT, details: e instanceof Error ? e.message : String(e) });
      return false;
    }
  };
  const digest: handleUnaryCall<DigestRequestMsg, DigestResponseMsg> = (call, callback) => {
    if (member(call, 'digest request', callback) === null || !wellFormed(call.request, callback)) return;
    const machine = host.driver().kv;
    const at = machine.digestAt(toNumber(call.request.index));
    callback(null, { found: at !== undefined, index: at?.index ?? 0, revision: at?.revision ?? 0, digest: at?.digest ?? '', appliedIndex: machine.appliedIndex });
  };
  const reportAlarm: handleUnaryCall<AlarmReportMsg, object> = (call, callback) => {
    const from = member(call, 'alarm report', callback);
    if (from === null || !wellFormed(call.request, callback)) return;
    const driver = host.driver();
    if (driver.role !== 'leader') {
      callback({ code: grpcStatus.FAILED_PRECONDITION, details: 'not the leader' });
      return;
    }
    const raised = call.request.raised === true;
    if (raised === hasAlarm(driver.kv.alarms, from, 'nospace')) {
      callback(null, {});
      return;
    }
    const reason = (call.request.reason ?? '').slice(0, alarmLimits.reasonBytesMax);
    const alarm = raised ? ({ action: 'raise', member: from, type: 'nospace', reason } as const) : ({ action: 'clear', member: from, type: 'nospace' } as const);
    driver.proposeClusterCommand({ type: 'alarm', alarm }, 'NOSPACE report').then(
      () => callback(null, {}),
      (e: unknown) => callback({ code: grpcStatus.UNAVAILABLE, details: e instanceof Error ? e.message : String(e) }),
    );
  };
  return { Digest: digest, ReportAlarm: reportAlarm };
}
