// The peer-link proxy passes, delays, blackholes (silently, then resets on heal) and drops (resets and refuses) real TCP traffic.
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProxy, passingLink } from './link-proxy.js';

let echo: Server;
let echoPort = 0;
const proxies: LinkProxy[] = [];

beforeAll(async () => {
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const a = echo.address();
  echoPort = typeof a === 'object' && a ? a.port : 0;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await new Promise((r) => echo.close(r));
});

async function proxy(): Promise<LinkProxy> {
  const p = new LinkProxy({ listenHost: '127.0.0.1', listenPort: 0, targetHost: '127.0.0.1', targetPort: echoPort, random: () => 0.5 });
  await p.start();
  proxies.push(p);
  return p;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `text` and resolves with the echo, or with null after `waitMs`. Also resolves null when the socket closes. */
function roundTrip(s: Socket, text: string, waitMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let got = '';
    const done = (v: string | null): void => {
      clearTimeout(timer);
      s.off('data', onData);
      resolve(v);
    };
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) done(got);
    };
    const timer = setTimeout(() => done(null), waitMs);
    s.on('data', onData);
    s.once('close', () => done(null));
    s.once('error', () => done(null));
    s.write(text);
  });
}

describe('LinkProxy', () => {
  it('passes traffic both ways', async () => {
    const p = await proxy();
    const s = await open(p.port);
    expect(await roundTrip(s, 'hello', 2000)).toBe('hello');
    s.destroy();
  });

  it('delays each direction by the configured latency, in order', async () => {
    const p = await proxy();
    const s = await open(p.port);
    p.set({ ...passingLink, delayMs: 150, jitterMs: 0 });
    const started = Date.now();
    expect(await roundTrip(s, 'abc', 3000)).toBe('abc');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    p.set(passingLink);
    const again = Date.now();
    expect(await roundTrip(s, 'def', 3000)).toBe('def');
    expect(Date.now() - again).toBeLessThan(150);
    s.destroy();
  });

  it('blackholes silently, then resets the poisoned connection when healed', async () => {
    const p = await proxy();
    const s = await open(p.port);
    expect(await roundTrip(s, 'before', 2000)).toBe('before');
    p.set({ ...passingLink, mode: 'blackhole' });
    expect(await roundTrip(s, 'lost', 400)).toBeNull();
    expect(s.destroyed).toBe(false);
    // A connection made during the blackhole is accepted and swallowed too.
    const during = await open(p.port);
    expect(await roundTrip(during, 'x', 300)).toBeNull();
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    p.set(passingLink);
    await closed;
    const fresh = await open(p.port);
    expect(await roundTrip(fresh, 'after', 2000)).toBe('after');
    fresh.destroy();
    during.destroy();
    expect(p.counters.chunksDiscarded).toBeGreaterThan(0);
  });

  it('drops: resets open connections and refuses new ones until healed', async () => {
    const p = await proxy();
    const s = await open(p.port);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => {});
    p.set({ ...passingLink, mode: 'drop' });
    await closed;
    const refused = await open(p.port).then(
      (c) => roundTrip(c, 'nope', 500),
      () => null,
    );
    expect(refused).toBeNull();
    expect(p.counters.connectionsRefused).toBeGreaterThan(0);
    p.set(passingLink);
    const fresh = await open(p.port);
    expect(await roundTrip(fresh, 'back', 2000)).toBe('back');
    fresh.destroy();
  });
});
