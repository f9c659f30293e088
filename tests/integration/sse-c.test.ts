/**
 * SSE-C against radosgw (configured with `rgw crypt require ssl = false`, so plain HTTP
 * carries the key): a single PUT and a multipart upload encrypted with a customer key,
 * HEAD, a whole and a ranged download, no-op re-syncs in both directions that transfer
 * nothing, and a missing or wrong key refused by the server.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';

import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { expect, vi } from 'vitest';

import { PROBE_KEY } from '../../src/client/lane/endpoint.js';
import { CustomerKey } from '../../src/sse-c.js';
import { S3Object, S3ObjectError, type S3ObjectOptions } from '../../src/index.js';
import {
  describeS3,
  headObject,
  md5,
  recordCommands,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
  requires,
} from './helpers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const KEY = randomBytes(32);
const TRANSFERS = ['GetObjectCommand', 'PutObjectCommand', 'UploadPartCommand'];

describeS3('SSE-C against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  const object = (key: string, localPath: string, options: S3ObjectOptions = {}): S3Object =>
    new S3Object(uriFor(bucket.name, key), {
      localPath,
      progressMode: 'disabled',
      sseCustomerKey: KEY,
      multipartThreshold: PART,
      partSize: PART,
      rangeThreshold: PART,
      ...options,
    });

  const headWithKey = (key: string) =>
    bucket.client.send(
      new HeadObjectCommand({
        Bucket: bucket.name,
        Key: key,
        SSECustomerAlgorithm: 'AES256',
        SSECustomerKey: KEY.toString('base64'),
      }),
    );

  async function tree(name: string): Promise<{ dir: string; files: Record<string, Buffer> }> {
    const dir = path.join(tmp.path, name);
    const files = {
      'small.txt': Buffer.from('a small encrypted file\n'),
      'big/large.bin': randomBytes(2 * PART + 123),
    };
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), data);
    }
    return { dir, files };
  }

  requires('sse-c').it(
    'uploads (single and multipart), HEADs, downloads (whole and ranged), and re-syncs without a transfer',
    async () => {
      const prefix = uniqueKey('ssec');
      const { dir, files } = await tree(prefix);
      const up = object(`${prefix}/`, dir);
      const first = await up.sync('upload');
      expect(first.transferred).toBe(2);

      for (const [rel, data] of Object.entries(files)) {
        const key = `${prefix}/${rel}`;
        // Without the key the server refuses to describe the object: it is encrypted with it.
        await expect(headObject(bucket.client, bucket.name, key)).rejects.toThrow();
        const h = await headWithKey(key);
        expect(h.SSECustomerAlgorithm).toBe('AES256');
        expect(h.ContentLength).toBe(data.length);
        // The fingerprint verifies it, multipart included.
        expect(h.Metadata?.['s3lync-md5']).toBe(md5(data));
      }
      const single = await up.client.head(bucket.name, `${prefix}/small.txt`);
      expect(single).toMatchObject({ opaqueEtag: true, size: files['small.txt']?.length });

      // No-op re-upload, with the index and without it (then a HEAD per file decides).
      const sends = recordCommands(up.client.sdk);
      expect(await up.sync('upload')).toMatchObject({ transferred: 0, unchanged: 2 });
      const cold = object(`${prefix}/`, dir, { hashIndex: false });
      const coldSends = recordCommands(cold.client.sdk);
      expect(await cold.sync('upload')).toMatchObject({ transferred: 0, unchanged: 2 });
      expect(sends.filter((c) => TRANSFERS.includes(c))).toEqual([]);
      expect(coldSends.filter((c) => TRANSFERS.includes(c))).toEqual([]);
      expect(coldSends.filter((c) => c === 'HeadObjectCommand').length).toBe(2);

      // Download: the large object as ranged GETs, each carrying the key.
      const down = path.join(tmp.path, `${prefix}-down`);
      const get = object(`${prefix}/`, down);
      const gets = recordCommands(get.client.sdk);
      expect(await get.sync('download')).toMatchObject({ transferred: 2, unverified: 0 });
      expect(gets.filter((c) => c === 'GetObjectCommand').length).toBeGreaterThan(2);
      for (const [rel, data] of Object.entries(files)) {
        expect(md5(await readFile(path.join(down, rel))), rel).toBe(md5(data));
      }
      gets.length = 0;
      expect(await get.sync('download')).toMatchObject({ transferred: 0, unchanged: 2 });
      expect(gets.filter((c) => TRANSFERS.includes(c))).toEqual([]);
      // Through the lane, no object request of theirs fell back to the SDK.
      for (const o of [up, cold, get]) {
        if (!o.client.dataLane) continue;
        // The spy recordCommands set: spyOn returns it.
        const viaSdk = vi
          .spyOn(o.client.sdk, 'send')
          .mock.calls.map(([c]) => c as { input?: { Key?: string }; constructor: { name: string } })
          .filter((c) => c.input?.Key !== PROBE_KEY)
          .map((c) => c.constructor.name);
        expect(viaSdk.filter((c) => [...TRANSFERS, 'HeadObjectCommand'].includes(c))).toEqual([]);
      }
    },
  );

  requires('sse-c').it(
    'a missing or wrong key fails the download, typed; the key is never shown',
    async () => {
      const prefix = uniqueKey('ssec-wrong');
      const { dir } = await tree(prefix);
      await object(`${prefix}/small.txt`, path.join(dir, 'small.txt')).upload();
      const none = object(`${prefix}/small.txt`, path.join(tmp.path, `${prefix}-none`), {
        sseCustomerKey: undefined,
      });
      await expect(none.download()).rejects.toBeInstanceOf(S3ObjectError);
      const wrong = object(`${prefix}/small.txt`, path.join(tmp.path, `${prefix}-wrong`), {
        sseCustomerKey: randomBytes(32),
      });
      const error = await wrong.download().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(S3ObjectError);
      const shown = `${String(error)} ${inspect(error, { depth: 5 })} ${inspect(wrong, { depth: 5 })}`;
      expect(shown).not.toContain(KEY.toString('base64'));
    },
  );

  requires('sse-c').it(
    'uploadParams.SSECustomerKey encrypts an upload; the same key as sseCustomerKey reads it',
    async () => {
      const prefix = uniqueKey('ssec-params');
      const file = path.join(tmp.path, `${prefix.replace('/', '-')}.html`);
      await writeFile(file, '<p>hi</p>');
      const key = `${prefix}/page.html`;
      await new S3Object(uriFor(bucket.name, key), {
        localPath: file,
        progressMode: 'disabled',
        uploadParams: { SSECustomerKey: KEY.toString('base64'), CacheControl: 'no-cache' },
      }).upload();
      const h = await headWithKey(key);
      expect(h).toMatchObject({ SSECustomerAlgorithm: 'AES256', CacheControl: 'no-cache' });
      expect(h.ContentType).toBe('text/html');
      const back = path.join(tmp.path, `${prefix.replace('/', '-')}-back.html`);
      await object(key, back).download();
      expect(await readFile(back, 'utf8')).toBe('<p>hi</p>');
      expect(inspect(CustomerKey.of(KEY, 'k'))).toBe('CustomerKey(***)');
    },
  );

  requires('sse-c').it(
    'syncTo() copies SSE-C objects through the client, each side with its own key, not by a server-side copy',
    async () => {
      const prefix = uniqueKey('ssec-copy');
      const { dir, files } = await tree(prefix);
      await object(`${prefix}/src/`, dir).sync('upload');
      const otherKey = randomBytes(32);
      const src = object(`${prefix}/src/`, dir);
      const dst = object(`${prefix}/dst/`, path.join(tmp.path, `${prefix}-unused`), {
        sseCustomerKey: otherKey,
      });
      const commands = recordCommands(dst.client.sdk);
      const result = await src.syncTo(dst);
      expect(result.transferred).toBe(Object.keys(files).length);
      expect(commands).not.toContain('CopyObjectCommand');
      expect(commands).not.toContain('UploadPartCopyCommand');
      const back = path.join(tmp.path, `${prefix}-back`);
      await object(`${prefix}/dst/`, back, { sseCustomerKey: otherKey }).download();
      for (const [rel, data] of Object.entries(files)) {
        expect(md5(await readFile(path.join(back, rel)))).toBe(md5(data));
      }
    },
  );
});
