/**
 * Server-side copies within one server and identity: CopyObject, or for objects above the
 * threshold (S3's CopyObject limit is 5 GiB) a multipart upload whose parts are
 * UploadPartCopy of ranges of the source. No byte flows through the client. Every copy is
 * pinned to the source's ETag (`x-amz-copy-source-if-match`) and judged by
 * {@link compareObjects}: the copy's ETag against the source's, never a false match.
 *
 * @packageDocumentation
 */
import type { CompletedPart, HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

import { HashMismatchError, S3ObjectError } from '../exceptions.js';
import { compareObjects, type ObjectFacts } from '../remote-compare.js';
import {
  candidatePartSizes,
  choosePartSize,
  compositeEtag,
  MD5_METADATA_KEY,
  normalizeEtag,
  PART_SIZE_METADATA_KEY,
  partLayout,
  partsInEtag,
} from '../etag.js';
import type { SentParams } from '../upload-params.js';
import { withOwnMetadata } from '../upload-params.js';
import type { ClientContext } from './context.js';
import { typedErrors, type RequestSite } from './errors.js';
import { abortUpload, completeUpload, createUpload, noUploadId, type Upload } from './multipart.js';
import { TaskPool } from './pool.js';
import { remoteObject, type ObjectParamHeaders } from './remote-object.js';
import type { RemoteObject } from './types.js';

const MiB = 1024 * 1024;

/** S3's largest CopyObject (and largest part): 5 GiB. */
export const MAX_COPY_OBJECT_SIZE = 5 * 1024 * MiB;

/** S3's smallest part, except the last one. */
const MIN_COPY_PART = 5 * MiB;

/** Where an object is: a bucket and a key. */
export interface ObjectLocation {
  bucket: string;
  key: string;
}

/** Options of {@link copyObject}. */
export interface CopyOptions {
  /** The source as listed or HEADed: its size and ETag (the copy is pinned to that ETag). */
  source: ObjectFacts;
  /**
   * Replaces the object's parameters (`MetadataDirective: REPLACE`), s3lync's own metadata
   * carried over from the source. @default none: everything is copied as it is
   */
  params?: SentParams | undefined;
  /** Objects larger than this copy in parts (UploadPartCopy). @default 5 GiB */
  multipartThreshold?: number | undefined;
  /** The part size when the source's own layout is unknown. @default 64 MiB */
  partSize?: number | undefined;
  /** Parts copied at once. @default 4 */
  queueSize?: number | undefined;
  /** Stops the copy (a multipart copy is aborted on the server). @default none */
  signal?: AbortSignal | undefined;
}

/** What a copy made, and whether its bytes are proven to be the source's. */
export interface CopyResult {
  /** The new object's ETag. */
  etag: string | undefined;
  /** `true` when the ETags (or fingerprints) prove the copy equal to the source. */
  verified: boolean;
  /** How: a part copy (`multipart`) or a single CopyObject (`copy`). */
  method: 'copy' | 'multipart';
}

/** `x-amz-copy-source`: the bucket and the key, URL-encoded (a `/` stays). */
export function copySource({ bucket, key }: ObjectLocation): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

/**
 * Copies `from` to `to` on the server: one CopyObject up to the threshold, else a
 * multipart upload of UploadPartCopy ranges. Throws a {@link HashMismatchError} when the
 * copy's ETag proves other bytes; an undecidable copy resolves with `verified: false`.
 */
export async function copyObject(
  ctx: ClientContext,
  from: ObjectLocation,
  to: ObjectLocation,
  options: CopyOptions,
): Promise<CopyResult> {
  const threshold = options.multipartThreshold ?? MAX_COPY_OBJECT_SIZE;
  const site = { operation: 'CopyObject', ...to, signal: options.signal };
  const head = options.params !== undefined || options.source.size > threshold;
  // Parameters replaced or parts to start: the source's own headers are needed first.
  const sourceHead = head ? await headFor(ctx, from, options) : undefined;
  const facts = { ...options.source, ...sourceFacts(sourceHead) };
  const made =
    sourceHead !== undefined && options.source.size > threshold
      ? await copyParts(ctx, from, to, options, sourceHead)
      : await copyWhole(ctx, from, to, options, sourceHead);
  const verdict = compareObjects(facts, made.facts);
  if (verdict === 'different') {
    const uri = ctx.describe(to.bucket, to.key);
    throw new HashMismatchError(
      `${site.operation} ${uri}: the copy has the ETag ${made.facts.etag ?? 'none'}, the source ${facts.etag ?? 'none'}`,
      { expected: facts.etag ?? '', actual: made.facts.etag ?? '', uri },
    );
  }
  return { etag: made.facts.etag, verified: verdict === 'equal', method: made.method };
}

/** The HEAD of the source, pinned to the ETag the copy is for. */
async function headFor(
  ctx: ClientContext,
  from: ObjectLocation,
  options: CopyOptions,
): Promise<HeadObjectCommandOutput> {
  const site = { operation: 'HeadObject', ...from, signal: options.signal };
  return typedErrors(site, ctx.describe, () =>
    ctx.transport.headObject(
      {
        Bucket: from.bucket,
        Key: from.key,
        ...(options.source.etag !== undefined && { IfMatch: options.source.etag }),
      },
      options.signal,
    ),
  );
}

/** What a HEAD adds to a listed entry: the fingerprint, and whether the ETag is opaque. */
function sourceFacts(head: HeadObjectCommandOutput | undefined): Partial<ObjectFacts> {
  if (head === undefined) return {};
  const o = remoteObject(head);
  return { fingerprintMd5: o.fingerprintMd5, opaqueEtag: o.opaqueEtag };
}

/** One CopyObject: everything copied, or the parameters replaced with s3lync's kept. */
async function copyWhole(
  ctx: ClientContext,
  from: ObjectLocation,
  to: ObjectLocation,
  options: CopyOptions,
  head: HeadObjectCommandOutput | undefined,
): Promise<{ facts: ObjectFacts; method: 'copy' }> {
  const site = { operation: 'CopyObject', ...to, signal: options.signal };
  const { params } = options;
  const out = await typedErrors(site, ctx.describe, () =>
    ctx.transport.copyObject(
      {
        Bucket: to.bucket,
        Key: to.key,
        CopySource: copySource(from),
        ...(options.source.etag !== undefined && { CopySourceIfMatch: options.source.etag }),
        ...(params === undefined
          ? { MetadataDirective: 'COPY' }
          : {
              ...params,
              MetadataDirective: 'REPLACE',
              Metadata: withOwnMetadata(params, ownMetadata(head?.Metadata)),
            }),
      },
      options.signal,
    ),
  );
  // The copy's fingerprint is the source's own, copied: only its ETag can prove the bytes.
  return {
    facts: {
      size: options.source.size,
      etag: out.CopyObjectResult?.ETag,
      opaqueEtag: out.SSECustomerAlgorithm !== undefined || isKms(out.ServerSideEncryption),
    },
    method: 'copy',
  };
}

function isKms(sse: string | undefined): boolean {
  return sse !== undefined && sse.startsWith('aws:kms');
}

/** s3lync's own entries of an object's metadata. */
function ownMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const own: Record<string, string> = {};
  for (const k of [MD5_METADATA_KEY, PART_SIZE_METADATA_KEY]) {
    const v = metadata?.[k];
    if (v !== undefined) own[k] = v;
  }
  return own;
}

/**
 * The part size of a multipart copy: the source's own layout when its ETag names one that
 * fits (then the copy's composite ETag equals the source's, which proves the copy), else
 * `preferred`, grown to fit S3's limit of parts.
 */
export function copyPartSize(
  size: number,
  etag: string | undefined,
  hint: number | undefined,
  preferred: number,
): number {
  const parts = partsInEtag(etag);
  if (parts !== undefined && parts > 1) {
    const fit = candidatePartSizes(size, parts, [hint]).find(
      (p) => p >= MIN_COPY_PART && p <= MAX_COPY_OBJECT_SIZE,
    );
    if (fit !== undefined) return fit;
  }
  return choosePartSize(size, Math.max(MIN_COPY_PART, preferred));
}

/** A multipart upload of UploadPartCopy ranges, aborted on any failure. */
async function copyParts(
  ctx: ClientContext,
  from: ObjectLocation,
  to: ObjectLocation,
  options: CopyOptions,
  head: HeadObjectCommandOutput,
): Promise<{ facts: ObjectFacts; method: 'multipart' }> {
  const { signal, source } = options;
  const site: RequestSite = { operation: 'MultipartCopy', ...to, signal };
  const known = remoteObject(head);
  const partSize = copyPartSize(
    source.size,
    source.etag,
    known.partSizeHint,
    options.partSize ?? 64 * MiB,
  );
  // CreateMultipartUpload copies nothing: the source's headers go with it, or the caller's.
  const params: SentParams = options.params ?? headersOf(head);
  return typedErrors(site, ctx.describe, async () => {
    let upload: Upload | undefined;
    try {
      const uploadId = await createUpload(ctx, site, {
        size: source.size,
        partSize,
        queueSize: 1,
        params,
        md5: known.fingerprintMd5,
      });
      if (uploadId !== undefined) upload = { ctx, ...to, uploadId };
      if (upload === undefined || uploadId === '') throw noUploadId(ctx, site);
      const parts = await copyRanges(upload, from, partSize, options);
      const done = await completeUpload(
        upload,
        parts,
        { size: source.size, md5: undefined },
        { size: source.size, partSize, queueSize: 1 },
      );
      upload = undefined;
      const composite = compositeEtag(parts.map((p) => normalizeEtag(p.ETag) ?? ''));
      // The server's ETag must be the composite of the parts it reported, or it proves nothing.
      const given = await etagAfter(ctx, to, done.etag, signal);
      const etag = normalizeEtag(given) === composite ? given : undefined;
      return {
        facts: { size: source.size, etag, opaqueEtag: done.opaqueEtag },
        method: 'multipart',
      };
    } catch (error) {
      if (upload !== undefined) await abortUpload(upload);
      throw error;
    }
  });
}

/** The ETag a completed upload answered with; a HEAD asks for it when the answer had none. */
export async function etagAfter(
  ctx: ClientContext,
  to: ObjectLocation,
  etag: string | undefined,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  if (normalizeEtag(etag) !== undefined) return etag;
  const site = { operation: 'HeadObject', ...to, signal };
  const head = await typedErrors(site, ctx.describe, () =>
    ctx.transport.headObject({ Bucket: to.bucket, Key: to.key }, signal),
  );
  return head.ETag;
}

/** The parameters an upload needs to give the copy the source's headers (s3lync's metadata apart). */
export function headersOf(head: ObjectParamHeaders): SentParams {
  const user = Object.fromEntries(
    Object.entries(head.Metadata ?? {}).filter(([k]) => !k.startsWith('s3lync-')),
  );
  const params: SentParams = { Metadata: user };
  if (head.ContentType !== undefined) params.ContentType = head.ContentType;
  if (head.CacheControl !== undefined) params.CacheControl = head.CacheControl;
  if (head.ContentEncoding !== undefined) params.ContentEncoding = head.ContentEncoding;
  if (head.ContentDisposition !== undefined) params.ContentDisposition = head.ContentDisposition;
  if (head.ContentLanguage !== undefined) params.ContentLanguage = head.ContentLanguage;
  // `Expires` (deprecated in the SDK's output) is not carried over.
  return params;
}

/** Copies the ranges, at most `queueSize` at once; the parts for CompleteMultipartUpload. */
async function copyRanges(
  upload: Upload,
  from: ObjectLocation,
  partSize: number,
  options: CopyOptions,
): Promise<CompletedPart[]> {
  const { size, etag } = options.source;
  const { parts } = partLayout(size, partSize);
  const pool = new TaskPool(options.queueSize ?? 4, options.signal);
  const done: CompletedPart[] = [];
  for (let i = 0; i < parts; i++) {
    if (!(await pool.ready())) break;
    const start = i * partSize;
    const end = Math.min(size, start + partSize) - 1;
    pool.start(async () => {
      const out = await upload.ctx.transport.uploadPartCopy(
        {
          Bucket: upload.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          PartNumber: i + 1,
          CopySource: copySource(from),
          CopySourceRange: `bytes=${start}-${end}`,
          ...(etag !== undefined && { CopySourceIfMatch: etag }),
        },
        pool.signal,
      );
      const partEtag = out.CopyPartResult?.ETag;
      if (partEtag === undefined) {
        throw new S3ObjectError(
          `UploadPartCopy ${upload.ctx.describe(upload.bucket, upload.key)} part ${i + 1}: the server returned no ETag`,
          { operation: 'UploadPartCopy' },
        );
      }
      done[i] = { PartNumber: i + 1, ETag: partEtag };
    });
  }
  await pool.settle();
  return done;
}

/**
 * Whether two SDK clients reach the same server as the same identity, so that a copy
 * between them can run on the server: the same client, or the same endpoint, region and
 * credentials.
 */
export async function sameServer(a: S3Client, b: S3Client): Promise<boolean> {
  if (a === b) return true;
  const [ea, eb, ra, rb, ca, cb] = await Promise.all([
    a.config.endpoint?.(),
    b.config.endpoint?.(),
    a.config.region(),
    b.config.region(),
    a.config.credentials(),
    b.config.credentials(),
  ]);
  const url = (e: typeof ea): string =>
    e === undefined ? '' : `${e.protocol}//${e.hostname}:${e.port ?? ''}${e.path}`;
  return (
    url(ea) === url(eb) &&
    ra === rb &&
    a.config.forcePathStyle === b.config.forcePathStyle &&
    ca.accessKeyId === cb.accessKeyId &&
    ca.secretAccessKey === cb.secretAccessKey &&
    ca.sessionToken === cb.sessionToken
  );
}

/** What a copy's destination looks like to a caller who only has its RemoteObject. */
export function factsOf(o: RemoteObject): ObjectFacts {
  return {
    size: o.size,
    etag: o.etag,
    fingerprintMd5: o.fingerprintMd5,
    opaqueEtag: o.opaqueEtag,
  };
}
