/**
 * A download of an object modified just now: its mtime must still let the hash index
 * trust the file on the next sync (S3 truncates Last-Modified to whole seconds, so an
 * object written early in a second looks "just modified" to a download moments later).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  GetObjectCommand,
  HeadObjectCommand,
  type GetObjectCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { expect, it } from 'vitest';

import { S3Object } from '../../src/index.js';
import { RACY_MARGIN_NS } from '../../src/identity.js';
import { notModified, useMockedS3 } from './mocked-s3.js';

const mocked = useMockedS3('mtime');
const { sdk, s3 } = mocked;

it('an object modified this instant is trusted by the index on the next sync', async () => {
  const data = Buffer.from('fresh object');
  const lastModified = new Date();
  const meta = {
    ContentLength: data.length,
    ETag: `"${createHash('md5').update(data).digest('hex')}"`,
    LastModified: lastModified,
  };
  s3.on(HeadObjectCommand).resolves(meta);
  s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    if (input.IfNoneMatch === meta.ETag) throw notModified();
    return { ...meta, Body: sdkStreamMixin(Readable.from([data])) };
  });
  const obj = new S3Object('s3://bucket/fresh.txt', {
    client: sdk,
    localPath: path.join(mocked.dir, 'fresh.txt'),
    progressMode: 'disabled',
    hashIndex: path.join(mocked.dir, 'index'),
  });
  await obj.download();
  const mtimeNs = (await stat(obj.localPath, { bigint: true })).mtimeNs;
  expect(mtimeNs).toBeLessThanOrEqual(BigInt(lastModified.getTime()) * 1_000_000n);
  expect(BigInt(Date.now()) * 1_000_000n - mtimeNs).toBeGreaterThanOrEqual(RACY_MARGIN_NS);
  s3.resetHistory();
  expect(await obj.sync('download')).toMatchObject({
    transferred: 0,
    unchanged: 1,
    hashedFiles: 0,
  });
  // The trusted entry's ETag revalidates it in one conditional GET.
  expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
  expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.IfNoneMatch)).toEqual([
    meta.ETag,
  ]);
});
