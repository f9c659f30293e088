/**
 * Capabilities detected, not assumed, on every test server: what s3lync learns matches what
 * the server is known to do (tests/setup/capabilities.ts), and an upload verifies on the
 * server's own answer, whichever legitimate one it gives.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterEach, beforeEach, expect, it } from 'vitest';

import { parseIndex, type IndexEntry } from '../../src/hash-index.js';
import { configureLogging, resetLogging, S3Object, type S3ObjectOptions } from '../../src/index.js';
import {
  describeS3,
  headObject,
  listKeys,
  md5,
  multipartEtagOf,
  s3,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

const MiB = 1024 * 1024;
const lacks = (capability: string): boolean => s3.lacks?.includes(capability as never) === true;

describeS3(`server capabilities, detected (${s3.server ?? ''})`, () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;
  const warnings: string[] = [];

  beforeEach(() => {
    warnings.length = 0;
    const quiet = (): void => undefined;
    configureLogging({
      level: 'warn',
      logger: {
        debug: quiet,
        info: quiet,
        warn: (line: string) => void warnings.push(line),
        error: quiet,
      },
    });
  });
  afterEach(() => {
    resetLogging();
  });

  async function object(key: string, options: S3ObjectOptions = {}): Promise<S3Object> {
    const dir = path.join(tmp.path, `case-${++n}`);
    await mkdir(dir);
    return new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'file'),
      progressMode: 'disabled',
      hashIndex: path.join(dir, 'index'),
      ...options,
    });
  }

  async function indexEntries(obj: S3Object): Promise<IndexEntry[]> {
    const dir = path.join(path.dirname(obj.localPath), 'index');
    const out: IndexEntry[] = [];
    for (const name of await readdir(dir)) {
      if (name.endsWith('.jsonl'))
        out.push(...parseIndex(await readFile(path.join(dir, name), 'utf8')).values());
    }
    return out;
  }

  it("open('x') is exclusive exactly when the server enforces If-None-Match, and says so", async () => {
    const key = uniqueKey('x.txt');
    const obj = await object(key);
    const f = await obj.open('x');
    await f.writeFile('created');
    await f.close();
    const enforced = !lacks('conditional-writes');
    expect(f.exclusive).toBe(enforced);
    expect(await obj.client.capabilities()).toMatchObject({
      conditionalCreate: enforced,
      conditionalReplace: enforced,
    });
    const said = warnings.some((w) => w.includes('ignores If-None-Match: * on PUT'));
    expect(said).toBe(!enforced);
    // The probe cleaned up after itself: only the object is left under its prefix.
    expect(await listKeys(bucket.client, bucket.name, key.split('/')[0]!)).toEqual([key]);

    // upload({ ifMatch }) reports the same in its result.
    await writeFile(obj.localPath, 'changed');
    const result = await obj.sync('upload', { ifMatch: md5('created') });
    expect(result.preconditionEnforced).toBe(enforced);
  });

  it("a multipart upload verifies on the server's answer; the index records what verified it", async () => {
    const options = { multipartThreshold: 5 * MiB, partSize: 5 * MiB };
    // Twice: the first upload learns the ETag's form, the second uses what it learned.
    for (const round of [1, 2]) {
      const key = uniqueKey(`mp-${round}.bin`);
      const obj = await object(key, options);
      const bytes = randomBytes(11 * MiB + round);
      await writeFile(obj.localPath, bytes);
      expect(await obj.sync('upload')).toMatchObject({ transferred: 1 });
      const etag = multipartEtagOf(bytes, 5 * MiB);
      expect((await headObject(bucket.client, bucket.name, key)).ETag).toBe(etag);
      // Composite ETag: the index knows the file by it (no MD5 computed). Whole-object MD5:
      // the MD5 verified it, and the index has it.
      const composite = !lacks('composite-etag');
      expect(await indexEntries(obj)).toEqual([
        expect.objectContaining({ md5: composite ? undefined : md5(bytes), etag }),
      ]);
      expect(await obj.client.capabilities()).toMatchObject({
        multipartEtag: composite ? 'composite' : 'md5',
      });
      expect(warnings).toEqual([]);
      // Nothing to send again, and a fresh copy downloads verified.
      expect(await obj.sync('upload')).toMatchObject({ transferred: 0 });
      const back = await object(key);
      expect(await back.sync('download')).toMatchObject({ transferred: 1, unverified: 0 });
      expect(md5(await readFile(back.localPath))).toBe(md5(bytes));
    }
  });

  it('PartNumber on HEAD and stored checksums are learned from responses, not assumed', async () => {
    const key = uniqueKey('cs.bin');
    const obj = await object(key, {
      multipartThreshold: 5 * MiB,
      partSize: 5 * MiB,
      checksumAlgorithm: 'SHA256',
    });
    await writeFile(obj.localPath, randomBytes(6 * MiB));
    await obj.upload();
    const small = await object(uniqueKey('cs-small.bin'), { checksumAlgorithm: 'SHA256' });
    await writeFile(small.localPath, 'small');
    await small.upload();
    // A fresh copy with no index and no part-size hint asks the server for the layout.
    const back = await object(key, { hashIndex: false });
    await back.sync('download');
    const caps = await back.client.capabilities();
    // Neither radosgw 16 nor s3rver stores additional checksums or honours PartNumber on HEAD.
    expect(caps).toMatchObject({ storedChecksums: false });
    expect(['boolean', 'undefined']).toContain(typeof caps.partNumberHead);
  });
});
