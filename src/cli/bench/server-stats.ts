/**
 * What the nodes spent during a benchmark: CPU seconds, resident memory and leader changes, read
 * either from the nodes' processes (pids on this machine: /proc, Linux) or from each node's
 * /metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `raftkv_leader_changes_total`), which works for remote nodes too. A figure no source gives is
 * null, never a guess.
 */
import { readFileSync } from 'node:fs';

/** One node's counters at one moment. */
export interface NodeSample {
  readonly node: string;
  readonly cpuSeconds: number | null;
  readonly rssBytes: number | null;
  readonly leaderChanges: number | null;
}

/** Where the figures come from. */
export interface StatsSources {
  /** Node name to pid (this machine). */
  readonly pids: ReadonlyMap<string, number>;
  /** Node name to its /metrics URL. */
  readonly metricsUrls: ReadonlyMap<string, string>;
}

/** Longest wait for one node's /metrics, in ms. */
const metricsTimeoutMs = 3000;
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const clockTicksPerS = 100;

/** Samples every node named by either source. */
export async function sampleNodes(sources: StatsSources): Promise<NodeSample[]> {
  const names = [...new Set([...sources.pids.keys(), ...sources.metricsUrls.keys()])].sort();
  return Promise.all(
    names.map(async (node) => {
      const pid = sources.pids.get(node);
      const url = sources.metricsUrls.get(node);
      const fromMetrics = url === undefined ? null : await scrape(url);
      const fromProc = pid === undefined ? null : procSample(pid);
      return {
        node,
        cpuSeconds: fromProc?.cpuSeconds ?? fromMetrics?.get('process_cpu_seconds_total') ?? null,
        rssBytes: fromProc?.rssBytes ?? fromMetrics?.get('process_resident_memory_bytes') ?? null,
        leaderChanges: fromMetrics?.get('raftkv_leader_changes_total') ?? null,
      };
    }),
  );
}

/** What changed between two samples of the same nodes. */
export interface StatsDelta {
  /** Summed over nodes; null if any node's is unknown. */
  readonly cpuSeconds: number | null;
  /** Most leader changes seen by one node (each node counts the same change). */
  readonly leaderChanges: number | null;
  /** Resident memory of each node at the end. */
  readonly rssBytes: Readonly<Record<string, number | null>>;
}

export function delta(before: readonly NodeSample[], after: readonly NodeSample[]): StatsDelta {
  let cpu: number | null = after.length > 0 ? 0 : null;
  let changes: number | null = null;
  const rss: Record<string, number | null> = {};
  for (const a of after) {
    const b = before.find((x) => x.node === a.node);
    rss[a.node] = a.rssBytes;
    if (cpu !== null) cpu = a.cpuSeconds !== null && b?.cpuSeconds != null ? cpu + (a.cpuSeconds - b.cpuSeconds) : null;
    if (a.leaderChanges !== null && b?.leaderChanges != null) changes = Math.max(changes ?? 0, a.leaderChanges - b.leaderChanges);
  }
  return { cpuSeconds: cpu, leaderChanges: changes, rssBytes: rss };
}

function procSample(pid: number): { cpuSeconds: number; rssBytes: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): utime is 14th, stime 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rssKb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(rssKb)) return null;
    return { cpuSeconds: ticks / clockTicksPerS, rssBytes: rssKb * 1024 };
  } catch {
    return null;
  }
}

/** The unlabelled samples of a Prometheus text page, by metric name; null if it cannot be read. */
async function scrape(url: string): Promise<Map<string, number> | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(metricsTimeoutMs) });
    if (!res.ok) return null;
    return parsePrometheusText(await res.text());
  } catch {
    return null;
  }
}

/** Metric name to value, for lines without labels (`name value`). */
export function parsePrometheusText(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)/.exec(line);
    if (m !== null) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}
