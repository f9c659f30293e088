/**
 * Multipart upload of a file, read once: each part is read into a reused buffer, hashed
 * and sent with its `Content-MD5`, a bounded number in flight; any failure aborts the
 * upload on the server.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';

import type { CompletedPart } from '@aws-sdk/client-s3';

import { checksumOf } from '../checksum.js';
import { HashMismatchError, LocalPathError, S3ObjectError } from '../exceptions.js';
import { PartHasher, type PartDigest, type ReceivedDigest } from '../hash.js';
import { openRegularFile } from '../local-root.js';
import { getLogger } from '../logging.js';
import { AttemptProgress } from './attempt-progress.js';
import type { ClientContext } from './context.js';
import { describeError, typedErrors, type RequestSite } from './errors.js';
import { TaskPool } from './pool.js';
import { remoteObject } from './remote-object.js';
import type { MultipartOptions, MultipartResult } from './types.js';
import { MD5_METADATA_KEY, PART_SIZE_METADATA_KEY, partLayout } from '../etag.js';
import { withOwnMetadata } from '../upload-params.js';

const log = getLogger('client');

/** An upload under way: where it goes and its id. */
export interface Upload {
  readonly ctx: ClientContext;
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
}

/**
 * Uploads a file in parts, reading it once: each part is read into one of
 * `queueSize + 1` reused buffers, hashed (its MD5 goes as `Content-MD5`, so the server
 * checks every part; the composite ETag comes from the same read, one MD5 pass) and sent, with at most `queueSize` parts in flight. Memory stays below
 * `(queueSize + 1) × partSize` whatever the file's size. The SDK retries each part (a
 * Buffer body is replayable). On any failure or abort the parts in flight settle first,
 * then the upload is aborted on the server, and only then does the promise reject.
 *
 * With `md5`, the object records it as its fingerprint and the whole file's MD5 is
 * computed too; bytes that no longer have that MD5 (the file changed since it was hashed)
 * fail the upload before it completes.
 */
export async function uploadMultipart(
  ctx: ClientContext,
  bucket: string,
  key: string,
  filePath: string,
  options: MultipartOptions,
): Promise<MultipartResult> {
  const { signal } = options;
  const site = { operation: 'MultipartUpload', bucket, key, signal, localPath: filePath };
  const progress = new AttemptProgress(options.onBytes);
  let fh: FileHandle | undefined;
  try {
    return await typedErrors(site, ctx.describe, async () => {
      let upload: Upload | undefined;
      try {
        signal?.throwIfAborted();
        fh = await openRegularFile(filePath);
        const uploadId = await createUpload(ctx, site, options);
        if (uploadId !== undefined) upload = { ctx, bucket, key, uploadId };
        if (upload === undefined || uploadId === '') throw noUploadId(ctx, site);
        const result = await uploadParts(upload, fh, site, options, progress);
        upload = undefined;
        return result;
      } catch (error) {
        progress.rollback();
        if (upload !== undefined) await abortUpload(upload);
        throw error;
      }
    });
  } finally {
    await fh?.close();
  }
}

/** Sends the parts, checks the file did not change meanwhile, and completes the upload. */
async function uploadParts(
  upload: Upload,
  fh: FileHandle,
  site: RequestSite & { localPath: string },
  options: MultipartOptions,
  progress: AttemptProgress,
): Promise<MultipartResult> {
  // The whole file's MD5 would be a second pass over every byte: computed only to check a
  // known MD5 (the fingerprint); otherwise the composite ETag identifies the bytes sent.
  const hasher = new PartHasher(
    options.partSize,
    options.checksumAlgorithm,
    options.md5 !== undefined,
  );
  const parts = await sendParts(upload, fh, hasher, {
    ...options,
    filePath: site.localPath,
    onBytes: (n) => {
      progress.add(n);
    },
  });
  const digest = hasher.digest();
  await checkUnchanged(upload.ctx, site, fh, digest, options);
  return completeUpload(upload, parts, digest, options);
}

/** Starts the upload, with the user's parameters and s3lync's metadata; its UploadId, as the server gave it. */
export async function createUpload(
  ctx: ClientContext,
  site: RequestSite,
  options: MultipartOptions,
): Promise<string | undefined> {
  const created = await ctx.transport.createMultipartUpload(
    {
      ...options.params,
      Bucket: site.bucket,
      Key: site.key,
      Metadata: withOwnMetadata(options.params, {
        ...(options.md5 !== undefined && { [MD5_METADATA_KEY]: options.md5 }),
        [PART_SIZE_METADATA_KEY]: String(options.partSize),
      }),
      ...(options.checksumAlgorithm !== undefined && {
        ChecksumAlgorithm: options.checksumAlgorithm,
      }),
    },
    site.signal,
  );
  return created.UploadId;
}

export function noUploadId(ctx: ClientContext, site: RequestSite): S3ObjectError {
  const uri = ctx.describe(site.bucket, site.key);
  return new S3ObjectError(`${site.operation} ${uri}: the server returned no UploadId`, {
    operation: site.operation,
    uri,
  });
}

/** Fails the upload if the file no longer has the size planned or the MD5 known. */
async function checkUnchanged(
  ctx: ClientContext,
  site: RequestSite & { localPath: string },
  fh: FileHandle,
  digest: ReceivedDigest,
  options: MultipartOptions,
): Promise<void> {
  const filePath = site.localPath;
  const uri = ctx.describe(site.bucket, site.key);
  const now = await fh.stat();
  if (now.size !== options.size) {
    throw new LocalPathError(
      `${filePath} changed while it was being uploaded to ${uri}: it has ${now.size} bytes, not ${options.size}`,
      filePath,
    );
  }
  if (options.md5 !== undefined && digest.md5 !== options.md5) {
    const actual = digest.md5 ?? 'not computed';
    throw new HashMismatchError(
      `${filePath} changed while it was being uploaded to ${uri}: its MD5 is ${actual}, not ${options.md5}`,
      { expected: options.md5, actual, uri, path: filePath },
    );
  }
}

/** Completes the upload from its parts, with the caller's preconditions. */
export async function completeUpload(
  upload: Upload,
  parts: CompletedPart[],
  digest: ReceivedDigest,
  options: MultipartOptions,
): Promise<MultipartResult> {
  const out = await upload.ctx.transport.completeMultipartUpload(
    {
      Bucket: upload.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      MultipartUpload: { Parts: parts },
      ...(options.ifNoneMatch === true && { IfNoneMatch: '*' }),
      ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
    },
    options.signal,
  );
  return {
    etag: out.ETag,
    opaqueEtag: remoteObject(out).opaqueEtag,
    checksum: checksumOf(out),
    digest,
  };
}

/**
 * Reads, hashes and sends the parts of an upload in order, at most `queueSize` in flight.
 * The first failure stops the reading and the parts in flight; all of them settle before
 * this returns or throws.
 */
async function sendParts(
  upload: Upload,
  fh: FileHandle,
  hasher: PartHasher,
  options: MultipartOptions & { filePath: string },
): Promise<CompletedPart[]> {
  const { signal, size, partSize } = options;
  const { parts } = partLayout(size, partSize);
  const pool = new TaskPool(options.queueSize, signal);
  const completed: CompletedPart[] = [];
  const free: Buffer[] = [];
  try {
    for (let i = 0; i < parts && !pool.failed; i++) {
      signal?.throwIfAborted();
      const start = i * partSize;
      // One buffer per part in flight plus the one being read: the next part is read and
      // hashed while the others are on their way.
      const buffer = free.pop() ?? Buffer.allocUnsafeSlow(Math.min(partSize, size));
      const body = buffer.subarray(0, Math.min(partSize, size - start));
      await readFully(fh, body, start, options.filePath);
      const part = await hasher.addPart(body);
      if (!(await pool.ready())) break;
      pool.start(async () => {
        try {
          completed[i] = await sendPart(upload, i + 1, body, part, options, pool.signal);
          options.onBytes?.(body.length);
        } finally {
          free.push(buffer);
        }
      });
    }
  } catch (error) {
    pool.fail(error);
  }
  await pool.settle();
  return completed;
}

/** Sends one part; what CompleteMultipartUpload lists of it. */
export async function sendPart(
  upload: Upload,
  partNumber: number,
  body: Buffer,
  part: PartDigest,
  options: MultipartOptions,
  signal: AbortSignal,
): Promise<CompletedPart> {
  const algorithm = options.checksumAlgorithm;
  const checksum =
    algorithm !== undefined && part.checksum !== undefined
      ? { [`Checksum${algorithm}`]: part.checksum }
      : {};
  const out = await upload.ctx.transport.uploadPart(
    {
      Bucket: upload.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
      ContentMD5: Buffer.from(part.md5, 'hex').toString('base64'),
      ...checksum,
    },
    signal,
  );
  return { PartNumber: partNumber, ETag: out.ETag ?? `"${part.md5}"`, ...checksum };
}

/** Aborts a multipart upload (whatever the caller's signal), so no parts are left stored. */
export async function abortUpload(upload: Upload): Promise<void> {
  const { ctx, bucket, key, uploadId } = upload;
  try {
    await ctx.transport.abortMultipartUpload({ Bucket: bucket, Key: key, UploadId: uploadId });
  } catch (error) {
    log.warn(
      `could not abort the multipart upload ${uploadId} of ${ctx.describe(bucket, key)} (${describeError(error)}); its parts stay stored until it is aborted`,
    );
  }
}

/**
 * Reads exactly `target.length` bytes at `position`; a file that ends sooner changed since
 * its size was taken, and fails the upload.
 */
async function readFully(
  fh: FileHandle,
  target: Buffer,
  position: number,
  filePath: string,
): Promise<void> {
  let filled = 0;
  while (filled < target.length) {
    const { bytesRead } = await fh.read(target, filled, target.length - filled, position + filled);
    if (bytesRead === 0) {
      throw new LocalPathError(
        `${filePath} changed while it was being uploaded: it ends at ${position + filled} bytes`,
        filePath,
      );
    }
    filled += bytesRead;
  }
}
