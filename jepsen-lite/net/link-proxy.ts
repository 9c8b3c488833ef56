/**
 * A userspace TCP proxy for one directed link (node i's connections to node j). It needs no
 * privileges and can pass traffic, drop it (reset every connection and refuse new ones), blackhole
 * it (accept and discard silently, like a firewall DROP), or delay it (each chunk is held for a
 * latency plus jitter, in order). Loss cannot be emulated byte-wise on a TCP stream without
 * corrupting it, so `lossRate` is emulated as what loss does to TCP: a chunk is held for an extra
 * retransmission timeout (`retransmitMs`) with that probability.
 */
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** What the link does to traffic. */
export type LinkMode = 'pass' | 'drop' | 'blackhole';

/** The link's full state. */
export interface LinkState {
  readonly mode: LinkMode;
  /** One-way latency added to every chunk, in ms (0: none). */
  readonly delayMs: number;
  /** Uniform random extra latency in [0, jitterMs). */
  readonly jitterMs: number;
  /** Probability that a chunk is held for an extra `retransmitMs` (emulated packet loss). */
  readonly lossRate: number;
}

/** A link that passes everything at once. */
export const passingLink: LinkState = Object.freeze({ mode: 'pass', delayMs: 0, jitterMs: 0, lossRate: 0 });

/** Options of one proxy. */
export interface LinkProxyOptions {
  /** Where to listen (host). */
  readonly listenHost: string;
  /** Port to listen on; 0 picks a free one. */
  readonly listenPort: number;
  /** Where traffic goes. */
  readonly targetHost: string;
  readonly targetPort: number;
  /** Extra delay of a "lost" chunk (TCP's minimum retransmission timeout is 200 ms on Linux). */
  readonly retransmitMs?: number;
  /** Random numbers in [0, 1) (seeded by the caller for reproducible runs). */
  readonly random?: () => number;
}

/** One proxied connection: the accepted socket and its upstream. */
interface Pair {
  readonly down: Socket;
  readonly up: Socket;
  /** Set once the pair saw traffic discarded: it can never carry a clean stream again. */
  poisoned: boolean;
  /** Per direction: the time the last chunk is due, so delayed chunks keep their order. */
  dueUp: number;
  dueDown: number;
  closed: boolean;
}

/** The proxy. `start()` before use, `close()` after. */
export class LinkProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private linkState: LinkState = passingLink;
  private readonly random: () => number;
  private readonly retransmitMs: number;
  /** The port actually listened on (after `start()`). */
  port = 0;
  /** Chunks forwarded, discarded, and connections refused, for the run summary. */
  readonly counters = { chunksForwarded: 0, chunksDiscarded: 0, connectionsRefused: 0, connectionsAccepted: 0 };

  constructor(private readonly options: LinkProxyOptions) {
    this.random = options.random ?? Math.random;
    this.retransmitMs = options.retransmitMs ?? 200;
  }

  /** The current state. */
  get state(): LinkState {
    return this.linkState;
  }

  /** Listens; resolves with the port. */
  async start(): Promise<number> {
    const server = createServer((down) => this.accept(down));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listenPort, this.options.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this.port;
  }

  /**
   * Changes what the link does. Leaving `drop` or `blackhole` resets the connections that lost
   * traffic, so the endpoints reconnect with clean streams (as after a TCP connection timed out).
   */
  set(state: LinkState): void {
    const previous = this.linkState;
    this.linkState = state;
    if (state.mode === 'drop') {
      for (const pair of this.pairs) this.destroy(pair);
    } else if (state.mode === 'pass' && previous.mode !== 'pass') {
      for (const pair of this.pairs) if (pair.poisoned) this.destroy(pair);
    }
  }

  /** Stops listening and destroys every connection and pending chunk. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const pair of this.pairs) this.destroy(pair);
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(down: Socket): void {
    if (this.linkState.mode === 'drop') {
      this.counters.connectionsRefused++;
      down.on('error', () => {});
      down.resetAndDestroy();
      return;
    }
    this.counters.connectionsAccepted++;
    const up = createConnection({ host: this.options.targetHost, port: this.options.targetPort });
    const pair: Pair = { down, up, poisoned: this.linkState.mode === 'blackhole', dueUp: 0, dueDown: 0, closed: false };
    this.pairs.add(pair);
    down.setNoDelay(true);
    up.setNoDelay(true);
    down.on('data', (chunk: Buffer) => this.forward(pair, chunk, 'up'));
    up.on('data', (chunk: Buffer) => this.forward(pair, chunk, 'down'));
    const end = (): void => this.destroy(pair);
    for (const s of [down, up]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  private forward(pair: Pair, chunk: Buffer, direction: 'up' | 'down'): void {
    const state = this.linkState;
    if (state.mode !== 'pass' || pair.poisoned) {
      // A blackholed (or once-blackholed) connection swallows everything silently.
      pair.poisoned = true;
      this.counters.chunksDiscarded++;
      return;
    }
    const target = direction === 'up' ? pair.up : pair.down;
    let extra = state.delayMs + (state.jitterMs > 0 ? this.random() * state.jitterMs : 0);
    if (state.lossRate > 0 && this.random() < state.lossRate) extra += this.retransmitMs;
    if (extra <= 0 && (direction === 'up' ? pair.dueUp : pair.dueDown) <= Date.now()) {
      this.counters.chunksForwarded++;
      target.write(chunk);
      return;
    }
    const now = Date.now();
    const due = Math.max(now + extra, direction === 'up' ? pair.dueUp : pair.dueDown);
    if (direction === 'up') pair.dueUp = due;
    else pair.dueDown = due;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (pair.closed || pair.poisoned) return;
      this.counters.chunksForwarded++;
      target.write(chunk);
    }, due - now);
    this.timers.add(timer);
  }

  private destroy(pair: Pair): void {
    if (pair.closed) return;
    pair.closed = true;
    this.pairs.delete(pair);
    pair.down.destroy();
    pair.up.destroy();
  }
}
