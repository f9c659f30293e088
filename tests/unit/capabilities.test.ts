/**
 * Server capabilities, learned and not assumed (client/capabilities.ts), and the quirks
 * neither test server shows: a server that ignores conditional headers, a multipart ETag
 * that is the whole object's MD5 or an opaque token (GCS's composed objects), a HEAD that
 * ignores PartNumber, checksums that are not stored.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { S3lyncClient } from '../../src/client.js';
import { MIN_PART_SIZE, S3Object, type S3ObjectOptions } from '../../src/core.js';
import { HashMismatchError } from '../../src/exceptions.js';
import { parseIndex, type IndexEntry } from '../../src/hash-index.js';
import { configureLogging, resetLogging } from '../../src/logging.js';
import { isTempName } from '../../src/utils.js';
import { useMockedS3 } from './mocked-s3.js';

const m = useMockedS3('caps');
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');
const notFound = () =>
  Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
const preconditionFailed = () =>
  Object.assign(new Error('PreconditionFailed'), {
    name: 'PreconditionFailed',
    $metadata: { httpStatusCode: 412 },
  });

const warnings: string[] = [];
beforeEach(() => {
  warnings.length = 0;
  const sink = (line: string) => void warnings.push(line);
  configureLogging({
    level: 'warn',
    logger: { debug: sink, info: sink, warn: sink, error: sink },
  });
});
afterEach(() => {
  resetLogging();
});

function object(options: S3ObjectOptions = {}): S3Object {
  return new S3Object('s3://bucket/dir/key.bin', {
    client: m.sdk,
    localPath: path.join(m.dir, 'key.bin'),
    progressMode: 'disabled',
    retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    hashIndex: path.join(m.dir, '.index'),
    ...options,
  });
}

/** PUTs of keys named like s3lync's temp files: the probe's. */
function probePuts(): PutObjectCommandInput[] {
  return m.s3
    .commandCalls(PutObjectCommand)
    .map((c) => c.args[0].input)
    .filter((i) => isTempName(path.posix.basename(i.Key ?? '')));
}

/** A server that stores every PUT and honours (or ignores) conditional headers. */
function conditionalServer(honours: boolean): void {
  const stored = new Set<string>();
  m.s3.on(HeadObjectCommand).rejects(notFound());
  m.s3.on(DeleteObjectCommand).resolves({});
  m.s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const key = input.Key ?? '';
    if (honours && input.IfNoneMatch === '*' && stored.has(key)) throw preconditionFailed();
    if (honours && input.IfMatch !== undefined) throw preconditionFailed();
    stored.add(key);
    return { ETag: `"${md5(await bodyBytes(input.Body))}"` };
  });
}

async function bodyBytes(body: PutObjectCommandInput['Body']): Promise<Buffer> {
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }
  return Buffer.from(body as Uint8Array);
}

async function openX(): Promise<boolean | undefined> {
  const f = await object().open('x');
  await f.write('new content');
  await f.close();
  return f.exclusive;
}

describe('conditional writes, probed once per endpoint', () => {
  it("open('x') on a server that ignores If-None-Match: not exclusive, with a warning", async () => {
    conditionalServer(false);
    expect(await openX()).toBe(false);
    expect(warnings.join('\n')).toMatch(/ignores If-None-Match: \* on PUT/);
    // The probe: PUT If-None-Match, PUT If-None-Match again, PUT If-Match, DELETE, all of
    // one scratch key next to the target, named like a temp file.
    const probe = probePuts();
    expect(probe.map((i) => [i.IfNoneMatch, i.IfMatch])).toEqual([
      ['*', undefined],
      ['*', undefined],
      [undefined, '"00000000000000000000000000000000"'],
    ]);
    const scratch = probe[0]?.Key ?? '';
    expect(scratch.startsWith('dir/')).toBe(true);
    expect(new Set(probe.map((i) => i.Key))).toEqual(new Set([scratch]));
    expect(m.s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      scratch,
    ]);
  });

  it("open('x') on a server that honours it: exclusive, no warning, one probe per process", async () => {
    conditionalServer(true);
    expect(await openX()).toBe(true);
    expect(warnings).toEqual([]);
    expect(probePuts()).toHaveLength(3);
    // A second conditional write on the same endpoint sends no probe.
    await expect(openX()).rejects.toThrow();
    m.s3.on(HeadObjectCommand).rejects(notFound());
    expect(probePuts()).toHaveLength(3);
  });

  it('upload({ ifMatch }) on a server that ignores If-Match says so in the result', async () => {
    conditionalServer(false);
    const data = Buffer.from('version 2');
    await writeFile(path.join(m.dir, 'key.bin'), data);
    m.s3.on(HeadObjectCommand).resolves({ ContentLength: 9, ETag: `"${md5('version 1')}"` });
    const result = await object().sync('upload', { ifMatch: md5('version 1') });
    expect(result.preconditionEnforced).toBe(false);
    expect(warnings.join('\n')).toMatch(/ignores If-Match on PUT/);
  });

  it('a sync without conditions sends no probe', async () => {
    conditionalServer(false);
    await writeFile(path.join(m.dir, 'key.bin'), 'plain');
    const result = await object().sync('upload');
    expect(result.preconditionEnforced).toBeUndefined();
    expect(probePuts()).toEqual([]);
    expect(m.s3.commandCalls(DeleteObjectCommand)).toEqual([]);
  });

  it('a probe the server refuses (no permission) leaves it unknown, and the upload goes on', async () => {
    m.s3.on(HeadObjectCommand).rejects(notFound());
    m.s3.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
      if (isTempName(path.posix.basename(input.Key ?? ''))) {
        throw Object.assign(new Error('AccessDenied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        });
      }
      return { ETag: `"${md5('new content')}"` };
    });
    expect(await openX()).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

describe('multipart uploads: any legitimate answer verifies, none that proves nothing', () => {
  const partSize = MIN_PART_SIZE;
  const data = Buffer.alloc(2 * partSize + 100, 7);
  data.write('unique bytes');
  const upload = () =>
    object({ multipartThreshold: partSize, partSize, maxConcurrency: 2 }).sync('upload');

  function multipartServer(completeEtag: string): void {
    m.s3.on(HeadObjectCommand).rejects(notFound());
    m.s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    m.s3.on(UploadPartCommand).callsFake((input: { Body: Buffer }) => ({
      ETag: `"${md5(input.Body)}"`,
    }));
    m.s3.on(CompleteMultipartUploadCommand).resolves({ ETag: completeEtag });
  }

  async function indexEntries(): Promise<IndexEntry[]> {
    const dir = path.join(m.dir, '.index');
    const out: IndexEntry[] = [];
    for (const name of await readdir(dir)) {
      if (name.endsWith('.jsonl'))
        out.push(...parseIndex(await readFile(path.join(dir, name), 'utf8')).values());
    }
    return out;
  }

  it('the whole-object MD5 (s3rver) verifies, the index records the MD5, and is learned', async () => {
    await writeFile(path.join(m.dir, 'key.bin'), data);
    multipartServer(`"${md5(data)}"`);
    expect(await upload()).toMatchObject({ transferred: 1 });
    expect(await indexEntries()).toMatchObject([{ md5: md5(data), etag: `"${md5(data)}"` }]);
    const client = new S3lyncClient(m.sdk);
    expect(await client.capabilities()).toMatchObject({ multipartEtag: 'md5' });
    expect(warnings).toEqual([]);
  });

  it('a whole-object MD5 that is not the bytes sent is a HashMismatchError', async () => {
    await writeFile(path.join(m.dir, 'key.bin'), data);
    multipartServer(`"${md5('something else')}"`);
    const error: unknown = await upload().catch((e: unknown) => e);
    expect(
      String((error as { failures?: { error: unknown }[] }).failures?.[0]?.error ?? error),
    ).toMatch(/server reports/);
    const failure = (error as { failures?: { error: unknown }[] }).failures?.[0]?.error ?? error;
    expect(failure).toBeInstanceOf(HashMismatchError);
  });

  it("GCS's opaque ETag of a composed object: no mismatch, no match, a warning", async () => {
    await writeFile(path.join(m.dir, 'key.bin'), data);
    multipartServer('"CJjk0fSLmvsCEAE="');
    expect(await upload()).toMatchObject({ transferred: 1 });
    expect(warnings.join('\n')).toMatch(/without verifying what the server assembled/);
    // The index knows the version this file became, not an MD5 nothing checked.
    expect(await indexEntries()).toMatchObject([{ md5: undefined, etag: '"CJjk0fSLmvsCEAE="' }]);
    expect(await new S3lyncClient(m.sdk).capabilities()).toMatchObject({
      multipartEtag: 'opaque',
    });
  });
});

describe('capabilities learned from responses s3lync receives anyway', () => {
  it('a HEAD of a multipart object that ignores PartNumber is learned', async () => {
    m.s3.on(HeadObjectCommand).resolves({ ContentLength: 10, ETag: `"${md5('x')}-2"` });
    const client = new S3lyncClient(m.sdk);
    await client.head('bucket', 'dir/key.bin', undefined, { partNumber: 1 });
    await new Promise((r) => setImmediate(r));
    expect(await client.capabilities()).toMatchObject({ partNumberHead: false });
  });

  it('a HEAD of a multipart object that reports its parts: PartNumber is honoured', async () => {
    m.s3
      .on(HeadObjectCommand)
      .resolves({ ContentLength: 5, ETag: `"${md5('x')}-2"`, PartsCount: 2 });
    const client = new S3lyncClient(m.sdk);
    await client.head('bucket', 'dir/key.bin', undefined, { partNumber: 1 });
    await new Promise((r) => setImmediate(r));
    expect(await client.capabilities()).toMatchObject({ partNumberHead: true });
  });

  it('a PUT sent with a checksum whose response has none: checksums are not stored', async () => {
    await writeFile(path.join(m.dir, 'key.bin'), 'checksummed');
    m.s3.on(HeadObjectCommand).rejects(notFound());
    m.s3.on(PutObjectCommand).resolves({ ETag: `"${md5('checksummed')}"` });
    await object({ checksumAlgorithm: 'SHA256' }).upload();
    await new Promise((r) => setImmediate(r));
    expect(await new S3lyncClient(m.sdk).capabilities()).toMatchObject({ storedChecksums: false });
  });
});
