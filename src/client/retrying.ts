/**
 * The client's retry policy, resolved once: as the SDK's retry strategy (each request, each
 * part) and as the loop around transfers the SDK cannot replay (a body cut short, bytes
 * that did not verify). The two share one attempt budget.
 *
 * @packageDocumentation
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3';

import { HashMismatchError } from '../exceptions.js';
import { getLogger } from '../logging.js';
import {
  createRetryStrategy,
  isRetryableError,
  resolveRetryConfig,
  retry,
  type ResolvedRetryConfig,
  type RetryConfig,
} from '../retry.js';
import { describeError, type RequestSite } from './errors.js';
import type { UriFormatter } from './types.js';

const log = getLogger('client');

/** A {@link RetryConfig} validated and completed once, for the SDK and for transfers. */
export class RetryPolicy {
  /** The policy with every field set. */
  readonly config: ResolvedRetryConfig;

  /** @throws {ConfigError} for an invalid `config`. */
  constructor(config?: RetryConfig) {
    this.config = resolveRetryConfig(config);
  }

  /** The SDK's share: `maxAttempts` in all per request, with this policy's backoff. */
  sdkConfig(): Required<Pick<S3ClientConfig, 'maxAttempts' | 'retryStrategy'>> {
    return {
      maxAttempts: this.config.maxAttempts,
      retryStrategy: createRetryStrategy(this.config),
    };
  }

  /**
   * Runs `attempt` until it succeeds, its error is not worth another attempt, or the
   * budget is spent; each retry is logged at debug, naming `site`.
   *
   * @param shouldRetry - which errors to retry. @default isRetryableError
   */
  run<T>(
    site: RequestSite,
    describe: UriFormatter,
    attempt: (attempt: number) => Promise<T>,
    shouldRetry: (error: unknown) => boolean = isRetryableError,
  ): Promise<T> {
    return retry(attempt, {
      ...this.config,
      ...(site.signal && { signal: site.signal }),
      shouldRetry,
      onRetry: ({ error, attempt: failed, delayMs }) => {
        log.debug(
          `retrying ${site.operation} ${describe(site.bucket, site.key)} (attempt ${failed} failed: ${describeError(error)}) in ${delayMs} ms`,
        );
      },
    });
  }
}

/** A download is worth another attempt after a retryable error or bytes that did not verify. */
export function retryDownload(error: unknown): boolean {
  return error instanceof HashMismatchError || isRetryableError(error);
}

/**
 * Records on `error` the attempts the SDK made for the request whose body then failed, so
 * they count against the same budget.
 */
export function withAttempts(error: unknown, attempts: number): unknown {
  if (typeof error === 'object' && error !== null && attempts > 1) {
    const e = error as { $metadata?: { attempts?: number } };
    e.$metadata = { ...e.$metadata, attempts };
  }
  return error;
}
