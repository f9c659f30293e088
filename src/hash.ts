/**
 * MD5 and ETag maths. The pure functions (ETag normalisation, composite multipart ETags,
 * the equality decision) are separate from the streaming hashers that read files.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';

/** Read size for hashing: 1 MiB chunks hash ~60% faster than the 64 KiB default. */
export const HASH_CHUNK_SIZE = 1024 * 1024;

/** The metadata key (`x-amz-meta-s3lync-md5`) where uploads record the content MD5. */
export const MD5_METADATA_KEY = 's3lync-md5';

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

/** The verdict of {@link compareDigests}. */
export type Comparison = 'equal' | 'different' | 'unknown';

/**
 * Decides whether a local file and an object hold the same bytes, from data alone:
 * different sizes → `different`; a plain-MD5 ETag or an s3lync fingerprint decides;
 * a multipart or opaque ETag with no fingerprint → `unknown` (never assumed equal).
 */
export function compareDigests(local: LocalDigest, remote: RemoteDigest): Comparison {
  if (local.size !== remote.size) return 'different';
  const fingerprint = normalizeEtag(remote.fingerprintMd5);
  if (fingerprint !== undefined && isMd5Etag(fingerprint)) {
    return fingerprint === local.md5 ? 'equal' : 'different';
  }
  const etag = normalizeEtag(remote.etag);
  if (remote.opaqueEtag !== true && etag !== undefined && isMd5Etag(etag)) {
    return etag === local.md5 ? 'equal' : 'different';
  }
  return 'unknown';
}

/** The digests of a file as one read pass computes them. */
export interface FileDigest extends LocalDigest {
  /** The composite ETag for `partSize`, when one was asked for and the file has > 0 bytes. */
  multipartEtag?: string;
}

/**
 * A pass-through stream that hashes and counts what flows through it, optionally part by
 * part so the composite multipart ETag comes out of the same pass.
 */
export class HashingStream extends Transform {
  /** Bytes seen so far. */
  bytes = 0;
  private readonly whole: Hash = createHash('md5');
  private part: Hash | undefined;
  private partFill = 0;
  private readonly parts: string[] = [];

  /**
   * @param partSize - also compute per-part MD5s for this part size.
   * @param onBytes - called with the size of each chunk that passes.
   */
  constructor(
    private readonly partSize?: number,
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super({ highWaterMark: HASH_CHUNK_SIZE });
    if (partSize !== undefined && (!Number.isInteger(partSize) || partSize < 1)) {
      throw new RangeError(`partSize must be an integer >= 1, got ${partSize}`);
    }
    if (partSize !== undefined) this.part = createHash('md5');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.update(chunk);
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }

  /** Hashes a chunk without passing it on (for callers that feed it directly). */
  update(chunk: Buffer): void {
    this.whole.update(chunk);
    this.bytes += chunk.length;
    const size = this.partSize;
    if (size === undefined) return;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(size - this.partFill, chunk.length - offset);
      this.part?.update(chunk.subarray(offset, offset + take));
      this.partFill += take;
      offset += take;
      if (this.partFill === size) {
        this.parts.push(this.part?.digest('hex') ?? '');
        this.part = createHash('md5');
        this.partFill = 0;
      }
    }
  }

  /** The digests; call once, after the last chunk. */
  digest(): FileDigest {
    const out: FileDigest = { size: this.bytes, md5: this.whole.digest('hex') };
    if (this.partSize !== undefined && this.bytes > 0) {
      if (this.partFill > 0) this.parts.push(this.part?.digest('hex') ?? '');
      out.multipartEtag = compositeEtag(this.parts);
    }
    return out;
  }
}

/** Options of {@link hashFile}. */
export interface HashFileOptions {
  /** Also compute the composite ETag for this part size. */
  partSize?: number;
  /** Stops reading; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** Hashes a file in one streaming pass of 1 MiB reads. */
export async function hashFile(path: string, options: HashFileOptions = {}): Promise<FileDigest> {
  const hasher = new HashingStream(options.partSize);
  const stream = createReadStream(path, {
    highWaterMark: HASH_CHUNK_SIZE,
    ...(options.signal && { signal: options.signal }),
  });
  for await (const chunk of stream) hasher.update(chunk as Buffer);
  return hasher.digest();
}
