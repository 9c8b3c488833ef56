/**
 * A simulated client: one operation at a time (get, put of a unique value, or compare-and-swap)
 * over a handful of keys. It talks to the node it believes is the leader, follows leader hints,
 * and retries on another node after a timeout. Writes are exactly-once: every attempt of one write
 * carries the same (clientId, seq), and ackSeq = seq - 1 (the client has finished every earlier
 * operation, answered or given up).
 *
 * Final statuses, as the checker wants them:
 * - a write answered by the state machine: ok (or fail for a refusal that changed nothing);
 * - a write that never got an answer, after any attempt that may have been proposed: indeterminate;
 * - a write every attempt of which was refused before proposing (not leader, dropped): fail;
 * - a read without an answer by the deadline: fail.
 */
import type { TxnOp, WriteOp } from '../../src/kv/index.js';
import type { Prng } from '../../src/util/index.js';
import type { EventQueue } from './event-queue.js';
import type { HistoryRecorder, OpAnswer, OpRequest } from './history.js';
import type { SimParams } from './params.js';
import type { ClientRequest, ClientResponse } from './protocol.js';

/** What a client needs from the simulation. */
export interface ClientHost {
  readonly queue: EventQueue;
  readonly params: SimParams;
  readonly history: HistoryRecorder;
  /** Every node a client may talk to. */
  nodeIds(): readonly string[];
  /** Sends a request to a node (lost if the node is down when it arrives). */
  send(node: string, request: ClientRequest): void;
  trace: ((line: string) => void) | null;
}

/** Options of one client. */
export interface ClientOptions {
  /** A fixed list of operations to run instead of random ones (the liveness probe). */
  readonly script?: readonly OpRequest[];
  /** Overall deadline of one operation (defaults to the run's `opDeadlineUs`). */
  readonly opDeadlineUs?: number;
  /** Called with each operation's final answer. */
  readonly onFinish?: (request: OpRequest, answer: OpAnswer) => void;
}

/** The operation in flight. */
interface Running {
  readonly histId: number;
  readonly request: OpRequest;
  /** Exactly-once sequence number (writes only). */
  readonly seq: number;
  readonly deadlineUs: number;
  /** The reqId of the current attempt: answers to older attempts are ignored. */
  reqId: number;
  /** True once an attempt may have been proposed without a definite answer. */
  uncertain: boolean;
  attempts: number;
}

const utf8 = new TextEncoder();

/** One simulated client. */
export class SimClient {
  private running: Running | null = null;
  private target: string;
  private seq = 0;
  private opCounter = 0;
  private reqCounter = 0;
  private stopped = false;
  private scriptPos = 0;
  /** The last value this client saw for each key (its guess for compare-and-swap). */
  private readonly lastSeen = new Map<string, string | null>();
  /** Operations this client finished (statistics). */
  finished = 0;

  constructor(
    readonly name: string,
    private readonly host: ClientHost,
    private readonly prng: Prng,
    private readonly keys: readonly string[],
    private readonly options: ClientOptions = {},
  ) {
    const nodes = host.nodeIds();
    this.target = nodes[prng.int(0, nodes.length - 1)] as string;
  }

  /** True when no operation is in flight and none will start. */
  get idle(): boolean {
    return this.running === null && (this.stopped || (this.options.script !== undefined && this.scriptPos >= this.options.script.length));
  }

  /** Starts issuing operations after `delayUs`. */
  start(delayUs: number): void {
    this.host.queue.schedule(delayUs, `start ${this.name}`, () => this.next());
  }

  /** Finishes the operation in flight, then issues no more. */
  stop(): void {
    this.stopped = true;
  }

  private next(): void {
    if (this.stopped || this.running !== null) return;
    const request = this.chooseOp();
    if (request === null) return;
    const now = this.host.queue.now();
    const histId = this.host.history.invoke(this.name, request, now);
    const seq = request.kind === 'get' ? 0 : ++this.seq;
    this.running = { histId, request, seq, deadlineUs: now + (this.options.opDeadlineUs ?? this.host.params.opDeadlineUs), reqId: 0, uncertain: false, attempts: 0 };
    this.host.trace?.(`${this.name} invokes #${histId} ${describeRequest(request)}`);
    this.attempt();
  }

  private chooseOp(): OpRequest | null {
    const script = this.options.script;
    if (script !== undefined) return script[this.scriptPos++] ?? null;
    const key = this.keys[this.prng.int(0, this.keys.length - 1)] as string;
    const unique = `${this.name}-${++this.opCounter}`;
    const r = this.prng.float();
    if (r < 0.4) return { kind: 'get', key };
    if (r < 0.75) return { kind: 'put', key, value: unique };
    const seen = this.lastSeen.get(key);
    return { kind: 'cas', key, expected: seen === undefined || this.prng.chance(0.1) ? null : seen, newValue: unique };
  }

  private attempt(): void {
    const op = this.running;
    if (op === null) return;
    const now = this.host.queue.now();
    if (now >= op.deadlineUs) {
      this.finish(op.request.kind !== 'get' && op.uncertain ? { status: 'indeterminate' } : { status: 'fail' });
      return;
    }
    const reqId = ++this.reqCounter;
    op.reqId = reqId;
    op.attempts++;
    const request: ClientRequest =
      op.request.kind === 'get'
        ? { kind: 'read', reqId, client: this.name, key: op.request.key }
        : { kind: 'write', reqId, client: this.name, seq: op.seq, ackSeq: op.seq - 1, op: writeOpFor(op.request) };
    this.host.send(this.target, request);
    this.host.queue.schedule(this.host.params.attemptTimeoutUs, `timeout ${this.name} ${reqId}`, () => {
      if (this.running !== op || op.reqId !== reqId) return;
      // The request may have been proposed: a write's outcome is now unknown until answered.
      if (op.request.kind !== 'get') op.uncertain = true;
      this.target = this.otherNode(this.target);
      this.attempt();
    });
  }

  /** An answer from a node. */
  receive(response: ClientResponse): void {
    const op = this.running;
    if (op === null || response.reqId !== op.reqId) return;
    switch (response.type) {
      case 'written':
        this.onWritten(op, response.result);
        return;
      case 'value':
        this.lastSeen.set(op.request.key, response.value);
        this.finish({ status: 'ok', value: response.value });
        return;
      case 'notLeader':
        this.target = response.leader !== null && response.leader !== this.target ? response.leader : this.otherNode(this.target);
        this.retry(op, response.leader !== null ? 0 : this.prng.int(10_000, 50_000));
        return;
      case 'dropped':
        this.target = this.otherNode(this.target);
        this.retry(op, this.prng.int(10_000, 50_000));
        return;
      case 'unknown':
        op.uncertain = true;
        this.target = this.otherNode(this.target);
        this.retry(op, this.prng.int(10_000, 50_000));
        return;
    }
  }

  private onWritten(op: Running, result: Extract<ClientResponse, { type: 'written' }>['result']): void {
    const req = op.request;
    if (result.type === 'error') {
      // A refusal changed nothing, except FAILED_PRECONDITION on a replay and SESSION_EXPIRED
      // (the session of an earlier attempt is gone: that attempt may have applied; see ErrorResult): unknown.
      this.finish(result.code === 'FAILED_PRECONDITION' || result.code === 'SESSION_EXPIRED' ? { status: 'indeterminate' } : { status: 'fail' });
      return;
    }
    if (req.kind === 'put') {
      this.lastSeen.set(req.key, req.value);
      this.finish({ status: 'ok' });
    } else if (req.kind === 'cas') {
      const casOk = result.type === 'txn' && result.succeeded;
      if (casOk) this.lastSeen.set(req.key, req.newValue);
      else this.lastSeen.delete(req.key);
      this.finish({ status: 'ok', casOk });
    }
  }

  private retry(op: Running, delayUs: number): void {
    const reqId = op.reqId;
    // Invalidate the current attempt so its timeout does nothing.
    op.reqId = -1;
    this.host.queue.schedule(delayUs, `retry ${this.name} ${reqId}`, () => {
      if (this.running === op) this.attempt();
    });
  }

  private finish(answer: OpAnswer): void {
    const op = this.running;
    if (op === null) return;
    const now = this.host.queue.now();
    this.host.history.complete(op.histId, answer, now);
    this.host.trace?.(`${this.name} completes #${op.histId} ${describeRequest(op.request)}: ${describeAnswer(answer)} after ${op.attempts} attempt(s)`);
    this.running = null;
    this.finished++;
    this.options.onFinish?.(op.request, answer);
    if (this.stopped) return;
    this.host.queue.schedule(this.prng.int(5_000, 60_000), `think ${this.name}`, () => this.next());
  }

  private otherNode(current: string): string {
    const nodes = this.host.nodeIds();
    if (nodes.length < 2) return current;
    let pick = current;
    while (pick === current) pick = nodes[this.prng.int(0, nodes.length - 1)] as string;
    return pick;
  }
}

/** The KV write operation for a put or a cas. */
function writeOpFor(req: Exclude<OpRequest, { kind: 'get' }>): WriteOp {
  const key = utf8.encode(req.key);
  if (req.kind === 'put') return { type: 'put', key, value: utf8.encode(req.value) };
  const txn: TxnOp = {
    type: 'txn',
    compares: [req.expected === null ? { key, target: 'createRevision', op: '=', value: 0 } : { key, target: 'value', op: '=', value: utf8.encode(req.expected) }],
    success: [{ type: 'put', key, value: utf8.encode(req.newValue) }],
    failure: [],
  };
  return txn;
}

/** Describes a request for the trace. */
export function describeRequest(r: OpRequest): string {
  switch (r.kind) {
    case 'get':
      return `get ${r.key}`;
    case 'put':
      return `put ${r.key}=${r.value}`;
    case 'cas':
      return `cas ${r.key} ${r.expected ?? '(absent)'}->${r.newValue}`;
  }
}

function describeAnswer(a: OpAnswer): string {
  if (a.status !== 'ok') return a.status;
  if (a.casOk !== undefined) return a.casOk ? 'ok (swapped)' : 'ok (not swapped)';
  return a.value !== undefined ? `ok ${a.value ?? '(absent)'}` : 'ok';
}
