// Proves the duration parser takes Go's syntax (and bare milliseconds) and nothing else.
import { describe, expect, it } from 'vitest';
import { formatDurationMs, parseDurationMs } from './duration.js';

describe('durations', () => {
  it('parses Go durations and bare milliseconds', () => {
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('1.5h')).toBe(5_400_000);
    expect(parseDurationMs('2h45m')).toBe(9_900_000);
    expect(parseDurationMs('300ms')).toBe(300);
    expect(parseDurationMs('1h2m3s4ms')).toBe(3_723_004);
    expect(parseDurationMs('.5s')).toBe(500);
    expect(parseDurationMs('1500us')).toBeCloseTo(1.5);
    expect(parseDurationMs('2000000ns')).toBeCloseTo(2);
    expect(parseDurationMs(' 5000 ')).toBe(5000);
  });

  it('refuses what Go refuses, naming the field', () => {
    for (const bad of ['', '1 m', '1hr', '2d', '1w', '-1s', '+1s', 'm', '1m30', 's1', '1.2.3s', 'forever']) {
      expect(() => parseDurationMs(bad, 'timeout'), bad).toThrow(/timeout: expected a duration/);
    }
  });

  it('formats whole milliseconds the Go way', () => {
    expect(formatDurationMs(90_000)).toBe('1m30s');
    expect(formatDurationMs(3_600_000)).toBe('1h');
    expect(formatDurationMs(50)).toBe('50ms');
    expect(formatDurationMs(600_000)).toBe('10m');
    expect(formatDurationMs(0)).toBe('0s');
  });
});
