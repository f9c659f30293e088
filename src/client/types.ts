/**
 * The shapes the client's operations take and return: listed objects, what a HEAD says,
 * what a download received and an upload stored, and the options of each transfer.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';

import type { ChecksumAlgorithm, ObjectChecksum } from '../checksum.js';
import type { HashingOptions, ReceivedDigest } from '../hash.js';
import type { StoredParams } from '../param-compare.js';
import type { SentParams } from '../upload-params.js';

/** Renders `bucket`/`key` as a URI (credentials redacted) for messages. */
export type UriFormatter = (bucket: string, key: string) => string;

/** One entry of a listing. */
export interface ListedObject {
  /** The full key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** The ETag as listed. */
  etag: string | undefined;
  /** Last-Modified as listed. */
  lastModified?: Date | undefined;
  /** Whether the ETag is not an MD5 (objects listed by a client with an SSE-C key). */
  opaqueEtag?: boolean | undefined;
}

/** One page of a listing: objects, and with a delimiter the common prefixes. */
export interface ListedPage {
  /** The objects of the page. */
  objects: ListedObject[];
  /** The common prefixes ("directories", each ending with the delimiter); none without one. */
  prefixes: string[];
}

/** What a HEAD (or the headers of a GET) says about an object. */
export interface RemoteObject {
  /** Size in bytes. */
  size: number;
  /** The ETag as sent. */
  etag: string | undefined;
  /** The MD5 s3lync recorded at upload, if any. */
  fingerprintMd5: string | undefined;
  /** Whether the ETag is not an MD5 because of server-side encryption (KMS or SSE-C). */
  opaqueEtag: boolean;
  /** Last-Modified. */
  lastModified: Date | undefined;
  /** User metadata (`x-amz-meta-*`). */
  metadata: Record<string, string>;
  /** The part size s3lync recorded at a multipart upload (`x-amz-meta-s3lync-part-size`). */
  partSizeHint: number | undefined;
  /** The number of parts, where the server says (AWS does for HEAD with `PartNumber`). */
  partsCount: number | undefined;
  /** An S3 additional checksum, where the server sends one. */
  checksum: ObjectChecksum | undefined;
  /** The parameters the object stored (a HEAD asked for them only). */
  stored?: StoredParams | undefined;
}

/** What a finished download wrote and received. */
export interface DownloadResult extends RemoteObject {
  /** The digests of the bytes actually received (the MD5 only if `hashing` did not skip it). */
  digest: ReceivedDigest;
  /** The additional checksum (base64) of the bytes received, if one was computed. */
  receivedChecksum: string | undefined;
}

/** What the server said of an upload. */
export interface PutResult {
  /** The ETag of the new object (empty on some servers after a multipart upload). */
  etag: string | undefined;
  /** Whether the ETag is not an MD5 because of server-side encryption. */
  opaqueEtag: boolean;
  /** The additional checksum the server stored, if it says. */
  checksum: ObjectChecksum | undefined;
}

/** Options shared by transfers. */
export interface TransferOptions {
  /** Stops the transfer; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal | undefined;
  /** Called with each chunk's size as bytes move. @default none */
  onBytes?: ((bytes: number) => void) | undefined;
}

/** Where a download writes: a file opened afresh (emptied) for each attempt. */
export interface DownloadSink {
  /** Opens the file from its start, emptied; `readBack` also for reading. */
  open(readBack?: boolean): Promise<FileHandle>;
}

/** Options of {@link S3lyncClient.downloadToFile}. */
export interface DownloadOptions extends TransferOptions {
  /** `If-Match`: refuse (412) unless the object still has this ETag. @default none */
  ifMatch?: string | undefined;
  /** `If-None-Match`: a 304 when the object still has this ETag (only `downloadIfChanged`). @default none */
  ifNoneMatch?: string | undefined;
  /** GET this version of the object (`versionId`). @default the latest */
  versionId?: string | undefined;
  /**
   * Chooses, once the response headers are in, what to compute while the body streams:
   * candidate part sizes for a multipart ETag, an additional checksum.
   * @default the MD5 only
   */
  hashing?: (info: RemoteObject) => HashingOptions;
  /**
   * Checks the received bytes against the response that delivered them; throwing a
   * {@link HashMismatchError} makes the attempt fail (and be retried within the budget).
   * @default none
   */
  verify?: (result: DownloadResult) => void;
}

/** Options of {@link S3lyncClient.downloadRangesToFile}. */
export interface RangedDownloadOptions extends DownloadOptions {
  /** The object's size when the download was planned (from the listing or a HEAD). */
  size: number;
  /** Bytes per ranged GET. */
  rangeSize: number;
  /** Ranges in flight at once. */
  concurrency: number;
}

/** Options of uploads. */
export interface PutOptions extends TransferOptions {
  /** `If-None-Match: *`: create only if the key does not exist. @default false */
  ifNoneMatch?: boolean | undefined;
  /** `If-Match`: replace only if the object still has this ETag (lost-update protection). @default none */
  ifMatch?: string | undefined;
  /** Also send an S3 additional checksum of this algorithm (computed from the file). @default none */
  checksumAlgorithm?: ChecksumAlgorithm | undefined;
  /** The file's bytes, already read (a small file): sent as they are, not read again. @default none (the file is read) */
  body?: Buffer | undefined;
  /** The user's parameters of the object (checked); s3lync's own metadata is merged into theirs. @default none */
  params?: SentParams | undefined;
}

/** Options of {@link S3lyncClient.uploadMultipart}. */
export interface MultipartOptions extends Omit<PutOptions, 'body'> {
  /** The file's size when the upload was planned; a file that no longer has it fails the upload. */
  size: number;
  /** Part size in bytes (at least 5 MiB on S3, except the last part). */
  partSize: number;
  /** Parts in flight at once. */
  queueSize: number;
  /**
   * The file's MD5, if already known: recorded as the object's fingerprint
   * (`x-amz-meta-s3lync-md5`), and the bytes read must have it. Unknown, the object has
   * none and the whole file's MD5 is not computed (a second pass over every byte): the
   * composite ETag identifies the bytes sent.
   * @default unknown (no fingerprint)
   */
  md5?: string | undefined;
  /**
   * Also compute the whole file's MD5 in the same read (a server whose multipart ETag is
   * that MD5). @default false
   */
  wholeMd5?: boolean | undefined;
}

/** What a multipart upload sent, and what the server said. */
export interface MultipartResult extends PutResult {
  /** The digests of the bytes sent: size, the composite ETag for the part size, and the MD5 when `md5` was given. */
  digest: ReceivedDigest;
}
