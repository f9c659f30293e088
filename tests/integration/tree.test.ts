import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { expect, it } from 'vitest';

import {
  NotFoundError,
  S3Object,
  SyncError,
  UnsafePathError,
  type ProgressEvent,
  type S3ObjectOptions,
  type SyncResult,
} from '../../src/index.js';
import {
  describeS3,
  getObject,
  interceptSend,
  listKeys,
  objectExists,
  putObject,
  requires,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';
import { isTempName } from '../../src/utils.js';

/** Counts the commands an SDK client sends, by name without the `Command` suffix. */
function countRequests(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  interceptSend(client, (command, send) => {
    const name = (command as object).constructor.name.replace(/Command$/, '');
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return send();
  });
  return counts;
}

/**
 * Writes files and gives them an mtime a minute ago, as files that existed before the sync
 * do. (A file modified within the hash index's racy margin of being hashed is, rightly,
 * hashed again next time; the hash-index tests cover that case.)
 */
async function writeTree(
  root: string,
  files: Record<string, string | Buffer>,
  options: { fresh?: boolean } = {},
): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
    if (options.fresh !== true) await utimes(abs, past, past);
  }
}

async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
      if (e.isDirectory()) await walk(path.join(dir, e.name), rel);
      else out[rel] = await readFile(path.join(dir, e.name), 'utf8');
    }
  }
  await walk(root, '');
  return out;
}

const byOp = (r: SyncResult) => r.actions.map((a) => `${a.op}:${a.path}:${a.reason}`).sort();

describeS3('directory sync against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  function tree(prefix: string, options: S3ObjectOptions = {}): S3Object {
    return new S3Object(uriFor(bucket.name, prefix), {
      localPath: path.join(tmp.path, `tree-${++n}`),
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, 'index'),
      ...options,
    });
  }

  it('uploads a nested tree under key/ and downloads it back with the same layout', async () => {
    const prefix = uniqueKey('nested');
    const up = tree(prefix);
    const files = {
      'a.txt': 'A',
      'dir/b.txt': 'B',
      'dir/sub/c.txt': 'C',
      'dir/sub/deeper/d.txt': 'D',
      'empty.txt': '',
    };
    await writeTree(up.localPath, files);
    const result = await up.sync('upload');
    expect(result).toMatchObject({ tree: true, transferred: 5, unchanged: 0, deleted: 0 });
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual(
      Object.keys(files)
        .map((k) => `${prefix}/${k}`)
        .sort(),
    );

    const down = tree(prefix);
    const requests = countRequests(down.client.sdk);
    expect(await down.download()).toBe(down.localPath);
    expect(await readTree(down.localPath)).toEqual(files);
    // One HEAD (is it a file?), one LIST for the whole tree (not per level: defect 6).
    expect(requests.get('ListObjectsV2')).toBe(1);
    expect(requests.get('HeadObject')).toBe(1);
    expect(requests.get('GetObject')).toBe(5);
  });

  it('a no-op re-sync sends only the listing and re-hashes nothing (defect 6)', async () => {
    const prefix = uniqueKey('noop');
    const up = tree(prefix);
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`d${i % 3}/f${i}.txt`] = `content ${i}`;
    await writeTree(up.localPath, files);
    await up.upload();

    const requests = countRequests(up.client.sdk);
    const again = await up.sync('upload');
    expect(again).toMatchObject({ transferred: 0, unchanged: 30, hashedFiles: 0, hashedBytes: 0 });
    expect(Object.fromEntries(requests)).toEqual({ ListObjectsV2: 1 });

    const down = tree(prefix);
    await down.download();
    const downRequests = countRequests(down.client.sdk);
    const noop = await down.sync('download');
    expect(noop).toMatchObject({ transferred: 0, unchanged: 30, hashedFiles: 0 });
    expect(Object.fromEntries(downRequests)).toEqual({ ListObjectsV2: 1 });
  });

  it('transfers exactly the files that changed, with their reasons', async () => {
    const prefix = uniqueKey('changed');
    const up = tree(prefix);
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`f${String(i).padStart(2, '0')}.txt`] = `value-${i}`;
    await writeTree(up.localPath, files);
    await up.upload();
    // Same size, other content: only the checksum can tell.
    await writeTree(
      up.localPath,
      { 'f03.txt': 'VALUE-3', 'f07.txt': 'VALUE-7', 'new.txt': 'n' },
      { fresh: true },
    );
    await writeFile(path.join(up.localPath, 'f09.txt'), 'longer value 9');
    const result = await up.sync('upload');
    expect(byOp(result)).toEqual([
      'upload:f03.txt:checksum',
      'upload:f07.txt:checksum',
      'upload:f09.txt:size',
      'upload:new.txt:missing',
    ]);
    expect(result.hashedFiles).toBe(4);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/f03.txt`)).toString()).toBe(
      'VALUE-3',
    );
  });

  it('tells an empty prefix from a missing one', async () => {
    const prefix = uniqueKey('empty');
    await putObject(bucket.client, bucket.name, `${prefix}/`, '');
    const empty = tree(prefix);
    expect(await empty.sync('download')).toMatchObject({ tree: true, transferred: 0 });
    await expect(tree(uniqueKey('missing')).download()).rejects.toBeInstanceOf(NotFoundError);
    await expect(tree(`${uniqueKey('missing')}/`).download()).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists more than 1,000 keys in pages of 1,000 and syncs them all', async () => {
    const prefix = uniqueKey('many');
    const up = tree(prefix, { maxConcurrency: 16 });
    const files: Record<string, string> = {};
    for (let i = 0; i < 1005; i++) files[`k/${i}`] = String(i);
    await writeTree(up.localPath, files);
    expect((await up.sync('upload')).transferred).toBe(1005);
    const requests = countRequests(up.client.sdk);
    expect((await up.sync('upload')).unchanged).toBe(1005);
    expect(Object.fromEntries(requests)).toEqual({ ListObjectsV2: 2 });
  });

  it('excludes match paths relative to the root, so the default cache location works (defect 1)', async () => {
    const prefix = uniqueKey('cache');
    await putObject(bucket.client, bucket.name, `${prefix}/data.txt`, 'data');
    await putObject(bucket.client, bucket.name, `${prefix}/.hidden`, 'hidden');
    await putObject(bucket.client, bucket.name, `${prefix}/sub/__pycache__/x.pyc`, 'pyc');
    // The default local path lives under ~/.cache: the old absolute matching excluded it all.
    const home = path.join(tmp.path, 'home', '.cache');
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = home;
    try {
      const obj = new S3Object(uriFor(bucket.name, prefix), { progressMode: 'disabled' });
      expect(obj.localPath.startsWith(home)).toBe(true);
      const result = await obj.sync('download');
      expect(result.transferred).toBe(1);
      expect(await readTree(obj.localPath)).toEqual({ 'data.txt': 'data' });
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });

  it('constructor excludes replace the defaults; call excludes add to them', async () => {
    const prefix = uniqueKey('excl');
    const local = {
      'keep.txt': 'k',
      '.env': 'secret',
      'logs/a.log': 'log',
      'build/out.bin': 'bin',
    };
    const onlyLogs = tree(prefix, { excludes: [/\.log$/] });
    await writeTree(onlyLogs.localPath, local);
    const plan = await onlyLogs.upload({ dryRun: true, excludes: ['^build/'] });
    expect(plan.actions.map((a) => a.path).sort()).toEqual(['.env', 'keep.txt']);
    const defaults = tree(prefix);
    await writeTree(defaults.localPath, local);
    const planDefaults = await defaults.upload({ dryRun: true });
    expect(planDefaults.actions.map((a) => a.path).sort()).toEqual([
      'build/out.bin',
      'keep.txt',
      'logs/a.log',
    ]);
  });

  it('download mirror deletes local extras and emptied directories, never excluded paths (defect 3)', async () => {
    const prefix = uniqueKey('mirror-down');
    await putObject(bucket.client, bucket.name, `${prefix}/keep.txt`, 'keep');
    const obj = tree(prefix);
    await writeTree(obj.localPath, {
      'keep.txt': 'keep',
      'extra.txt': 'extra',
      'old/deep/gone.txt': 'gone',
      '.git/config': 'precious',
      'node_modules/x.js': 'excluded by the call',
    });
    const requests = countRequests(obj.client.sdk);
    const result = await obj.sync('download', { mirror: true, excludes: ['^node_modules/'] });
    expect(byOp(result)).toEqual([
      'delete:extra.txt:not-in-source',
      'delete:old/deep/gone.txt:not-in-source',
    ]);
    // Mirror adds deletions only: the unchanged file is not fetched again (defect 4).
    expect(requests.get('GetObject')).toBeUndefined();
    expect(await readTree(obj.localPath)).toEqual({
      'keep.txt': 'keep',
      '.git/config': 'precious',
      'node_modules/x.js': 'excluded by the call',
    });
    await expect(stat(path.join(obj.localPath, 'old'))).rejects.toThrow(/ENOENT/);
  });

  it('upload mirror deletes remote extras, never excluded ones (defect 3)', async () => {
    const prefix = uniqueKey('mirror-up');
    for (const k of ['keep.txt', 'extra.txt', 'sub/extra2.txt', '.hidden', 'cache/tmp.bin']) {
      await putObject(bucket.client, bucket.name, `${prefix}/${k}`, 'remote');
    }
    const obj = tree(prefix);
    await writeTree(obj.localPath, { 'keep.txt': 'local' });
    const result = await obj.sync('upload', { mirror: true, excludes: ['^cache/'] });
    expect(byOp(result)).toEqual([
      'delete:extra.txt:not-in-source',
      'delete:sub/extra2.txt:not-in-source',
      'upload:keep.txt:size',
    ]);
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([
      `${prefix}/.hidden`,
      `${prefix}/cache/tmp.bin`,
      `${prefix}/keep.txt`,
    ]);
  });

  requires('literal-keys').it(
    'upload mirror never deletes an excluded key, even one no local path could hold',
    async () => {
      const prefix = uniqueKey('mirror-unsafe');
      await putObject(bucket.client, bucket.name, `${prefix}/x//.env`, 'remote secret');
      await putObject(bucket.client, bucket.name, `${prefix}/gone.txt`, 'extra');
      const obj = tree(prefix);
      await writeTree(obj.localPath, { 'keep.txt': 'k' });
      const result = await obj.sync('upload', { mirror: true });
      expect(byOp(result)).toEqual(['delete:gone.txt:not-in-source', 'upload:keep.txt:missing']);
      expect(await objectExists(bucket.client, bucket.name, `${prefix}/x//.env`)).toBe(true);
    },
  );

  it('upload mirror deletes in DeleteObjects batches of at most 1,000 (defect 5)', async () => {
    const prefix = uniqueKey('batch');
    const seed = tree(prefix, { maxConcurrency: 16 });
    const files: Record<string, string> = {};
    for (let i = 0; i < 1003; i++) files[`x/${i}`] = 'x';
    await writeTree(seed.localPath, files);
    await seed.upload();
    const obj = tree(prefix);
    await mkdir(obj.localPath);
    const batches: number[] = [];
    interceptSend(obj.client.sdk, (command, send) => {
      if (command instanceof DeleteObjectsCommand) {
        batches.push(command.input.Delete?.Objects?.length ?? 0);
      }
      return send();
    });
    const result = await obj.sync('upload', { mirror: true });
    expect(result.deleted).toBe(1003);
    expect(batches).toEqual([1000, 3]);
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([]);
  });

  it('maxDelete refuses a mirror that would delete too much, before changing anything', async () => {
    const prefix = uniqueKey('cap');
    for (const k of ['a', 'b', 'c'])
      await putObject(bucket.client, bucket.name, `${prefix}/${k}`, k);
    const obj = tree(prefix);
    await writeTree(obj.localPath, { new: 'n' });
    await expect(obj.sync('upload', { mirror: true, maxDelete: 2 })).rejects.toThrow(
      /would delete 3 files, more than maxDelete \(2\)/,
    );
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toHaveLength(3);
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/new`)).toBe(false);
  });

  /** 1,001 keys (two pages) under a new prefix, and a sync whose second LIST is refused. */
  async function failingSecondPage(): Promise<S3Object> {
    const prefix = uniqueKey('partial');
    const seed = tree(prefix, { maxConcurrency: 16 });
    const files: Record<string, string> = {};
    for (let i = 0; i < 1001; i++) files[`p${i}`] = 'p';
    await writeTree(seed.localPath, files);
    await seed.upload();
    const obj = tree(prefix);
    await writeTree(obj.localPath, { 'local-only.txt': 'mine', p0: 'p' });
    let pages = 0;
    interceptSend(obj.client.sdk, (command, send) => {
      if (command instanceof ListObjectsV2Command && ++pages === 2) {
        return Promise.reject(
          Object.assign(new Error('AccessDenied'), {
            name: 'AccessDenied',
            $metadata: { httpStatusCode: 403 },
          }),
        );
      }
      return send();
    });
    return obj;
  }

  it('deletes nothing when the listing fails part-way', async () => {
    const obj = await failingSecondPage();
    await expect(obj.sync('download', { mirror: true })).rejects.toThrow(/ListObjectsV2/);
    // Pages are acted on as they arrive: the first page's keys (in key order) were
    // downloaded, complete, except its last, which waits for a later key to show it is not
    // also a directory; nothing was deleted and nothing else was written.
    const firstPage = Array.from({ length: 1001 }, (_, i) => `p${i}`)
      .sort()
      .slice(0, 1000);
    expect(await readTree(obj.localPath)).toEqual({
      'local-only.txt': 'mine',
      ...Object.fromEntries(firstPage.slice(0, -1).map((k) => [k, 'p'])),
    });
  });

  it('with maxDelete, changes nothing at all when the listing fails part-way', async () => {
    const obj = await failingSecondPage();
    await expect(obj.sync('download', { mirror: true, maxDelete: 10 })).rejects.toThrow(
      /ListObjectsV2/,
    );
    expect(await readTree(obj.localPath)).toEqual({ 'local-only.txt': 'mine', p0: 'p' });
  });

  it('dry run returns the plan with reasons and changes nothing', async () => {
    const prefix = uniqueKey('dry');
    await putObject(bucket.client, bucket.name, `${prefix}/same.txt`, 'same');
    await putObject(bucket.client, bucket.name, `${prefix}/size.txt`, 'remote longer');
    await putObject(bucket.client, bucket.name, `${prefix}/sum.txt`, 'AAAA');
    await putObject(bucket.client, bucket.name, `${prefix}/new.txt`, 'new');
    const obj = tree(prefix);
    await writeTree(obj.localPath, {
      'same.txt': 'same',
      'size.txt': 'short',
      'sum.txt': 'BBBB',
      'extra.txt': 'x',
    });
    const before = await readTree(obj.localPath);
    const plan = await obj.download({ dryRun: true, mirror: true });
    expect(plan.dryRun).toBe(true);
    expect(byOp(plan)).toEqual([
      'delete:extra.txt:not-in-source',
      'download:new.txt:missing',
      'download:size.txt:size',
      'download:sum.txt:checksum',
    ]);
    expect(plan.unchanged).toBe(1);
    expect(await readTree(obj.localPath)).toEqual(before);

    const real = await obj.sync('download', { mirror: true });
    expect(byOp(real)).toEqual(byOp(plan));
    expect(real).toMatchObject({ transferred: 3, deleted: 1, bytes: 3 + 13 + 4 });
  });

  requires('literal-keys').it(
    'refuses keys that would escape the target, and writes nothing outside it (defect 10)',
    async () => {
      const prefix = uniqueKey('escape');
      const bad = [
        `${prefix}/../escaped.txt`,
        `${prefix}/a/../../escaped2.txt`,
        `${prefix}/x//y.txt`,
      ];
      for (const k of [...bad, `${prefix}/ok.txt`, `${prefix}/f`, `${prefix}/f/inner.txt`]) {
        await putObject(bucket.client, bucket.name, k, 'evil');
      }
      const parent = path.join(tmp.path, `escape-${++n}`);
      const obj = new S3Object(uriFor(bucket.name, prefix), {
        localPath: path.join(parent, 'target'),
        progressMode: 'disabled',
        hashIndex: false,
      });
      const error = (await obj.download().catch((e: unknown) => e)) as SyncError;
      expect(error).toBeInstanceOf(SyncError);
      expect(error.failures.map((f) => f.path).sort()).toEqual([
        '../escaped.txt',
        'a/../../escaped2.txt',
        'f',
        'x//y.txt',
      ]);
      expect(error.failures.filter((f) => f.error instanceof UnsafePathError)).toHaveLength(4);
      expect(error.message).toMatch(/\.\./);
      expect(await readdir(parent)).toEqual(['target']);
      expect(await readTree(path.join(parent, 'target'))).toEqual({
        'ok.txt': 'evil',
        'f/inner.txt': 'evil',
      });
    },
  );

  it('keys with spaces, unicode, +, %, #, ? round-trip exactly', async () => {
    const prefix = uniqueKey('names');
    const files = {
      'with space.txt': '1',
      'unicode/日本語 ü.txt': '2',
      'plus+sign.txt': '3',
      'percent%20.txt': '4',
      'hash#tag.txt': '5',
      'question?.txt': '6',
      'amp&eq=.txt': '7',
    };
    const up = tree(prefix);
    await writeTree(up.localPath, files);
    await up.upload();
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual(
      Object.keys(files)
        .map((k) => `${prefix}/${k}`)
        .sort(),
    );
    const down = tree(prefix);
    await down.download();
    expect(await readTree(down.localPath)).toEqual(files);
    expect((await down.sync('download')).unchanged).toBe(7);
  });

  it('one failing file does not abandon the others: SyncError lists it', async () => {
    const prefix = uniqueKey('partial-fail');
    for (const k of ['a.txt', 'b.txt', 'c.txt'])
      await putObject(bucket.client, bucket.name, `${prefix}/${k}`, k);
    const obj = tree(prefix);
    // A directory where b.txt must go makes that one download fail.
    await mkdir(path.join(obj.localPath, 'b.txt'), { recursive: true });
    await writeFile(path.join(obj.localPath, 'b.txt', 'inside'), 'x');
    const error = (await obj.sync('download').catch((e: unknown) => e)) as SyncError;
    expect(error).toBeInstanceOf(SyncError);
    expect(error.failures.map((f) => f.path)).toEqual(['b.txt']);
    expect(error.message).toMatch(/b\.txt: .*is a directory/);
    expect(error.result?.transferred).toBe(2);
    expect(await readFile(path.join(obj.localPath, 'a.txt'), 'utf8')).toBe('a.txt');
    expect(await readFile(path.join(obj.localPath, 'c.txt'), 'utf8')).toBe('c.txt');
  });

  it('keeps at most maxConcurrency files in flight across the whole tree', async () => {
    const prefix = uniqueKey('concurrency');
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`l${i % 4}/m${i % 3}/f${i}`] = `v${i}`;
    const up = tree(prefix, { maxConcurrency: 3 });
    await writeTree(up.localPath, files);
    let inFlight = 0;
    let peak = 0;
    interceptSend(up.client.sdk, async (_command, send) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        return await send();
      } finally {
        inFlight--;
      }
    });
    await up.upload();
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
  });

  it('objects sharing a limiter stay within it together', async () => {
    const limiter = pLimit(2);
    const objects = [
      tree(uniqueKey('shared-a'), { limiter }),
      tree(uniqueKey('shared-b'), { limiter }),
    ];
    let inFlight = 0;
    let peak = 0;
    for (const obj of objects) {
      const files: Record<string, string> = {};
      for (let i = 0; i < 20; i++) files[`f${i}`] = `v${i}`;
      await writeTree(obj.localPath, files);
      // Listings are not file transfers and stay outside the limiter.
      interceptSend(obj.client.sdk, async (command, send) => {
        if (!(command instanceof PutObjectCommand)) return send();
        inFlight++;
        peak = Math.max(peak, inFlight);
        try {
          return await send();
        } finally {
          inFlight--;
        }
      });
    }
    await Promise.all(objects.map((o) => o.upload()));
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('reports progress per file and overall', async () => {
    const prefix = uniqueKey('progress');
    const up = tree(prefix);
    await writeTree(up.localPath, { 'a.txt': 'aaaa', 'b/c.txt': 'cc' });
    const events: ProgressEvent[] = [];
    await up.upload({ onProgress: (e) => events.push(e) });
    const last = events.at(-1)!;
    expect(last.overall).toEqual({ bytesLoaded: 6, bytesTotal: 6, filesDone: 2, filesTotal: 2 });
    expect(
      events
        .filter((e) => e.done)
        .map((e) => e.key)
        .sort(),
    ).toEqual([`${prefix}/a.txt`, `${prefix}/b/c.txt`]);
  });

  it('an aborted sync rejects with the reason and leaves no temp files', async () => {
    const prefix = uniqueKey('abort');
    const seed = tree(prefix);
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`f${i}`] = 'x'.repeat(1000);
    await writeTree(seed.localPath, files);
    await seed.upload();
    const obj = tree(prefix, { maxConcurrency: 2 });
    const controller = new AbortController();
    let gets = 0;
    interceptSend(obj.client.sdk, (command, send) => {
      if ((command as object).constructor.name === 'GetObjectCommand' && ++gets === 5) {
        controller.abort(new Error('user cancelled'));
      }
      return send();
    });
    await expect(obj.download({ signal: controller.signal })).rejects.toThrow('user cancelled');
    const names = await readdir(obj.localPath);
    expect(names.filter((f) => isTempName(path.basename(f)))).toEqual([]);
    expect(names.length).toBeLessThan(50);
    // The next run completes what was left.
    await obj.download();
    expect(Object.keys(await readTree(obj.localPath))).toHaveLength(50);
  });

  it('a corrupted hash index is ignored: the sync still converges', async () => {
    const prefix = uniqueKey('bad-index');
    const indexDir = path.join(tmp.path, `index-${++n}`);
    const up = tree(prefix, { hashIndex: indexDir });
    await writeTree(up.localPath, { 'a.txt': 'a', 'b.txt': 'b' });
    await up.upload();
    for (const f of await readdir(indexDir)) {
      await writeFile(
        path.join(indexDir, f),
        's3lync-hash-index 1 0\n["a.txt",1,"x"\ngarbage\n\0\0\0',
      );
    }
    const again = await up.sync('upload');
    expect(again).toMatchObject({ transferred: 0, unchanged: 2, hashedFiles: 2 });
    const third = await up.sync('upload');
    expect(third).toMatchObject({ unchanged: 2, hashedFiles: 0 });
  });

  it('re-transfers a changed file whose remote ETag is multipart (defect 2)', async () => {
    const prefix = uniqueKey('multipart');
    const big = (c: string) => Buffer.alloc(6 * 1024 * 1024, c);
    const options = { multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 };
    const up = tree(prefix, options);
    await writeTree(up.localPath, { 'big.bin': big('a') });
    await up.upload();
    const down = tree(prefix, options);
    await down.download();
    expect((await down.sync('download')).unchanged).toBe(1);

    await writeTree(up.localPath, { 'big.bin': big('b') });
    expect(byOp(await up.sync('upload'))).toEqual(['upload:big.bin:checksum']);
    expect(byOp(await down.sync('download'))).toEqual(['download:big.bin:checksum']);
    const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
    expect(md5(await readFile(path.join(down.localPath, 'big.bin')))).toBe(md5(big('b')));
    await rm(down.localPath, { recursive: true });
  });
});
