/** The shape every jepsen-lite check reports in. */

/** One check's outcome. */
export interface CheckOutcome {
  /** For example `linearizability`, `lost-writes`, `elements`, `bank`, `convergence`, `availability`. */
  readonly name: string;
  /** False if the check found a violation (or could not decide, for linearizability). */
  readonly ok: boolean;
  /** One line for the summary. */
  readonly summary: string;
  /** Up to a few dozen lines explaining violations, for the report. */
  readonly problems: readonly string[];
  /** Structured data for results.json and the report. */
  readonly data?: unknown;
}
