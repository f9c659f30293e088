/**
 * ETag maths, pure: normalising ETags, the composite ETag of a multipart upload, the part
 * sizes that could have produced one, and the metadata keys uploads record them in. No I/O.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';

/** The metadata key (`x-amz-meta-s3lync-md5`) where uploads record the content MD5. */
export const MD5_METADATA_KEY = 's3lync-md5';

/** The metadata key (`x-amz-meta-s3lync-part-size`) where multipart uploads record the part size. */
export const PART_SIZE_METADATA_KEY = 's3lync-part-size';

/** Strips quotes and a weak-validator prefix from an ETag and lowercases it. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  const e = etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1')
    .toLowerCase();
  return e === '' ? undefined : e;
}

/** Whether an ETag is a multipart composite (`<hex>-<parts>`), not a plain MD5. */
export function isMultipartEtag(etag: string | undefined): boolean {
  return etag !== undefined && /^[0-9a-f]{32}-\d+$/.test(normalizeEtag(etag) ?? '');
}

/** Whether a normalised ETag is a plain MD5 (32 hex digits). */
export function isMd5Etag(etag: string | undefined): boolean {
  return etag !== undefined && /^[0-9a-f]{32}$/.test(normalizeEtag(etag) ?? '');
}

/**
 * The ETag S3 gives a multipart object: the MD5 of the concatenated binary part MD5s,
 * then `-<number of parts>`.
 */
export function compositeEtag(partMd5s: readonly string[]): string {
  const h = createHash('md5');
  for (const p of partMd5s) h.update(Buffer.from(p, 'hex'));
  return `${h.digest('hex')}-${partMd5s.length}`;
}

/** The number of parts a multipart ETag (`"<hex>-N"`) names. */
export function partsInEtag(etag: string | undefined): number | undefined {
  const m = /-(\d+)$/.exec(normalizeEtag(etag) ?? '');
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** What s3lync knows about a local file's content. */
export interface LocalDigest {
  /** Size in bytes. */
  size: number;
  /** Hex MD5 of the whole content. */
  md5: string;
}

/** What S3 says about an object. */
export interface RemoteDigest {
  /** Size in bytes. */
  size: number;
  /** The ETag as the server sent it. */
  etag: string | undefined;
  /** The MD5 s3lync recorded in the object's metadata when it uploaded it. */
  fingerprintMd5?: string | undefined;
  /** Whether the object is encrypted so that its ETag is not an MD5 (SSE-KMS, SSE-C). */
  opaqueEtag?: boolean | undefined;
}

/** The verdict of comparing a {@link LocalDigest} with a {@link RemoteDigest}. */
export type Comparison = 'equal' | 'different' | 'unknown';

const MiB = 1024 * 1024;

/** Part sizes that tools commonly use, most common first (lib-storage, aws-cli, rclone, s5cmd, …). */
export const COMMON_PART_SIZES: readonly number[] = [
  8, 5, 16, 10, 15, 32, 50, 64, 100, 128, 256, 512, 1024,
].map((n) => n * MiB);

/** S3's limit of parts in one multipart upload. */
export const MAX_PARTS = 10_000;

/**
 * The part size for uploading `size` bytes: `preferred`, unless that would need more than
 * {@link MAX_PARTS} parts, in which case the smallest whole number of MiB that fits.
 */
export function choosePartSize(size: number, preferred: number): number {
  if (Math.ceil(size / preferred) <= MAX_PARTS) return preferred;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

/** At most this many part sizes are tried in one pass: each costs an MD5 of the data. */
export const MAX_CANDIDATE_PART_SIZES = 4;

/**
 * The part sizes that could have produced an object of `size` bytes in `parts` parts:
 * the hints first (a part size recorded in metadata, or learned from the server), then the
 * common sizes that give exactly `parts` parts. At most {@link MAX_CANDIDATE_PART_SIZES}.
 */
export function candidatePartSizes(
  size: number,
  parts: number,
  hints: readonly (number | undefined)[] = [],
): number[] {
  const fits = (p: number): boolean => p > 0 && Math.ceil(size / p) === parts;
  if (parts === 1) return size > 0 ? [size] : [];
  const out: number[] = [];
  for (const p of [...hints, ...COMMON_PART_SIZES]) {
    if (p !== undefined && Number.isInteger(p) && fits(p) && !out.includes(p)) out.push(p);
    if (out.length === MAX_CANDIDATE_PART_SIZES) break;
  }
  return out;
}

/** How an upload of `size` bytes splits into parts of `partSize`. */
export interface PartLayout {
  /** The number of parts (at least 1: an empty upload is one empty part). */
  parts: number;
  /** The size of the last part, the only one that may be smaller than `partSize`. */
  lastPartSize: number;
}

/** The parts of `size` bytes cut into `partSize` pieces. */
export function partLayout(size: number, partSize: number): PartLayout {
  assertPartSize(partSize);
  const parts = Math.max(1, Math.ceil(size / partSize));
  return { parts, lastPartSize: size - (parts - 1) * partSize };
}

/** Throws unless `partSize` is a whole number of bytes, at least one. */
export function assertPartSize(partSize: number): void {
  if (!Number.isInteger(partSize) || partSize < 1) {
    throw new RangeError(`partSize must be an integer >= 1, got ${partSize}`);
  }
}
