/**
 * The data lane: the hot requests (HeadObject, GetObject, PutObject, UploadPart,
 * ListObjectsV2) sent with undici and signed by `@smithy/signature-v4`, without the SDK's
 * per-request middleware, which costs more CPU than the HTTP itself on small objects. The
 * SDK still decides everything that is not per request: the endpoint and signing region
 * of each bucket (`lane/endpoint`), the credentials (its provider chain, so refresh and
 * expiry work), the clock offset. Every other request, and any the lane cannot build or
 * that the server redirects, goes through the SDK.
 *
 * @packageDocumentation
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Readable } from 'node:stream';

import { isRetryableError, retry, type ResolvedRetryConfig } from '../retry.js';
import { LaneConnections, type ConnectionSettings } from './lane/connections.js';
import { resolveRoute, type SdkOnly } from './lane/endpoint.js';
import {
  listRequest,
  objectReadRequest,
  putObjectRequest,
  queryString,
  uploadPartRequest,
  type BucketRoute,
  type LaneRequest,
} from './lane/request.js';
import {
  listOutput,
  metadataOf,
  objectOutput,
  serviceError,
  type LaneServiceError,
  type ResponseHeaders,
} from './lane/response.js';
import type { Transport } from './transport.js';

/** The operations the lane sends, by their SDK names. */
export type LaneOperation =
  'HeadObject' | 'GetObject' | 'PutObject' | 'UploadPart' | 'ListObjectsV2';

/** What a lane is built with. */
export type LaneSettings = ConnectionSettings;

/** The error bodies read, at most: S3 error documents are a few hundred bytes. */
const MAX_ERROR_BODY = 64 * 1024;

/** Clock skew the SDK corrects: beyond it, S3 refuses a signature as too old or too new. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** A response the lane read: status, headers, and the body still to read (or dump). */
interface Answer {
  statusCode: number;
  headers: ResponseHeaders;
  body: Readable & { text(): Promise<string>; dump(opts?: { limit: number }): Promise<void> };
}

/** The SDK client's config fields the lane reuses. */
interface SdkConfig {
  credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'];
  signingEscapePath?: boolean;
  systemClockOffset?: number;
  sdkStreamMixin?: (stream: unknown) => unknown;
}

/**
 * One SDK client's lane: its connections, the route of each bucket, a signer per signing
 * region. Shared by every s3lync client over the same SDK client.
 */
export class DataLane {
  readonly #sdk: S3Client;
  readonly #connections: LaneConnections;
  readonly #routes = new Map<string, Promise<BucketRoute | SdkOnly>>();
  readonly #signers = new Map<string, SignatureV4>();

  constructor(sdk: S3Client, settings: LaneSettings) {
    this.#sdk = sdk;
    const { connectMs, idleMs } = settings.timeouts;
    this.#connections = new LaneConnections(settings);
    this.idleMs = idleMs;
    this.connectMs = connectMs;
  }

  /** The idle timeout, named by timeout errors. */
  readonly idleMs: number;
  /** The connect timeout, named by timeout errors. */
  readonly connectMs: number;

  /**
   * Runs one operation of the lane (`run` sends it). Every operation of every s3lync client
   * over this lane passes here, so this is the one place to observe them: the tests and the
   * bench wrap it to count, delay or fail requests, as they wrap `S3Client.send`.
   */
  perform<O>(
    _operation: LaneOperation,
    _input: object,
    _signal: AbortSignal | undefined,
    run: () => Promise<O>,
  ): Promise<O> {
    return run();
  }

  /** Closes the lane's connections. */
  destroy(): void {
    this.#connections.destroy();
  }

  /**
   * Whether the lane has started (its connections are loaded); else the request goes
   * through the SDK. A transfer counts towards starting it.
   */
  async ready(transfer: boolean): Promise<boolean> {
    return (await this.#connections.agent(transfer)) !== undefined;
  }

  /** The route of `bucket`, decided once by the SDK; a failed decision is not kept. */
  route(bucket: string): Promise<BucketRoute | SdkOnly> {
    let route = this.#routes.get(bucket);
    if (route === undefined) {
      route = resolveRoute(this.#sdk, bucket);
      this.#routes.set(bucket, route);
      route.catch(() => this.#routes.delete(bucket));
    }
    return route;
  }

  /** Sends the rest of `bucket`'s requests through the SDK (it redirected the lane). */
  leave(bucket: string, why: string): void {
    this.#routes.set(bucket, Promise.resolve({ sdkOnly: why }));
  }

  #config(): SdkConfig {
    return this.#sdk.config;
  }

  #signer(route: BucketRoute): SignatureV4 {
    const id = `${route.signingRegion}\n${route.signingName}`;
    let signer = this.#signers.get(id);
    if (signer === undefined) {
      const config = this.#config();
      signer = new SignatureV4({
        credentials: config.credentials,
        region: route.signingRegion,
        service: route.signingName,
        sha256: config.sha256,
        uriEscapePath: config.signingEscapePath ?? false,
        applyChecksum: false,
      });
      this.#signers.set(id, signer);
    }
    return signer;
  }

  /** `request` signed for `route` at `date` (the SDK's clock offset applied by default). */
  async sign(route: BucketRoute, request: LaneRequest, date?: Date): Promise<LaneRequest> {
    const signingDate = date ?? new Date(Date.now() + (this.#config().systemClockOffset ?? 0));
    // The signer signs a copy (its prepareRequest clones headers and query).
    const signed = await this.#signer(route).sign(request, {
      signingDate,
      signingRegion: route.signingRegion,
      signingService: route.signingName,
    });
    return { ...request, headers: signed.headers };
  }

  /** Signs and sends one request; resolves when the response's headers arrive. */
  async send(route: BucketRoute, request: LaneRequest, signal?: AbortSignal): Promise<Answer> {
    const agent = this.#connections.loaded;
    if (agent === undefined) throw new Error('the data lane has not started');
    const signed = await this.sign(route, request);
    const origin = `${route.protocol}//${route.hostname}${route.port === undefined ? '' : `:${route.port}`}`;
    try {
      const answer = await agent.request({
        origin,
        path: `${request.path}${queryString(request.query)}`,
        method: request.method,
        headers: signed.headers,
        body: request.body ?? null,
        signal: signal ?? null,
      });
      return answer;
    } catch (error) {
      throw this.#timeout(error) ?? error;
    }
  }

  /**
   * Corrects the clock offset from a response's `Date`, as the SDK does, when the server's
   * clock is off by more than S3 accepts; whether it changed.
   */
  correctClock(headers: ResponseHeaders): boolean {
    const date = headers.date;
    const serverTime = typeof date === 'string' ? Date.parse(date) : NaN;
    if (Number.isNaN(serverTime)) return false;
    const config = this.#config();
    const offset = config.systemClockOffset ?? 0;
    if (Math.abs(serverTime - (Date.now() + offset)) < CLOCK_SKEW_MS) return false;
    config.systemClockOffset = serverTime - Date.now();
    return true;
  }

  /** A body with the SDK's `transformTo…` methods, as a GetObject output's. */
  mixin(body: Readable): unknown {
    return this.#config().sdkStreamMixin?.(body) ?? body;
  }

  /**
   * `body`, whose idle timeout error says how long it waited, as the SDK's handler's does.
   * The listener runs before any reader's, so every reader sees the words.
   */
  wordTimeouts(body: Readable): Readable {
    body.once('error', (error) => {
      const words = this.#timeout(error)?.message;
      if (words !== undefined) error.message = words;
    });
    return body;
  }

  /** undici's timeout errors, as the SDK's handler words them (the client types them). */
  #timeout(error: unknown): Error | undefined {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      return timeoutError(
        `Socket timed out without establishing a connection within the configured timeout of ${this.connectMs} ms`,
        error,
      );
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return timeoutError(`Connection timed out after ${this.idleMs} ms of inactivity`, error);
    }
    return undefined;
  }
}

/** A timeout, named as the SDK's handler names it. */
export function timeoutError(message: string, cause: unknown): Error {
  const error = new Error(message, { cause });
  error.name = 'TimeoutError';
  return error;
}

/** Lanes by SDK client: a client s3lync built has one unless it was built without. */
const lanes = new WeakMap<S3Client, DataLane>();

/**
 * Gives `sdk` a data lane (closed with the client), started after a few transfers, or with
 * the first request for `'always'`. Returns the lane.
 */
export function attachLane(
  sdk: S3Client,
  settings: Omit<LaneSettings, 'startAfter'>,
  mode: true | 'always' = true,
): DataLane {
  const existing = lanes.get(sdk);
  if (existing !== undefined) return existing;
  const lane = new DataLane(sdk, { ...settings, ...(mode === 'always' && { startAfter: 0 }) });
  lanes.set(sdk, lane);
  const destroy = sdk.destroy.bind(sdk);
  sdk.destroy = () => {
    lane.destroy();
    destroy();
  };
  return lane;
}

/** The data lane of `sdk`, if it has one. */
export function laneOf(sdk: S3Client): DataLane | undefined {
  return lanes.get(sdk);
}

/** Whether an error means the lane is at the wrong address for the bucket. */
function isRedirect(error: LaneServiceError): boolean {
  const status = error.$metadata.httpStatusCode;
  return (
    status === 301 ||
    status === 307 ||
    error.name === 'PermanentRedirect' ||
    error.name === 'TemporaryRedirect' ||
    (error.name === 'AuthorizationHeaderMalformed' && error.BucketRegion !== undefined)
  );
}

/** The lane's request kinds, and how each output is read. */
type Kind = 'head' | 'get' | 'put' | 'list';

/**
 * Sends `request` through `lane`, retried per `policy` when its body can be sent again,
 * and reads the response as the SDK would for `kind`. Resolves `undefined` when the server
 * redirected a request that can be replayed: the caller sends it through the SDK.
 */
async function exchange(
  lane: DataLane,
  bucket: string,
  route: BucketRoute,
  request: LaneRequest,
  kind: Kind,
  policy: ResolvedRetryConfig,
  signal: AbortSignal | undefined,
): Promise<Record<string, unknown> | undefined> {
  const replayable = request.body === undefined || Buffer.isBuffer(request.body);
  // Set by an attempt the server redirected.
  const state = { redirected: false };
  const once = async (attempt: number): Promise<Record<string, unknown>> => {
    const answer = await lane.send(route, request, signal);
    const { statusCode, headers, body } = answer;
    if (statusCode >= 300) {
      const text = kind === 'head' ? '' : await readCapped(body);
      // Attempts are counted once, by `retry`, on the error it gives up with.
      const error = serviceError(statusCode, headers, text);
      if (isRedirect(error)) {
        lane.leave(bucket, `the server redirected it (HTTP ${statusCode})`);
        state.redirected = replayable;
      } else if (lane.correctClock(headers)) {
        Object.assign(error.$metadata, { clockSkewCorrected: true });
      }
      throw error;
    }
    if (kind === 'list') {
      const meta = metadataOf(statusCode, headers);
      meta.attempts = attempt;
      return listOutput(await body.text(), meta);
    }
    const out = objectOutput(statusCode, headers, kind === 'put' ? 'write' : 'read');
    out.$metadata.attempts = attempt;
    if (kind === 'get') out.Body = lane.mixin(lane.wordTimeouts(body));
    else await body.dump({ limit: MAX_ERROR_BODY }).catch(() => undefined);
    return out;
  };
  try {
    return await retry(once, {
      ...policy,
      maxAttempts: replayable ? policy.maxAttempts : 1,
      ...(signal && { signal }),
      shouldRetry: (e) => !state.redirected && (isSkewCorrected(e) || isRetryableError(e)),
    });
  } catch (error) {
    if (state.redirected) return undefined;
    throw error;
  }
}

function isSkewCorrected(error: unknown): boolean {
  return (
    (error as { $metadata?: { clockSkewCorrected?: boolean } } | null)?.$metadata
      ?.clockSkewCorrected === true
  );
}

/** An error body's text, up to {@link MAX_ERROR_BODY} bytes. */
async function readCapped(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const data = chunk as Buffer;
    chunks.push(data);
    size += data.length;
    if (size >= MAX_ERROR_BODY) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The transport of an SDK client with a lane: the hot requests through the lane, the rest
 * (and any the lane cannot build or was redirected from) through `fallback`.
 */
export function laneTransport(
  lane: DataLane,
  fallback: Transport,
  policy: ResolvedRetryConfig,
): Transport {
  /** Sends through the lane when it can build the request for the bucket's route. */
  async function via<I extends { Bucket: string | undefined }, O>(
    input: I,
    signal: AbortSignal | undefined,
    kind: Kind,
    build: (route: BucketRoute, input: I) => LaneRequest | undefined,
    sdk: (input: I, signal?: AbortSignal) => Promise<O>,
  ): Promise<O> {
    const bucket = input.Bucket;
    if (bucket === undefined || bucket === '') return sdk(input, signal);
    if (!(await lane.ready(kind !== 'list'))) return sdk(input, signal);
    let route: BucketRoute | SdkOnly;
    try {
      route = await lane.route(bucket);
    } catch {
      // The SDK says why in its own error.
      return sdk(input, signal);
    }
    const request = 'sdkOnly' in route ? undefined : build(route, input);
    if ('sdkOnly' in route || request === undefined) return sdk(input, signal);
    const out = await exchange(lane, bucket, route, request, kind, policy, signal);
    return out === undefined ? sdk(input, signal) : (out as O);
  }
  // `lane.perform` is looked up on every call: a wrapper put on later sees every operation.
  return {
    ...fallback,
    headObject: (input, signal) =>
      lane.perform('HeadObject', input, signal, () =>
        via(
          input,
          signal,
          'head',
          (r, i) => objectReadRequest(r, 'HEAD', i),
          (i, s) => fallback.headObject(i, s),
        ),
      ),
    getObject: (input, signal) =>
      lane.perform('GetObject', input, signal, () =>
        via(
          input,
          signal,
          'get',
          (r, i) => objectReadRequest(r, 'GET', i),
          (i, s) => fallback.getObject(i, s),
        ),
      ),
    putObject: (input, signal) =>
      lane.perform('PutObject', input, signal, () =>
        via(input, signal, 'put', putObjectRequest, (i, s) => fallback.putObject(i, s)),
      ),
    uploadPart: (input, signal) =>
      lane.perform('UploadPart', input, signal, () =>
        via(input, signal, 'put', uploadPartRequest, (i, s) => fallback.uploadPart(i, s)),
      ),
    listObjectsV2: (input, signal) =>
      lane.perform('ListObjectsV2', input, signal, () =>
        via(input, signal, 'list', listRequest, (i, s) => fallback.listObjectsV2(i, s)),
      ),
  };
}
