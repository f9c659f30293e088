/**
 * Moving one file, either way, safely: downloads land in a temp file that is verified and
 * then renamed into place; uploads are checked by the server (`Content-MD5`) and then
 * against the ETag it reports.
 *
 * @packageDocumentation
 */
import type { ChecksumAlgorithm } from './checksum.js';
import {
  NOT_MODIFIED,
  type DownloadResult,
  type PutResult,
  type RemoteObject,
  type S3lyncClient,
} from './client.js';
import { HashMismatchError, LocalPathError, localPathErrorOf } from './exceptions.js';
import { hashFile, type FileDigest, type ReceivedDigest } from './hash.js';
import type { LocalRoot, TempFile } from './local-root.js';
import { hashingFor, verifyContent, type RemoteContent, type Verdict } from './verify.js';
import { RACY_MARGIN_NS } from './identity.js';
import { choosePartSize, isMultipartEtag, normalizeEtag } from './etag.js';
import type { ParamsFor } from './upload-params.js';
import { stampOf, verifyMultipart } from './upload-verify.js';

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
  /** Also send this S3 additional checksum with uploads. */
  checksumAlgorithm?: ChecksumAlgorithm | undefined;
  /** The local root downloads land in: the only way they touch the disk. */
  root: LocalRoot;
  /** Objects larger than this download as `queueSize` parallel ranged GETs (at least `partSize` each). */
  rangeThreshold?: number | undefined;
  /** The parameters of each upload (checked); none without it. */
  paramsFor?: ParamsFor | undefined;
}

/** Per-transfer options. */
export interface FileTransferOptions {
  /** Cancels the operation; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal | undefined;
  /** Called with the size of each chunk as bytes move. @default none */
  onBytes?: ((bytes: number) => void) | undefined;
  /** The object's size, if known from the listing or a HEAD (chooses ranged GETs). @default unknown (one GET) */
  size?: number | undefined;
  /** The object's ETag, if known: ranged downloads pin it with If-Match. @default unknown */
  etag?: string | undefined;
  /** Download this version. @default the latest */
  versionId?: string | undefined;
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

/** The part size of an upload of `size` bytes (more than 10,000 parts are not allowed). */
export function partSizeFor(ctx: Pick<TransferContext, 'partSize'>, size: number): number {
  return choosePartSize(size, ctx.partSize);
}

/**
 * The range size of a ranged download of `size` bytes: one range per request in flight,
 * none smaller than the part size. Fewer, larger ranges cost less than many small ones: a
 * 512 MiB object as 4 ranges of 128 MiB took 1–1.7 CPU s less than as 64 of 8 MiB (fewer
 * requests and sockets, less garbage), and no more wall time.
 */
export function rangeSizeFor(
  ctx: Pick<TransferContext, 'partSize' | 'queueSize'>,
  size: number,
): number {
  return Math.max(ctx.partSize, Math.ceil(size / Math.max(1, ctx.queueSize)));
}

/** A download that could not be verified (the reason), or `undefined` when it was. */
export type Unverified = string | undefined;

/**
 * What {@link downloadFile} reports. `digest.md5` is `undefined` only when the bytes were
 * verified by other means (a multipart ETag, a checksum): the MD5 was not needed.
 */
export interface DownloadedFile extends DownloadResult {
  /** Why the bytes could not be verified, when they could not (they were kept). */
  unverified: Unverified;
}

function mismatch(
  ctx: TransferContext,
  key: string,
  target: string,
  v: Extract<Verdict, { result: 'mismatch' }>,
): HashMismatchError {
  return new HashMismatchError(
    `Download of ${ctx.describe(key)}: the bytes received do not match the ${v.by} the server reported (expected ${v.expected}, got ${v.actual})`,
    { expected: v.expected, actual: v.actual, uri: ctx.describe(key), path: target },
  );
}

function remoteContent(r: RemoteObject, serverPartSize?: number): RemoteContent {
  return {
    size: r.size,
    etag: r.etag,
    fingerprintMd5: r.fingerprintMd5,
    opaqueEtag: r.opaqueEtag,
    checksum: r.checksum,
    partSizeHint: r.partSizeHint,
    serverPartSize,
  };
}

/**
 * Downloads `key` to `rel` under the context's root: into a temp file beside it, verified
 * against the response that delivered the bytes (fingerprint, MD5, multipart ETag or
 * checksum, computed while streaming), given the object's Last-Modified as mtime, then
 * renamed over the target. On any failure the target is untouched and the temp file is gone.
 */
export async function downloadFile(
  ctx: TransferContext,
  key: string,
  rel: string,
  options: FileTransferOptions = {},
): Promise<DownloadedFile> {
  const result = await land(ctx, key, rel, options);
  if (result === NOT_MODIFIED) throw new Error('unreachable: a GET without If-None-Match got 304');
  return result;
}

/**
 * {@link downloadFile} as one GET with `If-None-Match: etag` (never ranges: a ranged
 * download would need a second request): {@link NOT_MODIFIED} when the object still has
 * that ETag (nothing written), else the new bytes, landed and verified as by `downloadFile`.
 */
export function downloadFileIfChanged(
  ctx: TransferContext,
  key: string,
  rel: string,
  etag: string,
  options: Omit<FileTransferOptions, 'size' | 'etag'> = {},
): Promise<DownloadedFile | typeof NOT_MODIFIED> {
  return land(ctx, key, rel, options, etag);
}

/** {@link downloadFile}, conditional on `ifNoneMatch` when given. */
async function land(
  ctx: TransferContext,
  key: string,
  rel: string,
  options: FileTransferOptions,
  ifNoneMatch?: string,
): Promise<DownloadedFile | typeof NOT_MODIFIED> {
  const target = ctx.root.resolve(rel);
  let temp: TempFile | undefined;
  try {
    temp = await ctx.root.createTemp(rel);
    const result = await receive(ctx, key, temp, options, ifNoneMatch);
    if (result === NOT_MODIFIED) {
      await temp.discard();
      return result;
    }
    if (result.lastModified !== undefined) {
      // The object's date, unless that is so recent the hash index would distrust the file
      // (S3 truncates it to the second): then just far enough back. A later change by anyone
      // stamps the current time, which still differs.
      const trusted = Date.now() - Number(RACY_MARGIN_NS / 1_000_000n) - 1;
      const mtime = Math.min(result.lastModified.getTime(), trusted);
      await temp.setTimes(new Date(), new Date(mtime));
    }
    await temp.commit().catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') {
        throw new LocalPathError(
          `Cannot download ${ctx.describe(key)} to ${target}: it is a directory, expected a file`,
          target,
          { cause: error },
        );
      }
      throw error;
    });
    return result;
  } catch (error) {
    await temp?.discard();
    // A write error (a full disk) names no path: the file being written is the target.
    throw (
      localPathErrorOf(error, `Cannot download ${ctx.describe(key)} to ${target}`, target) ?? error
    );
  }
}

/** GETs `key` into `temp` (one GET or ranges) and verifies it; the temp file stays. */
async function receive(
  ctx: TransferContext,
  key: string,
  temp: TempFile,
  options: FileTransferOptions,
  ifNoneMatch: string | undefined,
): Promise<DownloadedFile | typeof NOT_MODIFIED> {
  const state: { verdict: Verdict } = { verdict: { result: 'unknown', reason: 'not checked' } };
  const common = {
    signal: options.signal,
    onBytes: options.onBytes,
    versionId: options.versionId,
    hashing: (info: RemoteObject) => hashingFor(remoteContent(info)),
    verify: (r: DownloadResult) => {
      const v = verifyContent({ ...r.digest, checksum: r.receivedChecksum }, remoteContent(r));
      if (v.result === 'mismatch') throw mismatch(ctx, key, temp.target, v);
      state.verdict = v;
    },
  };
  const ranged =
    options.size !== undefined &&
    ctx.rangeThreshold !== undefined &&
    options.size > ctx.rangeThreshold &&
    options.versionId === undefined;
  const result =
    ifNoneMatch !== undefined
      ? await ctx.client.downloadIfChanged(ctx.bucket, key, temp, { ...common, ifNoneMatch })
      : ranged
        ? await ctx.client.downloadRangesToFile(ctx.bucket, key, temp, {
            ...common,
            ifMatch: options.etag,
            size: options.size ?? 0,
            rangeSize: rangeSizeFor(ctx, options.size ?? 0),
            concurrency: ctx.queueSize,
          })
        : await ctx.client.downloadToFile(ctx.bucket, key, temp, common);
  if (result === NOT_MODIFIED) return result;
  let verdict = state.verdict;
  let digest = result.digest;
  if (verdict.result === 'unknown' && isMultipartEtag(result.etag)) {
    ({ verdict, digest } = await verifyWithServerLayout(ctx, key, temp.path, result, options));
    if (verdict.result === 'mismatch') throw mismatch(ctx, key, temp.target, verdict);
  }
  if (digest.md5 === undefined && verdict.result !== 'match') {
    // The MD5 was skipped for a verification that did not happen: an unverified file
    // keeps its MD5, so the index never records one by an ETag nothing checked.
    const { md5 } = await hashFile(temp.path, {
      size: digest.size,
      ...(options.signal && { signal: options.signal }),
    });
    digest = { ...digest, md5 };
  }
  return {
    ...result,
    digest,
    unverified: verdict.result === 'unknown' ? verdict.reason : undefined,
  };
}

/**
 * Asks the server for the part layout (HEAD with `PartNumber=1`, pinned to the ETag) and,
 * if it gives one, hashes the downloaded file again with it (also for the MD5, if the
 * download skipped it). Returns the verdict and the digest, the MD5 filled in if computed.
 */
async function verifyWithServerLayout(
  ctx: TransferContext,
  key: string,
  file: string,
  result: DownloadResult,
  { signal, versionId }: FileTransferOptions,
): Promise<{ verdict: Verdict; digest: ReceivedDigest }> {
  const etag = result.etag;
  // A server known to ignore PartNumber would answer with the whole object: not asked.
  const { partNumberHead } = await ctx.client.capabilities();
  const part =
    partNumberHead === false
      ? undefined
      : await ctx.client
          .head(ctx.bucket, key, signal, {
            partNumber: 1,
            versionId,
            ...(etag !== undefined && { ifMatch: etag }),
          })
          .catch(() => undefined);
  if (part?.partsCount === undefined || part.partsCount < 2) {
    return {
      verdict: {
        result: 'unknown',
        reason: `the server does not report the part layout of ${normalizeEtag(etag) ?? ''}`,
      },
      digest: result.digest,
    };
  }
  const digest = await hashFile(file, {
    partSize: part.size,
    knownMd5: result.digest.md5,
    ...(signal && { signal }),
  });
  const composites =
    digest.multipartEtag === undefined ? {} : { [part.size]: digest.multipartEtag };
  return {
    verdict: verifyContent({ ...digest, composites }, remoteContent(result, part.size)),
    digest: { ...result.digest, md5: digest.md5 },
  };
}

/** Options of {@link uploadFile}. */
export interface UploadFileOptions extends FileTransferOptions {
  /** Create only if the key does not exist (`If-None-Match: *`). @default false */
  ifNoneMatch?: boolean | undefined;
  /** Replace only if the object still has this ETag (`If-Match`). @default none */
  ifMatch?: string | undefined;
  /** Also send this S3 additional checksum (its value must be in `digest.checksum`). @default none */
  checksumAlgorithm?: ChecksumAlgorithm | undefined;
  /** The file's bytes, already read (small files): sent without reading the file again. @default none (the file is read) */
  body?: Buffer | undefined;
}

/** What an upload starts from: the file's size, and its digests where already known. */
export interface UploadSource {
  /** Size in bytes. */
  size: number;
  /** Hex MD5, if known. */
  md5?: string | undefined;
  /** The additional checksum (base64) of `checksumAlgorithm`, if known. */
  checksum?: string | undefined;
}

/** What {@link uploadFile} sent. */
export interface UploadedFile {
  /** The ETag the object ended with. */
  etag: string | undefined;
  /**
   * The digests of the bytes sent: the source's, or computed from the read that sent them.
   * A multipart upload without a known MD5 computes none: its composite ETag verified it.
   */
  digest: ReceivedDigest;
}

/**
 * Uploads `filePath` to `key`. Up to the multipart threshold: one PUT with `Content-MD5`,
 * the file hashed first unless `source` has its MD5 (and checksum). Above it: parallel
 * parts from a single read that also computes the composite ETag; an MD5 known beforehand
 * becomes the object's fingerprint (and is checked against the bytes read). Either way the server's ETag is then checked
 * against the digests of what was sent.
 *
 * @throws {HashMismatchError} when the server reports content other than what was sent.
 */
export async function uploadFile(
  ctx: TransferContext,
  filePath: string,
  key: string,
  source: UploadSource,
  options: UploadFileOptions = {},
): Promise<UploadedFile> {
  const uri = ctx.describe(key);
  // Chosen (and, from a function, checked) before anything of this file is sent.
  const { customerKey, ...params } = ctx.paramsFor?.(key, filePath) ?? {};
  const client = customerKey === undefined ? ctx.client : ctx.client.withCustomerKey(customerKey);
  const common = {
    params,
    signal: options.signal,
    onBytes: options.onBytes,
    ifNoneMatch: options.ifNoneMatch,
    ifMatch: options.ifMatch,
    checksumAlgorithm: options.checksumAlgorithm,
  };
  if (usesMultipart(ctx, source.size)) {
    const partSize = partSizeFor(ctx, source.size);
    const before = await stampOf(filePath);
    const { multipartEtag } = await client.capabilities();
    // An SSE-C object's ETag says nothing of its bytes: its fingerprint is what verifies it.
    const md5 =
      source.md5 ??
      (client.customerKey === undefined ? undefined : await md5Of(filePath, source, options));
    const sent = await client.uploadMultipart(ctx.bucket, key, filePath, {
      ...common,
      size: source.size,
      md5,
      wholeMd5: multipartEtag === 'md5',
      partSize,
      queueSize: ctx.queueSize,
    });
    return verifyMultipart(
      { ...ctx, client },
      filePath,
      key,
      sent,
      partSize,
      before,
      options.signal,
    );
  }
  const known =
    source.md5 !== undefined &&
    (common.checksumAlgorithm === undefined || source.checksum !== undefined)
      ? {
          size: source.size,
          md5: source.md5,
          ...(source.checksum !== undefined && { checksum: source.checksum }),
        }
      : undefined;
  const digest =
    known ??
    (await hashFile(filePath, {
      size: source.size,
      checksum: common.checksumAlgorithm,
      ...(options.signal && { signal: options.signal }),
    }));
  const put = await client.putFile(ctx.bucket, key, filePath, digest, {
    ...common,
    ...(options.body !== undefined && { body: options.body }),
  });
  checkPut(put, digest, filePath, uri);
  return { etag: put.etag, digest };
}

/** The MD5 of a file about to be uploaded in parts. */
async function md5Of(
  filePath: string,
  source: UploadSource,
  options: UploadFileOptions,
): Promise<string | undefined> {
  const digest = await hashFile(filePath, {
    size: source.size,
    ...(options.signal && { signal: options.signal }),
  });
  return digest.md5;
}

/** Content-MD5 made the server check the bytes; this catches a server that ignores it. */
function checkPut(put: PutResult, digest: FileDigest, filePath: string, uri: string): void {
  const verdict = verifyContent(digest, {
    size: digest.size,
    etag: put.etag,
    opaqueEtag: put.opaqueEtag,
    checksum: put.checksum,
  });
  if (verdict.result === 'mismatch') {
    throw new HashMismatchError(
      `Upload of ${filePath} to ${uri}: the file's ${verdict.by} is ${verdict.actual}, but the server stored ${verdict.expected}`,
      { expected: verdict.actual, actual: verdict.expected, uri, path: filePath },
    );
  }
}
