/**
 * Building the SDK client s3lync sends through: the connect and idle timeouts of its HTTP
 * handler, the retry strategy, the SDK's log lines, and the settings custom endpoints
 * (Ceph radosgw, MinIO) need.
 *
 * @packageDocumentation
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

import { DEFAULT_MAX_WORKERS, type EnvConfig } from '../config.js';
import { ConfigError } from '../exceptions.js';
import { getLogger, type Logger } from '../logging.js';
import type { RetryConfig } from '../retry.js';
import type { UriCredentials } from '../utils.js';
import { attachLane } from './lane.js';
import { RetryPolicy } from './retrying.js';

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
  /**
   * Gives the client a data lane for its hot requests (see `S3ObjectOptions.dataLane`),
   * with the `timeouts` and at most `maxConnections` connections per server. The lane
   * would bypass a `requestHandler` (its proxy, agent or CA bundle), so it is off with one
   * unless this is `true`.
   * `'always'` starts the lane with the first request, not after a few transfers.
   * @default true without a `requestHandler`, else false
   */
  dataLane?: boolean | 'always' | undefined;
  /** The data lane's open connections per server, at most. @default 8 (`maxConcurrency`'s default) */
  maxConnections?: number | undefined;
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
 * Builds an SDK client. For a custom endpoint it uses path-style addressing. The SDK
 * computes checksums only when an operation requires them: s3lync sends Content-MD5 and
 * verifies downloads itself. Retries follow s3lync's policy, with the SDK making `maxAttempts` in all.
 * Every connection has a connect and an idle timeout ({@link DEFAULT_TIMEOUTS}), so no
 * request waits forever on a server that stopped answering.
 *
 * @throws {ConfigError} for an invalid `retry` or `timeouts`.
 */
export function createS3Client(options: ClientOptions = {}): S3Client {
  const retry = new RetryPolicy(options.retry);
  const resolved = resolveTimeouts(options.timeouts);
  const timeouts = handlerTimeouts(resolved);
  const config: S3ClientConfig = {
    ...retry.sdkConfig(),
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
  // s3lync sends Content-MD5 with every PUT and part (the server checks it) and verifies
  // every download itself. Recent SDKs would also compute CRC32s, sent as aws-chunked
  // trailers that Ceph rejects with 411 and some servers store corrupted.
  config.requestChecksumCalculation = 'WHEN_REQUIRED';
  config.responseChecksumValidation = 'WHEN_REQUIRED';
  if (options.endpoint !== undefined) {
    config.endpoint = options.endpoint;
    config.forcePathStyle = true;
    config.region ??= DEFAULT_ENDPOINT_REGION;
  }
  const sdk = new S3Client(config);
  const lane = options.dataLane ?? options.requestHandler === undefined;
  if (lane !== false) {
    attachLane(
      sdk,
      { timeouts: resolved, connections: options.maxConnections ?? DEFAULT_MAX_WORKERS },
      lane,
    );
  }
  return sdk;
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
