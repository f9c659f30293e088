/**
 * Crashes and concurrent processes: a child process running s3lync is killed with SIGKILL
 * in the middle of a download, an upload and a hash-index write (a fault proxy holds the
 * transfer open so the kill lands mid-body); two processes sync the same path at once.
 * Afterwards every file holds a complete old or new content, the index loads, and the
 * next sync completes and converges.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { ListMultipartUploadsCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';

import { LockTimeoutError, S3Object, type S3ObjectOptions } from '../../src/index.js';
import { indexFileFor } from '../../src/hash-index.js';
import { lockFileFor } from '../../src/lock.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import {
  describeS3,
  escapeRegExp,
  getObject,
  md5,
  putObject,
  requires,
  s3,
  uniqueKey,
  useBucket,
  useTempDir,
} from './helpers.js';
import { isTempName } from '../../src/utils.js';
import { HashIndex } from '../../src/hash-index.js';

const CHILD = path.resolve(import.meta.dirname, '../support/sync-child.mjs');
const MiB = 1024 * 1024;

interface Outcome {
  ok?: boolean;
  transferred?: number;
  unchanged?: number;
  hashedFiles?: number;
  name?: string;
  message?: string;
  event?: string;
}

interface Child {
  process: ChildProcess;
  lines: Outcome[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runChild(job: unknown, cacheHome: string): Child {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(job)], {
    env: { ...process.env, XDG_CACHE_HOME: cacheHome, S3LYNC_LOG_LEVEL: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const lines: Outcome[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, nl)) as Outcome);
      buffered = buffered.slice(nl + 1);
    }
  });
  child.stderr.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  return { process: child, lines, exited };
}

/** Polls `ready` every 10 ms, for at most `ms`. */
async function until(ready: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const isTemp = (name: string): boolean => isTempName(path.basename(name));

/** Every file under `dir` but s3lync's temp files, relative, with its MD5. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await readdir(dir, { recursive: true })) {
    if (isTemp(rel)) continue;
    const abs = path.join(dir, rel);
    if ((await stat(abs)).isFile()) out[rel] = md5(await readFile(abs));
  }
  return out;
}

/** Children still running, killed after each test whatever happened. */
const running = new Set<ChildProcess>();

describeS3('crashes and concurrent processes', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let proxy: FaultProxy;
  let cacheHome: string;
  let n = 0;

  beforeAll(async () => {
    proxy = await startFaultProxy({ target: s3.endpoint, maxLifetimeMs: 150_000 });
  });
  afterAll(async () => {
    await proxy.close();
  });
  beforeEach(async () => {
    proxy.setRules([]);
    cacheHome = path.join(tmp.path, `cache-${++n}`);
    await mkdir(cacheHome, { recursive: true });
    // In-process objects share the children's cache: the same locks and indexes.
    vi.stubEnv('XDG_CACHE_HOME', cacheHome);
    return () => {
      vi.unstubAllEnvs();
      for (const child of running) child.kill('SIGKILL');
    };
  });

  const uri = (key: string, endpoint = s3.endpoint): string =>
    `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${endpoint}/${bucket.name}/${key}`;
  const keyPath = (key: string): RegExp => new RegExp(`^/${bucket.name}/${escapeRegExp(key)}`);
  const object = (key: string, localPath: string, options: S3ObjectOptions = {}): S3Object =>
    new S3Object(uri(key), { localPath, progressMode: 'disabled', ...options });

  /**
   * Runs a sync of `key` in a child process through the proxy with `rules`, waits until
   * `held` exchanges are held mid-body (and `ready`, if given), then SIGKILLs it.
   */
  async function killMidway(
    key: string,
    direction: 'download' | 'upload',
    options: Record<string, unknown>,
    rules: FaultRule[],
    ready?: () => Promise<boolean>,
  ): Promise<void> {
    proxy.setRules(rules);
    const child = runChild(
      { op: 'sync', uri: uri(key, proxy.endpoint), direction, options },
      cacheHome,
    );
    await until(() => proxy.holding() === rules.length);
    if (ready !== undefined) await until(ready);
    child.process.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
  }

  it('SIGKILL mid-download of one file: the old file stays whole; the next sync converges', async () => {
    const key = uniqueKey('one.bin');
    const local = path.join(tmp.path, `dl-${n}`, 'one.bin');
    const v1 = randomBytes(3 * MiB);
    const v2 = randomBytes(4 * MiB);
    await putObject(bucket.client, bucket.name, key, v1);
    await object(key, local).download();
    await putObject(bucket.client, bucket.name, key, v2);

    // The child has a partial temp file when it is killed.
    await killMidway(
      key,
      'download',
      { localPath: local },
      [
        {
          match: { method: 'GET', path: keyPath(key) },
          fault: { kind: 'hold-response', afterBytes: MiB },
        },
      ],
      async () => (await readdir(path.dirname(local))).some(isTemp),
    );

    expect(md5(await readFile(local))).toBe(md5(v1));
    const result = await object(key, local).sync('download');
    expect(result.transferred).toBe(1);
    expect(md5(await readFile(local))).toBe(md5(v2));
    const again = await object(key, local).sync('download');
    expect(again.transferred).toBe(0);
    expect(again.hashedFiles).toBe(0);
    // The crashed process's temp file is gone too.
    expect((await readdir(path.dirname(local))).filter(isTemp)).toEqual([]);
  });

  it('SIGKILL mid-download of a tree: each file is old or new, never partial; the next sync converges', async () => {
    const prefix = `${uniqueKey('tree')}/`;
    const local = path.join(tmp.path, `tree-${n}`);
    const v1: Record<string, Buffer> = {};
    const v2: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) {
      v1[`f${i}.bin`] = randomBytes(64 * 1024 + i);
      v2[`f${i}.bin`] = randomBytes(96 * 1024 + i);
      await putObject(bucket.client, bucket.name, `${prefix}f${i}.bin`, v1[`f${i}.bin`]!);
    }
    await object(prefix, local).download();
    for (const [name, body] of Object.entries(v2)) {
      await putObject(bucket.client, bucket.name, `${prefix}${name}`, body);
    }

    // Files 3 and 7 hang mid-body; the other ten complete before the kill.
    const hold = (name: string): FaultRule => ({
      match: { method: 'GET', path: keyPath(`${prefix}${name}`) },
      fault: { kind: 'hold-response', afterBytes: 10_000 },
    });
    await killMidway(
      prefix,
      'download',
      { localPath: local, maxConcurrency: 4 },
      [hold('f3.bin'), hold('f7.bin')],
      async () =>
        Object.entries(await contents(local)).filter(([rel, sum]) => sum === md5(v2[rel] ?? ''))
          .length === 10,
    );

    const after = await contents(local);
    for (const [rel, sum] of Object.entries(after)) {
      expect([md5(v1[rel]!), md5(v2[rel]!)]).toContain(sum);
    }
    expect(after['f3.bin']).toBe(md5(v1['f3.bin']!));
    expect(after['f7.bin']).toBe(md5(v1['f7.bin']!));

    const result = await object(prefix, local).sync('download');
    expect(result.transferred).toBe(2);
    const converged = await contents(local);
    expect(converged).toEqual(
      Object.fromEntries(Object.entries(v2).map(([rel, body]) => [rel, md5(body)])),
    );
    expect((await object(prefix, local).sync('download')).transferred).toBe(0);
  });

  requires('content-md5').it(
    'SIGKILL mid-upload (one PUT): the object keeps its old content; the next upload converges',
    async () => {
      const key = uniqueKey('put.bin');
      const local = path.join(tmp.path, `up-${n}`, 'put.bin');
      const v1 = randomBytes(2 * MiB);
      const v2 = randomBytes(3 * MiB);
      await putObject(bucket.client, bucket.name, key, v1);
      await mkdir(path.dirname(local), { recursive: true });
      await writeFile(local, v2);

      await killMidway(key, 'upload', { localPath: local }, [
        {
          match: { method: 'PUT', path: keyPath(key) },
          fault: { kind: 'hold-request', afterBytes: MiB },
        },
      ]);

      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(v1));
      expect(md5(await readFile(local))).toBe(md5(v2));
      const result = await object(key, local).sync('upload');
      expect(result.transferred).toBe(1);
      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(v2));
      expect((await object(key, local).sync('upload')).transferred).toBe(0);
    },
  );

  requires('abort-multipart').it(
    'SIGKILL mid-multipart upload: the object keeps its old content; the next upload converges',
    async () => {
      const key = uniqueKey('mpu.bin');
      const local = path.join(tmp.path, `mpu-${n}`, 'mpu.bin');
      const v1 = randomBytes(MiB);
      const v2 = randomBytes(16 * MiB);
      await putObject(bucket.client, bucket.name, key, v1);
      await mkdir(path.dirname(local), { recursive: true });
      await writeFile(local, v2);
      const options = { localPath: local, multipartThreshold: 5 * MiB, partSize: 5 * MiB };

      // The third part hangs mid-body; the kill lands while it is in flight.
      await killMidway(key, 'upload', options, [
        {
          match: { method: 'PUT', path: keyPath(key), query: /partNumber=3/ },
          fault: { kind: 'hold-request', afterBytes: MiB },
        },
      ]);

      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(v1));
      const orphans = await bucket.client.send(
        new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
      );
      // A killed process cannot abort its upload: its parts stay until a lifecycle rule
      // (AbortIncompleteMultipartUpload) or someone aborts them (radosgw drops them when
      // the next upload of the key completes; AWS does not).
      expect(orphans.Uploads ?? []).toHaveLength(1);
      const result = await object(key, local, options).sync('upload');
      expect(result.transferred).toBe(1);
      expect(md5(await getObject(bucket.client, bucket.name, key))).toBe(md5(v2));
      expect((await object(key, local, options).sync('upload')).transferred).toBe(0);

      const listed = await bucket.client.send(
        new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
      );
      for (const u of listed.Uploads ?? []) {
        await bucket.client.send(
          new AbortMultipartUploadCommand({
            Bucket: bucket.name,
            Key: u.Key,
            UploadId: u.UploadId,
          }),
        );
      }
    },
  );

  it('SIGKILL mid-index-write: the index loads whole, and its stale lock is recovered', async () => {
    const file = path.join(cacheHome, 'index-crash', 'index.jsonl');
    const entries = 50_000;
    const child = runChild({ op: 'index-loop', file, entries }, cacheHome);
    await until(() => child.lines.some((l) => l.event === 'saving'));
    // Kill at a moment inside the save loop: wait for a few saves first.
    await until(async () => (await stat(file).catch(() => undefined)) !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(Math.random() * 200)));
    child.process.kill('SIGKILL');
    await child.exited;

    const index = await HashIndex.load(file);
    // Every save holds all entries plus `round`: a torn file would have fewer.
    expect(index.size).toBe(entries + 1);
    // The dead process may have left its lock and a temp file: the next save recovers.
    index.record('after', {
      size: 1,
      mtimeNs: 1n,
      ctimeNs: 1n,
      ino: 1n,
      md5: '0'.repeat(32),
      hashedAtNs: 9_000_000_000n,
      ownMtime: false,
    });
    await index.save({ prune: false });
    expect((await HashIndex.load(file)).size).toBe(entries + 2);
    const left = await readdir(path.dirname(file));
    expect(left.filter((f) => f.endsWith('.lock'))).toEqual([]);
    expect(left.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('two processes downloading one tree to one path take turns: one transfers, the other finds it done', async () => {
    const prefix = `${uniqueKey('shared')}/`;
    const local = path.join(tmp.path, `shared-${n}`);
    const bodies: Record<string, Buffer> = {};
    for (let i = 0; i < 30; i++) {
      bodies[`d${i % 3}/f${i}.txt`] = randomBytes(8 * 1024 + i);
      await putObject(
        bucket.client,
        bucket.name,
        `${prefix}d${i % 3}/f${i}.txt`,
        bodies[`d${i % 3}/f${i}.txt`]!,
      );
    }
    const job = {
      op: 'sync',
      uri: uri(prefix),
      direction: 'download',
      options: { localPath: local },
    };
    const a = runChild(job, cacheHome);
    const b = runChild(job, cacheHome);
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect([ea.code, eb.code]).toEqual([0, 0]);
    const results = [a.lines.at(-1), b.lines.at(-1)];
    expect(results.map((r) => r?.ok)).toEqual([true, true]);
    // Serialised by the lock: 30 transfers in all, and the second run hashed nothing.
    expect(results.map((r) => r?.transferred).sort()).toEqual([0, 30]);
    expect(results.find((r) => r?.transferred === 0)?.hashedFiles).toBe(0);

    expect(await contents(local)).toEqual(
      Object.fromEntries(Object.entries(bodies).map(([rel, body]) => [rel, md5(body)])),
    );
    const index = await HashIndex.load(
      indexFileFor(path.join(cacheHome, 's3lync', '.index'), local),
    );
    expect(index.size).toBe(30);
    expect(await readdir(path.join(cacheHome, 's3lync', '.locks'))).toEqual([]);
  });

  it('two processes uploading one tree to one prefix: every file goes once, nothing is corrupted', async () => {
    const prefix = `${uniqueKey('shared-up')}/`;
    const local = path.join(tmp.path, `shared-up-${n}`);
    const bodies: Record<string, Buffer> = {};
    for (let i = 0; i < 20; i++) {
      bodies[`f${i}.txt`] = randomBytes(4 * 1024 + i);
      await mkdir(local, { recursive: true });
      await writeFile(path.join(local, `f${i}.txt`), bodies[`f${i}.txt`]!);
    }
    const job = {
      op: 'sync',
      uri: uri(prefix),
      direction: 'upload',
      options: { localPath: local },
    };
    const a = runChild(job, cacheHome);
    const b = runChild(job, cacheHome);
    await Promise.all([a.exited, b.exited]);
    const results = [a.lines.at(-1), b.lines.at(-1)];
    expect(results.map((r) => r?.ok)).toEqual([true, true]);
    expect(results.map((r) => r?.transferred).sort()).toEqual([0, 20]);
    for (const [rel, body] of Object.entries(bodies)) {
      expect(md5(await getObject(bucket.client, bucket.name, `${prefix}${rel}`))).toBe(md5(body));
    }
  });

  it('a lock left by a dead process is broken and the sync runs', async () => {
    const key = uniqueKey('stale.txt');
    const local = path.join(tmp.path, `stale-${n}`, 'stale.txt');
    await putObject(bucket.client, bucket.name, key, 'fresh');
    const lockFile = lockFileFor(path.join(cacheHome, 's3lync', '.locks'), local);
    await mkdir(path.dirname(lockFile), { recursive: true });
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    await writeFile(
      lockFile,
      JSON.stringify({ pid: dead.pid, host: os.hostname(), since: Date.now(), token: 'gone' }),
    );
    await object(key, local, { lockTimeout: 10_000 }).download();
    expect(await readFile(local, 'utf8')).toBe('fresh');
    expect(await readdir(path.dirname(lockFile))).toEqual([]);
  });

  it('a path locked by a live process: LockTimeoutError after lockTimeout, nothing touched', async () => {
    const key = uniqueKey('busy.txt');
    const local = path.join(tmp.path, `busy-${n}`, 'busy.txt');
    await putObject(bucket.client, bucket.name, key, 'remote');
    const lockFile = lockFileFor(path.join(cacheHome, 's3lync', '.locks'), local);
    await mkdir(path.dirname(lockFile), { recursive: true });
    // The test runner's parent process: alive, on this host, not us.
    await writeFile(
      lockFile,
      JSON.stringify({ pid: process.ppid, host: os.hostname(), since: Date.now(), token: 'held' }),
    );
    const error = await object(key, local, { lockTimeout: 200 })
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as Error).message).toContain(local);
    expect((error as Error).message).toContain(`pid ${process.ppid}`);
    await expect(stat(path.dirname(local))).rejects.toThrow(/ENOENT/);
    await rm(lockFile);
  });
});
