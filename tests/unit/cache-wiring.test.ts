/**
 * The cache's wiring over a mocked client: what the conditional GET sends and how a 304
 * is read, pinned versions on the wire, offline and stale-if-error refusals and fallbacks,
 * and the pure rules (the `?versionId=` URI, the options, which errors are "unreachable").
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type GetObjectCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { describe, expect, it } from 'vitest';

import { isNotModified } from '../../src/client/errors.js';
import { readEnvConfig } from '../../src/config.js';
import {
  AccessDeniedError,
  ConfigError,
  InvalidUriError,
  NotFoundError,
  OfflineError,
  PinnedVersionError,
  S3Object,
  S3ObjectError,
  S3TimeoutError,
  formatS3Uri,
  parseS3Uri,
  type S3ObjectOptions,
} from '../../src/index.js';
import { isUnreachable } from '../../src/sync/unreachable.js';
import { notModified, useMockedS3 } from './mocked-s3.js';

const mocked = useMockedS3('cache');
const { sdk, s3 } = mocked;

const md5 = (data: string): string => createHash('md5').update(data).digest('hex');

function object(options: S3ObjectOptions = {}, uri = 's3://bucket/dir/obj.txt'): S3Object {
  return new S3Object(uri, {
    client: sdk,
    localPath: path.join(mocked.dir, 'obj.txt'),
    hashIndex: path.join(mocked.dir, 'index'),
    progressMode: 'disabled',
    retry: { maxAttempts: 1 },
    ...options,
  });
}

/** A server holding `content` that honours If-None-Match. */
function serve(content: { body: string }): void {
  const meta = (): { ContentLength: number; ETag: string; LastModified: Date } => ({
    ContentLength: Buffer.byteLength(content.body),
    ETag: `"${md5(content.body)}"`,
    LastModified: new Date(Date.now() - 60_000),
  });
  s3.on(HeadObjectCommand).callsFake(meta);
  s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    if (input.IfNoneMatch === meta().ETag) throw notModified();
    return { ...meta(), Body: sdkStreamMixin(Readable.from([Buffer.from(content.body)])) };
  });
}

const gets = (): GetObjectCommandInput[] =>
  s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input);

describe('revalidation in one request', () => {
  it('sends If-None-Match with the ETag the index trusts; a 304 moves nothing', async () => {
    const content = { body: 'hello' };
    serve(content);
    const obj = object();
    await obj.download();
    s3.resetHistory();
    const result = await obj.sync('download');
    expect(result).toMatchObject({ unchanged: 1, transferred: 0, etag: md5('hello') });
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
    expect(gets().map((g) => g.IfNoneMatch)).toEqual([`"${md5('hello')}"`]);
  });

  it('a 200 brings the new bytes, verified and recorded; the next call is a 304', async () => {
    const content = { body: 'one' };
    serve(content);
    const obj = object();
    await obj.download();
    content.body = 'two, changed';
    s3.resetHistory();
    expect(await obj.sync('download')).toMatchObject({ transferred: 1, etag: md5(content.body) });
    expect(await readFile(obj.localPath, 'utf8')).toBe('two, changed');
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
    s3.resetHistory();
    expect(await obj.sync('download')).toMatchObject({ unchanged: 1 });
    expect(gets().map((g) => g.IfNoneMatch)).toEqual([`"${md5('two, changed')}"`]);
  });

  it('a 404 goes the usual way: the key may be a prefix', async () => {
    const content = { body: 'file' };
    serve(content);
    const obj = object();
    await obj.download();
    s3.reset();
    s3.on(GetObjectCommand).rejects(
      Object.assign(new Error('NoSuchKey'), {
        name: 'NoSuchKey',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), {
        name: 'NotFound',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0, Contents: [] });
    await expect(obj.download()).rejects.toBeInstanceOf(NotFoundError);
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(1);
  });

  it('a file the index does not trust goes the usual way (HEAD, then GET)', async () => {
    serve({ body: 'remote' });
    const obj = object();
    await writeFile(obj.localPath, 'mine');
    await obj.download();
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(1);
    expect(gets().map((g) => g.IfNoneMatch)).toEqual([undefined]);
  });

  it('reads a 304 from either transport as an answer', () => {
    expect(isNotModified(notModified())).toBe(true);
    expect(isNotModified({ name: 'NotModified', $metadata: {} })).toBe(true);
    expect(isNotModified({ name: 'Unknown', $metadata: { httpStatusCode: 412 } })).toBe(false);
  });
});

describe('pinned versions', () => {
  it('parses ?versionId= off the key, and formats it back', () => {
    const parsed = parseS3Uri('s3://bucket/a/b.bin?versionId=3%2Fx_y.z');
    expect(parsed).toMatchObject({ bucket: 'bucket', key: 'a/b.bin', versionId: '3/x_y.z' });
    expect(formatS3Uri(parsed)).toBe('s3://bucket/a/b.bin?versionId=3%2Fx_y.z');
    // Any other "?" stays part of the key.
    expect(parseS3Uri('s3://bucket/a?b=c').key).toBe('a?b=c');
    expect(parseS3Uri('s3://bucket/a?versionId=').key).toBe('a?versionId=');
    expect(() => parseS3Uri('s3://bucket/dir/?versionId=v1')).toThrow(InvalidUriError);
  });

  it('checks the option against the URI', () => {
    expect(object({ versionId: 'v1' }).versionId).toBe('v1');
    expect(object({}, 's3://bucket/k?versionId=v2').key).toBe('k');
    expect(() => object({ versionId: 'v1' }, 's3://bucket/k?versionId=v2')).toThrow(ConfigError);
    expect(() => object({ versionId: '' })).toThrow(ConfigError);
  });

  it('GETs the version (no HEAD), then serves it with no request', async () => {
    serve({ body: 'v1 bytes' });
    const obj = object({ versionId: 'v1' });
    await obj.download();
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
    expect(gets().map((g) => g.VersionId)).toEqual(['v1']);
    s3.resetHistory();
    expect(await obj.sync('download')).toMatchObject({ servedFromCache: 'pinned', unchanged: 1 });
    expect(s3.calls()).toHaveLength(0);
  });

  it('refuses every write before a request', async () => {
    const obj = object({ versionId: 'v1' });
    await writeFile(obj.localPath, 'x');
    await expect(obj.upload()).rejects.toBeInstanceOf(PinnedVersionError);
    await expect(obj.open('w')).rejects.toBeInstanceOf(PinnedVersionError);
    await expect(obj.open('r+')).rejects.toBeInstanceOf(PinnedVersionError);
    await expect(obj.delete()).rejects.toBeInstanceOf(PinnedVersionError);
    expect(s3.calls()).toHaveLength(0);
  });
});

describe('offline, maxAge and staleIfError', () => {
  it('reads S3LYNC_OFFLINE as a flag', () => {
    expect(readEnvConfig({ S3LYNC_OFFLINE: '1' }).offline).toBe(true);
    expect(readEnvConfig({ S3LYNC_OFFLINE: 'off' }).offline).toBe(false);
    expect(readEnvConfig({}).offline).toBeUndefined();
    expect(() => readEnvConfig({ S3LYNC_OFFLINE: 'maybe' })).toThrow(ConfigError);
  });

  it('checks the options', () => {
    expect(() => object({ maxAge: -1 })).toThrow('Expected `maxAge` to be a number of ms >= 0');
    expect(() => object({ offline: 'yes' as never })).toThrow('Expected `offline` to be a boolean');
    expect(() => object({ staleIfError: 1 as never })).toThrow(
      'Expected `staleIfError` to be a boolean',
    );
  });

  it('offline, a dry run is refused and a prefix is served from its directory', async () => {
    await expect(object({ offline: true }).download({ dryRun: true })).rejects.toBeInstanceOf(
      OfflineError,
    );
    const tree = object({ offline: true, localPath: mocked.dir }, 's3://bucket/dir/');
    expect(await tree.sync('download')).toMatchObject({ tree: true, servedFromCache: 'offline' });
    expect(s3.calls()).toHaveLength(0);
  });

  it('maxAge serves a checked copy with no request, and only that content', async () => {
    serve({ body: 'checked' });
    const obj = object({ maxAge: 60_000 });
    await obj.download();
    s3.resetHistory();
    expect(await obj.sync('download')).toMatchObject({ servedFromCache: 'max-age' });
    expect(s3.calls()).toHaveLength(0);
    // Changed locally: the index no longer vouches for it, so the server is asked.
    await writeFile(obj.localPath, 'edited');
    await obj.download();
    expect(s3.calls().length).toBeGreaterThan(0);
    expect(await readFile(obj.localPath, 'utf8')).toBe('checked');
  });

  it('maxAge never serves a copy checked as a pinned version', async () => {
    serve({ body: 'same bytes' });
    await object({ versionId: 'v1' }).download();
    s3.resetHistory();
    const latest = object({ maxAge: 60_000 });
    expect((await latest.sync('download')).servedFromCache).toBeUndefined();
    expect(gets()).toHaveLength(1);
    s3.resetHistory();
    expect(await latest.sync('download')).toMatchObject({ servedFromCache: 'max-age' });
    expect(s3.calls()).toHaveLength(0);
  });

  it('staleIfError covers timeouts, no response and 5xx, not 403, 404 or 412', () => {
    const sdkError = (status: number | undefined, name = 'X'): unknown =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    expect(isUnreachable(new S3TimeoutError('t'))).toBe(true);
    expect(isUnreachable(new S3ObjectError('5xx', { cause: sdkError(503, 'SlowDown') }))).toBe(
      true,
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(isUnreachable(new S3ObjectError('refused', { cause: refused }))).toBe(true);
    expect(isUnreachable(new AccessDeniedError('403', { cause: sdkError(403) }))).toBe(false);
    expect(isUnreachable(new NotFoundError('404', { cause: sdkError(404) }))).toBe(false);
    expect(isUnreachable(new S3ObjectError('400', { cause: sdkError(400) }))).toBe(false);
    expect(isUnreachable(new Error('plain'))).toBe(false);
  });
});
