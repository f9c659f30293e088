/**
 * What a sync reports: its actions, what it left alone, what failed, and the result as a
 * whole. Types only, a leaf: the errors, the plan, the sync and the command line share them.
 *
 * @packageDocumentation
 */

/** Which way a sync goes. */
export type Direction = 'download' | 'upload';

/** Why a file is transferred: absent at the destination, another size, other content, other parameters (`compareParams`). */
export type TransferReason = 'missing' | 'size' | 'checksum' | 'params';

/** Why a file is deleted: the source does not have it (mirror only). */
export type DeleteReason = 'not-in-source';

/** One step of a plan. Paths are relative to the sync root with `/` separators. */
export type SyncAction =
  | { op: 'download' | 'upload'; path: string; key: string; size: number; reason: TransferReason }
  /** S3 → S3: `key` is the destination's, `path` relative to both prefixes. */
  | { op: 'copy'; path: string; key: string; size: number; reason: TransferReason }
  | {
      op: 'delete';
      side: 'local' | 'remote';
      path: string;
      key: string;
      size: number;
      reason: DeleteReason;
    };

/**
 * An entry a sync left alone on purpose, and said so: a link leading out of the root, a
 * FIFO, socket or device, a key that cannot be a local file. Each is also logged as a warning.
 */
export interface SkippedEntry {
  /** The local tree or the listing. */
  side: 'local' | 'remote';
  /** The path relative to the root (for a remote entry, the key relative to the prefix). */
  path: string;
  /** Why, in words. */
  reason: string;
}

/** One failed file of a sync. */
export interface SyncFailure {
  /** The path relative to the sync root, with `/` separators. */
  path: string;
  /** Why it failed. */
  error: unknown;
}

/** What a sync did (or, for a dry run, would do). */
export interface SyncResult {
  /** Which way it went: `copy` for S3 → S3 ({@link S3Object.syncTo}). */
  direction: Direction | 'copy';
  /** Whether this was a dry run (nothing changed). */
  dryRun: boolean;
  /** Whether the key was a prefix (a tree) rather than one object. */
  tree: boolean;
  /** The URI (redacted). */
  uri: string;
  /** The local file or directory; for S3 → S3, the destination's URI (redacted). */
  localPath: string;
  /** Each transfer and deletion, with its reason: planned (dry run) or done. */
  actions: SyncAction[];
  /** Files found unchanged and skipped. */
  unchanged: number;
  /** Files transferred. */
  transferred: number;
  /** Files deleted (mirror). */
  deleted: number;
  /** Files that failed (a real run with failures throws {@link SyncError} carrying this result). */
  failed: number;
  /**
   * Entries left alone on purpose, each also logged as a warning: links leading out of the
   * root (unless `followSymlinks`), FIFOs, sockets and devices, keys that cannot be a local
   * file (a `dir/` object holding bytes), keys named like s3lync's temp files.
   */
  skipped: SkippedEntry[];
  /** Bytes transferred. */
  bytes: number;
  /** Local files read to compute an MD5 (the hash index spares unchanged ones). */
  hashedFiles: number;
  /** Bytes read to compute MD5s. */
  hashedBytes: number;
  /**
   * Downloads whose bytes could not be verified (an encrypted or multipart object with no
   * fingerprint, no known part layout and no checksum); each is logged as a warning.
   */
  unverified: number;
  /**
   * S3 → S3 only: paths whose two objects could not be compared (multipart ETags of other
   * layouts, or opaque ETags, and no fingerprint on one side), so they were copied (or, in
   * a dry run, would be). @default none
   */
  undecided?: string[] | undefined;
  /** Wall time in ms. */
  durationMs: number;
  /**
   * For one object (not a tree) and a real run: the object's ETag after the sync, without
   * quotes (the one just transferred, or the unchanged object's); `undefined` for trees and
   * dry runs.
   */
  etag?: string | undefined;
  /**
   * For a download the local copy served without the server confirming it now, why:
   * `'max-age'` (checked within `maxAge`), `'pinned'` (the pinned version is already here),
   * `'offline'`, or `'stale'` (`staleIfError`: the server could not be reached; a warning
   * was logged). `undefined` when the server was asked and answered.
   */
  servedFromCache?: 'max-age' | 'pinned' | 'offline' | 'stale' | undefined;
  /**
   * For an upload with `ifMatch`: whether the server enforces the precondition itself.
   * `false`: it ignores conditional writes (a warning says so), so only s3lync's check
   * before writing held, not against a write landing in between. `undefined`: no
   * precondition, or the probe could not tell.
   */
  preconditionEnforced?: boolean | undefined;
}
