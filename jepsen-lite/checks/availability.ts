/**
 * Availability: how much of the workload succeeds when no fault is active, how long the cluster
 * takes to serve a write again after each heal, the longest stretch without a successful write
 * after each heal, and whether a healthy leader kept its place when a node came back (pre-vote
 * and check-quorum should stop a rejoining node from deposing it).
 */
import type { FaultWindow, OpRecord } from '../history.js';
import type { CheckOutcome } from './check.js';

/** The leader the majority agreed on at one moment. */
export interface LeaderSample {
  readonly id: string;
  readonly term: number;
}

/** What the scheduler saw around one heal. */
export interface HealObservation {
  readonly family: string;
  readonly kind: string;
  readonly healAt: number;
  /** Until when writes after this heal are attributed to it (the next fault, or the end of the workload). */
  readonly until: number;
  /** The majority's leader just before the heal, and a few seconds after it. */
  readonly leaderBefore: LeaderSample | null;
  readonly leaderAfter: LeaderSample | null;
  /** True if the fault itself may end the leader's term (kill-all, loss on every link): no deposed-leader check. */
  readonly leaderMayChange: boolean;
}

/** Thresholds. */
export interface AvailabilityLimits {
  /** Most ms from a heal to the first successful write. */
  readonly recoveryMsMax: number;
  /** Most ms without a successful write after a heal (from the heal on). */
  readonly writeGapMsMax: number;
  /** Least share of successful operations outside fault windows (and recoveries). */
  readonly okShareMin: number;
}

/** Defaults, generous enough for a loaded 2-core machine. */
export const defaultAvailabilityLimits: AvailabilityLimits = { recoveryMsMax: 10_000, writeGapMsMax: 10_000, okShareMin: 0.8 };

/** A logical operation that changes state, completed ok. */
function isOkWrite(op: OpRecord): boolean {
  if (op.status !== 'ok' || op.final === true || op.parent !== undefined) return false;
  return op.f === 'put' || op.f === 'cas' || op.f === 'append' || op.f === 'transfer';
}

/** Logical operations (not the parts of an append, not setup or final reads). */
function isLogical(op: OpRecord): boolean {
  return op.final !== true && op.parent === undefined && op.f !== 'setup';
}

/** Per heal: recovery time and longest gap. */
export interface HealMetrics extends HealObservation {
  readonly recoveryMs: number | null;
  readonly longestWriteGapMs: number | null;
  readonly leaderDeposed: boolean;
}

/** Computes availability over the workload's span [workloadStart, workloadEnd]. */
export function checkAvailability(
  ops: readonly OpRecord[],
  windows: readonly FaultWindow[],
  heals: readonly HealObservation[],
  span: { readonly start: number; readonly end: number },
  limits: AvailabilityLimits = defaultAvailabilityLimits,
): CheckOutcome & { readonly heals: readonly HealMetrics[] } {
  const writeTimes = ops.filter(isOkWrite).map((o) => o.ret ?? 0).sort((a, b) => a - b);
  const problems: string[] = [];
  const metrics: HealMetrics[] = heals.map((h) => {
    const after = writeTimes.filter((t) => t >= h.healAt && t <= h.until);
    const measurable = h.until - h.healAt >= Math.min(limits.recoveryMsMax, 2000);
    const recoveryMs = after.length > 0 ? (after[0] ?? 0) - h.healAt : null;
    let gap = after.length > 0 ? (after[0] ?? 0) - h.healAt : h.until - h.healAt;
    for (let i = 1; i < after.length; i++) gap = Math.max(gap, (after[i] ?? 0) - (after[i - 1] ?? 0));
    if (after.length > 0) gap = Math.max(gap, h.until - (after[after.length - 1] ?? 0));
    const leaderDeposed =
      !h.leaderMayChange && h.leaderBefore !== null && h.leaderAfter !== null && (h.leaderAfter.id !== h.leaderBefore.id || h.leaderAfter.term !== h.leaderBefore.term);
    const label = `${h.family}/${h.kind} healed at ${(h.healAt / 1000).toFixed(1)} s`;
    if (measurable && recoveryMs === null) problems.push(`${label}: no successful write in the ${((h.until - h.healAt) / 1000).toFixed(1)} s after it`);
    if (recoveryMs !== null && recoveryMs > limits.recoveryMsMax) problems.push(`${label}: first successful write after ${(recoveryMs / 1000).toFixed(1)} s (limit ${limits.recoveryMsMax / 1000} s)`);
    if (measurable && gap > limits.writeGapMsMax) problems.push(`${label}: ${(gap / 1000).toFixed(1)} s without a successful write (limit ${limits.writeGapMsMax / 1000} s)`);
    if (leaderDeposed) {
      problems.push(`${label}: the healthy leader ${h.leaderBefore?.id} (term ${h.leaderBefore?.term}) was replaced by ${h.leaderAfter?.id} (term ${h.leaderAfter?.term}) after the heal: a rejoining node disrupted the cluster`);
    }
    return { ...h, recoveryMs, longestWriteGapMs: measurable ? gap : null, leaderDeposed };
  });
  // Quiet time: outside fault windows and outside each heal's recovery.
  const busy = windows.map((w) => {
    const heal = metrics.find((m) => Math.abs(m.healAt - w.end) < 1);
    return { start: w.start, end: w.end + (heal?.recoveryMs ?? 0) };
  });
  const quiet = (op: OpRecord): boolean => {
    const end = op.ret ?? op.call;
    return op.call >= span.start && end <= span.end && busy.every((b) => end < b.start || op.call > b.end);
  };
  const logical = ops.filter((o) => isLogical(o) && quiet(o));
  const ok = logical.filter((o) => o.status === 'ok').length;
  const share = logical.length === 0 ? 1 : ok / logical.length;
  if (logical.length > 0 && share < limits.okShareMin) {
    problems.push(`only ${(share * 100).toFixed(1)}% of ${logical.length} operations outside fault windows succeeded (limit ${(limits.okShareMin * 100).toFixed(0)}%)`);
  }
  const recoveries = metrics.map((m) => m.recoveryMs).filter((x): x is number => x !== null);
  const summary = `${(share * 100).toFixed(1)}% ok outside faults (${logical.length} ops); recovery after heal: ${
    recoveries.length === 0 ? 'n/a' : `max ${(Math.max(...recoveries) / 1000).toFixed(2)} s, mean ${(recoveries.reduce((a, b) => a + b, 0) / recoveries.length / 1000).toFixed(2)} s`
  }; leader deposed by a rejoin: ${metrics.filter((m) => m.leaderDeposed).length}`;
  return { name: 'availability', ok: problems.length === 0, summary, problems, heals: metrics, data: { okShareOutsideFaults: share, opsOutsideFaults: logical.length, heals: metrics } };
}
