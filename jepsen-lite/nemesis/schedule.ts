/**
 * The nemesis schedule: quiet for one interval, a fault for one interval, quiet again, and so on,
 * while the workload runs, always leaving a quiet stretch after the last heal. Families take
 * turns (with `mixed`, every supported family), and each family's kinds take turns, so a short
 * run still exercises every kind it can. Every start, stop and skip is recorded in the history.
 * Around each heal it samples the majority's leader (just before, and a few seconds after) for
 * the availability check.
 */
import type { HealObservation } from '../checks/availability.js';
import type { Recorder } from '../history.js';
import type { NemesisRecord } from '../history.js';
import type { ActiveFault, NemesisContext, NemesisFamily } from './nemesis.js';
import { majorityLeader } from './nemesis.js';

/** When faults happen. */
export interface ScheduleOptions {
  readonly intervalMs: number;
  /** Recorder time at which the workload stops; the last heal comes at least a few seconds before. */
  readonly endAt: number;
  readonly signal: AbortSignal;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Keeps only the families that can run here; records a `skip` for the others. */
export async function supportedFamilies(ctx: NemesisContext, families: readonly NemesisFamily[], recorder: Recorder): Promise<NemesisFamily[]> {
  const out: NemesisFamily[] = [];
  for (const f of families) {
    const reason = await f.unsupported(ctx);
    if (reason === null) out.push(f);
    else {
      recorder.add<NemesisRecord>({ type: 'nemesis', family: f.name, kind: 'skipped', action: 'skip', at: recorder.now(), nodes: [], detail: reason });
      ctx.log(`nemesis ${f.name} skipped: ${reason}`);
    }
  }
  return out;
}

/** Runs the schedule; resolves with what was seen around each heal. */
export async function runSchedule(ctx: NemesisContext, families: readonly NemesisFamily[], recorder: Recorder, options: ScheduleOptions): Promise<HealObservation[]> {
  const heals: (Omit<HealObservation, 'until'> & { until: number })[] = [];
  const sampling: Promise<void>[] = [];
  if (families.length === 0) return [];
  const kindTurn = new Map<string, number>();
  const interval = options.intervalMs;
  const settleMs = Math.max(200, Math.min(3000, interval - 300));
  for (let turn = 0; !options.signal.aborted; turn++) {
    const faultStart = recorder.now() + interval;
    if (faultStart + interval + settleMs > options.endAt) break;
    await sleep(faultStart - recorder.now(), options.signal);
    if (options.signal.aborted) break;
    const family = families[turn % families.length];
    if (!family) break;
    const k = kindTurn.get(family.name) ?? 0;
    kindTurn.set(family.name, k + 1);
    const kind = family.kinds[k % family.kinds.length] ?? '';
    let fault: ActiveFault;
    try {
      fault = await family.start(ctx, kind);
    } catch (e) {
      recorder.add<NemesisRecord>({ type: 'nemesis', family: family.name, kind, action: 'info', at: recorder.now(), nodes: [], detail: `could not start: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    const start = recorder.add<NemesisRecord>({ type: 'nemesis', family: fault.family, kind: fault.kind, action: 'start', at: recorder.now(), nodes: fault.nodes, detail: fault.detail });
    ctx.log(`${(start.at / 1000).toFixed(1)} s  ${fault.family}/${fault.kind} start: ${fault.detail}`);
    await sleep(faultStart + interval - recorder.now(), options.signal);
    const leaderBefore = fault.leaderMayChange ? null : await majorityLeader(ctx);
    let healDetail: string;
    try {
      healDetail = await fault.heal();
    } catch (e) {
      healDetail = `heal FAILED: ${e instanceof Error ? e.message : String(e)}`;
    }
    const stop = recorder.add<NemesisRecord>({ type: 'nemesis', family: fault.family, kind: fault.kind, action: 'stop', at: recorder.now(), nodes: fault.nodes, detail: healDetail, startId: start.id });
    ctx.log(`${(stop.at / 1000).toFixed(1)} s  ${fault.family}/${fault.kind} stop: ${healDetail}`);
    const heal = { family: fault.family, kind: fault.kind, healAt: stop.at, until: options.endAt, leaderBefore, leaderAfter: null as HealObservation['leaderAfter'], leaderMayChange: fault.leaderMayChange };
    heals.push(heal);
    sampling.push(
      (async () => {
        await sleep(settleMs, options.signal);
        heal.leaderAfter = await majorityLeader(ctx);
        if (fault.verify) {
          const note = await fault.verify();
          recorder.add<NemesisRecord>({ type: 'nemesis', family: fault.family, kind: fault.kind, action: 'info', at: recorder.now(), nodes: fault.nodes, detail: note });
          ctx.log(`${(recorder.now() / 1000).toFixed(1)} s  ${fault.family}/${fault.kind}: ${note}`);
        }
      })(),
    );
  }
  await Promise.all(sampling);
  const starts = recorder.nemesis().filter((r) => r.action === 'start').map((r) => r.at);
  for (const h of heals) h.until = Math.min(options.endAt, ...starts.filter((s) => s > h.healAt));
  return heals;
}
