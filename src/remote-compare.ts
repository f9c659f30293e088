/**
 * Whether two objects hold the same bytes, from what the servers say of them: the rule of
 * an S3 → S3 sync, of a copy's verification and of `check`. Pure, a leaf.
 *
 * - Different sizes: different.
 * - The same ETag, neither opaque (SSE-KMS, SSE-C): equal. A plain ETag is the MD5 of the
 *   bytes, a multipart one the MD5 of the parts' MD5s: equal ETags mean equal bytes.
 * - Otherwise each side's MD5, if known (s3lync's fingerprint, else a plain ETag that is
 *   not opaque): both known decide.
 * - Anything else (multipart ETags of other layouts, opaque ETags with no fingerprint) is
 *   `unknown`: never taken for equal.
 *
 * @packageDocumentation
 */
import { isMd5Etag, normalizeEtag, type Comparison } from './etag.js';

/** What a listing or a HEAD says of an object's content. */
export interface ObjectFacts {
  size: number;
  etag: string | undefined;
  /** The MD5 s3lync recorded at upload (from a HEAD; a listing does not say). */
  fingerprintMd5?: string | undefined;
  /** Whether the ETag is not an MD5 (KMS, SSE-C). */
  opaqueEtag?: boolean | undefined;
}

/** The MD5 of an object's bytes, if its fingerprint or its ETag says. */
export function md5Of(o: ObjectFacts): string | undefined {
  const fingerprint = normalizeEtag(o.fingerprintMd5);
  if (fingerprint !== undefined && isMd5Etag(fingerprint)) return fingerprint;
  const etag = normalizeEtag(o.etag);
  return o.opaqueEtag !== true && isMd5Etag(etag) ? etag : undefined;
}

/** Compares two objects' contents; see the module's rules. */
export function compareObjects(a: ObjectFacts, b: ObjectFacts): Comparison {
  if (a.size !== b.size) return 'different';
  const ea = normalizeEtag(a.etag);
  if (ea !== undefined && a.opaqueEtag !== true && b.opaqueEtag !== true) {
    if (ea === normalizeEtag(b.etag)) return 'equal';
  }
  const ma = md5Of(a);
  const mb = md5Of(b);
  if (ma === undefined || mb === undefined) return 'unknown';
  return ma === mb ? 'equal' : 'different';
}
