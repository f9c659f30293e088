/**
 * The error hierarchy. Every error s3lync throws is an {@link S3lyncError}; each
 * subclass sets `name`, keeps the underlying SDK or fs error as `cause`, and names
 * the URI (credentials redacted) or the path it concerns.
 *
 * @packageDocumentation
 */

import type { SyncFailure, SyncResult } from './result.js';

/** Options accepted by every s3lync error. */
export interface S3lyncErrorOptions {
  /** The underlying error (SDK, fs, or the last attempt of a retry). @default none */
  cause?: unknown;
}

/** Base class of every error thrown by s3lync. */
export class S3lyncError extends Error {
  constructor(message: string, options?: S3lyncErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A URI that s3lync cannot parse. The message lists the accepted forms. */
export class InvalidUriError extends S3lyncError {}

/** An invalid option or environment variable. The message names it and its value. */
export class ConfigError extends S3lyncError {}

/** Details attached to an {@link S3ObjectError}. */
export interface S3ObjectErrorDetails extends S3lyncErrorOptions {
  /** The S3 operation that failed, e.g. `GetObject`. */
  operation?: string;
  /** The URI concerned, with credentials redacted. */
  uri?: string;
}

/**
 * An S3 operation failed (after the retries it was allowed), or the local side of one did
 * ({@link LocalPathError}).
 */
export class S3ObjectError extends S3lyncError {
  /** The S3 operation that failed, e.g. `GetObject`. */
  readonly operation: string | undefined;
  /** The URI concerned, with credentials redacted. */
  readonly uri: string | undefined;
  /** The HTTP status of the last response, when there was one. */
  readonly statusCode: number | undefined;
  /** The S3 error code of the last response (e.g. `AccessDenied`), when there was one. */
  readonly code: string | undefined;

  constructor(message: string, details: S3ObjectErrorDetails = {}) {
    super(message, { cause: details.cause });
    this.operation = details.operation;
    this.uri = details.uri;
    const meta = sdkErrorMeta(details.cause);
    this.statusCode = meta.statusCode;
    this.code = meta.code;
  }
}

/**
 * A listing that cannot be trusted. It does not advance, so it cannot be trusted to be
 * complete: the server said a page was truncated but gave no continuation token, repeated
 * a continuation token it had already given, or sent a page whose keys go back to (or
 * before) the last key of the page before (a client that followed it would list the same
 * keys forever); nothing is deleted after one. Or one entry is refused: a key outside the
 * requested prefix, an impossible size (the sync fails that entry, and deletes nothing).
 */
export class ListingError extends S3ObjectError {}

/**
 * The server did not answer in time: no connection within the connect timeout, or no byte
 * for the idle timeout (before the response, or in the middle of its body), on every
 * attempt. `cause` is the last attempt's error.
 */
export class S3TimeoutError extends S3ObjectError {}

/** The key exists neither as an object nor as a prefix, or the bucket does not exist. */
export class NotFoundError extends S3ObjectError {}

/** The server refused the credentials or the request (403, bad signature, unknown key). */
export class AccessDeniedError extends S3ObjectError {}

/**
 * A conditional write was refused: `open('x')` on an object that exists, or an upload
 * whose `If-Match` precondition failed because the object changed on the server.
 */
export class PreconditionFailedError extends S3ObjectError {}

/**
 * A lost update was prevented: the object changed on the server since this object last
 * saw it (`upload({ ifMatch })`), so the upload was refused instead of overwriting it.
 */
export class ConflictError extends PreconditionFailedError {}

/** Details attached to a {@link HashMismatchError}. */
export interface HashMismatchDetails extends S3lyncErrorOptions {
  /** What the server said the content is (ETag or fingerprint). */
  expected: string;
  /** What s3lync computed from the bytes. */
  actual: string;
  /** The URI concerned, with credentials redacted. */
  uri?: string;
  /** The local path concerned. */
  path?: string;
}

/** The bytes transferred do not match the hash the server reported for them. */
export class HashMismatchError extends S3lyncError {
  /** What the server said the content is (ETag or fingerprint). */
  readonly expected: string;
  /** What s3lync computed from the bytes. */
  readonly actual: string;
  /** The URI concerned, with credentials redacted. */
  readonly uri: string | undefined;
  /** The local path concerned. */
  readonly path: string | undefined;

  constructor(message: string, details: HashMismatchDetails) {
    super(message, { cause: details.cause });
    this.expected = details.expected;
    this.actual = details.actual;
    this.uri = details.uri;
    this.path = details.path;
  }
}

/**
 * A local file or directory problem: missing, wrong type, or not accessible.
 *
 * It is an {@link S3ObjectError}, as in the Python package (whose `upload()` of a missing
 * path raises `S3ObjectError`), so code catching that catches this too; `instanceof
 * LocalPathError` tells it apart. `statusCode` and `code` are `undefined`: S3 said nothing.
 */
export class LocalPathError extends S3ObjectError {
  /** The local path concerned. */
  readonly path: string;

  constructor(message: string, path: string, options?: S3ObjectErrorDetails) {
    super(message, options);
    this.path = path;
  }
}

/** Error codes of the local filesystem that a {@link LocalPathError} reports. */
const LOCAL_FS_CODES = new Set([
  'EACCES',
  'EPERM',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EISDIR',
  'ENOTDIR',
  'EEXIST',
  'EMFILE',
  'ENFILE',
  'EFBIG',
  'ENAMETOOLONG',
  'ENOENT',
  'EIO',
]);

/** Whether `error` is a Node fs error (a syscall and one of the codes above), not an S3 one. */
export function isLocalFsError(error: unknown): error is NodeJS.ErrnoException {
  if (typeof error !== 'object' || error === null || '$metadata' in error) return false;
  const e = error as NodeJS.ErrnoException;
  return typeof e.syscall === 'string' && e.code !== undefined && LOCAL_FS_CODES.has(e.code);
}

/**
 * A Node fs error as a {@link LocalPathError} whose message starts with `context`; the
 * path is the error's own, else `fallbackPath` (a failed `write` names none). `undefined`
 * for any other error.
 */
export function localPathErrorOf(
  error: unknown,
  context: string,
  fallbackPath?: string,
): LocalPathError | undefined {
  if (error instanceof LocalPathError) return error;
  if (!isLocalFsError(error)) return undefined;
  const where = error.path ?? fallbackPath;
  if (where === undefined) return undefined;
  return new LocalPathError(`${context}: ${error.message}`, where, { cause: error });
}

/** A key whose local path would leave the target directory (`..`, absolute, NUL). */
export class UnsafePathError extends LocalPathError {}

/**
 * Offline (`offline: true` or `S3LYNC_OFFLINE=1`): the local copy a read needs is missing
 * (or is not the pinned version), or the call would write to S3. Nothing was sent.
 */
export class OfflineError extends S3lyncError {}

/**
 * A write (upload, `open('w')`, `'a'`, `'x'`, `delete()`) to an object pinned to a
 * version (`versionId`): a version is immutable. Refused before any request.
 */
export class PinnedVersionError extends S3lyncError {}

/** Details attached to a {@link LockTimeoutError}. */
export interface LockTimeoutDetails extends S3lyncErrorOptions {
  /** The lock file. @default none */
  file?: string;
  /** Who holds it, as its lock file says. @default none */
  owner?: { pid: number; host: string; since: number } | undefined;
}

/**
 * Another process (or another operation of this one) kept the local path locked for
 * longer than `lockTimeout`. Nothing was changed.
 */
export class LockTimeoutError extends S3lyncError {
  /** The lock file. */
  readonly file: string | undefined;
  /** Who holds it, as its lock file says. */
  readonly owner: { pid: number; host: string; since: number } | undefined;

  constructor(message: string, details: LockTimeoutDetails = {}) {
    super(message, { cause: details.cause });
    this.file = details.file;
    this.owner = details.owner;
  }
}

/**
 * A sync finished what it could and some files failed. `failures` lists each of them
 * with its cause; `cause` is the first failure's error; `result` says what did succeed.
 */
export class SyncError extends S3lyncError {
  /** Every failed path with its error. */
  readonly failures: readonly SyncFailure[];
  /** What the sync did before it gave up (a `SyncResult`), when known. */
  readonly result: SyncResult | undefined;

  constructor(message: string, failures: readonly SyncFailure[], result?: SyncResult) {
    super(message, { cause: failures[0]?.error });
    this.failures = failures;
    this.result = result;
  }
}

/** The HTTP status and S3 error code of an SDK error, where it has them. */
export function sdkErrorMeta(error: unknown): { statusCode?: number; code?: string } {
  if (typeof error !== 'object' || error === null) return {};
  const e = error as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const statusCode =
    typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  // An SDK error's name is the S3 error code; a plain Error's name ("TypeError") is not.
  const fromName = e.$metadata !== undefined && typeof e.name === 'string' ? e.name : undefined;
  const code = typeof e.Code === 'string' ? e.Code : fromName;
  return { statusCode, code };
}
