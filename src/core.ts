/**
 * `S3Object`: one S3 object (or prefix) mapped to a local path.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';

import type { S3Client } from '@aws-sdk/client-s3';

import { createS3Client, S3lyncClient, type RemoteObject } from './client.js';
import { parsePositiveInt, readEnvConfig } from './config.js';
import { ConfigError, HashMismatchError, LocalPathError, NotFoundError } from './exceptions.js';
import { openS3File, type OpenMode, type S3File } from './file.js';
import {
  compareDigests,
  hashFile,
  isMd5Etag,
  isMultipartEtag,
  normalizeEtag,
  type FileDigest,
} from './hash.js';
import { getLogger, registerSecret } from './logging.js';
import {
  ProgressBar,
  validateProgressMode,
  type ProgressCallback,
  type ProgressMode,
} from './progress.js';
import { resolveRetryConfig, type RetryConfig } from './retry.js';
import {
  defaultLocalPath,
  expandHome,
  formatBytes,
  formatS3Uri,
  parseS3Uri,
  tempPathFor,
  type ParsedS3Uri,
} from './utils.js';

const log = getLogger('core');

/** Files larger than this upload in parts. @default 8 MiB */
export const DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024;
/** The part size of multipart uploads. @default 8 MiB */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** The default excludes: hidden files and directories, `__pycache__`, `.egg-info`. */
export const DEFAULT_EXCLUDES: readonly string[] = [
  '(^|/)\\.',
  '(^|/)__pycache__(/|$)',
  '\\.egg-info(/|$)',
];

/** Options of {@link S3Object}. */
export interface S3ObjectOptions {
  /** The local file or directory. `~` is expanded. @default `$XDG_CACHE_HOME/s3lync/<bucket>/<key>`, else `~/.cache/s3lync/...`, else `<tmpdir>/s3lync/...` */
  localPath?: string;
  /** An SDK client to use instead of building one (it keeps its own retry settings). */
  client?: S3Client;
  /** Regular expressions of relative paths to skip in tree syncs; replace the defaults. @default DEFAULT_EXCLUDES */
  excludes?: readonly (string | RegExp)[];
  /** How transfers are shown. @default 'progress' (falls back to 'compact' off a terminal) */
  progressMode?: ProgressMode;
  /** The retry policy of the client s3lync builds. @default { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 30000, jitter: true } */
  retry?: RetryConfig;
  /** The region. @default AWS_REGION, AWS_DEFAULT_REGION, the AWS profile, or us-east-1 for custom endpoints */
  region?: string;
  /** Files larger than this upload in parts. @default 8 MiB */
  multipartThreshold?: number;
  /** Part size of multipart uploads, at least 5 MiB. @default 8 MiB */
  partSize?: number;
  /** Files (and parts) in flight at once. @default S3LYNC_MAX_WORKERS, else 8 */
  maxConcurrency?: number;
}

/** Options of {@link S3Object.download} and {@link S3Object.upload}. */
export interface TransferOptions {
  /** Compare MD5s to skip unchanged files; without it, equal sizes count as unchanged. @default true */
  useChecksum?: boolean;
  /** Extra excludes for this call, added to the object's. */
  excludes?: readonly (string | RegExp)[];
  /** Overrides the object's progress mode for this call. */
  progressMode?: ProgressMode;
  /** Delete what the source lacks (tree syncs). @default false */
  mirror?: boolean;
  /** Cancels the transfer; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Receives progress events. */
  onProgress?: ProgressCallback;
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
  readonly #resolved: Resolved;
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
    const retryConfig = resolveRetryConfig(options.retry);
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
      });
    const describe = (bucket: string, key: string): string =>
      formatS3Uri({ ...parsed, bucket, key });
    this.#resolved = { parsed, client: new S3lyncClient(sdk, { retry: retryConfig, describe }) };
    this.#excludes = (options.excludes ?? DEFAULT_EXCLUDES).map(patternSource);
  }

  /** The s3lync client (the door to S3) this object uses. */
  get client(): S3lyncClient {
    return this.#resolved.client;
  }

  /**
   * Brings the object to {@link S3Object.localPath}, unless the local file already holds
   * the same bytes. The download lands in a temp file, is verified against the ETag of the
   * response that delivered it, and only then replaces the local file.
   *
   * @returns the local path.
   * @throws {NotFoundError} when the key is neither an object nor a prefix.
   * @throws {HashMismatchError} when the bytes received do not match the ETag (after retries).
   */
  async download(options: TransferOptions = {}): Promise<string> {
    const { signal } = options;
    signal?.throwIfAborted();
    const { client } = this.#resolved;
    const head = this.key.endsWith('/')
      ? undefined
      : await client.head(this.bucket, this.key, signal);
    if (head === undefined) {
      await this.#requirePrefix(signal);
      throw new NotFoundError(
        `${this.uri} is a prefix; downloading a tree is not supported by this version`,
        { operation: 'download', uri: this.uri },
      );
    }
    const local = await statOrUndefined(this.localPath);
    if (local?.isDirectory()) {
      throw new LocalPathError(
        `Cannot download ${this.uri} to ${this.localPath}: it is a directory, expected a file`,
        this.localPath,
      );
    }
    if (local !== undefined && (await this.#isUpToDate(local.size, head, options, signal))) {
      log.debug(`skip download ${this.uri}: ${this.localPath} is unchanged`);
      return this.localPath;
    }
    await this.#downloadFile(this.key, this.localPath, head.size, options);
    return this.localPath;
  }

  /**
   * Sends {@link S3Object.localPath} to the object, unless the object already holds the
   * same bytes. Small files go in one PUT checked by `Content-MD5`; files above the
   * multipart threshold go in parallel parts. Either way the result is verified.
   *
   * @returns the URI (redacted).
   * @throws {LocalPathError} when the local path does not exist.
   */
  async upload(options: TransferOptions = {}): Promise<string> {
    options.signal?.throwIfAborted();
    const local = await statOrUndefined(this.localPath);
    if (local === undefined) {
      throw new LocalPathError(
        `Cannot upload ${this.localPath} to ${this.uri}: the local path does not exist`,
        this.localPath,
      );
    }
    if (local.isDirectory()) {
      throw new LocalPathError(
        `Cannot upload ${this.localPath}: it is a directory; uploading a tree is not supported by this version`,
        this.localPath,
      );
    }
    await this.uploadFileFrom(this.localPath, options);
    return this.uri;
  }

  /**
   * Uploads `filePath` (the local file, or a handle's temp file) to the key.
   *
   * @internal used by {@link S3Object.open}.
   */
  async uploadFileFrom(
    filePath: string,
    options: TransferOptions & { ifNoneMatch?: boolean } = {},
  ): Promise<void> {
    const { signal } = options;
    const { client } = this.#resolved;
    const size = (await stat(filePath)).size;
    const multipart = size > this.multipartThreshold;
    const digest = await hashFile(filePath, {
      ...(multipart && { partSize: this.partSize }),
      ...(signal && { signal }),
    });
    if (options.ifNoneMatch !== true) {
      const head = await client.head(this.bucket, this.key, signal);
      if (head !== undefined && this.#sameContent(digest, head, options.useChecksum ?? true)) {
        log.debug(`skip upload ${this.uri}: the object is unchanged`);
        return;
      }
    }
    const progress = this.#progress(options);
    const file = progress.start({ direction: 'upload', key: this.key, path: this.localPath, size });
    progress.expect(1, size);
    try {
      const common = {
        signal,
        onBytes: file.advance,
        ifNoneMatch: options.ifNoneMatch,
      };
      if (multipart) {
        await client.uploadMultipart(this.bucket, this.key, filePath, digest, {
          ...common,
          partSize: this.partSize,
          queueSize: this.maxConcurrency,
        });
        await this.#verifyMultipartUpload(digest, signal);
      } else {
        const etag = normalizeEtag(
          await client.putFile(this.bucket, this.key, filePath, digest, common),
        );
        // Content-MD5 already made the server check the bytes; this catches a server that ignores it.
        if (etag !== undefined && isMd5Etag(etag) && etag !== digest.md5) {
          throw new HashMismatchError(
            `Upload of ${filePath} to ${this.uri}: the server stored ETag ${etag}, expected MD5 ${digest.md5}`,
            { expected: digest.md5, actual: etag, uri: this.uri, path: filePath },
          );
        }
      }
      file.finish();
      log.info(`uploaded ${filePath} -> ${this.uri} (${formatBytes(size)})`);
    } finally {
      progress.close();
    }
  }

  async #verifyMultipartUpload(digest: FileDigest, signal: AbortSignal | undefined): Promise<void> {
    // CompleteMultipartUpload's ETag is empty on some servers (radosgw); HEAD has the real one.
    const head = await this.#resolved.client.head(this.bucket, this.key, signal);
    const etag = normalizeEtag(head?.etag);
    const expected = digest.multipartEtag;
    if (head === undefined || head.size !== digest.size) {
      throw new HashMismatchError(
        `Multipart upload to ${this.uri}: the object has ${head?.size ?? 'no'} bytes, expected ${digest.size}`,
        { expected: String(digest.size), actual: String(head?.size), uri: this.uri },
      );
    }
    if (
      expected !== undefined &&
      etag !== undefined &&
      isMultipartEtag(etag) &&
      etag !== expected
    ) {
      throw new HashMismatchError(
        `Multipart upload to ${this.uri}: the server's ETag ${etag} does not match the parts sent (${expected})`,
        { expected, actual: etag, uri: this.uri },
      );
    }
  }

  /** Whether the local file (of `size` bytes) already holds the object's bytes. */
  async #isUpToDate(
    size: number,
    head: RemoteObject,
    options: TransferOptions,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    if (size !== head.size) return false;
    if (options.useChecksum === false) return true;
    const digest = await hashFile(this.localPath, signal ? { signal } : {});
    return this.#sameContent(digest, head, true);
  }

  #sameContent(digest: FileDigest, head: RemoteObject, useChecksum: boolean): boolean {
    if (!useChecksum) return digest.size === head.size;
    const verdict = compareDigests(digest, head);
    if (verdict === 'unknown' && digest.multipartEtag !== undefined && head.size === digest.size) {
      return normalizeEtag(head.etag) === digest.multipartEtag;
    }
    return verdict === 'equal';
  }

  async #downloadFile(
    key: string,
    target: string,
    size: number,
    options: TransferOptions,
  ): Promise<void> {
    const { client } = this.#resolved;
    await mkdir(path.dirname(target), { recursive: true });
    const temp = tempPathFor(target, randomBytes(6).toString('hex'));
    const progress = this.#progress(options);
    progress.expect(1, size);
    const file = progress.start({ direction: 'download', key, path: target, size });
    try {
      await client.downloadToFile(this.bucket, key, temp, {
        signal: options.signal,
        onBytes: file.advance,
        verify: (result) => {
          const expected =
            normalizeEtag(result.fingerprintMd5) ??
            (result.opaqueEtag ? undefined : normalizeEtag(result.etag));
          if (expected !== undefined && isMd5Etag(expected) && expected !== result.digest.md5) {
            throw new HashMismatchError(
              `Download of ${this.uri}: received bytes with MD5 ${result.digest.md5}, but the response's ETag is ${expected}`,
              { expected, actual: result.digest.md5, uri: this.uri, path: target },
            );
          }
        },
      });
      await rename(temp, target);
      file.finish();
      log.info(`downloaded ${this.uri} -> ${target} (${formatBytes(size)})`);
    } finally {
      progress.close();
      await rm(temp, { force: true });
    }
  }

  async #requirePrefix(signal: AbortSignal | undefined): Promise<void> {
    const prefix = this.key.endsWith('/') ? this.key : `${this.key}/`;
    if (!(await this.#resolved.client.prefixExists(this.bucket, prefix, signal))) {
      throw new NotFoundError(`${this.uri} does not exist: it is neither an object nor a prefix`, {
        operation: 'download',
        uri: this.uri,
      });
    }
  }

  #progress(options: TransferOptions): ProgressBar {
    return new ProgressBar({
      mode: options.progressMode ?? this.progressMode,
      onProgress: options.onProgress,
      description: this.uri,
    });
  }

  /**
   * Opens the local copy as a file handle. Read modes (`r`, `r+`) and `a` download first
   * when the object exists; write modes upload when the handle is closed, and the close
   * resolves once the upload is done. With a callback, the upload happens only if the
   * callback succeeds, and the handle is closed either way.
   *
   * @param mode - `r`, `w`, `a`, `x`, with optional `+` and `b` (`rb`, `w+`, `r+b`, ...).
   */
  open(mode?: OpenMode, options?: TransferOptions): Promise<S3File>;
  /** The exception-safe form: uploads only if `fn` resolves, returns what `fn` returns. */
  open<T>(mode: OpenMode, fn: (file: S3File) => Promise<T>, options?: TransferOptions): Promise<T>;
  async open<T>(
    mode: OpenMode = 'r',
    fnOrOptions?: ((file: S3File) => Promise<T>) | TransferOptions,
    maybeOptions: TransferOptions = {},
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
   * Deletes the object from S3 (and, with `local: true`, the local copy).
   *
   * @returns whether the object existed.
   */
  async delete(options: { local?: boolean; signal?: AbortSignal } = {}): Promise<boolean> {
    const { client } = this.#resolved;
    const head = await client.head(this.bucket, this.key, options.signal);
    if (head !== undefined) await client.deleteObject(this.bucket, this.key, options.signal);
    if (options.local === true) await rm(this.localPath, { force: true });
    return head !== undefined;
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

function patternSource(pattern: string | RegExp): string {
  const source = pattern instanceof RegExp ? pattern.source : pattern;
  try {
    new RegExp(source);
  } catch (cause) {
    throw new ConfigError(
      `Invalid exclude pattern ${JSON.stringify(source)}: not a regular expression`,
      { cause },
    );
  }
  return source;
}

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LocalPathError(`Cannot read ${p}: ${(error as Error).message}`, p, { cause: error });
  }
}
