/**
 * The only module that talks to S3. Every request goes through `S3Client.send`, so
 * aws-sdk-client-mock can intercept all of them, and every SDK error leaves here as a
 * typed {@link S3ObjectError} that keeps the SDK error as `cause`.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import { addAbortSignal, pipeline as pipeStreams, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

import type { EnvConfig } from './config.js';
import {
  AccessDeniedError,
  ConfigError,
  HashMismatchError,
  isLocalFsError,
  ListingError,
  LocalPathError,
  localPathErrorOf,
  NotFoundError,
  PreconditionFailedError,
  S3lyncError,
  S3ObjectError,
  S3TimeoutError,
  sdkErrorMeta,
} from './exceptions.js';
import {
  checksumOf,
  type ChecksumAlgorithm,
  type ChecksumFields,
  type ObjectChecksum,
} from './checksum.js';
import { openRegularFile } from './local-root.js';
import {
  HASH_CHUNK_SIZE,
  SMALL_FILE_SIZE,
  HashingStream,
  InOrderFileHasher,
  MD5_METADATA_KEY,
  PART_SIZE_METADATA_KEY,
  PartHasher,
  partLayout,
  type FileDigest,
  type HashingOptions,
  type ReceivedDigest,
} from './hash.js';
import { WorkerFileHasher } from './hash-worker.js';
import { getLogger, type Logger } from './logging.js';
import {
  attemptsUsed,
  createRetryStrategy,
  isRetryableError,
  resolveRetryConfig,
  retry,
  type ResolvedRetryConfig,
  type RetryConfig,
  type RetryOptions,
} from './retry.js';
import type { UriCredentials } from './utils.js';
import { compareKeys } from './keys.js';

const log = getLogger('client');

/** The region used for custom endpoints when none is configured. */
export const DEFAULT_ENDPOINT_REGION = 'us-east-1';

/**
 * How long the clients s3lync builds wait on the network before they give up on an
 * attempt. A timed-out attempt is retried like a dropped connection; when none is left, the
 * operation fails with an {@link S3TimeoutError}.
 */
export interface TimeoutOptions {
  /**
   * How long to wait for a connection to the server (TCP, and TLS for https), in ms. `0`
   * waits as long as the operating system does (about two minutes on Linux).
   * @default 10000 (10 s)
   */
  connectMs?: number | undefined;
  /**
   * How long a connection may go without a byte in either direction, in ms: while waiting
   * for the response, and in the middle of a body. It restarts with every byte, so a slow
   * transfer that moves never times out; a server that stops answering does. `0` waits
   * forever. Keep it above 6 s for uploads of 2 MiB or more to servers that ignore
   * `Expect: 100-continue`: the SDK waits up to 6 s for its answer before it sends the body.
   * @default 60000 (60 s)
   */
  idleMs?: number | undefined;
}

/**
 * The default timeouts. A connection takes milliseconds to open; 10 s still covers a few
 * lost SYNs (Linux resends at 1 s and 3 s) and fails a dead or black-holed endpoint long
 * before the OS would (about 127 s). 60 s of silence is botocore's read timeout (the
 * Python package's), long enough for servers that think before they answer: a
 * CompleteMultipartUpload of many parts, a DeleteObjects of 1,000 keys, a slow first byte.
 */
export const DEFAULT_TIMEOUTS: Readonly<Required<TimeoutOptions>> = Object.freeze({
  connectMs: 10_000,
  idleMs: 60_000,
});

/** The longest delay Node's timers take (2^31 - 1 ms); a longer one would fire at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Validates and completes {@link TimeoutOptions}: a field not given takes its default.
 *
 * @throws {ConfigError} naming the field and the value.
 */
export function resolveTimeouts(timeouts: TimeoutOptions = {}): Required<TimeoutOptions> {
  const out = { ...DEFAULT_TIMEOUTS };
  for (const field of ['connectMs', 'idleMs'] as const) {
    const v: unknown = timeouts[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_TIMEOUT_MS) {
      throw new ConfigError(
        `Expected \`timeouts.${field}\` to be a number of ms from 0 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(v)} (${typeof v})`,
      );
    }
    out[field] = v;
  }
  return out;
}

/**
 * The timeouts of a client s3lync builds: each field of `timeouts` where it is given, else
 * the environment's (`S3LYNC_CONNECT_TIMEOUT_MS`, `S3LYNC_IDLE_TIMEOUT_MS`), else the default.
 *
 * @throws {ConfigError} naming the field and the value.
 */
export function timeoutsFor(
  timeouts: TimeoutOptions | undefined,
  env: Pick<EnvConfig, 'connectTimeoutMs' | 'idleTimeoutMs'>,
): Required<TimeoutOptions> {
  return resolveTimeouts({
    connectMs: timeouts?.connectMs ?? env.connectTimeoutMs,
    idleMs: timeouts?.idleMs ?? env.idleTimeoutMs,
  });
}

/** Options for building an SDK client. */
export interface ClientOptions {
  /** A custom endpoint (`https://host:port`); absent for AWS. @default AWS (no custom endpoint) */
  endpoint?: string | undefined;
  /** Static credentials; absent to use the AWS default chain. @default the AWS default chain (environment, profile, instance role) */
  credentials?: UriCredentials | undefined;
  /** The region. @default AWS_REGION, AWS_DEFAULT_REGION, the profile, or us-east-1 for custom endpoints */
  region?: string | undefined;
  /** The retry policy. @default {@link DEFAULT_RETRY} */
  retry?: RetryConfig | undefined;
  /** The connect and idle timeouts of the default HTTP handler. @default {@link DEFAULT_TIMEOUTS} */
  timeouts?: TimeoutOptions | undefined;
  /**
   * The SDK's HTTP handler, or the options of its default `NodeHttpHandler`: for a proxy,
   * a custom `https.Agent` (CA bundle, keep-alive, `maxSockets`) or timeouts. A handler is
   * used as it is (its own timeouts, or none: `timeouts` cannot reach into it). Options get
   * the `timeouts` as `connectionTimeout` and `socketTimeout` where they set neither.
   *
   * @default the SDK's `NodeHttpHandler` with `timeouts`
   */
  requestHandler?: S3ClientConfig['requestHandler'];
}

/**
 * The options of the SDK's `NodeHttpHandler` for these timeouts. `socketTimeout` is the
 * idle timeout in every version of `@smithy/node-http-handler`: a socket inactivity timer
 * that stays armed while the response body streams, destroying it with a `TimeoutError`.
 * (`requestTimeout` is not: in 4.x it bounds a whole request and only logs a warning unless
 * `throwOnRequestTimeout` is set, and it would cut a long transfer that is still moving.)
 */
function handlerTimeouts(timeouts: Required<TimeoutOptions>): {
  connectionTimeout: number;
  socketTimeout: number;
} {
  return { connectionTimeout: timeouts.connectMs, socketTimeout: timeouts.idleMs };
}

/**
 * The `requestHandler` to give the SDK: the timeouts' options without one; a handler (or a
 * provider of options) as it is; options over the timeouts, where they set a value.
 */
function withTimeouts(
  handler: S3ClientConfig['requestHandler'],
  timeouts: ReturnType<typeof handlerTimeouts>,
): NonNullable<S3ClientConfig['requestHandler']> {
  if (handler === undefined) return timeouts;
  if (
    typeof handler === 'function' ||
    typeof (handler as { handle?: unknown }).handle === 'function'
  ) {
    return handler;
  }
  const given = Object.entries(handler).filter(([, value]) => value !== undefined);
  return { ...timeouts, ...Object.fromEntries(given) };
}

/**
 * Builds an SDK client. For a custom endpoint it uses path-style addressing and computes
 * checksums only when an operation requires them: recent SDKs otherwise send aws-chunked
 * bodies with checksum trailers, which Ceph rejects with 411 and some servers store
 * corrupted. Retries follow s3lync's policy, with the SDK making `maxAttempts` in all.
 * Every connection has a connect and an idle timeout ({@link DEFAULT_TIMEOUTS}), so no
 * request waits forever on a server that stopped answering.
 *
 * @throws {ConfigError} for an invalid `retry` or `timeouts`.
 */
export function createS3Client(options: ClientOptions = {}): S3Client {
  const retryConfig = resolveRetryConfig(options.retry);
  const timeouts = handlerTimeouts(resolveTimeouts(options.timeouts));
  const config: S3ClientConfig = {
    maxAttempts: retryConfig.maxAttempts,
    retryStrategy: createRetryStrategy(retryConfig),
    logger: sdkLogger(getLogger('sdk')),
  };
  if (options.region !== undefined) config.region = options.region;
  config.requestHandler = withTimeouts(options.requestHandler, timeouts);
  if (options.credentials !== undefined) {
    config.credentials = {
      accessKeyId: options.credentials.accessKeyId,
      secretAccessKey: options.credentials.secretAccessKey,
    };
  }
  if (options.endpoint !== undefined) {
    config.endpoint = options.endpoint;
    config.forcePathStyle = true;
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
    config.region ??= DEFAULT_ENDPOINT_REGION;
  }
  return new S3Client(config);
}

function sdkLogger(logger: Logger): NonNullable<S3ClientConfig['logger']> {
  // The SDK logs whole requests and responses at info; keep those at debug.
  return {
    trace: () => undefined,
    debug: (...a: unknown[]) => {
      logger.debug('sdk', ...a);
    },
    info: (...a: unknown[]) => {
      logger.debug('sdk', ...a);
    },
    warn: (...a: unknown[]) => {
      logger.warn('sdk', ...a);
    },
    error: (...a: unknown[]) => {
      logger.error('sdk', ...a);
    },
  };
}

/** S3's limit of keys per DeleteObjects request. */
export const DELETE_BATCH = 1000;

/** One entry of a listing. */
export interface ListedObject {
  /** The full key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** The ETag as listed. */
  etag: string | undefined;
  /** Last-Modified as listed. */
  lastModified?: Date | undefined;
}

/** One page of a listing: objects, and with a delimiter the common prefixes. */
export interface ListedPage {
  /** The objects of the page. */
  objects: ListedObject[];
  /** The common prefixes ("directories", each ending with the delimiter); none without one. */
  prefixes: string[];
}

/** What a HEAD (or the headers of a GET) says about an object. */
export interface RemoteObject {
  /** Size in bytes. */
  size: number;
  /** The ETag as sent. */
  etag: string | undefined;
  /** The MD5 s3lync recorded at upload, if any. */
  fingerprintMd5: string | undefined;
  /** Whether the ETag is not an MD5 because of server-side encryption (KMS or SSE-C). */
  opaqueEtag: boolean;
  /** Last-Modified. */
  lastModified: Date | undefined;
  /** User metadata (`x-amz-meta-*`). */
  metadata: Record<string, string>;
  /** The part size s3lync recorded at a multipart upload (`x-amz-meta-s3lync-part-size`). */
  partSizeHint: number | undefined;
  /** The number of parts, where the server says (AWS does for HEAD with `PartNumber`). */
  partsCount: number | undefined;
  /** An S3 additional checksum, where the server sends one. */
  checksum: ObjectChecksum | undefined;
}

/** What a finished download wrote and received. */
export interface DownloadResult extends RemoteObject {
  /** The digests of the bytes actually received (the MD5 only if `hashing` did not skip it). */
  digest: ReceivedDigest;
  /** The additional checksum (base64) of the bytes received, if one was computed. */
  receivedChecksum: string | undefined;
}

/** What the server said of an upload. */
export interface PutResult {
  /** The ETag of the new object (empty on some servers after a multipart upload). */
  etag: string | undefined;
  /** Whether the ETag is not an MD5 because of server-side encryption. */
  opaqueEtag: boolean;
  /** The additional checksum the server stored, if it says. */
  checksum: ObjectChecksum | undefined;
}

/** Options shared by transfers. */
export interface TransferOptions {
  /** Stops the transfer; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal | undefined;
  /** Called with each chunk's size as bytes move. @default none */
  onBytes?: ((bytes: number) => void) | undefined;
}

/** Options of {@link S3lyncClient.downloadToFile}. */
/** Where a download writes: a file opened afresh (emptied) for each attempt. */
export interface DownloadSink {
  /** Opens the file from its start, emptied; `readBack` also for reading. */
  open(readBack?: boolean): Promise<FileHandle>;
}

export interface DownloadOptions extends TransferOptions {
  /** `If-Match`: refuse (412) unless the object still has this ETag. @default none */
  ifMatch?: string | undefined;
  /**
   * Chooses, once the response headers are in, what to compute while the body streams:
   * candidate part sizes for a multipart ETag, an additional checksum.
   * @default the MD5 only
   */
  hashing?: (info: RemoteObject) => HashingOptions;
  /**
   * Checks the received bytes against the response that delivered them; throwing a
   * {@link HashMismatchError} makes the attempt fail (and be retried within the budget).
   * @default none
   */
  verify?: (result: DownloadResult) => void;
}

/** Options of uploads. */
export interface PutOptions extends TransferOptions {
  /** `If-None-Match: *`: create only if the key does not exist. @default false */
  ifNoneMatch?: boolean | undefined;
  /** `If-Match`: replace only if the object still has this ETag (lost-update protection). @default none */
  ifMatch?: string | undefined;
  /** Also send an S3 additional checksum of this algorithm (computed from the file). @default none */
  checksumAlgorithm?: ChecksumAlgorithm | undefined;
  /** The file's bytes, already read (a small file): sent as they are, not read again. @default none (the file is read) */
  body?: Buffer | undefined;
  /** Extra user metadata. @default none */
  metadata?: Record<string, string> | undefined;
}

/** Options of {@link S3lyncClient.uploadMultipart}. */
export interface MultipartOptions extends Omit<PutOptions, 'body'> {
  /** The file's size when the upload was planned; a file that no longer has it fails the upload. */
  size: number;
  /** Part size in bytes (at least 5 MiB on S3, except the last part). */
  partSize: number;
  /** Parts in flight at once. */
  queueSize: number;
  /**
   * The file's MD5, if already known: recorded as the object's fingerprint
   * (`x-amz-meta-s3lync-md5`). Unknown, the object has none: the MD5 is computed while the
   * parts are read, after the metadata has been sent.
   * @default unknown (no fingerprint)
   */
  md5?: string | undefined;
}

/** What a multipart upload sent, and what the server said. */
export interface MultipartResult extends PutResult {
  /** The digests of the bytes sent: size, MD5 and the composite ETag for the part size. */
  digest: FileDigest;
}

/** Renders `bucket`/`key` as a URI (credentials redacted) for messages. */
export type UriFormatter = (bucket: string, key: string) => string;

/** The 403 codes that say why; a HEAD's 403 has none. */
const KNOWN_DENIALS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);

/** What to check for a 403, by its S3 error code. */
function accessHint(code: string | undefined): string {
  switch (code) {
    case 'InvalidAccessKeyId':
      return 'the server does not know this access key ID; check the credentials';
    case 'SignatureDoesNotMatch':
      return 'the secret key does not match the access key ID; check the credentials';
    case 'AccessDenied':
      return "check the credentials' permissions and the bucket policy";
    default:
      return 'check the credentials and the bucket policy';
  }
}

/** Whether an error is the abort of `signal`, or an `AbortError`. */
function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return (
    signal?.aborted === true ||
    (typeof error === 'object' && error !== null && (error as Error).name === 'AbortError')
  );
}

/**
 * s3lync's door to S3: HEAD, LIST, GET to a file, PUT from a file, multipart upload,
 * DELETE, each with the retry policy and typed errors.
 */
export class S3lyncClient {
  /** The SDK client every request goes through. */
  readonly sdk: S3Client;
  private readonly retryConfig: ResolvedRetryConfig;
  private readonly describe: UriFormatter;

  /**
   * @param sdk - the SDK client to send through.
   * @param options.retry - the policy for transfers the SDK cannot replay itself.
   * @param options.describe - renders URIs for error messages.
   */
  constructor(sdk: S3Client, options: { retry?: RetryConfig; describe?: UriFormatter } = {}) {
    this.sdk = sdk;
    this.retryConfig = resolveRetryConfig(options.retry);
    this.describe = options.describe ?? ((b, k) => `s3://${b}/${k}`);
  }

  /**
   * Turns an SDK error into a typed s3lync error; an abort passes through unchanged. A local
   * fs error becomes a {@link LocalPathError} (naming `localPath` if it names no path itself).
   */
  toError(
    error: unknown,
    operation: string,
    bucket: string,
    key: string,
    signal?: AbortSignal,
    localPath?: string,
  ): unknown {
    if (isAbort(error, signal)) return signal?.aborted ? signal.reason : error;
    if (error instanceof S3lyncError) return error;
    const uri = this.describe(bucket, key);
    // The disk, not S3 (a full disk, a permission): named by the file, if the caller knows it.
    if (isLocalFsError(error)) {
      return localPathErrorOf(error, `${operation} ${uri}`, localPath) ?? error;
    }
    const { statusCode, code } = sdkErrorMeta(error);
    const attempts = attemptsUsed(error);
    const what = [code, statusCode !== undefined ? `HTTP ${statusCode}` : undefined]
      .filter(Boolean)
      .join(', ');
    const detail = (error as { message?: unknown } | null)?.message;
    const extra =
      typeof detail === 'string' && detail !== '' && detail !== 'UnknownError' && detail !== code
        ? `: ${detail}`
        : '';
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    const base = `${operation} ${uri} failed${tries} (${what || 'no response'})${extra}`;
    const details = { cause: error, operation, uri };
    if (
      statusCode === 404 ||
      code === 'NoSuchKey' ||
      code === 'NoSuchBucket' ||
      code === 'NotFound'
    ) {
      const msg = code === 'NoSuchBucket' ? `${base}: the bucket ${bucket} does not exist` : base;
      return new NotFoundError(msg, details);
    }
    if (
      statusCode === 403 ||
      code === 'AccessDenied' ||
      code === 'InvalidAccessKeyId' ||
      code === 'SignatureDoesNotMatch'
    ) {
      return new AccessDeniedError(`${base}: ${accessHint(code)}`, details);
    }
    if (statusCode === 412 || code === 'PreconditionFailed') {
      return new PreconditionFailedError(base, details);
    }
    if (isTimeout(error)) {
      return new S3TimeoutError(
        `${operation} ${uri} failed${tries} (timed out): ${describeTimeout(error)}`,
        details,
      );
    }
    return new S3ObjectError(base, details);
  }

  /** The options of {@link retry} for a transfer the SDK cannot replay by itself. */
  private retryOptions(
    operation: string,
    bucket: string,
    key: string,
    signal: AbortSignal | undefined,
    shouldRetry: (error: unknown) => boolean = isRetryableError,
  ): RetryOptions {
    return {
      ...this.retryConfig,
      ...(signal && { signal }),
      shouldRetry,
      onRetry: ({ error, attempt, delayMs }) => {
        log.debug(
          `retrying ${operation} ${this.describe(bucket, key)} (attempt ${attempt} failed: ${describeError(error)}) in ${delayMs} ms`,
        );
      },
    };
  }

  /**
   * HEAD of an object; `undefined` when the key is not an object (404). With `partNumber`,
   * servers that support it (AWS) also say how many parts the object has and the size of
   * that part (then `size` is the part's size).
   */
  async head(
    bucket: string,
    key: string,
    signal?: AbortSignal,
    options: { partNumber?: number; ifMatch?: string } = {},
  ): Promise<RemoteObject | undefined> {
    try {
      const out = await this.sdk.send(
        new HeadObjectCommand({
          Bucket: bucket,
          Key: key,
          ChecksumMode: 'ENABLED',
          ...(options.partNumber !== undefined && { PartNumber: options.partNumber }),
          ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
        }),
        { abortSignal: signal },
      );
      return remoteObject(out);
    } catch (error) {
      const e = this.toError(error, 'HeadObject', bucket, key, signal);
      if (e instanceof NotFoundError && sdkErrorMeta(error).code !== 'NoSuchBucket') {
        return undefined;
      }
      if (e instanceof AccessDeniedError && !KNOWN_DENIALS.has(e.code ?? '')) {
        throw (await this.explainDenial(bucket, key, signal)) ?? e;
      }
      throw e;
    }
  }

  /**
   * A HEAD response has no body, so a 403 cannot say why. One GET of the first byte
   * (whose 403 carries the S3 error code) tells a wrong access key from a wrong secret
   * from a missing permission; `undefined` if it does not say more.
   */
  private async explainDenial(
    bucket: string,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<AccessDeniedError | undefined> {
    try {
      const out = await this.sdk.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-0' }),
        { abortSignal: signal },
      );
      await out.Body?.transformToByteArray();
      return undefined;
    } catch (error) {
      const e = this.toError(error, 'HeadObject', bucket, key, signal);
      return e instanceof AccessDeniedError && KNOWN_DENIALS.has(e.code ?? '') ? e : undefined;
    }
  }

  /** Whether at least one key starts with `prefix` (one LIST of one key). */
  async prefixExists(bucket: string, prefix: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const out = await this.sdk.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }),
        { abortSignal: signal },
      );
      return (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
    } catch (error) {
      throw this.toError(error, 'ListObjectsV2', bucket, prefix, signal);
    }
  }

  /**
   * GETs an object into `file` (emptied on each attempt), hashing the bytes as they stream
   * to disk. A dropped connection mid-body or a failed `verify` is retried within the
   * attempt budget; the caller owns (and removes) the file.
   */
  async downloadToFile(
    bucket: string,
    key: string,
    file: DownloadSink,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    const { signal } = options;
    try {
      return await retry(
        async () => {
          const out = await this.sdk.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: key,
              ChecksumMode: 'ENABLED',
              ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
            }),
            { abortSignal: signal },
          );
          const info = remoteObject(out);
          let reported = 0;
          const hasher = new HashingStream(
            undefined,
            (n) => {
              reported += n;
              options.onBytes?.(n);
            },
            options.hashing?.(info),
          );
          try {
            if (info.size <= SMALL_FILE_SIZE) {
              // A small body in one buffer and one write: three streams cost more than the bytes.
              const chunks: Buffer[] = [];
              const bodyStream = out.Body as Readable;
              // An abort must also end a body that stalls between chunks.
              if (signal) addAbortSignal(signal, bodyStream);
              for await (const chunk of bodyStream) {
                chunks.push(chunk as Buffer);
                hasher.update(chunk as Buffer);
                reported += (chunk as Buffer).length;
                options.onBytes?.((chunk as Buffer).length);
              }
              const fh = await file.open();
              try {
                await fh.writeFile(
                  chunks.length === 1 ? (chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(chunks),
                  { ...(signal && { signal }) },
                );
              } finally {
                await fh.close();
              }
            } else {
              const fh = await file.open();
              await pipeline(
                out.Body as Readable,
                hasher,
                fh.createWriteStream({ highWaterMark: HASH_CHUNK_SIZE }),
                { signal },
              );
            }
            const result: DownloadResult = {
              ...info,
              digest: hasher.received(),
              receivedChecksum: await hasher.checksum(),
            };
            if (result.digest.size !== info.size) {
              throw Object.assign(
                new Error(`received ${result.digest.size} bytes, expected ${info.size}`),
                { code: 'ERR_STREAM_PREMATURE_CLOSE' },
              );
            }
            options.verify?.(result);
            return result;
          } catch (error) {
            // Undo this attempt's progress so a retry does not count bytes twice.
            options.onBytes?.(-reported);
            throw withAttempts(error, attemptsUsed(out));
          }
        },
        this.retryOptions('GetObject', bucket, key, signal, retryDownload),
      );
    } catch (error) {
      throw this.toError(error, 'GetObject', bucket, key, signal);
    }
  }

  /**
   * GETs a large object as parallel ranged GETs into `tempPath`, every range pinned with
   * `If-Match` to one ETag so a concurrent overwrite cannot produce a mixed file (it fails
   * the attempt instead, and the retry starts over with the new version). Each range's
   * bytes are copied into two reused 1 MiB buffers and written at their offsets; an
   * {@link InOrderFileHasher} hashes them in order, from memory where they arrive in order
   * and from the page cache where they arrive early. Memory stays at about
   * `concurrency × 2 MiB` whatever the object's size. The caller owns (and removes) the
   * file.
   */
  async downloadRangesToFile(
    bucket: string,
    key: string,
    file: DownloadSink,
    options: DownloadOptions & { size: number; rangeSize: number; concurrency: number },
  ): Promise<DownloadResult> {
    const { signal, rangeSize } = options;
    // Reused across ranges and attempts: holding each range until the in-order hasher
    // reached it kept the socket's chunks alive past the GC's young generation, and peak
    // RSS grew by twice the ranges in flight.
    const stages: Buffer[] = [];
    try {
      return await retry(
        async (attempt) => {
          // The first attempt fetches the version the caller saw; after a change (412), the
          // next one pins whatever version is current and takes its size from the response.
          const pinned = attempt === 1 ? options.ifMatch : undefined;
          let size = attempt === 1 ? options.size : rangeSize;
          let reported = 0;
          const report = (n: number): void => {
            reported += n;
            options.onBytes?.(n);
          };
          const fh = await file.open(true);
          // One failed range stops its siblings; all settle before the file is closed.
          const stop = new AbortController();
          const rangeSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
          const stopped = (): boolean => stop.signal.aborted;
          let hashWorker: WorkerFileHasher | undefined;
          try {
            const openRange = (index: number, ifMatch: string | undefined) => {
              const start = index * rangeSize;
              const end = Math.min(size, start + rangeSize) - 1;
              return this.sdk.send(
                new GetObjectCommand({
                  Bucket: bucket,
                  Key: key,
                  Range: `bytes=${start}-${end}`,
                  ...(ifMatch !== undefined && { IfMatch: ifMatch }),
                  ...(index === 0 && { ChecksumMode: 'ENABLED' }),
                }),
                { abortSignal: rangeSignal },
              );
            };
            // The first range's headers pin the version and say what to compute.
            const first = await openRange(0, pinned);
            const info = remoteObject(first);
            const total = Number(/\/(\d+)$/.exec(first.ContentRange ?? '')?.[1] ?? size);
            info.size = total;
            if (attempt === 1 && total !== options.size) {
              (first.Body as Readable | undefined)?.destroy();
              throw Object.assign(new Error(`the object is ${total} bytes now, not ${size}`), {
                name: 'PreconditionFailed',
                $metadata: { httpStatusCode: 412 },
              });
            }
            size = total;
            const ranges = Math.max(1, Math.ceil(total / rangeSize));
            const etag = first.ETag;
            const hashing = options.hashing?.(info);
            // The MD5 passes run on another core; a checksum (the worker has none) runs here.
            let ordered: Pick<InOrderFileHasher, 'write'>;
            let digests: () => Promise<Pick<DownloadResult, 'digest' | 'receivedChecksum'>>;
            if (WorkerFileHasher.supports(hashing)) {
              const w = new WorkerFileHasher(fh, hashing);
              hashWorker = w;
              ordered = w;
              digests = async () => ({
                digest: await w.finish(total),
                receivedChecksum: undefined,
              });
            } else {
              const hasher = new HashingStream(undefined, undefined, hashing);
              const h = new InOrderFileHasher(fh, hasher);
              ordered = h;
              digests = async () => {
                await h.finish(total);
                return { digest: hasher.received(), receivedChecksum: await hasher.checksum() };
              };
            }
            const receive = async (index: number, out: GetObjectCommandOutput): Promise<void> => {
              const start = index * rangeSize;
              const end = Math.min(size, start + rangeSize) - 1;
              const body = out.Body as Readable;
              addAbortSignal(rangeSignal, body);
              const buffers = [
                stages.pop() ?? Buffer.allocUnsafeSlow(HASH_CHUNK_SIZE),
                stages.pop() ?? Buffer.allocUnsafeSlow(HASH_CHUNK_SIZE),
              ] as const;
              // One write in flight per range, so a buffer is free again once the write
              // of the other one has been waited for.
              let writing: Promise<void> = Promise.resolve();
              let slot: 0 | 1 = 0;
              let fill = 0;
              let position = start;
              const flush = async (): Promise<void> => {
                await writing;
                const data = buffers[slot].subarray(0, fill);
                writing = ordered.write(data, position);
                // Handled here, thrown where it is awaited: the next flush, or the end.
                writing.catch(() => undefined);
                position += fill;
                fill = 0;
                slot = slot === 0 ? 1 : 0;
              };
              try {
                for await (const chunk of body) {
                  const data = chunk as Buffer;
                  if (position + fill + data.length > end + 1) {
                    throw Object.assign(
                      new Error(`range ${start}-${end} sent more than ${end - start + 1} bytes`),
                      { code: 'ERR_STREAM_PREMATURE_CLOSE' },
                    );
                  }
                  for (let offset = 0; offset < data.length;) {
                    const n = data.copy(buffers[slot], fill, offset);
                    fill += n;
                    offset += n;
                    if (fill === HASH_CHUNK_SIZE) await flush();
                  }
                  report(data.length);
                }
                if (fill > 0) await flush();
                await writing;
              } finally {
                await writing.catch(() => undefined);
                stages.push(...buffers);
              }
              // The server may clamp the last range: trust its Content-Range for where it ends.
              const servedEnd = Number(/-(\d+)\//.exec(out.ContentRange ?? '')?.[1] ?? end);
              if (position !== servedEnd + 1) {
                throw Object.assign(new Error(`range ${start}-${servedEnd} ended at ${position}`), {
                  code: 'ERR_STREAM_PREMATURE_CLOSE',
                });
              }
            };
            let nextToFetch = 1;
            const worker = async (): Promise<void> => {
              for (;;) {
                const index = nextToFetch;
                if (index >= ranges || stopped()) return;
                nextToFetch++;
                await receive(index, await openRange(index, etag));
              }
            };
            // The first failure is the cause; the siblings it stopped fail with aborts.
            let firstError: { error: unknown } | undefined;
            const settle = (task: Promise<void>): Promise<void> =>
              task.catch((error: unknown) => {
                firstError ??= { error };
                stop.abort();
              });
            await Promise.all([
              settle(receive(0, first)),
              ...Array.from({ length: Math.min(options.concurrency - 1, ranges - 1) }, () =>
                settle(worker()),
              ),
            ]);
            if (firstError !== undefined) throw firstError.error;
            const result: DownloadResult = { ...info, ...(await digests()) };
            options.verify?.(result);
            return result;
          } catch (error) {
            options.onBytes?.(-reported);
            throw error;
          } finally {
            // The worker reads through this descriptor: stopped before it is closed.
            await hashWorker?.close();
            await fh.close();
          }
        },
        // A 412 means the object changed mid-download: start over with the new version.
        this.retryOptions(
          'ranged GetObject',
          bucket,
          key,
          signal,
          (e) => retryDownload(e) || sdkErrorMeta(e).statusCode === 412,
        ),
      );
    } catch (error) {
      throw this.toError(error, 'GetObject', bucket, key, signal);
    }
  }

  /**
   * PUTs a file in one request with `Content-MD5`, so the server rejects bytes that do not
   * match the digest (a file changed since it was hashed). Returns the response ETag.
   */
  async putFile(
    bucket: string,
    key: string,
    filePath: string,
    digest: FileDigest,
    options: PutOptions = {},
  ): Promise<PutResult> {
    const { signal } = options;
    try {
      return await retry(
        async () => {
          let sent = 0;
          let file: Readable | undefined;
          let body: Readable | Buffer;
          if (options.body !== undefined) {
            body = options.body;
          } else {
            // Reads no larger than the file: a 1 MiB buffer per 4 KiB file is pure GC work.
            const chunk = Math.max(1, Math.min(HASH_CHUNK_SIZE, digest.size));
            file = (await openRegularFile(filePath)).createReadStream({ highWaterMark: chunk });
            // The body must be a stream nothing has started reading: the SDK's checksum
            // hasher (AWS, WHEN_SUPPORTED) throws on one already flowing, and with `Expect:
            // 100-continue` (bodies >= 2 MiB) the SDK pipes the body only after a round trip,
            // so a body flowing before then drops its first chunks and the PUT hangs. So
            // bytes are counted by a pass-through, not by a 'data' listener on the file.
            const counter = new Transform({
              highWaterMark: chunk,
              transform(data: Buffer, _encoding, done) {
                sent += data.length;
                options.onBytes?.(data.length);
                done(null, data);
              },
            });
            // A read error reaches the SDK through the counter; the callback only swallows
            // the premature close that `finally` causes.
            pipeStreams(file, counter, () => undefined);
            body = counter;
          }
          try {
            const out = await this.sdk.send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: key,
                Body: body,
                ContentLength: digest.size,
                ContentMD5: Buffer.from(digest.md5, 'hex').toString('base64'),
                Metadata: { ...options.metadata, [MD5_METADATA_KEY]: digest.md5 },
                ...(options.ifNoneMatch === true && { IfNoneMatch: '*' }),
                ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
                // A precomputed checksum goes as a header; asking the SDK to compute one
                // would send an aws-chunked trailer, which some servers refuse.
                ...checksumHeader(options.checksumAlgorithm, digest),
              }),
              { abortSignal: signal },
            );
            if (options.body !== undefined) options.onBytes?.(options.body.length);
            return {
              etag: out.ETag,
              opaqueEtag: remoteObject(out).opaqueEtag,
              checksum: checksumOf(out),
            };
          } catch (error) {
            options.onBytes?.(-sent);
            throw error;
          } finally {
            if (!Buffer.isBuffer(body)) body.destroy();
            file?.destroy();
          }
        },
        this.retryOptions('PutObject', bucket, key, signal),
      );
    } catch (error) {
      throw this.toError(error, 'PutObject', bucket, key, signal, filePath);
    }
  }

  /**
   * Uploads a file in parts, reading it once: each part is read into one of
   * `queueSize + 1` reused buffers, hashed (its MD5 goes as `Content-MD5`, so the server
   * checks every part; the whole file's MD5 and the composite ETag come from the same
   * read) and sent, with at most `queueSize` parts in flight. Memory stays below
   * `(queueSize + 1) × partSize` whatever the file's size. The SDK retries each part (a
   * Buffer body is replayable). On any failure or abort the parts in flight settle first,
   * then the upload is aborted on the server, and only then does the promise reject.
   *
   * With `md5`, the object records it as its fingerprint; bytes that no longer have that
   * MD5 (the file changed since it was hashed) fail the upload before it completes.
   */
  async uploadMultipart(
    bucket: string,
    key: string,
    filePath: string,
    options: MultipartOptions,
  ): Promise<MultipartResult> {
    const { signal, size, partSize } = options;
    const operation = 'MultipartUpload';
    let uploadId: string | undefined;
    let reported = 0;
    let fh: FileHandle | undefined;
    try {
      signal?.throwIfAborted();
      fh = await openRegularFile(filePath);
      const created = await this.sdk.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          Metadata: {
            ...options.metadata,
            ...(options.md5 !== undefined && { [MD5_METADATA_KEY]: options.md5 }),
            [PART_SIZE_METADATA_KEY]: String(partSize),
          },
          ...(options.checksumAlgorithm !== undefined && {
            ChecksumAlgorithm: options.checksumAlgorithm,
          }),
        }),
        { abortSignal: signal },
      );
      uploadId = created.UploadId;
      if (uploadId === undefined || uploadId === '') {
        throw new S3ObjectError(
          `${operation} ${this.describe(bucket, key)}: the server returned no UploadId`,
          { operation, uri: this.describe(bucket, key) },
        );
      }
      const hasher = new PartHasher(partSize, options.checksumAlgorithm);
      const parts = await this.sendParts(bucket, key, uploadId, fh, hasher, {
        ...options,
        filePath,
        onBytes: (n) => {
          reported += n;
          options.onBytes?.(n);
        },
      });
      const digest = hasher.digest();
      const now = await fh.stat();
      if (now.size !== size) {
        throw new LocalPathError(
          `${filePath} changed while it was being uploaded to ${this.describe(bucket, key)}: it has ${now.size} bytes, not ${size}`,
          filePath,
        );
      }
      if (options.md5 !== undefined && digest.md5 !== options.md5) {
        throw new HashMismatchError(
          `${filePath} changed while it was being uploaded to ${this.describe(bucket, key)}: its MD5 is ${digest.md5}, not ${options.md5}`,
          {
            expected: options.md5,
            actual: digest.md5,
            uri: this.describe(bucket, key),
            path: filePath,
          },
        );
      }
      const out = await this.sdk.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(options.ifNoneMatch === true && { IfNoneMatch: '*' }),
          ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
        }),
        { abortSignal: signal },
      );
      uploadId = undefined;
      return {
        etag: out.ETag,
        opaqueEtag: remoteObject(out).opaqueEtag,
        checksum: checksumOf(out),
        digest,
      };
    } catch (error) {
      options.onBytes?.(-reported);
      if (uploadId !== undefined) await this.abortMultipart(bucket, key, uploadId);
      throw this.toError(error, operation, bucket, key, signal, filePath);
    } finally {
      await fh?.close();
    }
  }

  /**
   * Reads, hashes and sends the parts of an upload in order, at most `queueSize` in flight.
   * The first failure stops the reading and the parts in flight; all of them settle before
   * this returns or throws.
   */
  private async sendParts(
    bucket: string,
    key: string,
    uploadId: string,
    fh: FileHandle,
    hasher: PartHasher,
    options: MultipartOptions & { filePath: string },
  ): Promise<CompletedPart[]> {
    const { signal, size, partSize, queueSize, checksumAlgorithm } = options;
    const { parts } = partLayout(size, partSize);
    const stop = new AbortController();
    const partSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const completed: CompletedPart[] = [];
    const free: Buffer[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown): void => {
      failure ??= { error };
      stop.abort();
    };
    const failed = (): boolean => stop.signal.aborted;
    try {
      for (let i = 0; i < parts && !failed(); i++) {
        signal?.throwIfAborted();
        const start = i * partSize;
        // One buffer per part in flight plus the one being read: the next part is read and
        // hashed while the others are on their way.
        const buffer = free.pop() ?? Buffer.allocUnsafeSlow(Math.min(partSize, size));
        const body = buffer.subarray(0, Math.min(partSize, size - start));
        await readFully(fh, body, start, options.filePath);
        const part = await hasher.addPart(body);
        while (inFlight.size >= queueSize && !failed()) await Promise.race(inFlight);
        if (failed()) break;
        const checksum =
          checksumAlgorithm !== undefined && part.checksum !== undefined
            ? { [`Checksum${checksumAlgorithm}`]: part.checksum }
            : {};
        const partNumber = i + 1;
        const sending: Promise<void> = this.sdk
          .send(
            unsignedPayload(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: body,
                ContentLength: body.length,
                ContentMD5: Buffer.from(part.md5, 'hex').toString('base64'),
                ...checksum,
              }),
            ),
            { abortSignal: partSignal },
          )
          .then((out) => {
            completed[i] = {
              PartNumber: partNumber,
              ETag: out.ETag ?? `"${part.md5}"`,
              ...checksum,
            };
            options.onBytes?.(body.length);
          }, fail)
          .finally(() => {
            free.push(buffer);
            inFlight.delete(sending);
          });
        inFlight.add(sending);
      }
    } catch (error) {
      fail(error);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure.error;
    return completed;
  }

  /** Aborts a multipart upload (whatever the caller's signal), so no parts are left stored. */
  private async abortMultipart(bucket: string, key: string, uploadId: string): Promise<void> {
    try {
      await this.sdk.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      log.warn(
        `could not abort the multipart upload ${uploadId} of ${this.describe(bucket, key)} (${describeError(error)}); its parts stay stored until it is aborted`,
      );
    }
  }

  /**
   * Lists every object under `prefix`, flat (no delimiter), one page of up to 1,000 keys
   * per request. Pages are yielded as they arrive; a failed page throws, so a caller that
   * reaches the end has seen a complete listing.
   */
  async *listObjects(
    bucket: string,
    prefix: string,
    signal?: AbortSignal,
  ): AsyncGenerator<ListedObject[], void, undefined> {
    for await (const page of this.listPages(bucket, prefix, { signal })) yield page.objects;
  }

  /**
   * Lists under `prefix` page by page (up to 1,000 entries per request). With a
   * `delimiter` (`/`), keys below the next delimiter come back once, as a common prefix:
   * one level of a tree, as `ls` shows it. A failed page throws.
   *
   * A listing that does not advance throws a {@link ListingError} instead of yielding the
   * page that shows it: a truncated page without a continuation token, a token the server
   * already gave, a page whose first object sorts at or before the last object of the page
   * before (in S3 key order, UTF-8 byte order), or a page that lists only keys of the page
   * before again. Keys out of order within a page (or across pages, short of these) are
   * passed on as they are, for the caller to judge.
   */
  async *listPages(
    bucket: string,
    prefix: string,
    options: { delimiter?: string | undefined; signal?: AbortSignal | undefined } = {},
  ): AsyncGenerator<ListedPage, void, undefined> {
    const { delimiter, signal } = options;
    const operation = 'ListObjectsV2';
    const uri = this.describe(bucket, prefix);
    const stuck = (why: string): ListingError =>
      new ListingError(`${operation} ${uri}: ${why}: the listing does not advance`, {
        operation,
        uri,
      });
    const usedTokens = new Set<string>();
    /** The last page that had objects: its number, its keys, and the last of them as listed. */
    let previous: { page: number; keys: Set<string>; last: string } | undefined;
    let token: string | undefined;
    for (let pageNumber = 1; ; pageNumber++) {
      let page;
      try {
        page = await this.sdk.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw this.toError(error, operation, bucket, prefix, signal);
      }
      const objects: ListedObject[] = [];
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        objects.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified });
      }
      // Each page is checked before it is yielded: a page that does not advance is not used.
      const truncated = page.IsTruncated === true;
      token = truncated ? page.NextContinuationToken : undefined;
      if (truncated && token === undefined) {
        throw stuck(
          `the server said page ${pageNumber} is truncated but gave no continuation token`,
        );
      }
      if (token !== undefined && usedTokens.has(token)) {
        throw stuck(
          `the server repeated the continuation token ${quoted(token)} on page ${pageNumber}`,
        );
      }
      const first = objects[0]?.key;
      if (previous !== undefined && first !== undefined) {
        if (compareKeys(first, previous.last) <= 0) {
          throw stuck(
            `page ${pageNumber} goes back to ${quoted(first)}, at or before ${quoted(previous.last)} of page ${previous.page}`,
          );
        }
        // Pages out of order (which this tolerates) can still not list the same page again.
        const seen = previous.keys;
        if (objects.every((o) => seen.has(o.key))) {
          throw stuck(`page ${pageNumber} lists only keys of page ${previous.page} again`);
        }
      }
      if (first !== undefined) {
        const keys = new Set(objects.map((o) => o.key));
        previous = { page: pageNumber, keys, last: objects.at(-1)?.key ?? first };
      }
      const prefixes = (page.CommonPrefixes ?? []).flatMap((p) => p.Prefix ?? []);
      yield { objects, prefixes };
      if (token === undefined) return;
      usedTokens.add(token);
    }
  }

  /**
   * Deletes keys with DeleteObjects, at most 1,000 per request (S3's limit), and reports
   * each key S3 could not delete instead of treating the batch as done.
   */
  async deleteObjects(
    bucket: string,
    keys: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ deleted: string[]; failed: { key: string; error: S3ObjectError }[] }> {
    const deleted: string[] = [];
    const failed: { key: string; error: S3ObjectError }[] = [];
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let out;
      try {
        out = await this.sdk.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        const e = this.toError(error, 'DeleteObjects', bucket, batch[0] ?? '', signal);
        if (!(e instanceof S3ObjectError)) throw e;
        for (const key of batch) failed.push({ key, error: e });
        continue;
      }
      const errors = new Map<string, S3ObjectError>();
      for (const err of out.Errors ?? []) {
        if (err.Key === undefined) continue;
        const uri = this.describe(bucket, err.Key);
        errors.set(
          err.Key,
          new S3ObjectError(
            `DeleteObjects ${uri} failed (${err.Code ?? 'unknown'})${err.Message ? `: ${err.Message}` : ''}`,
            {
              operation: 'DeleteObjects',
              uri,
              cause: Object.assign(new Error(err.Message ?? err.Code ?? 'delete failed'), {
                name: err.Code ?? 'DeleteError',
              }),
            },
          ),
        );
      }
      for (const key of batch) {
        const error = errors.get(key);
        if (error === undefined) deleted.push(key);
        else failed.push({ key, error });
      }
    }
    return { deleted, failed };
  }

  /** DELETEs one object (S3 answers success whether or not it existed). */
  async deleteObject(bucket: string, key: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.sdk.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
    } catch (error) {
      throw this.toError(error, 'DeleteObject', bucket, key, signal);
    }
  }

  /**
   * GETs an object as a stream, for a caller that reads it once (`s3lync cat`): nothing
   * lands on disk or in memory. The SDK retries the request; the body, once flowing, is
   * not replayed. The caller must consume or destroy `body`.
   */
  async getStream(
    bucket: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<{ object: RemoteObject; body: Readable }> {
    try {
      const out = await this.sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      return { object: remoteObject(out), body: out.Body as Readable };
    } catch (error) {
      throw this.toError(error, 'GetObject', bucket, key, signal);
    }
  }
}

function remoteObject(
  out: ChecksumFields & {
    ContentLength?: number | undefined;
    ETag?: string | undefined;
    Metadata?: Record<string, string> | undefined;
    LastModified?: Date | undefined;
    ServerSideEncryption?: string | undefined;
    SSECustomerAlgorithm?: string | undefined;
    PartsCount?: number | undefined;
  },
): RemoteObject {
  const metadata = out.Metadata ?? {};
  const hint = Number(metadata[PART_SIZE_METADATA_KEY]);
  return {
    size: out.ContentLength ?? 0,
    etag: out.ETag,
    fingerprintMd5: metadata[MD5_METADATA_KEY],
    opaqueEtag:
      out.SSECustomerAlgorithm !== undefined ||
      (out.ServerSideEncryption !== undefined && out.ServerSideEncryption.startsWith('aws:kms')),
    lastModified: out.LastModified,
    metadata,
    partSizeHint: Number.isSafeInteger(hint) && hint > 0 ? hint : undefined,
    partsCount: out.PartsCount,
    checksum: checksumOf(out),
  };
}

function checksumHeader(
  algorithm: ChecksumAlgorithm | undefined,
  digest: FileDigest,
): Partial<Record<`Checksum${ChecksumAlgorithm}`, string>> {
  if (algorithm === undefined || digest.checksum === undefined) return {};
  return { [`Checksum${algorithm}`]: digest.checksum };
}

/**
 * Reads exactly `target.length` bytes at `position`; a file that ends sooner changed since
 * its size was taken, and fails the upload.
 */
async function readFully(
  fh: FileHandle,
  target: Buffer,
  position: number,
  filePath: string,
): Promise<void> {
  let filled = 0;
  while (filled < target.length) {
    const { bytesRead } = await fh.read(target, filled, target.length - filled, position + filled);
    if (bytesRead === 0) {
      throw new LocalPathError(
        `${filePath} changed while it was being uploaded: it ends at ${position + filled} bytes`,
        filePath,
      );
    }
    filled += bytesRead;
  }
}

/**
 * Signs a request without hashing its body (`x-amz-content-sha256: UNSIGNED-PAYLOAD`). The
 * SDK otherwise computes a SHA-256 of every Buffer body to sign it: a second digest of
 * every byte, where `Content-MD5` already makes the server check them.
 */
function unsignedPayload<C extends UploadPartCommand>(command: C): C {
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers !== undefined) {
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 's3lyncUnsignedPayload' },
  );
  return command;
}

function withAttempts(error: unknown, attempts: number): unknown {
  if (typeof error === 'object' && error !== null && attempts > 1) {
    const e = error as { $metadata?: { attempts?: number } };
    e.$metadata = { ...e.$metadata, attempts };
  }
  return error;
}

/** A download is worth another attempt after a retryable error or bytes that did not verify. */
function retryDownload(error: unknown): boolean {
  return error instanceof HashMismatchError || isRetryableError(error);
}

/**
 * Whether an error is a timeout of this side: the connect or idle timeout of the SDK's
 * handler (a `TimeoutError` without a code), or a socket's `ETIMEDOUT`. The handler also
 * renames `ECONNRESET` and `EPIPE` errors to `TimeoutError`: those are resets, not timeouts.
 */
function isTimeout(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const e = error as { name?: unknown; code?: unknown; cause?: unknown };
  if (e.code === 'ETIMEDOUT') return true;
  if (e.name === 'TimeoutError' && e.code === undefined) return true;
  return e.cause !== error && isTimeout(e.cause, depth + 1);
}

/** What timed out, in words, from the SDK handler's message (which says how long). */
function describeTimeout(error: unknown): string {
  let message = '';
  for (let e: unknown = error, i = 0; typeof e === 'object' && e !== null && i < 4; i++) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m !== '') {
      message = m;
      if (/\d+ ?ms/.test(m)) break;
    }
    e = (e as { cause?: unknown }).cause;
  }
  const idle = /after (\d+) ms of inactivity/.exec(message);
  if (idle) return `the connection was idle for ${idle[1]} ms (the idle timeout, timeouts.idleMs)`;
  const connect = /within the configured timeout of (\d+) ms/.exec(message);
  if (connect) {
    return `no connection within ${connect[1]} ms (the connect timeout, timeouts.connectMs)`;
  }
  return message || 'the request timed out';
}

/** A key or token from the server, quoted and cut to a readable length for messages. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

function describeError(error: unknown): string {
  const { statusCode, code } = sdkErrorMeta(error);
  return [code, statusCode].filter((x) => x !== undefined).join(' ') || String(error);
}
