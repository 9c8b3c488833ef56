/**
 * Builds histories that are linearizable by construction, for tests: a plan of operations is
 * executed one at a time against a register per key (operation i takes effect at time 10(i+1)),
 * then each operation gets a random window around that moment, without overlapping its client's
 * other operations. Operations that "fail" or are "lost" do not take effect.
 */
import type { Prng } from '../../src/util/index.js';
import type { HistoryOp } from './history.js';

/** What happened to a planned operation. */
export type OpFate = 'ok' | 'fail' | 'indeterminate-applied' | 'indeterminate-lost';

/** One planned operation. Values are numbers, written to the history as decimal strings. */
export interface OpPlan {
  /** Which client issues it (`c<client>`). */
  readonly client: number;
  /** Which key (`k<key>`). */
  readonly key: number;
  /** The operation. */
  readonly kind: 'get' | 'put' | 'cas';
  /** put and cas: the value to write. */
  readonly value: number;
  /** cas: the expected value (null: absent), or `seen`: the last value this client read or wrote on the key, as the simulator's clients do. */
  readonly expected: number | null | 'seen';
  /** The outcome. A get that is not `ok` is recorded as failed or indeterminate but reads nothing. */
  readonly fate: OpFate;
  /** Where the call falls between the client's previous return and the moment of effect, in [0, 1]. */
  readonly callSlack: number;
  /** Where the return falls between the moment of effect and the client's next operation, in [0, 1]. */
  readonly retSlack: number;
}

/** Executes `plans` in order and returns the history a client-side recorder would have seen. */
export function executePlan(plans: readonly OpPlan[]): HistoryOp[] {
  const registers = new Map<number, string | null>();
  const moment = (i: number): number => 10 * (i + 1);
  const nextMoment = plans.map((plan, i) => {
    const j = plans.findIndex((other, k) => k > i && other.client === plan.client);
    return j < 0 ? moment(i) + 20 : moment(j);
  });
  const lastOfClient = new Map<number, HistoryOp>();
  const seen = new Map<string, string | null>();
  return plans.map((plan, i) => {
    const previous = lastOfClient.get(plan.client);
    const lower = previous === undefined ? 0 : (previous.ret ?? previous.call);
    const call = lower + Math.floor(plan.callSlack * (moment(i) - lower));
    const ret = moment(i) + Math.floor(plan.retSlack * (nextMoment[i]! - 1 - moment(i)));
    const applies = plan.fate === 'ok' || plan.fate === 'indeterminate-applied';
    const current = registers.get(plan.key) ?? null;
    const status = plan.fate === 'ok' ? 'ok' : plan.fate === 'fail' ? 'fail' : 'indeterminate';
    const base = { id: i + 1, client: `c${plan.client}`, key: `k${plan.key}`, call, ret: status === 'indeterminate' ? null : ret, status } as const;
    let op: HistoryOp;
    switch (plan.kind) {
      case 'get':
        op = { ...base, kind: 'get', ...(status === 'ok' ? { value: current } : {}) };
        if (status === 'ok') seen.set(`${plan.client}/${plan.key}`, current);
        break;
      case 'put':
        op = { ...base, kind: 'put', value: String(plan.value) };
        if (applies) registers.set(plan.key, String(plan.value));
        if (status === 'ok') seen.set(`${plan.client}/${plan.key}`, String(plan.value));
        break;
      case 'cas': {
        const expected = plan.expected === 'seen' ? (seen.get(`${plan.client}/${plan.key}`) ?? null) : plan.expected === null ? null : String(plan.expected);
        const swaps = current === expected;
        op = { ...base, kind: 'cas', expected, newValue: String(plan.value), ...(status === 'ok' ? { casOk: swaps } : {}) };
        if (applies && swaps) registers.set(plan.key, String(plan.value));
        if (status === 'ok' && swaps) seen.set(`${plan.client}/${plan.key}`, String(plan.value));
        break;
      }
    }
    lastOfClient.set(plan.client, op);
    return op;
  });
}

/** Shape of a random workload for `randomPlans`. */
export interface WorkloadShape {
  /** How many operations. */
  readonly ops: number;
  /** How many clients; about this many operations are concurrent. */
  readonly clients: number;
  /** How many keys. */
  readonly keys: number;
  /** Share of puts and cas whose outcome is indeterminate (half of them applied, half lost). */
  readonly indeterminateShare: number;
  /** Share of cas among writes. */
  readonly casShare: number;
  /** Distinct values per key; 0 means every write writes a fresh value. */
  readonly values: number;
  /** What a cas expects: the client's last seen value (as the simulator does), or a random value. */
  readonly casExpected: 'seen' | 'random';
}

/** A random plan drawn from `prng`, with reads and writes in equal share. */
export function randomPlans(prng: Prng, shape: WorkloadShape): OpPlan[] {
  const plans: OpPlan[] = [];
  for (let i = 0; i < shape.ops; i++) {
    const isRead = prng.chance(0.5);
    const kind = isRead ? 'get' : prng.chance(shape.casShare) ? 'cas' : 'put';
    const pick = (): number => (shape.values === 0 ? i : prng.int(0, shape.values - 1));
    const indeterminate = !isRead && prng.chance(shape.indeterminateShare);
    plans.push({
      client: prng.int(0, shape.clients - 1),
      key: prng.int(0, shape.keys - 1),
      kind,
      value: pick(),
      expected: prng.chance(0.1) ? null : shape.casExpected === 'seen' ? 'seen' : shape.values === 0 ? prng.int(0, i) : pick(),
      fate: indeterminate ? (prng.chance(0.5) ? 'indeterminate-applied' : 'indeterminate-lost') : prng.chance(0.03) ? 'fail' : 'ok',
      callSlack: prng.float(),
      retSlack: prng.float(),
    });
  }
  return plans;
}
