/** Named limits of the etcd adapter (one place, like src/util/limits.ts). */

/**
 * Put{ignore_value} reads the key and writes its value back only if the key did not change in
 * between (a compare on its mod revision); a key written that often in between is refused with
 * etcd's "too many requests" after this many tries.
 */
export const ignoreValueAttemptsMax = 8;

/** Watches one etcd Watch stream may carry at once. */
export const watchesPerStreamMax = 1_000;

/** How often a watch created with progress_notify gets a progress response while idle (etcd's default). */
export const watchProgressIntervalMs = 10 * 60 * 1000;

/** Bytes of a backup sent in one etcd SnapshotResponse blob (etcd sends 32 KiB). */
export const snapshotBlobBytesMax = 32 * 1024;
