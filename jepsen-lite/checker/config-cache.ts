/**
 * Lowe's cache of search configurations ("Testing for linearizability", Lowe 2017, §3): a
 * configuration is the set of operations linearized so far and the model state they produced.
 * Reaching a configuration a second time by another order cannot succeed where the first
 * visit failed, so the search prunes it.
 *
 * The cache also prunes dominated configurations. Indeterminate operations never return, so
 * leaving one unused never forces anything: a configuration with the same definite operations
 * and state that used FEWER operations of each indeterminate class (see `IndeterminateClass`) can
 * do everything this one can. Without this, k pending indeterminate writes overwritten by a later
 * put give 2^k configurations that differ only in which of them were spent.
 */

/** One (state, definite set) pair and the class-usage vectors seen with it. */
interface CacheEntry {
  readonly state: number;
  readonly definite: Uint32Array;
  /** Invariant: an antichain (no vector is component-wise <= another). */
  used: Uint32Array[];
}

/** Visited configurations, hashed by state and definite set. */
export class ConfigCache {
  private readonly buckets = new Map<number, CacheEntry[]>();
  /** How many configurations were recorded: the search's explored-state count. */
  size = 0;

  /**
   * Records the configuration and returns true if no recorded one dominates it; returns false
   * (and records nothing) if the search should prune it. `used` counts the operations used per
   * indeterminate class. `hash` must be a function of `state` and `definite` only. The arrays are
   * copied.
   */
  add(hash: number, state: number, definite: Uint32Array, used: Uint32Array): boolean {
    let bucket = this.buckets.get(hash);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(hash, bucket);
    }
    const entry = bucket.find((e) => e.state === state && equalWords(e.definite, definite));
    if (entry === undefined) {
      bucket.push({ state, definite: definite.slice(), used: [used.slice()] });
      this.size++;
      return true;
    }
    if (entry.used.some((seen) => atMost(seen, used))) return false;
    // Recorded vectors above the new one are dominated by it from now on.
    entry.used = entry.used.filter((seen) => !atMost(used, seen));
    entry.used.push(used.slice());
    this.size++;
    return true;
  }
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True if a[i] <= b[i] for every i. */
function atMost(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i]! > b[i]!) return false;
  return true;
}
