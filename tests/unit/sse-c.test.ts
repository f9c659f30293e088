/**
 * SSE-C: the key's forms (as the SDK reads them), its MD5, that it is never echoed, the
 * upload parameters that carry it, the transport that adds it to every object request,
 * and that an SSE-C object's listed ETag is never compared with an MD5.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';

import { S3lyncClient } from '../../src/client.js';
import { withCustomerKey } from '../../src/client/sse-c.js';
import type { Transport } from '../../src/client/transport.js';
import { S3Object } from '../../src/core.js';
import { ConfigError } from '../../src/exceptions.js';
import { contentVerdict } from '../../src/plan.js';
import { CustomerKey, customerKeyBytes } from '../../src/sse-c.js';
import { checkUploadParams } from '../../src/upload-params-check.js';

const RAW = Buffer.from('0123456789abcdef0123456789ABCDEF');
const B64 = RAW.toString('base64');
const MD5 = createHash('md5').update(RAW).digest('base64');

describe('a customer key', () => {
  it('is 32 bytes, their base64, or a 32-character string, as the SDK reads it', () => {
    expect(customerKeyBytes(RAW)).toEqual(RAW);
    expect(customerKeyBytes(B64)).toEqual(RAW);
    expect(customerKeyBytes(RAW.toString('utf8'))).toEqual(RAW);
    expect(customerKeyBytes(new Uint8Array(RAW))).toEqual(RAW);
    expect(customerKeyBytes('short')).toBeUndefined();
    expect(customerKeyBytes(Buffer.alloc(16))).toBeUndefined();
    expect(CustomerKey.of(B64, 'k').fields).toEqual({
      SSECustomerAlgorithm: 'AES256',
      SSECustomerKey: B64,
      SSECustomerKeyMD5: MD5,
    });
  });

  it('is never echoed: not by String, JSON, inspect, nor a refusal', () => {
    const key = CustomerKey.of(RAW, 'k');
    const shown = [String(key), JSON.stringify({ key }), inspect({ key }, { depth: 9 })].join(' ');
    expect(shown).not.toContain(B64);
    expect(shown).not.toContain(RAW.toString('utf8'));
    const secret = 'not-a-key-but-a-secret-of-41-characters!!';
    expect(() => CustomerKey.of(secret, '`sseCustomerKey`')).toThrow(ConfigError);
    expect(() => CustomerKey.of(secret, '`sseCustomerKey`')).toThrow(/got 41 characters$/);
    try {
      CustomerKey.of(secret, '`sseCustomerKey`');
    } catch (error) {
      expect(inspect(error)).not.toContain(secret);
    }
  });

  it('an S3Object takes it, refuses a bad one without echoing it, and shows none', () => {
    const sdk = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const object = new S3Object('s3://bucket/k', { client: sdk, sseCustomerKey: B64 });
    expect(object.client.customerKey?.fields.SSECustomerKeyMD5).toBe(MD5);
    expect(inspect(object, { depth: 9 })).not.toContain(B64);
    const make = (): S3Object =>
      new S3Object('s3://bucket/k', { client: sdk, sseCustomerKey: 'x'.repeat(20) });
    expect(make).toThrow('Expected `sseCustomerKey` to be a 256-bit key');
    expect(make).not.toThrow('xxxx');
    sdk.destroy();
  });
});

describe('upload parameters with SSE-C', () => {
  it('take the key (the algorithm implied), never beside another encryption', () => {
    const sent = checkUploadParams({ SSECustomerKey: B64, SSECustomerAlgorithm: 'AES256' }, 'p');
    expect(sent.customerKey?.fields.SSECustomerKey).toBe(B64);
    expect(sent).not.toHaveProperty('SSECustomerKey');
    expect(checkUploadParams({ SSECustomerKey: RAW }, 'p').customerKey).toBeDefined();
    expect(() => checkUploadParams({ SSECustomerAlgorithm: 'AES256' }, 'p')).toThrow(
      'needs `SSECustomerKey`',
    );
    expect(() =>
      checkUploadParams({ SSECustomerKey: B64, SSECustomerAlgorithm: 'aws:kms' }, 'p'),
    ).toThrow(ConfigError);
    expect(() =>
      checkUploadParams({ SSECustomerKey: B64, ServerSideEncryption: 'AES256' }, 'p'),
    ).toThrow('excludes `ServerSideEncryption`');
    expect(() => checkUploadParams({ SSECustomerKey: 'short' }, 'p')).toThrow(
      'Expected `SSECustomerKey` in p to be a 256-bit key',
    );
  });
});

describe('the SSE-C transport', () => {
  it('adds the key to every object request, and marks a Complete as SSE-C', async () => {
    const inputs: Record<string, unknown> = {};
    const record =
      (name: string, out: object = {}) =>
      (input: unknown): Promise<never> => {
        inputs[name] = input;
        return Promise.resolve(out as never);
      };
    const plain = {
      headObject: record('head'),
      getObject: record('get'),
      putObject: record('put'),
      createMultipartUpload: record('create'),
      uploadPart: record('part'),
      completeMultipartUpload: record('complete', { ETag: '"x-2"' }),
      listObjectsV2: record('list'),
    } as unknown as Transport;
    const t = withCustomerKey(plain, CustomerKey.of(RAW, 'k'));
    const base = { Bucket: 'b', Key: 'k' };
    await t.headObject(base);
    await t.getObject({ ...base, Range: 'bytes=0-1' });
    await t.putObject(base);
    await t.createMultipartUpload(base);
    await t.uploadPart({ ...base, UploadId: 'u', PartNumber: 1 });
    const done = await t.completeMultipartUpload({ ...base, UploadId: 'u' });
    await t.listObjectsV2({ Bucket: 'b' });
    for (const name of ['head', 'get', 'put', 'create', 'part']) {
      expect(inputs[name], name).toMatchObject({ SSECustomerKey: B64, SSECustomerKeyMD5: MD5 });
    }
    expect(inputs.list).not.toHaveProperty('SSECustomerKey');
    expect(inputs.complete).not.toHaveProperty('SSECustomerKey');
    expect(done).toMatchObject({ ETag: '"x-2"', SSECustomerAlgorithm: 'AES256' });
  });

  it('a client keeps one keyed client per key', () => {
    const sdk = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const client = new S3lyncClient(sdk);
    const key = CustomerKey.of(RAW, 'k');
    const keyed = client.withCustomerKey(key);
    expect(keyed.customerKey).toBe(key);
    expect(client.withCustomerKey(key)).toBe(keyed);
    expect(keyed.withCustomerKey(CustomerKey.of(B64, 'k'))).toBe(keyed);
    sdk.destroy();
  });
});

describe('an SSE-C object in a listing', () => {
  const md5 = '5d41402abc4b2a76b9719d911017c592';
  const listed = { path: 'a', key: 'p/a', size: 5, etag: '"0cc175b9c0f1b6a831c399e269772661"' };

  it('its ETag is never compared with an MD5: unknown, not a mismatch', () => {
    expect(contentVerdict({ size: 5, md5 }, listed)).toBe('checksum');
    expect(contentVerdict({ size: 5, md5 }, { ...listed, opaqueEtag: true })).toBe('unknown');
    expect(
      contentVerdict({ size: 5, md5: listed.etag.slice(1, -1) }, { ...listed, opaqueEtag: true }),
    ).toBe('unknown');
  });

  it('the index decides it: the ETag this file was synced with', () => {
    const known = { size: 5, md5, syncedEtag: listed.etag };
    expect(contentVerdict(known, { ...listed, opaqueEtag: true })).toBe('unchanged');
    expect(contentVerdict(known, { ...listed, opaqueEtag: true, etag: '"other"' })).toBe('unknown');
  });
});
