/**
 * Whether bytes are the object's bytes, decided from data alone: the s3lync fingerprint,
 * a plain-MD5 ETag, a multipart ETag recomputed for the object's part layout, or an S3
 * additional checksum, in that order. When none of them can decide, the answer is
 * `unknown`, never a false match and never a false mismatch.
 *
 * @packageDocumentation
 */
import type { ObjectChecksum } from './checksum.js';
import { type HashingOptions } from './hash.js';
import {
  candidatePartSizes,
  isMd5Etag,
  isMultipartEtag,
  normalizeEtag,
  partsInEtag,
  type Comparison,
  type LocalDigest,
  type RemoteDigest,
} from './etag.js';

/** What the server says about an object's content. */
export interface RemoteContent {
  size: number;
  etag: string | undefined;
  /** The MD5 s3lync recorded at upload. */
  fingerprintMd5?: string | undefined;
  /** Whether the ETag is not an MD5 (KMS, SSE-C). */
  opaqueEtag?: boolean | undefined;
  /** An S3 additional checksum. */
  checksum?: ObjectChecksum | undefined;
  /** The part size s3lync recorded at a multipart upload. */
  partSizeHint?: number | undefined;
  /** The part size the server reported (HEAD with `PartNumber=1` on AWS). */
  serverPartSize?: number | undefined;
}

/** What was computed from the local or received bytes. */
export interface ContentDigest {
  size: number;
  /** Hex MD5, or `undefined` when it was not computed (a multipart ETag verifies instead). */
  md5: string | undefined;
  /** Composite ETags by part size. */
  composites?: Record<number, string> | undefined;
  /** The additional checksum (base64) of the algorithm in {@link RemoteContent.checksum}. */
  checksum?: string | undefined;
}

/** How the content was recognised. */
export type VerifiedBy = 'size' | 'fingerprint' | 'md5' | 'multipart' | 'checksum';

/** The verdict of {@link verifyContent}. */
export type Verdict =
  | { result: 'match'; by: VerifiedBy }
  | { result: 'mismatch'; by: VerifiedBy; expected: string; actual: string }
  | { result: 'unknown'; reason: string };

/** The part sizes known for certain (s3lync's record, or the server's word). */
function authoritativePartSizes(remote: RemoteContent): number[] {
  return [remote.serverPartSize, remote.partSizeHint].filter((n): n is number => n !== undefined);
}

/**
 * What to compute while reading the bytes, so {@link verifyContent} can decide in one
 * pass: candidate part sizes for a multipart ETag, and the additional checksum when the
 * ETag cannot tell (encrypted, or multipart without a fingerprint). When a multipart ETag
 * is what verifies, the whole content's MD5 decides nothing and is skipped (`skipMd5`).
 */
export function hashingFor(remote: RemoteContent): HashingOptions {
  const etag = normalizeEtag(remote.etag);
  const parts = partsInEtag(etag);
  const md5Decides = remote.fingerprintMd5 !== undefined || (!remote.opaqueEtag && isMd5Etag(etag));
  // With a fingerprint the MD5 decides: composites would be a wasted pass over the data.
  const multipart = !md5Decides && isMultipartEtag(etag) && parts !== undefined;
  const candidates = multipart
    ? candidatePartSizes(remote.size, parts, authoritativePartSizes(remote))
    : [];
  const checksum =
    !md5Decides && remote.checksum?.type === 'FULL_OBJECT' ? remote.checksum.algorithm : undefined;
  // An encrypted ETag is no composite of MD5s: then it cannot verify, and the MD5 stays.
  const skipMd5 = candidates.length > 0 && remote.opaqueEtag !== true;
  return { candidatePartSizes: candidates, checksum, skipMd5 };
}

/** Decides whether `local` is the content `remote` describes. */
export function verifyContent(local: ContentDigest, remote: RemoteContent): Verdict {
  if (local.size !== remote.size) {
    return {
      result: 'mismatch',
      by: 'size',
      expected: String(remote.size),
      actual: String(local.size),
    };
  }
  const fingerprint = normalizeEtag(remote.fingerprintMd5);
  // Without the MD5 (not computed) the MD5 rules cannot decide: never a false verdict.
  if (fingerprint !== undefined && isMd5Etag(fingerprint) && local.md5 !== undefined) {
    return fingerprint === local.md5
      ? { result: 'match', by: 'fingerprint' }
      : { result: 'mismatch', by: 'fingerprint', expected: fingerprint, actual: local.md5 };
  }
  const etag = normalizeEtag(remote.etag);
  if (!remote.opaqueEtag && etag !== undefined && isMd5Etag(etag) && local.md5 !== undefined) {
    return etag === local.md5
      ? { result: 'match', by: 'md5' }
      : { result: 'mismatch', by: 'md5', expected: etag, actual: local.md5 };
  }
  if (!remote.opaqueEtag && etag !== undefined && isMultipartEtag(etag)) {
    const composites = local.composites ?? {};
    if (Object.values(composites).includes(etag)) return { result: 'match', by: 'multipart' };
    for (const size of authoritativePartSizes(remote)) {
      const actual = composites[size];
      if (actual !== undefined)
        return { result: 'mismatch', by: 'multipart', expected: etag, actual };
    }
  }
  const checksum = remote.checksum;
  if (checksum?.type === 'FULL_OBJECT' && local.checksum !== undefined) {
    return local.checksum === checksum.value
      ? { result: 'match', by: 'checksum' }
      : { result: 'mismatch', by: 'checksum', expected: checksum.value, actual: local.checksum };
  }
  return {
    result: 'unknown',
    reason: isMultipartEtag(etag)
      ? `the part layout of the multipart ETag ${etag ?? ''} is unknown and there is no usable checksum`
      : 'the ETag is not an MD5 (server-side encryption) and there is no fingerprint or checksum',
  };
}

/**
 * Decides whether a local file and an object hold the same bytes, from the MD5 alone:
 * different sizes → `different`; a plain-MD5 ETag or an s3lync fingerprint decides; a
 * multipart or opaque ETag with no fingerprint → `unknown` (never assumed equal). The same
 * rules as {@link verifyContent}, with no composites or checksum to consult.
 */
export function compareDigests(local: LocalDigest, remote: RemoteDigest): Comparison {
  const verdict = verifyContent(local, remote);
  if (verdict.result === 'unknown') return 'unknown';
  return verdict.result === 'match' ? 'equal' : 'different';
}
