/**
 * The data lane's responses, read into the shapes the SDK's deserializers give: the output
 * fields s3lync reads from headers, a ListObjectsV2 page from its XML (parsed by the SDK's
 * own XML parser), and an error response as an error the SDK would throw (its `name` the
 * S3 error code, `$metadata.httpStatusCode`, `$fault`). Pure: no I/O.
 *
 * @packageDocumentation
 */
import { parseXML } from '@aws-sdk/xml-builder';
import type { ListObjectsV2CommandOutput, _Object, CommonPrefix } from '@aws-sdk/client-s3';

/** Response headers as undici gives them: lower-case names. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** The `$metadata` of an output or error. */
export interface LaneMetadata {
  httpStatusCode: number;
  requestId?: string;
  extendedRequestId?: string;
  attempts: number;
  totalRetryDelay: number;
}

/** One header's value (the first, if repeated). */
export function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The `$metadata` of a response. */
export function metadataOf(statusCode: number, headers: ResponseHeaders): LaneMetadata {
  const meta: LaneMetadata = { httpStatusCode: statusCode, attempts: 1, totalRetryDelay: 0 };
  const requestId = header(headers, 'x-amz-request-id');
  const extended = header(headers, 'x-amz-id-2');
  if (requestId !== undefined) meta.requestId = requestId;
  if (extended !== undefined) meta.extendedRequestId = extended;
  return meta;
}

/** Output fields from a header's text. */
const STRING_FIELDS = [
  ['ETag', 'etag'],
  ['ContentRange', 'content-range'],
  ['ContentType', 'content-type'],
  ['ContentEncoding', 'content-encoding'],
  ['ContentDisposition', 'content-disposition'],
  ['ContentLanguage', 'content-language'],
  ['CacheControl', 'cache-control'],
  ['AcceptRanges', 'accept-ranges'],
  ['VersionId', 'x-amz-version-id'],
  ['StorageClass', 'x-amz-storage-class'],
  ['ServerSideEncryption', 'x-amz-server-side-encryption'],
  ['SSECustomerAlgorithm', 'x-amz-server-side-encryption-customer-algorithm'],
  ['SSECustomerKeyMD5', 'x-amz-server-side-encryption-customer-key-md5'],
  ['SSEKMSKeyId', 'x-amz-server-side-encryption-aws-kms-key-id'],
  ['ChecksumCRC32', 'x-amz-checksum-crc32'],
  ['ChecksumCRC32C', 'x-amz-checksum-crc32c'],
  ['ChecksumCRC64NVME', 'x-amz-checksum-crc64nvme'],
  ['ChecksumSHA1', 'x-amz-checksum-sha1'],
  ['ChecksumSHA256', 'x-amz-checksum-sha256'],
  ['ChecksumType', 'x-amz-checksum-type'],
] as const;

/** Output fields from a header's number. */
const NUMBER_FIELDS = [
  ['ContentLength', 'content-length'],
  ['PartsCount', 'x-amz-mp-parts-count'],
] as const;

const META_PREFIX = 'x-amz-meta-';

/** The fields of a write's output (PutObject, UploadPart): no content headers. */
const WRITE_FIELDS: ReadonlySet<string> = new Set([
  'ETag',
  'VersionId',
  'ServerSideEncryption',
  'SSECustomerAlgorithm',
  'SSECustomerKeyMD5',
  'SSEKMSKeyId',
  'ChecksumCRC32',
  'ChecksumCRC32C',
  'ChecksumCRC64NVME',
  'ChecksumSHA1',
  'ChecksumSHA256',
  'ChecksumType',
]);

/**
 * The output of a read (HeadObject, GetObject) or a write (PutObject, UploadPart) from
 * its headers, with the fields the SDK's deserializers give.
 */
export function objectOutput(
  statusCode: number,
  headers: ResponseHeaders,
  kind: 'read' | 'write',
): Record<string, unknown> & { $metadata: LaneMetadata } {
  const out: Record<string, unknown> & { $metadata: LaneMetadata } = {
    $metadata: metadataOf(statusCode, headers),
  };
  for (const [field, name] of STRING_FIELDS) {
    if (kind === 'write' && !WRITE_FIELDS.has(field)) continue;
    const v = header(headers, name);
    if (v !== undefined) out[field] = v;
  }
  if (kind === 'write') return out;
  for (const [field, name] of NUMBER_FIELDS) {
    const v = header(headers, name);
    if (v !== undefined && v.trim() !== '') out[field] = Number(v);
  }
  const modified = header(headers, 'last-modified');
  if (modified !== undefined) out.LastModified = new Date(modified);
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(META_PREFIX) || value === undefined) continue;
    metadata[name.slice(META_PREFIX.length)] = Array.isArray(value) ? value.join(', ') : value;
  }
  out.Metadata = metadata;
  return out;
}

type XmlValue = string | XmlNode | (string | XmlNode)[] | undefined;
interface XmlNode {
  [name: string]: XmlValue;
}

/** An element as a list: the parser gives one element as itself, several as an array. */
function list(value: XmlValue): (string | XmlNode)[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** An element's text (an empty element parses as ''). */
function text(value: XmlValue): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return text(value[0]);
  const t = value['#text'];
  return typeof t === 'string' ? t : '';
}

function num(value: XmlValue): number | undefined {
  const t = text(value);
  return t === undefined ? undefined : Number(t);
}

/** The root element of an XML document. */
function rootOf(xml: string): XmlNode {
  const doc = parseXML(xml) as Record<string, XmlValue>;
  const root = Object.values(doc)[0];
  return typeof root === 'object' && !Array.isArray(root) ? root : {};
}

/** A ListObjectsV2 page from its XML. */
export function listOutput(
  xml: string,
  meta: LaneMetadata,
): Omit<ListObjectsV2CommandOutput, '$metadata'> & { $metadata: LaneMetadata } {
  const root = rootOf(xml);
  const contents: _Object[] = [];
  for (const entry of list(root.Contents)) {
    if (typeof entry !== 'object') continue;
    const o: _Object = {};
    const key = text(entry.Key);
    if (key !== undefined) o.Key = key;
    const modified = text(entry.LastModified);
    if (modified !== undefined) o.LastModified = new Date(modified);
    const etag = text(entry.ETag);
    if (etag !== undefined) o.ETag = etag;
    const size = num(entry.Size);
    if (size !== undefined) o.Size = size;
    const storage = text(entry.StorageClass);
    if (storage !== undefined) o.StorageClass = storage as _Object['StorageClass'];
    contents.push(o);
  }
  const prefixes: CommonPrefix[] = [];
  for (const entry of list(root.CommonPrefixes)) {
    if (typeof entry !== 'object') continue;
    const p = text(entry.Prefix);
    prefixes.push(p === undefined ? {} : { Prefix: p });
  }
  const out: ListObjectsV2CommandOutput = { $metadata: meta };
  const truncated = text(root.IsTruncated);
  if (truncated !== undefined) out.IsTruncated = truncated === 'true';
  if (contents.length > 0) out.Contents = contents;
  if (prefixes.length > 0) out.CommonPrefixes = prefixes;
  for (const field of ['Name', 'Prefix', 'Delimiter', 'ContinuationToken', 'StartAfter'] as const) {
    const v = text(root[field]);
    if (v !== undefined) out[field] = v;
  }
  const token = text(root.NextContinuationToken);
  if (token !== undefined) out.NextContinuationToken = token;
  const keyCount = num(root.KeyCount);
  if (keyCount !== undefined) out.KeyCount = keyCount;
  const maxKeys = num(root.MaxKeys);
  if (maxKeys !== undefined) out.MaxKeys = maxKeys;
  const encoding = text(root.EncodingType);
  if (encoding !== undefined) out.EncodingType = encoding as 'url';
  return { ...out, $metadata: meta };
}

/** An error as the SDK throws it for an S3 error response. */
export interface LaneServiceError extends Error {
  $fault: 'client' | 'server';
  $metadata: LaneMetadata;
  Code?: string;
  RequestId?: string;
  HostId?: string;
  /** The region the bucket is in, when the server says (a redirect). */
  BucketRegion?: string;
}

/**
 * The error of an error response: named by its S3 error code (the XML body's `Code`),
 * else `NotFound` for a 404 and `Unknown` otherwise, as the SDK names a response without
 * a body (a HEAD's).
 */
export function serviceError(
  statusCode: number,
  headers: ResponseHeaders,
  body: string,
): LaneServiceError {
  let fields: XmlNode = {};
  let unreadable = false;
  if (body.trim() !== '') {
    try {
      const root = rootOf(body);
      fields = typeof root.Error === 'object' && !Array.isArray(root.Error) ? root.Error : root;
    } catch {
      unreadable = true;
    }
  }
  const code = text(fields.Code);
  const name = code ?? (statusCode === 404 ? 'NotFound' : 'Unknown');
  const message = unreadable
    ? `the server's error response is not XML: ${JSON.stringify(body.slice(0, 200))}`
    : (text(fields.Message) ?? 'UnknownError');
  const error = new Error(message) as LaneServiceError;
  error.name = name;
  error.$fault = statusCode >= 500 ? 'server' : 'client';
  error.$metadata = metadataOf(statusCode, headers);
  if (code !== undefined) error.Code = code;
  const requestId = text(fields.RequestId);
  if (requestId !== undefined) error.RequestId = requestId;
  const hostId = text(fields.HostId);
  if (hostId !== undefined) error.HostId = hostId;
  const region = header(headers, 'x-amz-bucket-region') ?? text(fields.Region);
  if (region !== undefined) error.BucketRegion = region;
  return error;
}
