import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi, afterEach } from 'vitest';
import type { TestProject } from 'vitest/node';

import {
  CAPABILITIES,
  exclusionTable,
  parseLacks,
  recordExclusion,
} from '../setup/capabilities.js';
import setup, { type TestS3 } from '../setup/s3-server.js';

function fakeProject(): { project: TestProject; provided: Map<string, unknown> } {
  const provided = new Map<string, unknown>();
  const project = {
    provide: (key: string, value: unknown) => provided.set(key, value),
  } as unknown as TestProject;
  return { project, provided };
}

describe('the test matrix', () => {
  it('prints capability → server → tests excluded, from what the workers recorded', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-matrix-test-'));
    const file = path.join(dir, 'excluded.jsonl');
    expect(exclusionTable(file)).toBeUndefined();
    recordExclusion(file, { capability: 'conditional-writes', server: 's3rver', test: 'b > t2' });
    recordExclusion(file, { capability: 'conditional-writes', server: 's3rver', test: 'a > t1' });
    recordExclusion(file, { capability: 'abort-multipart', server: 's3rver', test: 'c > t3' });
    expect(exclusionTable(file)?.split('\n')).toEqual([
      'Tests excluded because the server lacks a capability they declare (3):',
      'capability → server → tests excluded',
      `abort-multipart (${CAPABILITIES['abort-multipart']}) → s3rver → 1`,
      '    c > t3',
      `conditional-writes (${CAPABILITIES['conditional-writes']}) → s3rver → 2`,
      '    a > t1',
      '    b > t2',
    ]);
    await rm(dir, { recursive: true, force: true });
  });

  it('reads S3LYNC_TEST_LACKS for an external server, refusing unknown names', () => {
    expect(parseLacks('sse-kms, signatures')).toEqual(['sse-kms', 'signatures']);
    expect(parseLacks(undefined)).toEqual([]);
    expect(() => parseLacks('teleport')).toThrow(/unknown capability "teleport"/);
  });
});

describe('the integration tests’ server setup', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('fails under CI=true when radosgw is missing', async () => {
    vi.stubEnv('S3LYNC_TEST_ENDPOINT', '');
    vi.stubEnv('PATH', '/nonexistent');
    vi.stubEnv('CI', 'true');
    const { project } = fakeProject();
    await expect(setup(project)).rejects.toThrow(/CI=true and No S3 server.*apt-get install/s);
  });

  it('skips loudly, saying how to install radosgw, when not in CI', async () => {
    vi.stubEnv('S3LYNC_TEST_ENDPOINT', '');
    vi.stubEnv('PATH', '/nonexistent');
    vi.stubEnv('CI', '');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const { project, provided } = fakeProject();
    const teardown = await setup(project);
    expect((provided.get('s3') as TestS3).available).toBe(false);
    const printed = stderr.mock.calls.map((c) => String(c[0])).join('');
    expect(printed).toMatch(/SKIPPING every integration test/);
    expect(printed).toMatch(/apt-get install -y --no-install-recommends radosgw/);
    await teardown();
  });

  it('runs s3rver in-process with S3LYNC_TEST_SERVER=s3rver, radosgw or not, and stops it', async () => {
    vi.stubEnv('S3LYNC_TEST_ENDPOINT', '');
    vi.stubEnv('S3LYNC_TEST_SERVER', 's3rver');
    vi.stubEnv('PATH', '/nonexistent');
    vi.stubEnv('CI', 'true');
    const { project, provided } = fakeProject();
    const teardown = await setup(project);
    const s3 = provided.get('s3') as TestS3;
    expect(s3).toMatchObject({ available: true, server: 's3rver' });
    expect(s3.lacks).toContain('conditional-writes');
    const sdk = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    await sdk.send(new CreateBucketCommand({ Bucket: 'setup-check' }));
    const { Buckets } = await sdk.send(new ListBucketsCommand({}));
    expect(Buckets?.map((b) => b.Name)).toEqual(['setup-check']);
    sdk.destroy();
    await teardown();
    await expect(fetch(s3.endpoint)).rejects.toThrow();
  });

  it('refuses an unknown S3LYNC_TEST_SERVER', async () => {
    vi.stubEnv('S3LYNC_TEST_ENDPOINT', '');
    vi.stubEnv('S3LYNC_TEST_SERVER', 'minio');
    const { project } = fakeProject();
    await expect(setup(project)).rejects.toThrow(/S3LYNC_TEST_SERVER must be radosgw or s3rver/);
  });

  it('uses S3LYNC_TEST_ENDPOINT when it is set', async () => {
    vi.stubEnv('S3LYNC_TEST_ENDPOINT', 'http://127.0.0.1:9000');
    vi.stubEnv('S3LYNC_TEST_ACCESS_KEY_ID', 'minio');
    vi.stubEnv('S3LYNC_TEST_SECRET_ACCESS_KEY', 'minio-secret');
    const { project, provided } = fakeProject();
    await setup(project);
    expect(provided.get('s3')).toMatchObject({
      available: true,
      endpoint: 'http://127.0.0.1:9000',
      accessKeyId: 'minio',
    });
  });
});
