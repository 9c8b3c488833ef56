// Proves the heartbeat round trip is measured from the oldest unanswered heartbeat, once per
// response, per peer, and that losing leadership forgets what was pending.
import { describe, expect, it } from 'vitest';
import { nodeId } from '../../util/index.js';
import { PeerRoundTrips } from './peer-round-trips.js';

describe('PeerRoundTrips', () => {
  it('measures from the oldest unanswered heartbeat, once, per peer', () => {
    const rtt = new PeerRoundTrips();
    const [a, b] = [nodeId('n2'), nodeId('n3')];
    expect(rtt.answered(a, 5)).toBeNull();
    rtt.sent(a, 100);
    rtt.sent(a, 150); // lost or not yet answered: the first one's time stays
    rtt.sent(b, 120);
    expect(rtt.answered(a, 180)).toBe(80);
    expect(rtt.answered(a, 190)).toBeNull(); // a second response answers nothing pending
    expect(rtt.answered(b, 125)).toBe(5);
    rtt.sent(a, 200);
    rtt.clear();
    expect(rtt.answered(a, 210)).toBeNull();
  });
});
