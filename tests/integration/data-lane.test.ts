/**
 * The data lane against radosgw, which checks signatures strictly: keys with every
 * character the SDK escapes go up, come back and list through the lane, and no request of
 * theirs goes through the SDK.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { S3Client } from '@aws-sdk/client-s3';
import { expect, it, vi } from 'vitest';

import { laneOf } from '../../src/client/lane.js';
import { PROBE_KEY } from '../../src/client/lane/endpoint.js';
import { S3Object } from '../../src/index.js';
import {
  describeS3,
  getObject,
  requires,
  s3,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

const KEYS = [
  'with space.txt',
  'a+b=c&d',
  '100%done',
  'what?x=1',
  'hash#tag',
  'tilde~name',
  'unicode/é/日本語/😀',
  "quote'paren()*!",
  'semi;colon,comma:@$',
  'double//slash',
  // A local name holds 255 bytes at most: 250 with the prefix's separator is the longest.
  'x'.repeat(250),
];

/** The SDK `send`s of `sdk` from now on, the lane's endpoint probe left out. */
function sdkSends(sdk: S3Client): () => string[] {
  const spy = vi.spyOn(sdk, 'send');
  return () =>
    spy.mock.calls
      .map(([command]) => command as { input?: { Key?: string }; constructor: { name: string } })
      .filter((command) => command.input?.Key !== PROBE_KEY)
      .map((command) => command.constructor.name);
}

describeS3('the data lane against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  requires('literal-keys').it(
    'sends PUT, HEAD, GET and LIST of keys the SDK escapes, signed as radosgw expects',
    async () => {
      const prefix = uniqueKey('lane');
      for (const [i, name] of KEYS.entries()) {
        // A key with an empty segment has no local path: it stays out of the tree below.
        const key = name.includes('//') ? `${prefix}-odd/${name}` : `${prefix}/${name}`;
        const local = path.join(tmp.path, `up-${i}`);
        await writeFile(local, `content of ${name}`);
        const up = new S3Object(uriFor(bucket.name, key), {
          localPath: local,
          progressMode: 'disabled',
          dataLane: 'always',
        });
        expect(up.client.dataLane).toBe(true);
        const sends = sdkSends(up.client.sdk);
        await up.upload();
        expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe(
          `content of ${name}`,
        );
        const down = new S3Object(uriFor(bucket.name, key), {
          localPath: path.join(tmp.path, `down-${i}`),
          progressMode: 'disabled',
          dataLane: 'always',
        });
        const downSends = sdkSends(down.client.sdk);
        await down.download();
        expect(await readFile(down.localPath, 'utf8')).toBe(`content of ${name}`);
        // Every request of theirs went through the lane.
        expect(sends()).toEqual([]);
        expect(downSends()).toEqual([]);
      }
      const tree = new S3Object(uriFor(bucket.name, `${prefix}/`), {
        localPath: path.join(tmp.path, 'tree'),
        progressMode: 'disabled',
        dataLane: 'always',
      });
      const sends = sdkSends(tree.client.sdk);
      const result = await tree.sync('download');
      expect(result.failed).toBe(0);
      expect(result.transferred).toBe(KEYS.length - 1);
      expect(sends()).toEqual([]);
    },
  );

  it('is off for a client given unless asked for, and off with dataLane: false', () => {
    const given = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const uri = `s3://${bucket.name}/k`;
    const localPath = path.join(tmp.path, 'k');
    expect(new S3Object(uri, { client: given, localPath }).client.dataLane).toBe(false);
    expect(laneOf(given)).toBeUndefined();
    expect(new S3Object(uri, { client: given, localPath, dataLane: true }).client.dataLane).toBe(
      true,
    );
    expect(laneOf(given)).toBeDefined();
    const off = new S3Object(uriFor(bucket.name, 'k'), { localPath, dataLane: false });
    expect(off.client.dataLane).toBe(false);
    given.destroy();
  });
});
