/**
 * Faults between s3lync and radosgw, injected by a proxy on 127.0.0.1: transient faults are
 * retried within the budget, persistent ones fail with a clear error, and neither leaves a
 * corrupted file, a temp file or an orphaned multipart upload behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';

import {
  HashMismatchError,
  S3Object,
  S3ObjectError,
  SyncError,
  type S3ObjectOptions,
} from '../../src/index.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import {
  describeS3,
  getObject,
  headObject,
  md5,
  multipartEtagOf,
  requires,
  s3,
  escapeRegExp,
  uniqueKey,
  useBucket,
  useTempDir,
  putObject,
} from './helpers.js';
import { isTempName } from '../../src/utils.js';

const MiB = 1024 * 1024;

/** Every s3lync temp file under `dir`, relative. */
async function tempFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((e) => isTempName(path.basename(e)));
}

describeS3('faults between s3lync and radosgw, through a proxy', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let proxy: FaultProxy;
  let n = 0;

  beforeAll(async () => {
    proxy = await startFaultProxy({
      target: s3.endpoint,
      maxRequests: 2_000,
      maxLifetimeMs: 90_000,
    });
  });
  afterAll(async () => {
    await proxy.close();
  });
  beforeEach(() => {
    proxy.setRules([]);
  });

  /** An S3Object through the proxy, with fast retries, on a fresh local path. */
  function object(key: string, options: S3ObjectOptions = {}): S3Object {
    const uri = `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${proxy.endpoint}/${bucket.name}/${key}`;
    return new S3Object(uri, {
      localPath: path.join(tmp.path, `local-${++n}`),
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, 'index'),
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      ...options,
    });
  }

  /** Matches requests for exactly this key (path-style). */
  const keyPath = (key: string): RegExp => new RegExp(`^/${bucket.name}/${escapeRegExp(key)}$`);

  function rules(...list: FaultRule[]): void {
    proxy.setRules(list);
  }

  it('passes requests through unchanged (the signed Host header is accepted)', async () => {
    const key = uniqueKey('plain.txt');
    const obj = object(key);
    await writeFile(obj.localPath, 'through the proxy');
    await obj.upload();
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('through the proxy');
    const back = object(key);
    await back.download();
    expect(await readFile(back.localPath, 'utf8')).toBe('through the proxy');
    expect(proxy.requests.some((r) => r.method === 'GET' && keyPath(key).test(r.path))).toBe(true);
  });

  it('retries a transient 503 SlowDown on GET and downloads the right bytes', async () => {
    const key = uniqueKey('slowdown.bin');
    const data = randomBytes(64 * 1024);
    await putObject(bucket.client, bucket.name, key, data);
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'status', status: 503 },
      times: 2,
    });
    const obj = object(key);
    await obj.download();
    expect(proxy.applied(0)).toBe(2);
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('fails with an S3ObjectError naming the operation and attempts on a persistent 500', async () => {
    const key = uniqueKey('always-500.txt');
    await putObject(bucket.client, bucket.name, key, 'old version');
    const obj = object(key);
    await obj.download();
    await putObject(bucket.client, bucket.name, key, 'a newer version');
    rules({ match: { method: 'GET', path: keyPath(key) }, fault: { kind: 'status', status: 500 } });
    const error = await obj.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3ObjectError);
    expect((error as S3ObjectError).operation).toBe('GetObject');
    expect((error as S3ObjectError).message).toMatch(/GetObject .* after 3 attempts/);
    expect((error as S3ObjectError).statusCode).toBe(500);
    expect((error as S3ObjectError).code).toBe('InternalError');
    expect(proxy.applied(0)).toBe(3);
    expect(await readFile(obj.localPath, 'utf8')).toBe('old version');
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('retries a truncated GET body and lands the whole file', async () => {
    const key = uniqueKey('truncated.bin');
    const data = randomBytes(256 * 1024);
    await putObject(bucket.client, bucket.name, key, data);
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'truncate', afterBytes: 1000 },
      times: 1,
    });
    const obj = object(key);
    await obj.download();
    expect(proxy.applied(0)).toBe(1);
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('detects a corrupted GET body and retries it', async () => {
    const key = uniqueKey('corrupt-once.bin');
    const data = randomBytes(100 * 1024);
    await putObject(bucket.client, bucket.name, key, data);
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'corrupt', offset: 4321 },
      times: 1,
    });
    const obj = object(key);
    await obj.download();
    expect(proxy.applied(0)).toBe(1);
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('fails with HashMismatchError when every GET body is corrupted, keeping the old file', async () => {
    const key = uniqueKey('corrupt-always.bin');
    await putObject(bucket.client, bucket.name, key, 'the old good content');
    const obj = object(key);
    await obj.download();
    const fresh = randomBytes(50 * 1024);
    await putObject(bucket.client, bucket.name, key, fresh);
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'corrupt', offset: 0 },
      times: 99,
    });
    const error = await obj.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HashMismatchError);
    expect(proxy.applied(0)).toBe(3);
    expect(await readFile(obj.localPath, 'utf8')).toBe('the old good content');
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('retries a PUT whose connection is reset before the response headers', async () => {
    const key = uniqueKey('reset-put.txt');
    const obj = object(key);
    await writeFile(obj.localPath, 'uploaded despite a reset');
    rules({
      match: { method: 'PUT', path: keyPath(key) },
      fault: { kind: 'reset-before-headers' },
      times: 1,
    });
    await obj.upload();
    expect(proxy.applied(0)).toBe(1);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
      'uploaded despite a reset',
    );
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('retries a GET whose connection is reset after the response headers', async () => {
    const key = uniqueKey('reset-get.bin');
    const data = randomBytes(32 * 1024);
    await putObject(bucket.client, bucket.name, key, data);
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'reset-after-headers' },
      times: 1,
    });
    const obj = object(key);
    await obj.download();
    expect(proxy.applied(0)).toBe(1);
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('downloads a tree despite 429 answers to ListObjectsV2', async () => {
    const prefix = uniqueKey('tree-429');
    const files = { 'a.txt': 'a', 'sub/b.txt': 'bb', 'sub/deeper/c.txt': 'ccc' };
    for (const [rel, content] of Object.entries(files))
      await putObject(bucket.client, bucket.name, `${prefix}/${rel}`, content);
    rules({
      match: { method: 'GET', path: new RegExp(`^/${bucket.name}/?$`), query: /list-type=2/ },
      fault: { kind: 'status', status: 429 },
      times: 2,
    });
    const obj = object(prefix);
    await obj.download();
    expect(proxy.applied(0)).toBe(2);
    for (const [rel, content] of Object.entries(files))
      expect(await readFile(path.join(obj.localPath, ...rel.split('/')), 'utf8')).toBe(content);
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('reports exactly the file whose GET always fails and downloads the others', async () => {
    const prefix = uniqueKey('tree-one-bad');
    for (const k of ['a.txt', 'b.txt', 'c.txt'])
      await putObject(bucket.client, bucket.name, `${prefix}/${k}`, `content of ${k}`);
    rules({
      match: { method: 'GET', path: keyPath(`${prefix}/b.txt`) },
      fault: { kind: 'status', status: 500 },
    });
    const obj = object(prefix);
    const error = await obj.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncError);
    expect((error as SyncError).failures.map((f) => f.path)).toEqual(['b.txt']);
    expect((error as SyncError).failures[0]!.error).toBeInstanceOf(S3ObjectError);
    expect(await readFile(path.join(obj.localPath, 'a.txt'), 'utf8')).toBe('content of a.txt');
    expect(await readFile(path.join(obj.localPath, 'c.txt'), 'utf8')).toBe('content of c.txt');
    expect(await readdir(obj.localPath)).not.toContain('b.txt');
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  requires('abort-multipart').it(
    'aborts a multipart upload whose parts always fail, leaving the old object intact',
    async () => {
      const key = uniqueKey('multipart.bin');
      await putObject(bucket.client, bucket.name, key, 'the good version');
      const before = await headObject(bucket.client, bucket.name, key);
      const obj = object(key, { multipartThreshold: 5 * MiB, partSize: 5 * MiB });
      await writeFile(obj.localPath, randomBytes(12 * MiB));
      rules({
        match: { method: 'PUT', path: keyPath(key), query: /partNumber=/ },
        fault: { kind: 'status', status: 500 },
      });
      const error = await obj.upload().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(S3ObjectError);
      expect((error as S3ObjectError).message).toMatch(
        /^MultipartUpload .* failed .*InternalError, HTTP 500/,
      );
      expect(proxy.applied(0)).toBeGreaterThan(0);
      // A control upload under the same prefix shows that the listing does list uploads.
      const control = await bucket.client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: `${key}.control` }),
      );
      try {
        const uploads = await bucket.client.send(
          new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
        );
        expect((uploads.Uploads ?? []).map((u) => u.Key)).toEqual([`${key}.control`]);
      } finally {
        await bucket.client.send(
          new AbortMultipartUploadCommand({
            Bucket: bucket.name,
            Key: `${key}.control`,
            UploadId: control.UploadId,
          }),
        );
      }
      const after = await headObject(bucket.client, bucket.name, key);
      expect(after.ETag).toBe(before.ETag);
      expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
        'the good version',
      );
    },
  );

  // The check that no upload is left open lists them (ListMultipartUploads).
  requires('abort-multipart').it(
    'retries a multipart part that fails once and completes the upload',
    async () => {
      const key = uniqueKey('multipart-transient.bin');
      const data = randomBytes(12 * MiB);
      const obj = object(key, { multipartThreshold: 5 * MiB, partSize: 5 * MiB });
      await writeFile(obj.localPath, data);
      rules({
        match: { method: 'PUT', path: keyPath(key), query: /partNumber=2/ },
        fault: { kind: 'status', status: 503 },
        times: 1,
      });
      await obj.upload();
      expect(proxy.applied(0)).toBe(1);
      const head = await headObject(bucket.client, bucket.name, key);
      expect(head.ETag).toBe(multipartEtagOf(data, 5 * MiB));
      expect(head.Metadata?.['s3lync-part-size']).toBe(String(5 * MiB));
      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(data));
      const uploads = await bucket.client.send(
        new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
      );
      expect(uploads.Uploads ?? []).toEqual([]);
    },
  );

  it('retries truncated and corrupted ranges of a ranged download', async () => {
    const key = uniqueKey('ranged.bin');
    const data = randomBytes(12 * MiB);
    await putObject(bucket.client, bucket.name, key, data);
    rules(
      {
        match: { method: 'GET', path: keyPath(key) },
        fault: { kind: 'truncate', afterBytes: 64 * 1024 },
        times: 1,
      },
      {
        match: { method: 'GET', path: keyPath(key) },
        fault: { kind: 'corrupt', offset: 1234 },
        times: 1,
      },
    );
    const obj = object(key, { rangeThreshold: 5 * MiB, partSize: 5 * MiB });
    await obj.download();
    expect(proxy.applied(0)).toBe(1);
    expect(proxy.applied(1)).toBe(1);
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
    expect(await tempFiles(tmp.path)).toEqual([]);
  });

  it('uploads a tree despite a reset PUT, and reports exactly the file whose PUT always fails', async () => {
    const prefix = uniqueKey('tree-up');
    const obj = object(prefix);
    const files = { 'a.txt': 'new a', 'b.txt': 'new b', 'sub/c.txt': 'new c' };
    for (const [rel, content] of Object.entries(files)) {
      const abs = path.join(obj.localPath, ...rel.split('/'));
      await mkdir(path.dirname(abs), { recursive: true });
      await writeFile(abs, content);
    }
    rules({
      match: { method: 'PUT', path: keyPath(`${prefix}/a.txt`) },
      fault: { kind: 'reset-before-headers' },
      times: 1,
    });
    await obj.upload();
    expect(proxy.applied(0)).toBe(1);
    for (const [rel, content] of Object.entries(files))
      expect((await getObject(bucket.client, bucket.name, `${prefix}/${rel}`)).toString()).toBe(
        content,
      );

    await writeFile(path.join(obj.localPath, 'a.txt'), 'newer a, never uploaded');
    await writeFile(path.join(obj.localPath, 'b.txt'), 'newer b');
    rules({
      match: { method: 'PUT', path: keyPath(`${prefix}/a.txt`) },
      fault: { kind: 'status', status: 500 },
    });
    const error = await obj.upload().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncError);
    expect((error as SyncError).failures.map((f) => f.path)).toEqual(['a.txt']);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/a.txt`)).toString()).toBe(
      'new a',
    );
    expect((await getObject(bucket.client, bucket.name, `${prefix}/b.txt`)).toString()).toBe(
      'newer b',
    );
  });

  it('aborts a stalled GET with the signal and leaves no temp file', async () => {
    const key = uniqueKey('stalled.bin');
    await putObject(bucket.client, bucket.name, key, randomBytes(16 * 1024));
    rules({ match: { method: 'GET', path: keyPath(key) }, fault: { kind: 'stall', ms: 20_000 } });
    const obj = object(key);
    await mkdir(path.dirname(obj.localPath), { recursive: true });
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const download = obj.download({ signal: controller.signal });
    const settled = download.catch((e: unknown) => e);
    await vi.waitFor(
      () => {
        expect(proxy.applied(0)).toBe(1);
      },
      { timeout: 10_000 },
    );
    controller.abort(reason);
    expect(await settled).toBe(reason);
    expect(await tempFiles(tmp.path)).toEqual([]);
  });
});
