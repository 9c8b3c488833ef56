/** Named limits of the etcd adapter (one place, like src/util/limits.ts). */

/** Watches one etcd Watch stream may carry at once. */
export const watchesPerStreamMax = 1_000;

/** How often a watch created with progress_notify gets a progress response while idle (etcd's default). */
export const watchProgressIntervalMs = 10 * 60 * 1000;

/** Bytes of a backup sent in one etcd SnapshotResponse blob (etcd sends 32 KiB). */
export const snapshotBlobBytesMax = 32 * 1024;
