/**
 * A copy between two servers (or identities): the source's GET streams into the
 * destination's PUT, or its multipart upload for large objects, without touching the disk.
 * The bytes are hashed as they pass and verified like a download's against what the
 * source said of them; a PUT also carries `Content-MD5` when the source's MD5 is known.
 *
 * @packageDocumentation
 */
import { pipeline, type Readable } from 'node:stream';

import type { CompletedPart } from '@aws-sdk/client-s3';

import { HashMismatchError } from '../exceptions.js';
import { HashingStream, PartHasher, type ReceivedDigest } from '../hash.js';
import { md5Of } from '../remote-compare.js';
import { MD5_METADATA_KEY, normalizeEtag, partLayout } from '../etag.js';
import type { SentParams } from '../upload-params.js';
import { withOwnMetadata } from '../upload-params.js';
import { hashingFor, verifyContent, type RemoteContent } from '../verify.js';
import type { ClientContext } from './context.js';
import {
  copyPartSize,
  etagAfter,
  headersOf,
  MAX_COPY_OBJECT_SIZE,
  type CopyResult,
  type ObjectLocation,
} from './copy.js';
import { cutShort, typedErrors } from './errors.js';
import {
  abortUpload,
  completeUpload,
  createUpload,
  noUploadId,
  sendPart,
  type Upload,
} from './multipart.js';
import { TaskPool } from './pool.js';
import { retryDownload } from './retrying.js';
import type { ObjectParamHeaders } from './remote-object.js';
import type { RemoteObject } from './types.js';

/** Opens the source's bytes: a GET of the whole object. */
export type SourceOpener = (signal: AbortSignal | undefined) => Promise<{
  object: RemoteObject;
  body: Readable;
  headers: ObjectParamHeaders;
}>;

/** Options of {@link relayObject}. */
export interface RelayOptions {
  /** The destination's parameters; else the source's metadata (user and s3lync's). @default none */
  params?: SentParams | undefined;
  /** Objects larger than this go as a multipart upload. @default 5 GiB */
  multipartThreshold?: number | undefined;
  /** The part size when the source's own layout is unknown. @default 64 MiB */
  partSize?: number | undefined;
  /** Parts in flight at once. @default 4 */
  queueSize?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called with each chunk's size as bytes move. @default none */
  onBytes?: ((bytes: number) => void) | undefined;
}

/**
 * Streams the source into `to`, retried from a new GET within the destination's budget.
 * A mismatch with what the source said fails the attempt; bytes nothing can decide (an
 * opaque or unknown multipart ETag) resolve with `verified: false`.
 */
export function relayObject(
  ctx: ClientContext,
  open: SourceOpener,
  to: ObjectLocation,
  options: RelayOptions,
): Promise<CopyResult> {
  const site = { operation: 'CopyObject', ...to, signal: options.signal };
  return typedErrors(site, ctx.describe, () =>
    ctx.retry.run(site, ctx.describe, () => relayOnce(ctx, open, to, options), retryDownload),
  );
}

async function relayOnce(
  ctx: ClientContext,
  open: SourceOpener,
  to: ObjectLocation,
  options: RelayOptions,
): Promise<CopyResult> {
  const { object, body, headers } = await open(options.signal);
  const content: RemoteContent = { ...object, serverPartSize: undefined };
  const md5 = md5Of(object);
  const params: SentParams = options.params ?? headersOf(headers);
  const own: Record<string, string> = md5 === undefined ? {} : { [MD5_METADATA_KEY]: md5 };
  try {
    const threshold = options.multipartThreshold ?? MAX_COPY_OBJECT_SIZE;
    const sent =
      object.size > threshold
        ? await relayParts(ctx, body, to, object, { ...options, params, md5 })
        : await relayPut(ctx, body, to, object, { ...options, params: withOwn(params, own), md5 });
    const verdict = verifyContent(sent.digest, content);
    const uri = ctx.describe(to.bucket, to.key);
    if (verdict.result === 'mismatch') {
      throw new HashMismatchError(
        `CopyObject ${uri}: the bytes streamed do not match the source (${verdict.by}: expected ${verdict.expected}, got ${verdict.actual})`,
        { expected: verdict.expected, actual: verdict.actual, uri },
      );
    }
    return { etag: sent.etag, verified: verdict.result === 'match', method: 'copy' };
  } finally {
    body.destroy();
  }
}

function withOwn(params: SentParams, own: Record<string, string>): SentParams {
  return { ...params, Metadata: withOwnMetadata(params, own) };
}

/** One PUT of the stream, hashed as it passes; with `Content-MD5` when the MD5 is known. */
async function relayPut(
  ctx: ClientContext,
  body: Readable,
  to: ObjectLocation,
  object: RemoteObject,
  options: RelayOptions & { params: SentParams; md5: string | undefined },
): Promise<{ digest: ReceivedDigest; etag: string | undefined }> {
  const hasher = new HashingStream(undefined, options.onBytes, hashingFor(object));
  pipeline(body, hasher, () => undefined);
  const out = await ctx.transport.putObject(
    {
      ...options.params,
      Bucket: to.bucket,
      Key: to.key,
      Body: hasher,
      ContentLength: object.size,
      ...(options.md5 !== undefined && {
        ContentMD5: Buffer.from(options.md5, 'hex').toString('base64'),
      }),
    },
    options.signal,
  );
  const digest = hasher.received();
  if (digest.size !== object.size) throw cutShort(`the source ended at ${digest.size} bytes`);
  return { digest, etag: out.ETag };
}

/** A multipart upload of the stream, part by part as it arrives, aborted on any failure. */
async function relayParts(
  ctx: ClientContext,
  body: Readable,
  to: ObjectLocation,
  object: RemoteObject,
  options: RelayOptions & { params: SentParams; md5: string | undefined },
): Promise<{ digest: ReceivedDigest; etag: string | undefined }> {
  const size = object.size;
  // The source's own layout when known: then the composite ETag verifies the bytes.
  const partSize = copyPartSize(
    size,
    object.etag,
    object.partSizeHint,
    options.partSize ?? 64 * 1024 * 1024,
  );
  const hasher = new PartHasher(partSize, undefined, options.md5 !== undefined);
  const mp = {
    size,
    partSize,
    queueSize: options.queueSize ?? 4,
    params: options.params,
    md5: options.md5,
  };
  const site = { operation: 'MultipartUpload', ...to, signal: options.signal };
  let upload: Upload | undefined;
  try {
    const uploadId = await createUpload(ctx, site, mp);
    if (uploadId !== undefined) upload = { ctx, ...to, uploadId };
    if (upload === undefined || uploadId === '') throw noUploadId(ctx, site);
    const pool = new TaskPool(mp.queueSize, options.signal);
    const parts: CompletedPart[] = [];
    let n = 0;
    try {
      for await (const part of partsOf(body, partSize, size)) {
        const digest = await hasher.addPart(part);
        if (!(await pool.ready())) break;
        const number = ++n;
        const active: Upload = upload;
        pool.start(async () => {
          parts[number - 1] = await sendPart(active, number, part, digest, mp, pool.signal);
          options.onBytes?.(part.length);
        });
      }
    } catch (error) {
      pool.fail(error);
    }
    await pool.settle();
    const digest = hasher.digest();
    const done = await completeUpload(upload, parts, digest, mp);
    upload = undefined;
    const composite = digest.multipartEtag;
    // The server's ETag must be the composite of the parts sent, or it proves nothing.
    const given = await etagAfter(ctx, to, done.etag, options.signal);
    const etag = normalizeEtag(given) === composite ? given : undefined;
    return { digest, etag };
  } catch (error) {
    if (upload !== undefined) await abortUpload(upload);
    throw error;
  }
}

/** The stream cut into parts of `partSize` (the last one shorter); exactly `size` bytes. */
async function* partsOf(body: Readable, partSize: number, size: number): AsyncGenerator<Buffer> {
  const { parts } = partLayout(size, partSize);
  let index = 0;
  const sizeOf = (i: number): number => Math.min(partSize, size - i * partSize);
  let buffer = Buffer.allocUnsafe(sizeOf(0));
  let fill = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let offset = 0;
    while (offset < chunk.length) {
      if (index >= parts) throw cutShort(`the source sent more than ${size} bytes`);
      const take = Math.min(buffer.length - fill, chunk.length - offset);
      chunk.copy(buffer, fill, offset, offset + take);
      fill += take;
      offset += take;
      if (fill === buffer.length) {
        yield buffer;
        index++;
        fill = 0;
        if (index < parts) buffer = Buffer.allocUnsafe(sizeOf(index));
      }
    }
  }
  if (index < parts) throw cutShort(`the source ended before ${size} bytes`);
}
