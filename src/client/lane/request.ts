/**
 * The data lane's requests, built without the SDK's middleware: the same method, path,
 * query and headers the SDK's serializers produce for the inputs s3lync sends. An input
 * with a field this module does not know is not built (`undefined`), and goes through the
 * SDK instead. Pure: no I/O, no clock, no signing.
 *
 * @packageDocumentation
 */
import type {
  GetObjectCommandInput,
  HeadObjectCommandInput,
  ListObjectsV2CommandInput,
  PutObjectCommandInput,
  UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';

import { customerKeyMd5, SSE_C_ALGORITHM } from '../../sse-c.js';

/** Where a bucket's requests go: the SDK's own endpoint decision for it. */
export interface BucketRoute {
  /** `http:` or `https:`. */
  readonly protocol: string;
  /** The host name (a virtual host includes the bucket). */
  readonly hostname: string;
  /** The port, if the endpoint names one. */
  readonly port: number | undefined;
  /** The path before the key: `/bucket` (path style) or empty (virtual host). */
  readonly basePath: string;
  /** The region requests are signed for. */
  readonly signingRegion: string;
  /** The service requests are signed for (`s3`). */
  readonly signingName: string;
  /**
   * The SDK computes checksums of upload bodies (`WHEN_SUPPORTED`, a client given with
   * its defaults): uploads then go through the SDK, which sends what the lane would not.
   */
  readonly sdkChecksums: boolean;
}

/** A request to sign and send. */
export interface LaneRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT';
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  /** The encoded path. */
  readonly path: string;
  /** The query, unencoded. */
  readonly query: Record<string, string>;
  /** Lower-case names; `host` and `x-amz-content-sha256` included. */
  readonly headers: Record<string, string>;
  readonly body?: Buffer | Readable | undefined;
}

/** The SHA-256 of no bytes: the payload hash of a request without a body. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The payload hash of a body sent unhashed; `Content-MD5` makes the server check it. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/**
 * `encodeURIComponent`, also escaping `!'()*`: the SDK's (and SigV4's) escaping of a path
 * segment and of query names and values.
 */
export function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A key as the SDK puts it in a path: each `/`-separated segment escaped. */
export function encodeKey(key: string): string {
  return key.split('/').map(escapeUri).join('/');
}

/** The query string of `query`, as the SDK's HTTP handler writes it. */
export function queryString(query: Record<string, string>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query))
    parts.push(`${escapeUri(name)}=${escapeUri(value)}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** Input fields and the header each one becomes, shared by the kinds that take them. */
const OBJECT_READ_HEADERS = {
  IfMatch: 'if-match',
  IfNoneMatch: 'if-none-match',
  Range: 'range',
  ChecksumMode: 'x-amz-checksum-mode',
  ExpectedBucketOwner: 'x-amz-expected-bucket-owner',
  RequestPayer: 'x-amz-request-payer',
} as const;

const CHECKSUM_HEADERS = {
  ChecksumCRC32: 'x-amz-checksum-crc32',
  ChecksumCRC32C: 'x-amz-checksum-crc32c',
  ChecksumCRC64NVME: 'x-amz-checksum-crc64nvme',
  ChecksumSHA1: 'x-amz-checksum-sha1',
  ChecksumSHA256: 'x-amz-checksum-sha256',
} as const;

const UPLOAD_PART_HEADERS = {
  ContentMD5: 'content-md5',
  ExpectedBucketOwner: 'x-amz-expected-bucket-owner',
  RequestPayer: 'x-amz-request-payer',
  ...CHECKSUM_HEADERS,
} as const;

const PUT_HEADERS = {
  ...UPLOAD_PART_HEADERS,
  IfMatch: 'if-match',
  IfNoneMatch: 'if-none-match',
  CacheControl: 'cache-control',
  ContentDisposition: 'content-disposition',
  ContentEncoding: 'content-encoding',
  ContentLanguage: 'content-language',
  ContentType: 'content-type',
  StorageClass: 'x-amz-storage-class',
  ServerSideEncryption: 'x-amz-server-side-encryption',
  SSEKMSKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
  ACL: 'x-amz-acl',
  Tagging: 'x-amz-tagging',
} as const;

/** The SSE-C fields, handled by {@link customerKeyHeaders}. */
const SSE_C_FIELDS = ['SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5'] as const;

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** Fields every object request has, or that are handled apart from headers. */
const ROUTED = new Set<string>(['Bucket', 'Key', ...SSE_C_FIELDS]);

/**
 * Adds the SSE-C headers of `input` as the SDK's middleware sends them: the key as given
 * when it is the base64 of 32 bytes, its MD5 computed (a given one is replaced, as the SDK
 * does). `false` for what the SDK would re-encode (a key not in base64): the SDK sends it.
 */
function customerKeyHeaders(
  input: {
    SSECustomerAlgorithm?: string | undefined;
    SSECustomerKey?: string | undefined;
    SSECustomerKeyMD5?: string | undefined;
  },
  headers: Record<string, string>,
): boolean {
  const { SSECustomerAlgorithm: algorithm, SSECustomerKey: key, SSECustomerKeyMD5: md5 } = input;
  if (key === undefined) return algorithm === undefined && md5 === undefined;
  if (!BASE64_KEY.test(key) || algorithm !== SSE_C_ALGORITHM) return false;
  headers['x-amz-server-side-encryption-customer-algorithm'] = algorithm;
  headers['x-amz-server-side-encryption-customer-key'] = key;
  headers['x-amz-server-side-encryption-customer-key-md5'] = customerKeyMd5(
    Buffer.from(key, 'base64'),
  );
  return true;
}

/**
 * The headers of `input` per `map`; `undefined` if `input` has a defined field that is
 * neither in `map` nor in `handled` (the lane does not know what the SDK would send).
 */
function headersOf(
  input: object,
  map: Readonly<Record<string, string>>,
  handled: ReadonlySet<string>,
): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  for (const [field, value] of Object.entries(input)) {
    if (value === undefined || ROUTED.has(field) || handled.has(field)) continue;
    const name = map[field];
    if (name === undefined || (typeof value !== 'string' && typeof value !== 'number')) {
      return undefined;
    }
    headers[name] = String(value);
  }
  return headers;
}

/** The parts of a request every kind shares. */
function base(
  route: BucketRoute,
  method: LaneRequest['method'],
  path: string,
  headers: Record<string, string>,
  payloadHash: string,
): Omit<LaneRequest, 'query'> {
  const host = route.port === undefined ? route.hostname : `${route.hostname}:${route.port}`;
  return {
    method,
    protocol: route.protocol,
    hostname: route.hostname,
    port: route.port,
    path,
    headers: { ...headers, host, 'x-amz-content-sha256': payloadHash },
  };
}

const GET_HANDLED = new Set(['PartNumber', 'VersionId']);

/** HeadObject or GetObject; `undefined` for an input the lane does not build. */
export function objectReadRequest(
  route: BucketRoute,
  method: 'GET' | 'HEAD',
  input: HeadObjectCommandInput | GetObjectCommandInput,
): LaneRequest | undefined {
  if (input.Key === undefined || input.Key === '') return undefined;
  const headers = headersOf(input, OBJECT_READ_HEADERS, GET_HANDLED);
  if (headers === undefined || !customerKeyHeaders(input, headers)) return undefined;
  const query: Record<string, string> = method === 'GET' ? { 'x-id': 'GetObject' } : {};
  if (input.PartNumber !== undefined) query.partNumber = String(input.PartNumber);
  if (input.VersionId !== undefined) query.versionId = input.VersionId;
  const path = `${route.basePath}/${encodeKey(input.Key)}`;
  return { ...base(route, method, path, headers, EMPTY_SHA256), query };
}

const PUT_HANDLED = new Set(['Body', 'ContentLength', 'Metadata']);

/**
 * PutObject, its body unsigned (the caller sends `Content-MD5`); `undefined` for an input
 * the lane does not build. A body must come with its `ContentLength`.
 */
export function putObjectRequest(
  route: BucketRoute,
  input: PutObjectCommandInput,
): LaneRequest | undefined {
  const body = input.Body;
  if (route.sdkChecksums || input.Key === undefined || input.Key === '') return undefined;
  if (input.ContentLength === undefined) return undefined;
  if (body !== undefined && !Buffer.isBuffer(body) && !isReadable(body)) return undefined;
  const headers = headersOf(input, PUT_HEADERS, PUT_HANDLED);
  if (headers === undefined || !customerKeyHeaders(input, headers)) return undefined;
  headers['content-length'] = String(input.ContentLength);
  headers['content-type'] ??= 'application/octet-stream';
  for (const [name, value] of Object.entries(input.Metadata ?? {})) {
    headers[`x-amz-meta-${name.toLowerCase()}`] = value;
  }
  const path = `${route.basePath}/${encodeKey(input.Key)}`;
  return {
    ...base(route, 'PUT', path, headers, UNSIGNED_PAYLOAD),
    query: { 'x-id': 'PutObject' },
    body,
  };
}

const PART_HANDLED = new Set(['Body', 'ContentLength', 'PartNumber', 'UploadId']);

/** UploadPart, its body unsigned; `undefined` for an input the lane does not build. */
export function uploadPartRequest(
  route: BucketRoute,
  input: UploadPartCommandInput,
): LaneRequest | undefined {
  const body = input.Body;
  const { Key: key, ContentLength: length, PartNumber: part, UploadId: uploadId } = input;
  if (route.sdkChecksums || key === undefined || key === '' || length === undefined) {
    return undefined;
  }
  if (part === undefined || uploadId === undefined) return undefined;
  if (body !== undefined && !Buffer.isBuffer(body) && !isReadable(body)) return undefined;
  const headers = headersOf(input, UPLOAD_PART_HEADERS, PART_HANDLED);
  if (headers === undefined || !customerKeyHeaders(input, headers)) return undefined;
  headers['content-length'] = String(length);
  headers['content-type'] = 'application/octet-stream';
  const path = `${route.basePath}/${encodeKey(key)}`;
  return {
    ...base(route, 'PUT', path, headers, UNSIGNED_PAYLOAD),
    query: { 'x-id': 'UploadPart', partNumber: String(part), uploadId },
    body,
  };
}

/** ListObjectsV2 fields and their query names. */
const LIST_QUERY = [
  ['Delimiter', 'delimiter'],
  ['EncodingType', 'encoding-type'],
  ['MaxKeys', 'max-keys'],
  ['Prefix', 'prefix'],
  ['ContinuationToken', 'continuation-token'],
  ['FetchOwner', 'fetch-owner'],
  ['StartAfter', 'start-after'],
] as const;
const LIST_HEADERS = {
  ExpectedBucketOwner: 'x-amz-expected-bucket-owner',
  RequestPayer: 'x-amz-request-payer',
} as const;
const LIST_HANDLED = new Set<string>(LIST_QUERY.map(([field]) => field));

/** ListObjectsV2; `undefined` for an input the lane does not build. */
export function listRequest(
  route: BucketRoute,
  input: ListObjectsV2CommandInput,
): LaneRequest | undefined {
  const headers = headersOf(input, LIST_HEADERS, LIST_HANDLED);
  if (headers === undefined) return undefined;
  const query: Record<string, string> = { 'list-type': '2' };
  for (const [field, name] of LIST_QUERY) {
    const value = input[field];
    if (value !== undefined) query[name] = String(value);
  }
  return { ...base(route, 'GET', `${route.basePath}/`, headers, EMPTY_SHA256), query };
}

function isReadable(body: unknown): body is Readable {
  return typeof (body as { pipe?: unknown } | null)?.pipe === 'function';
}
