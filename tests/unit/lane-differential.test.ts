/**
 * The data lane against the SDK, request by request, with no network: for a matrix of
 * operations, keys and parameters, the request the lane signs must equal the request the
 * SDK builds for the same call at the same clock (method, URL, every signed header, the
 * signature). The SDK's side goes through s3lync's SDK transport, as s3lync sends it; its
 * bookkeeping headers (user agent, invocation id, attempt count), which the lane does not
 * send, are removed before it signs.
 */
import {
  S3Client,
  type GetObjectCommandInput,
  type HeadObjectCommandInput,
  type ListObjectsV2CommandInput,
  type PutObjectCommandInput,
  type UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { createS3Client } from '../../src/client.js';
import { DataLane } from '../../src/client/lane.js';
import { resolveRoute } from '../../src/client/lane/endpoint.js';
import {
  listRequest,
  objectReadRequest,
  putObjectRequest,
  queryString,
  uploadPartRequest,
  type BucketRoute,
  type LaneRequest,
} from '../../src/client/lane/request.js';
import { sdkTransport, type Transport } from '../../src/client/transport.js';
import { CustomerKey } from '../../src/sse-c.js';

const NOW = new Date('2026-12-07T03:04:05.000Z');
/** The SSE-C fields of a key, as an object with `sseCustomerKey` sends them. */
const SSE_C = CustomerKey.of(Buffer.from('0123456789abcdef0123456789ABCDEF'), 'the key').fields;
const BOOKKEEPING = ['x-amz-user-agent', 'amz-sdk-invocation-id', 'amz-sdk-request'];

interface Seen {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

/** An SDK client configured as s3lync builds them, whose requests are captured, not sent. */
function capturingClient(config: { endpoint?: string; region: string; sessionToken?: string }): {
  sdk: S3Client;
  seen: Seen[];
} {
  const seen: Seen[] = [];
  const sdk = createS3Client({
    ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    region: config.region,
    credentials: {
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    },
    retry: { maxAttempts: 1 },
    dataLane: false,
    requestHandler: {
      handle: (request: Seen) => {
        seen.push({ ...request, headers: { ...request.headers }, query: { ...request.query } });
        return Promise.resolve({
          response: { statusCode: 200, headers: {}, body: Readable.from([]) },
        });
      },
    },
  });
  if (config.sessionToken !== undefined) {
    const token = config.sessionToken;
    sdk.config.credentials = () =>
      Promise.resolve({
        accessKeyId: 'ASIAEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        sessionToken: token,
      });
  }
  const drop =
    (next: (args: unknown) => Promise<unknown>) =>
    (args: { request: { headers: Record<string, string> } }): Promise<unknown> => {
      for (const name of BOOKKEEPING) Reflect.deleteProperty(args.request.headers, name);
      return next(args);
    };
  sdk.middlewareStack.addRelativeTo(drop as never, {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 'dropBookkeeping',
  });
  return { sdk, seen };
}

type Case =
  | { op: 'head'; input: HeadObjectCommandInput }
  | { op: 'get'; input: GetObjectCommandInput }
  | { op: 'put'; input: PutObjectCommandInput }
  | { op: 'part'; input: UploadPartCommandInput }
  | { op: 'list'; input: ListObjectsV2CommandInput };

const KEYS = [
  'plain.txt',
  'with space.txt',
  'a+b=c&d',
  '100%done',
  'what?x=1',
  'hash#tag',
  'tilde~name',
  'double//slash',
  '/leading-slash',
  'trailing/',
  'unicode/é/日本語/😀',
  "quote'paren()*!",
  'semi;colon,comma:@$',
  ' leading space',
  '.hidden/..dots/.',
  'x'.repeat(1024),
];

function cases(bucket: string): Case[] {
  const out: Case[] = [];
  const md5 = 'XrY7u+Ae7tCTyyK7j1rNww==';
  for (const Key of KEYS) {
    out.push({ op: 'head', input: { Bucket: bucket, Key } });
    out.push({ op: 'get', input: { Bucket: bucket, Key } });
    out.push({
      op: 'put',
      input: {
        Bucket: bucket,
        Key,
        Body: Buffer.from('hello world'),
        ContentLength: 11,
        ContentMD5: md5,
      },
    });
  }
  const Key = 'dir/a b+c%d';
  out.push(
    { op: 'head', input: { Bucket: bucket, Key, ChecksumMode: 'ENABLED', PartNumber: 2 } },
    { op: 'head', input: { Bucket: bucket, Key, IfMatch: '"0123abcd"', VersionId: 'v+1/=' } },
    { op: 'head', input: { Bucket: bucket, Key, IfNoneMatch: '"0123abcd"' } },
    {
      op: 'get',
      input: {
        Bucket: bucket,
        Key,
        ChecksumMode: 'ENABLED',
        IfMatch: '"e-2"',
        Range: 'bytes=0-1023',
      },
    },
    { op: 'get', input: { Bucket: bucket, Key, Range: 'bytes=1024-', VersionId: 'null' } },
    {
      op: 'put',
      input: {
        Bucket: bucket,
        Key,
        Body: Buffer.alloc(0),
        ContentLength: 0,
        ContentMD5: '1B2M2Y8AsgTpgAmY7PhCfg==',
        Metadata: { 'S3lync-Md5': 'd41d8cd98f00b204e9800998ecf8427e', mixedCase: 'a b  c' },
        IfNoneMatch: '*',
      },
    },
    {
      op: 'put',
      input: {
        Bucket: bucket,
        Key,
        Body: Readable.from([Buffer.from('streamed')]),
        ContentLength: 8,
        ContentMD5: md5,
        IfMatch: '"abc"',
        ChecksumSHA256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
        ContentType: 'text/plain; charset=utf-8',
        CacheControl: 'max-age=60',
        StorageClass: 'STANDARD_IA',
      },
    },
    {
      // Every upload parameter the lane maps, as s3lync sends them (uploadParams).
      op: 'put',
      input: {
        Bucket: bucket,
        Key,
        Body: Buffer.from('streamed'),
        ContentLength: 8,
        ContentMD5: md5,
        ContentType: 'image/svg+xml',
        CacheControl: 'public, max-age=300',
        ContentDisposition: 'attachment; filename="a b.csv"',
        ContentEncoding: 'gzip',
        ContentLanguage: 'ko',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
        ACL: 'public-read',
        Tagging: 'tier=hot&owner=a%20b%26c',
        Metadata: { team: 'data', 's3lync-md5': 'd41d8cd98f00b204e9800998ecf8427e' },
      },
    },
    {
      op: 'part',
      input: {
        Bucket: bucket,
        Key,
        UploadId: 'upload+id/with=chars~',
        PartNumber: 7,
        Body: Buffer.from('part'),
        ContentLength: 4,
        ContentMD5: md5,
      },
    },
    // SSE-C as s3lync sends it (the object's `sseCustomerKey`), and a wrong MD5 the SDK replaces.
    { op: 'head', input: { Bucket: bucket, Key, ChecksumMode: 'ENABLED', ...SSE_C } },
    { op: 'get', input: { Bucket: bucket, Key, Range: 'bytes=0-1023', IfMatch: '"e"', ...SSE_C } },
    { op: 'get', input: { Bucket: bucket, Key, ...SSE_C, SSECustomerKeyMD5: md5 } },
    {
      op: 'put',
      input: {
        Bucket: bucket,
        Key,
        Body: Buffer.from('streamed'),
        ContentLength: 8,
        ContentMD5: md5,
        ContentType: 'text/html',
        Metadata: { 's3lync-md5': 'd41d8cd98f00b204e9800998ecf8427e' },
        ...SSE_C,
      },
    },
    {
      op: 'part',
      input: {
        Bucket: bucket,
        Key,
        UploadId: 'u',
        PartNumber: 1,
        Body: Buffer.from('part'),
        ContentLength: 4,
        ContentMD5: md5,
        ...SSE_C,
      },
    },
    { op: 'list', input: { Bucket: bucket, Prefix: '' } },
    { op: 'list', input: { Bucket: bucket, Prefix: 'dir/ a+b%/日本/', Delimiter: '/' } },
    {
      op: 'list',
      input: {
        Bucket: bucket,
        Prefix: 'p',
        ContinuationToken: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
        MaxKeys: 1,
      },
    },
    { op: 'list', input: { Bucket: bucket, StartAfter: 'k~ey?', FetchOwner: true } },
  );
  return out;
}

function laneRequest(route: BucketRoute, c: Case): LaneRequest | undefined {
  switch (c.op) {
    case 'head':
      return objectReadRequest(route, 'HEAD', c.input);
    case 'get':
      return objectReadRequest(route, 'GET', c.input);
    case 'put':
      return putObjectRequest(route, c.input);
    case 'part':
      return uploadPartRequest(route, c.input);
    case 'list':
      return listRequest(route, c.input);
  }
}

async function sendSdk(transport: Transport, c: Case): Promise<void> {
  switch (c.op) {
    case 'head':
      await transport.headObject(c.input);
      return;
    case 'get':
      await transport.getObject(c.input);
      return;
    case 'put':
      await transport.putObject(c.input);
      return;
    case 'part':
      await transport.uploadPart(c.input);
      return;
    case 'list':
      await transport.listObjectsV2(c.input);
  }
}

/** The SDK's request as the lane would send it: the same fields, the query as a URL. */
function comparable(r: Seen | LaneRequest): Record<string, unknown> {
  const headers = { ...r.headers };
  delete headers['user-agent'];
  return {
    method: r.method,
    url: `${r.protocol}//${r.hostname}${r.port === undefined ? '' : `:${r.port}`}${r.path}`,
    query: new URLSearchParams(queryString(r.query)).toString().split('&').sort(),
    headers,
  };
}

const CONFIGS = [
  {
    name: 'a custom endpoint (path style)',
    endpoint: 'http://127.0.0.1:7480',
    region: 'us-east-1',
    bucket: 'bench',
  },
  { name: 'AWS (virtual host)', region: 'eu-west-1', bucket: 'my-bucket' },
  {
    name: 'AWS, a bucket with dots (path style)',
    region: 'ap-northeast-2',
    bucket: 'my.dotted.bucket',
  },
  {
    name: 'AWS with a session token',
    region: 'us-west-2',
    bucket: 'tokened',
    sessionToken: 'FwoGZXIvYXdzEXAMPLE+/=',
  },
];

describe('the data lane builds the request the SDK builds', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const config of CONFIGS) {
    it(`for every case of the matrix, on ${config.name}`, async () => {
      const { sdk, seen } = capturingClient(config);
      const transport = sdkTransport(sdk);
      const route = await resolveRoute(sdk, config.bucket);
      if ('sdkOnly' in route) throw new Error(`no route: ${route.sdkOnly}`);
      const lane = new DataLane(sdk, {
        timeouts: { connectMs: 1000, idleMs: 1000 },
        connections: 1,
      });
      try {
        for (const c of cases(config.bucket)) {
          seen.length = 0;
          await sendSdk(transport, c);
          expect(seen).toHaveLength(1);
          const built = laneRequest(route, c);
          expect(built, `${c.op} ${JSON.stringify({ ...c.input, Body: undefined })}`).toBeDefined();
          const signed = await lane.sign(route, built as LaneRequest);
          const want = comparable(seen[0] as Seen);
          if (config.sessionToken !== undefined) {
            expect(want.headers).toHaveProperty('x-amz-security-token', config.sessionToken);
          }
          expect(
            comparable(signed),
            `${c.op} ${JSON.stringify({ ...c.input, Body: undefined })}`,
          ).toEqual(want);
        }
      } finally {
        lane.destroy();
        sdk.destroy();
      }
    });
  }

  it('leaves to the SDK what it cannot build: an unknown field, an ARN, S3 Express, SDK checksums', async () => {
    const { sdk } = capturingClient({ region: 'eu-west-1' });
    const route = await resolveRoute(sdk, 'plain-bucket');
    if ('sdkOnly' in route) throw new Error(route.sdkOnly);
    expect(
      objectReadRequest(route, 'GET', { Bucket: 'b', Key: 'k', ResponseContentType: 'x' }),
    ).toBeUndefined();
    // A key the SDK would re-encode (not the base64 of 32 bytes), or an MD5 without a key.
    expect(
      objectReadRequest(route, 'GET', { Bucket: 'b', Key: 'k', SSECustomerKey: 'x' }),
    ).toBeUndefined();
    expect(
      objectReadRequest(route, 'HEAD', {
        Bucket: 'b',
        Key: 'k',
        SSECustomerAlgorithm: 'AES256',
        SSECustomerKey: '0123456789abcdef0123456789ABCDEF',
      }),
    ).toBeUndefined();
    expect(
      objectReadRequest(route, 'HEAD', { Bucket: 'b', Key: 'k', SSECustomerKeyMD5: 'bQ==' }),
    ).toBeUndefined();
    expect(
      putObjectRequest(route, { Bucket: 'b', Key: 'k', Body: Buffer.from('x') }),
    ).toBeUndefined();
    // A Date (`Expires` of uploadParams): the SDK formats it.
    expect(
      putObjectRequest(route, {
        Bucket: 'b',
        Key: 'k',
        Body: Buffer.from('x'),
        ContentLength: 1,
        Expires: new Date(0),
      }),
    ).toBeUndefined();
    expect(
      putObjectRequest(
        { ...route, sdkChecksums: true },
        { Bucket: 'b', Key: 'k', Body: Buffer.from('x'), ContentLength: 1 },
      ),
    ).toBeUndefined();
    await expect(
      resolveRoute(sdk, 'arn:aws:s3:us-east-1:123456789012:accesspoint/ap'),
    ).resolves.toHaveProperty('sdkOnly');
    await expect(resolveRoute(sdk, 'bucket--usw2-az1--x-s3')).resolves.toHaveProperty('sdkOnly');
    const withChecksums = new S3Client({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const r = await resolveRoute(withChecksums, 'plain-bucket');
    expect(r).toMatchObject({ sdkChecksums: true });
    sdk.destroy();
    withChecksums.destroy();
  });
});
