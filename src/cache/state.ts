/**
 * The cache's own state, in `<cache>/.usage/`: when each cached path was last used (by a
 * download or an `open()`), which files hold content never uploaded (dirty), and a lease
 * file per open handle, so that other processes see what is open.
 *
 * The usage log is JSON lines, appended under a lock, each record a write of its own that
 * starts with a newline: a torn append loses only its own line. It is compacted (temp,
 * fsync, rename, under the same lock) when it grows past {@link COMPACT_BYTES}, and
 * rewritten when files are evicted. Records are per sync target (a tree records its root
 * once, not each file), so a no-op sync of 10,000 files appends one line.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { acquireLock, lockIsLive, pathDigest, type Lock } from '../lock.js';

/** The state directory inside a cache root. */
export const STATE_DIR = '.usage';
/** The log is compacted past this size (about 10,000 records). */
export const COMPACT_BYTES = 1 << 20;
/** Waits this long for another process's write of the log; the log is advisory past that. */
const STATE_LOCK_TIMEOUT_MS = 30_000;

/** One line of the usage log. */
export interface UsageRecord {
  /** The path, relative to the cache root, `/`-separated. */
  p: string;
  /** When (ms since the epoch). */
  t: number;
  /** `1`: its content is now dirty (never uploaded); `0`: no longer. */
  d?: 0 | 1;
}

/** The usage log folded: the latest use of each path, and the dirty paths. */
export interface UsageState {
  used: Map<string, number>;
  dirty: Set<string>;
}

/** Folds the log's text in order; lines that do not parse (a torn append) are dropped. */
export function foldUsage(text: string): UsageState {
  const used = new Map<string, number>();
  const dirty = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let r: Partial<UsageRecord>;
    try {
      r = JSON.parse(line) as Partial<UsageRecord>;
    } catch {
      continue;
    }
    if (typeof r.p !== 'string' || typeof r.t !== 'number') continue;
    used.set(r.p, Math.max(used.get(r.p) ?? 0, r.t));
    if (r.d === 1) dirty.add(r.p);
    else if (r.d === 0) dirty.delete(r.p);
  }
  return { used, dirty };
}

/** The state folded back into one record per path. */
export function serializeUsage(state: UsageState): string {
  let out = '';
  for (const [p, t] of state.used) {
    out += `\n${JSON.stringify(state.dirty.has(p) ? { p, t, d: 1 } : { p, t })}`;
  }
  return out;
}

function logFile(cacheRoot: string): string {
  return path.join(cacheRoot, STATE_DIR, 'usage.jsonl');
}

async function withStateLock<T>(cacheRoot: string, fn: () => Promise<T>): Promise<T> {
  const file = logFile(cacheRoot);
  await mkdir(path.dirname(file), { recursive: true });
  const lock: Lock = await acquireLock(`${file}.lock`, {
    timeoutMs: STATE_LOCK_TIMEOUT_MS,
    what: `the cache state ${file}`,
  });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  });
}

/** Reads the usage state of the cache at `cacheRoot` (empty when there is none). */
export async function readUsage(cacheRoot: string): Promise<UsageState> {
  return foldUsage(await readText(logFile(cacheRoot)));
}

/**
 * A reader of the usage state that parses the log again only when it changed (a new size,
 * mtime or inode: appends grow it, compactions replace it), for an eviction that checks
 * each file against the latest state.
 */
export function usageReader(cacheRoot: string): () => Promise<UsageState> {
  const file = logFile(cacheRoot);
  let version: string | undefined;
  let state: UsageState | undefined;
  return async () => {
    const s = await stat(file).catch(() => undefined);
    const now = s === undefined ? 'none' : `${s.ino}:${s.size}:${s.mtimeMs}`;
    // Stat before reading: a change in between is parsed now and read again next time.
    if (state === undefined || now !== version) {
      state = await readUsage(cacheRoot);
      version = now;
    }
    return state;
  };
}

/** Writes `text` as the whole log: temp, fsync, rename. */
async function replaceLog(file: string, text: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(temp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Appends `records` to the log in one write, compacting it when it has grown. */
export async function recordUsage(
  cacheRoot: string,
  records: readonly UsageRecord[],
): Promise<void> {
  if (records.length === 0) return;
  const file = logFile(cacheRoot);
  await withStateLock(cacheRoot, async () => {
    const fh = await open(file, 'a');
    let size: number;
    try {
      await fh.write(records.map((r) => `\n${JSON.stringify(r)}`).join(''));
      ({ size } = await fh.stat());
    } finally {
      await fh.close();
    }
    if (size > COMPACT_BYTES)
      await replaceLog(file, serializeUsage(foldUsage(await readText(file))));
  });
}

/** Rewrites the log without the paths `drop` selects (evicted or cleared files). */
export async function forgetUsage(
  cacheRoot: string,
  drop: (rel: string) => boolean,
): Promise<void> {
  const file = logFile(cacheRoot);
  await withStateLock(cacheRoot, async () => {
    const state = foldUsage(await readText(file));
    let changed = false;
    for (const p of [...state.used.keys()]) {
      if (!drop(p)) continue;
      state.used.delete(p);
      state.dirty.delete(p);
      changed = true;
    }
    if (changed) await replaceLog(file, serializeUsage(state));
  });
}

function leaseDir(cacheRoot: string): string {
  return path.join(cacheRoot, STATE_DIR, 'open');
}

/**
 * Takes a lease on `localPath` for an open handle: a lock file of its own (never waited
 * for), refreshed while held, judged dead like any lock when its process is gone.
 */
export function takeLease(cacheRoot: string, localPath: string): Promise<Lock> {
  const name = `${pathDigest(localPath)}.${randomBytes(6).toString('hex')}.lock`;
  return acquireLock(path.join(leaseDir(cacheRoot), name), { timeoutMs: 0 });
}

/** The path digests with a live lease; dead holders' leases are removed on the way. */
export async function liveLeases(cacheRoot: string): Promise<Set<string>> {
  const dir = leaseDir(cacheRoot);
  const names = await readdir(dir).catch(() => [] as string[]);
  const live = new Set<string>();
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const digest = name.slice(0, name.indexOf('.'));
    if (live.has(digest)) continue;
    if (await lockIsLive(path.join(dir, name))) live.add(digest);
  }
  return live;
}

/** The path digests whose sync lock in `lockDir` is held by a live process. */
export async function liveLocks(lockDir: string): Promise<Set<string>> {
  const names = await readdir(lockDir).catch(() => [] as string[]);
  const live = new Set<string>();
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const digest = name.slice(0, -'.lock'.length);
    if (digest.includes('.')) continue;
    if (await lockIsLive(path.join(lockDir, name))) live.add(digest);
  }
  return live;
}
