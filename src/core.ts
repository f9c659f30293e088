/**
 * `S3Object`: one S3 object (or prefix) mapped to a local path.
 *
 * @packageDocumentation
 */
import { inspect } from 'node:util';

import type { S3Client } from '@aws-sdk/client-s3';

import { pinVersion, refuseWrites } from './cache/freshness.js';
import { CacheKeeper } from './cache/keeper.js';
import { cachePaths } from './cache/store.js';
import { createS3Client, S3lyncClient } from './client.js';
import { readEnvConfig } from './config.js';
import { ConfigError, LockTimeoutError, NotFoundError, S3ObjectError } from './exceptions.js';
import { patternSource } from './excludes.js';
import { openS3File, parseOpenMode, type OpenMode, type OpenOptions, type S3File } from './file.js';
import { removeLocalCopy } from './local-root.js';
import { acquireLock, lockFileFor, type Lock } from './lock.js';
import { getLogger, registerSecret } from './logging.js';
import {
  connectionOf,
  objectSdk,
  resolveObjectSettings,
  type Connection,
  type ObjectSettings,
} from './object-settings.js';
import {
  checkOptions,
  DELETE_OPTION_KEYS,
  EXISTS_OPTION_KEYS,
  OPEN_OPTION_KEYS,
  S3_OBJECT_OPTION_KEYS,
  SYNC_OPTION_KEYS,
  type DeleteOptions,
  type ExistsOptions,
  type S3ObjectOptions,
} from './options.js';
import { removeOrphanTempsOf } from './recovery.js';
import type { ProgressMode } from './progress.js';
import { runSync, uploadNew, type Limiter, type SyncOptions, type SyncTarget } from './sync.js';
import { runCopySync, type CopySyncOptions } from './sync/remote.js';
import { uploadTargetFields } from './upload-params-check.js';
import {
  defaultLocalPath,
  expandHome,
  formatS3Uri,
  parseS3Uri,
  type ParsedS3Uri,
} from './utils.js';
import type { Direction, SyncResult } from './result.js';

export {
  DEFAULT_MULTIPART_THRESHOLD,
  DEFAULT_PART_SIZE,
  DEFAULT_RANGE_THRESHOLD,
  MIN_PART_SIZE,
} from './object-settings.js';
export type { DeleteOptions, ExistsOptions, S3ObjectOptions } from './options.js';

const log = getLogger('core');

/** Builds the SDK client of an object that was given none. */
type ClientSource = (connection: Connection) => S3Client;

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
  /** The pinned version (`versionId`, or the URI's `?versionId=`), if any. */
  readonly versionId: string | undefined;
  readonly #resolved: Resolved;
  readonly #settings: ObjectSettings;
  readonly #limiter: Limiter | undefined;
  /** The cache bookkeeping, for a local path in the default cache. */
  readonly #cache: CacheKeeper | undefined;
  /** The ETag this object last saw for a single file (`null`: seen absent). */
  #lastSeenEtag: string | null | undefined;
  #excludes: string[];

  /**
   * @param uri - any of the forms in {@link ACCEPTED_URI_FORMS}.
   * @param clientFor - builds the SDK client when `options` give none; internal, for a manager
   *   to share its clients.
   * @throws {InvalidUriError} for a URI s3lync cannot parse.
   * @throws {ConfigError} for an unknown or invalid option, or an invalid environment variable.
   */
  constructor(
    uri: string,
    options: S3ObjectOptions = {},
    clientFor: ClientSource = createS3Client,
  ) {
    const uriParts = parseS3Uri(uri);
    if (uriParts.credentials) registerSecret(uriParts.credentials.secretAccessKey);
    checkOptions(options, S3_OBJECT_OPTION_KEYS, 'options of new S3Object()');
    const parsed = pinVersion(uriParts, options.versionId);
    const env = readEnvConfig();
    const settings = resolveObjectSettings(options, env);
    this.bucket = parsed.bucket;
    this.key = parsed.key;
    this.uri = formatS3Uri(parsed);
    this.progressMode = settings.progressMode;
    this.maxConcurrency = settings.maxConcurrency;
    this.partSize = settings.partSize;
    this.multipartThreshold = settings.multipartThreshold;
    this.followSymlinks = settings.followSymlinks;
    this.rangeThreshold = settings.rangeThreshold;
    this.lockTimeout = settings.lockTimeout;
    this.versionId = parsed.versionId;
    this.localPath =
      options.localPath !== undefined
        ? expandHome(options.localPath, env.home)
        : defaultLocalPath(parsed.bucket, parsed.key, env, parsed.versionId);
    this.#cache =
      options.localPath === undefined
        ? CacheKeeper.of(cachePaths(env), this.localPath, settings.cacheMaxSize)
        : undefined;
    const sdk = objectSdk(options, settings, () => clientFor(connectionOf(parsed, settings)));
    const describe = (bucket: string, key: string): string =>
      formatS3Uri({ ...parsed, bucket, key });
    this.#resolved = {
      parsed,
      client: new S3lyncClient(sdk, {
        retry: settings.retry,
        describe,
        dataLane: settings.dataLane !== false,
        customerKey: settings.customerKey,
      }),
    };
    this.#excludes = [...settings.excludes];
    this.#limiter = options.limiter;
    this.#settings = settings;
  }

  /** The s3lync client (the door to S3) this object uses. */
  get client(): S3lyncClient {
    return this.#resolved.client;
  }

  /** What {@link runSync} needs to know about this object. */
  #target(call: SyncOptions = {}): SyncTarget {
    return {
      ...uploadTargetFields(this.#settings, call),
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
      indexDir: this.#settings.indexDir,
      limiter: this.#limiter,
      checksumAlgorithm: this.#settings.checksumAlgorithm,
      rangeThreshold: this.rangeThreshold,
      followSymlinks: this.followSymlinks,
      cache: { ...this.#settings.cache, versionId: this.versionId },
    };
  }

  /**
   * Syncs in one direction and reports what was done (or, with `dryRun`, what would be):
   * each transfer and deletion with its reason, counts and bytes.
   *
   * @throws {NotFoundError} when downloading a key that is neither an object nor a prefix.
   * @throws {LocalPathError} when uploading a local path that does not exist.
   * @throws {SyncError} when some files failed; the others were transferred, and `result` says so.
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  async sync(direction: Direction, options: SyncOptions = {}): Promise<SyncResult> {
    return this.#sync(direction, options, 'sync()');
  }

  /** {@link S3Object.sync}, for `caller` (named by a refusal of its options). */
  async #sync(direction: Direction, options: SyncOptions, caller: string): Promise<SyncResult> {
    checkOptions(options, SYNC_OPTION_KEYS, `options of ${caller}`);
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
    const target = this.#target(rest);
    try {
      const run = (): Promise<SyncResult> => runSync(target, direction, rest, { expectedEtag });
      // A dry run changes nothing, so it need not wait for a sync in progress.
      const result = rest.dryRun === true ? await run() : await this.#locked(run, rest.signal);
      if (!result.tree && !result.dryRun) this.#lastSeenEtag = result.etag ?? null;
      await this.#cache?.afterSync(direction, result);
      return result;
    } catch (error) {
      if (error instanceof NotFoundError && direction === 'download' && !this.key.endsWith('/')) {
        this.#lastSeenEtag = null;
      }
      throw error;
    }
  }

  /** S3 → S3: syncs this object or prefix to `destination`, on the server when it can; see README. */
  syncTo(destination: S3Object, options: CopySyncOptions = {}): Promise<SyncResult> {
    return runCopySync(this.#target(options), destination.#target(options), options);
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
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  download(options?: SyncOptions & { dryRun?: false }): Promise<string>;
  /** Plans a download without changing anything. */
  download(options: SyncOptions & { dryRun: true }): Promise<SyncResult>;
  async download(options: SyncOptions = {}): Promise<string | SyncResult> {
    const result = await this.#sync('download', options, 'download()');
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
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  upload(options?: SyncOptions & { dryRun?: false }): Promise<string>;
  /** Plans an upload without changing anything. */
  upload(options: SyncOptions & { dryRun: true }): Promise<SyncResult>;
  async upload(options: SyncOptions = {}): Promise<string | SyncResult> {
    const result = await this.#sync('upload', options, 'upload()');
    return result.dryRun ? result : this.uri;
  }

  /**
   * Uploads `sourcePath` as a new object, refused by the server if the key exists;
   * resolves to whether the server enforces that (see `S3File.exclusive`).
   *
   * @internal the `open('x')` path.
   */
  async uploadNew(sourcePath: string, options: SyncOptions = {}): Promise<boolean | undefined> {
    const target = this.#target(options);
    return this.#locked(() => uploadNew(target, sourcePath, options), options.signal);
  }

  /**
   * Runs `fn` holding the lock of the local path, so two processes (or objects) syncing the
   * same path take turns. Without a writable cache there is no lock, and a warning says so:
   * each file still lands by rename, so the lock saves work, not data.
   */
  async #locked<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let lock: Lock | undefined;
    try {
      lock = await acquireLock(lockFileFor(this.#settings.lockDir, this.localPath), {
        timeoutMs: this.lockTimeout,
        signal,
        what: this.localPath,
      });
    } catch (error) {
      if (error instanceof LockTimeoutError || signal?.aborted === true) throw error;
      log.warn(
        `syncing ${this.localPath} without a lock: cannot create one in ${this.#settings.lockDir}: ${(error as Error).message}`,
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
   * @throws {ConfigError} for an invalid mode or an unknown option, before anything is sent.
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
    checkOptions(options, OPEN_OPTION_KEYS, 'options of open()');
    if (parseOpenMode(mode).writes) refuseWrites(this.#target().cache, `open('${mode}')`, this.uri);
    const file = await openS3File(this, mode, options, this.#cache);
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

  /**
   * Whether the key exists as an object, or as a prefix with at least one object under it.
   *
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  async exists(options: ExistsOptions = {}): Promise<boolean> {
    checkOptions(options, EXISTS_OPTION_KEYS, 'options of exists()');
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
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  async delete(options: DeleteOptions = {}): Promise<number> {
    checkOptions(options, DELETE_OPTION_KEYS, 'options of delete()');
    refuseWrites(this.#target().cache, 'delete()', this.uri);
    const { deleted, failed } = await this.#resolved.client.deleteObjectOrPrefix(
      this.bucket,
      this.key,
      options.signal,
    );
    if (failed.length > 0) {
      throw new S3ObjectError(
        `Could not delete ${failed.length} of ${deleted.length + failed.length} objects under ${this.uri}: ${failed
          .slice(0, 5)
          .map((f) => f.key)
          .join(', ')}${failed.length > 5 ? ', ...' : ''}`,
        { operation: 'DeleteObjects', uri: this.uri, cause: failed[0]?.error },
      );
    }
    if (options.local === true) await removeLocalCopy(this.localPath);
    return deleted.length;
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
