/**
 * `S3Object`: one S3 object (or prefix) mapped to a local path.
 *
 * @packageDocumentation
 */
import path from 'node:path';
import { inspect } from 'node:util';

import type { S3Client } from '@aws-sdk/client-s3';

import { createS3Client, S3lyncClient, timeoutsFor, type TimeoutOptions } from './client.js';
import { parsePositiveInt, readEnvConfig } from './config.js';
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './checksum.js';
import { ConfigError, LockTimeoutError, NotFoundError, S3ObjectError } from './exceptions.js';
import { DEFAULT_EXCLUDES, patternSource } from './excludes.js';
import { openS3File, type OpenMode, type OpenOptions, type S3File } from './file.js';
import { removeLocalCopy } from './local-root.js';
import { acquireLock, lockFileFor, type Lock } from './lock.js';
import { getLogger, registerSecret } from './logging.js';
import { removeOrphanTempsOf } from './recovery.js';
import { validateProgressMode, type ProgressMode } from './progress.js';
import { resolveRetryConfig, type RetryConfig } from './retry.js';
import { runSync, uploadNew, type Limiter, type SyncOptions, type SyncTarget } from './sync.js';
import {
  cacheRoot,
  defaultLocalPath,
  expandHome,
  formatS3Uri,
  parseS3Uri,
  type ParsedS3Uri,
} from './utils.js';
import type { Direction, SyncResult } from './result.js';

const log = getLogger('core');

/** Files larger than this upload in parts. @default 8 MiB */
export const DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024;
/** The part size of multipart uploads. @default 8 MiB */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Objects larger than this download as parallel ranged GETs. @default 32 MiB */
export const DEFAULT_RANGE_THRESHOLD = 32 * 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** Options of {@link S3Object}. */
export interface S3ObjectOptions {
  /** The local file or directory. `~` is expanded. @default `$XDG_CACHE_HOME/s3lync/<bucket>/<key>`, else `~/.cache/s3lync/...`, else `<tmpdir>/s3lync/...` */
  localPath?: string;
  /** An SDK client to use instead of building one (it keeps its own retry settings). @default one built from the URI */
  client?: S3Client;
  /** Regular expressions of relative paths to skip in tree syncs; replace the defaults. @default DEFAULT_EXCLUDES */
  excludes?: readonly (string | RegExp)[];
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
   * Objects larger than this download as parallel ranged GETs of `partSize` bytes (up to 4
   * in flight), all pinned to one ETag with `If-Match`; smaller ones in one GET.
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
   * syncing the same local path, before failing with a {@link LockTimeoutError}. Locks live
   * in `<cache>/.locks/`; a lock left by a dead process is broken.
   * @default Infinity (wait)
   */
  lockTimeout?: number;
  /**
   * Symbolic links in a local tree: `false` reads links to files inside the root and skips,
   * with a warning in the result and the log, links that lead out of it and links to
   * directories (so a link planted in a synced directory cannot exfiltrate a file); `true`
   * follows every link, as `aws s3 sync` does (loops excepted). Either way s3lync never
   * writes or deletes through a link.
   * @default false
   */
  followSymlinks?: boolean;
}

/** A `{ bucket, key }` location plus the client to reach it. */
interface Resolved {
  parsed: ParsedS3Uri;
  client: S3lyncClient;
}

/**
 * One S3 object, or a whole prefix, mapped to a local path.
 *
 * ```ts
 * const obj = new S3Object('s3://bucket/data/model.bin');
 * const local = await obj.download(); // skipped when the cache is already equal
 * ```
 */
export class S3Object {
  /** The bucket. */
  readonly bucket: string;
  /** The key (a trailing `/` marks a prefix). */
  readonly key: string;
  /** The local file or directory. */
  readonly localPath: string;
  /** The URI with the secret key replaced by `***`. */
  readonly uri: string;
  /** The progress mode used unless a call overrides it. */
  readonly progressMode: ProgressMode;
  /** Files larger than this upload in parts. */
  readonly multipartThreshold: number;
  /** Part size of multipart uploads. */
  readonly partSize: number;
  /** Files (and parts) in flight at once. */
  readonly maxConcurrency: number;
  /** Objects larger than this download in parallel ranges. */
  readonly rangeThreshold: number;
  /** Whether a tree sync follows links out of the root and into directories. */
  readonly followSymlinks: boolean;
  /** How long a sync waits for the lock of {@link S3Object.localPath} (ms). */
  readonly lockTimeout: number;
  readonly #resolved: Resolved;
  readonly #lockDir: string;
  readonly #indexDir: string | undefined;
  readonly #limiter: Limiter | undefined;
  readonly #checksumAlgorithm: ChecksumAlgorithm | undefined;
  /** The ETag this object last saw for a single file (`null`: seen absent). */
  #lastSeenEtag: string | null | undefined;
  #excludes: string[];

  /**
   * @param uri - any of the forms in {@link ACCEPTED_URI_FORMS}.
   * @throws {InvalidUriError} for a URI s3lync cannot parse.
   * @throws {ConfigError} for an invalid option or environment variable.
   */
  constructor(uri: string, options: S3ObjectOptions = {}) {
    const parsed = parseS3Uri(uri);
    if (parsed.credentials) registerSecret(parsed.credentials.secretAccessKey);
    const env = readEnvConfig();
    this.bucket = parsed.bucket;
    this.key = parsed.key;
    this.uri = formatS3Uri(parsed);
    this.progressMode = validateProgressMode(options.progressMode ?? 'progress');
    this.maxConcurrency =
      options.maxConcurrency === undefined
        ? env.maxWorkers
        : parsePositiveInt(options.maxConcurrency, 'maxConcurrency');
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new ConfigError(
        `Expected \`partSize\` to be an integer >= ${MIN_PART_SIZE} (5 MiB), got ${JSON.stringify(options.partSize)} (${typeof options.partSize})`,
      );
    }
    this.multipartThreshold = options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
    if (!Number.isInteger(this.multipartThreshold) || this.multipartThreshold < 0) {
      throw new ConfigError(
        `Expected \`multipartThreshold\` to be an integer >= 0, got ${JSON.stringify(options.multipartThreshold)} (${typeof options.multipartThreshold})`,
      );
    }
    this.followSymlinks = options.followSymlinks ?? false;
    if (typeof this.followSymlinks !== 'boolean') {
      throw new ConfigError(
        `Expected \`followSymlinks\` to be a boolean, got ${JSON.stringify(options.followSymlinks)} (${typeof options.followSymlinks})`,
      );
    }
    this.rangeThreshold = options.rangeThreshold ?? DEFAULT_RANGE_THRESHOLD;
    if (!Number.isInteger(this.rangeThreshold) || this.rangeThreshold < 0) {
      throw new ConfigError(
        `Expected \`rangeThreshold\` to be an integer >= 0, got ${JSON.stringify(options.rangeThreshold)} (${typeof options.rangeThreshold})`,
      );
    }
    this.lockTimeout = options.lockTimeout ?? Number.POSITIVE_INFINITY;
    if (
      typeof this.lockTimeout !== 'number' ||
      Number.isNaN(this.lockTimeout) ||
      this.lockTimeout < 0
    ) {
      throw new ConfigError(
        `Expected \`lockTimeout\` to be a number of ms >= 0, got ${JSON.stringify(options.lockTimeout)} (${typeof options.lockTimeout})`,
      );
    }
    const retryConfig = resolveRetryConfig(options.retry);
    const timeouts = timeoutsFor(options.timeouts, env);
    this.localPath =
      options.localPath !== undefined
        ? expandHome(options.localPath, env.home)
        : defaultLocalPath(parsed.bucket, parsed.key, env);
    const sdk =
      options.client ??
      createS3Client({
        endpoint: parsed.endpoint,
        credentials: parsed.credentials,
        region: options.region ?? env.region,
        retry: retryConfig,
        timeouts,
      });
    const describe = (bucket: string, key: string): string =>
      formatS3Uri({ ...parsed, bucket, key });
    this.#resolved = { parsed, client: new S3lyncClient(sdk, { retry: retryConfig, describe }) };
    this.#excludes = (options.excludes ?? DEFAULT_EXCLUDES).map(patternSource);
    this.#limiter = options.limiter;
    const alg = options.checksumAlgorithm;
    if (alg !== undefined && !CHECKSUM_ALGORITHMS.includes(alg)) {
      throw new ConfigError(
        `Expected \`checksumAlgorithm\` to be one of ${CHECKSUM_ALGORITHMS.join(', ')}, got ${JSON.stringify(alg)} (${typeof alg})`,
      );
    }
    this.#checksumAlgorithm = alg;
    this.#lockDir = path.join(cacheRoot(env), '.locks');
    const hashIndex = options.hashIndex ?? true;
    this.#indexDir =
      hashIndex === false
        ? undefined
        : typeof hashIndex === 'string'
          ? expandHome(hashIndex, env.home)
          : path.join(cacheRoot(env), '.index');
  }

  /** The s3lync client (the door to S3) this object uses. */
  get client(): S3lyncClient {
    return this.#resolved.client;
  }

  /** What {@link runSync} needs to know about this object. */
  #target(): SyncTarget {
    return {
      client: this.#resolved.client,
      bucket: this.bucket,
      key: this.key,
      localPath: this.localPath,
      uri: this.uri,
      describe: (key) => formatS3Uri({ ...this.#resolved.parsed, key }),
      maxConcurrency: this.maxConcurrency,
      partSize: this.partSize,
      multipartThreshold: this.multipartThreshold,
      progressMode: this.progressMode,
      excludes: this.#excludes,
      indexDir: this.#indexDir,
      limiter: this.#limiter,
      checksumAlgorithm: this.#checksumAlgorithm,
      rangeThreshold: this.rangeThreshold,
      followSymlinks: this.followSymlinks,
    };
  }

  /**
   * Syncs in one direction and reports what was done (or, with `dryRun`, what would be):
   * each transfer and deletion with its reason, counts and bytes.
   *
   * @throws {NotFoundError} when downloading a key that is neither an object nor a prefix.
   * @throws {LocalPathError} when uploading a local path that does not exist.
   * @throws {SyncError} when some files failed; the others were transferred, and `result` says so.
   */
  async sync(direction: Direction, options: SyncOptions = {}): Promise<SyncResult> {
    const { ifMatch, ...rest } = options;
    let expectedEtag: string | null | undefined;
    // Only an upload can overwrite; a download with the same options ignores it.
    if (direction === 'upload' && ifMatch !== undefined && ifMatch !== false) {
      expectedEtag = ifMatch === true ? this.#lastSeenEtag : ifMatch;
      if (expectedEtag === undefined) {
        throw new ConfigError(
          `upload({ ifMatch: true }) of ${this.uri}: this object has not seen the object's ETag yet; download() it first or pass the ETag`,
        );
      }
    }
    try {
      const run = (): Promise<SyncResult> =>
        runSync(this.#target(), direction, { ...rest, expectedEtag });
      // A dry run changes nothing, so it need not wait for a sync in progress.
      const result = rest.dryRun === true ? await run() : await this.#locked(run, rest.signal);
      if (!result.tree && !result.dryRun) this.#lastSeenEtag = result.etag ?? null;
      return result;
    } catch (error) {
      if (error instanceof NotFoundError && direction === 'download' && !this.key.endsWith('/')) {
        this.#lastSeenEtag = null;
      }
      throw error;
    }
  }

  /**
   * Brings the object, or the tree under the prefix, to {@link S3Object.localPath},
   * transferring only what changed. Each download lands in a temp file, is verified
   * against the ETag of the response that delivered it, and only then replaces the file.
   *
   * @returns the local path (the plan, with `dryRun: true`).
   * @throws {NotFoundError} when the key is neither an object nor a prefix.
   * @throws {HashMismatchError} when the bytes received do not match (after retries).
   * @throws {SyncError} when some files of a tree failed.
   */
  download(options?: SyncOptions & { dryRun?: false }): Promise<string>;
  /** Plans a download without changing anything. */
  download(options: SyncOptions & { dryRun: true }): Promise<SyncResult>;
  async download(options: SyncOptions = {}): Promise<string | SyncResult> {
    const result = await this.sync('download', options);
    return result.dryRun ? result : this.localPath;
  }

  /**
   * Sends the local file, or the tree under the local directory, to the object or prefix,
   * transferring only what changed. Small files go in one PUT checked by `Content-MD5`;
   * files above the multipart threshold go in parallel parts. Either way the result is
   * verified against what the server reports.
   *
   * @returns the URI, redacted (the plan, with `dryRun: true`).
   * @throws {LocalPathError} when the local path does not exist.
   * @throws {SyncError} when some files of a tree failed.
   */
  upload(options?: SyncOptions & { dryRun?: false }): Promise<string>;
  /** Plans an upload without changing anything. */
  upload(options: SyncOptions & { dryRun: true }): Promise<SyncResult>;
  async upload(options: SyncOptions = {}): Promise<string | SyncResult> {
    const result = await this.sync('upload', options);
    return result.dryRun ? result : this.uri;
  }

  /**
   * Uploads `sourcePath` as a new object, refused by the server if the key exists.
   *
   * @internal the `open('x')` path.
   */
  async uploadNew(sourcePath: string, options: SyncOptions = {}): Promise<void> {
    await this.#locked(() => uploadNew(this.#target(), sourcePath, options), options.signal);
  }

  /**
   * Runs `fn` holding the lock of the local path, so two processes (or objects) syncing the
   * same path take turns. Without a writable cache there is no lock, and a warning says so:
   * each file still lands by rename, so the lock saves work, not data.
   */
  async #locked<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let lock: Lock | undefined;
    try {
      lock = await acquireLock(lockFileFor(this.#lockDir, this.localPath), {
        timeoutMs: this.lockTimeout,
        signal,
        what: this.localPath,
      });
    } catch (error) {
      if (error instanceof LockTimeoutError || signal?.aborted === true) throw error;
      log.warn(
        `syncing ${this.localPath} without a lock: cannot create one in ${this.#lockDir}: ${(error as Error).message}`,
      );
    }
    try {
      // A broken lock means a sync of this path died midway: its temp files are debris.
      if (lock?.recovered === true) await removeOrphanTempsOf(this.localPath);
      return await fn();
    } finally {
      await lock?.release();
    }
  }

  /**
   * Opens the local copy as a file handle. Read modes (`r`, `r+`) and `a` download first
   * when the object exists; write modes upload when the handle is closed, and the close
   * resolves once the upload is done. With a callback, the upload happens only if the
   * callback succeeds, and the handle is closed either way.
   *
   * @param mode - `r`, `w`, `a`, `x`, with optional `+` and `b` (`rb`, `w+`, `r+b`, ...).
   */
  open(mode?: OpenMode, options?: OpenOptions): Promise<S3File>;
  /** The exception-safe form: uploads only if `fn` resolves, returns what `fn` returns. */
  open<T>(mode: OpenMode, fn: (file: S3File) => Promise<T>, options?: OpenOptions): Promise<T>;
  async open<T>(
    mode: OpenMode = 'r',
    fnOrOptions?: ((file: S3File) => Promise<T>) | OpenOptions,
    maybeOptions: OpenOptions = {},
  ): Promise<S3File | T> {
    const fn = typeof fnOrOptions === 'function' ? fnOrOptions : undefined;
    const options = typeof fnOrOptions === 'function' ? maybeOptions : (fnOrOptions ?? {});
    const file = await openS3File(this, mode, options);
    if (fn === undefined) return file;
    let result: T;
    try {
      result = await fn(file);
    } catch (error) {
      await file.discard();
      throw error;
    }
    await file.close();
    return result;
  }

  /** Whether the key exists as an object, or as a prefix with at least one object under it. */
  async exists(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const { client } = this.#resolved;
    if (!this.key.endsWith('/') && (await client.head(this.bucket, this.key, options.signal))) {
      return true;
    }
    const prefix = this.key.endsWith('/') ? this.key : `${this.key}/`;
    return client.prefixExists(this.bucket, prefix, options.signal);
  }

  /**
   * Deletes the object from S3, or, for a prefix, every object under it (DeleteObjects in
   * batches of 1,000). With `local: true` the local copy goes too.
   *
   * @returns how many objects were deleted.
   * @throws {S3ObjectError} naming the keys that could not be deleted.
   */
  async delete(options: { local?: boolean; signal?: AbortSignal } = {}): Promise<number> {
    const { client } = this.#resolved;
    const { signal } = options;
    let count = 0;
    if (!this.key.endsWith('/') && (await client.head(this.bucket, this.key, signal))) {
      await client.deleteObject(this.bucket, this.key, signal);
      count = 1;
    } else {
      const prefix = this.key.endsWith('/') ? this.key : `${this.key}/`;
      const keys: string[] = [];
      for await (const page of client.listObjects(this.bucket, prefix, signal)) {
        for (const o of page) keys.push(o.key);
      }
      const { deleted, failed } = await client.deleteObjects(this.bucket, keys, signal);
      count = deleted.length;
      if (failed.length > 0) {
        throw new S3ObjectError(
          `Could not delete ${failed.length} of ${keys.length} objects under ${this.uri}: ${failed
            .slice(0, 5)
            .map((f) => f.key)
            .join(', ')}${failed.length > 5 ? ', ...' : ''}`,
          { operation: 'DeleteObjects', uri: this.uri, cause: failed[0]?.error },
        );
      }
    }
    if (options.local === true) await removeLocalCopy(this.localPath);
    return count;
  }

  /** Adds an exclude pattern. */
  addExclude(pattern: string | RegExp): this {
    const source = patternSource(pattern);
    if (!this.#excludes.includes(source)) this.#excludes.push(source);
    return this;
  }

  /** Adds several exclude patterns. */
  addExcludes(patterns: Iterable<string | RegExp>): this {
    for (const p of patterns) this.addExclude(p);
    return this;
  }

  /** Removes an exclude pattern (no error if absent). */
  removeExclude(pattern: string | RegExp): this {
    const source = patternSource(pattern);
    this.#excludes = this.#excludes.filter((p) => p !== source);
    return this;
  }

  /** Removes every exclude pattern, the defaults included. */
  clearExcludes(): this {
    this.#excludes = [];
    return this;
  }

  /** The exclude patterns, as regular-expression sources. */
  getExcludes(): string[] {
    return [...this.#excludes];
  }

  /** The URI, with the secret key redacted. */
  toString(): string {
    return this.uri;
  }

  /** What `JSON.stringify` shows: no credentials. */
  toJSON(): { uri: string; bucket: string; key: string; localPath: string } {
    return { uri: this.uri, bucket: this.bucket, key: this.key, localPath: this.localPath };
  }

  /** What `util.inspect` and `console.log` show: no credentials. */
  [inspect.custom](): string {
    return `S3Object { uri: '${this.uri}', localPath: '${this.localPath}' }`;
  }
}
