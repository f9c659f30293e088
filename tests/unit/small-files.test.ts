/**
 * Same-size pairs of empty, tiny and larger files decided against a mocked listing: an
 * empty file's digest comes from the walk, a tiny file's from one synchronous read, and
 * the hash index trusts what it recorded only outside the racy margin.
 */
import { createHash } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import { HashIndex } from '../../src/hash-index.js';
import { RACY_MARGIN_NS } from '../../src/identity.js';
import { S3Object } from '../../src/index.js';
import { emptyFileDigest, TINY_FILE_SIZE, type FileRun } from '../../src/sync/apply.js';
import { useMockedS3 } from './mocked-s3.js';

const mocked = useMockedS3('small');
const { sdk, s3 } = mocked;

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

/** In key order, as a listing has them. */
const FILES: Record<string, Buffer> = {
  'big.bin': Buffer.alloc(TINY_FILE_SIZE + 1, 2),
  'd/e1.bin': Buffer.alloc(0),
  'e0.bin': Buffer.alloc(0),
  'edge.bin': Buffer.alloc(TINY_FILE_SIZE, 1),
  'tiny.txt': Buffer.from('hello'),
};

async function writeTree(root: string, when: Date): Promise<void> {
  for (const [rel, content] of Object.entries(FILES)) {
    const abs = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
    await utimes(abs, when, when);
  }
}

/** A listing of the same contents, or of `other` (same sizes) for the paths it names. */
function listSame(other: Record<string, Buffer> = {}): void {
  s3.on(ListObjectsV2Command).resolves({
    Contents: Object.entries(FILES).map(([rel, content]) => ({
      Key: `p/${rel}`,
      Size: content.length,
      ETag: `"${md5(other[rel] ?? content)}"`,
    })),
    IsTruncated: false,
  });
}

function object(root: string): S3Object {
  return new S3Object('s3://bucket/p/', {
    client: sdk,
    localPath: root,
    progressMode: 'disabled',
    hashIndex: path.join(mocked.dir, 'index'),
  });
}

const totalBytes = Object.values(FILES).reduce((n, b) => n + b.length, 0);

it('hashes empty, tiny and larger files once, then trusts the index', async () => {
  const root = path.join(mocked.dir, 'tree');
  await writeTree(root, new Date(Date.now() - 60_000));
  listSame();
  for (const direction of ['upload', 'download'] as const) {
    const first = await object(root).sync(direction);
    expect(first.unchanged).toBe(5);
    expect(first.transferred).toBe(0);
    expect(first.hashedFiles).toBe(direction === 'upload' ? 5 : 0);
    expect(first.hashedBytes).toBe(direction === 'upload' ? totalBytes : 0);
  }
  expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
});

it('sends the files whose content differs, empty ones decided without a read included', async () => {
  const root = path.join(mocked.dir, 'tree');
  await writeTree(root, new Date(Date.now() - 60_000));
  // An empty object whose ETag is not the MD5 of nothing differs from an empty file.
  s3.on(ListObjectsV2Command).resolves({
    Contents: Object.entries(FILES).map(([rel, content]) => ({
      Key: `p/${rel}`,
      Size: content.length,
      ETag: `"${md5(rel === 'e0.bin' || rel === 'tiny.txt' ? 'other' : content)}"`,
    })),
    IsTruncated: false,
  });
  const result = await object(root).sync('upload', { dryRun: true });
  expect(result.actions.map((a) => `${a.op}:${a.path}:${a.reason}`).sort()).toEqual([
    'upload:e0.bin:checksum',
    'upload:tiny.txt:checksum',
  ]);
  expect(result.unchanged).toBe(3);
  expect(result.hashedFiles).toBe(5);
});

it('does not trust a digest of a file modified within the racy margin, empty or not', async () => {
  const root = path.join(mocked.dir, 'tree');
  // mtimes ahead of the clock: every stat is within the margin of them.
  await writeTree(root, new Date(Date.now() + 60_000));
  listSame();
  for (let run = 0; run < 2; run++) {
    const r = await object(root).sync('upload');
    expect(r.unchanged).toBe(5);
    expect(r.hashedFiles).toBe(5);
  }
});

it("stamps an empty file's entry with the time before the walk's stat, not the time it is decided", () => {
  const run = { index: HashIndex.disabled(), hashed: { files: 0, bytes: 0, unverified: 0 } };
  const mtimeNs = 1_700_000_000_000_000_000n;
  const file = { path: 'e', size: 0, mtimeNs, ctimeNs: mtimeNs + 1n, ino: 5n };
  const digest = (statedFromNs: bigint | undefined, f = file) =>
    emptyFileDigest(run as unknown as FileRun, f, statedFromNs);
  expect(digest(undefined)).toBeUndefined();
  expect(digest(mtimeNs + RACY_MARGIN_NS, { ...file, size: 1 })).toBeUndefined();
  expect(run.hashed.files).toBe(0);
  expect(digest(mtimeNs + RACY_MARGIN_NS - 1n)).toEqual({ size: 0, md5: md5('') });
  expect(run.index.lookup('e', file)).toBeUndefined();
  digest(mtimeNs + RACY_MARGIN_NS);
  expect(run.index.lookup('e', file)?.md5).toBe(md5(''));
  expect(run.hashed).toEqual({ files: 2, bytes: 0, unverified: 0 });
});
