/**
 * Moving one file, either way, safely: downloads land in a temp file that is verified and
 * then renamed into place; uploads are checked by the server (`Content-MD5`) and then
 * against the ETag it reports.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';

import type { DownloadResult, S3lyncClient } from './client.js';
import { HashMismatchError, LocalPathError } from './exceptions.js';
import { isMd5Etag, isMultipartEtag, normalizeEtag, type FileDigest } from './hash.js';
import { tempPathFor } from './utils.js';

/** What transfers need to know about where they go. */
export interface TransferContext {
  client: S3lyncClient;
  bucket: string;
  /** Renders a key as a URI (credentials redacted). */
  describe: (key: string) => string;
  /** Files larger than this upload in parts. */
  multipartThreshold: number;
  /** Part size of multipart uploads. */
  partSize: number;
  /** Parts in flight per multipart upload. */
  queueSize: number;
}

/** Per-transfer options. */
export interface FileTransferOptions {
  signal?: AbortSignal | undefined;
  onBytes?: ((bytes: number) => void) | undefined;
}

/**
 * Whether a file of `size` bytes uploads in parts: above the threshold and more than one
 * part. A file that fits in one part goes as one PUT, where Content-MD5 makes the server
 * check it.
 */
export function usesMultipart(
  ctx: Pick<TransferContext, 'multipartThreshold' | 'partSize'>,
  size: number,
): boolean {
  return size > ctx.multipartThreshold && size > ctx.partSize;
}

/** The expected MD5 of a download: the fingerprint, else a plain-MD5 ETag. */
export function expectedMd5(result: {
  fingerprintMd5: string | undefined;
  etag: string | undefined;
  opaqueEtag: boolean;
}): string | undefined {
  const fingerprint = normalizeEtag(result.fingerprintMd5);
  if (fingerprint !== undefined && isMd5Etag(fingerprint)) return fingerprint;
  const etag = normalizeEtag(result.etag);
  return !result.opaqueEtag && etag !== undefined && isMd5Etag(etag) ? etag : undefined;
}

/**
 * Downloads `key` to `target`: into a temp file beside it, verified against the response
 * that delivered the bytes, given the object's Last-Modified as mtime, then renamed over
 * the target. On any failure the target is untouched and the temp file is gone.
 */
export async function downloadFile(
  ctx: TransferContext,
  key: string,
  target: string,
  options: FileTransferOptions = {},
): Promise<DownloadResult> {
  await mkdir(path.dirname(target), { recursive: true });
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new LocalPathError(
      `Cannot download ${ctx.describe(key)} to ${target}: it is a directory, expected a file`,
      target,
    );
  }
  const temp = tempPathFor(target, randomBytes(6).toString('hex'));
  try {
    const result = await ctx.client.downloadToFile(ctx.bucket, key, temp, {
      signal: options.signal,
      onBytes: options.onBytes,
      verify: (r) => {
        const expected = expectedMd5(r);
        if (expected !== undefined && expected !== r.digest.md5) {
          throw new HashMismatchError(
            `Download of ${ctx.describe(key)}: received bytes with MD5 ${r.digest.md5}, but the response says ${expected}`,
            { expected, actual: r.digest.md5, uri: ctx.describe(key), path: target },
          );
        }
      },
    });
    if (result.lastModified !== undefined) {
      await utimes(temp, new Date(), result.lastModified);
    }
    await rename(temp, target);
    return result;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Options of {@link uploadFile}. */
export interface UploadFileOptions extends FileTransferOptions {
  /** Create only if the key does not exist (`If-None-Match: *`). */
  ifNoneMatch?: boolean | undefined;
}

/**
 * Uploads `filePath` (whose digest is `digest`) to `key`: one PUT with `Content-MD5` up to
 * the multipart threshold, parallel parts above it. Returns the ETag the object ended with.
 *
 * @throws {HashMismatchError} when the server reports content other than what was sent.
 */
export async function uploadFile(
  ctx: TransferContext,
  filePath: string,
  key: string,
  digest: FileDigest,
  options: UploadFileOptions = {},
): Promise<string | undefined> {
  const uri = ctx.describe(key);
  const common = {
    signal: options.signal,
    onBytes: options.onBytes,
    ifNoneMatch: options.ifNoneMatch,
  };
  if (usesMultipart(ctx, digest.size)) {
    await ctx.client.uploadMultipart(ctx.bucket, key, filePath, digest, {
      ...common,
      partSize: ctx.partSize,
      queueSize: ctx.queueSize,
    });
    // CompleteMultipartUpload's ETag is empty on some servers (radosgw); HEAD has the real one.
    const head = await ctx.client.head(ctx.bucket, key, options.signal);
    const etag = normalizeEtag(head?.etag);
    if (head?.size !== digest.size) {
      throw new HashMismatchError(
        `Multipart upload of ${filePath} to ${uri}: the object has ${head?.size ?? 'no'} bytes, expected ${digest.size}`,
        { expected: String(digest.size), actual: String(head?.size), uri, path: filePath },
      );
    }
    // Whatever the server made of the parts, a plain or composite MD5 must match what was sent.
    const expected = isMultipartEtag(etag) ? digest.multipartEtag : digest.md5;
    if (
      expected !== undefined &&
      etag !== undefined &&
      (isMultipartEtag(etag) || isMd5Etag(etag)) &&
      etag !== expected
    ) {
      throw new HashMismatchError(
        `Multipart upload of ${filePath} to ${uri}: the server's ETag ${etag} does not match the parts sent (${expected})`,
        { expected, actual: etag, uri, path: filePath },
      );
    }
    return head.etag;
  }
  const etag = await ctx.client.putFile(ctx.bucket, key, filePath, digest, common);
  const normalized = normalizeEtag(etag);
  // Content-MD5 already made the server check the bytes; this catches one that ignores it.
  if (normalized !== undefined && isMd5Etag(normalized) && normalized !== digest.md5) {
    throw new HashMismatchError(
      `Upload of ${filePath} to ${uri}: the server stored ETag ${normalized}, expected MD5 ${digest.md5}`,
      { expected: digest.md5, actual: normalized, uri, path: filePath },
    );
  }
  return etag;
}
