/**
 * Upload parameters checked before anything is sent, and resolved for each upload: the
 * content type guessed from the file name (mime-types), the user's parameters on top, and
 * s3lync's own metadata merged in, never overridden.
 *
 * @packageDocumentation
 */
import type { ObjectCannedACL, StorageClass } from '@aws-sdk/client-s3';
import mime from 'mime-types';

import { MD5_METADATA_KEY, PART_SIZE_METADATA_KEY } from './etag.js';
import { ConfigError } from './exceptions.js';
import { checkOptions, UPLOAD_PARAM_KEYS } from './options.js';
import { checkFilters, type PathFilter } from './excludes.js';
import { checkCompareParams, type ComparableParam } from './param-compare.js';
import { CustomerKey, SSE_C_ALGORITHM } from './sse-c.js';
import type {
  CheckedParamsOption,
  ParamsFor,
  SentParams,
  UploadEncryption,
  UploadParams,
  UploadParamsOption,
} from './upload-params.js';

/**
 * The content type of a file name whose extension is unknown. The SDK already sends it on
 * a single PUT without a type; CreateMultipartUpload has no body, so without it a large
 * file would get the server's default (`binary/octet-stream` on S3) and a small one this.
 */
export const UNKNOWN_CONTENT_TYPE = 'application/octet-stream';

/**
 * The content type of `name` from its extension (the mime-db table, as `aws s3` guesses
 * from Python's), without a charset: s3lync does not know a text file's encoding.
 */
export function guessContentType(name: string): string {
  return mime.lookup(name) || UNKNOWN_CONTENT_TYPE;
}

const ENCRYPTIONS = Object.freeze({
  AES256: true,
  'aws:kms': true,
  'aws:kms:dsse': true,
} as const satisfies Readonly<Record<UploadEncryption, true>>);

const CANNED_ACLS = Object.freeze({
  private: true,
  'public-read': true,
  'public-read-write': true,
  'authenticated-read': true,
  'aws-exec-read': true,
  'bucket-owner-read': true,
  'bucket-owner-full-control': true,
} as const satisfies Readonly<Record<ObjectCannedACL, true>>);

/** S3's limit on user metadata (names and values) in a request. */
const METADATA_LIMIT = 2048;
/** What s3lync's own metadata takes at most: both names, an MD5 and a part size up to 5 GiB. */
const OWN_METADATA_SIZE = MD5_METADATA_KEY.length + 32 + PART_SIZE_METADATA_KEY.length + 10;
const RESERVED_PREFIX = 's3lync-';
const MAX_TAGS = 10;

/** An HTTP token (RFC 9110): header and metadata names, media types. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a header value may hold: printable ASCII and tabs (no CR/LF to split headers). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;.*)?$/;

function fail(what: string, field: string, expected: string, value: unknown): never {
  throw new ConfigError(
    `Expected \`${field}\` in ${what} to be ${expected}, got ${JSON.stringify(value)} (${value instanceof Date ? 'Date' : typeof value})`,
  );
}

function headerValue(what: string, field: string, value: unknown, shape?: RegExp): string {
  if (typeof value !== 'string' || value.trim() === '' || !HEADER_VALUE.test(value)) {
    fail(what, field, 'a non-empty string of printable ASCII', value);
  }
  if (shape !== undefined && !shape.test(value))
    fail(what, field, 'a media type (type/subtype)', value);
  return value;
}

function metadataOf(what: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(what, 'Metadata', 'an object of strings', value);
  }
  let size = 0;
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!TOKEN.test(name)) fail(what, 'Metadata', 'names that are HTTP tokens', name);
    if (name.toLowerCase().startsWith(RESERVED_PREFIX)) {
      throw new ConfigError(
        `\`Metadata\` in ${what} names ${JSON.stringify(name)}: names starting with "${RESERVED_PREFIX}" are s3lync's own (its fingerprint and part size)`,
      );
    }
    if (typeof v !== 'string' || !HEADER_VALUE.test(v)) {
      fail(what, `Metadata.${name}`, 'a string of printable ASCII', v);
    }
    size += name.length + v.length;
    out[name] = v;
  }
  if (size > METADATA_LIMIT - OWN_METADATA_SIZE) {
    throw new ConfigError(
      `\`Metadata\` in ${what} holds ${size} bytes; S3 allows ${METADATA_LIMIT} with s3lync's own ${OWN_METADATA_SIZE}, so at most ${METADATA_LIMIT - OWN_METADATA_SIZE}`,
    );
  }
  return out;
}

/** Tags as pairs, from an object or the URL-encoded form. */
function tagPairs(what: string, value: unknown): [string, string][] {
  if (typeof value === 'string') {
    try {
      return value
        .split('&')
        .filter((p) => p !== '')
        .map((p) => {
          const eq = p.indexOf('=');
          const [k, v] = eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
          return [decodeURIComponent(k), decodeURIComponent(v)];
        });
    } catch {
      fail(what, 'Tagging', 'URL-encoded (key=value&key=value)', value);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(what, 'Tagging', 'an object of strings or a URL-encoded string', value);
  }
  return Object.entries(value).map(([k, v]) => {
    if (typeof v !== 'string') fail(what, `Tagging.${k}`, 'a string', v);
    return [k, v];
  });
}

/** The tags URL-encoded as `x-amz-tagging` wants them, checked against S3's limits. */
function taggingOf(what: string, value: unknown): string {
  const pairs = tagPairs(what, value);
  if (pairs.length > MAX_TAGS) fail(what, 'Tagging', `at most ${MAX_TAGS} tags`, value);
  const seen = new Set<string>();
  for (const [k, v] of pairs) {
    if (k.length === 0 || k.length > 128 || seen.has(k)) {
      fail(what, 'Tagging', 'distinct keys of 1 to 128 characters', k);
    }
    if (v.length > 256) fail(what, `Tagging.${k}`, 'at most 256 characters', v);
    seen.add(k);
  }
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/**
 * Checks upload parameters and returns them as sent (`Tagging` encoded).
 *
 * @param what - the parameters in messages: `uploadParams`, `uploadParams(docs/a.html)`.
 * @throws {ConfigError} naming the field and the value.
 */
export function checkUploadParams(params: unknown, what: string): SentParams {
  checkOptions(params, UPLOAD_PARAM_KEYS, what);
  const p = params as Record<keyof UploadParams, unknown>;
  const out: SentParams = {};
  for (const field of [
    'CacheControl',
    'ContentEncoding',
    'ContentDisposition',
    'ContentLanguage',
  ] as const) {
    if (p[field] !== undefined) out[field] = headerValue(what, field, p[field]);
  }
  if (p.ContentType !== undefined) {
    out.ContentType = headerValue(what, 'ContentType', p.ContentType, MEDIA_TYPE);
  }
  if (p.Expires !== undefined) {
    if (!(p.Expires instanceof Date) || Number.isNaN(p.Expires.getTime())) {
      fail(what, 'Expires', 'a valid Date', p.Expires);
    }
    out.Expires = p.Expires;
  }
  if (p.Metadata !== undefined) out.Metadata = metadataOf(what, p.Metadata);
  if (p.Tagging !== undefined) out.Tagging = taggingOf(what, p.Tagging);
  if (p.ServerSideEncryption !== undefined) {
    const sse = p.ServerSideEncryption;
    if (typeof sse !== 'string' || !Object.hasOwn(ENCRYPTIONS, sse)) {
      fail(what, 'ServerSideEncryption', `one of ${Object.keys(ENCRYPTIONS).join(', ')}`, sse);
    }
    out.ServerSideEncryption = sse as UploadEncryption;
  }
  if (p.SSEKMSKeyId !== undefined) {
    if (out.ServerSideEncryption === undefined || out.ServerSideEncryption === 'AES256') {
      throw new ConfigError(
        `\`SSEKMSKeyId\` in ${what} needs \`ServerSideEncryption\` 'aws:kms' or 'aws:kms:dsse'`,
      );
    }
    out.SSEKMSKeyId = headerValue(what, 'SSEKMSKeyId', p.SSEKMSKeyId);
  }
  const customerKey = checkCustomerKey(what, p, out);
  if (customerKey !== undefined) out.customerKey = customerKey;
  if (p.StorageClass !== undefined) {
    // Servers have their own classes (Ceph's are configured per zone): only the shape is known.
    if (typeof p.StorageClass !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(p.StorageClass)) {
      fail(what, 'StorageClass', 'an upper-case class name such as STANDARD_IA', p.StorageClass);
    }
    out.StorageClass = p.StorageClass as StorageClass;
  }
  if (p.ACL !== undefined) {
    if (typeof p.ACL !== 'string' || !Object.hasOwn(CANNED_ACLS, p.ACL)) {
      fail(what, 'ACL', `one of ${Object.keys(CANNED_ACLS).join(', ')}`, p.ACL);
    }
    out.ACL = p.ACL as ObjectCannedACL;
  }
  return out;
}

/** The SSE-C fields checked: the key never echoed, and no other encryption beside it. */
function checkCustomerKey(
  what: string,
  p: Record<keyof UploadParams, unknown>,
  out: SentParams,
): CustomerKey | undefined {
  const algorithm = p.SSECustomerAlgorithm;
  if (algorithm !== undefined && algorithm !== SSE_C_ALGORITHM) {
    fail(what, 'SSECustomerAlgorithm', `'${SSE_C_ALGORITHM}'`, algorithm);
  }
  if (p.SSECustomerKey === undefined) {
    if (algorithm !== undefined) {
      throw new ConfigError(`\`SSECustomerAlgorithm\` in ${what} needs \`SSECustomerKey\``);
    }
    return undefined;
  }
  if (out.ServerSideEncryption !== undefined) {
    throw new ConfigError(
      `\`SSECustomerKey\` in ${what} excludes \`ServerSideEncryption\`: an object has one encryption`,
    );
  }
  return CustomerKey.of(p.SSECustomerKey, `\`SSECustomerKey\` in ${what}`);
}

/**
 * Checks an `uploadParams` option: an object now, a function's result at each upload.
 *
 * @throws {ConfigError} for an object with a bad field, or neither an object nor a function.
 */
export function checkUploadParamsOption(
  value: UploadParamsOption | undefined,
  name: string,
): CheckedParamsOption | undefined {
  if (value === undefined || typeof value === 'function') return value;
  return checkUploadParams(value, `\`${name}\``);
}

/**
 * The parameters of each upload: the content type guessed from the key (unless `guess`
 * is false), under the user's. A function's result is checked for each upload, before it
 * is sent; `undefined` from it means none.
 */
export function paramsResolver(option: CheckedParamsOption | undefined, guess: boolean): ParamsFor {
  return (key, localPath) => {
    const own =
      typeof option === 'function'
        ? checkUploadParams(option({ key, localPath }) ?? {}, `the \`uploadParams\` of ${key}`)
        : (option ?? {});
    if (own.ContentType !== undefined || !guess) return own;
    return { ...own, ContentType: guessContentType(key) };
  };
}

/** What an object holds of the options below, checked. */
export interface UploadSettings {
  readonly filters: readonly PathFilter[];
  readonly uploadParams: CheckedParamsOption | undefined;
  readonly guessContentType: boolean;
  readonly compareParams: readonly ComparableParam[] | undefined;
}

/** The call's options of the same names, unchecked. */
interface CallOptions {
  filters?: readonly PathFilter[] | undefined;
  uploadParams?: UploadParamsOption | undefined;
  guessContentType?: boolean | undefined;
  compareParams?: readonly ComparableParam[] | undefined;
}

/**
 * Checks `filters`, `uploadParams` and `guessContentType` of an object (`prefix` before
 * their names in messages: `defaults.` for a manager's).
 *
 * @throws {ConfigError} naming the option.
 */
export function resolveUploadSettings(options: CallOptions, prefix = ''): UploadSettings {
  const guess = options.guessContentType ?? true;
  if (typeof guess !== 'boolean') {
    throw new ConfigError(
      `Expected \`${prefix}guessContentType\` to be a boolean, got ${JSON.stringify(guess)} (${typeof guess})`,
    );
  }
  return {
    filters: options.filters === undefined ? [] : checkFilters(options.filters, `${prefix}filters`),
    uploadParams: checkUploadParamsOption(options.uploadParams, `${prefix}uploadParams`),
    guessContentType: guess,
    compareParams:
      options.compareParams === undefined
        ? undefined
        : checkCompareParams(options.compareParams, `${prefix}compareParams`),
  };
}

/**
 * The filters and the parameter chooser of one call: its filters after the object's,
 * its `uploadParams` and `guessContentType` instead of the object's.
 *
 * @throws {ConfigError} for a call option that is not valid, before anything is sent.
 */
export function uploadTargetFields(
  object: UploadSettings,
  call: CallOptions,
): {
  filters: readonly PathFilter[];
  paramsFor: ParamsFor;
  compareParams: readonly ComparableParam[] | undefined;
} {
  const own = resolveUploadSettings(call);
  return {
    filters: [...object.filters, ...own.filters],
    compareParams: own.compareParams ?? object.compareParams,
    paramsFor: paramsResolver(
      call.uploadParams === undefined ? object.uploadParams : own.uploadParams,
      call.guessContentType ?? object.guessContentType,
    ),
  };
}
