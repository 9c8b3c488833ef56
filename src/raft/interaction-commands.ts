/**
 * The command language of the golden-file interaction tests (`src/raft/testdata/*.txt`), after
 * etcd-io/raft's `rafttest` handlers. Node arguments are ids (`n1`); `key=value` set options.
 *
 *   add-nodes <count> [voters=(n1,..)] [learners=(..)] [pre-vote=bool] [check-quorum=bool]
 *             [election-ticks=N] [heartbeat-ticks=N] [inflight-max=N] [append-bytes-max=N]
 *       New nodes n<k>, n<k+1>, ...; their disks start with that membership (default: the new
 *       nodes as voters; `voters=()` for a node that joins and must learn it from a snapshot).
 *   campaign <node>              tick the node until it becomes (pre-)candidate
 *   tick-election <node>...      electionTicks ticks each (no Ready is handled)
 *   tick-heartbeat <node>...     heartbeatTicks ticks each
 *   tick <node> count=N          N ticks
 *   process-ready [<node>...]    handle one Ready on each node (all nodes if none given)
 *   deliver-msgs [<node>...] [drop=true]
 *                                step the messages queued now for those nodes (all if none)
 *   stabilize                    Readys and deliveries everywhere until nothing moves
 *   propose <node> <data>...     one proposal per word, without a Ready in between
 *   propose-conf-change <node> <addVoter|addLearner|removeNode> <id>
 *   read-index <node> <context>...
 *   transfer-leader <node> <target>
 *   compact <node> <index>       snapshot at the applied index, discard the log up to index
 *   status [<node>...]           role, term, commit, applied, log bounds, membership, progress
 *   raft-log <node>...           the node's disk: snapshot and stable entries
 *   isolate <node> | cut <a> <b> | heal
 *
 * Documented failures of the core's API (a proposal dropped, a refused change) are printed as
 * `error: <code>: <message>`; anything else (an assertion in the core, a mistake in the file)
 * fails the test.
 */
import { FailedPreconditionError, logIndex, nodeId, ProposalDroppedError } from '../util/index.js';
import type { TestCase } from './datadriven.js';
import { findArg } from './datadriven.js';
import { InteractionEnv } from './interaction-env.js';
import type { TestNodeOptions } from './test-network.js';
import type { ConfChange, ConfState } from './types.js';

/** The bare words of a case (arguments without `=`), e.g. the node ids. */
function words(c: TestCase): string[] {
  return c.args.filter((a) => a.values.length === 0).map((a) => a.key);
}

function word(c: TestCase, position: number, what: string): string {
  const w = words(c)[position];
  if (w === undefined) throw new Error(`line ${c.line}: ${c.command} needs ${what}`);
  return w;
}

function intArg(c: TestCase, key: string): number | undefined {
  const arg = findArg(c, key);
  if (arg === undefined) return undefined;
  const n = Number(arg.values[0]);
  if (arg.values.length !== 1 || !Number.isSafeInteger(n) || n < 0) throw new Error(`line ${c.line}: ${key} must be a non-negative integer`);
  return n;
}

function boolArg(c: TestCase, key: string): boolean | undefined {
  const arg = findArg(c, key);
  if (arg === undefined) return undefined;
  const value = arg.values[0];
  if (arg.values.length !== 1 || (value !== 'true' && value !== 'false')) throw new Error(`line ${c.line}: ${key} must be true or false`);
  return value === 'true';
}

function nodeOptions(c: TestCase): TestNodeOptions {
  const options: { -readonly [K in keyof TestNodeOptions]: TestNodeOptions[K] } = {};
  const preVote = boolArg(c, 'pre-vote');
  const checkQuorum = boolArg(c, 'check-quorum');
  const electionTicks = intArg(c, 'election-ticks');
  const heartbeatTicks = intArg(c, 'heartbeat-ticks');
  const inflightMax = intArg(c, 'inflight-max');
  const appendBytesMax = intArg(c, 'append-bytes-max');
  if (preVote !== undefined) options.preVote = preVote;
  if (checkQuorum !== undefined) options.checkQuorum = checkQuorum;
  if (electionTicks !== undefined) options.electionTicks = electionTicks;
  if (heartbeatTicks !== undefined) options.heartbeatTicks = heartbeatTicks;
  if (inflightMax !== undefined) options.inflightAppendsMax = inflightMax;
  if (appendBytesMax !== undefined) options.appendBytesMax = appendBytesMax;
  return options;
}

function membership(c: TestCase): ConfState | null {
  const voters = findArg(c, 'voters');
  const learners = findArg(c, 'learners');
  if (voters === undefined && learners === undefined) return null;
  return { voters: (voters?.values ?? []).map(nodeId), learners: (learners?.values ?? []).map(nodeId) };
}

const changeTypes: readonly ConfChange['type'][] = ['addVoter', 'addLearner', 'removeNode'];

function confChange(c: TestCase): ConfChange {
  const type = word(c, 1, 'a change type') as ConfChange['type'];
  if (!changeTypes.includes(type)) throw new Error(`line ${c.line}: change type must be one of ${changeTypes.join(', ')}`);
  return { type, nodeId: nodeId(word(c, 2, 'a node id')), context: new Uint8Array(0) };
}

/** The `key=value` options each command accepts. */
const optionKeys: Readonly<Record<string, readonly string[]>> = {
  'add-nodes': ['voters', 'learners', 'pre-vote', 'check-quorum', 'election-ticks', 'heartbeat-ticks', 'inflight-max', 'append-bytes-max'],
  'deliver-msgs': ['drop'],
  tick: ['count'],
};

/** Runs `call`, printing the core's documented refusals instead of failing. */
function refusable(call: () => string): string {
  try {
    return call();
  } catch (e) {
    if (e instanceof ProposalDroppedError || e instanceof FailedPreconditionError) return `error: ${e.code}: ${e.message}`;
    throw e;
  }
}

/** The interpreter of one test file: a fresh environment, then one `handle` per case. */
export class InteractionRunner {
  readonly env = new InteractionEnv();

  /** Runs one case and returns its output ("ok" for a command that prints nothing). */
  handle(c: TestCase): string {
    const lines = this.dispatch(c);
    return lines.length === 0 ? 'ok' : lines.join('\n');
  }

  private nodesOrAll(c: TestCase): string[] {
    const ids = words(c);
    return ids.length > 0 ? ids : this.env.ids();
  }

  private dispatch(c: TestCase): string[] {
    const env = this.env;
    const ids = words(c);
    // A misspelt option must fail the file, not be ignored.
    const allowed = optionKeys[c.command] ?? [];
    for (const arg of c.args) {
      if (arg.values.length > 0 && !allowed.includes(arg.key)) throw new Error(`line ${c.line}: ${c.command} has no option ${arg.key}`);
    }
    if (c.input.length > 0) throw new Error(`line ${c.line}: ${c.command} takes no input lines`);
    switch (c.command) {
      case 'add-nodes':
        return env.addNodes(Number(word(c, 0, 'a count')), membership(c), nodeOptions(c));
      case 'campaign':
        return [env.campaign(word(c, 0, 'a node'))];
      case 'tick-election':
      case 'tick-heartbeat':
      case 'tick':
        word(c, 0, 'a node');
        for (const id of ids) {
          const config = env.node(id).configuration();
          const count = c.command === 'tick' ? (intArg(c, 'count') ?? 1) : c.command === 'tick-election' ? config.electionTicks : config.heartbeatTicks;
          env.tick(id, count);
        }
        return [];
      case 'process-ready':
        return env.processReady(this.nodesOrAll(c));
      case 'deliver-msgs':
        return env.deliver(this.nodesOrAll(c), boolArg(c, 'drop') ?? false);
      case 'stabilize':
        if (ids.length > 0) throw new Error(`line ${c.line}: stabilize runs every node and takes no node`);
        return env.stabilize();
      case 'propose': {
        const raw = env.node(word(c, 0, 'a node')).raw;
        return ids.slice(1).map((data) => refusable(() => {
          const { index, term } = raw.propose(new TextEncoder().encode(data));
          return `proposed ${JSON.stringify(data)} at ${index}/${term}`;
        }));
      }
      case 'propose-conf-change': {
        const raw = env.node(word(c, 0, 'a node')).raw;
        const change = confChange(c);
        return [refusable(() => {
          const { index, term } = raw.proposeConfChange(change);
          return `proposed ${change.type} ${change.nodeId} at ${index}/${term}`;
        })];
      }
      case 'read-index': {
        const raw = env.node(word(c, 0, 'a node')).raw;
        return ids.slice(1).map((context) => refusable(() => {
          raw.readIndex(context);
          return `read ${JSON.stringify(context)} requested`;
        }));
      }
      case 'transfer-leader':
        env.node(word(c, 0, 'a node')).raw.transferLeader(nodeId(word(c, 1, 'a target')));
        return [];
      case 'compact':
        return env.compact(word(c, 0, 'a node'), logIndex(Number(word(c, 1, 'an index'))));
      case 'status':
        return this.nodesOrAll(c).flatMap((id) => env.status(id));
      case 'raft-log':
        return this.nodesOrAll(c).flatMap((id) => [`${id}:`, ...env.raftLog(id).map((l) => `  ${l}`)]);
      case 'isolate':
        env.isolate(word(c, 0, 'a node'));
        return [];
      case 'cut':
        env.cut(word(c, 0, 'a node'), word(c, 1, 'another node'));
        return [];
      case 'heal':
        env.heal();
        return [];
      default:
        throw new Error(`line ${c.line}: unknown command ${JSON.stringify(c.command)}`);
    }
  }
}
