/**
 * Wiring of `S3Object` with a mocked SDK client: which requests each operation sends,
 * what lands on disk, and which typed errors come out.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type PutObjectCommandInput,
  type UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { forgetCapabilities } from '../../src/client/capabilities.js';
import { MIN_PART_SIZE, S3Object, type S3ObjectOptions } from '../../src/core.js';
import {
  AccessDeniedError,
  ConfigError,
  HashMismatchError,
  NotFoundError,
  PreconditionFailedError,
  S3ObjectError,
} from '../../src/exceptions.js';
import type { OpenMode } from '../../src/file.js';
import { compositeEtag } from '../../src/hash.js';
import {
  DELETE_OPTION_KEYS,
  EXISTS_OPTION_KEYS,
  OPEN_OPTION_KEYS,
  S3_OBJECT_OPTION_KEYS,
  SYNC_OPTION_KEYS,
} from '../../src/options.js';
import { objectOptionValues, quotedKeys, shownOption, syncOptionValues } from './option-values.js';

const URI = 's3://bucket/dir/obj.bin';
const NO_DELAY = { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 } as const;

const sdk = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const s3 = mockClient(sdk);

let dir = '';
let local = '';
/** The hash index lives outside `dir`, so listing `dir` shows only what a sync wrote. */
let indexDir = '';

beforeEach(async () => {
  s3.reset();
  forgetCapabilities();
  dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-core-test-'));
  indexDir = await mkdtemp(path.join(os.tmpdir(), 's3lync-core-index-'));
  local = path.join(dir, 'obj.bin');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(indexDir, { recursive: true, force: true });
});

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

function object(options: S3ObjectOptions = {}, uri = URI): S3Object {
  return new S3Object(uri, {
    client: sdk,
    localPath: local,
    progressMode: 'disabled',
    retry: NO_DELAY,
    hashIndex: indexDir,
    ...options,
  });
}

function s3Error(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

const notFound = (): S3ServiceException => s3Error('NotFound', 404);

function headOf(body: Buffer | string, etag = md5(body)) {
  return { ContentLength: Buffer.byteLength(body), ETag: `"${etag}"`, Metadata: {} };
}

function getOf(body: Buffer | string, etag = md5(body)) {
  const bytes = Buffer.from(body);
  return {
    Body: sdkStreamMixin(Readable.from([bytes])),
    ContentLength: bytes.length,
    ETag: `"${etag}"`,
    Metadata: {},
  };
}

/** Reads a PutObject body (a file stream in s3lync) into a Buffer. */
async function bodyBytes(body: PutObjectCommandInput['Body']): Promise<Buffer> {
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }
  if (typeof body === 'string' || body instanceof Uint8Array) return Buffer.from(body);
  throw new Error('unexpected body type');
}

/** Mocks PutObject to record each body's bytes and answer with their MD5 as ETag. */
function capturePuts(): Buffer[] {
  const bodies: Buffer[] = [];
  s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const bytes = await bodyBytes(input.Body);
    bodies.push(bytes);
    return { ETag: `"${md5(bytes)}"` };
  });
  return bodies;
}

/** Names of the commands sent, in order. */
function sent(): string[] {
  return s3.calls().map((c) => c.args[0].constructor.name);
}

describe('download()', () => {
  it('sends HEAD then GET, writes the file atomically and returns the local path', async () => {
    const body = Buffer.from('remote content');
    s3.on(HeadObjectCommand, { Bucket: 'bucket', Key: 'dir/obj.bin' }).resolves(headOf(body));
    s3.on(GetObjectCommand, { Bucket: 'bucket', Key: 'dir/obj.bin' }).resolves(getOf(body));
    await expect(object().download()).resolves.toBe(local);
    expect(sent()).toEqual(['HeadObjectCommand', 'GetObjectCommand']);
    expect(await readFile(local)).toEqual(body);
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it('creates missing parent directories of the local path', async () => {
    const body = Buffer.from('nested');
    local = path.join(dir, 'a', 'b', 'obj.bin');
    s3.on(HeadObjectCommand).resolves(headOf(body));
    s3.on(GetObjectCommand).resolves(getOf(body));
    await object().download();
    expect(await readFile(local)).toEqual(body);
  });

  it('sends only HEAD when the local file already holds the same bytes', async () => {
    const body = Buffer.from('same content');
    await writeFile(local, body);
    s3.on(HeadObjectCommand).resolves(headOf(body));
    await expect(object().download()).resolves.toBe(local);
    expect(sent()).toEqual(['HeadObjectCommand']);
  });

  it('downloads when the local file has the same size but other bytes', async () => {
    const body = Buffer.from('new content!');
    await writeFile(local, 'old content!');
    s3.on(HeadObjectCommand).resolves(headOf(body));
    s3.on(GetObjectCommand).resolves(getOf(body));
    await object().download();
    expect(sent()).toEqual(['HeadObjectCommand', 'GetObjectCommand']);
    expect(await readFile(local)).toEqual(body);
  });

  it('with useChecksum: false, trusts equal sizes', async () => {
    await writeFile(local, 'old content!');
    s3.on(HeadObjectCommand).resolves(headOf('new content!'));
    await object().download({ useChecksum: false });
    expect(sent()).toEqual(['HeadObjectCommand']);
    expect(await readFile(local, 'utf8')).toBe('old content!');
  });

  it('raises NotFoundError and writes nothing when the key is neither an object nor a prefix', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    const err: unknown = await object()
      .download()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain(URI);
    expect(sent()).toEqual(['HeadObjectCommand', 'ListObjectsV2Command']);
    expect(s3.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toMatchObject({
      Bucket: 'bucket',
      Prefix: 'dir/obj.bin/',
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('raises NotFoundError naming the bucket when the bucket does not exist (HEAD 404, LIST NoSuchBucket)', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).rejects(
      s3Error('NoSuchBucket', 404, 'The specified bucket does not exist'),
    );
    const err: unknown = await object()
      .download()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('the bucket bucket does not exist');
    expect(await readdir(dir)).toEqual([]);
  });

  it('does not swallow AccessDenied on HEAD (defect 7 of the Python package)', async () => {
    const sdkError = s3Error('AccessDenied', 403, 'Access Denied');
    s3.on(HeadObjectCommand).rejects(sdkError);
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    const err: unknown = await object()
      .download()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as AccessDeniedError).cause).toBe(sdkError);
    expect(sent()).toEqual(['HeadObjectCommand']);
    expect(await readdir(dir)).toEqual([]);
  });

  it('raises HashMismatchError when the bytes do not match the ETag, keeping the old local file and no temp files', async () => {
    await writeFile(local, 'previous local content');
    const body = Buffer.from('corrupted in transit');
    s3.on(HeadObjectCommand).resolves(headOf(body, md5('the real content')));
    s3.on(GetObjectCommand).callsFake(() => getOf(body, md5('the real content')));
    const err: unknown = await object()
      .download()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HashMismatchError);
    const e = err as HashMismatchError;
    expect(e.expected).toBe(md5('the real content'));
    expect(e.actual).toBe(md5(body));
    expect(e.message).toContain(URI);
    // Retried within the budget: each attempt gets a fresh response.
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(3);
    expect(await readFile(local, 'utf8')).toBe('previous local content');
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it('checks the s3lync fingerprint when the ETag is not an MD5 (multipart objects)', async () => {
    const body = Buffer.from('multipart-ish');
    const response = {
      ContentLength: body.length,
      ETag: `"${md5('x')}-2"`,
      Metadata: { 's3lync-md5': md5('something else') },
    };
    s3.on(HeadObjectCommand).resolves(response);
    s3.on(GetObjectCommand).callsFake(() => ({
      ...response,
      Body: sdkStreamMixin(Readable.from([body])),
    }));
    await expect(object().download()).rejects.toBeInstanceOf(HashMismatchError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('retries a GET whose body is cut mid-way and succeeds within maxAttempts', async () => {
    const body = Buffer.from('0123456789'.repeat(10));
    s3.on(HeadObjectCommand).resolves(headOf(body));
    let sentPrefix = false;
    const dying = new Readable({
      read() {
        if (!sentPrefix) {
          sentPrefix = true;
          this.push(body.subarray(0, 10));
          return;
        }
        this.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      },
    });
    s3.on(GetObjectCommand)
      .resolvesOnce({ ...getOf(body), Body: sdkStreamMixin(dying) })
      .resolvesOnce(getOf(body));
    await object().download();
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(2);
    expect(await readFile(local)).toEqual(body);
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it('with an already-aborted signal rejects with signal.reason and sends nothing', async () => {
    const reason = new Error('cancelled by the caller');
    await expect(object().download({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(s3.calls()).toHaveLength(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('aborted mid-download rejects with signal.reason and leaves no temp file', async () => {
    const body = Buffer.from('0123456789'.repeat(10));
    const controller = new AbortController();
    const reason = new Error('stop now');
    s3.on(HeadObjectCommand).resolves(headOf(body));
    let pushed = false;
    const stalled = new Readable({
      read() {
        if (pushed) return; // never ends: only the abort finishes this download
        pushed = true;
        this.push(body.subarray(0, 10));
        setImmediate(() => {
          controller.abort(reason);
        });
      },
    });
    s3.on(GetObjectCommand).resolves({ ...getOf(body), Body: sdkStreamMixin(stalled) });
    await expect(object().download({ signal: controller.signal })).rejects.toBe(reason);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('upload()', () => {
  it('PUTs a small file with Content-MD5, Content-Length and the s3lync-md5 fingerprint', async () => {
    const body = Buffer.from('local content');
    await writeFile(local, body);
    s3.on(HeadObjectCommand).rejects(notFound());
    const bodies = capturePuts();
    await expect(object().upload()).resolves.toBe(URI);
    expect(sent()).toEqual(['HeadObjectCommand', 'PutObjectCommand']);
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      Bucket: 'bucket',
      Key: 'dir/obj.bin',
      ContentLength: body.length,
      ContentMD5: createHash('md5').update(body).digest('base64'),
      Metadata: { 's3lync-md5': md5(body) },
    });
    expect(input?.IfNoneMatch).toBeUndefined();
    expect(bodies).toEqual([body]);
  });

  it('sends no PUT when HEAD shows the same content', async () => {
    const body = Buffer.from('local content');
    await writeFile(local, body);
    s3.on(HeadObjectCommand).resolves(headOf(body));
    await object().upload();
    expect(sent()).toEqual(['HeadObjectCommand']);
  });

  it('sends no PUT when the s3lync fingerprint matches, whatever the ETag', async () => {
    const body = Buffer.from('local content');
    await writeFile(local, body);
    s3.on(HeadObjectCommand).resolves({
      ContentLength: body.length,
      ETag: `"${md5('x')}-3"`,
      Metadata: { 's3lync-md5': md5(body) },
    });
    await object().upload();
    expect(sent()).toEqual(['HeadObjectCommand']);
  });

  it('PUTs when HEAD shows the same size but another MD5', async () => {
    await writeFile(local, 'aaaa');
    s3.on(HeadObjectCommand).resolves(headOf('bbbb'));
    capturePuts();
    await object().upload();
    expect(sent()).toEqual(['HeadObjectCommand', 'PutObjectCommand']);
  });

  it('raises HashMismatchError when the server stores another MD5 than the one sent', async () => {
    await writeFile(local, 'local content');
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(PutObjectCommand).resolves({ ETag: `"${md5('something else')}"` });
    await expect(object().upload()).rejects.toBeInstanceOf(HashMismatchError);
  });

  it('raises AccessDeniedError from a refused PUT, sent once', async () => {
    await writeFile(local, 'local content');
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    await expect(object().upload()).rejects.toBeInstanceOf(AccessDeniedError);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
  });

  it('retries a PUT that fails with 503 at most maxAttempts times in all', async () => {
    await writeFile(local, 'local content');
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(PutObjectCommand).rejects(s3Error('SlowDown', 503));
    const err: unknown = await object()
      .upload()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ObjectError);
    expect((err as S3ObjectError).code).toBe('SlowDown');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(3);
  });

  describe('multipart', () => {
    const size = MIN_PART_SIZE + 1000;
    let content = Buffer.alloc(0);
    let expectedEtag = '';

    beforeEach(async () => {
      content = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) content[i] = i % 251;
      await writeFile(local, content);
      expectedEtag = compositeEtag([
        md5(content.subarray(0, MIN_PART_SIZE)),
        md5(content.subarray(MIN_PART_SIZE)),
      ]);
    });

    function mockParts(): void {
      s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
      s3.on(UploadPartCommand).callsFake(async (input: UploadPartCommandInput) => ({
        ETag: `"${md5(await bodyBytes(input.Body))}"`,
      }));
      // radosgw answers CompleteMultipartUpload with an empty ETag.
      s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '' });
    }

    const multipart = (): S3Object =>
      object({ multipartThreshold: MIN_PART_SIZE, partSize: MIN_PART_SIZE, maxConcurrency: 2 });

    it('uploads in parts and verifies the composite ETag from HEAD', async () => {
      mockParts();
      s3.on(HeadObjectCommand)
        .rejectsOnce(notFound())
        .resolves({ ContentLength: size, ETag: `"${expectedEtag}"` });
      await expect(multipart().upload()).resolves.toBe(URI);
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
      expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
      // A new object: the MD5 is computed while the parts are read, after the metadata went.
      expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input.Metadata).toEqual({
        's3lync-part-size': String(MIN_PART_SIZE),
      });
      const parts = s3.commandCalls(UploadPartCommand).map((c) => c.args[0].input);
      expect(parts.map((p) => p.PartNumber).sort()).toEqual([1, 2]);
      expect(parts.every((p) => p.UploadId === 'upload-1')).toBe(true);
      const complete = s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input;
      expect(complete?.UploadId).toBe('upload-1');
      expect(complete?.MultipartUpload?.Parts).toEqual([
        { PartNumber: 1, ETag: `"${md5(content.subarray(0, MIN_PART_SIZE))}"` },
        { PartNumber: 2, ETag: `"${md5(content.subarray(MIN_PART_SIZE))}"` },
      ]);
      expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
      // HEAD before (is it already there?) and after (verification).
      expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
    });

    it('records the MD5 as the fingerprint when comparing the same-size object already hashed the file', async () => {
      mockParts();
      const other = compositeEtag([md5('x'), md5('y')]);
      s3.on(HeadObjectCommand)
        .resolvesOnce({ ContentLength: size, ETag: `"${other}"` })
        .resolvesOnce({ ContentLength: size, ETag: `"${other}"` })
        .resolves({ ContentLength: size, ETag: `"${expectedEtag}"` });
      await multipart().upload();
      expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input.Metadata).toEqual({
        's3lync-md5': md5(content),
        's3lync-part-size': String(MIN_PART_SIZE),
      });
    });

    it('uses the ETag CompleteMultipartUpload returns, when there is one, instead of a HEAD', async () => {
      mockParts();
      s3.on(CompleteMultipartUploadCommand).resolves({ ETag: `"${expectedEtag}"` });
      s3.on(HeadObjectCommand).rejects(notFound());
      await expect(multipart().sync('upload')).resolves.toMatchObject({ etag: expectedEtag });
      expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(1);
    });

    it('raises HashMismatchError when HEAD shows another composite ETag', async () => {
      mockParts();
      const wrong = compositeEtag([md5('a'), md5('b')]);
      s3.on(HeadObjectCommand)
        .rejectsOnce(notFound())
        .resolves({ ContentLength: size, ETag: `"${wrong}"` });
      const err: unknown = await multipart()
        .upload()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HashMismatchError);
      expect((err as HashMismatchError).expected).toBe(expectedEtag);
      expect((err as HashMismatchError).actual).toBe(wrong);
    });

    it('raises HashMismatchError when HEAD shows another size', async () => {
      mockParts();
      s3.on(HeadObjectCommand)
        .rejectsOnce(notFound())
        .resolves({ ContentLength: size - 1, ETag: `"${expectedEtag}"` });
      await expect(multipart().upload()).rejects.toBeInstanceOf(HashMismatchError);
    });

    it('skips a second upload of the same file: the hash index remembers the composite ETag', async () => {
      // An mtime well in the past, so the index entry is not "racy" and is trusted.
      const past = new Date(Date.now() - 3_600_000);
      await utimes(local, past, past);
      mockParts();
      // No fingerprint in the HEAD: only the index can tell the content is the same.
      s3.on(HeadObjectCommand)
        .rejectsOnce(notFound())
        .resolves({ ContentLength: size, ETag: `"${expectedEtag}"` });
      await multipart().upload();
      expect(s3.commandCalls(UploadPartCommand)).toHaveLength(2);
      const before = sent().length;
      await multipart().upload();
      expect(sent().slice(before)).toEqual(['HeadObjectCommand']);
    });

    it('aborts the multipart upload when a part fails', async () => {
      s3.on(HeadObjectCommand).rejects(notFound());
      s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
      s3.on(UploadPartCommand).rejects(s3Error('AccessDenied', 403));
      s3.on(AbortMultipartUploadCommand).resolves({});
      const err: unknown = await multipart()
        .upload()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect((err as AccessDeniedError).operation).toBe('MultipartUpload');
      expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
      const aborts = s3.commandCalls(AbortMultipartUploadCommand);
      expect(aborts).toHaveLength(1);
      expect(aborts[0]?.args[0].input).toEqual({
        Bucket: 'bucket',
        Key: 'dir/obj.bin',
        UploadId: 'upload-1',
      });
    });
  });

  // A file above multipartThreshold that fits in one part once went through lib-storage,
  // which then sent one PutObject without Content-MD5 (and, with WHEN_REQUIRED, no
  // checksum), and only its size was checked: nothing checked the bytes at all.
  it('a file above multipartThreshold but within one part is verified (a wrong MD5 ETag is refused)', async () => {
    await writeFile(local, 'local content');
    s3.on(HeadObjectCommand)
      .rejectsOnce(notFound())
      .resolves({ ContentLength: 13, ETag: `"${md5('other content')}"` });
    s3.on(PutObjectCommand).resolves({ ETag: `"${md5('other content')}"` });
    const obj = object({ multipartThreshold: 1, partSize: MIN_PART_SIZE });
    await expect(obj.upload()).rejects.toBeInstanceOf(HashMismatchError);
  });

  it('a file above multipartThreshold that fits in one part is sent by one PutObject', async () => {
    const body = Buffer.from('local content');
    await writeFile(local, body);
    s3.on(HeadObjectCommand).rejectsOnce(notFound()).resolves(headOf(body));
    const bodies = capturePuts();
    await object({ multipartThreshold: 1, partSize: MIN_PART_SIZE }).upload();
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
    expect(bodies).toEqual([body]);
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input?.Metadata).toMatchObject({ 's3lync-md5': md5(body) });
  });
});

describe('exists() and delete()', () => {
  it('exists() is true for an object (one HEAD)', async () => {
    s3.on(HeadObjectCommand).resolves(headOf('x'));
    await expect(object().exists()).resolves.toBe(true);
    expect(sent()).toEqual(['HeadObjectCommand']);
  });

  it('exists() falls back to the prefix when there is no object', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).resolvesOnce({ KeyCount: 1 }).resolvesOnce({ KeyCount: 0 });
    await expect(object().exists()).resolves.toBe(true);
    await expect(object().exists()).resolves.toBe(false);
  });

  it('exists() does not turn AccessDenied into false', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('AccessDenied', 403));
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(object().exists()).rejects.toBeInstanceOf(AccessDeniedError);
  });

  it('delete() sends DELETE for an existing object and removes the local copy on request', async () => {
    await writeFile(local, 'cached');
    s3.on(HeadObjectCommand).resolvesOnce(headOf('x')).rejects(notFound());
    s3.on(DeleteObjectCommand).resolves({});
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0, Contents: [] });
    await expect(object().delete({ local: true })).resolves.toBe(1);
    expect(sent()).toEqual(['HeadObjectCommand', 'DeleteObjectCommand']);
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'bucket',
      Key: 'dir/obj.bin',
    });
    expect(await readdir(dir)).toEqual([]);
    // Nothing at the key: nothing (and no prefix) to delete.
    await expect(object().delete()).resolves.toBe(0);
    expect(sent()).toEqual([
      'HeadObjectCommand',
      'DeleteObjectCommand',
      'HeadObjectCommand',
      'ListObjectsV2Command',
    ]);
  });
});

describe('open()', () => {
  it("'w': write then close() sends one PUT with the written content", async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    const bodies = capturePuts();
    const file = await object().open('w');
    await file.writeFile('written through the handle');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    await file.close();
    expect(bodies).toEqual([Buffer.from('written through the handle')]);
    expect(await readFile(local, 'utf8')).toBe('written through the handle');
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it("'w' with a callback: uploads once after the callback resolves and returns its result", async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    const bodies = capturePuts();
    const result = await object().open('w', async (f) => {
      await f.write('part one, ');
      await f.write('part two');
      return 42;
    });
    expect(result).toBe(42);
    expect(bodies).toEqual([Buffer.from('part one, part two')]);
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it("'w' with a callback that throws: rejects, sends no PUT, leaves no temp file and the local file unchanged (defect 8)", async () => {
    await writeFile(local, 'original local content');
    capturePuts();
    const boom = new Error('boom');
    await expect(
      object().open('w', async (f) => {
        await f.write('half-written');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(await readFile(local, 'utf8')).toBe('original local content');
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it("'a' on an existing object downloads it first and PUTs old content + appended", async () => {
    const old = Buffer.from('old remote content\n');
    s3.on(HeadObjectCommand).resolves(headOf(old));
    s3.on(GetObjectCommand).resolves(getOf(old));
    const bodies = capturePuts();
    await object().open('a', async (f) => {
      await f.write('appended line\n');
    });
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
    expect(bodies).toEqual([Buffer.from('old remote content\nappended line\n')]);
    expect(await readFile(local, 'utf8')).toBe('old remote content\nappended line\n');
    expect(await readdir(dir)).toEqual(['obj.bin']);
  });

  it("'a' on a missing object starts empty", async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    const bodies = capturePuts();
    await object().open('a', async (f) => {
      await f.write('first line\n');
    });
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
    expect(bodies).toEqual([Buffer.from('first line\n')]);
  });

  it("'a' does not swallow AccessDenied while checking the object", async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('AccessDenied', 403));
    capturePuts();
    await expect(
      object().open('a', async (f) => {
        await f.write('x');
      }),
    ).rejects.toBeInstanceOf(AccessDeniedError);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it("'x' when the object exists raises PreconditionFailedError and sends no PUT", async () => {
    s3.on(HeadObjectCommand).resolves(headOf('already there'));
    capturePuts();
    const err: unknown = await object()
      .open('x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    expect((err as Error).message).toContain(URI);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it("'x' when the object is absent PUTs with If-None-Match: *", async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    const bodies = capturePuts();
    await object().open('x', async (f) => {
      await f.write('brand new');
    });
    // The conditional-write probe goes to a scratch key (tests/unit/capabilities.test.ts).
    const puts = s3
      .commandCalls(PutObjectCommand)
      .filter((c) => c.args[0].input.Key === 'dir/obj.bin');
    expect(puts).toHaveLength(1);
    expect(puts[0]?.args[0].input.IfNoneMatch).toBe('*');
    expect(bodies.filter((b) => b.length > 0)).toEqual([Buffer.from('brand new')]);
    // No HEAD before the conditional PUT: the server decides.
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(1);
  });

  it("'x' losing the race (412 on the PUT) raises PreconditionFailedError and keeps nothing", async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    await expect(
      object().open('x', async (f) => {
        await f.write('brand new');
      }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    const puts = s3
      .commandCalls(PutObjectCommand)
      .filter((c) => c.args[0].input.Key === 'dir/obj.bin');
    expect(puts).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it("'r' of a missing object raises NotFoundError", async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(object().open('r')).rejects.toBeInstanceOf(NotFoundError);
    expect(await readdir(dir)).toEqual([]);
  });

  it("'r' downloads and reads, and close() sends nothing", async () => {
    const body = Buffer.from('read me');
    s3.on(HeadObjectCommand).resolves(headOf(body));
    s3.on(GetObjectCommand).resolves(getOf(body));
    const text = await object().open('r', (f) => f.readFile('utf8'));
    expect(text).toBe('read me');
    expect(sent()).toEqual(['HeadObjectCommand', 'GetObjectCommand']);
  });

  it('rejects an invalid mode with ConfigError and sends nothing', async () => {
    await expect(object().open('z' as OpenMode)).rejects.toBeInstanceOf(ConfigError);
    await expect(object().open('rw' as OpenMode)).rejects.toBeInstanceOf(ConfigError);
    expect(s3.calls()).toHaveLength(0);
  });
});

describe('timeouts', () => {
  it('refuses invalid timeouts, from the options or the environment, naming them', () => {
    expect(() => new S3Object(URI, { timeouts: { connectMs: -1 } })).toThrow(
      'Expected `timeouts.connectMs` to be a number of ms from 0 to 2147483647, got -1 (number)',
    );
    vi.stubEnv('S3LYNC_IDLE_TIMEOUT_MS', 'soon');
    try {
      expect(() => new S3Object(URI)).toThrow(ConfigError);
      expect(() => new S3Object(URI)).toThrow('S3LYNC_IDLE_TIMEOUT_MS');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('credentials in the URI', () => {
  const SECRET = 'MYSECRETKEY123';
  const uri = `s3://${SECRET}:AKIDEXAMPLE@http://127.0.0.1:1/bucket/key`;
  const shown = 's3://***:AKIDEXAMPLE@http://127.0.0.1:1/bucket/key';

  function expectNoSecret(err: unknown): void {
    expect(err).toBeInstanceOf(Error);
    const e = err as Error;
    expect(e.message).toContain(shown);
    for (const text of [e.message, String(e), e.stack ?? '', inspect(e, { depth: 10 })]) {
      expect(text).not.toContain(SECRET);
    }
  }

  it('with an injected client, errors show the URI with the secret redacted', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('AccessDenied', 403, 'Access Denied'));
    const obj = object({}, uri);
    expect(obj.uri).toBe(shown);
    expect(String(obj)).not.toContain(SECRET);
    expect(inspect(obj)).not.toContain(SECRET);
    expect(JSON.stringify(obj)).not.toContain(SECRET);
    const err: unknown = await obj.download().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    expectNoSecret(err);
  });

  it('with an injected client, NotFoundError shows the redacted URI', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    const err: unknown = await object({}, uri)
      .download()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expectNoSecret(err);
  });

  it('without a client, builds one from the URI (credentials, endpoint, path style) and still redacts', async () => {
    const obj = new S3Object(uri, {
      localPath: local,
      progressMode: 'disabled',
      retry: NO_DELAY,
      hashIndex: indexDir,
    });
    const own = obj.client.sdk;
    expect(own).not.toBe(sdk);
    await expect(own.config.credentials()).resolves.toMatchObject({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: SECRET,
    });
    expect(own.config.forcePathStyle).toBe(true);
    await expect(own.config.endpoint?.()).resolves.toMatchObject({
      hostname: '127.0.0.1',
      port: 1,
    });
    await expect(own.config.maxAttempts()).resolves.toBe(3);
    const mock = mockClient(own);
    try {
      mock.on(HeadObjectCommand).rejects(s3Error('SignatureDoesNotMatch', 403));
      const err: unknown = await obj.download().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccessDeniedError);
      expectNoSecret(err);
    } finally {
      mock.restore();
    }
  });
});

describe('options: every key of the types, nothing else', () => {
  it('new S3Object() accepts every option of S3ObjectOptions, each taking effect', () => {
    const values = objectOptionValues(sdk, local);
    for (const key of Object.keys(S3_OBJECT_OPTION_KEYS) as (keyof S3ObjectOptions)[]) {
      const shown = shownOption(new S3Object(URI, { [key]: values[key] }), key);
      if (shown !== undefined) expect(shown.value, key).toEqual(values[key]);
    }
    expect(() => new S3Object(URI, values)).not.toThrow();
  });

  it('new S3Object() refuses an unknown option, naming it and listing the accepted ones', () => {
    const make = (): S3Object => object({ mirorr: true } as S3ObjectOptions);
    expect(make).toThrow(ConfigError);
    expect(make).toThrow(
      `Unknown option \`mirorr\` in the options of new S3Object(); expected one of ${quotedKeys(S3_OBJECT_OPTION_KEYS)}`,
    );
    expect(quotedKeys(S3_OBJECT_OPTION_KEYS)).toMatch(/^`localPath`, `client`, /);
    expect(() => object({ mirorr: true, dryRun: true } as S3ObjectOptions)).toThrow(
      'Unknown options `mirorr`, `dryRun` in the options of new S3Object()',
    );
    expect(() => new S3Object(URI, null as unknown as S3ObjectOptions)).toThrow(
      'Expected the options of new S3Object() to be an object, got null (null)',
    );
  });

  it('sync(), download() and upload() accept every option of SyncOptions', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0, Contents: [] });
    const values = syncOptionValues();
    for (const key of Object.keys(SYNC_OPTION_KEYS) as (keyof typeof values)[]) {
      // Past the check, the download finds nothing at the key.
      await expect(object().download({ [key]: values[key] })).rejects.toBeInstanceOf(NotFoundError);
    }
  });

  const typo = { dryrun: true } as never;
  it.each([
    ['download()', SYNC_OPTION_KEYS, (o: S3Object) => o.download(typo)],
    ['upload()', SYNC_OPTION_KEYS, (o: S3Object) => o.upload(typo)],
    ['sync()', SYNC_OPTION_KEYS, (o: S3Object) => o.sync('upload', typo)],
    ['open()', OPEN_OPTION_KEYS, (o: S3Object) => o.open('w', typo)],
    ['open()', OPEN_OPTION_KEYS, (o: S3Object) => o.open('r', () => Promise.resolve(1), typo)],
    ['exists()', EXISTS_OPTION_KEYS, (o: S3Object) => o.exists(typo)],
    ['delete()', DELETE_OPTION_KEYS, (o: S3Object) => o.delete(typo)],
  ])(
    '%s refuses an unknown option, naming it and the accepted ones, and sends nothing',
    async (name, keys, call) => {
      await writeFile(local, 'local content');
      s3.on(HeadObjectCommand).resolves(headOf('remote content'));
      s3.on(GetObjectCommand).resolves(getOf('remote content'));
      capturePuts();
      s3.on(DeleteObjectCommand).resolves({});
      const err: unknown = await call(object()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(
        `Unknown option \`dryrun\` in the options of ${name}; expected one of ${quotedKeys(keys)}`,
      );
      expect(sent()).toEqual([]);
      expect(await readdir(dir)).toEqual(['obj.bin']);
      expect(await readFile(local, 'utf8')).toBe('local content');
    },
  );

  it('refuses the internal expectedEtag and options that are not an object', async () => {
    await writeFile(local, 'local content');
    await expect(object().upload({ expectedEtag: null } as never)).rejects.toThrow(
      'Unknown option `expectedEtag` in the options of upload()',
    );
    await expect(object().download('fast' as never)).rejects.toThrow(
      'Expected the options of download() to be an object, got "fast" (string)',
    );
    await expect(object().open('r', [] as never)).rejects.toThrow(ConfigError);
    expect(sent()).toEqual([]);
  });
});
