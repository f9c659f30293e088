/**
 * Bad input against radosgw: each case fails with a clear typed error and touches nothing,
 * which every test checks on disk (the local tree, the cache) and in the bucket.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { beforeEach, expect, it, vi } from 'vitest';

import {
  AccessDeniedError,
  ConfigError,
  InvalidUriError,
  LocalPathError,
  NotFoundError,
  S3Object,
  S3ObjectError,
  SyncError,
  UnsafePathError,
  type S3ObjectOptions,
} from '../../src/index.js';
import {
  describeS3,
  requires,
  md5,
  putObject,
  s3,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

const CHILD = path.resolve(import.meta.dirname, '../support/sync-child.mjs');
const isRoot = process.getuid?.() === 0;

/**
 * Everything under `dir` (relative path → MD5 or "dir"), to prove nothing changed; the
 * cache (s3lync's own index and locks) is checked apart.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const rel of entries) {
    if (rel === 'cache' || rel.startsWith(`cache${path.sep}`)) continue;
    const abs = path.join(dir, rel);
    const st = await stat(abs);
    out[rel] = st.isDirectory() ? 'dir' : md5(await readFile(abs));
  }
  return out;
}

describeS3('bad input: a typed error, and nothing touched', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let dir: string;
  let cache: string;
  let n = 0;

  beforeEach(async () => {
    dir = path.join(tmp.path, `case-${++n}`);
    cache = path.join(dir, 'cache');
    await mkdir(cache, { recursive: true });
    vi.stubEnv('XDG_CACHE_HOME', cache);
    return () => {
      vi.unstubAllEnvs();
    };
  });

  /** Lock files left in the cache (none may outlive a sync, failed or not). */
  async function locksLeft(): Promise<string[]> {
    return readdir(path.join(cache, 's3lync', '.locks')).catch(() => []);
  }

  /** The bucket's keys, to prove nothing was written there. */
  async function keys(): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await bucket.client.send(
        new ListObjectsV2Command({ Bucket: bucket.name, ContinuationToken: token }),
      );
      out.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token !== undefined);
    return out.sort();
  }

  const object = (key: string, options: S3ObjectOptions = {}): S3Object =>
    new S3Object(uriFor(bucket.name, key), { progressMode: 'disabled', ...options });

  it.each([
    ['another scheme', 'http://bucket/key'],
    ['no bucket', 's3:///key'],
    ['no key', 's3://bucket'],
    ['an empty endpoint', 's3://@bucket/key'],
    ['malformed credentials', 's3://only-one-part@http://127.0.0.1:1/bucket/key'],
    ['a bucket name too short', 's3://ab/key'],
    ['a bucket name with a space', 's3://my bucket/key'],
    ['a bucket name starting with a dash', 's3://-bucket/key'],
    ['a bucket name with "!"', 's3://bucket!/key'],
    ['a key longer than 1,024 UTF-8 bytes', `s3://bucket/${'é'.repeat(513)}`],
    ['a key with a lone surrogate (not UTF-8)', 's3://bucket/a\uD800b'],
  ])('malformed URI (%s): InvalidUriError at construction', async (_, uri) => {
    const before = await keys();
    expect(() => new S3Object(uri, { progressMode: 'disabled' })).toThrow(InvalidUriError);
    expect(await readdir(cache)).toEqual([]);
    expect(await keys()).toEqual(before);
  });

  it('a bucket name the server rejects: a typed S3 error naming the bucket, nothing written', async () => {
    // Valid for s3lync (legacy and Ceph names allow it), refused or unknown to the server.
    const local = path.join(dir, 'f.txt');
    const obj = new S3Object(uriFor('Bad_Bucket', 'key.txt'), {
      localPath: local,
      progressMode: 'disabled',
    });
    const error = await obj.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3ObjectError);
    expect((error as Error).message).toContain('Bad_Bucket');
    expect(await snapshot(dir)).toEqual({});
    expect(await locksLeft()).toEqual([]);
  });

  it('a missing bucket: NotFoundError naming it, both ways; nothing written', async () => {
    const missing = `s3lync-missing-${randomBytes(4).toString('hex')}`;
    const local = path.join(dir, 'f.txt');
    await writeFile(local, 'local');
    const down = new S3Object(uriFor(missing, 'k.txt'), {
      localPath: path.join(dir, 'g.txt'),
      progressMode: 'disabled',
    });
    const error = await down.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain(missing);
    const up = new S3Object(uriFor(missing, 'k.txt'), {
      localPath: local,
      progressMode: 'disabled',
    });
    const upError = await up.upload().catch((e: unknown) => e);
    expect(upError).toBeInstanceOf(NotFoundError);
    expect((upError as Error).message).toContain(missing);
    expect(await readFile(local, 'utf8')).toBe('local');
    await expect(stat(path.join(dir, 'g.txt'))).rejects.toThrow(/ENOENT/);
  });

  /** Downloads and uploads with `uri`'s wrong credentials: AccessDeniedError, nothing written. */
  async function refusedBoth(uri: string, code: RegExp, local: string): Promise<void> {
    for (const op of ['download', 'upload'] as const) {
      const obj = new S3Object(uri, {
        localPath: local,
        progressMode: 'disabled',
        retry: { maxAttempts: 1 },
      });
      const error = await obj[op]().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AccessDeniedError);
      expect((error as S3ObjectError).code).toMatch(code);
    }
    expect(await readFile(local, 'utf8')).toBe('local, different');
    expect(await snapshot(dir)).toEqual({ [path.basename(local)]: md5('local, different') });
    expect(await locksLeft()).toEqual([]);
  }

  it('a wrong access key (InvalidAccessKeyId): AccessDeniedError, nothing written', async () => {
    const key = uniqueKey('creds.txt');
    await putObject(bucket.client, bucket.name, key, 'remote');
    const local = path.join(dir, 'creds.txt');
    await writeFile(local, 'local, different');
    const badAccess = `s3://${s3.secretAccessKey}:NOSUCHACCESSKEY0000@${s3.endpoint}/${bucket.name}/${key}`;
    await refusedBoth(badAccess, /InvalidAccessKeyId|SignatureDoesNotMatch/, local);
  });

  requires('signatures').it(
    'a wrong secret key (SignatureDoesNotMatch): AccessDeniedError, nothing written',
    async () => {
      const key = uniqueKey('creds.txt');
      await putObject(bucket.client, bucket.name, key, 'remote');
      const local = path.join(dir, 'creds.txt');
      await writeFile(local, 'local, different');
      const badSecret = `s3://wrong-secret-key-0000000000000000000:${s3.accessKeyId}@${s3.endpoint}/${bucket.name}/${key}`;
      await refusedBoth(badSecret, /InvalidAccessKeyId|SignatureDoesNotMatch/, local);
    },
  );

  it('download of a prefix onto a local file: LocalPathError, the file untouched', async () => {
    const prefix = `${uniqueKey('tree')}/`;
    await putObject(bucket.client, bucket.name, `${prefix}a.txt`, 'a');
    const local = path.join(dir, 'not-a-dir');
    await writeFile(local, 'a file');
    const error = await object(prefix, { localPath: local })
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPathError);
    expect((error as LocalPathError).path).toBe(local);
    expect(await readFile(local, 'utf8')).toBe('a file');
  });

  it('a tree download where a local file stands where a directory must be: that file fails as LocalPathError, the rest lands', async () => {
    const prefix = `${uniqueKey('blocked')}/`;
    await putObject(bucket.client, bucket.name, `${prefix}ok.txt`, 'ok');
    await putObject(bucket.client, bucket.name, `${prefix}sub/inner.txt`, 'inner');
    const local = path.join(dir, 'tree');
    await mkdir(local);
    // "sub" is a file locally, so sub/inner.txt has nowhere to go.
    await writeFile(path.join(local, 'sub'), 'a file named sub');
    const error = await object(prefix, { localPath: local })
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncError);
    const failures = (error as SyncError).failures;
    expect(failures.map((f) => f.path)).toEqual(['sub/inner.txt']);
    expect(failures[0]?.error).toBeInstanceOf(LocalPathError);
    expect((failures[0]?.error as Error).message).toMatch(/sub/);
    expect(await snapshot(local)).toEqual({ 'ok.txt': md5('ok'), sub: md5('a file named sub') });
  });

  it('download of one object onto a local directory: LocalPathError, the directory untouched', async () => {
    const key = uniqueKey('one.txt');
    await putObject(bucket.client, bucket.name, key, 'remote');
    const local = path.join(dir, 'a-dir');
    await mkdir(local);
    await writeFile(path.join(local, 'inside.txt'), 'kept');
    const before = await snapshot(local);
    const error = await object(key, { localPath: local })
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPathError);
    expect(await snapshot(local)).toEqual(before);
  });

  it('download into a path whose parent is a file: LocalPathError, nothing written', async () => {
    const key = uniqueKey('one.txt');
    await putObject(bucket.client, bucket.name, key, 'remote');
    await writeFile(path.join(dir, 'file'), 'a file');
    const error = await object(key, { localPath: path.join(dir, 'file', 'child.txt') })
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPathError);
    expect(await readFile(path.join(dir, 'file'), 'utf8')).toBe('a file');
  });

  it('upload of a missing local path: LocalPathError, the bucket untouched', async () => {
    const before = await keys();
    const error = await object(uniqueKey('up.txt'), { localPath: path.join(dir, 'missing.txt') })
      .upload()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPathError);
    expect((error as Error).message).toContain('missing.txt');
    expect(await keys()).toEqual(before);
  });

  it('upload of a missing local path is an S3ObjectError too, as in the Python package', async () => {
    // Code ported from Python catches S3ObjectError; the precise class still says why.
    const local = path.join(dir, 'missing.txt');
    const error = await object(uniqueKey('up.txt'), { localPath: local })
      .upload()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3ObjectError);
    expect(error).toBeInstanceOf(LocalPathError);
    expect((error as LocalPathError).path).toBe(local);
    expect((error as S3ObjectError).statusCode).toBeUndefined();
  });

  it('invalid progressMode, maxConcurrency, retry, partSize, lockTimeout: ConfigError naming the option', async () => {
    const cases: [S3ObjectOptions, RegExp][] = [
      [{ progressMode: 'loud' as never }, /progressMode/],
      [{ maxConcurrency: 0 }, /maxConcurrency/],
      [{ maxConcurrency: 2.5 }, /maxConcurrency/],
      [{ retry: { maxAttempts: 0 } }, /maxAttempts/],
      [{ retry: { baseDelayMs: -1 } }, /baseDelayMs/],
      [{ partSize: 1024 }, /partSize/],
      [{ lockTimeout: -1 }, /lockTimeout/],
    ];
    for (const [options, message] of cases) {
      expect(() => object('k.txt', options)).toThrow(ConfigError);
      expect(() => object('k.txt', options)).toThrow(message);
    }
    expect(await readdir(cache)).toEqual([]);
  });

  requires('literal-keys').it(
    'a key with ".." segments: UnsafePathError at construction for the cache path; refused in a tree',
    async () => {
      expect(() => object('a/../../../etc/passwd')).toThrow(UnsafePathError);
      const prefix = `${uniqueKey('dots')}/`;
      await putObject(bucket.client, bucket.name, `${prefix}ok.txt`, 'ok');
      await putObject(bucket.client, bucket.name, `${prefix}x/../../escape.txt`, 'escape');
      const local = path.join(dir, 'tree');
      const error = await object(prefix, { localPath: local })
        .download()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SyncError);
      const failure = (error as SyncError).failures[0];
      expect(failure?.path).toBe('x/../../escape.txt');
      expect(failure?.error).toBeInstanceOf(UnsafePathError);
      expect(await snapshot(dir)).toEqual({
        tree: 'dir',
        'tree/ok.txt': md5('ok'),
      });
    },
  );

  it('permission denied on the local side: LocalPathError, nothing partial, the bucket untouched', async () => {
    const key = uniqueKey('perm.txt');
    await putObject(bucket.client, bucket.name, key, 'remote');
    // A directory nobody but its owner may write, and a file nobody but its owner may read.
    const shut = path.join(dir, 'shut');
    await mkdir(shut);
    await writeFile(path.join(shut, 'old.txt'), 'old');
    await writeFile(path.join(dir, 'secret.txt'), 'unreadable');
    await chmod(path.join(dir, 'secret.txt'), 0o600);
    await chmod(shut, 0o555);
    const before = await keys();

    const jobs: Job[] = [
      {
        uri: uriFor(bucket.name, key),
        direction: 'download',
        localPath: path.join(shut, 'new.txt'),
      },
      {
        uri: uriFor(bucket.name, key),
        direction: 'download',
        localPath: path.join(shut, 'old.txt'),
      },
      {
        uri: uriFor(bucket.name, uniqueKey('up.txt')),
        direction: 'upload',
        localPath: path.join(dir, 'secret.txt'),
      },
    ];
    const results = isRoot ? await asNobody(jobs) : await inProcess(jobs);
    for (const r of results) {
      expect(r).toMatchObject({ ok: false, name: 'LocalPathError' });
      expect(r.message).toMatch(/EACCES|permission denied/i);
    }
    await chmod(shut, 0o755);
    expect((await readdir(shut)).sort()).toEqual(['old.txt']);
    expect(await readFile(path.join(shut, 'old.txt'), 'utf8')).toBe('old');
    expect(await keys()).toEqual(before);
  });

  it('a full disk (a 1 MiB tmpfs): LocalPathError saying so, the old file whole, no temp file', async () => {
    const mount = path.join(dir, 'tiny');
    await mkdir(mount);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
    if (mounted.status !== 0) {
      // Not skipped quietly: without CAP_SYS_ADMIN this scenario cannot run, so it fails
      // and says how to run it (the unit tests inject ENOSPC in-process as well).
      throw new Error(
        `cannot mount a tmpfs (${mounted.stderr.toString().trim()}): run the tests as root, or with CAP_SYS_ADMIN`,
      );
    }
    try {
      const key = uniqueKey('big.bin');
      const big = randomBytes(3 * 1024 * 1024);
      await putObject(bucket.client, bucket.name, key, big);
      const local = path.join(mount, 'big.bin');
      await writeFile(local, 'old content');
      for (const rangeThreshold of [64 * 1024 * 1024, 1024 * 1024]) {
        // One GET streamed to disk, then parallel ranged GETs written at offsets.
        const error = await object(key, { localPath: local, rangeThreshold })
          .download()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LocalPathError);
        expect((error as Error).message).toMatch(/ENOSPC|no space left/i);
        expect(await readFile(local, 'utf8')).toBe('old content');
        expect(await readdir(mount)).toEqual(['big.bin']);
      }
      expect(await locksLeft()).toEqual([]);
    } finally {
      spawnSync('umount', ['-l', mount]);
    }
  });

  interface Job {
    uri: string;
    direction: 'download' | 'upload';
    localPath: string;
  }
  interface Outcome {
    ok: boolean;
    name?: string;
    message?: string;
  }

  /** Root ignores permissions: run each job in a child process as `nobody`. */
  async function asNobody(jobs: Job[]): Promise<Outcome[]> {
    // nobody must reach the test dirs and own a cache.
    for (let p = dir; p !== path.dirname(p) && p.startsWith(os.tmpdir()); p = path.dirname(p)) {
      await chmod(p, 0o755).catch(() => undefined);
    }
    const nobodyCache = path.join(dir, 'nobody-cache');
    await mkdir(nobodyCache, { mode: 0o777 });
    await chmod(nobodyCache, 0o777);
    return Promise.all(
      jobs.map(
        (job) =>
          new Promise<Outcome>((resolve, reject) => {
            const child = spawn(
              process.execPath,
              [
                CHILD,
                JSON.stringify({
                  op: 'sync',
                  uri: job.uri,
                  direction: job.direction,
                  options: { localPath: job.localPath, retry: { maxAttempts: 1 } },
                }),
              ],
              { uid: 65534, gid: 65534, env: { ...process.env, XDG_CACHE_HOME: nobodyCache } },
            );
            let out = '';
            child.stdout.on('data', (c: Buffer) => (out += c.toString()));
            child.stderr.resume();
            child.on('error', reject);
            child.on('exit', () => {
              const last = out.trim().split('\n').at(-1) ?? '{}';
              resolve(JSON.parse(last) as Outcome);
            });
          }),
      ),
    );
  }

  async function inProcess(jobs: Job[]): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (const job of jobs) {
      try {
        await new S3Object(job.uri, {
          localPath: job.localPath,
          progressMode: 'disabled',
        }).sync(job.direction);
        out.push({ ok: true });
      } catch (error) {
        out.push({ ok: false, name: (error as Error).name, message: (error as Error).message });
      }
    }
    return out;
  }
});
