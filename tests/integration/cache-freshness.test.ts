/**
 * The cache against radosgw, counting requests on the wire (a proxy in front of the
 * server, so whichever transport sends them is counted): one conditional GET revalidates
 * a single object, `maxAge` and `offline` send none, `staleIfError` serves the local copy
 * when the server fails, and a pinned version gets its own bytes after an overwrite.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import {
  NotFoundError,
  OfflineError,
  PinnedVersionError,
  S3Object,
  S3ObjectError,
  type S3ObjectOptions,
} from '../../src/index.js';
import { startFaultProxy, type FaultProxy, type SeenRequest } from '../support/fault-proxy.js';
import {
  describeS3,
  escapeRegExp,
  putObject,
  rawClient,
  s3,
  uniqueKey,
  useBucket,
  useTempDir,
  requires,
  serverLacks,
} from './helpers.js';

describeS3('the cache, requests counted on the wire', () => {
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

  function uri(bucketName: string, key: string): string {
    return `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${proxy.endpoint}/${bucketName}/${key}`;
  }

  /** An S3Object through the proxy, with fast retries; `localPath` fresh unless given. */
  function object(key: string, options: S3ObjectOptions = {}, name = bucket.name): S3Object {
    return new S3Object(uri(name, key), {
      localPath: path.join(tmp.path, `local-${++n}`),
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, 'index'),
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      ...options,
    });
  }

  /** The requests `fn` sends, as `METHOD ?query` lines. */
  async function sent(fn: () => Promise<unknown>): Promise<string[]> {
    const before = proxy.requests.length;
    await fn();
    // Query parameters sorted: the two transports order them differently.
    const line = (r: SeenRequest): string =>
      `${r.method} ${r.query.split('&').sort().join('&')}`.trim();
    return proxy.requests.slice(before).map(line);
  }

  it('an unchanged single object costs one request (a GET answered 304), a changed one one GET', async () => {
    const key = uniqueKey('model.bin');
    await putObject(bucket.client, bucket.name, key, 'version 1');
    const obj = object(key);
    // The first download does not know the object: a HEAD (file or prefix?), then a GET.
    expect(await sent(() => obj.download())).toEqual(['HEAD', 'GET x-id=GetObject']);

    let result;
    expect(await sent(async () => (result = await obj.sync('download')))).toEqual([
      'GET x-id=GetObject',
    ]);
    expect(result).toMatchObject({ unchanged: 1, transferred: 0 });
    expect(result).not.toHaveProperty('servedFromCache');

    await putObject(bucket.client, bucket.name, key, 'version 2, longer');
    expect(await sent(async () => (result = await obj.sync('download')))).toEqual([
      'GET x-id=GetObject',
    ]);
    expect(result).toMatchObject({ unchanged: 0, transferred: 1, bytes: 17 });
    expect(await readFile(obj.localPath, 'utf8')).toBe('version 2, longer');

    // The new bytes were recorded: the next call is one 304 again, and a fresh object
    // on the same path shares what the index knows.
    expect(await sent(() => object(key, { localPath: obj.localPath }).download())).toEqual([
      'GET x-id=GetObject',
    ]);
  });

  it('a local file changed behind s3lync is not revalidated: it goes the usual way and is replaced', async () => {
    const key = uniqueKey('edited.txt');
    await putObject(bucket.client, bucket.name, key, 'remote');
    const obj = object(key);
    await obj.download();
    await writeFile(obj.localPath, 'edited locally');
    expect(await sent(() => obj.download())).toEqual(['HEAD', 'GET x-id=GetObject']);
    expect(await readFile(obj.localPath, 'utf8')).toBe('remote');
  });

  it('within maxAge a checked copy costs no request; after it, one', async () => {
    const key = uniqueKey('fresh.txt');
    await putObject(bucket.client, bucket.name, key, 'checked');
    const obj = object(key, { maxAge: 60_000 });
    await obj.download();
    let result;
    expect(await sent(async () => (result = await obj.sync('download')))).toEqual([]);
    expect(result).toMatchObject({ unchanged: 1, servedFromCache: 'max-age' });
    // Within maxAge the copy is served as checked, even though the object changed since.
    await putObject(bucket.client, bucket.name, key, 'changed');
    expect(await sent(() => obj.download())).toEqual([]);
    expect(await readFile(obj.localPath, 'utf8')).toBe('checked');
    // Without maxAge (another object on the same path), one conditional GET brings it.
    const strict = object(key, { localPath: obj.localPath });
    expect(await sent(() => strict.download())).toEqual(['GET x-id=GetObject']);
    expect(await readFile(obj.localPath, 'utf8')).toBe('changed');
  });

  it('offline: download() and open("r") send nothing; a missing copy and writes are OfflineErrors', async () => {
    const key = uniqueKey('offline.txt');
    await putObject(bucket.client, bucket.name, key, 'cached bytes');
    const online = object(key);
    await online.download();
    const obj = object(key, { offline: true, localPath: online.localPath });
    let result;
    expect(await sent(async () => (result = await obj.sync('download')))).toEqual([]);
    expect(result).toMatchObject({ unchanged: 1, servedFromCache: 'offline' });
    expect(
      await sent(() =>
        obj.open('r', async (file) => {
          expect(await file.readFile('utf8')).toBe('cached bytes');
        }),
      ),
    ).toEqual([]);

    const missing = object(uniqueKey('never-downloaded.txt'), { offline: true });
    expect(
      await sent(() => expect(missing.download()).rejects.toBeInstanceOf(OfflineError)),
    ).toEqual([]);
    expect(await sent(() => expect(obj.upload()).rejects.toBeInstanceOf(OfflineError))).toEqual([]);
    expect(await sent(() => expect(obj.open('w')).rejects.toBeInstanceOf(OfflineError))).toEqual(
      [],
    );
    expect(await sent(() => expect(obj.delete()).rejects.toBeInstanceOf(OfflineError))).toEqual([]);
  });

  it('S3LYNC_OFFLINE=1 is offline too (the option wins over it)', async () => {
    const key = uniqueKey('env-offline.txt');
    await putObject(bucket.client, bucket.name, key, 'env');
    const online = object(key);
    await online.download();
    process.env.S3LYNC_OFFLINE = '1';
    try {
      const obj = object(key, { localPath: online.localPath });
      expect(await sent(() => obj.download())).toEqual([]);
      const asked = object(key, { localPath: online.localPath, offline: false });
      expect(await sent(() => asked.download())).toEqual(['GET x-id=GetObject']);
    } finally {
      delete process.env.S3LYNC_OFFLINE;
    }
  });

  it('staleIfError serves the local copy when the server answers 5xx after the retries, and says so', async () => {
    const key = uniqueKey('stale.txt');
    await putObject(bucket.client, bucket.name, key, 'last known');
    const first = object(key);
    await first.download();
    proxy.setRules([
      {
        match: { path: new RegExp(`^/${bucket.name}/${escapeRegExp(key)}$`) },
        fault: { kind: 'status', status: 503 },
      },
    ]);
    const strict = object(key, { localPath: first.localPath });
    await expect(strict.download()).rejects.toBeInstanceOf(S3ObjectError);
    const stale = object(key, { localPath: first.localPath, staleIfError: true });
    expect(await stale.sync('download')).toMatchObject({ unchanged: 1, servedFromCache: 'stale' });
    expect(proxy.applied(0)).toBeGreaterThanOrEqual(4);
    expect(await readFile(first.localPath, 'utf8')).toBe('last known');
    // A missing copy has nothing to serve: the error stands.
    await expect(object(key, { staleIfError: true }).download()).rejects.toBeInstanceOf(
      S3ObjectError,
    );
  });

  it('staleIfError serves the local copy when the connection is refused, but not on a 404', async () => {
    const key = uniqueKey('refused.txt');
    await putObject(bucket.client, bucket.name, key, 'kept');
    const first = object(key);
    await first.download();
    proxy.setRules([
      {
        match: { path: new RegExp(`^/${bucket.name}/${escapeRegExp(key)}$`) },
        fault: { kind: 'reset-before-headers' },
      },
    ]);
    const stale = object(key, { localPath: first.localPath, staleIfError: true });
    expect(await stale.sync('download')).toMatchObject({ servedFromCache: 'stale' });
    proxy.setRules([]);
    await bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }));
    await expect(stale.download()).rejects.toBeInstanceOf(NotFoundError);
  });

  describeS3('pinned versions, on a versioned bucket', () => {
    const versioned = `s3lync-v-${Date.now().toString(36)}`;
    const raw = rawClient();

    beforeAll(async () => {
      if (serverLacks('versioning')) return;
      await raw.send(new CreateBucketCommand({ Bucket: versioned }));
      await raw.send(
        new PutBucketVersioningCommand({
          Bucket: versioned,
          VersioningConfiguration: { Status: 'Enabled' },
        }),
      );
    });
    afterAll(async () => {
      if (serverLacks('versioning')) return;
      const listed = await raw.send(new ListObjectVersionsCommand({ Bucket: versioned }));
      for (const v of [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])]) {
        await raw.send(
          new DeleteObjectCommand({ Bucket: versioned, Key: v.Key, VersionId: v.VersionId }),
        );
      }
      await raw.send(new DeleteBucketCommand({ Bucket: versioned }));
    });

    async function put(key: string, body: string): Promise<string> {
      const out = await raw.send(new PutObjectCommand({ Bucket: versioned, Key: key, Body: body }));
      return out.VersionId ?? '';
    }

    requires('versioning').it(
      'downloads the pinned version after an overwrite, in one GET, then with no request',
      async () => {
        const key = uniqueKey('weights.bin');
        const v1 = await put(key, 'old weights');
        await put(key, 'new weights, overwritten');
        expect(v1).not.toBe('');
        const pinned = object(`${key}?versionId=${v1}`, {}, versioned);
        expect(pinned.key).toBe(key);
        expect(pinned.versionId).toBe(v1);
        const first = await sent(() => pinned.download());
        expect(first).toEqual([`GET versionId=${v1}&x-id=GetObject`]);
        expect(await readFile(pinned.localPath, 'utf8')).toBe('old weights');
        let result;
        expect(await sent(async () => (result = await pinned.sync('download')))).toEqual([]);
        expect(result).toMatchObject({ unchanged: 1, servedFromCache: 'pinned' });
        // The option pins too, and offline serves the pinned copy.
        const again = object(
          key,
          { versionId: v1, offline: true, localPath: pinned.localPath },
          versioned,
        );
        expect(await sent(() => again.download())).toEqual([]);
        // The latest is another copy.
        const latest = object(key, {}, versioned);
        await latest.download();
        expect(await readFile(latest.localPath, 'utf8')).toBe('new weights, overwritten');
      },
    );

    requires('versioning').it(
      'keeps a pinned version apart from the latest in the default cache path',
      () => {
        const pinned = new S3Object(uri(versioned, 'a/b.txt?versionId=abc123'), {
          progressMode: 'disabled',
        });
        expect(pinned.localPath).toContain(
          path.join('.versions', versioned, 'abc123', 'a', 'b.txt'),
        );
        expect(new S3Object(uri(versioned, 'a/b.txt')).localPath).not.toContain('.versions');
      },
    );

    requires('versioning').it('refuses writes to a pinned object before any request', async () => {
      const key = uniqueKey('frozen.txt');
      const v1 = await put(key, 'frozen');
      const pinned = object(key, { versionId: v1 }, versioned);
      await writeFile(pinned.localPath, 'would overwrite');
      const refusals = await sent(async () => {
        await expect(pinned.upload()).rejects.toBeInstanceOf(PinnedVersionError);
        await expect(pinned.open('w')).rejects.toBeInstanceOf(PinnedVersionError);
        await expect(pinned.open('a')).rejects.toBeInstanceOf(PinnedVersionError);
        await expect(pinned.open('x')).rejects.toBeInstanceOf(PinnedVersionError);
        await expect(pinned.delete()).rejects.toBeInstanceOf(PinnedVersionError);
      });
      expect(refusals).toEqual([]);
    });

    requires('versioning').it('a version that does not exist is a NotFoundError', async () => {
      const key = uniqueKey('absent.txt');
      await put(key, 'x');
      const pinned = object(key, { versionId: 'no-such-version-id' }, versioned);
      await expect(pinned.download()).rejects.toBeInstanceOf(S3ObjectError);
    });
  });
});
