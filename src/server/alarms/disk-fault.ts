/**
 * Disk faults as a typed classification: which storage failures raise the NOSPACE alarm (and are
 * recovered from in process, see docs/design-notes.md "Alarms") instead of stopping the node.
 * A full disk (ENOSPC, EDQUOT) and a failing one (EIO, EROFS, LevelDB's "IO error") qualify;
 * anything else (a bug, corrupt data, a failed assertion) stays fatal: reopening would not help.
 */
import { OverloadedError } from '../../util/index.js';

/** A classified disk fault. */
export interface DiskFault {
  /** `nospace`: the disk or quota is full; `io`: the device failed or went read-only. */
  readonly kind: 'nospace' | 'io';
  /** The error code that decided it (ENOSPC, EIO, LEVEL_IO_ERROR...). */
  readonly code: string;
  /** The underlying message, for the alarm's reason. */
  readonly message: string;
}

/** Named limits of the NOSPACE recovery. */
export const diskAlarmLimits = Object.freeze({
  /** The first probe for space after a fault, and the step of the back-off. */
  probeIntervalMs: 1_000,
  /** The longest wait between probes. */
  probeIntervalMsMax: 10_000,
  /** The probe writes (and syncs, then removes) a file this large before reopening storage. */
  probeBytes: 1024 * 1024,
  /** How deep the cause chain is searched. */
  causeDepthMax: 8,
});

const nospaceCodes = new Set(['ENOSPC', 'EDQUOT']);
const ioCodes = new Set(['EIO', 'EROFS', 'LEVEL_IO_ERROR']);
const nospaceText = /no space left on device|disk quota exceeded|ENOSPC/i;
const ioText = /\bIO error\b|input\/output error|read-only file system/i;

/**
 * The disk fault behind `e` (searching its cause chain), or null if it is not one. The deepest
 * match names it: storage wraps the OS error ("refused: an earlier write failed (...)").
 */
export function classifyDiskFault(e: unknown): DiskFault | null {
  let nospace: DiskFault | null = null;
  let io: DiskFault | null = null;
  let current: unknown = e;
  for (let depth = 0; depth < diskAlarmLimits.causeDepthMax && current instanceof Error; depth++) {
    const code = 'code' in current && typeof current.code === 'string' ? current.code : '';
    // A full disk wins over a generic IO error anywhere in the chain: LevelDB reports ENOSPC as
    // LEVEL_IO_ERROR with the OS message inside.
    if (nospaceCodes.has(code) || nospaceText.test(current.message)) nospace = { kind: 'nospace', code: nospaceCodes.has(code) ? code : 'ENOSPC', message: current.message };
    else if (ioCodes.has(code) || ioText.test(current.message)) io = { kind: 'io', code: code || 'EIO', message: current.message };
    current = current.cause;
  }
  return nospace ?? io;
}

/** A write refused because this node holds the NOSPACE alarm: nothing was proposed (not applied). */
export class NoSpaceAlarmError extends OverloadedError {
  constructor(reason: string) {
    super(`NOSPACE alarm: this node cannot write to its data dir (${reason}); the write was not applied (outcome: not applied). Free disk space: the node clears the alarm on its own once writes succeed again, or run \`raftkv alarm disarm\``, diskAlarmLimits.probeIntervalMs);
  }
}
