/**
 * Upload parameters: the content-type guess, the checks (a ConfigError at the call), the
 * merge with s3lync's metadata, and what a single PUT and a multipart upload send.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';

import { MIN_PART_SIZE, S3Object, type S3ObjectOptions } from '../../src/core.js';
import { ConfigError } from '../../src/exceptions.js';
import {
  checkUploadParams,
  guessContentType,
  paramsResolver,
  UNKNOWN_CONTENT_TYPE,
} from '../../src/upload-params-check.js';
import { withOwnMetadata, type UploadParams } from '../../src/upload-params.js';
import { useMockedS3 } from './mocked-s3.js';

describe('guessContentType', () => {
  it.each([
    ['index.html', 'text/html'],
    ['site/style.css', 'text/css'],
    ['app.js', 'text/javascript'],
    ['data.json', 'application/json'],
    ['logo.svg', 'image/svg+xml'],
    ['a/b/photo.PNG', 'image/png'],
    ['mod.wasm', 'application/wasm'],
    ['archive.tar.gz', 'application/gzip'],
  ])('%s is %s', (name, type) => {
    expect(guessContentType(name)).toBe(type);
  });

  it.each(['blob.s3lync-unknown', 'Makefile', 'dir/.bashrc', 'noext'])(
    '%s, an unknown extension, is application/octet-stream',
    (name) => {
      expect(guessContentType(name)).toBe(UNKNOWN_CONTENT_TYPE);
    },
  );
});

describe('checkUploadParams', () => {
  const expires = new Date('2030-01-01T00:00:00Z');

  it('accepts every parameter and encodes the tags', () => {
    expect(
      checkUploadParams(
        {
          ContentType: 'text/plain; charset=utf-8',
          CacheControl: 'max-age=60',
          ContentEncoding: 'gzip',
          ContentDisposition: 'attachment; filename="a b.txt"',
          ContentLanguage: 'ko',
          Expires: expires,
          Metadata: { team: 'data', 'x-y': 'z' },
          Tagging: { team: 'data & ml', tier: 'hot' },
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: 'arn:aws:kms:eu-west-1:1:key/abc',
          StorageClass: 'STANDARD_IA',
          ACL: 'public-read',
        } satisfies UploadParams,
        'uploadParams',
      ),
    ).toEqual({
      ContentType: 'text/plain; charset=utf-8',
      CacheControl: 'max-age=60',
      ContentEncoding: 'gzip',
      ContentDisposition: 'attachment; filename="a b.txt"',
      ContentLanguage: 'ko',
      Expires: expires,
      Metadata: { team: 'data', 'x-y': 'z' },
      Tagging: 'team=data%20%26%20ml&tier=hot',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'arn:aws:kms:eu-west-1:1:key/abc',
      StorageClass: 'STANDARD_IA',
      ACL: 'public-read',
    });
  });

  it('takes tags URL-encoded too', () => {
    expect(checkUploadParams({ Tagging: 'a=1&b=x%20y' }, 'p').Tagging).toBe('a=1&b=x%20y');
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown field', { CacheControll: 'x' }, /Unknown option `CacheControll`/],
    ['a lower-case field name', { contentType: 'text/plain' }, /Unknown option `contentType`/],
    ['a content type without a subtype', { ContentType: 'html' }, /ContentType.*media type/],
    ['a header split by CR LF', { CacheControl: 'a\r\nx-amz-acl: public-read' }, /CacheControl/],
    ['an empty header', { ContentLanguage: ' ' }, /ContentLanguage/],
    [
      'a non-ASCII header',
      { ContentDisposition: 'attachment; filename="한.txt"' },
      /ContentDisposition/,
    ],
    ['an invalid date', { Expires: new Date('nope') }, /Expires.*valid Date/],
    ['a date as a string', { Expires: '2030-01-01' }, /Expires/],
    ["s3lync's fingerprint", { Metadata: { 's3lync-md5': 'x' } }, /s3lync's own/],
    ["s3lync's names in any case", { Metadata: { 'S3lync-Part-Size': '5' } }, /s3lync's own/],
    ['a metadata name that is no token', { Metadata: { 'a b': 'x' } }, /Metadata/],
    ['a metadata value that is no string', { Metadata: { a: 1 } }, /Metadata\.a/],
    ["metadata over 2 KiB with s3lync's", { Metadata: { a: 'x'.repeat(1990) } }, /S3 allows 2048/],
    [
      '11 tags',
      { Tagging: Object.fromEntries([...Array(11).keys()].map((i) => [`k${i}`, 'v'])) },
      /at most 10 tags/,
    ],
    ['a tag value over 256 characters', { Tagging: { a: 'x'.repeat(257) } }, /Tagging\.a/],
    ['a repeated tag key', { Tagging: 'a=1&a=2' }, /distinct keys/],
    ['a broken URL encoding', { Tagging: 'a=%E0%A4%A' }, /URL-encoded/],
    [
      'an unknown encryption',
      { ServerSideEncryption: 'aes256' },
      /ServerSideEncryption.*AES256, aws:kms/,
    ],
    [
      'a KMS key without KMS',
      { ServerSideEncryption: 'AES256', SSEKMSKeyId: 'k' },
      /needs `ServerSideEncryption`/,
    ],
    ['a KMS key alone', { SSEKMSKeyId: 'k' }, /needs `ServerSideEncryption`/],
    ['a lower-case storage class', { StorageClass: 'standard' }, /StorageClass/],
    ['an unknown canned ACL', { ACL: 'public' }, /ACL.*public-read/],
    ['an array', [], /to be an object/],
  ])('refuses %s with a ConfigError', (_what, params, message) => {
    expect(() => checkUploadParams(params, 'uploadParams')).toThrow(ConfigError);
    expect(() => checkUploadParams(params, 'uploadParams')).toThrow(message);
  });
});

describe('paramsResolver', () => {
  it("guesses the content type from the key, under the user's own", () => {
    const resolve = paramsResolver({ CacheControl: 'no-cache' }, true);
    expect(resolve('site/index.html', '/tmp/x')).toEqual({
      CacheControl: 'no-cache',
      ContentType: 'text/html',
    });
    expect(paramsResolver({ ContentType: 'text/plain' }, true)('a.html', '/x').ContentType).toBe(
      'text/plain',
    );
    expect(paramsResolver(undefined, false)('a.html', '/x')).toEqual({});
  });

  it('asks a function for each file and checks what it returns', () => {
    const seen: unknown[] = [];
    const resolve = paramsResolver((file) => {
      seen.push(file);
      return file.key.endsWith('.gz') ? { ContentEncoding: 'gzip' } : undefined;
    }, true);
    expect(resolve('p/a.js.gz', '/l/a.js.gz')).toEqual({
      ContentEncoding: 'gzip',
      ContentType: 'application/gzip',
    });
    expect(resolve('p/b.css', '/l/b.css')).toEqual({ ContentType: 'text/css' });
    expect(seen).toEqual([
      { key: 'p/a.js.gz', localPath: '/l/a.js.gz' },
      { key: 'p/b.css', localPath: '/l/b.css' },
    ]);
    const bad = paramsResolver(() => ({ ACL: 'nope' }), true);
    expect(() => bad('k', '/l')).toThrow(/`ACL` in the `uploadParams` of k/);
  });

  it("merges s3lync's metadata over the user's, losing neither", () => {
    expect(withOwnMetadata({ Metadata: { team: 'a' } }, { 's3lync-md5': 'f' })).toEqual({
      team: 'a',
      's3lync-md5': 'f',
    });
    expect(withOwnMetadata(undefined, { 's3lync-md5': 'f' })).toEqual({ 's3lync-md5': 'f' });
  });
});

describe('S3Object with upload parameters', () => {
  const mocked = useMockedS3('params-test');
  const { sdk, s3 } = mocked;

  const object = (uri: string, localPath: string, options: S3ObjectOptions = {}): S3Object =>
    new S3Object(uri, {
      client: sdk,
      localPath,
      progressMode: 'disabled',
      hashIndex: false,
      retry: { maxAttempts: 1 },
      ...options,
    });

  it('refuses invalid parameters when the object is made, and in a call before any request', async () => {
    const file = path.join(mocked.dir, 'a.html');
    await writeFile(file, 'x');
    expect(() =>
      object('s3://bucket/a.html', file, { uploadParams: { ACL: 'open' as 'private' } }),
    ).toThrow(ConfigError);
    expect(() =>
      object('s3://bucket/a.html', file, { guessContentType: 'no' as unknown as boolean }),
    ).toThrow(/guessContentType/);
    expect(() => object('s3://bucket/p/', mocked.dir, { filters: [{ exclude: '' }] })).toThrow(
      /filters/,
    );
    const obj = object('s3://bucket/a.html', file);
    await expect(obj.upload({ uploadParams: { Metadata: { 's3lync-md5': 'x' } } })).rejects.toThrow(
      ConfigError,
    );
    await expect(obj.upload({ filters: [{ exclude: '*', include: 'x' }] })).rejects.toThrow(
      /filters/,
    );
    expect(s3.calls()).toHaveLength(0);
  });

  it("sends the guessed type and the parameters with a PUT, s3lync's metadata kept", async () => {
    const file = path.join(mocked.dir, 'page.html');
    await writeFile(file, '<p>hi</p>');
    s3.on(HeadObjectCommand).rejects({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    s3.on(PutObjectCommand).resolves({ ETag: '"b9d4fd3e12c2b1b6c3f8ffb0c3b6c6f2"' });
    const obj = object('s3://bucket/site/page.html', file, {
      uploadParams: { CacheControl: 'max-age=60', Metadata: { team: 'web' }, Tagging: { a: 'b' } },
    });
    await obj.upload().catch(() => undefined);
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input?.ContentType).toBe('text/html');
    expect(input?.CacheControl).toBe('max-age=60');
    expect(input?.Tagging).toBe('a=b');
    expect(input?.Metadata).toEqual({ team: 'web', 's3lync-md5': expect.any(String) as string });
  });

  it("a call's parameters replace the object's, and guessContentType: false sends no type", async () => {
    const file = path.join(mocked.dir, 'page.html');
    await writeFile(file, 'x');
    s3.on(HeadObjectCommand).rejects({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    s3.on(PutObjectCommand).resolves({ ETag: '"9dd4e461268c8034f5c8564e155c67a6"' });
    const obj = object('s3://bucket/page.html', file, { uploadParams: { CacheControl: 'a' } });
    await obj.upload({ uploadParams: { ContentLanguage: 'en' }, guessContentType: false });
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input?.ContentType).toBeUndefined();
    expect(input?.CacheControl).toBeUndefined();
    expect(input?.ContentLanguage).toBe('en');
  });

  it('sends them with CreateMultipartUpload, with the part size and without touching the parts', async () => {
    const file = path.join(mocked.dir, 'big.wasm');
    await writeFile(file, Buffer.alloc(MIN_PART_SIZE + 1));
    s3.on(HeadObjectCommand).rejects({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u' });
    s3.on(UploadPartCommand).resolves({ ETag: '"x"' });
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '' });
    const obj = object('s3://bucket/big.wasm', file, {
      multipartThreshold: 0,
      partSize: MIN_PART_SIZE,
      uploadParams: ({ key }) => ({
        StorageClass: 'STANDARD_IA',
        ServerSideEncryption: 'AES256',
        Metadata: { key },
      }),
    });
    await obj.upload().catch(() => undefined);
    const input = s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      ContentType: 'application/wasm',
      StorageClass: 'STANDARD_IA',
      ServerSideEncryption: 'AES256',
      Metadata: { key: 'big.wasm', 's3lync-part-size': String(MIN_PART_SIZE) },
    });
    const part = s3.commandCalls(UploadPartCommand)[0]?.args[0].input;
    expect(Object.keys(part ?? {})).not.toContain('StorageClass');
    expect(Object.keys(part ?? {})).not.toContain('ContentType');
  });

  it('a tree upload sends each file its own guessed type', async () => {
    await writeFile(path.join(mocked.dir, 'a.css'), 'a');
    await writeFile(path.join(mocked.dir, 'b.json'), '{}');
    await writeFile(path.join(mocked.dir, 'c.s3lync-unknown'), 'c');
    s3.on(ListObjectsV2Command).resolves({ Contents: [], KeyCount: 0 });
    s3.on(PutObjectCommand).callsFake((input: { Body: unknown; ContentMD5?: string }) => ({
      ETag: `"${Buffer.from(input.ContentMD5 ?? '', 'base64').toString('hex')}"`,
    }));
    await object('s3://bucket/site/', mocked.dir).upload();
    const types: Record<string, string | undefined> = {};
    for (const c of s3.commandCalls(PutObjectCommand)) {
      types[c.args[0].input.Key ?? ''] = c.args[0].input.ContentType;
    }
    expect(types).toEqual({
      'site/a.css': 'text/css',
      'site/b.json': 'application/json',
      'site/c.s3lync-unknown': 'application/octet-stream',
    });
  });
});
