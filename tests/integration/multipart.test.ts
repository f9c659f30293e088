/**
 * Multipart uploads against radosgw: one read of the file sends the parts and computes the
 * MD5 and the composite ETag; a file that changes during the upload never completes it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, readdir, readFile, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import {
  compositeEtag,
  HashMismatchError,
  LocalPathError,
  S3Object,
  type S3ObjectOptions,
} from '../../src/index.js';
import { parseIndex, type IndexEntry } from '../../src/hash-index.js';
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

/** The composite ETag of `data` in parts of `partSize`. */
function etagFor(data: Buffer, partSize: number): string {
  const parts: string[] = [];
  for (let o = 0; o < data.length; o += partSize) parts.push(md5(data.subarray(o, o + partSize)));
  return compositeEtag(parts);
}

/** Bytes this process has read through syscalls so far (page-cache hits included). */
function bytesRead(): number | undefined {
  if (!existsSync('/proc/self/io')) return undefined;
  const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

describeS3('multipart uploads against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  function object(key: string, options: S3ObjectOptions = {}): S3Object {
    const dir = path.join(tmp.path, `case-${++n}`);
    mkdirSync(dir, { recursive: true });
    return new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'file.bin'),
      progressMode: 'disabled',
      hashIndex: path.join(dir, 'index'),
      multipartThreshold: 5 * MiB,
      partSize: 5 * MiB,
      maxConcurrency: 2,
      ...options,
    });
  }

  async function openUploads(key: string): Promise<unknown[]> {
    const out = await bucket.client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
    );
    return out.Uploads ?? [];
  }

  requires('composite-etag').it(
    'a new object: its parts and composite ETag come from one read of the file and one MD5 pass',
    async () => {
      const key = uniqueKey('one-read.bin');
      const data = randomBytes(12 * MiB + 123);
      const obj = object(key);
      await writeFile(obj.localPath, data);
      // An mtime well in the past, so the index trusts the digest the upload records.
      const past = new Date(Date.now() - 3_600_000);
      await utimes(obj.localPath, past, past);
      const before = bytesRead();
      const result = await obj.sync('upload');
      const after = bytesRead();
      if (before !== undefined && after !== undefined) {
        // One pass over the file (plus a few KiB of responses and the index), not two.
        expect(after - before).toBeGreaterThanOrEqual(data.length);
        expect(after - before).toBeLessThan(1.25 * data.length);
      }
      expect(result).toMatchObject({ transferred: 1, hashedFiles: 1, hashedBytes: data.length });
      const head = await headObject(bucket.client, bucket.name, key);
      expect(head.ETag).toBe(`"${etagFor(data, 5 * MiB)}"`);
      expect(result.etag).toBe(etagFor(data, 5 * MiB));
      // The MD5 is known only once the parts have been read, after the metadata was sent.
      expect(head.Metadata?.['s3lync-md5']).toBeUndefined();
      expect(head.Metadata?.['s3lync-part-size']).toBe(String(5 * MiB));
      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(data));
      expect(await openUploads(key)).toEqual([]);

      // Another copy verifies the download by the composite ETag of the recorded part size.
      const back = object(key);
      expect(await back.sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
      expect(md5(await readFile(back.localPath))).toBe(md5(data));
      // The index of the uploading side knows the object: a re-upload sends nothing.
      expect(await obj.sync('upload')).toMatchObject({ transferred: 0, hashedFiles: 0 });
      // One MD5 pass, the parts': the index knows the file by the ETag they make, not its MD5.
      expect([...(await indexEntries(obj)).values()]).toContainEqual(
        expect.objectContaining({
          size: data.length,
          md5: undefined,
          etag: `"${etagFor(data, 5 * MiB)}"`,
        }),
      );
    },
  );

  it.each([
    [1, ['bytes=0-12582914']],
    [2, ['bytes=0-6291457', 'bytes=6291458-12582914']],
    [4, ['bytes=0-5242879', 'bytes=5242880-10485759', 'bytes=10485760-12582914']],
  ])(
    'downloads in one range per request in flight (maxConcurrency %i), none under the part size: every range, not only the first',
    async (maxConcurrency, ranges) => {
      const key = uniqueKey('one-at-a-time.bin');
      const data = randomBytes(12 * MiB + 3);
      await putObject(bucket.client, bucket.name, key, data);
      const back = object(key, { rangeThreshold: MiB, partSize: 5 * MiB, maxConcurrency });
      const asked: string[] = [];
      interceptSend(back.client.sdk, (command, send) => {
        if (command instanceof GetObjectCommand) asked.push(command.input.Range ?? 'all');
        return send();
      });
      expect(await back.sync('download')).toMatchObject({ transferred: 1 });
      expect(md5(await readFile(back.localPath))).toBe(md5(data));
      expect(asked.sort()).toEqual([...ranges].sort());
    },
  );

  /** The entries of every index file in the index directory of `obj`'s case. */
  async function indexEntries(obj: S3Object): Promise<Map<string, IndexEntry>> {
    const dir = path.join(path.dirname(obj.localPath), 'index');
    const out = new Map<string, IndexEntry>();
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.jsonl')) continue;
      for (const [p, e] of parseIndex(await readFile(path.join(dir, name), 'utf8'))) out.set(p, e);
    }
    return out;
  }

  requires('composite-etag').it.each([
    ['one GET', {}],
    ['ranged GETs', { rangeThreshold: 5 * MiB }],
  ])(
    'a download verified by the composite ETag (%s) computes no MD5; the index knows it by the ETag',
    async (_, downloadOptions: S3ObjectOptions) => {
      const key = uniqueKey('no-md5.bin');
      const data = randomBytes(12 * MiB + 123);
      const uploader = object(key);
      await writeFile(uploader.localPath, data);
      await uploader.upload();
      const etag = `"${etagFor(data, 5 * MiB)}"`;
      const head = await headObject(bucket.client, bucket.name, key);
      expect(head.Metadata?.['s3lync-md5']).toBeUndefined();
      expect(head.ETag).toBe(etag);

      // A fresh path with a fresh index: verified by the ETag of the recorded part size.
      const back = object(key, downloadOptions);
      let gets = 0;
      interceptSend(back.client.sdk, (command, send) => {
        if (command instanceof GetObjectCommand) gets++;
        return send();
      });
      expect(await back.sync('download')).toMatchObject({
        transferred: 1,
        unverified: 0,
        hashedFiles: 0,
        hashedBytes: 0,
      });
      expect(md5(await readFile(back.localPath))).toBe(md5(data));
      // Only the composite was computed: the entry has no MD5, the ETag is its identity.
      const entries = [...(await indexEntries(back)).values()];
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ size: data.length, md5: undefined, etag });

      // Later syncs of the unchanged pair decide from the ETag alone: nothing is read or
      // moved (the download is one GET with If-None-Match, answered 304; the upload a HEAD).
      gets = 0;
      expect(await back.sync('download')).toMatchObject({
        transferred: 0,
        unchanged: 1,
        hashedFiles: 0,
        hashedBytes: 0,
      });
      expect(await back.sync('upload')).toMatchObject({
        transferred: 0,
        unchanged: 1,
        hashedFiles: 0,
        hashedBytes: 0,
      });
      expect(gets).toBe(1);
      expect(await headObject(bucket.client, bucket.name, key)).toMatchObject({ ETag: etag });

      // Other bytes of the same size replace the object: the next download transfers them.
      const v2 = randomBytes(data.length);
      const replacer = object(key);
      await writeFile(replacer.localPath, v2);
      await replacer.upload();
      expect((await headObject(bucket.client, bucket.name, key)).ETag).not.toBe(etag);
      // Its GET with the old ETag in If-None-Match brings the new bytes at once: the local
      // file (whose entry has no MD5) need not be hashed to be found different.
      expect(await back.sync('download')).toMatchObject({
        transferred: 1,
        unverified: 0,
        hashedFiles: 0,
        hashedBytes: 0,
      });
      expect(gets).toBeGreaterThan(0);
      expect(md5(await readFile(back.localPath))).toBe(md5(v2));
    },
  );

  it('a same-size change: the MD5 the comparison computed becomes the fingerprint', async () => {
    const key = uniqueKey('fingerprint.bin');
    const v1 = randomBytes(11 * MiB);
    const v2 = randomBytes(11 * MiB);
    const first = object(key);
    await writeFile(first.localPath, v1);
    await first.upload();
    const second = object(key);
    await writeFile(second.localPath, v2);
    await second.upload();
    const head = await headObject(bucket.client, bucket.name, key);
    expect(head.Metadata?.['s3lync-md5']).toBe(md5(v2));
    expect(head.ETag).toBe(multipartEtagOf(v2, 5 * MiB));
  });

  requires('abort-multipart').it(
    'a file that shrinks during the upload fails it, aborts it and leaves the old object',
    async () => {
      const key = uniqueKey('shrinks.bin');
      await putObject(bucket.client, bucket.name, key, 'the good version');
      const before = await headObject(bucket.client, bucket.name, key);
      const obj = object(key);
      await writeFile(obj.localPath, randomBytes(40 * MiB));
      let truncated = false;
      interceptSend(obj.client.sdk, async (command, send) => {
        const out = await send();
        if (command instanceof UploadPartCommand && !truncated) {
          truncated = true;
          await truncate(obj.localPath, 7 * MiB);
        }
        return out;
      });
      const error = await obj.upload().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LocalPathError);
      expect((error as Error).message).toMatch(/changed while it was being uploaded/);
      expect(await openUploads(key)).toEqual([]);
      expect((await headObject(bucket.client, bucket.name, key)).ETag).toBe(before.ETag);
      expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
        'the good version',
      );
    },
  );

  requires('abort-multipart').it(
    'a same-size file rewritten during a fingerprinted upload is aborted before it completes',
    async () => {
      const key = uniqueKey('rewritten.bin');
      const v1 = randomBytes(40 * MiB);
      const first = object(key);
      await writeFile(first.localPath, v1);
      await first.upload();
      const before = await headObject(bucket.client, bucket.name, key);

      const obj = object(key);
      const v2 = randomBytes(40 * MiB);
      await writeFile(obj.localPath, v2);
      let rewritten = false;
      interceptSend(obj.client.sdk, async (command, send) => {
        const out = await send();
        if (command instanceof UploadPartCommand && !rewritten) {
          rewritten = true;
          // Same size, other bytes near the end, in place: parts not read yet change.
          const fh = await open(obj.localPath, 'r+');
          await fh.write(Buffer.alloc(2 * MiB, 7), 0, 2 * MiB, 38 * MiB);
          await fh.close();
        }
        return out;
      });
      const error = await obj.upload().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HashMismatchError);
      expect((error as Error).message).toMatch(/changed while it was being uploaded/);
      expect(await openUploads(key)).toEqual([]);
      expect((await headObject(bucket.client, bucket.name, key)).ETag).toBe(before.ETag);
      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(v1));
    },
  );
});
