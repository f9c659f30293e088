/** Upload-mirror deletions with a mocked DeleteObjects that refuses some keys. */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import { S3Object, SyncError } from '../../src/index.js';
import { useMockedS3 } from './mocked-s3.js';

const mocked = useMockedS3('mirror');
const { sdk, s3 } = mocked;

it('checks the per-key errors of each DeleteObjects batch and reports them', async () => {
  const root = path.join(mocked.dir, 'tree');
  await mkdir(root);
  await writeFile(path.join(root, 'keep.txt'), 'k');
  const past = new Date(Date.now() - 60_000);
  await utimes(path.join(root, 'keep.txt'), past, past);
  const extra = Array.from({ length: 1500 }, (_, i) => `p/extra-${i}`);
  s3.on(ListObjectsV2Command).resolves({
    Contents: [
      { Key: 'p/keep.txt', Size: 1, ETag: '"8ce4b16b22b58894aa86c421e8759df3"' },
      ...extra.map((Key) => ({ Key, Size: 1, ETag: '"x"' })),
    ],
    IsTruncated: false,
  });
  s3.on(PutObjectCommand).resolves({});
  s3.on(DeleteObjectsCommand).callsFake((input: { Delete: { Objects: { Key: string }[] } }) => ({
    Errors: input.Delete.Objects.filter((o) => o.Key.endsWith('-7') || o.Key.endsWith('-1200')).map(
      (o) => ({
        Key: o.Key,
        Code: 'AccessDenied',
        Message: 'denied by policy',
      }),
    ),
  }));
  const obj = new S3Object('s3://bucket/p', {
    client: sdk,
    localPath: root,
    progressMode: 'disabled',
    hashIndex: path.join(mocked.dir, 'index'),
  });
  const error = (await obj.sync('upload', { mirror: true }).catch((e: unknown) => e)) as SyncError;
  expect(error).toBeInstanceOf(SyncError);
  expect(error.failures.map((f) => f.path).sort()).toEqual(['extra-1200', 'extra-7']);
  expect(String(error.failures[0]?.error)).toMatch(/AccessDenied.*denied by policy/);
  expect(error.result?.deleted).toBe(1498);
  expect(
    s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects?.length),
  ).toEqual([1000, 500]);
});
