/**
 * No hang without an end: a server that stops answering (a proxy in front of radosgw that
 * never answers, or holds a body half-sent) fails each attempt after the idle timeout, is
 * retried, and ends with an S3TimeoutError, leaving no temp file and nothing changed
 * outside the target. A body that keeps moving, however slowly, is not cut; an abort still
 * ends a request that gets no answer at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { expect, it, vi } from 'vitest';

import { S3Object, S3ObjectError, S3TimeoutError, type S3ObjectOptions } from '../../src/index.js';
import type { FaultRule } from '../support/fault-proxy.js';
import {
  describeS3,
  escapeRegExp,
  getObject,
  md5,
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

/** Small timeouts and quick retries: each attempt ends after half a second of silence. */
const QUICK: S3ObjectOptions = {
  timeouts: { idleMs: 500 },
  retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
};

describeS3('timeouts against a server that stops answering, through a proxy', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  const proxied = useProxyPerTest(200);
  let n = 0;

  type Layout = TargetPlaces;

  const layout = (): Promise<Layout> => targetPlaces(path.join(tmp.path, `case-${++n}`));

  async function snapshots(l: Layout, skipTarget = false): Promise<Map<string, string>[]> {
    return [
      await snapshotTree(l.parent, { skip: skipTarget ? ['target'] : [] }),
      await snapshotTree(l.outside),
    ];
  }

  function object(key: string, localPath: string, options: S3ObjectOptions = {}): S3Object {
    const uri = `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${proxied.proxy.endpoint}/${bucket.name}/${key}`;
    return new S3Object(uri, {
      localPath,
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, 'index'),
      ...options,
    });
  }

  const keyPath = (key: string): RegExp => new RegExp(`^/${bucket.name}/${escapeRegExp(key)}$`);

  function rules(...list: FaultRule[]): void {
    proxied.proxy.setRules(list);
  }

  /** Every s3lync temp file under `dir`. */
  async function tempFiles(dir: string): Promise<string[]> {
    return [...(await snapshotTree(dir)).keys()].filter((p) => /s3lync-tmp/.test(p));
  }

  it('fails download() with an S3TimeoutError when GET is never answered, changing nothing', async () => {
    const key = uniqueKey('never.bin');
    await putObject(bucket.client, bucket.name, key, 'the old version');
    const l = await layout();
    await object(key, l.target).download();
    await putObject(bucket.client, bucket.name, key, randomBytes(16 * 1024));
    const before = await snapshots(l);
    rules({ match: { method: 'GET', path: keyPath(key) }, fault: { kind: 'never-answer' } });
    // No signal: only the idle timeout can end it.
    const error = await object(key, l.target, QUICK)
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3TimeoutError);
    expect(error).toBeInstanceOf(S3ObjectError);
    expect((error as S3TimeoutError).operation).toBe('GetObject');
    expect((error as S3TimeoutError).message).toMatch(
      /^GetObject .* failed after 2 attempts \(timed out\): the connection was idle for 500 ms \(the idle timeout, timeouts\.idleMs\)$/,
    );
    expect(proxied.proxy.applied(0)).toBe(2);
    expect(await snapshots(l)).toEqual(before);
    expect(await readFile(l.target, 'utf8')).toBe('the old version');
    expect(await tempFiles(l.parent)).toEqual([]);
    // The client went away from both exchanges.
    await vi.waitFor(() => {
      expect(proxied.proxy.holding()).toBe(0);
    });
  }, 20_000);

  it('fails download() with an S3TimeoutError when a GET body stops half-way', async () => {
    const key = uniqueKey('half.bin');
    await putObject(bucket.client, bucket.name, key, randomBytes(64 * 1024));
    const l = await layout();
    const before = await snapshots(l, true);
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'hold-response', afterBytes: 1000 },
    });
    const error = await object(key, l.target, QUICK)
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3TimeoutError);
    expect((error as S3TimeoutError).message).toMatch(
      /^GetObject .* failed after 2 attempts \(timed out\): the connection was idle for 500 ms/,
    );
    expect(proxied.proxy.applied(0)).toBe(2);
    expect(await snapshots(l, true)).toEqual(before);
    await expect(readFile(l.target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await tempFiles(l.parent)).toEqual([]);
  }, 20_000);

  it('downloads a body dripped one byte at a time: the idle timeout is per gap, not in all', async () => {
    const key = uniqueKey('drip.txt');
    const data = Buffer.from('twenty bytes, slowly');
    await putObject(bucket.client, bucket.name, key, data);
    const l = await layout();
    const before = await snapshots(l, true);
    // 20 bytes 50 ms apart: a second in all, twice the idle timeout.
    rules({
      match: { method: 'GET', path: keyPath(key) },
      fault: { kind: 'drip', intervalMs: 50 },
    });
    await object(key, l.target, QUICK).download();
    expect(proxied.proxy.applied(0)).toBe(1);
    expect(md5(await readFile(l.target))).toBe(md5(data));
    expect(await snapshots(l, true)).toEqual(before);
    expect(await tempFiles(l.parent)).toEqual([]);
  }, 20_000);

  it('rejects with the reason of a signal aborted while GET gets no answer, at the default timeouts', async () => {
    const key = uniqueKey('abort-never.bin');
    await putObject(bucket.client, bucket.name, key, randomBytes(1024));
    const l = await layout();
    await mkdir(l.target, { recursive: true });
    const before = await snapshots(l);
    rules({ match: { method: 'GET', path: keyPath(key) }, fault: { kind: 'never-answer' } });
    const controller = new AbortController();
    const reason = new Error('the user gave up');
    const obj = object(key, path.join(l.target, 'file.bin'));
    const settled = obj.download({ signal: controller.signal }).catch((e: unknown) => e);
    await vi.waitFor(
      () => {
        expect(proxied.proxy.applied(0)).toBe(1);
      },
      { timeout: 10_000 },
    );
    setTimeout(() => {
      controller.abort(reason);
    }, 200);
    expect(await settled).toBe(reason);
    expect(proxied.proxy.applied(0)).toBe(1);
    expect(await snapshots(l)).toEqual(before);
    expect(await tempFiles(l.parent)).toEqual([]);
    await vi.waitFor(() => {
      expect(proxied.proxy.holding()).toBe(0);
    });
  }, 20_000);

  it('fails upload() with an S3TimeoutError when PUT is never answered, keeping the old object', async () => {
    const key = uniqueKey('never-put.txt');
    await putObject(bucket.client, bucket.name, key, 'the good version');
    const l = await layout();
    await writeFile(l.target, 'a new version that never lands');
    const before = await snapshots(l);
    rules({ match: { method: 'PUT', path: keyPath(key) }, fault: { kind: 'never-answer' } });
    const error = await object(key, l.target, QUICK)
      .upload()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3TimeoutError);
    expect((error as S3TimeoutError).operation).toBe('PutObject');
    expect((error as S3TimeoutError).message).toMatch(/^PutObject .* \(timed out\)/);
    expect(proxied.proxy.applied(0)).toBe(2);
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('the good version');
    expect(await snapshots(l)).toEqual(before);
  }, 20_000);

  it('fails download() of a prefix with an S3TimeoutError when LIST is never answered', async () => {
    const prefix = uniqueKey('never-list');
    await putObject(bucket.client, bucket.name, `${prefix}/a.txt`, 'a');
    const l = await layout();
    const before = await snapshots(l, true);
    rules({
      match: { method: 'GET', path: new RegExp(`^/${bucket.name}/?$`), query: /list-type=2/ },
      fault: { kind: 'never-answer' },
    });
    const error = await object(prefix, l.target, QUICK)
      .download()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3TimeoutError);
    expect((error as S3TimeoutError).operation).toBe('ListObjectsV2');
    expect(proxied.proxy.applied(0)).toBeGreaterThanOrEqual(2);
    expect(await snapshots(l, true)).toEqual(before);
    expect(await tempFiles(l.parent)).toEqual([]);
  }, 20_000);
});
