/**
 * PUT of a file in one request, with `Content-MD5` so the server refuses bytes that do not
 * match the digest, retried from the start of the file.
 *
 * @packageDocumentation
 */
import { pipeline as pipeStreams, Transform, type Readable } from 'node:stream';

import { checksumOf, type ChecksumAlgorithm } from '../checksum.js';
import { HASH_CHUNK_SIZE, type FileDigest } from '../hash.js';
import { openRegularFile } from '../local-root.js';
import { AttemptProgress } from './attempt-progress.js';
import type { ClientContext } from './context.js';
import { typedErrors, type RequestSite } from './errors.js';
import { remoteObject } from './remote-object.js';
import type { PutOptions, PutResult } from './types.js';
import { MD5_METADATA_KEY } from '../etag.js';
import { withOwnMetadata } from '../upload-params.js';

/**
 * PUTs a file in one request with `Content-MD5`, so the server rejects bytes that do not
 * match the digest (a file changed since it was hashed). Returns the response ETag.
 */
export function putFile(
  ctx: ClientContext,
  bucket: string,
  key: string,
  filePath: string,
  digest: FileDigest,
  options: PutOptions,
): Promise<PutResult> {
  const site = { operation: 'PutObject', bucket, key, signal: options.signal, localPath: filePath };
  return typedErrors(site, ctx.describe, () =>
    ctx.retry.run(site, ctx.describe, () => putOnce(ctx, site, digest, options)),
  );
}

/** One attempt of {@link putFile}. */
async function putOnce(
  ctx: ClientContext,
  site: RequestSite & { localPath: string },
  digest: FileDigest,
  options: PutOptions,
): Promise<PutResult> {
  const progress = new AttemptProgress(options.onBytes);
  let file: Readable | undefined;
  let body: Readable | Buffer;
  if (options.body !== undefined) {
    body = options.body;
  } else {
    const chunk = readSize(digest.size);
    file = (await openRegularFile(site.localPath)).createReadStream({ highWaterMark: chunk });
    body = countBytes(file, chunk, progress);
  }
  try {
    const out = await ctx.transport.putObject(
      {
        ...options.params,
        Bucket: site.bucket,
        Key: site.key,
        Body: body,
        ContentLength: digest.size,
        ContentMD5: Buffer.from(digest.md5, 'hex').toString('base64'),
        Metadata: withOwnMetadata(options.params, { [MD5_METADATA_KEY]: digest.md5 }),
        ...(options.ifNoneMatch === true && { IfNoneMatch: '*' }),
        ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
        // A precomputed checksum goes as a header; asking the SDK to compute one
        // would send an aws-chunked trailer, which some servers refuse.
        ...checksumHeader(options.checksumAlgorithm, digest),
      },
      site.signal,
    );
    if (options.body !== undefined) progress.add(options.body.length);
    const checksum = checksumOf(out);
    if (options.checksumAlgorithm !== undefined && digest.checksum !== undefined) {
      ctx.learn?.({ storedChecksums: checksum !== undefined });
    }
    return { etag: out.ETag, opaqueEtag: remoteObject(out).opaqueEtag, checksum };
  } catch (error) {
    progress.rollback();
    throw error;
  } finally {
    if (!Buffer.isBuffer(body)) body.destroy();
    file?.destroy();
  }
}

/** Reads no larger than the file: a 1 MiB buffer per 4 KiB file is pure GC work. */
function readSize(fileSize: number): number {
  return Math.max(1, Math.min(HASH_CHUNK_SIZE, fileSize));
}

/**
 * `file` through a pass-through that reports each chunk. The body must be a stream nothing
 * has started reading: the SDK's checksum hasher (AWS, WHEN_SUPPORTED) throws on one
 * already flowing, and with `Expect: 100-continue` (bodies >= 2 MiB) the SDK pipes the body
 * only after a round trip, so a body flowing before then drops its first chunks and the
 * PUT hangs. So bytes are counted by a pass-through, not by a 'data' listener on the file.
 */
function countBytes(file: Readable, chunk: number, progress: AttemptProgress): Transform {
  const counter = new Transform({
    highWaterMark: chunk,
    transform(data: Buffer, _encoding, done) {
      progress.add(data.length);
      done(null, data);
    },
  });
  // A read error reaches the SDK through the counter; the callback only swallows the
  // premature close that `finally` causes.
  pipeStreams(file, counter, () => undefined);
  return counter;
}

/** The header of a precomputed additional checksum, if one is asked for and known. */
function checksumHeader(
  algorithm: ChecksumAlgorithm | undefined,
  digest: FileDigest,
): Partial<Record<`Checksum${ChecksumAlgorithm}`, string>> {
  if (algorithm === undefined || digest.checksum === undefined) return {};
  return { [`Checksum${algorithm}`]: digest.checksum };
}
