/**
 * A completed multipart upload checked against what the server assembled. Any legitimate
 * answer verifies: the composite of the parts sent (AWS, Ceph, MinIO), the whole object's
 * MD5 (s3rver), or a stored additional checksum. An answer that proves nothing (an ETag of
 * no known form, an encrypted object's) leaves the upload unverified and says so: never a
 * false match, never a false mismatch.
 *
 * @packageDocumentation
 */
import { stat } from 'node:fs/promises';

import type { MultipartResult, S3lyncClient } from './client.js';
import { HashMismatchError } from './exceptions.js';
import { hashFile, type ReceivedDigest } from './hash.js';
import { getLogger } from './logging.js';
import { verifyContent, type RemoteContent, type Verdict } from './verify.js';
import { isMd5Etag, isMultipartEtag, normalizeEtag } from './etag.js';

const log = getLogger('transfer');

/** A file's state before its upload read it: a later change is told from corruption. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** The stamp of `filePath` now. */
export async function stampOf(filePath: string): Promise<FileStamp> {
  const s = await stat(filePath);
  return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
}

/** The form of a completed multipart upload's ETag, for the capability it shows. */
function etagForm(remote: RemoteContent): 'composite' | 'md5' | 'opaque' | undefined {
  const etag = normalizeEtag(remote.etag);
  if (remote.opaqueEtag === true || etag === undefined) return undefined;
  if (isMultipartEtag(etag)) return 'composite';
  return isMd5Etag(etag) ? 'md5' : 'opaque';
}

/**
 * Verifies a completed multipart upload of `filePath` and returns the ETag and the digest
 * of what was sent. The first upload to a server whose ETag turns out to be the whole
 * object's MD5 reads the file once more for it (later ones compute it in the same read,
 * see {@link ServerCapabilities.multipartEtag}); if the file changed since `before`, a
 * difference is no proof and the upload stays unverified.
 *
 * @throws {HashMismatchError} when the server reports content other than what was sent.
 */
export async function verifyMultipart(
  ctx: { client: S3lyncClient; bucket: string; describe: (key: string) => string },
  filePath: string,
  key: string,
  sent: MultipartResult,
  partSize: number,
  before: FileStamp,
  signal: AbortSignal | undefined,
): Promise<{ etag: string | undefined; digest: ReceivedDigest }> {
  const uri = ctx.describe(key);
  let { digest } = sent;
  // Complete's ETag is what the server assembled; radosgw's is empty, then HEAD tells.
  let remote: RemoteContent;
  if (normalizeEtag(sent.etag) !== undefined) {
    remote = { size: digest.size, etag: sent.etag, opaqueEtag: sent.opaqueEtag };
  } else {
    const head = await ctx.client.head(ctx.bucket, key, signal);
    if (head === undefined) {
      throw new HashMismatchError(
        `Multipart upload of ${filePath} to ${uri}: the object is missing afterwards`,
        { expected: String(digest.size), actual: 'missing', uri, path: filePath },
      );
    }
    remote = { size: head.size, etag: head.etag, opaqueEtag: head.opaqueEtag };
  }
  ctx.client.learn({ multipartEtag: etagForm(remote) });
  remote = { ...remote, serverPartSize: partSize, checksum: sent.checksum };
  let verdict: Verdict = verifyContent(digest, remote);
  if (verdict.result === 'unknown' && digest.md5 === undefined && etagForm(remote) === 'md5') {
    const { md5 } = await hashFile(filePath, { size: digest.size, ...(signal && { signal }) });
    const again = verifyContent({ ...digest, md5 }, remote);
    const now = await stampOf(filePath);
    const changed =
      now.size !== before.size || now.mtimeMs !== before.mtimeMs || now.ctimeMs !== before.ctimeMs;
    if (again.result === 'match' || !changed) {
      verdict = again;
      digest = { ...digest, md5 };
    }
  }
  if (verdict.result === 'mismatch') {
    throw new HashMismatchError(
      `Multipart upload of ${filePath} to ${uri}: the parts sent give ${verdict.by} ${verdict.actual}, but the server reports ${verdict.expected}`,
      // For an upload, what was sent is the truth and the server's record the suspect.
      { expected: verdict.actual, actual: verdict.expected, uri, path: filePath },
    );
  }
  if (verdict.result === 'unknown') {
    // An encrypted object's ETag is expected to prove nothing; an ETag of no known form is news.
    const message = `uploaded ${uri} without verifying what the server assembled: ${verdict.reason}`;
    if (etagForm(remote) === 'opaque') log.warn(message);
    else log.debug(message);
  }
  return { etag: remote.etag, digest };
}
