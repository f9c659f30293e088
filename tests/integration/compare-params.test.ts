/**
 * `compareParams` against radosgw: by default new parameters alone send nothing; with it,
 * an unchanged file whose object's compared parameters differ is uploaded again (reason
 * `params`), one HEAD per unchanged file, and a second run finds them in step.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { expect, it } from 'vitest';

import { S3Object } from '../../src/index.js';
import {
  describeS3,
  headObject,
  recordCommands,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

describeS3('compareParams against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  it('re-uploads only what differs in the parameters compared, after one HEAD per unchanged file', async () => {
    const prefix = uniqueKey('compare');
    const dir = path.join(tmp.path, prefix.replace('/', '-'));
    await mkdir(path.join(dir, 'css'), { recursive: true });
    await writeFile(path.join(dir, 'index.html'), '<h1>hi</h1>');
    await writeFile(path.join(dir, 'css', 'site.css'), 'h1{}');
    const site = new S3Object(uriFor(bucket.name, `${prefix}/`), {
      localPath: dir,
      progressMode: 'disabled',
      uploadParams: { CacheControl: 'max-age=60', Metadata: { team: 'web' } },
    });
    await site.sync('upload');
    const sends = recordCommands(site.client.sdk);

    // New parameters alone: nothing is sent by default.
    const cacheFor = ({ key }: { key: string }) => ({
      CacheControl: key.endsWith('.html') ? 'no-cache' : 'max-age=60',
      Metadata: { team: 'web' },
    });
    expect(await site.sync('upload', { uploadParams: cacheFor })).toMatchObject({
      transferred: 0,
      unchanged: 2,
    });
    expect(sends).toEqual(['ListObjectsV2Command']);

    // Compared: the HTML page differs in Cache-Control, the stylesheet does not.
    sends.length = 0;
    const result = await site.sync('upload', {
      uploadParams: cacheFor,
      compareParams: ['CacheControl', 'Metadata', 'ContentType'],
    });
    expect(result).toMatchObject({ transferred: 1, unchanged: 1 });
    expect(result.actions).toEqual([
      expect.objectContaining({ path: 'index.html', reason: 'params' }),
    ]);
    expect(sends.filter((c) => c === 'HeadObjectCommand')).toHaveLength(2);
    expect(sends.filter((c) => c === 'PutObjectCommand')).toHaveLength(1);
    const page = await headObject(bucket.client, bucket.name, `${prefix}/index.html`);
    expect(page).toMatchObject({ CacheControl: 'no-cache', ContentType: 'text/html' });
    expect(page.Metadata).toMatchObject({ team: 'web' });

    // In step now; and a metadata change is seen as one.
    expect(
      await site.sync('upload', { uploadParams: cacheFor, compareParams: ['CacheControl'] }),
    ).toMatchObject({ transferred: 0, unchanged: 2 });
    const retagged = await site.sync('upload', {
      uploadParams: (f) => ({ ...cacheFor(f), Metadata: { team: 'data' } }),
      compareParams: ['Metadata'],
      dryRun: true,
    });
    expect(retagged.actions.map((a) => [a.path, a.reason]).sort()).toEqual([
      ['css/site.css', 'params'],
      ['index.html', 'params'],
    ]);
  });
});
