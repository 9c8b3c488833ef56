/**
 * Expected failures of the peer transport. They never cross the client API: the transport logs
 * them, counts them and reports a failed snapshot through `onSnapshotStatus(peer, false)`.
 */

/** Bytes from a peer that do not decode to a valid Raft message, batch or chunk. */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
  /** A stable, machine-readable code. */
  readonly code = 'MALFORMED_MESSAGE';
}

/** Why a snapshot transfer failed. */
export type SnapshotFailure =
  /** The length or SHA-256 of the received bytes does not match what the sender announced. */
  | 'checksum'
  /** A chunk was malformed, out of order, too large, or misaddressed. */
  | 'malformed'
  /** The stream ended, was cancelled or timed out before the last chunk. */
  | 'interrupted'
  /** The receiving node refused or failed to install the snapshot. */
  | 'refused'
  /** The receiver is busy with as many transfers as it accepts at once. */
  | 'busy';

/** A snapshot transfer that failed; `reason` says how. */
export class SnapshotTransferError extends Error {
  override readonly name = 'SnapshotTransferError';
  /** A stable, machine-readable code. */
  readonly code = 'SNAPSHOT_TRANSFER_FAILED';
  constructor(
    /** How the transfer failed. */
    readonly reason: SnapshotFailure,
    message: string,
  ) {
    super(`${reason}: ${message}`);
  }
}
