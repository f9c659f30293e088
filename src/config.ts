/**
 * Every environment variable s3lync reads, read in one place. Functions take the
 * environment as an argument so each rule can be tested without touching `process.env`.
 *
 * @packageDocumentation
 */
import os from 'node:os';

import { parseSize } from './cache/policy.js';
import { ConfigError } from './exceptions.js';

/** Log levels, quietest last. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** The settings s3lync takes from the environment. */
export interface EnvConfig {
  /** `S3LYNC_MAX_WORKERS`: files in flight at once. @default 8 */
  maxWorkers: number;
  /** `S3LYNC_LOG_LEVEL`, or `debug` when `S3LYNC_DEBUG` is set; `undefined` when neither is. */
  logLevel: LogLevel | undefined;
  /** `XDG_CACHE_HOME`, if set and not empty. */
  xdgCacheHome: string | undefined;
  /** `HOME`, if set and not empty (else the OS home directory). */
  home: string | undefined;
  /** `AWS_REGION`, else `AWS_DEFAULT_REGION`. */
  region: string | undefined;
  /**
   * `S3LYNC_CONNECT_TIMEOUT_MS`: the connect timeout of the clients s3lync builds, in ms (`0`
   * waits as long as the OS does); `undefined` when unset. The `timeouts.connectMs` option
   * wins over it.
   */
  connectTimeoutMs: number | undefined;
  /**
   * `S3LYNC_IDLE_TIMEOUT_MS`: how long their connections may go without a byte, in ms (`0`
   * waits forever); `undefined` when unset. The `timeouts.idleMs` option wins over it.
   */
  idleTimeoutMs: number | undefined;
  /**
   * `S3LYNC_DATA_LANE`: `0` sends every request of the clients s3lync builds through the
   * SDK (the data lane's escape hatch), `always` starts the lane with the first request;
   * `undefined` when unset. The `dataLane` option wins.
   */
  dataLane: boolean | 'always' | undefined;
  /**
   * `S3LYNC_OFFLINE`: `1` serves downloads and `open('r')` from the local copy without a
   * request, and refuses writes; `undefined` when unset. The `offline` option wins.
   */
  offline: boolean | undefined;
  /**
   * `S3LYNC_CACHE_MAX_SIZE`: the default cache's size limit in bytes (`10G`, `500M`, bytes);
   * `undefined` when unset. The `cacheMaxSize` option wins.
   */
  cacheMaxSize: number | undefined;
  /** The OS temp directory. */
  tmpdir: string;
}

/** The default of `S3LYNC_MAX_WORKERS` and of `maxConcurrency`. */
export const DEFAULT_MAX_WORKERS = 8;

const LEVEL_NAMES: Readonly<Record<string, LogLevel>> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  fatal: 'error',
  silent: 'silent',
  off: 'silent',
  none: 'silent',
};

/**
 * Parses a log level, accepting the Python names too (`WARNING`, `CRITICAL`).
 *
 * @throws {ConfigError} naming `source` when the value is not a level.
 */
export function parseLogLevel(value: string, source: string): LogLevel {
  const level = LEVEL_NAMES[value.trim().toLowerCase()];
  if (level === undefined) {
    throw new ConfigError(
      `Expected ${source} to be one of DEBUG, INFO, WARNING, ERROR, CRITICAL or SILENT, got ${JSON.stringify(value)}`,
    );
  }
  return level;
}

/**
 * Parses a boolean flag such as `S3LYNC_DEBUG`: `1`/`true`/`yes`/`on` or
 * `0`/`false`/`no`/`off`/empty, in any case.
 *
 * @throws {ConfigError} for anything else.
 */
export function parseFlag(value: string, source: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(
    `Expected ${source} to be 1/true/yes or 0/false/no, got ${JSON.stringify(value)}`,
  );
}

/**
 * Checks a concurrency-like setting: an integer >= 1.
 *
 * @throws {ConfigError} naming `source`, the value and its type.
 */
export function parsePositiveInt(value: unknown, source: string): number {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new ConfigError(
      `Expected ${source} to be an integer >= 1, got ${JSON.stringify(value)} (${typeof value})`,
    );
  }
  return n;
}

/** The longest delay Node's timers take (2^31 - 1 ms). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Parses a timeout in ms: an integer from 0 to 2^31 - 1.
 *
 * @throws {ConfigError} naming `source` and the value.
 */
export function parseTimeoutMs(value: string, source: string): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > MAX_TIMEOUT_MS) {
    throw new ConfigError(
      `Expected ${source} to be a number of ms from 0 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * Reads the environment.
 *
 * @param env - the environment to read. @default process.env
 * @throws {ConfigError} when a variable is set to a value s3lync cannot use.
 */
export function readEnvConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const workers = nonEmpty(env.S3LYNC_MAX_WORKERS);
  const levelVar = nonEmpty(env.S3LYNC_LOG_LEVEL);
  const debugVar = env.S3LYNC_DEBUG;
  const connectVar = nonEmpty(env.S3LYNC_CONNECT_TIMEOUT_MS);
  const idleVar = nonEmpty(env.S3LYNC_IDLE_TIMEOUT_MS);
  const laneVar = nonEmpty(env.S3LYNC_DATA_LANE);
  const offlineVar = nonEmpty(env.S3LYNC_OFFLINE);
  const cacheMaxVar = nonEmpty(env.S3LYNC_CACHE_MAX_SIZE);
  let logLevel = levelVar === undefined ? undefined : parseLogLevel(levelVar, 'S3LYNC_LOG_LEVEL');
  if (debugVar !== undefined && parseFlag(debugVar, 'S3LYNC_DEBUG')) logLevel = 'debug';
  return {
    maxWorkers:
      workers === undefined ? DEFAULT_MAX_WORKERS : parsePositiveInt(workers, 'S3LYNC_MAX_WORKERS'),
    logLevel,
    xdgCacheHome: nonEmpty(env.XDG_CACHE_HOME),
    home: nonEmpty(env.HOME) ?? nonEmpty(os.homedir()),
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION),
    connectTimeoutMs:
      connectVar === undefined
        ? undefined
        : parseTimeoutMs(connectVar, 'S3LYNC_CONNECT_TIMEOUT_MS'),
    idleTimeoutMs:
      idleVar === undefined ? undefined : parseTimeoutMs(idleVar, 'S3LYNC_IDLE_TIMEOUT_MS'),
    dataLane:
      laneVar === undefined
        ? undefined
        : laneVar.trim().toLowerCase() === 'always'
          ? 'always'
          : parseFlag(laneVar, 'S3LYNC_DATA_LANE'),
    offline: offlineVar === undefined ? undefined : parseFlag(offlineVar, 'S3LYNC_OFFLINE'),
    cacheMaxSize:
      cacheMaxVar === undefined ? undefined : parseSize(cacheMaxVar, 'S3LYNC_CACHE_MAX_SIZE'),
    tmpdir: os.tmpdir(),
  };
}
