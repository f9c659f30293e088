/**
 * s3lync: use S3 objects like local files.
 *
 * The public API: the classes, their options and results, the errors, and the pure helpers
 * a user calls (URI parsing and formatting, ETag maths, the verification verdict). Modules
 * keep their internals; import from `s3lync` only.
 *
 * @packageDocumentation
 */
export {
  S3Object,
  DEFAULT_MULTIPART_THRESHOLD,
  DEFAULT_PART_SIZE,
  DEFAULT_RANGE_THRESHOLD,
  MIN_PART_SIZE,
  type S3ObjectOptions,
  type ExistsOptions,
  type DeleteOptions,
} from './core.js';
export {
  S3ObjectManager,
  type S3ObjectManagerOptions,
  type S3ObjectManagerEvents,
  type ManagedObjectDefaults,
  type AddOptions,
  type BatchOptions,
  type DeleteAllOptions,
  type ExistsAllOptions,
  type BatchOperation,
  type StatefulOperation,
  type BatchOutcome,
  type BatchItem,
  type BatchReport,
  type ObjectStatus,
  type ObjectState,
  type ManagedObjectSnapshot,
  type StateChange,
} from './manager.js';
export type { OpenMode, OpenOptions, S3File } from './file.js';
export type { Limiter, SyncOptions } from './sync.js';
export type { CopySyncOptions } from './sync/remote.js';
export type {
  Direction,
  TransferReason,
  DeleteReason,
  SyncAction,
  SkippedEntry,
  SyncFailure,
  SyncResult,
} from './result.js';
export {
  createS3Client,
  DEFAULT_TIMEOUTS,
  type ClientOptions,
  type TimeoutOptions,
  type S3lyncClient,
} from './client.js';
export { DEFAULT_RETRY, type RetryConfig } from './retry.js';
export { readEnvConfig, type EnvConfig } from './config.js';
export { DEFAULT_EXCLUDES, type PathFilter } from './excludes.js';
export type {
  UploadEncryption,
  UploadFileInfo,
  UploadParams,
  UploadParamsOption,
} from './upload-params.js';
export { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './checksum.js';
export type { ProgressMode, ProgressEvent, ProgressCallback } from './progress.js';
export {
  configureLogging,
  getLogger,
  resetLogging,
  type Logger,
  type LoggingOptions,
  type LogLevel,
} from './logging.js';
export {
  S3lyncError,
  InvalidUriError,
  ConfigError,
  S3ObjectError,
  ListingError,
  S3TimeoutError,
  NotFoundError,
  AccessDeniedError,
  PreconditionFailedError,
  ConflictError,
  HashMismatchError,
  LocalPathError,
  UnsafePathError,
  SyncError,
  LockTimeoutError,
  type LockTimeoutDetails,
  type S3lyncErrorOptions,
  type S3ObjectErrorDetails,
  type HashMismatchDetails,
} from './exceptions.js';
export {
  parseS3Uri,
  formatS3Uri,
  redactRawUri,
  ACCEPTED_URI_FORMS,
  type ParsedS3Uri,
  type UriCredentials,
} from './utils.js';
export {
  compositeEtag,
  candidatePartSizes,
  choosePartSize,
  MAX_PARTS,
  partsInEtag,
  isMultipartEtag,
  normalizeEtag,
} from './etag.js';
export { hashFile, type FileDigest, type HashFileOptions } from './hash.js';
export {
  verifyContent,
  type RemoteContent,
  type ContentDigest,
  type Verdict,
  type VerifiedBy,
} from './verify.js';
