/**
 * The bounded cache against radosgw: eviction keeps the limit and never removes an open,
 * locked, dirty or user-path file, also with a second process reading while this one
 * evicts; and `s3lync cache ls|prune|clear` through the built binary. Each suite has a
 * cache root of its own (XDG_CACHE_HOME), so no other test's cache is touched.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { cacheUsage, clearCache, pruneCache, S3Object } from '../../src/index.js';
import { cachePaths } from '../../src/cache/store.js';
import { acquireLock, lockFileFor } from '../../src/lock.js';
import { indexFileFor, parseIndex } from '../../src/hash-index.js';
import {
  describeS3,
  md5,
  putObject,
  rawClient,
  s3,
  uriFor,
  useBucket,
  requires,
} from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const KiB = 1024;

/** A cache root of the suite's own, in this process and its children. */
function useCacheHome(): { readonly dir: string; readonly cache: string } {
  const state = { dir: '', cache: '' };
  let saved: string | undefined;
  beforeAll(async () => {
    state.dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-cache-it-'));
    state.cache = path.join(state.dir, 's3lync');
    saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = state.dir;
  });
  afterAll(async () => {
    process.env.XDG_CACHE_HOME = saved;
    await rm(state.dir, { recursive: true, force: true });
  });
  return state;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describeS3('the bounded cache', () => {
  const bucket = useBucket();
  const home = useCacheHome();
  const body = (i: number): Buffer => Buffer.alloc(100 * KiB, i);
  const obj = (key: string, options = {}): S3Object =>
    new S3Object(uriFor(bucket.name, key), { progressMode: 'disabled', ...options });

  beforeAll(async () => {
    for (let i = 0; i < 8; i++) await putObject(bucket.client, bucket.name, `k${i}`, body(i));
    await putObject(bucket.client, bucket.name, 'tree/a', body(10));
    await putObject(bucket.client, bucket.name, 'tree/b', body(11));
  });

  it('evicts the least recently used files after a download, keeping the limit', async () => {
    const limit = 250 * KiB;
    for (const key of ['k0', 'k1', 'tree/', 'k2']) {
      await obj(key, { cacheMaxSize: limit }).download();
      expect((await cacheUsage()).size).toBeLessThanOrEqual(limit);
    }
    // k2 was just downloaded; k0 and k1 went first, then one file of the tree (used at once,
    // so in path order).
    const cached = path.join(home.cache, bucket.name);
    expect((await readdir(cached, { recursive: true })).sort()).toEqual(['k2', 'tree', 'tree/b']);
    // The tree's index forgot the evicted file; a download brings it back.
    const index = indexFileFor(cachePaths().indexDir, path.join(cached, 'tree'));
    expect([...parseIndex(await readFile(index, 'utf8')).keys()]).toEqual(['b']);
    await obj('tree/').download();
    expect(await readFile(path.join(cached, 'tree', 'a'))).toEqual(body(10));
    await clearCache();
  });

  it('never evicts an open, locked, dirty or user-path file', async () => {
    const own = path.join(home.dir, 'mine', 'k0');
    await obj('k0', { localPath: own }).download();
    const reader = await obj('k1').open('r');
    await obj('k2').download();
    const k2 = obj('k2').localPath;
    const lock = await acquireLock(lockFileFor(cachePaths().lockDir, k2));
    const dirty = obj('w0');
    await expect(
      dirty.open('w', async (f) => f.write('never uploaded'), { ifMatch: '"0"' }),
    ).rejects.toThrow();
    expect(await readFile(dirty.localPath, 'utf8')).toBe('never uploaded');

    try {
      await obj('k4', { cacheMaxSize: 1 }).download();
      const result = await pruneCache({ maxSize: 0 });
      expect(result.kept.map((f) => [f.uri, f.reason]).sort()).toEqual([
        [`s3://${bucket.name}/k1`, 'open'],
        [`s3://${bucket.name}/k2`, 'locked'],
        [`s3://${bucket.name}/w0`, 'dirty'],
      ]);
      expect(await exists(obj('k4').localPath)).toBe(false);
      const read = Buffer.alloc(100 * KiB);
      await reader.read(read, 0, read.length, 0);
      expect(read).toEqual(body(1));
    } finally {
      await reader.close();
      await lock.release();
    }
    expect(await readFile(own)).toEqual(body(0));
    // Released, they go; the dirty file stays until an upload succeeds.
    const after = await pruneCache({ maxSize: 0 });
    expect(after.removed.map((f) => f.uri).sort()).toEqual([
      `s3://${bucket.name}/k1`,
      `s3://${bucket.name}/k2`,
    ]);
    expect((await cacheUsage()).entries.map((e) => [e.uri, e.dirty.length])).toEqual([
      [`s3://${bucket.name}/w0`, 1],
    ]);
    await dirty.upload();
    expect((await pruneCache({ maxSize: 0 })).removed).toHaveLength(1);
    expect(await readFile(own)).toEqual(body(0));
  });

  it('keeps a file another process has open while this one evicts', async () => {
    const uri = uriFor(bucket.name, 'k5');
    const child = spawn(process.execPath, [path.join(root, 'tests/support/cache-child.mjs'), uri], {
      env: { ...process.env, XDG_CACHE_HOME: home.dir },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<string> => String((await lines.next()).value);
    try {
      expect(await next()).toBe('ready');
      await obj('k6').download();
      const result = await pruneCache({ maxSize: 0 });
      expect(result.removed.map((f) => f.uri)).toEqual([`s3://${bucket.name}/k6`]);
      expect(result.kept.map((f) => [f.uri, f.reason])).toEqual([
        [`s3://${bucket.name}/k5`, 'open'],
      ]);
      child.stdin.write('read\n');
      expect(await next()).toBe(md5(body(5)));
      child.stdin.write('close\n');
      expect(await next()).toBe('closed');
    } finally {
      child.kill();
    }
    expect((await pruneCache({ maxSize: 0 })).removed.map((f) => f.uri)).toEqual([
      `s3://${bucket.name}/k5`,
    ]);
  });

  it('lets two processes download into one bounded cache while one evicts', async () => {
    const limit = 300 * KiB;
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
    const runChild = (key: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const job = {
          op: 'sync',
          uri: uriFor(bucket.name, key),
          direction: 'download',
          options: { cacheMaxSize: limit },
        };
        const child = spawn(
          process.execPath,
          [path.join(root, 'tests/support/sync-child.mjs'), JSON.stringify(job)],
          {
            env: { ...process.env, XDG_CACHE_HOME: home.dir },
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.on('error', reject);
        child.on('close', () => {
          resolve(out);
        });
      });
    const outcomes = await Promise.all([
      (async () => {
        const out: string[] = [];
        for (const key of keys.slice(0, 4)) out.push(await runChild(key));
        return out;
      })(),
      (async () => {
        for (const key of keys.slice(4)) await obj(key, { cacheMaxSize: limit }).download();
      })(),
    ]);
    for (const line of outcomes[0]) expect(JSON.parse(line)).toMatchObject({ ok: true });
    const usage = await cacheUsage();
    expect(usage.size).toBeLessThanOrEqual(limit);
    // Whatever is left is intact.
    for (const entry of usage.entries) {
      const i = Number(entry.uri.slice(-1));
      expect(await readFile(entry.localPath)).toEqual(body(i));
    }
    await clearCache();
  });

  requires('versioning').it(
    'lists and clears a pinned version copy, with its check record',
    async () => {
      const versioned = `s3lync-vc-${Date.now().toString(36)}`;
      const raw = rawClient();
      await raw.send(new CreateBucketCommand({ Bucket: versioned }));
      try {
        await raw.send(
          new PutBucketVersioningCommand({
            Bucket: versioned,
            VersioningConfiguration: { Status: 'Enabled' },
          }),
        );
        const put = await raw.send(
          new PutObjectCommand({ Bucket: versioned, Key: 'w.bin', Body: 'v1 weights' }),
        );
        const v1 = put.VersionId ?? '';
        await raw.send(new PutObjectCommand({ Bucket: versioned, Key: 'w.bin', Body: 'v2' }));
        const pinned = new S3Object(`${uriFor(versioned, 'w.bin')}?versionId=${v1}`, {
          progressMode: 'disabled',
        });
        await pinned.download();
        expect(pinned.localPath).toContain(path.join(home.cache, '.versions', versioned));
        const checks = path.join(cachePaths().indexDir, 'checks');
        expect(await readdir(checks)).toHaveLength(1);
        const usage = await cacheUsage();
        expect(usage.entries.map((e) => e.uri)).toContain(
          `s3://${versioned}/w.bin?versionId=${encodeURIComponent(v1)}`,
        );

        const cleared = await clearCache(`s3://${versioned}/w.bin`);
        expect(cleared.removed.map((f) => f.localPath)).toEqual([pinned.localPath]);
        expect(await exists(pinned.localPath)).toBe(false);
        expect(await readdir(checks)).toEqual([]);
      } finally {
        const listed = await raw.send(new ListObjectVersionsCommand({ Bucket: versioned }));
        for (const v of listed.Versions ?? []) {
          await raw.send(
            new DeleteObjectCommand({ Bucket: versioned, Key: v.Key, VersionId: v.VersionId }),
          );
        }
        await raw.send(new DeleteBucketCommand({ Bucket: versioned }));
      }
    },
  );
});

describeS3('s3lync cache', () => {
  const bucket = useBucket();
  const home = useCacheHome();
  const CLI = path.join(root, 'dist', 'cli.js');

  function cli(
    ...args: string[]
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: {
          ...process.env,
          XDG_CACHE_HOME: home.dir,
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
          AWS_REGION: s3.region,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        resolve({ code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    await putObject(bucket.client, bucket.name, 'data/a.csv', 'a'.repeat(1000));
    await putObject(bucket.client, bucket.name, 'data/b.csv', 'b'.repeat(2000));
    await putObject(bucket.client, bucket.name, 'model.bin', randomBytes(4000));
  });

  it('lists, prunes and clears the cache', async () => {
    await new S3Object(uriFor(bucket.name, 'model.bin'), { progressMode: 'disabled' }).download();
    await new S3Object(uriFor(bucket.name, 'data/'), { progressMode: 'disabled' }).download();

    const ls = await cli('cache', 'ls');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(`cache ${home.cache}: 6.8 KiB in 3 files (no limit)`);
    expect(ls.stdout).toMatch(new RegExp(`2\\.9 KiB\\s+2  s3://${bucket.name}/data/\\n`));
    expect(ls.stdout).toMatch(new RegExp(`3\\.9 KiB\\s+1  s3://${bucket.name}/model\\.bin\\n`));

    const json = JSON.parse((await cli('cache', 'ls', '--json')).stdout) as {
      size: number;
      entries: { uri: string; files: number; size: number; lastUsed: string }[];
    };
    expect(json.size).toBe(7000);
    expect(json.entries.map((e) => [e.uri, e.files, e.size])).toEqual([
      [`s3://${bucket.name}/data/`, 2, 3000],
      [`s3://${bucket.name}/model.bin`, 1, 4000],
    ]);

    // model.bin was used first: it goes first.
    const dry = await cli('cache', 'prune', '--max-size', '5K', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would remove s3://${bucket.name}/model.bin (3.9 KiB`);
    expect(dry.stdout).toContain(
      '(dry run) would remove 1 file, 3.9 KiB; the cache would hold 2.9 KiB',
    );
    expect(await exists(path.join(home.cache, bucket.name, 'model.bin'))).toBe(true);

    const prune = await cli('cache', 'prune', '--max-size', '5K', '--older-than', '30d', '--json');
    expect(JSON.parse(prune.stdout)).toMatchObject({
      command: 'cache prune',
      ok: true,
      dryRun: false,
      freed: 4000,
      size: 3000,
      removed: [{ uri: `s3://${bucket.name}/model.bin`, size: 4000 }],
    });
    expect(await exists(path.join(home.cache, bucket.name, 'model.bin'))).toBe(false);

    const clear = await cli('cache', 'clear', `s3://${bucket.name}/data/`);
    expect(clear.code).toBe(0);
    expect(clear.stdout).toContain('removed 2 files, 2.9 KiB; the cache holds 0 B');
    expect((await cli('cache', 'ls')).stdout).toContain('0 B in 0 files');

    const bad = await cli('cache', 'prune');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('cache prune needs --max-size or --older-than');
  });

  it('reports an open file as kept', async () => {
    const handle = await new S3Object(uriFor(bucket.name, 'model.bin'), {
      progressMode: 'disabled',
    }).open('r');
    try {
      const out = await cli('cache', 'clear');
      expect(out.code).toBe(0);
      expect(out.stdout).toContain(`kept s3://${bucket.name}/model.bin: open`);
      expect(await exists(path.join(home.cache, bucket.name, 'model.bin'))).toBe(true);
    } finally {
      await handle.close();
    }
  });
});
