/**
 * Listings that do not advance, served by a hostile server (radosgw behind a proxy that
 * rewrites its ListObjectsV2 answers): a repeated continuation token, or a page that goes
 * back to keys already listed. Each ends with a ListingError after a few requests instead
 * of listing forever, and a mirror built on it deletes nothing, locally or remotely.
 * Nothing outside the target changes: every test compares the target's parent and a
 * directory outside it, recursively, before and after.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import { ListingError, S3Object, S3ObjectError, SyncError } from '../../src/index.js';
import { isTempName } from '../../src/utils.js';
import {
  backwardsPage,
  duplicateKeys,
  injectKeys,
  paginate,
  repeatToken,
  reverseKeys,
  rewriteEtags,
  rewriteSizes,
  type ListingRewriter,
} from '../support/fault-proxy.js';
import {
  describeS3,
  putObject,
  s3,
  snapshotTree,
  targetPlaces,
  uniqueKey,
  useBucket,
  useProxyPerTest,
  useTempDir,
  type TargetPlaces,
} from './helpers.js';

/** The remote tree of every test: five files, so that pages of two make three pages. */
const FILES: Record<string, string> = {
  'a.txt': 'alpha',
  'b.txt': 'bravo',
  'c.txt': 'charlie',
  'sub/d.txt': 'delta',
  'sub/e.txt': 'echo',
};

/** The hostile listings, each with what its error says. */
const HOSTILE: [string, () => ListingRewriter[], RegExp][] = [
  [
    'a repeated continuation token',
    () => [repeatToken()],
    /: the server repeated the continuation token "fault-proxy-repeated-token" on page 2: the listing does not advance$/,
  ],
  [
    'a page that goes back to the first page (a new token each time)',
    () => [paginate(2), backwardsPage()],
    /: page 2 goes back to ".*\/a\.txt", at or before ".*\/b\.txt" of page 1: the listing does not advance$/,
  ],
];

describeS3('listings that do not advance, through a proxy', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  const proxied = useProxyPerTest(300);
  let n = 0;

  type Layout = TargetPlaces;

  const layout = (): Promise<Layout> => targetPlaces(path.join(tmp.path, `case-${++n}`));

  /** An S3Object for `prefix` through the proxy, with fast retries. */
  function object(prefix: string, localPath: string): S3Object {
    const uri = `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${proxied.proxy.endpoint}/${bucket.name}/${prefix}`;
    return new S3Object(uri, {
      localPath,
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, 'index'),
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
    });
  }

  /** Rewrites every ListObjectsV2 answer of the bucket with these rewriters, in order. */
  function rewriteListings(rewriters: ListingRewriter[]): void {
    proxied.proxy.setRules([
      {
        match: { method: 'GET', path: new RegExp(`^/${bucket.name}/?$`), query: /list-type=2/ },
        fault: { kind: 'rewrite-listing', rewrite: rewriters },
      },
    ]);
  }

  /** How many ListObjectsV2 requests the proxy has seen. */
  const listings = (): number =>
    proxied.proxy.requests.filter(
      (r) => r.method === 'GET' && /(^|&)list-type=2(&|$)/.test(r.query),
    ).length;

  async function putTree(prefix: string, files: Record<string, string>): Promise<void> {
    for (const [rel, content] of Object.entries(files)) {
      await putObject(bucket.client, bucket.name, `${prefix}/${rel}`, content);
    }
  }

  async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
    for (const [rel, content] of Object.entries(files)) {
      const abs = path.join(dir, ...rel.split('/'));
      await mkdir(path.dirname(abs), { recursive: true });
      await writeFile(abs, content);
    }
  }

  /** Every key under `prefix` with its ETag and size, listed directly (not through the proxy). */
  async function remoteState(prefix: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let token: string | undefined;
    do {
      const page = await bucket.client.send(
        new ListObjectsV2Command({
          Bucket: bucket.name,
          Prefix: `${prefix}/`,
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) out.set(o.Key!, `${o.ETag} ${o.Size}`);
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  /** The parent without the target, and the outside directory. */
  async function around(l: Layout): Promise<Map<string, string>[]> {
    return [await snapshotTree(l.parent, { skip: ['target'] }), await snapshotTree(l.outside)];
  }

  it.each(HOSTILE)(
    '%s fails download() of a prefix with a ListingError after a few requests',
    async (_name, rewriters, message) => {
      const prefix = uniqueKey('download');
      await putTree(prefix, FILES);
      const l = await layout();
      const before = await around(l);
      rewriteListings(rewriters());
      const start = listings();
      const error = await object(prefix, l.target)
        .download()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListingError);
      expect(error).toBeInstanceOf(S3ObjectError);
      expect((error as ListingError).message).toMatch(message);
      expect((error as ListingError).message).toContain(`/${bucket.name}/${prefix}`);
      expect((error as ListingError).operation).toBe('ListObjectsV2');
      expect(listings() - start).toBeGreaterThanOrEqual(2);
      expect(listings() - start).toBeLessThan(10);
      expect(await around(l)).toEqual(before);
      expect(
        [...(await snapshotTree(l.target)).keys()].filter((p) => isTempName(path.basename(p))),
      ).toEqual([]);
    },
  );

  it.each(HOSTILE)(
    '%s makes a mirror download delete nothing locally',
    async (_name, rewriters, message) => {
      const prefix = uniqueKey('mirror-down');
      await putTree(prefix, FILES);
      const l = await layout();
      // The target holds the tree already, and files the server does not have.
      await object(prefix, l.target).download();
      await writeTree(l.target, { 'extra.txt': 'local only', 'sub/extra.txt': 'local only too' });
      const before = await around(l);
      const targetBefore = await snapshotTree(l.target);
      rewriteListings(rewriters());
      const start = listings();
      const error = await object(prefix, l.target)
        .download({ mirror: true })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListingError);
      expect((error as ListingError).message).toMatch(message);
      expect(listings() - start).toBeLessThan(10);
      expect(await around(l)).toEqual(before);
      // Nothing in the target was deleted; the local-only files are untouched.
      const targetAfter = await snapshotTree(l.target);
      for (const [rel, entry] of targetBefore) {
        expect(targetAfter.has(rel), rel).toBe(true);
        if (/extra\.txt$/.test(rel)) expect(targetAfter.get(rel), rel).toBe(entry);
      }
      expect(await readFile(path.join(l.target, 'extra.txt'), 'utf8')).toBe('local only');
      expect(await readFile(path.join(l.target, 'sub', 'extra.txt'), 'utf8')).toBe(
        'local only too',
      );
      expect([...targetAfter.keys()].filter((p) => isTempName(path.basename(p)))).toEqual([]);
    },
  );

  it.each(HOSTILE)(
    '%s makes a mirror upload delete nothing remotely',
    async (_name, rewriters, message) => {
      const prefix = uniqueKey('mirror-up');
      // The server holds the local tree already, and files the local tree does not have.
      await putTree(prefix, { ...FILES, 'remote-only.txt': 'remote only', 'sub/z.txt': 'zulu' });
      const l = await layout();
      await writeTree(l.target, FILES);
      const remoteBefore = await remoteState(prefix);
      const before = await around(l);
      const targetBefore = await snapshotTree(l.target);
      rewriteListings(rewriters());
      const start = listings();
      const error = await object(prefix, l.target)
        .upload({ mirror: true })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListingError);
      expect((error as ListingError).message).toMatch(message);
      expect(listings() - start).toBeLessThan(10);
      expect(await remoteState(prefix)).toEqual(remoteBefore);
      expect(
        proxied.proxy.requests.filter((r) => r.method === 'DELETE' || /delete/.test(r.query)),
      ).toEqual([]);
      expect(await around(l)).toEqual(before);
      expect(await snapshotTree(l.target)).toEqual(targetBefore);
    },
  );

  it('refuses a listed key outside the prefix: never a path, never a deletion', async () => {
    const prefix = uniqueKey('mirk');
    const outsideKey = `${prefix}-outside/important.txt`;
    await putTree(prefix, FILES);
    await putObject(bucket.client, bucket.name, outsideKey, 'important, outside the prefix');
    const l = await layout();
    const before = await around(l);
    rewriteListings([injectKeys([{ key: outsideKey, size: 29 }])]);

    // A download: the outside key fails alone (a ListingError); the others land.
    const down = (await object(prefix, l.target)
      .download()
      .catch((e: unknown) => e)) as SyncError;
    expect(down).toBeInstanceOf(SyncError);
    expect(down.failures.map((f) => f.path)).toEqual([outsideKey]);
    expect(down.failures[0]?.error).toBeInstanceOf(ListingError);
    expect((down.failures[0]?.error as Error).message).toMatch(/outside that prefix: refused/);
    const landed = [...(await snapshotTree(l.target)).entries()]
      .filter(([, d]) => d.startsWith('file'))
      .map(([p]) => p);
    expect(landed.sort()).toEqual(Object.keys(FILES).sort());
    expect(await around(l)).toEqual(before);

    // An upload mirror of a tree lacking it: the outside key is not deleted, nor anything.
    await rm(path.join(l.target, 'a.txt'));
    const remoteBefore = await remoteState(prefix);
    const up = (await object(prefix, l.target)
      .upload({ mirror: true })
      .catch((e: unknown) => e)) as SyncError;
    expect(up).toBeInstanceOf(SyncError);
    expect(up.result?.deleted).toBe(0);
    expect(await remoteState(prefix)).toEqual(remoteBefore);
    expect(await remoteState(`${prefix}-outside`)).toHaveProperty('size', 1);
    expect(await around(l)).toEqual(before);
  });

  it('refuses impossible sizes, and a mirror then deletes nothing', async () => {
    const prefix = uniqueKey('sizes');
    await putTree(prefix, FILES);
    const l = await layout();
    await writeTree(l.target, { 'extra.txt': 'local only' });
    const before = await around(l);
    rewriteListings([
      rewriteSizes((key, size) =>
        key.endsWith('/a.txt') ? '-5' : key.endsWith('/b.txt') ? String(2 ** 60) : size,
      ),
    ]);
    const error = (await object(prefix, l.target)
      .download({ mirror: true })
      .catch((e: unknown) => e)) as SyncError;
    expect(error).toBeInstanceOf(SyncError);
    expect(error.failures.map((f) => f.path).sort()).toEqual(['a.txt', 'b.txt']);
    for (const f of error.failures) expect(f.error).toBeInstanceOf(ListingError);
    expect(error.result?.deleted).toBe(0);
    expect(await readFile(path.join(l.target, 'extra.txt'), 'utf8')).toBe('local only');
    expect(await readFile(path.join(l.target, 'c.txt'), 'utf8')).toBe('charlie');
    expect(await around(l)).toEqual(before);
  });

  it('copes with unsorted and duplicated keys: the right files, the right deletions', async () => {
    const prefix = uniqueKey('unsorted');
    await putTree(prefix, FILES);
    const l = await layout();
    await writeTree(l.target, { 'extra.txt': 'local only', 'sub/d.txt': 'stale' });
    const before = await around(l);
    rewriteListings([reverseKeys(), duplicateKeys()]);
    const result = await object(prefix, l.target).sync('download', { mirror: true });
    for (const [rel, content] of Object.entries(FILES)) {
      expect(await readFile(path.join(l.target, ...rel.split('/')), 'utf8')).toBe(content);
    }
    await expect(readFile(path.join(l.target, 'extra.txt'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    // Each file once, whatever the listing repeated.
    expect(result.transferred).toBe(Object.keys(FILES).length);
    expect(result.deleted).toBe(1);
    expect(await around(l)).toEqual(before);
  });

  it('verifies against the GET, not a wrong listed ETag', async () => {
    const prefix = uniqueKey('etags');
    await putTree(prefix, FILES);
    const l = await layout();
    const before = await around(l);
    rewriteListings([rewriteEtags('"00000000000000000000000000000000"')]);
    await object(prefix, l.target).download();
    for (const [rel, content] of Object.entries(FILES)) {
      expect(await readFile(path.join(l.target, ...rel.split('/')), 'utf8')).toBe(content);
    }
    // Run again: the wrong ETag never matches, so the files are fetched again, still right.
    const again = await object(prefix, l.target).sync('download');
    expect(again.failed).toBe(0);
    expect(await around(l)).toEqual(before);
  });

  it('follows an honest listing in pages of two, and a mirror then deletes what it should', async () => {
    const prefix = uniqueKey('paged');
    await putTree(prefix, { ...FILES, 'remote-only.txt': 'remote only' });
    const l = await layout();
    await writeTree(l.target, { 'extra.txt': 'local only' });
    const before = await around(l);
    rewriteListings([paginate(2)]);
    const start = listings();
    await object(prefix, l.target).download({ mirror: true });
    // Six keys in pages of two: three pages at least.
    expect(listings() - start).toBeGreaterThanOrEqual(3);
    for (const [rel, content] of Object.entries({ ...FILES, 'remote-only.txt': 'remote only' })) {
      expect(await readFile(path.join(l.target, ...rel.split('/')), 'utf8')).toBe(content);
    }
    await expect(readFile(path.join(l.target, 'extra.txt'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await around(l)).toEqual(before);

    // The other way: the remote-only key goes.
    await rm(path.join(l.target, 'remote-only.txt'));
    await object(prefix, l.target).upload({ mirror: true });
    expect([...(await remoteState(prefix)).keys()].sort()).toEqual(
      Object.keys(FILES)
        .map((rel) => `${prefix}/${rel}`)
        .sort(),
    );
    expect(await around(l)).toEqual(before);
  });
});
