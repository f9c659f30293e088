/**
 * The options of every public entry point: their types, a record of the keys each one
 * accepts, and the one check that refuses any other key. The records are held to their
 * types by the compiler (a key added to one and not the other fails the build), so the
 * check cannot drift from what the types promise; it runs at run time too, because a typo
 * such as `dryrun` would otherwise be ignored and a preview would transfer for real.
 *
 * @packageDocumentation
 */
import type { S3Client } from '@aws-sdk/client-s3';

import type { ChecksumAlgorithm } from './checksum.js';
import type { TimeoutOptions } from './client.js';
import { ConfigError } from './exceptions.js';
import type { PathFilter } from './excludes.js';
import type { OpenOptions } from './file.js';
import type { ProgressMode } from './progress.js';
import type { Direction } from './result.js';
import type { RetryConfig } from './retry.js';
import type { Limiter, SyncOptions } from './sync.js';
import type { ComparableParam } from './param-compare.js';
import type { CustomerKeyInput } from './sse-c.js';
import type { UploadParams, UploadParamsOption } from './upload-params.js';

/** Options of `S3Object`. */
export interface S3ObjectOptions {
  /** The local file or directory. `~` is expanded. @default `$XDG_CACHE_HOME/s3lync/<bucket>/<key>`, else `~/.cache/s3lync/...`, else `<tmpdir>/s3lync/...` */
  localPath?: string;
  /** An SDK client to use instead of building one (it keeps its own retry settings). @default one built from the URI */
  client?: S3Client;
  /** Regular expressions of relative paths to skip in tree syncs; replace the defaults. @default DEFAULT_EXCLUDES */
  excludes?: readonly (string | RegExp)[];
  /**
   * Glob filters with `aws s3` semantics, on files' paths relative to the source: every
   * file is included unless the last filter that matches it is an `exclude`. `*` also
   * matches `/`, as in `aws s3`. Applied after `excludes`, which they cannot re-include.
   * @default none
   */
  filters?: readonly PathFilter[];
  /**
   * Parameters of every object uploaded (`ContentType`, `CacheControl`, `Metadata`,
   * `Tagging`, `ServerSideEncryption`, `StorageClass`, `ACL`, …), or a function of
   * `{ key, localPath }` that chooses them per object. Checked when given (a function's
   * result before each upload); sent with every upload, never compared: unchanged bytes
   * are not uploaded again for new parameters.
   * @default none
   */
  uploadParams?: UploadParamsOption;
  /**
   * Parameters an upload also compares, for objects whose bytes are unchanged: when one
   * differs from what a HEAD of the object reports, the file is uploaded again (reason
   * `params`). Costs one HEAD per unchanged file (a listing carries no headers). Of
   * `ContentType`, `CacheControl`, `ContentEncoding`, `ContentDisposition`,
   * `ContentLanguage`, `Metadata`, `StorageClass`, `ServerSideEncryption`; the rule of each
   * is in `paramDifference`.
   * @default none: parameters alone never cause an upload
   */
  compareParams?: readonly ComparableParam[];
  /**
   * Set `Content-Type` from the key's extension (mime-types) when `uploadParams` gives
   * none; an unknown extension gets `application/octet-stream`. `false` sends none.
   * @default true
   */
  guessContentType?: boolean;
  /** How transfers are shown. @default 'progress' (falls back to 'compact' off a terminal) */
  progressMode?: ProgressMode;
  /** The retry policy of the client s3lync builds. @default { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 30000, jitter: true } */
  retry?: RetryConfig;
  /**
   * The connect and idle timeouts of the client s3lync builds (not of a `client` given): an
   * attempt that times out is retried, and the last one fails with an `S3TimeoutError`.
   * @default S3LYNC_CONNECT_TIMEOUT_MS and S3LYNC_IDLE_TIMEOUT_MS, else { connectMs: 10000, idleMs: 60000 }
   */
  timeouts?: TimeoutOptions;
  /**
   * Sends the hot requests (GetObject, PutObject, UploadPart, HeadObject, ListObjectsV2)
   * through s3lync's data lane: undici, signed by the SDK's SigV4 signer with the SDK's
   * credentials and endpoint decision, without the SDK's per-request middleware (which
   * costs more CPU than the HTTP on small files). Other requests, and any the lane cannot
   * send as the SDK would (access points, S3 Express, a redirect), go through the SDK.
   * `false` is the escape hatch for a provider that misbehaves. With a `client` given, the
   * lane would bypass the client's own middleware, so it is off unless this is `true`;
   * then `timeouts` and `maxConcurrency` bound the lane's connections. The lane starts
   * after a few transfers (loading it costs more than a few requests save: a no-op sync or
   * a one-file copy stays on the SDK); `'always'` starts it with the first request.
   * @default S3LYNC_DATA_LANE, else true for the client s3lync builds and false for a `client` given
   */
  dataLane?: boolean | 'always';
  /** The region. @default AWS_REGION, AWS_DEFAULT_REGION, the AWS profile, or us-east-1 for custom endpoints */
  region?: string;
  /** Files larger than this upload in parts. @default 8 MiB */
  multipartThreshold?: number;
  /** Part size of multipart uploads, at least 5 MiB. @default 8 MiB */
  partSize?: number;
  /** Files (and parts) in flight at once, across the whole tree. @default S3LYNC_MAX_WORKERS, else 8 */
  maxConcurrency?: number;
  /**
   * Remember local MD5s between runs so unchanged files are not hashed again: `true` keeps
   * the index in the cache directory, a string names another directory, `false` disables it.
   * @default true
   */
  hashIndex?: boolean | string;
  /**
   * Objects larger than this download as parallel ranged GETs, one per request in flight
   * (up to 4) and at least `partSize` bytes each, all pinned to one ETag with `If-Match`;
   * smaller ones in one GET.
   * @default 32 MiB
   */
  rangeThreshold?: number;
  /**
   * Also send an S3 additional checksum (`x-amz-checksum-*`) of this algorithm with every
   * upload, computed locally in the hashing pass. Servers that support it store and check it.
   * @default none (Content-MD5 and the ETag already protect uploads)
   */
  checksumAlgorithm?: ChecksumAlgorithm;
  /**
   * Bounds the files in flight together with other objects that share it (an
   * `S3ObjectManager` passes one); `pLimit(n)` from p-limit fits.
   * @default a limiter of `maxConcurrency` per sync
   */
  limiter?: Limiter;
  /**
   * How long a sync waits (ms) while another process, or another object of this one, is
   * syncing the same local path, before failing with a `LockTimeoutError`. Locks live
   * in `<cache>/.locks/`; a lock left by a dead process is broken.
   * @default Infinity (wait)
   */
  lockTimeout?: number;
  /**
   * SSE-C: the customer key of this object's objects, 32 bytes or their base64 (e.g.
   * `openssl rand -base64 32`). Every HEAD, GET (ranged too), PUT, CreateMultipartUpload
   * and UploadPart carries it with its MD5, so uploads are encrypted with it and
   * downloads, comparisons and `open()` can read them. Such an object's ETag is no MD5:
   * s3lync verifies it by its fingerprint (`x-amz-meta-s3lync-md5`, also written for
   * multipart uploads) or a checksum, and a listed ETag is never compared with an MD5.
   * The key is never echoed (messages, logs, `util.inspect`). S3 takes SSE-C over HTTPS only.
   * @default none
   */
  sseCustomerKey?: CustomerKeyInput;
  /**
   * Symbolic links in a local tree: `false` reads links to files inside the root and skips,
   * with a warning in the result and the log, links that lead out of it and links to
   * directories (so a link planted in a synced directory cannot exfiltrate a file); `true`
   * follows every link, as `aws s3 sync` does (loops excepted). Either way s3lync never
   * writes or deletes through a link.
   * @default false
   */
  followSymlinks?: boolean;
  /**
   * Pins one version of the object (as a trailing `?versionId=` in the URI does): downloads
   * and `open('r')` get exactly that version, verified, and a local copy of it is served
   * later without a request (a version never changes). Writes (upload, `open('w')`, `'a'`,
   * `'x'`, `delete()`) are refused with a `PinnedVersionError` before any request. Without
   * a `localPath`, the copy lives in `<cache>/.versions/<bucket>/<versionId>/<key>`.
   * @default the URI's `?versionId=`, else none (the latest version)
   */
  versionId?: string;
  /**
   * Freshness of a single object's local copy, in ms, like HTTP `max-age`: a download (or
   * `open('r')`) within `maxAge` of the last time s3lync checked the copy against the server
   * is served with no request. `0` always asks the server (one conditional GET when the
   * local copy is known).
   * @default 0
   */
  maxAge?: number;
  /**
   * Sends no request: downloads and `open('r')` serve the local copy as it is, a missing
   * copy is an `OfflineError`, and writes (uploads, write modes of `open()`, `delete()`)
   * are refused with an `OfflineError`.
   * @default S3LYNC_OFFLINE, else false
   */
  offline?: boolean;
  /**
   * When the server cannot be reached after the retries (no connection, a timeout, a 5xx;
   * not a 403 or 404), a download or `open('r')` serves the local copy it already has,
   * logs a warning, and `sync('download')` reports `servedFromCache: 'stale'`.
   * @default false
   */
  staleIfError?: boolean;
  /**
   * The size limit of the default cache (`<cache>/<bucket>/<key>`), in bytes or as `'10G'`,
   * `'500M'` (powers of 1024). After a download into the default cache moves bytes, the least
   * recently used cached files are evicted until the cache fits; open, locked and dirty
   * files never are, nor a `localPath` of your own outside the cache.
   * @default S3LYNC_CACHE_MAX_SIZE, else no limit
   */
  cacheMaxSize?: number | string;
}

/** Options of `S3Object.exists()`. */
export interface ExistsOptions {
  /** Cancels the check; it rejects with `signal.reason`. @default none */
  signal?: AbortSignal;
}

/** Options of `S3Object.delete()`. */
export interface DeleteOptions {
  /** Also delete the local copy. @default false */
  local?: boolean;
  /** Cancels the deletion; it rejects with `signal.reason`. @default none */
  signal?: AbortSignal;
}

/** Options given to every object a manager creates from a URI. */
export type ManagedObjectDefaults = Omit<S3ObjectOptions, 'localPath' | 'limiter' | 'versionId'>;

/** Options of `S3ObjectManager`. */
export interface S3ObjectManagerOptions {
  /**
   * Files in flight at once across every object of a batch (a large file's parts add at
   * most `maxConcurrency` of its object); also the number of objects listed and planned at
   * once.
   * @default S3LYNC_MAX_WORKERS, else 8
   */
  concurrency?: number;
  /**
   * How batches are shown: `progress` draws one overall bar for the whole batch (plus one
   * per file of 8 MiB or more), falling back to `compact` off a terminal; `compact` prints
   * a line per finished file; `disabled` nothing.
   * @default 'progress'
   */
  progressMode?: ProgressMode;
  /**
   * Options for every object added by URI; the options given to `add()` override them.
   * Objects with the same endpoint, credentials, region, retry policy and timeouts share one SDK
   * client, unless these give a `client`.
   * @default {}
   */
  defaults?: ManagedObjectDefaults;
}

/** Options of `S3ObjectManager.add`: those of `S3Object`, plus `id` and `direction`. */
export interface AddOptions extends Omit<S3ObjectOptions, 'limiter'> {
  /** The object's name in snapshots, events and reports. @default its URI, redacted */
  id?: string;
  /** Which way `syncAll()` syncs it. @default 'download' */
  direction?: Direction;
}

/**
 * Options of a batch sync: those of `S3Object.sync()`, applied to every object.
 * `onProgress` receives the events of every file of the batch, with `overall` counting
 * the whole batch; `progressMode` overrides the manager's for this batch.
 */
export type BatchOptions = Omit<SyncOptions, 'limiter'>;

/** Options of `S3ObjectManager.deleteAll`. */
export interface DeleteAllOptions {
  /** Also delete each object's local copy. @default false */
  local?: boolean;
  /** Cancels the batch; it rejects with `signal.reason` once every object has settled. @default none */
  signal?: AbortSignal;
}

/** Options of `S3ObjectManager.existsAll`. */
export interface ExistsAllOptions {
  /** Cancels the batch; it rejects with `signal.reason` once every object has settled. @default none */
  signal?: AbortSignal;
}

/** The keys an entry point accepts, each `true`. */
export type KeyRecord<K extends PropertyKey> = Readonly<Record<K, true>>;

/**
 * Holds a record derived from another (by spread or {@link without}) to exactly the keys
 * `K`: `satisfies` sees missing keys there, but extra ones only in a literal.
 */
function exactKeys<K extends PropertyKey>() {
  return <R extends KeyRecord<K>>(record: R & Record<Exclude<keyof R, K>, never>): R =>
    Object.freeze(record);
}

/** `record` without `keys`. */
function without<R extends object, K extends keyof R>(record: R, ...keys: K[]): Omit<R, K> {
  return Object.fromEntries(
    Object.entries(record).filter(([key]) => !(keys as PropertyKey[]).includes(key)),
  ) as Omit<R, K>;
}

/** The keys of {@link S3ObjectOptions}. */
export const S3_OBJECT_OPTION_KEYS = Object.freeze({
  localPath: true,
  client: true,
  excludes: true,
  filters: true,
  uploadParams: true,
  guessContentType: true,
  compareParams: true,
  progressMode: true,
  retry: true,
  timeouts: true,
  dataLane: true,
  region: true,
  multipartThreshold: true,
  partSize: true,
  maxConcurrency: true,
  hashIndex: true,
  rangeThreshold: true,
  checksumAlgorithm: true,
  limiter: true,
  lockTimeout: true,
  sseCustomerKey: true,
  followSymlinks: true,
  versionId: true,
  maxAge: true,
  offline: true,
  staleIfError: true,
  cacheMaxSize: true,
} as const satisfies KeyRecord<keyof S3ObjectOptions>);

/** The keys of `SyncOptions` a caller may give (`sync()`, `download()`, `upload()`). */
export const SYNC_OPTION_KEYS = Object.freeze({
  useChecksum: true,
  excludes: true,
  filters: true,
  uploadParams: true,
  guessContentType: true,
  compareParams: true,
  progressMode: true,
  followSymlinks: true,
  mirror: true,
  maxDelete: true,
  dryRun: true,
  signal: true,
  onProgress: true,
  onVerified: true,
  ifMatch: true,
  limiter: true,
} as const satisfies KeyRecord<keyof SyncOptions>);

/** The keys of {@link UploadParams}. */
export const UPLOAD_PARAM_KEYS = Object.freeze({
  ContentType: true,
  CacheControl: true,
  ContentEncoding: true,
  ContentDisposition: true,
  ContentLanguage: true,
  Expires: true,
  Metadata: true,
  Tagging: true,
  ServerSideEncryption: true,
  SSEKMSKeyId: true,
  SSECustomerAlgorithm: true,
  SSECustomerKey: true,
  StorageClass: true,
  ACL: true,
} as const satisfies KeyRecord<keyof UploadParams>);

/** The keys of `OpenOptions`. */
export const OPEN_OPTION_KEYS = exactKeys<keyof OpenOptions>()(
  without(SYNC_OPTION_KEYS, 'dryRun', 'mirror', 'maxDelete'),
);

/** The keys of {@link ExistsOptions}. */
export const EXISTS_OPTION_KEYS = Object.freeze({
  signal: true,
} as const satisfies KeyRecord<keyof ExistsOptions>);

/** The keys of {@link DeleteOptions}. */
export const DELETE_OPTION_KEYS = Object.freeze({
  local: true,
  signal: true,
} as const satisfies KeyRecord<keyof DeleteOptions>);

/** The keys of {@link S3ObjectManagerOptions}. */
export const MANAGER_OPTION_KEYS = Object.freeze({
  concurrency: true,
  progressMode: true,
  defaults: true,
} as const satisfies KeyRecord<keyof S3ObjectManagerOptions>);

/** The keys of {@link ManagedObjectDefaults}. */
export const MANAGED_DEFAULTS_KEYS = exactKeys<keyof ManagedObjectDefaults>()(
  without(S3_OBJECT_OPTION_KEYS, 'localPath', 'limiter', 'versionId'),
);

/** Why the object options that {@link ManagedObjectDefaults} lacks cannot be defaults. */
export const NOT_MANAGED_DEFAULTS = Object.freeze({
  localPath: 'every object would share one local path; give `localPath` to add()',
  limiter: 'the manager bounds every object with its own limiter (`concurrency`)',
  versionId: 'every object would pin one version; give `versionId` (or `?versionId=`) to add()',
} as const satisfies Record<Exclude<keyof S3ObjectOptions, keyof ManagedObjectDefaults>, string>);

/** The keys of {@link AddOptions}. */
export const ADD_OPTION_KEYS = exactKeys<keyof AddOptions>()({
  ...without(S3_OBJECT_OPTION_KEYS, 'limiter'),
  id: true,
  direction: true,
});

/** The keys of {@link BatchOptions}. */
export const BATCH_OPTION_KEYS = exactKeys<keyof BatchOptions>()(
  without(SYNC_OPTION_KEYS, 'limiter'),
);

/** The keys of {@link DeleteAllOptions}. */
export const DELETE_ALL_OPTION_KEYS = exactKeys<keyof DeleteAllOptions>()(DELETE_OPTION_KEYS);

/** The keys of {@link ExistsAllOptions}. */
export const EXISTS_ALL_OPTION_KEYS = exactKeys<keyof ExistsAllOptions>()(EXISTS_OPTION_KEYS);

const quoted = (keys: readonly string[]): string => keys.map((k) => `\`${k}\``).join(', ');

/**
 * Refuses options that are not an object, or that hold a key the entry point does not
 * accept. Run before anything is sent.
 *
 * @param accepted - the keys the entry point accepts, in the order the message lists them.
 * @param what - the options in messages: `options of download()`, `` `defaults` ``.
 * @param refused - keys refused with a reason of their own.
 * @throws {ConfigError} naming the unknown key(s) and listing the accepted ones.
 */
export function checkOptions(
  options: unknown,
  accepted: KeyRecord<string>,
  what: string,
  refused: Readonly<Record<string, string>> = {},
): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(
      `Expected the ${what} to be an object, got ${JSON.stringify(options)} (${options === null ? 'null' : typeof options})`,
    );
  }
  const keys = Object.keys(options);
  for (const key of keys) {
    const why = Object.hasOwn(refused, key) ? refused[key] : undefined;
    if (why !== undefined)
      throw new ConfigError(`Unsupported option \`${key}\` in ${what}: ${why}`);
  }
  const unknown = keys.filter((key) => !Object.hasOwn(accepted, key));
  if (unknown.length > 0) {
    throw new ConfigError(
      `Unknown option${unknown.length === 1 ? '' : 's'} ${quoted(unknown)} in the ${what}; expected one of ${quoted(Object.keys(accepted))}`,
    );
  }
}
