/**
 * Advisory lock files, so two processes (or two objects of one process) syncing the same
 * local path take turns instead of racing, and two saves of one hash index merge instead
 * of overwriting each other.
 *
 * A lock is a file created with `O_EXCL`, holding the owner's pid, host and start time;
 * while held, its mtime is refreshed every quarter of `staleMs`. A lock is stale, and is
 * broken, when its owner is a dead process on this host, or when nobody refreshed it for
 * `staleMs` (an owner on another host, or a process frozen that long). Breaking goes
 * through a second lock file, so two waiters never both break and recreate it.
 *
 * @packageDocumentation
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { LockTimeoutError } from './exceptions.js';
import { getLogger } from './logging.js';
import { sleep } from './retry.js';

const log = getLogger('lock');

/** A lock unrefreshed for this long is stale (its owner froze, or lives on another host). */
export const DEFAULT_STALE_MS = 60_000;

/** The name s3lync's state files of a local path carry: a hash of its absolute path. */
export function pathDigest(localPath: string): string {
  return createHash('sha256').update(path.resolve(localPath)).digest('hex').slice(0, 32);
}

/** The lock file of local path `localPath` inside `lockDir` (named by a hash of the absolute path). */
export function lockFileFor(lockDir: string, localPath: string): string {
  return path.join(lockDir, `${pathDigest(localPath)}.lock`);
}

/** What a lock file says about its owner. */
export interface LockOwner {
  pid: number;
  host: string;
  /** When it was taken (ms since the epoch). */
  since: number;
  /** A random token, so an owner recognises its own lock. */
  token: string;
}

/** Options of {@link acquireLock}. */
export interface LockOptions {
  /** Give up with a {@link LockTimeoutError} after waiting this long (ms). @default Infinity */
  timeoutMs?: number | undefined;
  /** A lock not refreshed for this long is broken (ms). @default {@link DEFAULT_STALE_MS} */
  staleMs?: number | undefined;
  /** Stops waiting; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal | undefined;
  /** What the lock protects, for messages. @default the lock file's path */
  what?: string | undefined;
}

/** A held lock. */
export interface Lock {
  /** The lock file. */
  readonly file: string;
  /** Whether taking it broke a stale lock: its owner died (or froze) holding it, and may have left debris. */
  readonly recovered: boolean;
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

/**
 * Whether a lock whose file says `owner` and was last refreshed `ageMs` ago is stale, as
 * seen from process `self` on host `selfHost`.
 *
 * Pure, so the rule is testable; `isAlive` reports whether a pid of this host runs.
 */
export function isStale(
  owner: LockOwner | undefined,
  ageMs: number,
  staleMs: number,
  self: { pid: number; host: string; tokens: ReadonlySet<string> },
  isAlive: (pid: number) => boolean,
): boolean {
  if (ageMs > staleMs) return true;
  // A torn or foreign file younger than staleMs may be a lock being written right now.
  if (owner === undefined) return false;
  if (owner.host !== self.host) return false;
  // Our own pid but none of our tokens: a previous life of this pid (a restarted container).
  if (owner.pid === self.pid) return !self.tokens.has(owner.token);
  return !isAlive(owner.pid);
}

/** Whether process `pid` exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (
      typeof o.pid === 'number' &&
      typeof o.host === 'string' &&
      typeof o.since === 'number' &&
      typeof o.token === 'string'
    ) {
      return o as LockOwner;
    }
  } catch {
    // A torn write: judged by its age alone.
  }
  return undefined;
}

/** Tokens of the locks this process holds (or is creating). */
const ownTokens = new Set<string>();
/** In-process queue per lock file: a process waits on itself without polling. */
const queues = new Map<string, Promise<void>>();

/** Lock directories made by this process: made once, not once per lock. */
const madeDirs = new Set<string>();

/** Tries once to create the lock file; false if it exists. */
async function tryCreate(file: string, owner: LockOwner): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await fh.writeFile(JSON.stringify(owner));
  } finally {
    await fh.close();
  }
  return true;
}

/** Reads a lock file: its owner and age, or undefined if it is gone. */
async function inspect(
  file: string,
): Promise<{ owner?: LockOwner; ageMs: number; text: string } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    const owner = parseOwner(text);
    return { ...(owner && { owner }), ageMs: Date.now() - st.mtimeMs, text };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Removes `file` if it still holds `text`, under the breaker lock `file.break` so that two
 * waiters that both judged it stale do not both remove it (the second would remove the
 * first one's fresh lock).
 */
async function breakStale(file: string, text: string, staleMs: number): Promise<boolean> {
  const breaker = `${file}.break`;
  const token = randomBytes(8).toString('hex');
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: Date.now(), token };
  if (!(await tryCreate(breaker, me))) {
    // A breaker that died mid-break leaves its file; it only ever lives for milliseconds.
    const b = await inspect(breaker);
    if (b !== undefined && b.ageMs > Math.min(staleMs, 10_000)) await rm(breaker, { force: true });
    return false;
  }
  try {
    const again = await inspect(file);
    if (again?.text !== text) return false;
    await rm(file, { force: true });
    log.warn(`broke the stale lock ${file} (${describeOwner(again.owner)})`);
    return true;
  } finally {
    await rm(breaker, { force: true });
  }
}

function describeOwner(owner: LockOwner | undefined): string {
  return owner === undefined
    ? 'unreadable owner'
    : `pid ${owner.pid} on ${owner.host} since ${new Date(owner.since).toISOString()}`;
}

/**
 * Whether the lock `file` is held by a live owner, without waiting for it; a stale one is
 * broken (removed) on the way, as a waiter would.
 */
export async function lockIsLive(file: string, staleMs = DEFAULT_STALE_MS): Promise<boolean> {
  const held = await inspect(file);
  if (held === undefined) return false;
  const self = { pid: process.pid, host: os.hostname(), tokens: ownTokens };
  if (!isStale(held.owner, held.ageMs, staleMs, self, processAlive)) return true;
  await breakStale(file, held.text, staleMs);
  return false;
}

async function acquireFile(file: string, options: LockOptions): Promise<Lock> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY;
  const { signal } = options;
  const started = Date.now();
  const token = randomBytes(8).toString('hex');
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: started, token };
  ownTokens.add(token);
  const dir = path.dirname(file);
  if (!madeDirs.has(dir)) {
    await mkdir(dir, { recursive: true });
    madeDirs.add(dir);
  }
  let delay = 10;
  let announced = false;
  let recovered = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      owner.since = Date.now();
      const created = await tryCreate(file, owner).catch(async (error: unknown) => {
        // The cache was cleared since the directory was made: make it again.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await mkdir(dir, { recursive: true });
        return false;
      });
      if (created) break;
      const held = await inspect(file);
      if (held === undefined) continue;
      const self = { pid: process.pid, host: owner.host, tokens: ownTokens };
      if (isStale(held.owner, held.ageMs, staleMs, self, processAlive)) {
        recovered = (await breakStale(file, held.text, staleMs)) || recovered;
        continue;
      }
      const waited = Date.now() - started;
      if (waited >= timeoutMs) {
        throw new LockTimeoutError(
          `${options.what ?? file} is locked by ${describeOwner(held.owner)}; gave up after ${waited} ms (lock file ${file})`,
          { file, owner: held.owner },
        );
      }
      if (!announced) {
        log.info(`waiting for ${options.what ?? file}: locked by ${describeOwner(held.owner)}`);
        announced = true;
      }
      await sleep(Math.min(delay, Math.max(1, timeoutMs - waited)), signal);
      delay = Math.min(delay * 2, 500);
    }
  } catch (error) {
    ownTokens.delete(token);
    throw error;
  }

  const refresh = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, staleMs / 4);
  refresh.unref();
  let released: Promise<void> | undefined;
  return {
    file,
    recovered,
    release(): Promise<void> {
      released ??= (async () => {
        clearInterval(refresh);
        // Remove it only if it is still ours (a frozen owner's lock may have been broken).
        const text = await readFile(file, 'utf8').catch(() => '');
        if (parseOwner(text)?.token === token) await rm(file, { force: true });
        ownTokens.delete(token);
      })();
      return released;
    },
  };
}

/**
 * Takes the lock `file`, waiting while another process (or another caller in this
 * process) holds it, and breaking it if its owner is gone.
 *
 * @throws {LockTimeoutError} when `timeoutMs` passes first.
 */
export async function acquireLock(file: string, options: LockOptions = {}): Promise<Lock> {
  const key = path.resolve(file);
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const turn = new Promise<void>((resolve) => {
    done = resolve;
  });
  const chained = previous.then(() => turn);
  queues.set(key, chained);
  const leave = (): void => {
    done();
    if (queues.get(key) === chained) queues.delete(key);
  };
  try {
    const started = Date.now();
    await waitTurn(previous, options);
    // One timeout for both waits: the callers of this process, then other processes.
    const timeoutMs = (options.timeoutMs ?? Number.POSITIVE_INFINITY) - (Date.now() - started);
    const lock = await acquireFile(key, { ...options, timeoutMs: Math.max(0, timeoutMs) });
    return {
      file: lock.file,
      recovered: lock.recovered,
      release: async () => {
        try {
          await lock.release();
        } finally {
          leave();
        }
      },
    };
  } catch (error) {
    leave();
    throw error;
  }
}

/** Waits for the previous in-process holder, within the same timeout and signal. */
async function waitTurn(previous: Promise<void>, options: LockOptions): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY;
  const waits: Promise<unknown>[] = [previous];
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  if (Number.isFinite(timeoutMs)) {
    waits.push(
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new LockTimeoutError(
              `${options.what ?? 'the lock'} is held by another operation of this process; gave up after ${timeoutMs} ms`,
              {},
            ),
          );
        }, timeoutMs);
      }),
    );
  }
  if (signal !== undefined) {
    waits.push(
      new Promise((_, reject) => {
        onAbort = () => {
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    );
  }
  try {
    await Promise.race(waits);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}
