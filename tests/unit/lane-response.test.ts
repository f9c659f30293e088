/**
 * The data lane's reading of responses against the SDK's deserializers: the same status,
 * headers and body give the same output fields, or an error of the same name, status and
 * fault, so the client's typed errors and verification cannot tell the paths apart.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';

import {
  listOutput,
  metadataOf,
  objectOutput,
  serviceError,
} from '../../src/client/lane/response.js';

interface Canned {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

let next: Canned = { status: 200, headers: {} };
const sdk = new S3Client({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:1',
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: {
    handle: () =>
      Promise.resolve({
        response: {
          statusCode: next.status,
          headers: next.headers,
          body: Readable.from(next.body === undefined ? [] : [Buffer.from(next.body)]),
        },
      }),
  },
});

const OBJECT_HEADERS = {
  'content-length': '12',
  etag: '"9b2cf535f27731c974343645a3985328"',
  'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
  'x-amz-meta-s3lync-md5': '9b2cf535f27731c974343645a3985328',
  'x-amz-meta-s3lync-part-size': '8388608',
  'x-amz-meta-other': 'a b',
  'x-amz-mp-parts-count': '3',
  'x-amz-checksum-crc32': 'AAAAAA==',
  'x-amz-checksum-type': 'FULL_OBJECT',
  'content-type': 'text/plain',
  'content-range': 'bytes 0-11/100',
  'x-amz-version-id': 'v1',
  'x-amz-server-side-encryption': 'aws:kms',
  'x-amz-server-side-encryption-aws-kms-key-id': 'kms-key',
  'accept-ranges': 'bytes',
  'x-amz-storage-class': 'STANDARD_IA',
  'cache-control': 'max-age=60',
  'x-amz-request-id': 'req-1',
  'x-amz-id-2': 'host-1',
};

async function sdkOutput(command: object, canned: Canned): Promise<Record<string, unknown>> {
  next = canned;
  const out = (await sdk.send(command as never)) as unknown as Record<string, unknown>;
  return Object.fromEntries(Object.entries(out).filter(([field]) => field !== 'Body'));
}

async function sdkError(command: object, canned: Canned): Promise<Record<string, unknown>> {
  next = canned;
  try {
    await sdk.send(command as never);
  } catch (e) {
    const error = e as Error & { $fault?: string; $metadata: { httpStatusCode?: number } };
    return { name: error.name, status: error.$metadata.httpStatusCode, fault: error.$fault };
  }
  throw new Error('the SDK did not throw');
}

const head = new HeadObjectCommand({ Bucket: 'b', Key: 'k' });
const get = new GetObjectCommand({ Bucket: 'b', Key: 'k' });
const put = new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' });

describe("the data lane reads responses as the SDK's deserializers do", () => {
  it('HeadObject and GetObject outputs', async () => {
    for (const command of [head, get]) {
      const want = await sdkOutput(command, { status: 200, headers: OBJECT_HEADERS });
      expect(objectOutput(200, OBJECT_HEADERS, 'read')).toEqual(want);
    }
    const bare = { 'content-length': '0' };
    expect(objectOutput(200, bare, 'read')).toEqual(
      await sdkOutput(head, { status: 200, headers: bare }),
    );
  });

  it('PutObject outputs', async () => {
    const headers = {
      etag: '"abc"',
      'x-amz-version-id': 'v2',
      'x-amz-checksum-sha256': 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
      'x-amz-server-side-encryption': 'AES256',
      'content-length': '0',
    };
    const want = await sdkOutput(put, { status: 200, headers });
    expect(objectOutput(200, headers, 'write')).toEqual(want);
  });

  it('ListObjectsV2 pages, with entities, empty elements, one or many entries', async () => {
    const pages = [
      `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key> a&amp;b&#13;c&lt;d&gt; </Key><LastModified>2026-12-07T02:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>4</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes></ListBucketResult>`,
      `<ListBucketResult><Name>b</Name><Prefix>p/</Prefix><Delimiter>/</Delimiter><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><ContinuationToken>t0</ContinuationToken><NextContinuationToken>1ue+/=</NextContinuationToken>
  <Contents><Key>p/1</Key><LastModified>2026-12-07T02:00:00.000Z</LastModified><ETag>"e-2"</ETag><Size>0</Size></Contents>
  <Contents><Key>p/日本 😀</Key><LastModified>2026-12-07T02:00:01.000Z</LastModified><ETag>"f"</ETag><Size>12345678901</Size></Contents>
  <CommonPrefixes><Prefix>p/a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>p/b/</Prefix></CommonPrefixes></ListBucketResult>`,
      `<ListBucketResult><Name>b</Name><Prefix>none/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`,
    ];
    for (const body of pages) {
      const want = await sdkOutput(new ListObjectsV2Command({ Bucket: 'b' }), {
        status: 200,
        headers: {},
        body,
      });
      expect(listOutput(body, metadataOf(200, {}))).toEqual(want);
    }
  });

  it('errors: with an S3 error document, and without a body (HEAD)', async () => {
    const cases: [object, Canned][] = [
      [head, { status: 404, headers: { 'x-amz-request-id': 'r' } }],
      [head, { status: 403, headers: {} }],
      [head, { status: 412, headers: {} }],
      [head, { status: 503, headers: {} }],
      [
        get,
        {
          status: 404,
          headers: {},
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><RequestId>tx1</RequestId></Error>',
        },
      ],
      [
        get,
        {
          status: 403,
          headers: {},
          body: '<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>',
        },
      ],
      [get, { status: 412, headers: {}, body: '<Error><Code>PreconditionFailed</Code></Error>' }],
      [
        get,
        {
          status: 503,
          headers: {},
          body: '<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>',
        },
      ],
      [
        get,
        {
          status: 301,
          headers: {},
          body: '<Error><Code>PermanentRedirect</Code><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint></Error>',
        },
      ],
    ];
    for (const [command, canned] of cases) {
      const want = await sdkError(command, canned);
      const got = serviceError(canned.status, canned.headers, canned.body ?? '');
      expect({ name: got.name, status: got.$metadata.httpStatusCode, fault: got.$fault }).toEqual(
        want,
      );
    }
  });
});
