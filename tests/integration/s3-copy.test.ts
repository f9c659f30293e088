/**
 * S3 → S3 against radosgw: server-side copies within one endpoint (no object bytes
 * through the client), part copies above the threshold, streaming across endpoints, and
 * the plan's rules (mirror, maxDelete, filters, dry run) as for local ↔ S3.
 */
import { randomBytes } from 'node:crypto';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import { S3Object, SyncError, type S3ObjectOptions } from '../../src/index.js';
import {
  describeS3,
  getObject,
  headObject,
  interceptSend,
  listKeys,
  md5,
  putObject,
  recordCommands,
  s3,
  uniqueKey,
  uriFor,
  useBucket,
  useProxyPerTest,
  requires,
} from './helpers.js';

const MiB = 1024 * 1024;

/** Commands that carry object bytes through the client. */
const BYTES = ['GetObjectCommand', 'PutObjectCommand', 'UploadPartCommand'];

describeS3('S3 → S3 against radosgw', () => {
  const bucket = useBucket();
  const proxied = useProxyPerTest(500);

  function object(key: string, options: S3ObjectOptions = {}, endpoint = s3.endpoint): S3Object {
    const uri = `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${endpoint}/${bucket.name}/${key}`;
    return new S3Object(endpoint === s3.endpoint ? uriFor(bucket.name, key) : uri, {
      progressMode: 'disabled',
      hashIndex: false,
      partSize: 5 * MiB,
      multipartThreshold: 5 * MiB,
      maxConcurrency: 2,
      ...options,
    });
  }

  async function seed(prefix: string, files: Record<string, string>): Promise<void> {
    for (const [rel, body] of Object.entries(files)) {
      await putObject(bucket.client, bucket.name, `${prefix}${rel}`, body);
    }
  }

  it('a tree within one endpoint copies on the server: CopyObject only, then nothing', async () => {
    const base = uniqueKey('tree');
    await seed(`${base}/src/`, { 'a.txt': 'alpha', 'd/b.txt': 'bravo', 'd/e/c.bin': 'charlie' });
    const src = object(`${base}/src/`);
    const dst = object(`${base}/dst/`);
    const sent = recordCommands(src.client.sdk);
    const received = recordCommands(dst.client.sdk);
    const verified: string[] = [];
    const result = await src.syncTo(dst, { onVerified: (p) => verified.push(p) });
    expect(result).toMatchObject({ direction: 'copy', tree: true, transferred: 3, unverified: 0 });
    expect(verified.sort()).toEqual(['a.txt', 'd/b.txt', 'd/e/c.bin']);
    const all = [...sent, ...received];
    expect(all.filter((c) => BYTES.includes(c))).toEqual([]);
    expect(all.filter((c) => c === 'CopyObjectCommand')).toHaveLength(3);
    expect((await getObject(bucket.client, bucket.name, `${base}/dst/d/e/c.bin`)).toString()).toBe(
      'charlie',
    );

    all.length = 0;
    sent.length = 0;
    received.length = 0;
    const again = await src.syncTo(dst);
    expect(again).toMatchObject({ transferred: 0, unchanged: 3 });
    expect(received.filter((c) => c !== 'ListObjectsV2Command')).toEqual([]);
  });

  it('a single object copies to a key, and into a prefix under its own name', async () => {
    const base = uniqueKey('one');
    await seed(`${base}/`, { 'x.json': '{"a":1}' });
    const result = await object(`${base}/x.json`).syncTo(object(`${base}/copies/`));
    expect(result).toMatchObject({ tree: false, transferred: 1 });
    expect(await listKeys(bucket.client, bucket.name, `${base}/copies/`)).toEqual([
      `${base}/copies/x.json`,
    ]);
    const head = await headObject(bucket.client, bucket.name, `${base}/copies/x.json`);
    expect(head.ContentLength).toBe(7);
  });

  it('mirror, maxDelete, filters and dry run work as for local ↔ S3', async () => {
    const base = uniqueKey('mirror');
    await seed(`${base}/src/`, { 'keep.txt': 'k', 'new.txt': 'n', 'skip.log': 'l' });
    await seed(`${base}/dst/`, { 'keep.txt': 'k', 'old.txt': 'o', 'other.log': 'x' });
    const src = object(`${base}/src/`);
    const dst = object(`${base}/dst/`);
    const filters = [{ exclude: '*.log' }];
    const plan = await src.syncTo(dst, { mirror: true, dryRun: true, filters });
    expect(plan.actions.map((a) => `${a.op} ${a.path}`).sort()).toEqual([
      'copy new.txt',
      'delete old.txt',
    ]);
    await expect(src.syncTo(dst, { mirror: true, maxDelete: 0, filters })).rejects.toThrow(
      /maxDelete/,
    );
    expect(await listKeys(bucket.client, bucket.name, `${base}/dst/`)).toEqual(
      ['keep.txt', 'old.txt', 'other.log'].map((k) => `${base}/dst/${k}`),
    );
    const done = await src.syncTo(dst, { mirror: true, maxDelete: 1, filters });
    expect(done).toMatchObject({ transferred: 1, deleted: 1, unchanged: 1 });
    // Excluded keys are neither copied nor deleted.
    expect(await listKeys(bucket.client, bucket.name, `${base}/dst/`)).toEqual(
      ['keep.txt', 'new.txt', 'other.log'].map((k) => `${base}/dst/${k}`),
    );
  });

  requires('upload-part-copy').it(
    'above the threshold it copies parts (UploadPartCopy) and the composite ETag proves the copy',
    async () => {
      const key = uniqueKey('big.bin');
      const data = randomBytes(12 * MiB);
      const src = object(key);
      await seedFile(src, data);
      const dst = object(`${key}.copy`);
      const names = recordCommands(src.client.sdk);
      const received = recordCommands(dst.client.sdk);
      const verified: string[] = [];
      const result = await src.syncTo(dst, {
        multipartCopyThreshold: 8 * MiB,
        onVerified: (p) => verified.push(p),
      });
      expect(result).toMatchObject({ transferred: 1, unverified: 0 });
      expect(verified).toEqual(['big.bin']);
      const all = [...names, ...received];
      expect(all.filter((c) => BYTES.includes(c))).toEqual([]);
      expect(all.filter((c) => c === 'UploadPartCopyCommand')).toHaveLength(3);
      const [a, b] = await Promise.all([
        headObject(bucket.client, bucket.name, key),
        headObject(bucket.client, bucket.name, `${key}.copy`),
      ]);
      expect(b.ETag).toBe(a.ETag);
      expect(b.Metadata?.['s3lync-md5']).toBe(a.Metadata?.['s3lync-md5']);
      expect((await getObject(bucket.client, bucket.name, `${key}.copy`)).equals(data)).toBe(true);
    },
  );

  it('across endpoints it streams GET → PUT (and parts), verified, with no CopyObject', async () => {
    const base = uniqueKey('relay');
    await bucket.client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: `${base}/src/small.txt`,
        Body: 'small',
        ContentType: 'text/x-small',
        CacheControl: 'max-age=7',
        Metadata: { team: 'data' },
      }),
    );
    const big = randomBytes(11 * MiB);
    await seedFile(object(`${base}/src/big.bin`), big);
    const src = object(`${base}/src/`);
    const dst = object(`${base}/dst/`, {}, proxied.proxy.endpoint);
    const names = recordCommands(src.client.sdk);
    const received = recordCommands(dst.client.sdk);
    const verified: string[] = [];
    const result = await src.syncTo(dst, {
      multipartCopyThreshold: 8 * MiB,
      onVerified: (p) => verified.push(p),
    });
    expect(result).toMatchObject({ transferred: 2, unverified: 0 });
    expect(verified.sort()).toEqual(['big.bin', 'small.txt']);
    expect([...names, ...received]).not.toContain('CopyObjectCommand');
    expect(names).toContain('GetObjectCommand');
    expect(received).toContain('UploadPartCommand');
    expect((await getObject(bucket.client, bucket.name, `${base}/dst/big.bin`)).equals(big)).toBe(
      true,
    );
    const [a, b] = await Promise.all([
      headObject(bucket.client, bucket.name, `${base}/src/big.bin`),
      headObject(bucket.client, bucket.name, `${base}/dst/big.bin`),
    ]);
    expect(b.ETag).toBe(a.ETag);
    // The source's headers travel with the bytes, as a server-side copy keeps them.
    const small = await headObject(bucket.client, bucket.name, `${base}/dst/small.txt`);
    expect(small).toMatchObject({
      ContentType: 'text/x-small',
      CacheControl: 'max-age=7',
      Metadata: { team: 'data', 's3lync-md5': md5('small') },
    });
  });

  it('a failed copy is a failure, never reported verified', async () => {
    const base = uniqueKey('fail');
    await seed(`${base}/src/`, { 'a.txt': 'a', 'b.txt': 'b' });
    const src = object(`${base}/src/`);
    const dst = object(`${base}/dst/`);
    interceptSend(dst.client.sdk, (command, send) => {
      const input = (command as { input: { Key?: string } }).input;
      if (
        (command as object).constructor.name === 'CopyObjectCommand' &&
        input.Key?.endsWith('b.txt')
      ) {
        return Promise.reject(
          Object.assign(new Error('boom'), {
            name: 'AccessDenied',
            $metadata: { httpStatusCode: 403 },
          }),
        );
      }
      return send();
    });
    const verified: string[] = [];
    const error = await src
      .syncTo(dst, { onVerified: (p) => verified.push(p) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncError);
    expect(verified).toEqual(['a.txt']);
  });

  /** Uploads `data` through s3lync (multipart above 5 MiB, with its part-size record). */
  async function seedFile(obj: S3Object, data: Buffer): Promise<void> {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 's3lync-copy-'));
    const file = path.join(dir, 'f');
    await writeFile(file, data);
    const up = new S3Object(obj.toJSON().uri === obj.uri ? uriFor(obj.bucket, obj.key) : obj.uri, {
      localPath: file,
      progressMode: 'disabled',
      hashIndex: false,
      partSize: 5 * MiB,
      multipartThreshold: 5 * MiB,
    });
    await up.upload();
  }
});
