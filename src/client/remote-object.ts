/**
 * What the headers of a HEAD, GET, PUT or CompleteMultipartUpload response say about the
 * object: its size, ETag, s3lync's fingerprint and part-size hint, its checksum.
 *
 * @packageDocumentation
 */
import { checksumOf, type ChecksumFields } from '../checksum.js';
import type { RemoteObject } from './types.js';
import { MD5_METADATA_KEY, PART_SIZE_METADATA_KEY } from '../etag.js';

/** The response fields {@link remoteObject} reads. */
export type ObjectHeaders = ChecksumFields & {
  ContentLength?: number | undefined;
  ETag?: string | undefined;
  Metadata?: Record<string, string> | undefined;
  LastModified?: Date | undefined;
  ServerSideEncryption?: string | undefined;
  SSECustomerAlgorithm?: string | undefined;
  PartsCount?: number | undefined;
};

/** The {@link RemoteObject} a response's headers describe. */
export function remoteObject(out: ObjectHeaders): RemoteObject {
  const metadata = out.Metadata ?? {};
  const hint = Number(metadata[PART_SIZE_METADATA_KEY]);
  return {
    size: out.ContentLength ?? 0,
    etag: out.ETag,
    fingerprintMd5: metadata[MD5_METADATA_KEY],
    opaqueEtag:
      out.SSECustomerAlgorithm !== undefined ||
      (out.ServerSideEncryption !== undefined && out.ServerSideEncryption.startsWith('aws:kms')),
    lastModified: out.LastModified,
    metadata,
    partSizeHint: Number.isSafeInteger(hint) && hint > 0 ? hint : undefined,
    partsCount: out.PartsCount,
    checksum: checksumOf(out),
  };
}

/** The headers of an object that uploads set (what a copy carries over). */
export interface ObjectParamHeaders {
  ContentType?: string | undefined;
  CacheControl?: string | undefined;
  ContentEncoding?: string | undefined;
  ContentDisposition?: string | undefined;
  ContentLanguage?: string | undefined;
  Metadata?: Record<string, string> | undefined;
}
