/**
 * A tree sync acts on each page of the listing as it arrives: wiring with a mocked SDK
 * client whose listing is paged, so the order of requests can be observed.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandInput,
  type ListObjectsV2CommandInput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { S3Object, SyncError, UnsafePathError } from '../../src/index.js';

const sdk = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const s3 = mockClient(sdk);
let dir = '';
let root = '';

beforeEach(async () => {
  s3.reset();
  dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-stream-'));
  root = path.join(dir, 'tree');
  await mkdir(root);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function md5(data: string): string {
  return createHash('md5').update(data).digest('hex');
}

/** The content of each remote key in these tests: its own name. */
const contentOf = (key: string): string => `content of ${key}`;

/** Writes local files with an mtime a minute ago (so the hash index trusts them). */
async function writeLocal(files: Record<string, string>): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
    await utimes(abs, past, past);
  }
}

/** What happened, in order: `list N` when page N is answered, `get KEY`, `put KEY`. */
type Events = string[];

/**
 * Serves `pages` of keys (under `p/`) from ListObjectsV2. The last page is answered only
 * once `before` has happened (or after two seconds, so a sync that waits for the whole
 * listing fails the test's assertion rather than hanging it).
 */
function servePages(pages: string[][], events: Events, before: Promise<void>): void {
  s3.on(ListObjectsV2Command).callsFake(async (input: ListObjectsV2CommandInput) => {
    const n = input.ContinuationToken === undefined ? 0 : Number(input.ContinuationToken);
    const last = n === pages.length - 1;
    if (last) {
      await Promise.race([before, new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
    events.push(`list ${n + 1}`);
    return {
      Contents: (pages[n] ?? []).map((k) => ({
        Key: `p/${k}`,
        Size: Buffer.byteLength(contentOf(k)),
        ETag: `"${md5(contentOf(k))}"`,
      })),
      IsTruncated: !last,
      ...(!last && { NextContinuationToken: String(n + 1) }),
    };
  });
}

function serveGets(events: Events, onFirst: () => void): void {
  s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const key = input.Key ?? '';
    events.push(`get ${key}`);
    onFirst();
    const bytes = Buffer.from(contentOf(key.slice(2)));
    return {
      Body: sdkStreamMixin(Readable.from([bytes])),
      ContentLength: bytes.length,
      ETag: `"${md5(bytes.toString())}"`,
      Metadata: {},
    };
  });
}

function object(): S3Object {
  return new S3Object('s3://bucket/p/', {
    client: sdk,
    localPath: root,
    progressMode: 'disabled',
    hashIndex: path.join(dir, 'index'),
    maxConcurrency: 2,
  });
}

function signal(): { promise: Promise<void>; fire: () => void } {
  let fire = (): void => undefined;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

describe('a tree sync acts on pages as they arrive', () => {
  it('download: the first GET goes out before the last page of the listing is answered', async () => {
    const events: Events = [];
    const firstGet = signal();
    servePages(
      [
        ['a1', 'a2', 'a3'],
        ['b1', 'b2', 'b3'],
        ['c1', 'c2'],
      ],
      events,
      firstGet.promise,
    );
    serveGets(events, firstGet.fire);
    const result = await object().sync('download');
    expect(result.transferred).toBe(8);
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(3);
    const firstGetAt = events.findIndex((e) => e.startsWith('get '));
    expect(firstGetAt).toBeGreaterThanOrEqual(0);
    expect(firstGetAt).toBeLessThan(events.indexOf('list 3'));
    expect((await readdir(root)).sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'c1', 'c2']);
  });

  it('upload: the first PUT goes out before the last page is answered, local-only files too', async () => {
    const events: Events = [];
    const firstPut = signal();
    // a1 changed (another size), a0 exists only locally; c1 lies in the last page.
    await writeLocal({
      a0: 'new',
      a1: 'changed, longer than before',
      a2: contentOf('a2'),
      b1: contentOf('b1'),
      c1: contentOf('c1'),
    });
    servePages([['a1', 'a2'], ['b1'], ['c1']], events, firstPut.promise);
    s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      events.push(`put ${input.Key ?? ''}`);
      firstPut.fire();
      const body = input.Body;
      const bytes =
        body instanceof Readable
          ? Buffer.concat(await body.toArray())
          : Buffer.from(body as Uint8Array);
      return { ETag: `"${createHash('md5').update(bytes).digest('hex')}"` };
    });
    const result = await object().sync('upload');
    expect(result.actions.map((a) => `${a.path}:${a.reason}`).sort()).toEqual([
      'a0:missing',
      'a1:size',
    ]);
    expect(result.unchanged).toBe(3);
    const firstPutAt = events.findIndex((e) => e.startsWith('put '));
    expect(firstPutAt).toBeGreaterThanOrEqual(0);
    expect(firstPutAt).toBeLessThan(events.indexOf('list 3'));
  });

  it('a key that is a file and, on the next page, a directory is refused, never downloaded', async () => {
    const events: Events = [];
    servePages(
      [
        ['a', 'a-1', 'a.txt'],
        ['a/b', 'b'],
      ],
      events,
      Promise.resolve(),
    );
    serveGets(events, () => undefined);
    const error = (await object()
      .sync('download')
      .catch((e: unknown) => e)) as SyncError;
    expect(error).toBeInstanceOf(SyncError);
    expect(error.failures.map((f) => f.path)).toEqual(['a']);
    expect(error.failures[0]?.error).toBeInstanceOf(UnsafePathError);
    expect(String(error.failures[0]?.error)).toMatch(/need a to be a directory/);
    expect(events.filter((e) => e.startsWith('get ')).sort()).toEqual([
      'get p/a-1',
      'get p/a.txt',
      'get p/a/b',
      'get p/b',
    ]);
    expect((await readdir(path.join(root, 'a'))).sort()).toEqual(['b']);
  });

  it('refuses every key that would not stay inside the root, and downloads the rest', async () => {
    const events: Events = [];
    const unsafe = ['../up', 'a//b', './c', 'd/.', 'e/../f', 'g/', '/abs', 'h\0i'];
    servePages(
      [
        ['ok', ...unsafe.slice(0, 4)],
        [...unsafe.slice(4), 'ok2'],
      ],
      events,
      Promise.resolve(),
    );
    serveGets(events, () => undefined);
    const error = (await object()
      .sync('download')
      .catch((e: unknown) => e)) as SyncError;
    expect(error).toBeInstanceOf(SyncError);
    // "g/" is a directory marker (skipped); "/abs" lists as "p//abs", an empty segment.
    expect(error.failures.map((f) => f.path).sort()).toEqual(
      ['../up', 'a//b', './c', 'd/.', 'e/../f', '/abs', 'h\0i'].sort(),
    );
    for (const f of error.failures) expect(f.error).toBeInstanceOf(UnsafePathError);
    expect(events.filter((e) => e.startsWith('get ')).sort()).toEqual(['get p/ok', 'get p/ok2']);
    expect((await readdir(root)).sort()).toEqual(['ok', 'ok2']);
  });

  it('upload mirror: a listing that fails on a later page deletes nothing', async () => {
    await writeLocal({ keep: contentOf('keep') });
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'p/gone-1', Size: 1, ETag: '"x"' }],
        IsTruncated: true,
        NextContinuationToken: '1',
      })
      .rejectsOnce(
        new S3ServiceException({
          name: 'AccessDenied',
          $fault: 'client',
          $metadata: { httpStatusCode: 403 },
          message: 'denied',
        }),
      );
    s3.on(PutObjectCommand).resolves({ ETag: `"${md5(contentOf('keep'))}"` });
    s3.on(DeleteObjectsCommand).resolves({});
    await expect(object().sync('upload', { mirror: true })).rejects.toThrow(/ListObjectsV2/);
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });
});
