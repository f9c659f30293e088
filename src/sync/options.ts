/**
 * The options of a sync and what it needs to know about the object it syncs.
 *
 * @packageDocumentation
 */
import type { CachePolicy } from '../cache/freshness.js';
import type { ChecksumAlgorithm } from '../checksum.js';
import type { S3lyncClient } from '../client.js';
import type { ExcludeMatcher, PathFilter } from '../excludes.js';
import type { ProgressCallback, ProgressMode } from '../progress.js';
import type { SkippedEntry, SyncFailure } from '../result.js';
import type { ComparableParam } from '../param-compare.js';
import type { ParamsFor, UploadParamsOption } from '../upload-params.js';

/** Options of a sync (`download()`, `upload()`, `sync()`). */
export interface SyncOptions {
  /** Compare MD5s to skip unchanged files; without it, equal sizes count as unchanged. @default true */
  useChecksum?: boolean;
  /** Extra excludes for this call, added to the object's. @default none */
  excludes?: readonly (string | RegExp)[];
  /** Glob filters for this call, after the object's (so they win where both match). @default none */
  filters?: readonly PathFilter[];
  /** Replaces the object's `uploadParams` for this call. @default the object's */
  uploadParams?: UploadParamsOption;
  /** Overrides the object's `guessContentType` for this call. @default the object's */
  guessContentType?: boolean;
  /** Replaces the object's `compareParams` for this call. @default the object's */
  compareParams?: readonly ComparableParam[];
  /** Overrides the object's progress mode for this call. @default the object's */
  progressMode?: ProgressMode;
  /** Overrides the object's `followSymlinks` for this call. @default the object's */
  followSymlinks?: boolean;
  /** Delete what the source lacks at the destination (excluded paths never). @default false */
  mirror?: boolean;
  /**
   * Refuse a mirror that would delete more than this many files, before anything changes.
   * With a finite value, transfers wait until the listing is complete (so a refusal changes
   * nothing); otherwise they start as the pages of the listing arrive. Deletions always wait
   * for the whole listing and every transfer.
   * @default Infinity
   */
  maxDelete?: number;
  /** Plan only: return what would be done, change nothing. @default false */
  dryRun?: boolean;
  /** Cancels the sync; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal;
  /** Receives progress events. @default none */
  onProgress?: ProgressCallback;
  /**
   * Called for each source path whose destination is proven to hold its bytes after the
   * run: found equal by content, or transferred and verified (`mv` deletes only these).
   * Not called in a dry run, nor for files compared by size alone (`useChecksum: false`).
   * @default none
   */
  onVerified?: (path: string) => void;
  /**
   * Lost-update protection for the upload of one file: `true` replaces the object only if
   * it still has the ETag this `S3Object` last saw (by its last download or upload), a
   * string only if it has that ETag. Otherwise the upload fails with {@link ConflictError}
   * and the object is left as it is. Needs a server with conditional writes (AWS, Ceph).
   * @default false
   */
  ifMatch?: boolean | string;
  /**
   * Bounds this call's files together with other calls that share it (an
   * `S3ObjectManager` passes one to every object of a batch); overrides the object's.
   * @default the object's `limiter`, else a limiter of `maxConcurrency` per sync
   */
  limiter?: Limiter;
}

/** What s3lync itself tells a sync, never a caller. */
export interface SyncInternals {
  /** The ETag `ifMatch` resolved to (`null`: the object must not exist). @default none */
  expectedEtag?: string | null | undefined;
}

/** What a sync needs from the object it syncs. */
export interface SyncTarget {
  client: S3lyncClient;
  bucket: string;
  key: string;
  localPath: string;
  uri: string;
  describe: (key: string) => string;
  maxConcurrency: number;
  partSize: number;
  multipartThreshold: number;
  progressMode: ProgressMode;
  excludes: readonly string[];
  /** Glob filters (`aws s3` semantics), after the regex excludes. */
  filters?: readonly PathFilter[] | undefined;
  /** The parameters of each upload (content type guessed, checked); none without it. */
  paramsFor?: ParamsFor | undefined;
  /** Parameters an upload compares with a HEAD of each unchanged object; none without it. */
  compareParams?: readonly ComparableParam[] | undefined;
  /** Where hash indexes live; `undefined` disables the index. */
  indexDir: string | undefined;
  /** A limiter shared with other syncs (a batch); else one of `maxConcurrency` per sync. */
  limiter?: Limiter | undefined;
  /** Also send this S3 additional checksum with uploads. */
  checksumAlgorithm?: ChecksumAlgorithm | undefined;
  /** Objects larger than this download as parallel ranged GETs. */
  rangeThreshold?: number | undefined;
  /** Follow symbolic links that lead out of the root or to directories. */
  followSymlinks?: boolean | undefined;
  /** Pinned version, `maxAge`, offline, stale-if-error; without it, every download asks. */
  cache?: CachePolicy | undefined;
}

/**
 * Runs tasks with bounded concurrency; `pLimit(n)` from p-limit is one. Share one between
 * objects to bound the files in flight across all of them.
 */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** What the layout and the listing need from the run, and where they report. */
export interface Scope {
  isExcluded: ExcludeMatcher;
  signal: AbortSignal | undefined;
  followSymlinks: boolean;
  /** Entries refused (a key outside the prefix, an absurd size). */
  failures: SyncFailure[];
  /** Entries left alone on purpose, with why. */
  skipped: SkippedEntry[];
}
