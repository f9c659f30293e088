/**
 * Verification paths radosgw cannot show (it ignores flexible checksums and has no KMS):
 * encrypted objects verified by their S3 checksum, the AWS part-layout answer to HEAD with
 * PartNumber, and the checksum header sent with uploads.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandInput,
  type HeadObjectCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  compositeEtag,
  HashMismatchError,
  S3Object,
  type S3ObjectOptions,
} from '../../src/index.js';
import { forgetCapabilities } from '../../src/client/capabilities.js';
import { parseIndex, type IndexEntry } from '../../src/hash-index.js';
import { createChecksummer } from '../../src/checksum.js';
import { notModified } from './mocked-s3.js';

const MiB = 1024 * 1024;
const sdk = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const s3 = mockClient(sdk);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const body = (data: Buffer) => sdkStreamMixin(Readable.from([data]));

async function sha256(data: Buffer): Promise<string> {
  const c = createChecksummer('SHA256');
  c.update(data);
  return c.digest();
}

function etagFor(data: Buffer, partSize: number): string {
  const parts: string[] = [];
  for (let o = 0; o < data.length; o += partSize) parts.push(md5(data.subarray(o, o + partSize)));
  return compositeEtag(parts);
}

let dir = '';
beforeEach(async () => {
  s3.reset();
  forgetCapabilities();
  dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-integrity-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function object(options: S3ObjectOptions = {}): S3Object {
  return new S3Object('s3://bucket/key.bin', {
    client: sdk,
    localPath: path.join(dir, 'key.bin'),
    progressMode: 'disabled',
    retry: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 },
    hashIndex: path.join(dir, '.index'),
    ...options,
  });
}

describe('an SSE-KMS object (its ETag is not an MD5)', () => {
  const data = Buffer.from('encrypted at rest');
  const kmsEtag = `"${md5(Buffer.from('not the content'))}"`;

  it('is verified by its SHA-256 checksum, and the GET asks for checksums', async () => {
    const checksum = await sha256(data);
    const meta = {
      ContentLength: data.length,
      ETag: kmsEtag,
      ServerSideEncryption: 'aws:kms' as const,
    };
    s3.on(HeadObjectCommand).resolves({
      ...meta,
      ChecksumSHA256: checksum,
      ChecksumType: 'FULL_OBJECT',
    });
    s3.on(GetObjectCommand).callsFake(() => ({
      ...meta,
      ChecksumSHA256: checksum,
      ChecksumType: 'FULL_OBJECT',
      Body: body(data),
    }));
    const result = await object().sync('download');
    expect(result).toMatchObject({ transferred: 1, unverified: 0 });
    expect(await readFile(path.join(dir, 'key.bin'))).toEqual(data);
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input.ChecksumMode).toBe('ENABLED');
  });

  it('bytes that do not match the checksum are a HashMismatchError, and nothing lands', async () => {
    const meta = {
      ContentLength: data.length,
      ETag: kmsEtag,
      ServerSideEncryption: 'aws:kms' as const,
    };
    const wrong = await sha256(Buffer.from('something else!!!'));
    s3.on(HeadObjectCommand).resolves(meta);
    s3.on(GetObjectCommand).callsFake(() => ({ ...meta, ChecksumSHA256: wrong, Body: body(data) }));
    await expect(object().sync('download')).rejects.toBeInstanceOf(HashMismatchError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('without a checksum or fingerprint it is downloaded but counted as unverified', async () => {
    const meta = {
      ContentLength: data.length,
      ETag: kmsEtag,
      ServerSideEncryption: 'aws:kms' as const,
    };
    s3.on(HeadObjectCommand).resolves(meta);
    s3.on(GetObjectCommand).callsFake(() => ({ ...meta, Body: body(data) }));
    expect(await object().sync('download')).toMatchObject({ transferred: 1, unverified: 1 });
  });

  it('is never assumed equal to a local file from its ETag alone', async () => {
    await writeFile(path.join(dir, 'key.bin'), data);
    const meta = {
      ContentLength: data.length,
      ETag: `"${md5(data)}"`,
      ServerSideEncryption: 'aws:kms' as const,
    };
    s3.on(HeadObjectCommand).resolves(meta);
    s3.on(GetObjectCommand).callsFake(() => ({ ...meta, Body: body(data) }));
    const result = await object().sync('download');
    // An MD5-looking ETag of an encrypted object proves nothing: it is fetched again.
    expect(result.transferred).toBe(1);
  });
});

describe('a multipart object with an unusual part size, on AWS', () => {
  // 7 MiB parts are not among the common sizes; AWS tells the layout through PartNumber.
  const partSize = 7 * MiB;
  const data = Buffer.alloc(2 * partSize + 12345, 3);
  data.writeUInt32LE(0xdeadbeef, partSize + 5);
  const etag = `"${etagFor(data, partSize)}"`;

  function mockAws(): void {
    s3.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) =>
      input.PartNumber === 1
        ? { ContentLength: partSize, ETag: etag, PartsCount: 3 }
        : { ContentLength: data.length, ETag: etag },
    );
    s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
      if (input.IfNoneMatch === etag) throw notModified();
      return { ContentLength: data.length, ETag: etag, Body: body(data) };
    });
  }

  it('is verified after the download with the layout HEAD with PartNumber=1 reports', async () => {
    mockAws();
    expect(await object().sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
    const partHead = s3
      .commandCalls(HeadObjectCommand)
      .find((c) => c.args[0].input.PartNumber === 1);
    expect(partHead?.args[0].input.IfMatch).toBe(etag);
  });

  it('is compared with a local copy through the same layout, then remembered', async () => {
    await writeFile(path.join(dir, 'key.bin'), data);
    // A file that existed before the sync (a fresh one is rightly hashed again next time).
    const past = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, 'key.bin'), past, past);
    mockAws();
    expect(await object().sync('download')).toMatchObject({ transferred: 0, unchanged: 1 });
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
    s3.resetHistory();
    expect(await object().sync('download')).toMatchObject({ unchanged: 1, hashedFiles: 0 });
    // Remembered by its ETag: one conditional GET, answered 304.
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.IfNoneMatch)).toEqual([
      etag,
    ]);
  });

  it('a corrupted download is a HashMismatchError once the layout is known', async () => {
    mockAws();
    const corrupted = Buffer.from(data);
    corrupted[10] = (corrupted[10] ?? 0) ^ 1;
    s3.on(GetObjectCommand).callsFake(() => ({
      ContentLength: data.length,
      ETag: etag,
      Body: body(corrupted),
    }));
    await expect(object().sync('download')).rejects.toBeInstanceOf(HashMismatchError);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('a multipart object whose ETag does not verify the download: the MD5 is kept', () => {
  const partSize = 7 * MiB;
  const data = Buffer.alloc(2 * partSize + 12345, 4);
  data.writeUInt32LE(0xfeedface, 5);
  const etag = `"${etagFor(data, partSize)}"`;

  async function indexEntries(): Promise<IndexEntry[]> {
    const indexDir = path.join(dir, '.index');
    const out: IndexEntry[] = [];
    for (const name of await readdir(indexDir)) {
      if (name.endsWith('.jsonl'))
        out.push(...parseIndex(await readFile(path.join(indexDir, name), 'utf8')).values());
    }
    return out;
  }

  it('the layout pass after a wrong guess computes it, and the index records it', async () => {
    s3.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) =>
      input.PartNumber === 1
        ? { ContentLength: partSize, ETag: etag, PartsCount: 3 }
        : { ContentLength: data.length, ETag: etag },
    );
    s3.on(GetObjectCommand).callsFake(() => ({
      ContentLength: data.length,
      ETag: etag,
      Body: body(data),
    }));
    expect(await object().sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
    expect(await indexEntries()).toMatchObject([{ md5: md5(data), etag }]);
  });

  it('an unverified download (no layout anywhere) is hashed for it before the index records it', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: data.length, ETag: etag });
    s3.on(GetObjectCommand).callsFake(() => ({
      ContentLength: data.length,
      ETag: etag,
      Body: body(data),
    }));
    expect(await object().sync('download')).toMatchObject({ transferred: 1, unverified: 1 });
    expect(await indexEntries()).toMatchObject([{ md5: md5(data), etag }]);
  });

  it('a download verified by the recorded part size records no MD5, only the ETag', async () => {
    s3.on(HeadObjectCommand).resolves({
      ContentLength: data.length,
      ETag: etag,
      Metadata: { 's3lync-part-size': String(partSize) },
    });
    s3.on(GetObjectCommand).callsFake(() => ({
      ContentLength: data.length,
      ETag: etag,
      Metadata: { 's3lync-part-size': String(partSize) },
      Body: body(data),
    }));
    expect(await object().sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
    const entries = await indexEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ size: data.length, md5: undefined, etag });
    expect(s3.commandCalls(HeadObjectCommand).some((c) => c.args[0].input.PartNumber)).toBe(false);
  });
});

describe('checksumAlgorithm on uploads', () => {
  it('sends the checksum computed from the file as a header, not a trailer', async () => {
    const data = Buffer.from('checksummed upload');
    await writeFile(path.join(dir, 'key.bin'), data);
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), {
        name: 'NotFound',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    s3.on(PutObjectCommand).resolves({ ETag: `"${md5(data)}"` });
    await object({ checksumAlgorithm: 'SHA256' }).upload();
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input?.ChecksumSHA256).toBe(await sha256(data));
    expect(input?.ChecksumAlgorithm).toBeUndefined();
  });

  it('rejects an unknown algorithm at construction', () => {
    expect(() => object({ checksumAlgorithm: 'MD4' as never })).toThrow(/checksumAlgorithm.*MD4/);
  });
});
