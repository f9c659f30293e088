import { mkdtemp, readdir } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';

import { afterEach, expect, it } from 'vitest';

import {
  AccessDeniedError,
  configureLogging,
  NotFoundError,
  resetLogging,
  S3Object,
  S3ObjectError,
} from '../../src/index.js';
import {
  describeS3,
  putObject,
  requires,
  s3,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

describeS3('credentials and errors against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  afterEach(() => {
    resetLogging();
  });

  it('never shows the secret key: toString, inspect, JSON, logs, errors (defect 9)', async () => {
    const key = uniqueKey('secret.txt');
    await putObject(bucket.client, bucket.name, key, 'payload');
    const lines: string[] = [];
    const sink = (m: string) => lines.push(m);
    configureLogging({
      level: 'debug',
      logger: { debug: sink, info: sink, warn: sink, error: sink },
    });
    const dir = await mkdtemp(path.join(tmp.path, 'case-'));
    const obj = new S3Object(uriFor(bucket.name, key), {
      localPath: path.join(dir, 'f'),
      progressMode: 'disabled',
    });
    await obj.download();
    const missing = new S3Object(uriFor(bucket.name, uniqueKey('nope')), {
      localPath: path.join(dir, 'g'),
      progressMode: 'disabled',
    });
    const error = await missing.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);

    const shown = [
      String(obj),
      obj.uri,
      inspect(obj),
      inspect(obj, { showHidden: true, depth: 5 }),
      JSON.stringify(obj),
      String(error),
      (error as Error).stack ?? '',
      inspect(error, { depth: 5 }),
      lines.join('\n'),
    ];
    expect(lines.length).toBeGreaterThan(0);
    for (const text of shown) {
      expect(text).not.toContain(s3.secretAccessKey);
    }
    expect(String(obj)).toContain(`***:${s3.accessKeyId}@`);
  });

  requires('signatures').it(
    'wrong credentials are an AccessDeniedError, not a silent success (defect 7)',
    async () => {
      const key = uniqueKey('guarded.txt');
      await putObject(bucket.client, bucket.name, key, 'payload');
      const dir = await mkdtemp(path.join(tmp.path, 'case-'));
      const wrongSecret = 'this-is-not-the-secret-key-0000000000000';
      const obj = new S3Object(
        `s3://${wrongSecret}:${s3.accessKeyId}@${s3.endpoint}/${bucket.name}/${key}`,
        { localPath: path.join(dir, 'f'), progressMode: 'disabled' },
      );
      const error = await obj.download().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AccessDeniedError);
      expect(String(error)).not.toContain(wrongSecret);
      expect(await readdir(dir)).toEqual([]);

      const unknownKey = new S3Object(
        `s3://${s3.secretAccessKey}:UNKNOWNACCESSKEY0000@${s3.endpoint}/${bucket.name}/${key}`,
        { localPath: path.join(dir, 'g'), progressMode: 'disabled' },
      );
      await expect(unknownKey.download()).rejects.toBeInstanceOf(AccessDeniedError);
    },
  );

  it('a network failure is an S3ObjectError, not "not found" (defect 7)', async () => {
    const dir = await mkdtemp(path.join(tmp.path, 'case-'));
    const obj = new S3Object(`s3://secret:access@http://127.0.0.1:9/${bucket.name}/k`, {
      localPath: path.join(dir, 'f'),
      progressMode: 'disabled',
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    const error = await obj.download().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3ObjectError);
    expect(error).not.toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/HeadObject .* failed after 2 attempts/);
    expect((error as Error).cause).toBeDefined();
  });

  it('a missing bucket is a NotFoundError that says so', async () => {
    const dir = await mkdtemp(path.join(tmp.path, 'case-'));
    const obj = new S3Object(uriFor(`${bucket.name}-absent`, 'k'), {
      localPath: path.join(dir, 'f'),
      progressMode: 'disabled',
    });
    await expect(obj.download()).rejects.toThrow(/bucket .* does not exist/);
  });
});
