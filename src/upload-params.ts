/**
 * What users set on the objects they upload: the PutObject/CreateMultipartUpload
 * parameters s3lync passes through, and how s3lync's own metadata joins them. A leaf; the
 * checks and the content-type guess are in `upload-params-check.ts`.
 *
 * @packageDocumentation
 */
import type { ObjectCannedACL, StorageClass } from '@aws-sdk/client-s3';

import type { CustomerKey, CustomerKeyInput } from './sse-c.js';

/** The server-side encryption of an upload: SSE-S3 (`AES256`) or SSE-KMS. */
export type UploadEncryption = 'AES256' | 'aws:kms' | 'aws:kms:dsse';

/**
 * Parameters of the objects s3lync uploads, named as in PutObject. They are sent with
 * every upload (a single PUT or CreateMultipartUpload) and never compared: an object whose
 * bytes are unchanged is not uploaded again because its parameters differ.
 */
export interface UploadParams {
  /** `Content-Type`. @default guessed from the file name (see `guessContentType`) */
  ContentType?: string;
  /** `Cache-Control`, e.g. `max-age=3600`. @default none */
  CacheControl?: string;
  /** `Content-Encoding`, e.g. `gzip` for a file already compressed. @default none */
  ContentEncoding?: string;
  /** `Content-Disposition`, e.g. `attachment; filename="report.csv"`. @default none */
  ContentDisposition?: string;
  /** `Content-Language`, e.g. `en`. @default none */
  ContentLanguage?: string;
  /** `Expires`. @default none */
  Expires?: Date;
  /**
   * User metadata (`x-amz-meta-*`; S3 lowercases the names). Merged with s3lync's own
   * (`s3lync-md5`, `s3lync-part-size`), whose names are reserved: every key starting with
   * `s3lync-` is refused. At most 2 KiB with s3lync's, as S3 allows.
   * @default none
   */
  Metadata?: Readonly<Record<string, string>>;
  /** Object tags: `{ team: 'data' }` or the URL-encoded form `team=data&tier=hot`; at most 10. @default none */
  Tagging?: string | Readonly<Record<string, string>>;
  /** `x-amz-server-side-encryption`. @default the bucket's */
  ServerSideEncryption?: UploadEncryption;
  /** The KMS key of `aws:kms`/`aws:kms:dsse`. @default the account's default key */
  SSEKMSKeyId?: string;
  /** SSE-C: `AES256`, the only algorithm; implied by `SSECustomerKey`. @default none */
  SSECustomerAlgorithm?: 'AES256';
  /**
   * SSE-C: the customer key, 32 bytes or their base64 (its MD5 is computed). Every request
   * of the upload carries it, multipart parts included. Comparing and downloading such
   * objects needs the same key as the object's `sseCustomerKey`, which also encrypts
   * uploads without this field. Never echoed.
   * @default the object's `sseCustomerKey`, else none
   */
  SSECustomerKey?: CustomerKeyInput;
  /** The storage class (`STANDARD`, `STANDARD_IA`, `GLACIER_IR`, … or a server's own). @default the bucket's */
  StorageClass?: string;
  /** A canned ACL. @default the bucket's (private) */
  ACL?: ObjectCannedACL;
}

/** The file an upload parameter function is asked about. */
export interface UploadFileInfo {
  /** The object's full key. */
  key: string;
  /** The absolute local path of the file. */
  localPath: string;
}

/** Upload parameters: the same for every object, or chosen per object. */
export type UploadParamsOption =
  UploadParams | ((file: UploadFileInfo) => UploadParams | undefined);

/** The parameters of one upload as sent: `Tagging` URL-encoded, `ContentType` resolved. */
export type SentParams = Omit<
  UploadParams,
  'Tagging' | 'Metadata' | 'StorageClass' | 'SSECustomerAlgorithm' | 'SSECustomerKey'
> & {
  Tagging?: string;
  Metadata?: Record<string, string>;
  /** Any server's class; typed as the SDK's. */
  StorageClass?: StorageClass;
  /** The SSE-C key, checked; not a request field (the upload's client carries it). */
  customerKey?: CustomerKey;
};

/** An `uploadParams` option once checked: an object as sent, a function kept for each upload. */
export type CheckedParamsOption = SentParams | ((file: UploadFileInfo) => unknown);

/** Chooses the parameters of each upload, checked, from its key and local path. */
export type ParamsFor = (key: string, localPath: string) => SentParams;

/**
 * The metadata an upload sends: the user's with s3lync's on top. The user's cannot name
 * s3lync's (refused when checked), so nothing of either is lost.
 */
export function withOwnMetadata(
  params: SentParams | undefined,
  own: Record<string, string>,
): Record<string, string> {
  return { ...params?.Metadata, ...own };
}
