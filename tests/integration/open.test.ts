import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

import { expect, it } from 'vitest';

import { NotFoundError, PreconditionFailedError, S3Object } from '../../src/index.js';
import {
  describeS3,
  getObject,
  objectExists,
  putObject,
  requires,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

describeS3('S3Object.open() against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  /** An object whose local copy lives alone in a fresh directory, so stray temp files show. */
  async function object(key: string): Promise<S3Object> {
    const dir = path.join(tmp.path, `case-${++n}`);
    await mkdir(dir);
    return new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'file'),
      progressMode: 'disabled',
    });
  }
  const dirOf = (obj: S3Object) => path.dirname(obj.localPath);

  it("open('w') uploads on close, and close resolves after the upload", async () => {
    const key = uniqueKey('w.txt');
    const obj = await object(key);
    const f = await obj.open('w');
    await f.writeFile('written through a handle');
    expect(await objectExists(bucket.client, bucket.name, key)).toBe(false);
    await f.close();
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
      'written through a handle',
    );
    expect(await readFile(obj.localPath, 'utf8')).toBe('written through a handle');
    expect(await readdir(dirOf(obj))).toEqual(['file']);
  });

  it("open('w', fn) uploads only when fn succeeds (defect 8)", async () => {
    const key = uniqueKey('safe.txt');
    await putObject(bucket.client, bucket.name, key, 'original');
    const obj = await object(key);
    await obj.download();
    await expect(
      obj.open('w', async (f) => {
        await f.writeFile('half of it');
        throw new Error('the producer failed');
      }),
    ).rejects.toThrow('the producer failed');
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('original');
    expect(await readFile(obj.localPath, 'utf8')).toBe('original');
    expect(await readdir(dirOf(obj))).toEqual(['file']);

    const result = await obj.open('w', async (f) => {
      await f.writeFile('complete');
      return 42;
    });
    expect(result).toBe(42);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('complete');
  });

  it("open('a') appends to the remote content even when the cache is stale or missing (defect 8)", async () => {
    const key = uniqueKey('log.txt');
    await putObject(bucket.client, bucket.name, key, 'line 1\n');
    const obj = await object(key);
    await writeFile(obj.localPath, 'stale cache\n');
    await obj.open('a', async (f) => {
      await f.appendFile('line 2\n');
    });
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('line 1\nline 2\n');

    const fresh = await object(key);
    const f = await fresh.open('ab');
    await f.write(Buffer.from('line 3\n'));
    await f.close();
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
      'line 1\nline 2\nline 3\n',
    );
  });

  it("open('a') on a missing object starts empty", async () => {
    const key = uniqueKey('new-log.txt');
    const obj = await object(key);
    await obj.open('a', (f) => f.appendFile('first'));
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('first');
  });

  it("open('r') downloads first and reads; a missing object is NotFoundError", async () => {
    const key = uniqueKey('r.txt');
    await putObject(bucket.client, bucket.name, key, 'remote text');
    const obj = await object(key);
    const text = await obj.open('r', (f) => f.readFile('utf8'));
    expect(text).toBe('remote text');
    await expect((await object(uniqueKey('absent'))).open('r')).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it("open('r+') reads the remote content and uploads the change", async () => {
    const key = uniqueKey('rplus.txt');
    await putObject(bucket.client, bucket.name, key, 'abcdef');
    const obj = await object(key);
    await obj.open('r+', async (f) => {
      expect((await f.read(Buffer.alloc(6), 0, 6, 0)).buffer.toString()).toBe('abcdef');
      await f.write('XY', 2);
    });
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('abXYef');
  });

  it("open('w+') can read back what it wrote before uploading", async () => {
    const key = uniqueKey('wplus.txt');
    const obj = await object(key);
    await obj.open('w+', async (f) => {
      await f.write('hello', 0);
      expect((await f.read(Buffer.alloc(5), 0, 5, 0)).buffer.toString()).toBe('hello');
    });
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('hello');
  });

  requires('conditional-writes').it(
    "open('x') creates only if the object does not exist (If-None-Match: *)",
    async () => {
      const key = uniqueKey('x.txt');
      const obj = await object(key);
      await obj.open('x', (f) => f.writeFile('created once'));
      expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('created once');
      await expect(obj.open('x')).rejects.toBeInstanceOf(PreconditionFailedError);

      // Someone else creates the key while our handle is open: the conditional PUT refuses.
      const key2 = uniqueKey('x-race.txt');
      const racer = await object(key2);
      const f = await racer.open('xb');
      await f.writeFile('mine');
      await putObject(bucket.client, bucket.name, key2, 'theirs');
      await expect(f.close()).rejects.toBeInstanceOf(PreconditionFailedError);
      expect((await getObject(bucket.client, bucket.name, key2)).toString()).toBe('theirs');
      expect(await readdir(dirOf(racer))).toEqual([]);
    },
  );

  it('await using: close() uploads; leaving the block without close() uploads nothing', async () => {
    const key = uniqueKey('using.txt');
    const obj = await object(key);
    {
      await using f = await obj.open('w');
      await f.writeFile('via await using');
      await f.close();
    }
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('via await using');

    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await expect(
        (async () => {
          await using f = await obj.open('w');
          await f.writeFile('partial');
          throw new Error('boom');
        })(),
      ).rejects.toThrow('boom');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('via await using');
    expect(await readFile(obj.localPath, 'utf8')).toBe('via await using');
    expect(await readdir(dirOf(obj))).toEqual(['file']);
    expect(warnings.join('\n')).toMatch(/disposed without close\(\); nothing was uploaded/);
  });

  it('a failed upload on close keeps what was written at the local path', async () => {
    const key = uniqueKey('kept.txt');
    const obj = new S3Object(uriFor(`${bucket.name}-does-not-exist`, key), {
      localPath: path.join(tmp.path, 'kept.txt'),
      progressMode: 'disabled',
    });
    const f = await obj.open('w');
    await f.writeFile('precious');
    await expect(f.close()).rejects.toThrow(/does not exist|NoSuchBucket/);
    expect(await readFile(obj.localPath, 'utf8')).toBe('precious');
  });
});
