/**
 * What this machine can do for fault injection: root, network namespaces, a packet filter
 * (iptables or nft) usable inside a namespace, and the `netem` queueing discipline for latency and
 * loss. Each probe runs in a throwaway `rkvj-probe-<pid>` namespace that is removed at once.
 */
import { run } from './run-registry.js';
import { removeNamespace } from './run-registry.js';

/** The probes' results. */
export interface NetCapabilities {
  readonly root: boolean;
  /** `ip netns add` works (and `ip netns exec`). */
  readonly netns: boolean;
  /** The packet filter usable inside a namespace, if any. */
  readonly filter: 'iptables' | 'nft' | null;
  /** `tc qdisc ... netem` works (the kernel has sch_netem). */
  readonly netem: boolean;
  /** Why netns is unusable, when it is. */
  readonly reasons: readonly string[];
}

let cached: NetCapabilities | null = null;

/** Probes once per process. */
export function detectCapabilities(): NetCapabilities {
  if (cached) return cached;
  const reasons: string[] = [];
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) reasons.push('not running as root');
  const hasIp = run('ip', ['-V']) !== null;
  if (!hasIp) reasons.push('`ip` (iproute2) not installed');
  let netns = false;
  let filter: NetCapabilities['filter'] = null;
  let netem = false;
  if (root && hasIp) {
    const probe = `rkvj-probe-${process.pid}`;
    removeNamespace(probe);
    if (run('ip', ['netns', 'add', probe]) !== null && run('ip', ['netns', 'exec', probe, 'ip', 'link', 'set', 'lo', 'up']) !== null) {
      netns = true;
      // RKVJ_FILTER=iptables|nft|none restricts the choice (to test each partition method on one machine).
      const wanted = process.env.RKVJ_FILTER;
      if (wanted !== 'nft' && wanted !== 'none' && run('ip', ['netns', 'exec', probe, 'iptables', '-w', '-L', 'INPUT', '-n']) !== null) filter = 'iptables';
      else if (wanted !== 'iptables' && wanted !== 'none' && run('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset']) !== null) filter = 'nft';
      netem = run('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']) !== null;
    } else {
      reasons.push('`ip netns add` failed (no CAP_SYS_ADMIN or no netns support)');
    }
    removeNamespace(probe);
  }
  cached = { root, netns, filter, netem, reasons };
  return cached;
}
