/** `S3ObjectManager` against radosgw: batches, the shared concurrency limit, states, events. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';

import { NotFoundError, S3ObjectManager, SyncError, type StateChange } from '../../src/index.js';
import { normalizeEtag } from '../../src/hash.js';
import {
  describeS3,
  headObject,
  interceptSend,
  objectExists,
  putObject,
  requires,
  s3,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
} from './helpers.js';

async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
}

describeS3('S3ObjectManager against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();

  function newManager(concurrency = 4): S3ObjectManager {
    return new S3ObjectManager({
      concurrency,
      progressMode: 'disabled',
      defaults: { hashIndex: path.join(tmp.path, 'index') },
    });
  }

  it('the README example: a batch settles every object and reports the failure', async () => {
    const base = uniqueKey('readme');
    await putObject(bucket.client, bucket.name, `${base}/models/a.bin`, 'model a');
    await putObject(bucket.client, bucket.name, `${base}/models/b/c.bin`, 'model c');
    await putObject(bucket.client, bucket.name, `${base}/config.json`, '{"v":1}');
    const work = path.join(tmp.path, 'readme');
    await writeFiles(path.join(work, 'out'), { 'result.csv': 'x,1\n' });

    const manager = newManager(16);
    manager.add(uriFor(bucket.name, `${base}/models/`), { localPath: path.join(work, 'models') });
    manager.add(uriFor(bucket.name, `${base}/config.json`), {
      id: 'config',
      localPath: path.join(work, 'config.json'),
    });
    manager.add(uriFor(bucket.name, `${base}/uploads/`), {
      id: 'results',
      localPath: path.join(work, 'out'),
      direction: 'upload',
    });
    manager.add(uriFor(bucket.name, `${base}/missing.bin`), {
      id: 'missing',
      localPath: path.join(work, 'missing.bin'),
    });
    const changes: StateChange[] = [];
    manager.on('state', (change) => changes.push(change));
    const report = await manager.syncAll();

    expect(report.succeeded.map((i) => i.id)).toEqual([manager.ids()[0], 'config', 'results']);
    expect(report.failed.map((i) => i.id)).toEqual(['missing']);
    expect(report.failed[0]?.error).toBeInstanceOf(NotFoundError);
    expect(report).toMatchObject({ transferred: 4, deleted: 0, bytes: 7 + 7 + 7 + 4 });
    expect(await readFile(path.join(work, 'models', 'b', 'c.bin'), 'utf8')).toBe('model c');
    expect(await objectExists(bucket.client, bucket.name, `${base}/uploads/result.csv`)).toBe(true);
    // No secret in what the manager shows.
    expect(JSON.stringify(manager.snapshot())).not.toContain(s3.secretAccessKey);
    expect(manager.ids()[0]).toMatch(/^s3:\/\/\*\*\*:/);

    // Every object went queued, transferring, then synced or failed.
    for (const id of manager.ids()) {
      const mine = changes.filter((c) => c.id === id).map((c) => c.state.status);
      expect(mine).toEqual(['queued', 'transferring', id === 'missing' ? 'failed' : 'synced']);
    }
    // The one the README example runs again is skipped as unchanged.
    const again = await manager.syncAll();
    expect(again.skipped.map((i) => i.id)).toEqual([manager.ids()[0], 'config', 'results']);
    expect(again.transferred).toBe(0);
    manager.destroy();
  });

  it('remembers the ETag and time of the last sync of each single object', async () => {
    const key = uniqueKey('etag.txt');
    const local = path.join(tmp.path, 'etag', 'etag.txt');
    await writeFiles(path.dirname(local), { 'etag.txt': 'first version' });
    const manager = newManager();
    manager.add(uriFor(bucket.name, key), { id: 'file', localPath: local, direction: 'upload' });
    // The tree has a directory of its own: two objects of a batch must not share local paths.
    const treeDir = path.join(tmp.path, 'etag-tree');
    await writeFiles(treeDir, { 'a.txt': 'in the tree' });
    manager.add(uriFor(bucket.name, `${key}-tree/`), {
      id: 'tree',
      localPath: treeDir,
      direction: 'upload',
    });
    const before = new Date();
    await manager.syncAll();
    const head = await headObject(bucket.client, bucket.name, key);
    const file = manager.state('file');
    expect(file).toMatchObject({
      status: 'synced',
      direction: 'upload',
      etag: normalizeEtag(head.ETag),
    });
    if (file?.status !== 'synced') throw new Error('not synced');
    expect(file.syncedAt.getTime()).toBeGreaterThanOrEqual(before.getTime());
    // A prefix has no single ETag.
    expect(manager.state('tree')).toMatchObject({ status: 'synced', etag: undefined });

    // Someone else changes it; a download brings it and the state follows.
    await putObject(bucket.client, bucket.name, key, 'second version, longer');
    await manager.downloadAll();
    const changed = await headObject(bucket.client, bucket.name, key);
    expect(manager.state('file')).toMatchObject({
      status: 'synced',
      direction: 'download',
      etag: normalizeEtag(changed.ETag),
    });
    expect(await readFile(local, 'utf8')).toBe('second version, longer');
    manager.destroy();
  });

  it('bounds the files in flight across every object by one limit', async () => {
    const base = uniqueKey('limit');
    const manager = newManager(3);
    for (let o = 0; o < 4; o++) {
      const root = path.join(tmp.path, 'limit', `o${o}`);
      const files: Record<string, string> = {};
      for (let f = 0; f < 6; f++) files[`f${f}.txt`] = `object ${o} file ${f}`;
      await writeFiles(root, files);
      // Each object alone may run 8 files at once.
      manager.add(uriFor(bucket.name, `${base}/o${o}/`), {
        localPath: root,
        direction: 'upload',
        maxConcurrency: 8,
      });
    }
    const sdks = new Set(manager.ids().map((id) => manager.get(id)?.client.sdk));
    expect(sdks.size).toBe(1); // one client for one endpoint and one identity
    const [sdk] = [...sdks];
    if (sdk === undefined) throw new Error('no client');

    // Each PUT waits until 3 are in flight together (the limit), then all proceed: a limit
    // that let more through would show more; one that let fewer through would never open
    // the gate.
    let inFlight = 0;
    let max = 0;
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    interceptSend(sdk, async (command, send) => {
      if (!(command instanceof PutObjectCommand)) return send();
      inFlight++;
      max = Math.max(max, inFlight);
      if (inFlight >= 3) open();
      await gate;
      try {
        return await send();
      } finally {
        inFlight--;
      }
    });
    const report = await manager.uploadAll();
    expect(report.transferred).toBe(24);
    expect(report.failed).toEqual([]);
    expect(max).toBe(3);
    manager.destroy();
  });

  requires('literal-keys').it(
    'reports the files of a tree that failed, with what did succeed',
    async () => {
      const base = uniqueKey('partial');
      await putObject(bucket.client, bucket.name, `${base}/good.txt`, 'good');
      // Stored literally by the server; it would write outside the target, so it is refused.
      await bucket.client.send(
        new PutObjectCommand({ Bucket: bucket.name, Key: `${base}/../evil.txt`, Body: 'evil' }),
      );
      const manager = newManager();
      manager.add(uriFor(bucket.name, `${base}/`), {
        id: 'tree',
        localPath: path.join(tmp.path, 'partial'),
      });
      const report = await manager.downloadAll();
      const [item] = report.failed;
      expect(item?.error).toBeInstanceOf(SyncError);
      expect((item?.error as SyncError).failures.map((f) => f.path)).toEqual(['../evil.txt']);
      expect(item?.result).toMatchObject({ transferred: 1, failed: 1 });
      expect(report.transferred).toBe(1);
      expect(manager.state('tree')).toMatchObject({ status: 'failed', operation: 'download' });
      manager.destroy();
    },
  );

  it('existsAll and deleteAll', async () => {
    const base = uniqueKey('delete');
    await putObject(bucket.client, bucket.name, `${base}/tree/a`, 'a');
    await putObject(bucket.client, bucket.name, `${base}/tree/b/c`, 'c');
    await putObject(bucket.client, bucket.name, `${base}/one.txt`, '1');
    const manager = newManager();
    manager.add(uriFor(bucket.name, `${base}/tree/`), { id: 'tree', localPath: tmp.path });
    manager.add(uriFor(bucket.name, `${base}/one.txt`), { id: 'one', localPath: tmp.path });
    manager.add(uriFor(bucket.name, `${base}/none`), { id: 'none', localPath: tmp.path });
    const exists = await manager.existsAll();
    expect(exists.items.map((i) => [i.id, i.exists])).toEqual([
      ['tree', true],
      ['one', true],
      ['none', false],
    ]);
    const deleted = await manager.deleteAll();
    expect(deleted.items.map((i) => [i.id, i.outcome, i.deleted])).toEqual([
      ['tree', 'succeeded', 2],
      ['one', 'succeeded', 1],
      ['none', 'skipped', 0],
    ]);
    expect(deleted.deleted).toBe(3);
    expect((await manager.existsAll()).items.map((i) => i.exists)).toEqual([false, false, false]);
    expect(manager.snapshot().map((s) => s.state.status)).toEqual(['idle', 'idle', 'idle']);
    manager.destroy();
  });
});
