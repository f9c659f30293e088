import { describe, expect, it } from 'vitest';

import { ConfigError, DEFAULT_RETRY, type RetryConfig } from '../../src/index.js';
import { attemptsUsed } from '../../src/retry.js';
import {
  backoffDelay,
  createRetryStrategy,
  isRetryableError,
  resolveRetryConfig,
  retry,
  RETRYABLE_ERROR_CODES,
  sleep,
  type ResolvedRetryConfig,
} from '../../src/retry.js';

type Strategy = ReturnType<typeof createRetryStrategy>;
type ErrorInfo = Parameters<Strategy['refreshRetryTokenForRetry']>[1];

/** An error shaped like an AWS SDK v3 service exception. */
function sdkError(
  name: string,
  status?: number,
  attempts?: number,
): Error & { $metadata: { httpStatusCode?: number; attempts?: number } } {
  const error = new Error(`${name} happened`) as Error & {
    $metadata: { httpStatusCode?: number; attempts?: number };
  };
  error.name = name;
  error.$metadata = {
    ...(status !== undefined && { httpStatusCode: status }),
    ...(attempts !== undefined && { attempts }),
  };
  return error;
}

function errnoError(code: string): Error & { code: string } {
  return Object.assign(new Error(`socket: ${code}`), { code });
}

function noJitter(overrides: RetryConfig = {}): ResolvedRetryConfig {
  return resolveRetryConfig({ jitter: false, ...overrides });
}

/** A sleep that records the delays and returns at once. */
function recordingSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  };
}

/** A function that fails with each of `errors` in turn, then returns `value`. */
function failingThen<T>(
  errors: Error[],
  value: T,
): { calls: number[]; fn: (attempt: number) => Promise<T> } {
  const calls: number[] = [];
  return {
    calls,
    fn: (attempt) => {
      calls.push(attempt);
      const error = errors[calls.length - 1];
      return error === undefined ? Promise.resolve(value) : Promise.reject(error);
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('resolveRetryConfig', () => {
  it('has the Python defaults', () => {
    expect(resolveRetryConfig()).toEqual({
      maxAttempts: 3,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      jitter: true,
    });
    expect(resolveRetryConfig({})).toEqual(DEFAULT_RETRY);
  });

  it('takes each field', () => {
    expect(
      resolveRetryConfig({ maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 100, jitter: false }),
    ).toEqual({ maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 100, jitter: false });
  });

  it('does not modify the defaults', () => {
    resolveRetryConfig({ maxAttempts: 9 });
    expect(DEFAULT_RETRY.maxAttempts).toBe(3);
  });

  it.each<[RetryConfig, string]>([
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ maxAttempts: -1 }, 'maxAttempts'],
    [{ maxAttempts: 1.5 }, 'maxAttempts'],
    [{ maxAttempts: Number.NaN }, 'maxAttempts'],
    [{ maxAttempts: '3' as unknown as number }, 'maxAttempts'],
    [{ baseDelayMs: -1 }, 'baseDelayMs'],
    [{ baseDelayMs: Number.NaN }, 'baseDelayMs'],
    [{ baseDelayMs: Number.POSITIVE_INFINITY }, 'baseDelayMs'],
    [{ maxDelayMs: -5 }, 'maxDelayMs'],
    [{ maxDelayMs: '10' as unknown as number }, 'maxDelayMs'],
  ])('rejects %j naming %s', (config, field) => {
    let error: unknown;
    try {
      resolveRetryConfig(config);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`retry.${field}`);
  });
});

describe('isRetryableError', () => {
  const codes = [...RETRYABLE_ERROR_CODES];

  it('knows the Python list of codes', () => {
    expect(codes.sort()).toEqual(
      [
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
      ].sort(),
    );
  });

  it.each(codes)('retries %s as the error name', (code) => {
    expect(isRetryableError(sdkError(code, 400))).toBe(true);
  });

  it.each(codes)('retries %s as Code', (code) => {
    expect(isRetryableError({ name: 'S3ServiceException', Code: code })).toBe(true);
  });

  it.each([500, 502, 503, 504, 429])('retries HTTP %d without a code', (status) => {
    expect(isRetryableError({ $metadata: { httpStatusCode: status } })).toBe(true);
    expect(isRetryableError(sdkError('UnknownError', status))).toBe(true);
  });

  it.each([
    'ECONNRESET',
    'ETIMEDOUT',
    'ECONNREFUSED',
    'EPIPE',
    'ENOTFOUND',
    'EAI_AGAIN',
    'UND_ERR_SOCKET',
  ])('retries a connection error with code %s', (code) => {
    expect(isRetryableError(errnoError(code))).toBe(true);
  });

  it('retries timeouts', () => {
    expect(isRetryableError(sdkError('TimeoutError'))).toBe(true);
    expect(isRetryableError(sdkError('NetworkingError'))).toBe(true);
    // As the SDK's Node handler raises its connect and idle timeouts (a body that stalls
    // gets the same error, without $metadata), and its total request timeout.
    const idle = Object.assign(new Error('the request socket timed out after 500 ms'), {
      name: 'TimeoutError',
    });
    expect(isRetryableError(idle)).toBe(true);
    expect(
      isRetryableError(
        Object.assign(new Error('timed out'), { name: 'TimeoutError', code: 'ETIMEDOUT' }),
      ),
    ).toBe(true);
    expect(isRetryableError(errnoError('ETIMEDOUT'))).toBe(true);
  });

  it('looks through nested causes', () => {
    expect(isRetryableError(new Error('outer', { cause: errnoError('ECONNRESET') }))).toBe(true);
    expect(
      isRetryableError(
        new Error('outer', { cause: new Error('middle', { cause: sdkError('SlowDown', 503) }) }),
      ),
    ).toBe(true);
    expect(isRetryableError(new Error('outer', { cause: new Error('inner') }))).toBe(false);
  });

  it('does not loop on an error that is its own cause', () => {
    const error = new Error('self');
    (error as { cause?: unknown }).cause = error;
    expect(isRetryableError(error)).toBe(false);
  });

  it.each<[string, unknown]>([
    ['NoSuchKey', sdkError('NoSuchKey', 404)],
    ['AccessDenied', sdkError('AccessDenied', 403)],
    ['NotFound 404', sdkError('NotFound', 404)],
    ['a bare 404', { $metadata: { httpStatusCode: 404 } }],
    ['a bare 403', { $metadata: { httpStatusCode: 403 } }],
    ['a bare 400', { $metadata: { httpStatusCode: 400 } }],
    ['PreconditionFailed', sdkError('PreconditionFailed', 412)],
    ['AbortError', Object.assign(new Error('aborted'), { name: 'AbortError' })],
    ['AbortError with a retryable cause', abortWithCause()],
    ['AbortError from AbortSignal', abortReason()],
    ['a plain Error', new Error('boom')],
    ['a TypeError', new TypeError('bad')],
    ['ENOENT', errnoError('ENOENT')],
    ['a string', 'SlowDown'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 503],
  ])('does not retry %s', (_what, error) => {
    expect(isRetryableError(error)).toBe(false);
  });
});

function abortWithCause(): Error {
  return Object.assign(new Error('aborted', { cause: errnoError('ECONNRESET') }), {
    name: 'AbortError',
  });
}

function abortReason(): unknown {
  const controller = new AbortController();
  controller.abort();
  return controller.signal.reason;
}

describe('backoffDelay', () => {
  it('doubles from baseDelayMs without jitter', () => {
    const config = noJitter();
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, config))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000,
    ]);
  });

  it('is capped at maxDelayMs', () => {
    const config = noJitter();
    expect(backoffDelay(7, config)).toBe(30_000);
    expect(backoffDelay(8, config)).toBe(30_000);
    expect(backoffDelay(60, config)).toBe(30_000);
    expect(backoffDelay(3, noJitter({ maxDelayMs: 1500 }))).toBe(1500);
  });

  it('treats retry 0 like retry 1', () => {
    expect(backoffDelay(0, noJitter())).toBe(500);
  });

  it('uses the injected random with full jitter', () => {
    const config = resolveRetryConfig({ jitter: true });
    expect(backoffDelay(1, config, () => 0)).toBe(0);
    expect(backoffDelay(1, config, () => 0.5)).toBe(250);
    expect(backoffDelay(2, config, () => 0.5)).toBe(500);
    expect(backoffDelay(3, config, () => 0.25)).toBe(500);
    expect(backoffDelay(1, config, () => 0.9999)).toBe(499);
    expect(backoffDelay(20, config, () => 0.5)).toBe(15_000);
  });

  it('stays within [0, computed delay) for any random draw', () => {
    const config = resolveRetryConfig();
    for (const r of [0, 0.1, 0.3, 0.7, 0.999999]) {
      for (const n of [1, 2, 3, 10]) {
        const d = backoffDelay(n, config, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(backoffDelay(n, noJitter()));
      }
    }
  });

  it('is 0 when baseDelayMs is 0', () => {
    expect(backoffDelay(3, noJitter({ baseDelayMs: 0 }))).toBe(0);
  });
});

describe('attemptsUsed', () => {
  it('reads $metadata.attempts, else counts one', () => {
    expect(attemptsUsed(sdkError('SlowDown', 503, 3))).toBe(3);
    expect(attemptsUsed(sdkError('SlowDown', 503))).toBe(1);
    expect(attemptsUsed(new Error('x'))).toBe(1);
    expect(attemptsUsed(null)).toBe(1);
    expect(attemptsUsed(undefined)).toBe(1);
    expect(attemptsUsed({ $metadata: { attempts: 0 } })).toBe(1);
  });

  it('says how many attempts retry() made in all for the error it gave up with', async () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const thrown: unknown = await retry(() => Promise.reject(reset), {
      maxAttempts: 3,
      sleep: () => Promise.resolve(),
    }).catch((e: unknown) => e);
    expect(thrown).toBe(reset);
    expect(attemptsUsed(reset)).toBe(3);
    // One attempt of the SDK's three, then two more.
    const sdk = sdkError('SlowDown', 503, 2);
    let calls = 0;
    const second: unknown = await retry(
      () => Promise.reject(++calls === 1 ? sdkError('SlowDown', 503, 1) : sdk),
      { maxAttempts: 3, sleep: () => Promise.resolve() },
    ).catch((e: unknown) => e);
    expect(second).toBe(sdk);
    expect(attemptsUsed(sdk)).toBe(3);
  });
});

describe('retry', () => {
  it('returns the first success without waiting', async () => {
    const { delays, sleep } = recordingSleep();
    const { calls, fn } = failingThen([], 'ok');
    await expect(retry(fn, { sleep })).resolves.toBe('ok');
    expect(calls).toEqual([1]);
    expect(delays).toEqual([]);
  });

  it('succeeds after transient failures, with doubling delays', async () => {
    const { delays, sleep } = recordingSleep();
    const { calls, fn } = failingThen(
      [sdkError('SlowDown', 503), errnoError('ECONNRESET'), sdkError('InternalError', 500)],
      42,
    );
    await expect(retry(fn, { maxAttempts: 4, jitter: false, sleep })).resolves.toBe(42);
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(delays).toEqual([500, 1000, 2000]);
  });

  it('uses the injected random for jitter', async () => {
    const { delays, sleep } = recordingSleep();
    const { fn } = failingThen([sdkError('SlowDown'), sdkError('SlowDown')], 'ok');
    await retry(fn, { sleep, random: () => 0.5 });
    expect(delays).toEqual([250, 500]);
  });

  it('stops at maxAttempts and rethrows the last error unchanged', async () => {
    const { delays, sleep } = recordingSleep();
    const errors = [sdkError('SlowDown', 503), sdkError('Throttling', 400), errnoError('EPIPE')];
    const { calls, fn } = failingThen(errors, 'never');
    const error = await rejection(retry(fn, { jitter: false, sleep }));
    expect(error).toBe(errors[2]);
    expect(calls).toEqual([1, 2, 3]);
    expect(delays).toEqual([500, 1000]);
  });

  it('makes one attempt with maxAttempts 1', async () => {
    const { delays, sleep } = recordingSleep();
    const first = sdkError('SlowDown', 503);
    const { calls, fn } = failingThen([first], 'never');
    expect(await rejection(retry(fn, { maxAttempts: 1, sleep }))).toBe(first);
    expect(calls).toEqual([1]);
    expect(delays).toEqual([]);
  });

  it('does not retry a non-retryable error', async () => {
    const { delays, sleep } = recordingSleep();
    const denied = sdkError('AccessDenied', 403);
    const { calls, fn } = failingThen([denied], 'never');
    expect(await rejection(retry(fn, { sleep }))).toBe(denied);
    expect(calls).toEqual([1]);
    expect(delays).toEqual([]);
  });

  it('stops at the first non-retryable error after retryable ones', async () => {
    const { sleep } = recordingSleep();
    const missing = sdkError('NoSuchKey', 404);
    const { calls, fn } = failingThen([sdkError('SlowDown', 503), missing], 'never');
    expect(await rejection(retry(fn, { maxAttempts: 5, sleep }))).toBe(missing);
    expect(calls).toEqual([1, 2]);
  });

  it('uses shouldRetry when given', async () => {
    const { sleep } = recordingSleep();
    const plain = new Error('plain');
    const { calls, fn } = failingThen([plain, plain], 'ok');
    await expect(retry(fn, { sleep, shouldRetry: (e) => e === plain })).resolves.toBe('ok');
    expect(calls).toEqual([1, 2, 3]);
  });

  it('counts the attempts the SDK already made against the budget', async () => {
    const { delays, sleep } = recordingSleep();
    const exhausted = sdkError('SlowDown', 503, 3);
    const { calls, fn } = failingThen([exhausted], 'never');
    expect(await rejection(retry(fn, { maxAttempts: 3, sleep }))).toBe(exhausted);
    expect(calls).toEqual([1]);
    expect(delays).toEqual([]);
  });

  it('allows only what is left of the budget after SDK attempts', async () => {
    const { sleep } = recordingSleep();
    const errors = [sdkError('SlowDown', 503, 2), sdkError('SlowDown', 503, 2)];
    const { calls, fn } = failingThen(errors, 'never');
    expect(await rejection(retry(fn, { maxAttempts: 4, sleep }))).toBe(errors[1]);
    expect(calls).toEqual([1, 2]);
  });

  it('calls onRetry before each wait with the error, the attempt and the delay', async () => {
    const { sleep } = recordingSleep();
    const errors = [sdkError('SlowDown', 503), errnoError('ETIMEDOUT')];
    const { fn } = failingThen(errors, 'ok');
    const seen: { error: unknown; attempt: number; delayMs: number }[] = [];
    await retry(fn, { jitter: false, sleep, onRetry: (info) => seen.push(info) });
    expect(seen).toEqual([
      { error: errors[0], attempt: 1, delayMs: 500 },
      { error: errors[1], attempt: 2, delayMs: 1000 },
    ]);
  });

  it('rejects at once with signal.reason when already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    const { calls, fn } = failingThen([], 'never');
    expect(await rejection(retry(fn, { signal: controller.signal }))).toBe(reason);
    expect(calls).toEqual([]);
  });

  it('rejects with signal.reason when aborted during an attempt, without retrying', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled by user');
    const { sleep, delays } = recordingSleep();
    const calls: number[] = [];
    const fn = (attempt: number): Promise<never> => {
      calls.push(attempt);
      controller.abort(reason);
      return Promise.reject(sdkError('SlowDown', 503));
    };
    expect(await rejection(retry(fn, { signal: controller.signal, sleep }))).toBe(reason);
    expect(calls).toEqual([1]);
    expect(delays).toEqual([]);
  });

  it('makes no further attempt when aborted during the wait', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled while waiting');
    const calls: number[] = [];
    const fn = (attempt: number): Promise<never> => {
      calls.push(attempt);
      return Promise.reject(sdkError('SlowDown', 503));
    };
    const abortingSleep = (): Promise<void> => {
      controller.abort(reason);
      return Promise.resolve();
    };
    const error = await rejection(
      retry(fn, { maxAttempts: 5, signal: controller.signal, sleep: abortingSleep }),
    );
    expect(error).toBe(reason);
    expect(calls).toEqual([1]);
  });

  it('passes the signal to sleep', async () => {
    const controller = new AbortController();
    const signals: (AbortSignal | undefined)[] = [];
    const { fn } = failingThen([sdkError('SlowDown')], 'ok');
    await retry(fn, {
      signal: controller.signal,
      sleep: (_ms, signal) => {
        signals.push(signal);
        return Promise.resolve();
      },
    });
    expect(signals).toEqual([controller.signal]);
  });

  it('validates its options', async () => {
    const { fn } = failingThen([], 'ok');
    await expect(retry(fn, { maxAttempts: 0 })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('sleep', () => {
  it('resolves after a short time', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });

  it('rejects with the reason when already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('already');
    controller.abort(reason);
    expect(await rejection(sleep(60_000, controller.signal))).toBe(reason);
  });

  it('rejects with the reason when aborted while waiting', async () => {
    const controller = new AbortController();
    const reason = new Error('later');
    const pending = sleep(60_000, controller.signal);
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
  });
});

describe('createRetryStrategy', () => {
  function info(error: unknown): ErrorInfo {
    return { error, errorType: 'TRANSIENT' } as ErrorInfo;
  }

  it('starts with a token of count 0', async () => {
    const strategy = createRetryStrategy(noJitter());
    const token = await strategy.acquireInitialRetryToken('s3');
    expect(token.getRetryCount()).toBe(0);
  });

  it('gives increasing retry counts and backoff delays for retryable errors', async () => {
    const config = noJitter({ maxAttempts: 4 });
    const strategy = createRetryStrategy(config);
    const error = sdkError('SlowDown', 503);
    const t0 = await strategy.acquireInitialRetryToken('s3');
    const t1 = await strategy.refreshRetryTokenForRetry(t0, info(error));
    const t2 = await strategy.refreshRetryTokenForRetry(t1, info(error));
    const t3 = await strategy.refreshRetryTokenForRetry(t2, info(error));
    expect([t1, t2, t3].map((t) => t.getRetryCount())).toEqual([1, 2, 3]);
    expect([t1, t2, t3].map((t) => t.getRetryDelay())).toEqual([
      backoffDelay(1, config),
      backoffDelay(2, config),
      backoffDelay(3, config),
    ]);
    expect([t1, t2, t3].map((t) => t.getRetryDelay())).toEqual([500, 1000, 2000]);
  });

  it('uses the injected random for the delay', async () => {
    const strategy = createRetryStrategy(resolveRetryConfig(), () => 0.5);
    const t0 = await strategy.acquireInitialRetryToken('s3');
    const t1 = await strategy.refreshRetryTokenForRetry(t0, info(sdkError('SlowDown')));
    expect(t1.getRetryDelay()).toBe(250);
  });

  it('never allows more than maxAttempts attempts in all', async () => {
    for (const maxAttempts of [1, 2, 3, 5]) {
      const strategy = createRetryStrategy(noJitter({ maxAttempts }));
      const error = sdkError('InternalError', 500);
      let token = await strategy.acquireInitialRetryToken('s3');
      let attempts = 1;
      for (;;) {
        try {
          token = await strategy.refreshRetryTokenForRetry(token, info(error));
        } catch (e) {
          expect(e).toBe(error);
          break;
        }
        attempts++;
        expect(attempts).toBeLessThanOrEqual(maxAttempts);
      }
      expect(attempts).toBe(maxAttempts);
    }
  });

  it.each<[string, unknown]>([
    ['NoSuchKey', sdkError('NoSuchKey', 404)],
    ['AccessDenied', sdkError('AccessDenied', 403)],
    ['a plain Error', new Error('x')],
  ])('rejects with the error for %s', async (_what, error) => {
    const strategy = createRetryStrategy(noJitter());
    const t0 = await strategy.acquireInitialRetryToken('s3');
    expect(await rejection(strategy.refreshRetryTokenForRetry(t0, info(error)))).toBe(error);
  });

  it('rejects when there is no error to judge', async () => {
    const strategy = createRetryStrategy(noJitter());
    const t0 = await strategy.acquireInitialRetryToken('s3');
    await expect(
      strategy.refreshRetryTokenForRetry(t0, { errorType: 'TRANSIENT' }),
    ).rejects.toBeInstanceOf(Error);
  });

  it('accepts recordSuccess', async () => {
    const strategy = createRetryStrategy(noJitter());
    const t0 = await strategy.acquireInitialRetryToken('s3');
    expect(() => {
      strategy.recordSuccess(t0);
    }).not.toThrow();
  });
});
