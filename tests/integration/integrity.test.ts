import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { CopyObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { expect, it } from 'vitest';

import { ConfigError, ConflictError, S3Object, type S3ObjectOptions } from '../../src/index.js';
import {
  describeS3,
  getObject,
  headObject,
  interceptSend,
  md5,
  multipartEtagOf,
  requires,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
  putObject,
} from './helpers.js';

const MiB = 1024 * 1024;

/** Deterministic bytes that differ per seed (xorshift32, so parts differ from each other). */
function bytes(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

describeS3('verifying objects written by other tools (radosgw)', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  function object(key: string, options: S3ObjectOptions = {}): S3Object {
    const dir = path.join(tmp.path, `case-${++n}`);
    return new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'file'),
      progressMode: 'disabled',
      hashIndex: path.join(dir, 'index'),
      ...options,
    });
  }

  async function libStorageUpload(key: string, data: Buffer, partSize: number): Promise<string> {
    await new Upload({
      client: bucket.client,
      params: { Bucket: bucket.name, Key: key, Body: data },
      partSize,
    }).done();
    return (await headObject(bucket.client, bucket.name, key)).ETag ?? '';
  }

  it.each([
    ['1 byte, 5 MiB parts', 1, 5 * MiB],
    ['exactly one 5 MiB part', 5 * MiB, 5 * MiB],
    ['one byte over one 5 MiB part', 5 * MiB + 1, 5 * MiB],
    ['2 parts and a bit, 8 MiB parts', 2 * 8 * MiB + 3, 8 * MiB],
    ['16 MiB parts, uneven last part', 16 * MiB + 5, 16 * MiB],
  ])('an object from lib-storage (%s) is verified and compared', async (_name, size, partSize) => {
    const key = uniqueKey('libstorage.bin');
    const data = bytes(size, size);
    const etag = await libStorageUpload(key, data, partSize);
    expect(etag).toBe(size > partSize ? multipartEtagOf(data, partSize) : `"${md5(data)}"`);

    const obj = object(key);
    const first = await obj.sync('download');
    expect(first).toMatchObject({ transferred: 1, unverified: 0 });
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));

    // Another object with no index of its own: the comparison itself must tell "equal".
    const fresh = new S3Object(uriFor(bucket.name, key), {
      localPath: obj.localPath,
      progressMode: 'disabled',
      hashIndex: false,
    });
    expect(await fresh.sync('download')).toMatchObject({ transferred: 0, unchanged: 1 });

    // The same size with other bytes is not equal (Python defect 2).
    const changed = Buffer.from(data);
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 0xff;
    await writeFile(obj.localPath, changed);
    const again = await fresh.sync('download');
    expect(again.actions).toEqual([
      expect.objectContaining({ op: 'download', reason: 'checksum' }),
    ]);
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
  });

  it('a plain PutObject and a CopyObject of a multipart object are verified', async () => {
    const plainKey = uniqueKey('plain.bin');
    const plain = bytes(3 * MiB, 7);
    await bucket.client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: plainKey, Body: plain }),
    );
    expect(await object(plainKey).sync('download')).toMatchObject({
      transferred: 1,
      unverified: 0,
    });

    const sourceKey = uniqueKey('source.bin');
    const source = bytes(12 * MiB + 9, 9);
    await libStorageUpload(sourceKey, source, 5 * MiB);
    const copyKey = uniqueKey('copy.bin');
    await bucket.client.send(
      new CopyObjectCommand({
        Bucket: bucket.name,
        Key: copyKey,
        CopySource: `${bucket.name}/${sourceKey}`,
      }),
    );
    const copy = object(copyKey);
    expect(await copy.sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
    expect(md5(await readFile(copy.localPath))).toBe(md5(source));
  });

  it('a tree of multipart objects: verified once, then a no-op of one LIST', async () => {
    const prefix = uniqueKey('mp-tree');
    const files = [bytes(6 * MiB, 1), bytes(11 * MiB, 2), bytes(100, 3)];
    for (const [i, data] of files.entries())
      await libStorageUpload(`${prefix}/f${i}`, data, 5 * MiB);
    const dir = path.join(tmp.path, `tree-${++n}`);
    const tree = new S3Object(uriFor(bucket.name, prefix), {
      localPath: dir,
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, `tree-index-${n}`),
    });
    expect(await tree.sync('download')).toMatchObject({ transferred: 3, unverified: 0 });
    const requests: string[] = [];
    interceptSend(tree.client.sdk, (command, send) => {
      requests.push((command as object).constructor.name);
      return send();
    });
    expect(await tree.sync('download')).toMatchObject({
      transferred: 0,
      unchanged: 3,
      hashedFiles: 0,
    });
    expect(requests).toEqual(['ListObjectsV2Command']);

    // Another local copy, no index: each multipart file costs one HEAD and one hash, once.
    const other = new S3Object(uriFor(bucket.name, prefix), {
      localPath: dir,
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, `tree-index-other-${n}`),
    });
    const cold = await other.sync('download');
    expect(cold).toMatchObject({ transferred: 0, unchanged: 3 });
    expect(await other.sync('download')).toMatchObject({ unchanged: 3, hashedFiles: 0 });
  });
});

describeS3('lost-update protection with If-Match (radosgw)', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  async function object(key: string): Promise<S3Object> {
    const dir = path.join(tmp.path, `case-${++n}`);
    await mkdir(dir);
    return new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'file'),
      progressMode: 'disabled',
    });
  }

  it('upload({ ifMatch: true }) refuses to overwrite a change made since the download', async () => {
    const key = uniqueKey('guarded.txt');
    await putObject(bucket.client, bucket.name, key, 'v1');
    const obj = await object(key);
    await obj.download();
    await putObject(bucket.client, bucket.name, key, 'v2 by someone else');
    await writeFile(obj.localPath, 'v1 edited locally');
    const error = await obj.upload({ ifMatch: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(String(error)).toMatch(/changed on the server since it was last seen/);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
      'v2 by someone else',
    );
  });

  it('upload({ ifMatch: true }) goes through when nothing changed, and keeps tracking', async () => {
    const key = uniqueKey('unchanged.txt');
    await putObject(bucket.client, bucket.name, key, 'v1');
    const obj = await object(key);
    await obj.download();
    await writeFile(obj.localPath, 'v2');
    await obj.upload({ ifMatch: true });
    await writeFile(obj.localPath, 'v3');
    await obj.upload({ ifMatch: true });
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('v3');
  });

  requires('conditional-writes').it(
    'a change that lands between the check and the PUT is refused by the server',
    async () => {
      const key = uniqueKey('race.txt');
      await putObject(bucket.client, bucket.name, key, 'v1');
      const obj = await object(key);
      await obj.download();
      await writeFile(obj.localPath, 'mine');
      interceptSend(obj.client.sdk, async (command, send) => {
        if (command instanceof PutObjectCommand)
          await putObject(bucket.client, bucket.name, key, 'theirs');
        return send();
      });
      await expect(obj.upload({ ifMatch: true })).rejects.toBeInstanceOf(ConflictError);
      expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('theirs');
    },
  );

  it("open('a', { ifMatch: true }) fails on close when the object changed meanwhile, keeping the text", async () => {
    const key = uniqueKey('log.txt');
    await putObject(bucket.client, bucket.name, key, 'line 1\n');
    const obj = await object(key);
    const f = await obj.open('a', { ifMatch: true });
    await f.appendFile('line 2\n');
    await putObject(bucket.client, bucket.name, key, 'line 1\nother line\n');
    await expect(f.close()).rejects.toBeInstanceOf(ConflictError);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
      'line 1\nother line\n',
    );
    expect(await readFile(obj.localPath, 'utf8')).toBe('line 1\nline 2\n');
  });

  it('an object seen absent must still be absent', async () => {
    const key = uniqueKey('new.txt');
    const obj = await object(key);
    const f = await obj.open('a', { ifMatch: true });
    await f.appendFile('first');
    await putObject(bucket.client, bucket.name, key, 'created by someone else');
    await expect(f.close()).rejects.toBeInstanceOf(ConflictError);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
      'created by someone else',
    );
  });

  it('ifMatch: true without a previous download is a ConfigError; an explicit ETag works', async () => {
    const key = uniqueKey('explicit.txt');
    await putObject(bucket.client, bucket.name, key, 'v1');
    const obj = await object(key);
    await writeFile(obj.localPath, 'v2');
    await expect(obj.upload({ ifMatch: true })).rejects.toBeInstanceOf(ConfigError);
    const etag = (await headObject(bucket.client, bucket.name, key)).ETag ?? '';
    await obj.upload({ ifMatch: etag });
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('v2');
    await expect(obj.upload({ ifMatch: etag })).rejects.toBeInstanceOf(ConflictError);
  });
});

describeS3('ranged downloads pinned with If-Match (radosgw)', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  function ranged(key: string): S3Object {
    const dir = path.join(tmp.path, `case-${++n}`);
    return new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'file'),
      progressMode: 'disabled',
      hashIndex: path.join(dir, 'index'),
      rangeThreshold: 1 * MiB,
      partSize: 5 * MiB,
      multipartThreshold: 5 * MiB,
    });
  }

  function ranges(obj: S3Object): { range?: string; ifMatch?: string }[] {
    const seen: { range?: string; ifMatch?: string }[] = [];
    interceptSend(obj.client.sdk, (command, send) => {
      if (command instanceof GetObjectCommand) {
        seen.push({
          ...(command.input.Range !== undefined && { range: command.input.Range }),
          ...(command.input.IfMatch !== undefined && { ifMatch: command.input.IfMatch }),
        });
      }
      return send();
    });
    return seen;
  }

  it('fetches a large object in ranges, every one pinned to the same ETag, uneven last range included', async () => {
    const key = uniqueKey('big.bin');
    const data = bytes(17 * MiB + 333, 41);
    await putObject(bucket.client, bucket.name, key, data);
    const etag = (await headObject(bucket.client, bucket.name, key)).ETag ?? '';
    const obj = ranged(key);
    const seen = ranges(obj);
    expect(await obj.sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
    expect(seen.map((s) => s.range)).toEqual([
      `bytes=0-${5 * MiB - 1}`,
      `bytes=${5 * MiB}-${10 * MiB - 1}`,
      `bytes=${10 * MiB}-${15 * MiB - 1}`,
      `bytes=${15 * MiB}-${data.length - 1}`,
    ]);
    expect(new Set(seen.map((s) => s.ifMatch))).toEqual(new Set([etag]));
  });

  it('verifies an object from another tool from the ranges, in one pass', async () => {
    const key = uniqueKey('other-tool.bin');
    const data = bytes(12 * MiB + 5, 43);
    await new Upload({
      client: bucket.client,
      params: { Bucket: bucket.name, Key: key, Body: data },
      partSize: 8 * MiB,
    }).done();
    const obj = ranged(key);
    expect(await obj.sync('download')).toMatchObject({
      transferred: 1,
      unverified: 0,
      hashedFiles: 0,
    });
    expect(md5(await readFile(obj.localPath))).toBe(md5(data));
  });

  it('an overwrite during the download never leaves a mixed file: it starts over on the new version', async () => {
    const key = uniqueKey('moving.bin');
    const v1 = bytes(11 * MiB, 1);
    const v2 = bytes(11 * MiB, 2);
    await putObject(bucket.client, bucket.name, key, v1);
    const obj = ranged(key);
    let overwritten = false;
    interceptSend(obj.client.sdk, async (command, send) => {
      const out = await send();
      if (command instanceof GetObjectCommand && !overwritten) {
        overwritten = true;
        await putObject(bucket.client, bucket.name, key, v2);
      }
      return out;
    });
    await obj.sync('download');
    expect(md5(await readFile(obj.localPath))).toBe(md5(v2));
  });
});
