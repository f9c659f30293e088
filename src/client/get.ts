/**
 * Whole-object GETs: into a file, hashed as the bytes stream to disk and retried when the
 * body is cut short or does not verify; or as a stream for a caller that reads it once.
 *
 * @packageDocumentation
 */
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { HASH_CHUNK_SIZE, HashingStream, SMALL_FILE_SIZE } from '../hash.js';
import { attemptsUsed } from '../retry.js';
import { AttemptProgress } from './attempt-progress.js';
import type { ClientContext } from './context.js';
import { cutShort, typedErrors, type RequestSite } from './errors.js';
import { remoteObject, type ObjectParamHeaders } from './remote-object.js';
import { retryDownload, withAttempts } from './retrying.js';
import type { DownloadOptions, DownloadResult, DownloadSink, RemoteObject } from './types.js';

/**
 * GETs an object into `file` (emptied on each attempt), hashing the bytes as they stream
 * to disk. A dropped connection mid-body or a failed `verify` is retried within the
 * attempt budget; the caller owns (and removes) the file.
 */
export function downloadToFile(
  ctx: ClientContext,
  bucket: string,
  key: string,
  file: DownloadSink,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const site = { operation: 'GetObject', bucket, key, signal: options.signal };
  return typedErrors(site, ctx.describe, () =>
    ctx.retry.run(site, ctx.describe, () => downloadOnce(ctx, site, file, options), retryDownload),
  );
}

/** One attempt of {@link downloadToFile}. */
async function downloadOnce(
  ctx: ClientContext,
  site: RequestSite,
  file: DownloadSink,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const { signal } = options;
  const out = await ctx.transport.getObject(
    {
      Bucket: site.bucket,
      Key: site.key,
      ChecksumMode: 'ENABLED',
      ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
    },
    signal,
  );
  const info = remoteObject(out);
  const progress = new AttemptProgress(options.onBytes);
  const hasher = new HashingStream(
    undefined,
    (n) => {
      progress.add(n);
    },
    options.hashing?.(info),
  );
  const body = out.Body as Readable;
  try {
    if (info.size <= SMALL_FILE_SIZE) {
      await writeSmallBody(body, file, hasher, progress, signal);
    } else {
      const fh = await file.open();
      await pipeline(body, hasher, fh.createWriteStream({ highWaterMark: HASH_CHUNK_SIZE }), {
        signal,
      });
    }
    const result: DownloadResult = {
      ...info,
      digest: hasher.received(),
      receivedChecksum: await hasher.checksum(),
    };
    if (result.digest.size !== info.size) {
      throw cutShort(`received ${result.digest.size} bytes, expected ${info.size}`);
    }
    options.verify?.(result);
    return result;
  } catch (error) {
    // Undo this attempt's progress so a retry does not count bytes twice.
    progress.rollback();
    throw withAttempts(error, attemptsUsed(out));
  }
}

/** A small body in one buffer and one write: three streams cost more than the bytes. */
async function writeSmallBody(
  body: Readable,
  file: DownloadSink,
  hasher: HashingStream,
  progress: AttemptProgress,
  signal: AbortSignal | undefined,
): Promise<void> {
  const chunks: Buffer[] = [];
  // An abort must also end a body that stalls between chunks.
  if (signal) addAbortSignal(signal, body);
  for await (const chunk of body) {
    const data = chunk as Buffer;
    chunks.push(data);
    hasher.update(data);
    progress.add(data.length);
  }
  const fh = await file.open();
  try {
    await fh.writeFile(
      chunks.length === 1 ? (chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(chunks),
      { ...(signal && { signal }) },
    );
  } finally {
    await fh.close();
  }
}

/**
 * GETs an object as a stream, for a caller that reads it once (`s3lync cat`): nothing
 * lands on disk or in memory. The SDK retries the request; the body, once flowing, is
 * not replayed. The caller must consume or destroy `body`.
 */
export async function getStream(
  ctx: ClientContext,
  bucket: string,
  key: string,
  signal: AbortSignal | undefined,
): Promise<{ object: RemoteObject; body: Readable; headers: ObjectParamHeaders }> {
  const site = { operation: 'GetObject', bucket, key, signal };
  const out = await typedErrors(site, ctx.describe, () =>
    ctx.transport.getObject({ Bucket: bucket, Key: key }, signal),
  );
  return { object: remoteObject(out), body: out.Body as Readable, headers: out };
}
