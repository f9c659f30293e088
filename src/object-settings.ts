/**
 * The settings an `S3Object` runs with: its options checked and completed with their
 * defaults and the environment, in one place. A manager checks its `defaults` with the
 * same rules, and builds clients from the same {@link Connection}.
 *
 * @packageDocumentation
 */
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';

import type { CacheSettings } from './cache/freshness.js';
import { parseSize } from './cache/policy.js';
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './checksum.js';
import { attachLane, timeoutsFor, type TimeoutOptions } from './client.js';
import { parsePositiveInt, type EnvConfig } from './config.js';
import { ConfigError } from './exceptions.js';
import { DEFAULT_EXCLUDES, patternSource } from './excludes.js';
import type { S3ObjectOptions } from './options.js';
import { validateProgressMode, type ProgressMode } from './progress.js';
import { resolveRetryConfig, type ResolvedRetryConfig } from './retry.js';
import { CustomerKey } from './sse-c.js';
import { CHECKS_DIR } from './sync/checks.js';
import { resolveUploadSettings, type UploadSettings } from './upload-params-check.js';
import { cacheRoot, expandHome, type ParsedS3Uri } from './utils.js';

/** Files larger than this upload in parts. @default 8 MiB */
export const DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024;
/** The part size of multipart uploads. @default 8 MiB */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Objects larger than this download as parallel ranged GETs. @default 32 MiB */
export const DEFAULT_RANGE_THRESHOLD = 32 * 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** How an object reaches S3: what the SDK client s3lync builds for it is made of. */
export interface Connection {
  /** The custom endpoint of the URI; `undefined` for AWS. */
  readonly endpoint: string | undefined;
  /** The credentials of the URI; `undefined` for the AWS default chain. */
  readonly credentials: ParsedS3Uri['credentials'];
  /** The region; `undefined` leaves it to the SDK. */
  readonly region: string | undefined;
  /** The retry policy, complete. */
  readonly retry: ResolvedRetryConfig;
  /** The connect and idle timeouts, complete. */
  readonly timeouts: Required<TimeoutOptions>;
  /** Whether the built client sends its hot requests through the data lane (`'always'`: from the first). */
  readonly dataLane: boolean | 'always';
  /** The lane's open connections per server, at most. */
  readonly maxConnections: number;
}

/** The options of an `S3Object` (all but `localPath`, `client` and `limiter`), checked and complete. */
export interface ObjectSettings extends UploadSettings {
  readonly progressMode: ProgressMode;
  readonly maxConcurrency: number;
  readonly partSize: number;
  readonly multipartThreshold: number;
  readonly rangeThreshold: number;
  readonly followSymlinks: boolean;
  readonly lockTimeout: number;
  readonly checksumAlgorithm: ChecksumAlgorithm | undefined;
  readonly region: string | undefined;
  readonly retry: ResolvedRetryConfig;
  readonly timeouts: Required<TimeoutOptions>;
  /** `dataLane` as given, else the environment's; `undefined` when neither says. */
  readonly dataLane: boolean | 'always' | undefined;
  /** The exclude patterns, as regular-expression sources. */
  readonly excludes: readonly string[];
  /** Where hash indexes live; `undefined` disables the index. */
  readonly indexDir: string | undefined;
  /** Where the locks of local paths live. */
  readonly lockDir: string;
  /** `maxAge`, `offline`, `staleIfError`, and where checks are recorded. */
  readonly cache: CacheSettings;
  /** The default cache's size limit in bytes; `undefined`: none. */
  readonly cacheMaxSize: number | undefined;
  /** The SSE-C key of every object request, checked. */
  readonly customerKey: CustomerKey | undefined;
}

/** `value`, or `fallback` when it is not given, if `ok` accepts it. */
function valid<T>(
  value: T | undefined,
  fallback: T,
  ok: (v: T) => boolean,
  option: string,
  expected: string,
): T {
  const v = value ?? fallback;
  if (!ok(v)) {
    throw new ConfigError(
      `Expected \`${option}\` to be ${expected}, got ${JSON.stringify(v)} (${typeof v})`,
    );
  }
  return v;
}

const isCount = (v: number): boolean => Number.isInteger(v) && v >= 0;

/**
 * Checks the options of an `S3Object` and completes them.
 *
 * @param prefix - put before option names in messages (`defaults.` for a manager's defaults).
 * @throws {ConfigError} naming the option and the value.
 */
export function resolveObjectSettings(
  options: S3ObjectOptions,
  env: EnvConfig,
  prefix = '',
): ObjectSettings {
  const name = (option: string): string => `${prefix}${option}`;
  const hashIndex = options.hashIndex ?? true;
  const indexDir =
    hashIndex === false
      ? undefined
      : typeof hashIndex === 'string'
        ? expandHome(hashIndex, env.home)
        : path.join(cacheRoot(env), '.index');
  return {
    ...resolveUploadSettings(options, prefix),
    progressMode: validateProgressMode(options.progressMode ?? 'progress', name('progressMode')),
    maxConcurrency:
      options.maxConcurrency === undefined
        ? env.maxWorkers
        : parsePositiveInt(options.maxConcurrency, `\`${name('maxConcurrency')}\``),
    partSize: valid(
      options.partSize,
      DEFAULT_PART_SIZE,
      (v) => Number.isInteger(v) && v >= MIN_PART_SIZE,
      name('partSize'),
      `an integer >= ${MIN_PART_SIZE} (5 MiB)`,
    ),
    multipartThreshold: valid(
      options.multipartThreshold,
      DEFAULT_MULTIPART_THRESHOLD,
      isCount,
      name('multipartThreshold'),
      'an integer >= 0',
    ),
    followSymlinks: valid(
      options.followSymlinks,
      false,
      (v) => typeof v === 'boolean',
      name('followSymlinks'),
      'a boolean',
    ),
    rangeThreshold: valid(
      options.rangeThreshold,
      DEFAULT_RANGE_THRESHOLD,
      isCount,
      name('rangeThreshold'),
      'an integer >= 0',
    ),
    lockTimeout: valid(
      options.lockTimeout,
      Number.POSITIVE_INFINITY,
      (v) => typeof v === 'number' && !Number.isNaN(v) && v >= 0,
      name('lockTimeout'),
      'a number of ms >= 0',
    ),
    checksumAlgorithm: valid<ChecksumAlgorithm | undefined>(
      options.checksumAlgorithm,
      undefined,
      (v) => v === undefined || CHECKSUM_ALGORITHMS.includes(v),
      name('checksumAlgorithm'),
      `one of ${CHECKSUM_ALGORITHMS.join(', ')}`,
    ),
    region: options.region ?? env.region,
    retry: resolveRetryConfig(options.retry),
    timeouts: timeoutsFor(options.timeouts, env),
    dataLane:
      options.dataLane === undefined
        ? env.dataLane
        : valid(
            options.dataLane,
            true,
            (v: unknown) => typeof v === 'boolean' || v === 'always',
            name('dataLane'),
            "a boolean or 'always'",
          ),
    excludes: (options.excludes ?? DEFAULT_EXCLUDES).map(patternSource),
    indexDir,
    lockDir: path.join(cacheRoot(env), '.locks'),
    customerKey:
      options.sseCustomerKey === undefined
        ? undefined
        : CustomerKey.of(options.sseCustomerKey, `\`${name('sseCustomerKey')}\``),
    cacheMaxSize:
      options.cacheMaxSize === undefined
        ? env.cacheMaxSize
        : parseSize(options.cacheMaxSize, `\`${name('cacheMaxSize')}\``),
    cache: cacheSettings(options, env, indexDir, name),
  };
}

/** The cache options, checked; checks are recorded beside the hash index. */
function cacheSettings(
  options: S3ObjectOptions,
  env: EnvConfig,
  indexDir: string | undefined,
  name: (option: string) => string,
): CacheSettings {
  const isBoolean = (v: unknown): boolean => typeof v === 'boolean';
  return {
    maxAge: valid(
      options.maxAge,
      0,
      (v) => typeof v === 'number' && !Number.isNaN(v) && v >= 0,
      name('maxAge'),
      'a number of ms >= 0',
    ),
    offline: valid(options.offline, env.offline ?? false, isBoolean, name('offline'), 'a boolean'),
    staleIfError: valid(options.staleIfError, false, isBoolean, name('staleIfError'), 'a boolean'),
    checksDir: indexDir === undefined ? undefined : path.join(indexDir, CHECKS_DIR),
  };
}

/** The connection of an object at `parsed` with these settings. */
export function connectionOf(parsed: ParsedS3Uri, settings: ObjectSettings): Connection {
  const { region, retry, timeouts } = settings;
  return {
    endpoint: parsed.endpoint,
    credentials: parsed.credentials,
    region,
    retry,
    timeouts,
    dataLane: settings.dataLane ?? true,
    maxConnections: settings.maxConcurrency,
  };
}

/**
 * The SDK client of an object: the one its options give, else one `build` makes. A client
 * given keeps the SDK path unless its owner opts in with `dataLane`.
 */
export function objectSdk(
  options: Pick<S3ObjectOptions, 'client' | 'dataLane'>,
  settings: ObjectSettings,
  build: () => S3Client,
): S3Client {
  if (options.client === undefined) return build();
  if (options.dataLane === true || options.dataLane === 'always') {
    attachLane(
      options.client,
      { timeouts: settings.timeouts, connections: settings.maxConcurrency },
      options.dataLane,
    );
  }
  return options.client;
}
