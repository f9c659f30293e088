/**
 * A plan of 1,000,000 keys, as CI can afford it: the listing comes from an SDK client whose
 * ListObjectsV2 is answered in-process, page by page, and the plan is a dry run.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { S3Client, type ListObjectsV2CommandInput } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { S3Object, type SyncAction } from '../../src/index.js';

const PAGES = 1000;
const PAGE_SIZE = 1000;
const SIZE = 1024;

/** Key number i: 1,000 directories of 1,000 files, so keys come in listing order. */
const keyOf = (i: number): string =>
  `d${String(Math.floor(i / PAGE_SIZE)).padStart(4, '0')}/f${String(i).padStart(7, '0')}.bin`;
const etagOf = (i: number): string => `"${(i >>> 0).toString(16).padStart(8, '0').repeat(4)}"`;

function md5(data: string): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * An SDK client that answers ListObjectsV2 at the head of its middleware stack with pages
 * made from the continuation token, and fails anything else. (aws-sdk-client-mock keeps
 * every call's result, which would hold all 1,000,000 keys at once.)
 */
function listingClient(etag: (i: number) => string): { sdk: S3Client; lists: () => number } {
  const sdk = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  let lists = 0;
  sdk.middlewareStack.add(
    (_next, context) => (args) => {
      if (context.commandName !== 'ListObjectsV2Command') {
        return Promise.reject(new Error(`unexpected ${context.commandName ?? 'command'}`));
      }
      lists++;
      const input = args.input as ListObjectsV2CommandInput;
      const n = input.ContinuationToken === undefined ? 0 : Number(input.ContinuationToken);
      const last = n + 1 === PAGES;
      const Contents = Array.from({ length: PAGE_SIZE }, (_, j) => {
        const i = n * PAGE_SIZE + j;
        return { Key: `${input.Prefix ?? ''}${keyOf(i)}`, Size: SIZE, ETag: etag(i) };
      });
      return Promise.resolve({
        output: {
          $metadata: { httpStatusCode: 200 },
          Contents,
          IsTruncated: !last,
          ...(!last && { NextContinuationToken: String(n + 1) }),
        },
        response: {},
      });
    },
    { step: 'initialize', priority: 'high', name: 'millionListing' },
  );
  return { sdk, lists: () => lists };
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-million-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('plans a mirror download of 1,000,000 keys from 1,000 pages', { timeout: 120_000 }, async () => {
  const root = path.join(dir, 'tree');
  const same = 'x'.repeat(SIZE);
  const files: Record<string, string> = {
    [keyOf(0)]: same, // unchanged: its MD5 is the listed ETag
    [keyOf(500_000)]: 'short', // another size
    [keyOf(999_999)]: 'y'.repeat(SIZE), // same size, other content
    'extra.txt': 'not listed', // deleted by the mirror
  };
  const past = new Date(Date.now() - 60_000);
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
    await utimes(abs, past, past);
  }
  const { sdk, lists } = listingClient((i) =>
    i === 0 || i === 999_999 ? `"${md5(same)}"` : etagOf(i),
  );
  const obj = new S3Object('s3://bucket/m/', {
    client: sdk,
    localPath: root,
    progressMode: 'disabled',
    hashIndex: path.join(dir, 'index'),
  });
  const plan = await obj.sync('download', { dryRun: true, mirror: true });
  expect(lists()).toBe(PAGES);
  const count = (op: SyncAction['op'], reason: string): number =>
    plan.actions.filter((a) => a.op === op && a.reason === reason).length;
  expect(count('download', 'missing')).toBe(PAGES * PAGE_SIZE - 3);
  expect(count('download', 'size')).toBe(1);
  expect(count('download', 'checksum')).toBe(1);
  expect(plan.actions.filter((a) => a.op === 'delete').map((a) => a.path)).toEqual(['extra.txt']);
  expect(plan.actions).toHaveLength(PAGES * PAGE_SIZE - 3 + 2 + 1);
  expect(plan).toMatchObject({ unchanged: 1, failed: 0, hashedFiles: 2, dryRun: true });
  // In listing order: the plan of page 1 comes first, whatever the digests took.
  expect(plan.actions[0]?.path).toBe(keyOf(1));
  expect(plan.actions.at(-2)?.path).toBe(keyOf(999_999));
});
