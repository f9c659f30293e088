/**
 * Cancelling a sync settles everything first: when the promise rejects, no request is in
 * flight and no temp file is left (what the CLI's Ctrl-C handler waits for).
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { GetObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import { S3Object } from '../../src/index.js';
import { describeS3, interceptSend, uniqueKey, uriFor, useBucket, useTempDir } from './helpers.js';
import { isTempName } from '../../src/utils.js';

describeS3('aborting a tree sync against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  it('rejects only once every transfer in flight has settled', async () => {
    const prefix = uniqueKey('abort-settle');
    const source = path.join(tmp.path, 'source');
    await mkdir(source, { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(path.join(source, `f${i}`), `file ${i}`);
    const options = { progressMode: 'disabled', hashIndex: false, maxConcurrency: 4 } as const;
    await new S3Object(uriFor(bucket.name, prefix), { ...options, localPath: source }).upload();

    const obj = new S3Object(uriFor(bucket.name, prefix), {
      ...options,
      localPath: path.join(tmp.path, 'target'),
    });
    const controller = new AbortController();
    let gets = 0;
    let inFlight = 0;
    interceptSend(obj.client.sdk, async (command, send) => {
      if (!(command instanceof GetObjectCommand)) return send();
      inFlight++;
      try {
        // The fourth GET cancels; the three before it are still on their way, so a sync
        // that rejected at the first failure would leave them running.
        if (++gets === 4) controller.abort(new Error('user cancelled'));
        else await new Promise((resolve) => setTimeout(resolve, 100));
        return await send();
      } finally {
        inFlight--;
      }
    });
    await expect(obj.download({ signal: controller.signal })).rejects.toThrow('user cancelled');
    expect(inFlight).toBe(0);
    const names = await readdir(obj.localPath).catch(() => []);
    expect(names.filter((n) => isTempName(path.basename(n)))).toEqual([]);
  });
});
