/**
 * The only door to S3: {@link S3lyncClient}. Every request goes through one send per
 * request kind (the transport in `client/transport`; the SDK's goes through
 * `S3Client.send`, so aws-sdk-client-mock can intercept all of them), and every SDK error
 * leaves here as a typed {@link S3ObjectError} that keeps the SDK error as `cause`.
 *
 * The operations live in `client/`, along the data flow: `sdk` builds the SDK client,
 * `errors` types the failures, `retrying` holds the retry policy, `head`, `get` and
 * `ranges` read, `put` and `multipart` write, `list` and `delete` walk and prune.
 *
 * @packageDocumentation
 */
import type { Readable } from 'node:stream';

import type { S3Client } from '@aws-sdk/client-s3';

import {
  capabilitiesOf,
  endpointKey,
  learn,
  probeConditionalWrites,
  type ServerCapabilities,
} from './client/capabilities.js';
import type { ClientContext } from './client/context.js';
import type { ObjectParamHeaders } from './client/remote-object.js';
import {
  copyObject,
  type CopyOptions,
  type CopyResult,
  type ObjectLocation,
} from './client/copy.js';
import { deleteObject, deleteObjects, type DeleteResult } from './client/delete.js';
import { toS3lyncError } from './client/errors.js';
import { downloadIfChanged, downloadToFile, getStream, type NOT_MODIFIED } from './client/get.js';
import { headObject, type HeadOptions } from './client/head.js';
import { listPages, prefixExists, type ListOptions } from './client/list.js';
import { uploadMultipart } from './client/multipart.js';
import { putFile } from './client/put.js';
import { downloadRangesToFile } from './client/ranges.js';
import { relayObject, type RelayOptions } from './client/relay.js';
import { RetryPolicy } from './client/retrying.js';
import { laneOf, laneTransport } from './client/lane.js';
import { sdkTransport } from './client/transport.js';
import { withCustomerKey } from './client/sse-c.js';
import type {
  DownloadOptions,
  DownloadResult,
  DownloadSink,
  ListedObject,
  ListedPage,
  MultipartOptions,
  MultipartResult,
  PutOptions,
  PutResult,
  RangedDownloadOptions,
  RemoteObject,
  UriFormatter,
} from './client/types.js';
import type { FileDigest } from './hash.js';
import type { RetryConfig } from './retry.js';
import type { CustomerKey } from './sse-c.js';

/** Options of {@link S3lyncClient}. */
export interface S3lyncClientOptions {
  /** The policy for transfers the SDK cannot replay itself. @default the defaults of `retry` */
  retry?: RetryConfig;
  /** Renders URIs for error messages. @default `s3://bucket/key` */
  describe?: UriFormatter;
  /** Sends the hot requests through the SDK client's data lane, if it has one. @default true */
  dataLane?: boolean;
  /** SSE-C: every object request carries this key. @default none */
  customerKey?: CustomerKey | undefined;
}

export {
  createS3Client,
  DEFAULT_ENDPOINT_REGION,
  DEFAULT_TIMEOUTS,
  resolveTimeouts,
  timeoutsFor,
  type ClientOptions,
  type TimeoutOptions,
} from './client/sdk.js';
export { DELETE_BATCH, type DeleteResult } from './client/delete.js';
export { NOT_MODIFIED } from './client/get.js';
export { attachLane, type LaneSettings } from './client/lane.js';
export type { HeadOptions } from './client/head.js';
export {
  sameServer,
  type CopyOptions,
  type CopyResult,
  type ObjectLocation,
} from './client/copy.js';
export type { RelayOptions } from './client/relay.js';
export type { ServerCapabilities } from './client/capabilities.js';
export type { ListOptions } from './client/list.js';
export type * from './client/types.js';

/**
 * s3lync's door to S3: HEAD, LIST, GET to a file, PUT from a file, multipart upload,
 * DELETE, each with the retry policy and typed errors.
 */
export class S3lyncClient {
  /** The SDK client every request goes through. */
  readonly sdk: S3Client;
  private readonly describe: UriFormatter;
  /** What the operations share: the transport, the retry policy, `describe`. */
  readonly #ctx: ClientContext;
  readonly #laneOn: boolean;
  #endpoint: Promise<string> | undefined;
  readonly #options: S3lyncClientOptions;
  readonly #keyed = new WeakMap<CustomerKey, S3lyncClient>();

  /**
   * @param sdk - the SDK client to send through (its data lane, if it has one: a client
   *   {@link createS3Client} built).
   */
  constructor(sdk: S3Client, options: S3lyncClientOptions = {}) {
    this.sdk = sdk;
    this.#options = options;
    const retry = new RetryPolicy(options.retry);
    this.describe = options.describe ?? ((b, k) => `s3://${b}/${k}`);
    const lane = options.dataLane === false ? undefined : laneOf(sdk);
    const plain =
      lane === undefined ? sdkTransport(sdk) : laneTransport(lane, sdkTransport(sdk), retry.config);
    const { customerKey } = options;
    const transport = customerKey === undefined ? plain : withCustomerKey(plain, customerKey);
    this.#ctx = {
      transport,
      retry,
      describe: this.describe,
      customerKey,
      learn: (seen) => {
        void this.capabilities().then((caps) => {
          learn(caps, seen);
        });
      },
    };
    this.#laneOn = lane !== undefined;
  }

  /** The endpoint's key (its URL, or AWS and the region), resolved once. */
  #endpointKey(): Promise<string> {
    this.#endpoint ??= endpointKey(this.sdk).catch(() => 'unknown');
    return this.#endpoint;
  }

  /**
   * What the server was seen to honour so far, shared by every client of its endpoint in
   * this process (`client/capabilities`); learning them sends no request.
   */
  async capabilities(): Promise<ServerCapabilities> {
    return capabilitiesOf(await this.#endpointKey());
  }

  /** Records what a response showed the server honours. */
  learn(seen: ServerCapabilities): void {
    this.#ctx.learn?.(seen);
  }

  /**
   * The capabilities, with conditional writes probed first if this endpoint's were never
   * probed in this process: four small requests on a scratch key next to `nearKey`, once.
   */
  async conditionalWrites(bucket: string, nearKey: string): Promise<ServerCapabilities> {
    const endpoint = await this.#endpointKey();
    await probeConditionalWrites(this.#ctx, endpoint, bucket, nearKey);
    return capabilitiesOf(endpoint);
  }

  /** The SSE-C key every object request carries, if any. */
  get customerKey(): CustomerKey | undefined {
    return this.#ctx.customerKey;
  }

  /** This client, its object requests carrying `key` instead (one per key, kept). */
  withCustomerKey(key: CustomerKey): S3lyncClient {
    if (key.equals(this.customerKey)) return this;
    let client = this.#keyed.get(key);
    if (client === undefined) {
      client = new S3lyncClient(this.sdk, { ...this.#options, customerKey: key });
      this.#keyed.set(key, client);
    }
    return client;
  }

  /** Whether the hot requests go through the data lane. */
  get dataLane(): boolean {
    return this.#laneOn;
  }

  /**
   * Turns an SDK error into a typed s3lync error; an abort passes through unchanged. A local
   * fs error becomes a {@link LocalPathError} (naming `localPath` if it names no path itself).
   */
  toError(
    error: unknown,
    operation: string,
    bucket: string,
    key: string,
    signal?: AbortSignal,
    localPath?: string,
  ): unknown {
    return toS3lyncError(error, { operation, bucket, key, signal, localPath }, this.describe);
  }

  /**
   * HEAD of an object; `undefined` when the key is not an object (404). With `partNumber`,
   * servers that support it (AWS) also say how many parts the object has and the size of
   * that part (then `size` is the part's size).
   */
  head(
    bucket: string,
    key: string,
    signal?: AbortSignal,
    options: HeadOptions = {},
  ): Promise<RemoteObject | undefined> {
    return headObject(this.#ctx, bucket, key, signal, options);
  }

  /** Whether at least one key starts with `prefix` (one LIST of one key). */
  prefixExists(bucket: string, prefix: string, signal?: AbortSignal): Promise<boolean> {
    return prefixExists(this.#ctx, bucket, prefix, signal);
  }

  /**
   * GETs an object into `file` (emptied on each attempt), hashing the bytes as they stream
   * to disk. A dropped connection mid-body or a failed `verify` is retried within the
   * attempt budget; the caller owns (and removes) the file.
   */
  downloadToFile(
    bucket: string,
    key: string,
    file: DownloadSink,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    return downloadToFile(this.#ctx, bucket, key, file, options);
  }

  /**
   * {@link S3lyncClient.downloadToFile} with `If-None-Match: options.ifNoneMatch`: resolves
   * to {@link NOT_MODIFIED}, with nothing written, when the server answers 304.
   */
  downloadIfChanged(
    bucket: string,
    key: string,
    file: DownloadSink,
    options: DownloadOptions,
  ): Promise<DownloadResult | typeof NOT_MODIFIED> {
    return downloadIfChanged(this.#ctx, bucket, key, file, options);
  }

  /**
   * GETs a large object as parallel ranged GETs into `file`, every range pinned with
   * `If-Match` to one ETag so a concurrent overwrite cannot produce a mixed file (it fails
   * the attempt instead, and the retry starts over with the new version). Memory stays at
   * about `concurrency × 2 MiB` whatever the object's size. The caller owns (and removes)
   * the file.
   */
  downloadRangesToFile(
    bucket: string,
    key: string,
    file: DownloadSink,
    options: RangedDownloadOptions,
  ): Promise<DownloadResult> {
    return downloadRangesToFile(this.#ctx, bucket, key, file, options);
  }

  /**
   * PUTs a file in one request with `Content-MD5`, so the server rejects bytes that do not
   * match the digest (a file changed since it was hashed). Returns the response ETag.
   */
  putFile(
    bucket: string,
    key: string,
    filePath: string,
    digest: FileDigest,
    options: PutOptions = {},
  ): Promise<PutResult> {
    return putFile(this.#ctx, bucket, key, filePath, digest, options);
  }

  /**
   * Uploads a file in parts, reading it once, at most `queueSize` parts in flight, each
   * checked by the server against its `Content-MD5`. On any failure or abort the parts in
   * flight settle first, then the upload is aborted on the server, and only then does the
   * promise reject. With `md5`, bytes that no longer have that MD5 fail the upload before
   * it completes.
   */
  uploadMultipart(
    bucket: string,
    key: string,
    filePath: string,
    options: MultipartOptions,
  ): Promise<MultipartResult> {
    return uploadMultipart(this.#ctx, bucket, key, filePath, options);
  }

  /**
   * Lists every object under `prefix`, flat (no delimiter), one page of up to 1,000 keys
   * per request. Pages are yielded as they arrive; a failed page throws, so a caller that
   * reaches the end has seen a complete listing.
   */
  async *listObjects(
    bucket: string,
    prefix: string,
    signal?: AbortSignal,
  ): AsyncGenerator<ListedObject[], void, undefined> {
    for await (const page of this.listPages(bucket, prefix, { signal })) yield page.objects;
  }

  /**
   * Lists under `prefix` page by page (up to 1,000 entries per request); with a
   * `delimiter` (`/`), one level of a tree. A failed page throws, and so does a listing
   * that does not advance (a {@link ListingError}; what counts is told in `client/list`).
   */
  listPages(
    bucket: string,
    prefix: string,
    options: ListOptions = {},
  ): AsyncGenerator<ListedPage, void, undefined> {
    return listPages(this.#ctx, bucket, prefix, options);
  }

  /**
   * Deletes keys with DeleteObjects, at most 1,000 per request (S3's limit), and reports
   * each key S3 could not delete instead of treating the batch as done.
   */
  deleteObjects(
    bucket: string,
    keys: readonly string[],
    signal?: AbortSignal,
  ): Promise<DeleteResult> {
    return deleteObjects(this.#ctx, bucket, keys, signal);
  }

  /**
   * Copies an object on the server (CopyObject; UploadPartCopy ranges above the threshold),
   * pinned to the source's ETag and verified by the copy's ETag. Both sides must be
   * reachable with this client's endpoint and identity.
   */
  copyObject(from: ObjectLocation, to: ObjectLocation, options: CopyOptions): Promise<CopyResult> {
    return copyObject(this.#ctx, from, to, options);
  }

  /**
   * Copies `source` (another client's object) to `to` by streaming its GET into a PUT or a
   * multipart upload, hashed as it passes and verified against what the source said.
   */
  relayFrom(
    source: S3lyncClient,
    from: ObjectLocation,
    to: ObjectLocation,
    options: RelayOptions,
  ): Promise<CopyResult> {
    const open = (signal: AbortSignal | undefined) =>
      source.getStream(from.bucket, from.key, signal);
    return relayObject(this.#ctx, open, to, options);
  }

  /**
   * Deletes the object `key`, or, when there is no such object, every object under the
   * prefix (`key/`): DeleteObjects in batches of 1,000, each key S3 refused reported.
   */
  async deleteObjectOrPrefix(
    bucket: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<DeleteResult> {
    if (!key.endsWith('/') && (await this.head(bucket, key, signal))) {
      await this.deleteObject(bucket, key, signal);
      return { deleted: [key], failed: [] };
    }
    const keys: string[] = [];
    for await (const page of this.listObjects(
      bucket,
      key.endsWith('/') ? key : `${key}/`,
      signal,
    )) {
      for (const o of page) keys.push(o.key);
    }
    return this.deleteObjects(bucket, keys, signal);
  }

  /** DELETEs one object (S3 answers success whether or not it existed). */
  deleteObject(bucket: string, key: string, signal?: AbortSignal): Promise<void> {
    return deleteObject(this.#ctx, bucket, key, signal);
  }

  /**
   * GETs an object as a stream, for a caller that reads it once (`s3lync cat`): nothing
   * lands on disk or in memory. The SDK retries the request; the body, once flowing, is
   * not replayed. The caller must consume or destroy `body`.
   */
  getStream(
    bucket: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<{ object: RemoteObject; body: Readable; headers: ObjectParamHeaders }> {
    return getStream(this.#ctx, bucket, key, signal);
  }
}
