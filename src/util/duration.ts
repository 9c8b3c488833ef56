/**
 * Durations as Go writes them (`300ms`, `1.5h`, `1h30m`, `2m3.5s`; units ns, us/µs, ms, s, m, h),
 * the syntax etcd, Prometheus and Kubernetes users type, plus a bare number meaning milliseconds
 * (what raftkv's `...Ms` options always took).
 *
 * A small parser rather than a library: `ms` and `parse-duration` accept forms Go refuses ("1 hr",
 * "2 days", "1hr") and `ms` refuses compound ones (`1m30s`); `duration-js` follows Go but adds days
 * and weeks and rejects a bare number. This accepts exactly Go's `time.ParseDuration` grammar,
 * without a sign (no raftkv duration is negative), and nothing else.
 */
import { InvalidArgumentError } from './errors.js';

const unitMs: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const whole = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/** Milliseconds of a Go duration or a bare number of milliseconds; throws `InvalidArgumentError` naming `field`. */
export function parseDurationMs(text: string, field = 'duration'): number {
  const t = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(t)) return Number(t);
  if (t === '' || !whole.test(t)) throw new InvalidArgumentError(field, `expected a duration such as 500ms, 5s, 1m30s or 1h (or a number of milliseconds), got ${JSON.stringify(text)}`);
  let ms = 0;
  for (const m of t.matchAll(part)) ms += Number(m[1]) * (unitMs[m[2] ?? ''] ?? Number.NaN);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(field, `${JSON.stringify(text)} is too long a duration`);
  return ms;
}

/** `90000` → `1m30s`: the shortest Go form of a whole number of milliseconds (for help texts). */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return rest > 0 ? `${out}${rest}ms` : out;
}
