import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { LockTimeoutError } from '../../src/exceptions.js';
import { acquireLock, isStale, processAlive, type LockOwner } from '../../src/lock.js';
import { configureLogging, resetLogging } from '../../src/logging.js';

let tmp: string;
let n = 0;
const lockPath = (): string => path.join(tmp, `l${n++}`, 'x.lock');

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 's3lync-lock-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
afterEach(() => {
  resetLogging();
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(processAlive(child.pid)).toBe(false);
  return child.pid;
}

const host = os.hostname();
const owner = (o: Partial<LockOwner> = {}): LockOwner => ({
  pid: 4242,
  host,
  since: 0,
  token: 't',
  ...o,
});

describe('isStale (pure)', () => {
  const self = { pid: 100, host, tokens: new Set(['mine']) };
  const alive = (): boolean => true;
  const dead = (): boolean => false;

  it('a live owner on this host holds the lock', () => {
    expect(isStale(owner(), 1_000, 60_000, self, alive)).toBe(false);
  });
  it('a dead owner on this host is stale at once', () => {
    expect(isStale(owner(), 0, 60_000, self, dead)).toBe(true);
  });
  it('an owner on another host holds it until unrefreshed for staleMs', () => {
    const foreign = owner({ host: 'elsewhere' });
    expect(isStale(foreign, 59_000, 60_000, self, dead)).toBe(false);
    expect(isStale(foreign, 61_000, 60_000, self, alive)).toBe(true);
  });
  it('anything unrefreshed for staleMs is stale, even a live owner (frozen)', () => {
    expect(isStale(owner(), 61_000, 60_000, self, alive)).toBe(true);
  });
  it('a torn lock file is judged by its age alone (it may be being written)', () => {
    expect(isStale(undefined, 10, 60_000, self, dead)).toBe(false);
    expect(isStale(undefined, 61_000, 60_000, self, dead)).toBe(true);
  });
  it('our own pid with a token we do not hold is a previous life of this pid', () => {
    expect(isStale(owner({ pid: 100, token: 'old' }), 0, 60_000, self, alive)).toBe(true);
    expect(isStale(owner({ pid: 100, token: 'mine' }), 0, 60_000, self, alive)).toBe(false);
  });
});

describe('acquireLock', () => {
  it('creates the lock file with its owner and removes it on release', async () => {
    const file = lockPath();
    const lock = await acquireLock(file);
    const held = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
    expect(held.pid).toBe(process.pid);
    expect(held.host).toBe(host);
    await lock.release();
    await lock.release();
    expect(await readdir(path.dirname(file))).toEqual([]);
  });

  it('callers of one process take turns', async () => {
    const file = lockPath();
    const order: string[] = [];
    const first = await acquireLock(file);
    const second = acquireLock(file).then((lock) => {
      order.push('second');
      return lock;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('first releases');
    await first.release();
    await (await second).release();
    expect(order).toEqual(['first releases', 'second']);
  });

  it('breaks the lock of a dead process of this host, and says so', async () => {
    const file = lockPath();
    const warnings: string[] = [];
    configureLogging({
      level: 'warn',
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (l) => warnings.push(l),
        error: () => undefined,
      },
    });
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(owner({ pid: deadPid() })));
    const lock = await acquireLock(file, { timeoutMs: 5_000 });
    expect((JSON.parse(await readFile(file, 'utf8')) as LockOwner).pid).toBe(process.pid);
    await lock.release();
    expect(warnings.some((w) => w.includes('broke the stale lock'))).toBe(true);
    expect(await readdir(path.dirname(file))).toEqual([]);
  });

  it('waits for a live holder and fails with LockTimeoutError naming it', async () => {
    const file = lockPath();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(owner({ pid: process.ppid })));
    const error = await acquireLock(file, { timeoutMs: 150, what: '/data/tree' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).message).toMatch(
      new RegExp(`/data/tree is locked by pid ${process.ppid} on `),
    );
    expect((error as LockTimeoutError).owner?.pid).toBe(process.ppid);
    // The holder's lock is untouched.
    expect((JSON.parse(await readFile(file, 'utf8')) as LockOwner).pid).toBe(process.ppid);
  });

  it('a lock nobody refreshed for staleMs is broken even if its pid runs', async () => {
    const file = lockPath();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(owner({ pid: process.ppid })));
    const old = new Date(Date.now() - 10_000);
    await utimes(file, old, old);
    const lock = await acquireLock(file, { staleMs: 5_000, timeoutMs: 2_000 });
    await lock.release();
  });

  it('a torn lock file is left alone while young, broken once old', async () => {
    const file = lockPath();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '{"pid":');
    await expect(acquireLock(file, { timeoutMs: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
    const old = new Date(Date.now() - 120_000);
    await utimes(file, old, old);
    const lock = await acquireLock(file, { timeoutMs: 2_000 });
    await lock.release();
  });

  it('stops waiting when the signal aborts, with its reason', async () => {
    const file = lockPath();
    const first = await acquireLock(file);
    const controller = new AbortController();
    const waiting = acquireLock(file, { signal: controller.signal });
    setTimeout(() => {
      controller.abort(new Error('stop'));
    }, 30);
    await expect(waiting).rejects.toThrow('stop');
    await first.release();
    // The queue is not stuck: the next caller gets it.
    const again = await acquireLock(file, { timeoutMs: 1_000 });
    await again.release();
  });

  it('a holder refreshes the mtime of its lock while it holds it', async () => {
    const file = lockPath();
    const lock = await acquireLock(file, { staleMs: 200 });
    const before = (await stat(file)).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await stat(file)).mtimeMs).toBeGreaterThan(before);
    await lock.release();
  });

  it('release does not remove a lock someone else has taken since', async () => {
    const file = lockPath();
    const lock = await acquireLock(file);
    const theirs = JSON.stringify(owner({ pid: process.ppid, token: 'theirs' }));
    await writeFile(file, theirs);
    await lock.release();
    expect(await readFile(file, 'utf8')).toBe(theirs);
  });

  it('makes the lock directory again if it was removed after a first lock', async () => {
    const file = lockPath();
    await (await acquireLock(file)).release();
    await rm(path.dirname(file), { recursive: true });
    const lock = await acquireLock(file, { timeoutMs: 1_000 });
    expect((JSON.parse(await readFile(file, 'utf8')) as LockOwner).pid).toBe(process.pid);
    await lock.release();
  });

  it('a caller of this process waiting behind another times out with LockTimeoutError', async () => {
    const file = lockPath();
    const first = await acquireLock(file);
    await expect(acquireLock(file, { timeoutMs: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
    await first.release();
    const next = await acquireLock(file, { timeoutMs: 1_000 });
    await next.release();
  });
});
