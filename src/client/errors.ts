/**
 * SDK error → typed s3lync error: every failure of a request leaves the client as an
 * {@link S3ObjectError} subclass (or a {@link LocalPathError} for the disk) that keeps the
 * original as `cause` and says what to check.
 *
 * @packageDocumentation
 */
import {
  AccessDeniedError,
  isLocalFsError,
  localPathErrorOf,
  NotFoundError,
  PreconditionFailedError,
  S3lyncError,
  S3ObjectError,
  S3TimeoutError,
  sdkErrorMeta,
} from '../exceptions.js';
import { attemptsUsed, UNDICI_TIMEOUT_CODES } from '../retry.js';
import type { UriFormatter } from './types.js';

/** Where a request went: named by its error messages and retry log lines. */
export interface RequestSite {
  /** The S3 operation, as messages name it (`GetObject`). */
  operation: string;
  /** The bucket. */
  bucket: string;
  /** The key (or prefix). */
  key: string;
  /** The caller's signal: its abort passes through as `signal.reason`. @default none */
  signal?: AbortSignal | undefined;
  /** The local file read or written, named by a disk error that names none. @default none */
  localPath?: string | undefined;
}

/** The 403 codes that say why; a HEAD's 403 has none. */
const KNOWN_DENIALS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);

/** Whether a typed error is a 403 whose S3 error code says why. */
export function isExplainedDenial(error: unknown): error is AccessDeniedError {
  return error instanceof AccessDeniedError && KNOWN_DENIALS.has(error.code ?? '');
}

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
 * Turns an SDK error into a typed s3lync error; an abort passes through unchanged. A local
 * fs error becomes a {@link LocalPathError} (naming `site.localPath` if it names no path
 * itself).
 */
export function toS3lyncError(error: unknown, site: RequestSite, describe: UriFormatter): unknown {
  const { operation, bucket, signal } = site;
  if (isAbort(error, signal)) return signal?.aborted ? signal.reason : error;
  if (error instanceof S3lyncError) return error;
  const uri = describe(bucket, site.key);
  // The disk, not S3 (a full disk, a permission): named by the file, if the caller knows it.
  if (isLocalFsError(error)) {
    return localPathErrorOf(error, `${operation} ${uri}`, site.localPath) ?? error;
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
  if (statusCode === 403 || (code !== undefined && KNOWN_DENIALS.has(code))) {
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

/** Runs `request`; its failure leaves as a typed s3lync error ({@link toS3lyncError}). */
export async function typedErrors<T>(
  site: RequestSite,
  describe: UriFormatter,
  request: () => Promise<T>,
): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toS3lyncError(error, site, describe);
  }
}

/**
 * Whether an error is a 304 Not Modified: the answer to a conditional GET, which the SDK
 * (named `NotModified` or by its status) and the lane both throw.
 */
export function isNotModified(error: unknown): boolean {
  const { statusCode, code } = sdkErrorMeta(error);
  return statusCode === 304 || code === 'NotModified';
}

/** A body that ended early (or ran long): retried like a dropped connection. */
export function cutShort(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Whether an error is a timeout of this side: the connect or idle timeout of the SDK's
 * handler (a `TimeoutError` without a code) or of the data lane (undici's), or a socket's
 * `ETIMEDOUT`. The handler also renames `ECONNRESET` and `EPIPE` errors to `TimeoutError`:
 * those are resets, not timeouts.
 */
function isTimeout(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const e = error as { name?: unknown; code?: unknown; cause?: unknown };
  if (e.code === 'ETIMEDOUT') return true;
  if (typeof e.code === 'string' && UNDICI_TIMEOUT_CODES.has(e.code)) return true;
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

/** An error in a few words for log lines: its S3 code and HTTP status, else its text. */
export function describeError(error: unknown): string {
  const { statusCode, code } = sdkErrorMeta(error);
  return [code, statusCode].filter((x) => x !== undefined).join(' ') || String(error);
}
