/**
 * s3lync: use S3 objects like local files.
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
export { DEFAULT_EXCLUDES, compileExcludes, type ExcludeMatcher } from './excludes.js';
export {
  compareDigests,
  verifyContent,
  hashingFor,
  type RemoteContent,
  type ContentDigest,
  type Verdict,
  type VerifiedBy,
} from './verify.js';
export {
  checksumOf,
  createChecksummer,
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  type ObjectChecksum,
  type Checksummer,
  type ChecksumFields,
} from './checksum.js';
export {
  planSync,
  pathsNeedingDigest,
  sameContent,
  fileDirectoryConflicts,
  type RemoteEntry,
  type LocalEntry,
  type KnownDigest,
  type PlanInput,
  type Plan,
} from './plan.js';
export { runSync, type Limiter, type SyncOptions, type SyncTarget } from './sync.js';
export type {
  Direction,
  TransferReason,
  DeleteReason,
  SyncAction,
  SkippedEntry,
  SyncFailure,
  SyncResult,
} from './result.js';
export { HashIndex, indexFileFor } from './hash-index.js';
export { parseIndex, serializeIndex, type IndexEntry } from './hash-index-format.js';
export { isTrusted, RACY_MARGIN_NS, RACY_MARGIN_COARSE_NS, type FileIdentity } from './identity.js';
export { walkLocal, type LocalFile } from './local-tree.js';
export {
  parseOpenMode,
  type OpenMode,
  type OpenOptions,
  type ModeSemantics,
  type S3File,
} from './file.js';
export {
  createS3Client,
  S3lyncClient,
  DEFAULT_ENDPOINT_REGION,
  DEFAULT_TIMEOUTS,
  resolveTimeouts,
  type ClientOptions,
  type TimeoutOptions,
  type ListedObject,
  type ListedPage,
  type RemoteObject,
  type DownloadResult,
  type PutResult,
} from './client.js';
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
  compositeEtag,
  candidatePartSizes,
  choosePartSize,
  MAX_PARTS,
  partsInEtag,
  isMultipartEtag,
  isMd5Etag,
  normalizeEtag,
  MD5_METADATA_KEY,
  PART_SIZE_METADATA_KEY,
  COMMON_PART_SIZES,
  MAX_CANDIDATE_PART_SIZES,
  type Comparison,
  type LocalDigest,
  type RemoteDigest,
} from './etag.js';
export {
  hashBuffer,
  hashFile,
  HashingStream,
  HASH_CHUNK_SIZE,
  SMALL_FILE_SIZE,
  type FileDigest,
  type HashFileOptions,
  type HashingOptions,
  type ReceivedDigest,
} from './hash.js';
export {
  configureLogging,
  getLogger,
  resetLogging,
  redact,
  type Logger,
  type LoggingOptions,
  type LogLevel,
} from './logging.js';
export {
  ProgressBar,
  chainCallbacks,
  effectiveProgressMode,
  validateProgressMode,
  PROGRESS_MODES,
  FILE_BAR_THRESHOLD,
  type ProgressMode,
  type ProgressEvent,
  type ProgressCallback,
  type OverallProgress,
  type ProgressBarOptions,
  type ProgressFile,
  type ProgressStream,
} from './progress.js';
export {
  retry,
  sleep,
  backoffDelay,
  isRetryableError,
  resolveRetryConfig,
  createRetryStrategy,
  DEFAULT_RETRY,
  RETRYABLE_ERROR_CODES,
  type RetryConfig,
  type ResolvedRetryConfig,
  type RetryOptions,
} from './retry.js';
export { readEnvConfig, DEFAULT_MAX_WORKERS, type EnvConfig } from './config.js';
export {
  parseS3Uri,
  formatS3Uri,
  redactRawUri,
  cacheRoot,
  defaultLocalPath,
  resolveKeyPath,
  ACCEPTED_URI_FORMS,
  type ParsedS3Uri,
  type UriCredentials,
  type CacheLocation,
} from './utils.js';
