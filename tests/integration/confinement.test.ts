/**
 * Confinement, against radosgw: a sync writes, renames and deletes only inside its target,
 * never through a symbolic link, and what it leaves alone on purpose (a link out of the
 * root, a FIFO, a key no local file can hold, a key named like a temp file) it reports in
 * `result.skipped` rather than dropping it silently or acting on it. One test (or a few)
 * per finding of the security review, numbered as there.
 *
 * Every test snapshots, recursively and without following links, the target's parent
 * directory and a directory outside it (holding `secret.txt` and what links point to)
 * before and after, and asserts the exact changes: none outside, and in the parent only
 * what the test expects inside the target.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { constants, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it, onTestFinished } from 'vitest';

import {
  LocalPathError,
  S3Object,
  SyncError,
  UnsafePathError,
  type ProgressEvent,
  type S3ObjectOptions,
  type SkippedEntry,
  type SyncResult,
} from '../../src/index.js';
import { HOST_TAG, isTempName, tempFileOwner, tempName } from '../../src/utils.js';
import {
  describeS3,
  getObject,
  interceptSend,
  md5,
  objectExists,
  putObject,
  snapshotTree,
  uniqueKey,
  uriFor,
  useBucket,
  useTempDir,
  listKeys,
} from './helpers.js';

const run = promisify(execFile);
const OPEN_CHILD = path.resolve(import.meta.dirname, '../support/open-child.mjs');

/** A legal name of 75 Japanese characters: 229 bytes of UTF-8, under the 255-byte limit. */
const LONG_NAME = `${'あ'.repeat(75)}.txt`;

/** Where a test runs: `parent/root` is the target; `outside` is elsewhere. */
interface Places {
  parent: string;
  root: string;
  outside: string;
}

/** How a snapshot describes a regular file holding `content`. */
const file = (content: string | Buffer): string =>
  `file ${Buffer.byteLength(content)} ${md5(content)}`;

/**
 * What changed between two snapshots, in path order: "+ path: kind", "- path: kind",
 * "~ path: was => now".
 */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const rel of paths) {
    const was = before.get(rel);
    const now = after.get(rel);
    if (was === undefined) out.push(`+ ${rel}: ${now ?? ''}`);
    else if (now === undefined) out.push(`- ${rel}: ${was}`);
    else if (now !== was) out.push(`~ ${rel}: ${was} => ${now}`);
  }
  return out;
}

/** Snapshots the parent and the outside directory; the function returned tells what changed. */
async function watch(p: Places): Promise<() => Promise<{ parent: string[]; outside: string[] }>> {
  const parent = await snapshotTree(p.parent);
  const outside = await snapshotTree(p.outside);
  expect(outside.size).toBeGreaterThan(0);
  return async () => ({
    parent: changes(parent, await snapshotTree(p.parent)),
    outside: changes(outside, await snapshotTree(p.outside)),
  });
}

/** `skipped` in path order, for comparisons that do not depend on the listing's order. */
const sorted = (skipped: readonly SkippedEntry[] | undefined): SkippedEntry[] =>
  [...(skipped ?? [])].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

const byOp = (r: SyncResult): string[] =>
  r.actions.map((a) => `${a.op}:${a.path}:${a.reason}`).sort();

/**
 * When the test ends, however it ends, opens `fifo` for writing once: a reader stuck
 * opening it (code that blocks on a FIFO) is released, not left holding a pool thread.
 */
function releaseWhenDone(fifo: string): void {
  onTestFinished(async () => {
    const writer = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(
      () => undefined,
    );
    await writer?.close();
  });
}

/** Makes a FIFO at `fifo` (see {@link releaseWhenDone}). */
async function makeFifo(fifo: string): Promise<void> {
  await run('mkfifo', [fifo]);
  releaseWhenDone(fifo);
}

/**
 * Replaces the regular file `file` by a FIFO, at once (synchronously, from a progress
 * callback): what the walk saw as a file is a FIFO by the time the sync opens it.
 */
function swapForFifo(file: string): void {
  unlinkSync(file);
  execFileSync('mkfifo', [file]);
}

/** Polls `ready` every 10 ms, for at most `ms`. */
async function until(ready: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describeS3('confinement to the target against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  let n = 0;

  /** Fresh places: `parent/neighbour.txt` and `outside/secret.txt` exist; `root` does not. */
  async function places(name: string): Promise<Places> {
    const base = path.join(tmp.path, `${name}-${++n}`);
    const p = {
      parent: path.join(base, 'parent'),
      root: path.join(base, 'parent', 'root'),
      outside: path.join(base, 'outside'),
    };
    await mkdir(p.parent, { recursive: true });
    await mkdir(p.outside);
    await writeFile(path.join(p.parent, 'neighbour.txt'), 'next door');
    await writeFile(path.join(p.outside, 'secret.txt'), 'top secret');
    return p;
  }

  function object(key: string, localPath: string, options: S3ObjectOptions = {}): S3Object {
    return new S3Object(uriFor(bucket.name, key), {
      localPath,
      progressMode: 'disabled',
      hashIndex: path.join(tmp.path, 'index'),
      ...options,
    });
  }

  const put = (key: string, body: string | Buffer): Promise<void> =>
    putObject(bucket.client, bucket.name, key, body);

  it('2: a download refuses keys under a symlinked directory of the target; nothing outside is written or deleted', async () => {
    const p = await places('link-dir');
    const prefix = uniqueKey('link-dir');
    await writeFile(path.join(p.outside, 'file.txt'), 'outside content');
    await writeFile(path.join(p.outside, 'local-only.txt'), 'only here');
    await mkdir(p.root);
    await symlink(p.outside, path.join(p.root, 'sub'));
    await put(`${prefix}/sub/file.txt`, 'remote file');
    await put(`${prefix}/sub/new.txt`, 'remote new');
    await put(`${prefix}/ok.txt`, 'ok');
    const check = await watch(p);

    const obj = object(`${prefix}/`, p.root);
    const plan = await obj.download({ dryRun: true, mirror: true });
    const error = await obj.download().catch((e: unknown) => e);
    expect(await check()).toEqual({ parent: [`+ root/ok.txt: ${file('ok')}`], outside: [] });
    expect(error).toBeInstanceOf(SyncError);
    const { failures, result } = error as SyncError;
    expect(failures.map((f) => f.path).sort()).toEqual(['sub/file.txt', 'sub/new.txt']);
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(UnsafePathError);
      expect((f.error as Error).message).toMatch(/symbolic link/);
    }
    expect(result?.skipped).toEqual([
      { side: 'local', path: 'sub', reason: expect.stringMatching(/outside the root/) as string },
    ]);
    expect(plan.skipped).toEqual(result?.skipped);
    // The plan promises what the real run does: the keys under the link are refused there too.
    expect(plan.actions.map((a) => `${a.op} ${a.path}`)).toEqual(['download ok.txt']);
    expect(plan.failed).toBe(2);

    // A mirror sees nothing under the link, so it deletes nothing there (and, with failures,
    // nothing at all).
    const mirrored = (await obj.download({ mirror: true }).catch((e: unknown) => e)) as SyncError;
    expect(await check()).toEqual({ parent: [`+ root/ok.txt: ${file('ok')}`], outside: [] });
    expect(mirrored).toBeInstanceOf(SyncError);
    expect(mirrored.failures.map((f) => f.path).sort()).toEqual(['sub/file.txt', 'sub/new.txt']);
    expect(mirrored.result?.deleted).toBe(0);
  });

  it('2: a download mirror deletes nothing reached through a symlinked directory, even with followSymlinks', async () => {
    const p = await places('link-mirror');
    const prefix = uniqueKey('link-mirror');
    await writeFile(path.join(p.outside, 'file.txt'), 'outside content');
    await writeFile(path.join(p.outside, 'local-only.txt'), 'only here');
    await mkdir(p.root);
    await writeFile(path.join(p.root, 'extra.txt'), 'extra');
    await symlink(p.outside, path.join(p.root, 'sub'));
    await put(`${prefix}/ok.txt`, 'ok');
    const check = await watch(p);

    const obj = object(`${prefix}/`, p.root);
    const plan = await obj.download({ dryRun: true, mirror: true });
    const result = await obj.sync('download', { mirror: true });
    expect(await check()).toEqual({
      parent: [`- root/extra.txt: ${file('extra')}`, `+ root/ok.txt: ${file('ok')}`],
      outside: [],
    });
    expect(byOp(result)).toEqual(['delete:extra.txt:not-in-source', 'download:ok.txt:missing']);
    expect(byOp(plan)).toEqual(byOp(result));
    expect(result.skipped).toEqual([
      { side: 'local', path: 'sub', reason: expect.stringMatching(/outside the root/) as string },
    ]);
    expect(plan.skipped).toEqual(result.skipped);

    // Following the link, the walk sees the outside files as sub/...: a mirror would delete
    // them, and each deletion is refused.
    const followed = (await obj
      .download({ mirror: true, followSymlinks: true })
      .catch((e: unknown) => e)) as SyncError;
    expect(await check()).toEqual({
      parent: [`- root/extra.txt: ${file('extra')}`, `+ root/ok.txt: ${file('ok')}`],
      outside: [],
    });
    expect(followed).toBeInstanceOf(SyncError);
    expect(followed.failures.map((f) => f.path).sort()).toEqual([
      'sub/file.txt',
      'sub/local-only.txt',
      'sub/secret.txt',
    ]);
    for (const f of followed.failures) expect(f.error).toBeInstanceOf(UnsafePathError);
    expect(followed.result?.deleted).toBe(0);
  });

  it('4: keys named like s3lync temp files are neither deleted by an upload mirror nor downloaded; both report them', async () => {
    const p = await places('temp-keys');
    const prefix = uniqueKey('temp-keys');
    const temps = ['.x.123-abc.s3lync-tmp', 'sub/.s3lync-beef-123-abcd1234.tmp'];
    for (const t of temps) await put(`${prefix}/${t}`, 'not ours to delete');
    await put(`${prefix}/gone.txt`, 'extra');
    await mkdir(p.root);
    await writeFile(path.join(p.root, 'keep.txt'), 'keep');
    const check = await watch(p);

    // Without the default excludes, which leave out every dotfile and so these names too.
    const up = object(`${prefix}/`, p.root, { excludes: [] });
    const plan = await up.upload({ dryRun: true, mirror: true });
    const result = await up.sync('upload', { mirror: true });
    for (const t of temps) {
      expect(await objectExists(bucket.client, bucket.name, `${prefix}/${t}`)).toBe(true);
    }
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual(
      [...temps, 'keep.txt'].map((k) => `${prefix}/${k}`).sort(),
    );
    expect(byOp(result)).toEqual(['delete:gone.txt:not-in-source', 'upload:keep.txt:missing']);
    const expected = temps.map((t) => ({
      side: 'remote',
      path: t,
      reason: expect.stringMatching(/temp files/) as string,
    }));
    expect(sorted(result.skipped)).toEqual(expected);
    expect(sorted(plan.skipped)).toEqual(sorted(result.skipped));

    const copy = path.join(p.parent, 'copy');
    const down = await object(`${prefix}/`, copy, { excludes: [] }).sync('download');
    expect(sorted(down.skipped)).toEqual(expected);
    expect(down.transferred).toBe(1);
    expect(await check()).toEqual({
      parent: ['+ copy: dir', `+ copy/keep.txt: ${file('keep')}`],
      outside: [],
    });
  });

  it(
    '7: upload() of a FIFO as a single path fails at once with a LocalPathError',
    { timeout: 10_000 },
    async () => {
      const p = await places('fifo-one');
      const key = uniqueKey('fifo.bin');
      await mkdir(p.root);
      const fifo = path.join(p.root, 'pipe');
      await makeFifo(fifo);
      const check = await watch(p);

      const started = Date.now();
      const error = await object(key, fifo)
        .upload()
        .catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(LocalPathError);
      expect((error as Error).message).toMatch(/FIFO/);
      expect(await objectExists(bucket.client, bucket.name, key)).toBe(false);
      expect(await check()).toEqual({ parent: [], outside: [] });
    },
  );

  it(
    '7: a tree upload sends the other files and reports a FIFO in result.skipped',
    { timeout: 10_000 },
    async () => {
      const p = await places('fifo-tree');
      const prefix = uniqueKey('fifo-tree');
      await mkdir(path.join(p.root, 'b'), { recursive: true });
      await writeFile(path.join(p.root, 'a.txt'), 'a');
      await writeFile(path.join(p.root, 'b', 'c.txt'), 'c');
      await makeFifo(path.join(p.root, 'b', 'pipe'));
      const check = await watch(p);

      const obj = object(`${prefix}/`, p.root);
      const plan = await obj.upload({ dryRun: true });
      const result = await obj.sync('upload');
      expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([
        `${prefix}/a.txt`,
        `${prefix}/b/c.txt`,
      ]);
      expect(result.transferred).toBe(2);
      expect(result.skipped).toEqual([
        { side: 'local', path: 'b/pipe', reason: expect.stringMatching(/FIFO/) as string },
      ]);
      expect(plan.skipped).toEqual(result.skipped);
      expect(await check()).toEqual({ parent: [], outside: [] });
    },
  );

  it(
    '7: an AbortSignal ends a tree upload whose file became a FIFO after the walk',
    { timeout: 10_000 },
    async () => {
      const p = await places('fifo-abort');
      const prefix = uniqueKey('fifo-abort');
      await mkdir(p.root);
      await makeFifo(path.join(p.root, 'a-pipe'));
      const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`);
      for (const name of names) await writeFile(path.join(p.root, name), `file ${name}`);
      const check = await watch(p);

      const obj = object(`${prefix}/`, p.root, { maxConcurrency: 1 });
      // Each PUT takes 50 ms more, so 20 of them one at a time outlast the abort.
      interceptSend(obj.client.sdk, async (command, send) => {
        if (command instanceof PutObjectCommand) await new Promise((r) => setTimeout(r, 50));
        return send();
      });
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      onTestFinished(() => {
        clearTimeout(timer);
      });
      const swapped = path.join(p.root, 'f01.txt');
      releaseWhenDone(swapped);
      let aborted = 0;
      // f00 done: f01, next in line, becomes a FIFO, and the abort comes 100 ms later.
      const onProgress = (event: ProgressEvent): void => {
        if (!event.done || !event.key.endsWith('/f00.txt')) return;
        swapForFifo(swapped);
        timer = setTimeout(() => {
          aborted = Date.now();
          controller.abort(new Error('user cancelled'));
        }, 100);
      };
      await expect(obj.upload({ signal: controller.signal, onProgress })).rejects.toThrow(
        'user cancelled',
      );
      expect(aborted).toBeGreaterThan(0);
      expect(Date.now() - aborted).toBeLessThan(3_000);
      const keys = await listKeys(bucket.client, bucket.name, `${prefix}/`);
      expect(keys[0]).toBe(`${prefix}/f00.txt`);
      expect(keys.length).toBeLessThan(20);
      expect(keys).not.toContain(`${prefix}/a-pipe`);
      expect(keys).not.toContain(`${prefix}/f01.txt`);
      expect(await check()).toEqual({
        parent: [`~ root/f01.txt: ${file('file f01.txt')} => fifo`],
        outside: [],
      });
    },
  );

  it(
    '7: a file that became a FIFO after the walk fails on its own; the others are uploaded',
    { timeout: 10_000 },
    async () => {
      const p = await places('fifo-swap');
      const prefix = uniqueKey('fifo-swap');
      await mkdir(p.root);
      for (const name of ['a.txt', 'b.txt', 'c.txt']) {
        await writeFile(path.join(p.root, name), `file ${name}`);
      }
      const check = await watch(p);

      const swapped = path.join(p.root, 'b.txt');
      releaseWhenDone(swapped);
      const onProgress = (event: ProgressEvent): void => {
        if (event.done && event.key.endsWith('/a.txt')) swapForFifo(swapped);
      };
      const error = await object(`${prefix}/`, p.root, { maxConcurrency: 1 })
        .upload({ onProgress })
        .catch((e: unknown) => e);
      expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([
        `${prefix}/a.txt`,
        `${prefix}/c.txt`,
      ]);
      expect(error).toBeInstanceOf(SyncError);
      const { failures } = error as SyncError;
      expect(failures.map((f) => f.path)).toEqual(['b.txt']);
      expect(failures[0]?.error).toBeInstanceOf(LocalPathError);
      expect((failures[0]?.error as Error).message).toMatch(/FIFO/);
      expect(await check()).toEqual({
        parent: [`~ root/b.txt: ${file('file b.txt')} => fifo`],
        outside: [],
      });
    },
  );

  it('8: a legal 229-byte file name downloads (tree, single object, open) and uploads', async () => {
    expect(Buffer.byteLength(LONG_NAME)).toBe(229);
    const p = await places('long-name');
    const prefix = uniqueKey('long-tree');
    const single = `${uniqueKey('long-single')}/${LONG_NAME}`;
    const upKey = `${uniqueKey('long-up')}/${LONG_NAME}`;
    const upPrefix = uniqueKey('long-up-tree');
    const openKey = `${uniqueKey('long-open')}/${LONG_NAME}`;
    await put(`${prefix}/${LONG_NAME}`, 'long tree');
    await put(`${prefix}/d/${LONG_NAME}`, 'long nested');
    await put(single, 'long single');
    const source = path.join(p.parent, 'up', LONG_NAME);
    await mkdir(path.dirname(source));
    await writeFile(source, 'long upload');
    const check = await watch(p);

    await object(`${prefix}/`, p.root).download();
    await object(single, path.join(p.parent, 'single', LONG_NAME)).download();
    await object(upKey, source).upload();
    await object(`${upPrefix}/`, path.dirname(source)).upload();
    const opened = await object(openKey, path.join(p.parent, 'opened', LONG_NAME)).open('w');
    await opened.write('long open');
    await opened.close();

    expect(await check()).toEqual({
      parent: [
        '+ opened: dir',
        `+ opened/${LONG_NAME}: ${file('long open')}`,
        '+ root: dir',
        '+ root/d: dir',
        `+ root/d/${LONG_NAME}: ${file('long nested')}`,
        `+ root/${LONG_NAME}: ${file('long tree')}`,
        '+ single: dir',
        `+ single/${LONG_NAME}: ${file('long single')}`,
      ],
      outside: [],
    });
    expect((await getObject(bucket.client, bucket.name, upKey)).toString()).toBe('long upload');
    expect(
      (await getObject(bucket.client, bucket.name, `${upPrefix}/${LONG_NAME}`)).toString(),
    ).toBe('long upload');
    expect((await getObject(bucket.client, bucket.name, openKey)).toString()).toBe('long open');
  });

  it('9: a local name that is not UTF-8 fails on its own, shown as bytes; every other file is uploaded', async () => {
    const p = await places('not-utf8');
    const prefix = uniqueKey('not-utf8');
    await mkdir(path.join(p.root, 'sub'), { recursive: true });
    await writeFile(path.join(p.root, 'good.txt'), 'good');
    await writeFile(path.join(p.root, 'sub', 'also-good.txt'), 'also good');
    await writeFile(path.join(p.root, 'z.txt'), 'last');
    const bad = Buffer.concat([
      Buffer.from(`${p.root}/caf`),
      Buffer.from([0xe9]),
      Buffer.from('.txt'),
    ]);
    await writeFile(bad, 'latin-1 name');
    const check = await watch(p);

    const error = await object(`${prefix}/`, p.root)
      .upload()
      .catch((e: unknown) => e);
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([
      `${prefix}/good.txt`,
      `${prefix}/sub/also-good.txt`,
      `${prefix}/z.txt`,
    ]);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/z.txt`)).toString()).toBe(
      'last',
    );
    expect(error).toBeInstanceOf(SyncError);
    const { failures } = error as SyncError;
    expect(failures).toHaveLength(1);
    expect(failures[0]?.path).toBe('caf\\xe9.txt');
    expect((failures[0]?.error as Error).message).toContain('caf\\xe9.txt');
    expect(await check()).toEqual({ parent: [], outside: [] });
  });

  it('10: a "d/" object holding bytes is reported, never silently dropped, and an upload mirror keeps it', async () => {
    const p = await places('dir-object');
    const prefix = uniqueKey('dir-object');
    await put(`${prefix}/d/`, 'bytes');
    await put(`${prefix}/d/x.txt`, 'x');
    // An empty marker is a directory, nothing to report.
    await put(`${prefix}/e/`, Buffer.alloc(0));
    const check = await watch(p);

    const obj = object(`${prefix}/`, p.root);
    const plan = await obj.download({ dryRun: true });
    const result = await obj.sync('download');
    const expected = [
      { side: 'remote', path: 'd/', reason: expect.stringMatching(/holds 5 bytes/) as string },
    ];
    expect(result.skipped).toEqual(expected);
    expect(plan.skipped).toEqual(expected);
    expect(result.transferred).toBe(1);
    expect(await readFile(path.join(p.root, 'd', 'x.txt'), 'utf8')).toBe('x');

    const up = await obj.sync('upload', { mirror: true });
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/d/`)).toBe(true);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/d/`)).toString()).toBe('bytes');
    expect(up.deleted).toBe(0);
    expect(up.skipped).toEqual(expected);
    expect(await check()).toEqual({
      parent: ['+ root: dir', '+ root/d: dir', `+ root/d/x.txt: ${file('x')}`],
      outside: [],
    });
  });

  it("11: open('w') killed mid-write leaves its temp file; the next open('w') beside it removes it", async () => {
    const p = await places('open-crash');
    const key = uniqueKey('open.txt');
    await mkdir(p.root);
    const local = path.join(p.root, 'obj.txt');
    // A temp file of a live process (this one) and one of another host: both must stay.
    const live = tempName('cafe0001');
    const foreign = tempName('cafe0002', 1, HOST_TAG === 'beef' ? 'f00d' : 'beef');
    await writeFile(path.join(p.root, live), 'live writer');
    await writeFile(path.join(p.root, foreign), 'other host');
    const check = await watch(p);

    const child = spawn(process.execPath, [OPEN_CHILD, uriFor(bucket.name, key), local], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => {
      child.on('exit', (_code, signal) => {
        resolve(signal);
      });
    });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const theirs = async (): Promise<string[]> =>
      (await readdir(p.root)).filter((f) => isTempName(f) && f !== live && f !== foreign);
    await until(() => {
      if (child.exitCode !== null) throw new Error(`the child exited: ${stdout}${stderr}`);
      return stdout.includes('ready\n');
    });
    await until(async () => (await theirs()).length === 1);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const [orphan = ''] = await theirs();
    expect(tempFileOwner(orphan)?.pid).toBe(child.pid);
    expect(await readFile(path.join(p.root, orphan), 'utf8')).toBe(
      'partial bytes of a writer that was killed',
    );

    const f = await object(key, local).open('w');
    await f.write('new bytes');
    await f.close();
    expect(await theirs()).toEqual([]);
    expect((await readdir(p.root)).sort()).toEqual([live, foreign, 'obj.txt'].sort());
    expect((await getObject(bucket.client, bucket.name, key)).toString()).toBe('new bytes');
    expect(await check()).toEqual({
      parent: [`+ root/obj.txt: ${file('new bytes')}`],
      outside: [],
    });
  });

  it('12: a link to a file outside the root is skipped and reported, unless followSymlinks; links inside are uploaded', async () => {
    const p = await places('link-out');
    const prefix = uniqueKey('link-out');
    const followPrefix = uniqueKey('link-out-follow');
    await mkdir(p.root);
    await writeFile(path.join(p.root, 'a.txt'), 'a');
    await symlink(
      path.relative(p.root, path.join(p.outside, 'secret.txt')),
      path.join(p.root, 'leak'),
    );
    await symlink('a.txt', path.join(p.root, 'inner'));
    const check = await watch(p);

    const obj = object(`${prefix}/`, p.root);
    const plan = await obj.upload({ dryRun: true });
    const result = await obj.sync('upload');
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/leak`)).toBe(false);
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([
      `${prefix}/a.txt`,
      `${prefix}/inner`,
    ]);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/inner`)).toString()).toBe('a');
    expect(result.skipped).toEqual([
      { side: 'local', path: 'leak', reason: expect.stringMatching(/outside the root/) as string },
    ]);
    expect(plan.skipped).toEqual(result.skipped);

    // Asked to, it follows the link as `aws s3 sync` does: on the object, or for one call.
    const followed = await object(`${followPrefix}/`, p.root, { followSymlinks: true }).sync(
      'upload',
    );
    expect(followed.skipped).toEqual([]);
    expect((await getObject(bucket.client, bucket.name, `${followPrefix}/leak`)).toString()).toBe(
      'top secret',
    );
    await obj.upload({ followSymlinks: true });
    expect((await getObject(bucket.client, bucket.name, `${prefix}/leak`)).toString()).toBe(
      'top secret',
    );
    expect(await check()).toEqual({ parent: [], outside: [] });
  });
});
