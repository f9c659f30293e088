/**
 * The retry policy of the Python package: a few attempts, exponential backoff with full
 * jitter, and only for failures that another attempt can cure. It runs inside the SDK
 * (as its retry strategy, so each request and each multipart part is retried) and around
 * streaming transfers the SDK cannot replay; the two share one attempt budget.
 *
 * @packageDocumentation
 */
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

import { ConfigError } from './exceptions.js';

/** How failed requests are retried. */
export interface RetryConfig {
  /** Attempts in all, the first included. @default 3 */
  maxAttempts?: number;
  /** The delay before the first retry, in ms; it doubles on each retry. @default 500 */
  baseDelayMs?: number;
  /** The longest delay, in ms. @default 30000 */
  maxDelayMs?: number;
  /** Full jitter: wait a random time between 0 and the computed delay. @default true */
  jitter?: boolean;
}

/** A {@link RetryConfig} with every field set. */
export type ResolvedRetryConfig = Required<RetryConfig>;

/** The defaults of {@link RetryConfig}. */
export const DEFAULT_RETRY: ResolvedRetryConfig = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  jitter: true,
});

/** S3 error codes worth another attempt (the Python package's list). */
export const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'ProvisionedThroughputExceededException',
  'TooManyRequestsException',
]);

/** HTTP statuses that mean the same when a response has no error code (HEAD, radosgw). */
const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/** undici's timeouts (the data lane's): connect, waiting for headers, idle in a body. */
export const UNDICI_TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  ...UNDICI_TIMEOUT_CODES,
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const CONNECTION_NAMES: ReadonlySet<string> = new Set([
  'TimeoutError',
  'RequestTimeout',
  'NetworkingError',
]);

/**
 * Validates and completes a {@link RetryConfig}.
 *
 * @throws {ConfigError} naming the field and the value.
 */
export function resolveRetryConfig(config: RetryConfig = {}): ResolvedRetryConfig {
  const out = { ...DEFAULT_RETRY };
  if (config.maxAttempts !== undefined) {
    if (!Number.isInteger(config.maxAttempts) || config.maxAttempts < 1) {
      throw new ConfigError(
        `Expected \`retry.maxAttempts\` to be an integer >= 1, got ${JSON.stringify(config.maxAttempts)} (${typeof config.maxAttempts})`,
      );
    }
    out.maxAttempts = config.maxAttempts;
  }
  for (const field of ['baseDelayMs', 'maxDelayMs'] as const) {
    const v = config[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(
        `Expected \`retry.${field}\` to be a number >= 0, got ${JSON.stringify(v)} (${typeof v})`,
      );
    }
    out[field] = v;
  }
  if (config.jitter !== undefined) out.jitter = config.jitter;
  return out;
}

/**
 * Whether another attempt may succeed: one of {@link RETRYABLE_ERROR_CODES}, a 429/5xx
 * status without a code, a dropped or refused connection, or a timeout.
 */
export function isRetryableError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as {
    name?: unknown;
    code?: unknown;
    Code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    cause?: unknown;
  };
  if (e.name === 'AbortError') return false;
  for (const c of [e.name, e.code, e.Code]) {
    if (typeof c !== 'string') continue;
    if (RETRYABLE_ERROR_CODES.has(c) || CONNECTION_CODES.has(c) || CONNECTION_NAMES.has(c)) {
      return true;
    }
  }
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && RETRYABLE_STATUS.has(status)) return true;
  return e.cause !== undefined && e.cause !== error && isRetryableError(e.cause);
}

/**
 * The delay before retry number `retry` (1 for the first retry): `baseDelayMs * 2^(retry-1)`,
 * capped at `maxDelayMs`, then, with jitter, a uniform draw between 0 and that.
 *
 * @param random - a source of numbers in [0, 1). @default Math.random
 */
export function backoffDelay(
  retry: number,
  config: ResolvedRetryConfig,
  random: () => number = Math.random,
): number {
  const exp = Math.min(config.maxDelayMs, config.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return config.jitter ? Math.floor(random() * exp) : exp;
}

/** The attempts {@link retry} used in all, for the errors it gave up with. */
const attemptsInAll = new WeakMap<object, number>();

/**
 * How many attempts a failure used up: all of them for an error {@link retry} gave up
 * with, else what the SDK records on its errors (`$metadata.attempts`), else one.
 */
export function attemptsUsed(error: unknown): number {
  if (typeof error === 'object' && error !== null) {
    const total = attemptsInAll.get(error);
    if (total !== undefined) return total;
  }
  const n = (error as { $metadata?: { attempts?: unknown } } | null)?.$metadata?.attempts;
  return typeof n === 'number' && n >= 1 ? n : 1;
}

/** Options of {@link retry}. */
export interface RetryOptions extends RetryConfig {
  /** Stops waiting and retrying; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal;
  /** Which errors to retry. @default isRetryableError */
  shouldRetry?: (error: unknown) => boolean;
  /** Called before each wait. @default none */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
  /** Waits `ms`; injectable for tests. @default an abortable setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A source of numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** An abortable sleep. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, the error is not retryable, or the attempts are used up;
 * then rethrows the last error unchanged ({@link attemptsUsed} then says how many attempts
 * were made in all). Attempts the SDK already made for a failure (its
 * `$metadata.attempts`) count against the same budget.
 *
 * @param fn - receives the attempt number, from 1.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const config = resolveRetryConfig(options);
  const shouldRetry = options.shouldRetry ?? isRetryableError;
  const wait = options.sleep ?? sleep;
  let used = 0;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      used += attemptsUsed(error);
      if (options.signal?.aborted) throw options.signal.reason;
      if (used >= config.maxAttempts || !shouldRetry(error)) {
        // So the message can say how many attempts failed (the error may have no $metadata).
        if (typeof error === 'object' && error !== null) attemptsInAll.set(error, used);
        throw error;
      }
      const delayMs = backoffDelay(attempt, config, options.random);
      options.onRetry?.({ error, attempt, delayMs });
      await wait(delayMs, options.signal);
    }
  }
}

class Token implements RetryToken {
  constructor(
    private readonly count: number,
    private readonly delay: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return this.delay;
  }
}

/**
 * The same policy as an SDK retry strategy, for the clients s3lync builds: every request
 * (and every part of a multipart upload) gets `maxAttempts` in all, never more.
 */
export function createRetryStrategy(
  config: ResolvedRetryConfig,
  random: () => number = Math.random,
): RetryStrategyV2 {
  return {
    acquireInitialRetryToken: () => Promise.resolve(new Token(0, 0)),
    refreshRetryTokenForRetry: (token: RetryToken, info: RetryErrorInfo) => {
      const retries = token.getRetryCount() + 1;
      if (retries >= config.maxAttempts || !isRetryableError(info.error)) {
        return Promise.reject(info.error ?? new Error('not retryable'));
      }
      return Promise.resolve(new Token(retries, backoffDelay(retries, config, random)));
    },
    recordSuccess: () => undefined,
  };
}
