import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import {
  HashMismatchError,
  LocalPathError,
  NotFoundError,
  S3Object,
  type ProgressEvent,
} from '../../src/index.js';
import {
  describeS3,
  getObject,
  headObject,
  interceptSend,
  md5,
  multipartEtagOf,
  objectExists,
  recordCommands,
  requires,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
  putObject,
} from './helpers.js';

describeS3('S3Object with one file against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  const object = (key: string, localName = key.replaceAll('/', '_')) =>
    new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(tmp.path, localName),
      progressMode: 'disabled',
    });

  it('uploads, downloads and skips what is unchanged', async () => {
    const key = uniqueKey('hello.txt');
    const obj = object(key);
    await writeFile(obj.localPath, 'hello world');
    expect(await obj.upload()).toBe(obj.uri);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('hello world');

    const other = object(key, 'copy.txt');
    const commands = recordCommands(other.client.sdk);
    expect(await other.download()).toBe(other.localPath);
    expect(await readFile(other.localPath, 'utf8')).toBe('hello world');
    expect(commands).toEqual(['HeadObjectCommand', 'GetObjectCommand']);

    // Unchanged: one GET with If-None-Match, answered 304 (was a HEAD).
    commands.length = 0;
    expect(await other.sync('download')).toMatchObject({ unchanged: 1, transferred: 0, bytes: 0 });
    expect(commands).toEqual(['GetObjectCommand']);

    const upCommands = recordCommands(obj.client.sdk);
    await obj.upload();
    expect(upCommands).toEqual(['HeadObjectCommand']);
  });

  it('re-downloads when the remote changed with the same size', async () => {
    const key = uniqueKey('same-size.txt');
    await putObject(bucket.client, bucket.name, key, 'aaaa');
    const obj = object(key);
    await obj.download();
    await putObject(bucket.client, bucket.name, key, 'bbbb');
    await obj.download();
    expect(await readFile(obj.localPath, 'utf8')).toBe('bbbb');
  });

  it('throws NotFoundError for a key that is neither object nor prefix, and writes nothing', async () => {
    const obj = object(uniqueKey('missing.bin'));
    await expect(obj.download()).rejects.toBeInstanceOf(NotFoundError);
    await expect(obj.download()).rejects.toThrow(/neither an object nor a prefix/);
    await expect(stat(obj.localPath)).rejects.toThrow(/ENOENT/);
  });

  it('throws LocalPathError when uploading a missing local file', async () => {
    const obj = object(uniqueKey('nothing.txt'));
    await expect(obj.upload()).rejects.toBeInstanceOf(LocalPathError);
  });

  it('uploads large files in verified parts and records the part size', async () => {
    const key = uniqueKey('big.bin');
    const data = randomBytes(11 * 1024 * 1024 + 123);
    const obj = new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(tmp.path, 'big.bin'),
      progressMode: 'disabled',
      multipartThreshold: 5 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
    });
    await writeFile(obj.localPath, data);
    const events: ProgressEvent[] = [];
    await obj.upload({ onProgress: (e) => events.push(e) });
    const head = await headObject(bucket.client, bucket.name, key);
    expect(head.ETag).toBe(multipartEtagOf(data, 5 * 1024 * 1024));
    // One read sent the parts and hashed them: the MD5 was not known when the metadata went.
    expect(head.Metadata?.['s3lync-md5']).toBeUndefined();
    expect(head.Metadata?.['s3lync-part-size']).toBe(String(5 * 1024 * 1024));
    expect(events.at(-1)).toMatchObject({ done: true, loaded: data.length, total: data.length });

    const back = new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(tmp.path, 'big-back.bin'),
      progressMode: 'disabled',
    });
    // The recorded part size makes the composite ETag checkable.
    expect(await back.sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
    expect(md5(await readFile(back.localPath))).toBe(md5(data));
    // The hash index remembers the verified ETag: one conditional GET answered 304, no bytes.
    const commands = recordCommands(back.client.sdk);
    expect(await back.sync('download')).toMatchObject({ unchanged: 1, transferred: 0, bytes: 0 });
    expect(commands).toEqual(['GetObjectCommand']);
  });

  it('verifies the bytes received against the ETag of the response that delivered them (defect 11)', async () => {
    const key = uniqueKey('race.txt');
    await putObject(bucket.client, bucket.name, key, 'version one');
    const obj = object(key);
    // Overwrite the object between the HEAD and the GET: the GET's own ETag must be used.
    interceptSend(obj.client.sdk, async (command, send) => {
      if (command instanceof GetObjectCommand) {
        await putObject(bucket.client, bucket.name, key, 'version two!');
      }
      return send();
    });
    await obj.download();
    expect(await readFile(obj.localPath, 'utf8')).toBe('version two!');
  });

  it('leaves the old file and no temp file when verification fails', async () => {
    const key = uniqueKey('corrupt.txt');
    await putObject(bucket.client, bucket.name, key, 'good content');
    const dir = path.join(tmp.path, 'corrupt');
    await mkdir(dir);
    const obj = new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'corrupt.txt'),
      progressMode: 'disabled',
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    await writeFile(obj.localPath, 'old content!');
    interceptSend(obj.client.sdk, async (command, send) => {
      const out = (await send()) as { ETag?: string };
      if (command instanceof GetObjectCommand) out.ETag = `"${md5('something else')}"`;
      return out;
    });
    await expect(obj.download()).rejects.toBeInstanceOf(HashMismatchError);
    expect(await readFile(obj.localPath, 'utf8')).toBe('old content!');
    expect(await readdir(dir)).toEqual(['corrupt.txt']);
  });

  it('exists() and delete()', async () => {
    const key = uniqueKey('del.txt');
    await putObject(bucket.client, bucket.name, key, 'x');
    const obj = object(key);
    expect(await obj.exists()).toBe(true);
    expect(await obj.delete()).toBe(1);
    expect(await objectExists(bucket.client, bucket.name, key)).toBe(false);
    expect(await obj.exists()).toBe(false);
    expect(await obj.delete()).toBe(0);
  });
});

describeS3('aborting a multipart upload against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  requires('abort-multipart').it(
    'rejects with the reason only after the upload is aborted on the server',
    async () => {
      const key = uniqueKey('aborted.bin');
      const obj = new S3Object(uriFor(bucket.name, key), {
        localPath: path.join(tmp.path, 'aborted.bin'),
        progressMode: 'disabled',
        multipartThreshold: 5 * 1024 * 1024,
        partSize: 5 * 1024 * 1024,
        maxConcurrency: 2,
      });
      await writeFile(obj.localPath, randomBytes(30 * 1024 * 1024));
      const controller = new AbortController();
      // Parts still in flight when the abort comes are held back a little, so an upload that
      // rejected before waiting for them would be caught with its multipart upload still open.
      interceptSend(obj.client.sdk, async (command, send) => {
        const out = await send();
        if (command instanceof UploadPartCommand) {
          if (controller.signal.aborted) await new Promise((r) => setTimeout(r, 300));
          else controller.abort(new Error('stop now'));
        }
        return out;
      });
      await expect(obj.upload({ signal: controller.signal })).rejects.toThrow('stop now');
      const uploads = await bucket.client.send(
        new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
      );
      expect(uploads.Uploads ?? []).toEqual([]);
      expect(await objectExists(bucket.client, bucket.name, key)).toBe(false);
    },
  );
});
