import { describe, expect, it } from 'vitest';
import { NodeMetrics } from '../src/server/metrics.js';

describe('NodeMetrics', () => {
  it('collects the process metrics once per process, however many nodes start in it', async () => {
    // Each collectDefaultMetrics call starts an event-loop monitor and a GC observer that never
    // stop; the simulator starts thousands of drivers in one worker thread.
    const a = new NodeMetrics();
    const b = new NodeMetrics();
    const lagA = a.registry.getSingleMetric('nodejs_eventloop_lag_seconds');
    expect(lagA).toBeDefined();
    expect(b.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).toBe(lagA);
    // Each node still exports them, under the standard names, next to its own metrics.
    const text = await b.registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('raftkv_build_info');
  });

  it('leaves the process metrics out when asked (simulated nodes have no process of their own)', () => {
    const m = new NodeMetrics({ processMetrics: false });
    expect(m.registry.getSingleMetric('process_cpu_seconds_total')).toBeUndefined();
    expect(m.registry.getSingleMetric('raftkv_term')).toBeDefined();
  });
});
