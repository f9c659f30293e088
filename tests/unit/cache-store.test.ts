/**
 * The cache store on a real directory, without S3: eviction order, what it never removes
 * (open, locked, dirty, outside the root), and the state pruned with the files.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { cacheUsage, clearCache, pruneCache } from '../../src/cache/api.js';
import { CacheKeeper } from '../../src/cache/keeper.js';
import { recordUsage } from '../../src/cache/state.js';
import { cachePaths } from '../../src/cache/store.js';
import { HashIndex, indexFileFor, parseIndex } from '../../src/hash-index.js';
import { acquireLock, lockFileFor } from '../../src/lock.js';
import { readCheck, writeCheck } from '../../src/sync/checks.js';
import { defaultLocalPath } from '../../src/utils.js';

let tmp: string;
let root: string;
let saved: string | undefined;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 's3lync-cache-store-'));
  saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = tmp;
  root = path.join(tmp, 's3lync');
});

afterEach(async () => {
  if (saved === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = saved;
  await rm(tmp, { recursive: true, force: true });
});

/** Writes cached files of `size` bytes and records each one's use at `t`. */
async function cached(files: Record<string, [size: number, t: number]>): Promise<void> {
  for (const [rel, [size, t]] of Object.entries(files)) {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, Buffer.alloc(size, 1));
    await recordUsage(root, [{ p: rel, t }]);
  }
}

async function present(): Promise<string[]> {
  const names = await readdir(root, { recursive: true });
  return names
    .map((n) => n.split(path.sep).join('/'))
    .filter((n) => !n.startsWith('.') && n.includes('/') && !n.endsWith('/'))
    .filter((n) => !['bkt/t', 'bkt/t/sub', 'bkt/dir'].includes(n))
    .sort();
}

describe('pruneCache', () => {
  it('evicts least recently used files until the cache fits', async () => {
    await cached({ 'bkt/old': [100, 1], 'bkt/mid': [100, 2], 'bkt/new': [100, 3] });
    const dry = await pruneCache({ maxSize: 150, dryRun: true });
    expect(dry.removed.map((f) => f.uri)).toEqual(['s3://bkt/old', 's3://bkt/mid']);
    expect(await present()).toEqual(['bkt/mid', 'bkt/new', 'bkt/old']);

    const result = await pruneCache({ maxSize: '150' });
    expect(result.removed.map((f) => f.uri)).toEqual(['s3://bkt/old', 's3://bkt/mid']);
    expect(result.freed).toBe(200);
    expect(result.size).toBe(100);
    expect(await present()).toEqual(['bkt/new']);
  });

  it('takes a tree record for each of its files, and an age', async () => {
    await cached({ 'bkt/t/a': [10, 0], 'bkt/t/sub/b': [10, 0], 'bkt/f': [10, 0] });
    const now = Date.now();
    await recordUsage(root, [
      { p: 'bkt/t', t: now },
      { p: 'bkt/f', t: now - 40 * 86_400_000 },
    ]);
    const result = await pruneCache({ olderThan: '30d' });
    expect(result.removed.map((f) => f.uri)).toEqual(['s3://bkt/f']);
    expect(await present()).toEqual(['bkt/t/a', 'bkt/t/sub/b']);
  });

  it('never removes an open, locked or dirty file', async () => {
    await cached({
      'bkt/open': [10, 1],
      'bkt/locked': [10, 2],
      'bkt/dir/in-tree': [10, 3],
      'bkt/dirty': [10, 4],
      'bkt/free': [10, 5],
    });
    const paths = cachePaths();
    const lease = await CacheKeeper.of(paths, path.join(root, 'bkt/open'))!.lease();
    const fileLock = await acquireLock(lockFileFor(paths.lockDir, path.join(root, 'bkt/locked')));
    const treeLock = await acquireLock(lockFileFor(paths.lockDir, path.join(root, 'bkt/dir')));
    await CacheKeeper.of(paths, path.join(root, 'bkt/dirty'))!.markDirty();
    try {
      const result = await pruneCache({ maxSize: 0 });
      expect(result.removed.map((f) => f.uri)).toEqual(['s3://bkt/free']);
      expect(result.kept.map((f) => [f.uri, f.reason]).sort()).toEqual([
        ['s3://bkt/dir/in-tree', 'locked'],
        ['s3://bkt/dirty', 'dirty'],
        ['s3://bkt/locked', 'locked'],
        ['s3://bkt/open', 'open'],
      ]);
      expect(await present()).toEqual(['bkt/dir/in-tree', 'bkt/dirty', 'bkt/locked', 'bkt/open']);
    } finally {
      await lease.release();
      await fileLock.release();
      await treeLock.release();
    }
    // Released, they go; the dirty file stays until an upload clears it.
    const after = await pruneCache({ maxSize: 0 });
    expect(after.removed.map((f) => f.uri).sort()).toEqual([
      's3://bkt/dir/in-tree',
      's3://bkt/locked',
      's3://bkt/open',
    ]);
    expect(await present()).toEqual(['bkt/dirty']);
    await recordUsage(root, [{ p: 'bkt/dirty', t: 9, d: 0 }]);
    expect((await pruneCache({ maxSize: 0 })).removed.map((f) => f.uri)).toEqual([
      's3://bkt/dirty',
    ]);
  });

  it('breaks the lease of a dead process and evicts', async () => {
    await cached({ 'bkt/f': [10, 1] });
    const leaseDir = path.join(root, '.usage', 'open');
    await mkdir(leaseDir, { recursive: true });
    const digest = path.basename(lockFileFor('', path.join(root, 'bkt/f')), '.lock');
    const dead = { pid: 2 ** 22 + 12345, host: os.hostname(), since: Date.now(), token: 'x' };
    await writeFile(path.join(leaseDir, `${digest}.dead.lock`), JSON.stringify(dead));
    expect((await pruneCache({ maxSize: 0 })).removed).toHaveLength(1);
    expect(await readdir(leaseDir)).toEqual([]);
  });

  it('prunes the hash index entries, index files and records of what it evicts', async () => {
    await cached({ 'bkt/t/a': [10, 1], 'bkt/t/b': [10, 2], 'bkt/gone/x': [10, 3] });
    const paths = cachePaths();
    for (const [dir, rel] of [
      ['bkt/t', 'a'],
      ['bkt/t', 'b'],
      ['bkt/gone', 'x'],
    ] as const) {
      const index = await HashIndex.load(indexFileFor(paths.indexDir, path.join(root, dir)));
      index.record(rel, {
        size: 10,
        mtimeNs: 1n,
        ctimeNs: 1n,
        ino: 1n,
        hashedAtNs: 2_000_000_000n,
        ownMtime: true,
        md5: '0123456789abcdef0123456789abcdef',
      });
      await index.save({ prune: false });
    }
    await clearCache('s3://bkt/gone/');
    await pruneCache({ maxSize: 10 });
    const tIndex = indexFileFor(paths.indexDir, path.join(root, 'bkt/t'));
    expect([...parseIndex(await readFile(tIndex, 'utf8')).keys()]).toEqual(['b']);
    expect(await readdir(paths.indexDir)).toEqual([path.basename(tIndex)]);
    const log = await readFile(path.join(root, '.usage', 'usage.jsonl'), 'utf8');
    expect(log).not.toMatch(/bkt\/gone|"bkt\/t\/a"/);
    expect(await readdir(paths.lockDir)).toEqual([]);
    expect(await present()).toEqual(['bkt/t/b']);
  });

  it('never touches anything outside the cache root or its state', async () => {
    await cached({ 'bkt/f': [10, 1] });
    const own = path.join(tmp, 'mine', 'file');
    await mkdir(path.dirname(own), { recursive: true });
    await writeFile(own, 'mine');
    expect(CacheKeeper.of(cachePaths(), own)).toBeUndefined();
    expect(CacheKeeper.of(cachePaths(), path.join(root, '.index', 'x'))).toBeUndefined();
    await clearCache();
    expect(await readFile(own, 'utf8')).toBe('mine');
    expect(await present()).toEqual([]);
  });
});

describe('cacheUsage and clearCache', () => {
  it('sums per bucket and prefix, flags dirty files, clears one prefix', async () => {
    await cached({ 'bkt/t/a': [1, 5], 'bkt/t/c': [2, 6], 'bkt/one': [4, 7], 'c/x/y/z': [8, 8] });
    await recordUsage(root, [
      { p: 'bkt/t', t: 9 },
      { p: 'bkt/one', t: 10, d: 1 },
    ]);
    const usage = await cacheUsage();
    expect(usage.size).toBe(15);
    expect(usage.files).toBe(4);
    expect(
      usage.entries.map((e) => [e.uri, e.size, e.files, e.lastUsed.getTime(), e.dirty.length]),
    ).toEqual([
      ['s3://bkt/one', 4, 1, 10, 1],
      ['s3://bkt/t/', 3, 2, 9, 0],
      ['s3://c/x/y/z', 8, 1, 8, 0],
    ]);
    const cleared = await clearCache('s3://bkt/t/');
    expect(cleared.removed.map((f) => f.uri)).toEqual(['s3://bkt/t/a', 's3://bkt/t/c']);
    // A whole bucket, with or without the slash.
    for (const uri of ['s3://bkt', 's3://bkt/']) {
      const bucketOnly = await clearCache(uri, { dryRun: true });
      expect(bucketOnly.removed).toEqual([]);
      expect(bucketOnly.kept.map((f) => f.uri)).toEqual(['s3://bkt/one']);
    }
    const all = await clearCache();
    expect(all.removed.map((f) => f.uri)).toEqual(['s3://c/x/y/z']);
    expect(all.kept.map((f) => [f.uri, f.reason])).toEqual([['s3://bkt/one', 'dirty']]);
  });
});

describe('pinned versions and check records', () => {
  it('lists, evicts and clears pinned copies like the others, with their check records', async () => {
    const paths = cachePaths();
    const checks = path.join(paths.indexDir, 'checks');
    const v1 = defaultLocalPath('bkt', 'a/b.txt', { xdgCacheHome: tmp, tmpdir: tmp }, 'v1');
    expect(path.relative(root, v1).split(path.sep).join('/')).toBe('.versions/bkt/v1/a/b.txt');
    await cached({ 'bkt/a/b.txt': [1, 5], '.versions/bkt/v2/a/b.txt': [4, 6], 'other/k': [8, 7] });
    // A pinned copy's use is recorded by its keeper, as a download would.
    await mkdir(path.dirname(v1), { recursive: true });
    await writeFile(v1, Buffer.alloc(2, 1));
    const keeper = CacheKeeper.of(paths, v1);
    expect(keeper).toBeDefined();
    const lease = await keeper!.lease();
    for (const local of [v1, path.join(root, 'bkt/a/b.txt'), path.join(root, 'other/k')]) {
      await writeCheck(checks, local, { etag: 'e', checkedAt: 1 });
    }

    const usage = await cacheUsage();
    expect(usage.files).toBe(4);
    expect(usage.entries.map((e) => [e.uri, e.size, e.files])).toEqual([
      ['s3://bkt/a/b.txt?versionId=v1', 2, 1],
      ['s3://bkt/a/b.txt?versionId=v2', 4, 1],
      ['s3://bkt/a/b.txt', 1, 1],
      ['s3://other/k', 8, 1],
    ]);

    // Open, it stays; the unpinned copy of the same key goes, with its check record.
    const pruned = await pruneCache({ maxSize: 14 });
    expect(pruned.removed.map((f) => f.uri)).toEqual(['s3://bkt/a/b.txt']);
    expect(await readCheck(checks, path.join(root, 'bkt/a/b.txt'))).toBeUndefined();
    expect(await readCheck(checks, v1)).toBeDefined();
    await lease.release();

    const one = await clearCache('s3://bkt/a/b.txt?versionId=v2');
    expect(one.removed.map((f) => f.uri)).toEqual(['s3://bkt/a/b.txt?versionId=v2']);
    const cleared = await clearCache('s3://bkt/a/');
    expect(cleared.removed.map((f) => [f.uri, f.localPath])).toEqual([
      ['s3://bkt/a/b.txt?versionId=v1', v1],
    ]);
    expect(await readCheck(checks, v1)).toBeUndefined();
    expect(await readCheck(checks, path.join(root, 'other/k'))).toBeDefined();
    expect(await readdir(root)).not.toContain('.versions');
    expect(await present()).toEqual(['other/k']);
    const log = await readFile(path.join(root, '.usage', 'usage.jsonl'), 'utf8');
    expect(log).not.toContain('.versions');
  });

  it('keeps no keeper for the state directories', () => {
    expect(CacheKeeper.of(cachePaths(), path.join(root, '.usage', 'x'))).toBeUndefined();
    expect(
      CacheKeeper.of(cachePaths(), path.join(root, '.versionsx', 'b', 'v', 'k')),
    ).toBeUndefined();
  });
});
