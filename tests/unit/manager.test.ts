/**
 * `S3ObjectManager` without a server: option validation, client sharing, and the state
 * machine and reports of batches over a mocked SDK client.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  AccessDeniedError,
  ConfigError,
  S3lyncError,
  S3Object,
  S3ObjectManager,
  type ObjectStatus,
  type ProgressEvent,
  type S3ObjectManagerOptions,
  type StateChange,
  type AddOptions,
  type ManagedObjectDefaults,
} from '../../src/index.js';
import {
  ADD_OPTION_KEYS,
  BATCH_OPTION_KEYS,
  DELETE_ALL_OPTION_KEYS,
  EXISTS_ALL_OPTION_KEYS,
  MANAGED_DEFAULTS_KEYS,
} from '../../src/options.js';
import { objectOptionValues, quotedKeys, shownOption, valuesFor } from './option-values.js';

const sdk = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const s3 = mockClient(sdk);

let dir = '';

beforeEach(async () => {
  s3.reset();
  dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-manager-test-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const md5 = (data: string): string => createHash('md5').update(data).digest('hex');

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

/** Serves `objects` (key → content) for HEAD and GET; other keys are 404. */
function serve(objects: Record<string, string>): void {
  s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects[input.Key];
    if (body === undefined) throw s3Error('NotFound', 404);
    return { ContentLength: body.length, ETag: `"${md5(body)}"`, Metadata: {} };
  });
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects[input.Key];
    if (body === undefined) throw s3Error('NoSuchKey', 404);
    return {
      Body: sdkStreamMixin(Readable.from([Buffer.from(body)])),
      ContentLength: body.length,
      ETag: `"${md5(body)}"`,
      Metadata: {},
    };
  });
  s3.on(ListObjectsV2Command).resolves({ KeyCount: 0, Contents: [] });
}

function manager(options: S3ObjectManagerOptions = {}): S3ObjectManager {
  return new S3ObjectManager({
    progressMode: 'disabled',
    ...options,
    defaults: {
      client: sdk,
      hashIndex: false,
      retry: { maxAttempts: 1 },
      ...options.defaults,
    },
  });
}

/** Records every state change, as `id:status`. */
function record(m: S3ObjectManager): string[] {
  const seen: string[] = [];
  m.on('state', (c: StateChange) => {
    seen.push(`${c.id}:${c.state.status}`);
  });
  return seen;
}

const statuses = (m: S3ObjectManager): Record<string, ObjectStatus> =>
  Object.fromEntries(m.snapshot().map((s) => [s.id, s.state.status]));

describe('S3ObjectManager options', () => {
  it('defaults: concurrency from S3LYNC_MAX_WORKERS or 8, progress bars', () => {
    const m = new S3ObjectManager();
    expect(m.concurrency).toBe(8);
    expect(m.progressMode).toBe('progress');
    expect(new S3ObjectManager({ concurrency: 3 }).concurrency).toBe(3);
  });

  it.each([
    [{ concurrency: 0 }, 'Expected `concurrency` to be an integer >= 1, got 0 (number)'],
    [{ concurrency: 2.5 }, 'Expected `concurrency` to be an integer >= 1, got 2.5 (number)'],
    [{ concurrency: 'many' }, 'Expected `concurrency` to be an integer >= 1, got "many" (string)'],
    [
      { progressMode: 'bars' },
      "Expected `progressMode` to be one of 'progress', 'compact', 'disabled', got \"bars\" (string)",
    ],
    [
      { concurency: 4 },
      'Unknown option `concurency` in the options of S3ObjectManager; expected one of `concurrency`, `progressMode`, `defaults`',
    ],
    [{ defaults: 'x' }, 'Expected the `defaults` to be an object, got "x" (string)'],
    [{ defaults: { localPath: '/tmp/x' } }, 'Unsupported option `localPath` in `defaults`'],
    [{ defaults: { limiter: () => undefined } }, 'Unsupported option `limiter` in `defaults`'],
    [{ defaults: { maxConcurency: 2 } }, 'Unknown option `maxConcurency` in the `defaults`'],
    [
      { defaults: { maxConcurrency: -1 } },
      'Expected `defaults.maxConcurrency` to be an integer >= 1, got -1 (number)',
    ],
    [
      { defaults: { progressMode: 'loud' } },
      "Expected `defaults.progressMode` to be one of 'progress', 'compact', 'disabled', got \"loud\"",
    ],
    [
      { defaults: { retry: { maxAttempts: 0 } } },
      'Expected `retry.maxAttempts` to be an integer >= 1, got 0 (number)',
    ],
    [
      { defaults: { timeouts: { idleMs: -5 } } },
      'Expected `timeouts.idleMs` to be a number of ms from 0 to 2147483647, got -5 (number)',
    ],
  ])('refuses %j at construction, naming the option and the value', (options, message) => {
    expect(() => new S3ObjectManager(options as S3ObjectManagerOptions)).toThrow(ConfigError);
    expect(() => new S3ObjectManager(options as S3ObjectManagerOptions)).toThrow(message);
  });

  it('refuses options that are not an object', () => {
    expect(() => new S3ObjectManager(null as unknown as S3ObjectManagerOptions)).toThrow(
      'Expected the options of S3ObjectManager to be an object, got null (null)',
    );
  });
});

describe('add, get, remove', () => {
  it('names objects by their redacted URI unless given an id, in the order added', () => {
    const m = manager();
    const a = m.add('s3://SECRET:ACCESS@http://h:1/bucket/a.txt', {
      localPath: path.join(dir, 'a'),
    });
    const b = m.add('s3://bucket/b.txt', {
      id: 'b',
      localPath: path.join(dir, 'b'),
      direction: 'upload',
    });
    expect(m.ids()).toEqual(['s3://***:ACCESS@http://h:1/bucket/a.txt', 'b']);
    expect(m.get('b')).toBe(b);
    expect(m.get(a.uri)).toBe(a);
    expect(m.size).toBe(2);
    expect(m.snapshot()).toEqual([
      {
        id: a.uri,
        uri: a.uri,
        localPath: path.join(dir, 'a'),
        direction: 'download',
        state: { status: 'idle' },
      },
      {
        id: 'b',
        uri: 's3://bucket/b.txt',
        localPath: path.join(dir, 'b'),
        direction: 'upload',
        state: { status: 'idle' },
      },
    ]);
    expect(JSON.stringify(m.snapshot())).not.toContain('SECRET');
    expect(m.remove('b')).toBe(true);
    expect(m.remove('b')).toBe(false);
    expect(m.has('b')).toBe(false);
  });

  it('refuses a duplicate id, a bad direction or id, and options for an existing object', () => {
    const m = manager();
    m.add('s3://bucket/a.txt', { localPath: path.join(dir, 'a') });
    expect(() => m.add('s3://bucket/a.txt', { localPath: path.join(dir, 'a2') })).toThrow(
      'An object with id "s3://bucket/a.txt" is already in the manager; pass another `id`',
    );
    expect(() =>
      m.add('s3://bucket/c', { direction: 'sideways' as 'upload', localPath: dir }),
    ).toThrow("Expected `direction` to be 'download' or 'upload', got \"sideways\" (string)");
    expect(() => m.add('s3://bucket/c', { id: '', localPath: dir })).toThrow(
      'Expected `id` to be a non-empty string, got "" (string)',
    );
    const existing = new S3Object('s3://bucket/d', { localPath: dir, client: sdk });
    expect(() => m.add(existing, { localPath: '/elsewhere' })).toThrow(
      'Options `localPath` cannot apply to an existing S3Object; only `id` and `direction` can',
    );
    expect(m.add(existing, { id: 'd', direction: 'upload' })).toBe(existing);
    expect(() => m.add(42 as unknown as string)).toThrow(
      'Expected an s3:// URI or an S3Object, got number',
    );
    expect(() => m.add('s3://bucket/e', { maxConcurrency: 0, localPath: dir })).toThrow(
      ConfigError,
    );
  });

  it('shares one SDK client per endpoint, credentials, region and retry policy', () => {
    const m = new S3ObjectManager({ progressMode: 'disabled' });
    const at = (uri: string, options = {}) =>
      m.add(uri, { localPath: path.join(dir, String(m.size)), ...options }).client.sdk;
    const a = at('s3://S1:A1@http://h:1/bucket/a');
    expect(at('s3://S1:A1@http://h:1/bucket/b')).toBe(a);
    expect(at('s3://S1:A1@http://h:1/other/c/')).toBe(a);
    expect(at('s3://S2:A2@http://h:1/bucket/d')).not.toBe(a);
    expect(at('s3://S1:A1@http://h:2/bucket/e')).not.toBe(a);
    expect(at('s3://S1:A1@http://h:1/bucket/f', { region: 'eu-west-1' })).not.toBe(a);
    expect(at('s3://S1:A1@http://h:1/bucket/g', { retry: { maxAttempts: 5 } })).not.toBe(a);
    const slow = at('s3://S1:A1@http://h:1/bucket/h', { timeouts: { idleMs: 1000 } });
    expect(slow).not.toBe(a);
    expect(at('s3://S1:A1@http://h:1/bucket/i', { timeouts: { idleMs: 1000 } })).toBe(slow);
    // The defaults, spelled out, are the same client.
    expect(at('s3://S1:A1@http://h:1/bucket/j', { timeouts: { idleMs: 60_000 } })).toBe(a);
    m.destroy();
  });
});

describe('batches over a mocked client', () => {
  it('settles every object, reports each, and tracks their states', async () => {
    serve({ 'a.txt': 'alpha', 'b.txt': 'bravo' });
    s3.on(HeadObjectCommand, { Key: 'denied.txt' }).rejects(s3Error('AccessDenied', 403));
    const m = manager({ concurrency: 2 });
    for (const key of ['a.txt', 'denied.txt', 'b.txt']) {
      m.add(`s3://bucket/${key}`, { id: key, localPath: path.join(dir, key) });
    }
    const seen = record(m);
    const report = await m.downloadAll();

    expect(report.operation).toBe('download');
    expect(report.succeeded.map((i) => i.id)).toEqual(['a.txt', 'b.txt']);
    expect(report.skipped).toEqual([]);
    expect(report.failed.map((i) => i.id)).toEqual(['denied.txt']);
    expect(report.failed[0]?.error).toBeInstanceOf(AccessDeniedError);
    expect(report).toMatchObject({ transferred: 2, unchanged: 0, deleted: 0, bytes: 10 });
    expect(report.items.map((i) => i.id)).toEqual(['a.txt', 'denied.txt', 'b.txt']);
    expect(await readFile(path.join(dir, 'b.txt'), 'utf8')).toBe('bravo');

    for (const id of ['a.txt', 'denied.txt', 'b.txt']) {
      const mine = seen.filter((s) => s.startsWith(`${id}:`)).map((s) => s.slice(id.length + 1));
      expect(mine).toEqual(['queued', 'transferring', id === 'denied.txt' ? 'failed' : 'synced']);
    }
    const a = m.state('a.txt');
    expect(a).toMatchObject({ status: 'synced', direction: 'download', etag: md5('alpha') });
    expect(a?.status === 'synced' && a.syncedAt).toBeInstanceOf(Date);
    const denied = m.state('denied.txt');
    expect(denied).toMatchObject({ status: 'failed', operation: 'download' });
    expect(denied?.status === 'failed' && denied.error).toBeInstanceOf(AccessDeniedError);

    // Again: the two good ones are unchanged (skipped), the bad one fails again.
    const again = await m.downloadAll();
    expect(again.skipped.map((i) => i.id)).toEqual(['a.txt', 'b.txt']);
    expect(again).toMatchObject({ transferred: 0, unchanged: 2 });
    expect(statuses(m)).toEqual({ 'a.txt': 'synced', 'denied.txt': 'failed', 'b.txt': 'synced' });
  });

  it('dry runs and existsAll leave states alone', async () => {
    serve({ 'a.txt': 'alpha' });
    const m = manager();
    m.add('s3://bucket/a.txt', { id: 'a', localPath: path.join(dir, 'a') });
    m.add('s3://bucket/missing.txt', { id: 'missing', localPath: path.join(dir, 'm') });
    const seen = record(m);
    const plan = await m.syncAll({ dryRun: true });
    expect(plan.dryRun).toBe(true);
    expect(plan.succeeded.map((i) => i.id)).toEqual(['a']);
    expect(plan.succeeded[0]?.result?.actions).toHaveLength(1);
    expect(plan.failed.map((i) => i.id)).toEqual(['missing']);
    const exists = await m.existsAll();
    expect(exists.items.map((i) => [i.id, i.exists])).toEqual([
      ['a', true],
      ['missing', false],
    ]);
    expect(seen).toEqual([]);
    expect(statuses(m)).toEqual({ a: 'idle', missing: 'idle' });
  });

  it('deleteAll goes back to idle and counts the objects deleted', async () => {
    serve({ 'a.txt': 'alpha' });
    s3.on(DeleteObjectCommand).resolves({});
    const m = manager();
    m.add('s3://bucket/a.txt', { id: 'a', localPath: path.join(dir, 'a') });
    m.add('s3://bucket/gone/', { id: 'gone', localPath: path.join(dir, 'g') });
    const seen = record(m);
    const report = await m.deleteAll();
    expect(report.succeeded.map((i) => [i.id, i.deleted])).toEqual([['a', 1]]);
    expect(report.skipped.map((i) => [i.id, i.deleted])).toEqual([['gone', 0]]);
    expect(report.deleted).toBe(1);
    expect(seen.filter((s) => s.startsWith('a:'))).toEqual([
      'a:queued',
      'a:transferring',
      'a:idle',
    ]);
  });

  it('an abort settles what runs, gives unstarted objects their state back, and rejects', async () => {
    serve({ 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie' });
    const controller = new AbortController();
    s3.on(HeadObjectCommand, { Key: 'a.txt' }).callsFake(() => {
      controller.abort(new Error('stop now'));
      return { ContentLength: 5, ETag: `"${md5('alpha')}"`, Metadata: {} };
    });
    const m = manager({ concurrency: 1 });
    for (const key of ['a.txt', 'b.txt', 'c.txt']) {
      m.add(`s3://bucket/${key}`, { id: key, localPath: path.join(dir, key) });
    }
    const seen = record(m);
    await expect(m.downloadAll({ signal: controller.signal })).rejects.toThrow('stop now');
    expect(statuses(m)).toEqual({ 'a.txt': 'failed', 'b.txt': 'idle', 'c.txt': 'idle' });
    expect(seen.filter((s) => s.startsWith('b.txt:'))).toEqual(['b.txt:queued', 'b.txt:idle']);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
    // An aborted signal refuses to start at all.
    await expect(m.downloadAll({ signal: controller.signal })).rejects.toThrow('stop now');
  });

  it('runs one batch at a time, and keeps a busy object in the manager', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    serve({ 'a.txt': 'alpha' });
    s3.on(HeadObjectCommand, { Key: 'a.txt' }).callsFake(async () => {
      await gate;
      return { ContentLength: 5, ETag: `"${md5('alpha')}"`, Metadata: {} };
    });
    const m = manager();
    m.add('s3://bucket/a.txt', { id: 'a', localPath: path.join(dir, 'a') });
    const running = m.downloadAll();
    await expect(m.uploadAll()).rejects.toThrow(
      'Cannot start upload: a download batch is still running on this manager',
    );
    expect(() => m.remove('a')).toThrow(S3lyncError);
    release();
    expect((await running).succeeded).toHaveLength(1);
    expect(m.remove('a')).toBe(true);
  });

  it("a throwing 'state' listener does not break the batch", async () => {
    serve({ 'a.txt': 'alpha' });
    const m = manager();
    m.add('s3://bucket/a.txt', { id: 'a', localPath: path.join(dir, 'a') });
    m.on('state', () => {
      throw new Error('listener bug');
    });
    const report = await m.downloadAll();
    expect(report.succeeded).toHaveLength(1);
    expect(m.state('a')?.status).toBe('synced');
  });

  it('aggregates progress over the batch', async () => {
    serve({ 'a.txt': 'alpha', 'b.txt': 'bravo!' });
    const m = manager({ concurrency: 1 });
    m.add('s3://bucket/a.txt', { localPath: path.join(dir, 'a') });
    m.add('s3://bucket/b.txt', { localPath: path.join(dir, 'b') });
    const events: ProgressEvent[] = [];
    await m.downloadAll({ onProgress: (e) => events.push(e) });
    const last = events.at(-1);
    expect(last?.overall).toEqual({ bytesLoaded: 11, bytesTotal: 11, filesDone: 2, filesTotal: 2 });
    expect(events.filter((e) => e.done).map((e) => e.key)).toEqual(['a.txt', 'b.txt']);
  });
});

describe('options: every key of the types, nothing else', () => {
  it('accepts in `defaults` every option its type accepts, each reaching the objects', () => {
    const values = objectOptionValues(sdk, path.join(dir, 'unused'));
    for (const key of Object.keys(MANAGED_DEFAULTS_KEYS) as (keyof ManagedObjectDefaults)[]) {
      const m = new S3ObjectManager({ progressMode: 'disabled', defaults: { [key]: values[key] } });
      const obj = m.add('s3://bucket/a', { localPath: path.join(dir, 'a') });
      const shown = shownOption(obj, key);
      if (shown !== undefined) expect(shown.value, key).toEqual(values[key]);
      m.destroy();
    }
    // All at once, among them those the hand-kept list refused.
    const all = valuesFor<ManagedObjectDefaults>(values, MANAGED_DEFAULTS_KEYS);
    expect(all).toMatchObject({ lockTimeout: 1000, rangeThreshold: 1024 * 1024 });
    expect(all).toMatchObject({ checksumAlgorithm: 'SHA256', followSymlinks: true });
    expect(() => {
      new S3ObjectManager({ defaults: all }).destroy();
    }).not.toThrow();
  });

  it('accepts in add() every option its type accepts, each taking effect', () => {
    const values = valuesFor<Required<AddOptions>>(
      { ...objectOptionValues(sdk, path.join(dir, 'a')), id: 'named', direction: 'upload' },
      ADD_OPTION_KEYS,
    );
    for (const key of Object.keys(ADD_OPTION_KEYS) as (keyof AddOptions)[]) {
      const m = new S3ObjectManager({ progressMode: 'disabled' });
      const obj = m.add('s3://bucket/a', { localPath: path.join(dir, 'a'), [key]: values[key] });
      const [entry] = m.snapshot();
      if (key === 'id') expect(entry?.id).toBe('named');
      else if (key === 'direction') expect(entry?.direction).toBe('upload');
      else {
        const shown = shownOption(obj, key);
        if (shown !== undefined) expect(shown.value, key).toEqual(values[key]);
      }
      m.destroy();
    }
    const m = new S3ObjectManager({ progressMode: 'disabled' });
    expect(m.add('s3://bucket/a', values).localPath).toBe(path.join(dir, 'a'));
    m.destroy();
  });

  it('refuses an unknown option in add(), naming it and listing the accepted ones', () => {
    const m = manager();
    expect(() => m.add('s3://bucket/a', { mirorr: true } as AddOptions)).toThrow(ConfigError);
    expect(() => m.add('s3://bucket/a', { mirorr: true } as AddOptions)).toThrow(
      `Unknown option \`mirorr\` in the options of add(); expected one of ${quotedKeys(ADD_OPTION_KEYS)}`,
    );
    const existing = new S3Object('s3://bucket/d', { localPath: dir, client: sdk });
    expect(() => m.add(existing, { ide: 'd' } as AddOptions)).toThrow(
      'Unknown option `ide` in the options of add()',
    );
    expect(() => m.add('s3://bucket/a', { limiter: () => undefined } as AddOptions)).toThrow(
      'Unknown option `limiter` in the options of add()',
    );
    expect(m.size).toBe(0);
  });

  it('refuses unknown options in `defaults`, naming each, and checks them by the objects rules', () => {
    expect(
      () =>
        new S3ObjectManager({
          defaults: { lockTimout: 1, mirorr: true } as ManagedObjectDefaults,
        }),
    ).toThrow(
      `Unknown options \`lockTimout\`, \`mirorr\` in the \`defaults\`; expected one of ${quotedKeys(MANAGED_DEFAULTS_KEYS)}`,
    );
    expect(() => new S3ObjectManager({ defaults: { partSize: 1 } })).toThrow(
      'Expected `defaults.partSize` to be an integer >= 5242880 (5 MiB), got 1 (number)',
    );
    expect(() => new S3ObjectManager({ defaults: { lockTimeout: -1 } })).toThrow(
      'Expected `defaults.lockTimeout` to be a number of ms >= 0, got -1 (number)',
    );
  });

  it.each([
    ['downloadAll', BATCH_OPTION_KEYS],
    ['uploadAll', BATCH_OPTION_KEYS],
    ['syncAll', BATCH_OPTION_KEYS],
    ['deleteAll', DELETE_ALL_OPTION_KEYS],
    ['existsAll', EXISTS_ALL_OPTION_KEYS],
  ] as const)(
    '%s() refuses an unknown option, naming it and the accepted ones, and sends nothing',
    async (method, keys) => {
      serve({ 'a.txt': 'alpha' });
      s3.on(DeleteObjectCommand).resolves({});
      const m = manager();
      m.add('s3://bucket/a.txt', { id: 'a', localPath: path.join(dir, 'a') });
      const seen = record(m);
      const err: unknown = await m[method]({ dryrun: true } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(
        `Unknown option \`dryrun\` in the options of ${method}(); expected one of ${quotedKeys(keys)}`,
      );
      expect(s3.calls()).toHaveLength(0);
      expect(seen).toEqual([]);
      expect(statuses(m)).toEqual({ a: 'idle' });
      // The manager is not left busy.
      await expect(m.existsAll()).resolves.toMatchObject({ operation: 'exists' });
    },
  );

  it('batches refuse the limiter, which the manager owns', async () => {
    const m = manager();
    await expect(m.downloadAll({ limiter: () => undefined } as never)).rejects.toThrow(
      'Unknown option `limiter` in the options of downloadAll()',
    );
    expect(s3.calls()).toHaveLength(0);
  });
});
