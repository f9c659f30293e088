/**
 * The default cache root as a store: its files scanned with their last use and what
 * protects them, and evicted one by one under the locks a sync of them would hold.
 *
 * Only `<cache>/<bucket>/...` and the pinned versions' copies in
 * `<cache>/.versions/<bucket>/<versionId>/...` are ever scanned or evicted: the state
 * directories (`.index`, `.locks`, `.usage`) and anything outside the root are not cache. Files are
 * removed through {@link LocalRoot}, never through a link.
 *
 * @packageDocumentation
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

import { readEnvConfig, type EnvConfig } from '../config.js';
import { LockTimeoutError } from '../exceptions.js';
import { dropIndexFile, HashIndex, indexFileFor } from '../hash-index.js';
import { LocalRoot } from '../local-root.js';
import { acquireLock, lockFileFor, pathDigest, type Lock } from '../lock.js';
import { getLogger } from '../logging.js';
import { cacheRoot, isTempName } from '../utils.js';
import { CHECKS_DIR, dropChecks } from '../sync/checks.js';
import {
  lastUsedOf,
  selfAndAncestors,
  VERSIONS_DIR,
  type CacheFile,
  type KeepReason,
} from './policy.js';
import {
  forgetUsage,
  liveLeases,
  liveLocks,
  readUsage,
  usageReader,
  type UsageState,
} from './state.js';

const log = getLogger('cache');

/** Where a cache and its state live. */
export interface CachePaths {
  readonly root: string;
  readonly lockDir: string;
  readonly indexDir: string;
}

/** The default cache root of `env` and its state directories. */
export function cachePaths(env: EnvConfig = readEnvConfig()): CachePaths {
  const root = cacheRoot(env);
  return { root, lockDir: path.join(root, '.locks'), indexDir: path.join(root, '.index') };
}

/** A scan: every cached file, and the usage state it was judged with. */
export interface CacheScan {
  readonly files: CacheFile[];
  readonly usage: UsageState;
}

type Found = { path: string; size: number; ctimeMs: number };

/** Regular files under `<root>/<bucket>/` and `<root>/.versions/`, relative, with size and ctime; temp files left out. */
async function walk(root: string): Promise<Found[]> {
  const out: Found[] = [];
  const top = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const dir of top) {
    if ((dir.name.startsWith('.') && dir.name !== VERSIONS_DIR) || !dir.isDirectory()) continue;
    const names = await readdir(path.join(root, dir.name), { recursive: true });
    for (const name of names) {
      const rel = `${dir.name}/${name.split(path.sep).join('/')}`;
      if (isTempName(rel.slice(rel.lastIndexOf('/') + 1))) continue;
      // A pinned copy sits below its bucket and version directories.
      if (dir.name === VERSIONS_DIR && rel.split('/').length < 4) continue;
      const s = await lstat(path.join(root, rel)).catch(() => undefined);
      if (s?.isFile() === true) out.push({ path: rel, size: s.size, ctimeMs: s.ctimeMs });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Scans the cache: each file's size, last use (the usage log's latest record of it or of a
 * directory above it, else its ctime: when it landed, never its atime), dirtiness, and
 * whether a live open handle or sync lock holds it.
 */
export async function scanCache(paths: CachePaths): Promise<CacheScan> {
  const [found, usage, leases, locks] = await Promise.all([
    walk(paths.root),
    readUsage(paths.root),
    liveLeases(paths.root),
    liveLocks(paths.lockDir),
  ]);
  const digests = new Map<string, string>();
  const digestOf = (rel: string): string => {
    let d = digests.get(rel);
    if (d === undefined) {
      d = pathDigest(path.join(paths.root, rel));
      digests.set(rel, d);
    }
    return d;
  };
  const files = found.map((f): CacheFile => {
    let keep: KeepReason | undefined;
    if (leases.size > 0 && leases.has(digestOf(f.path))) keep = 'open';
    else if (locks.size > 0 && selfAndAncestors(f.path).some((p) => locks.has(digestOf(p))))
      keep = 'locked';
    return {
      path: f.path,
      size: f.size,
      lastUsed: lastUsedOf(f.path, usage.used, f.ctimeMs),
      dirty: usage.dirty.has(f.path),
      keep,
    };
  });
  return { files, usage };
}

/** The sync lock of `rel`, taken without waiting; `undefined` when it is held. */
async function tryLock(paths: CachePaths, rel: string): Promise<Lock | undefined> {
  const abs = path.join(paths.root, rel);
  try {
    return await acquireLock(lockFileFor(paths.lockDir, abs), { timeoutMs: 0, what: abs });
  } catch (error) {
    if (error instanceof LockTimeoutError) return undefined;
    throw error;
  }
}

/**
 * The sync locks of the directories above the file being evicted, held from one file to
 * the next while they stay the same (files of one tree go together), so a file costs its
 * own lock only. A directory is let go deepest first, removed first if it was emptied.
 */
class DirectoryLocks {
  readonly #held: { dir: string; lock: Lock; emptied: boolean }[] = [];
  readonly gone = new Set<string>();

  constructor(
    private readonly paths: CachePaths,
    private readonly door: LocalRoot,
  ) {}

  /** Holds exactly `dirs` (outermost first); false when one of them is busy. */
  async holdOnly(dirs: readonly string[]): Promise<boolean> {
    let same = 0;
    while (same < this.#held.length && this.#held[same]?.dir === dirs[same]) same++;
    while (this.#held.length > same) {
      const top = this.#held.pop();
      if (top === undefined) break;
      if (top.emptied && (await this.door.removeEmptyDir(top.dir))) this.gone.add(top.dir);
      await top.lock.release();
    }
    for (const dir of dirs.slice(same)) {
      const lock = await tryLock(this.paths, dir);
      if (lock === undefined) return false;
      this.#held.push({ dir, lock, emptied: false });
    }
    return true;
  }

  /** A file under every held directory was removed. */
  removedOne(): void {
    for (const h of this.#held) h.emptied = true;
  }
}

/** What an eviction did. */
export interface Eviction {
  /** The files removed. */
  readonly removed: CacheFile[];
  /** The files found protected at the moment of removal, and why. */
  readonly kept: { file: CacheFile; reason: KeepReason }[];
}

/**
 * Evicts `victims` one at a time. Each is removed only while this process holds the sync
 * locks of the file and of every directory above it (a busy one is kept, not waited
 * for), when no live lease says it is open, and when the usage log, read after the lease
 * check (a handle records dirtiness before it lets its lease go), does not say it is
 * dirty. Emptied directories go too, then the hash index entries, check records and usage
 * records of what went.
 */
export async function evict(paths: CachePaths, victims: readonly CacheFile[]): Promise<Eviction> {
  const door = new LocalRoot(paths.root);
  const removed: CacheFile[] = [];
  const kept: { file: CacheFile; reason: KeepReason }[] = [];
  const dirs = new DirectoryLocks(paths, door);
  const usage = usageReader(paths.root);
  try {
    for (const file of victims) {
      const lock = (await dirs.holdOnly(selfAndAncestors(file.path).slice(1).reverse()))
        ? await tryLock(paths, file.path)
        : undefined;
      if (lock === undefined) {
        kept.push({ file, reason: 'locked' });
        continue;
      }
      try {
        const reason = await protection(paths, file.path, usage);
        if (reason !== undefined) {
          kept.push({ file, reason });
          continue;
        }
        await door.remove(file.path).catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        });
        removed.push(file);
        dirs.removedOne();
      } finally {
        await lock.release();
      }
    }
  } finally {
    await dirs.holdOnly([]);
  }
  if (removed.length > 0) await forgetState(paths, removed, dirs.gone);
  return { removed, kept };
}

/** Whether `rel` is open (a live lease) or dirty, checked in that order. */
async function protection(
  paths: CachePaths,
  rel: string,
  usage: () => Promise<UsageState>,
): Promise<KeepReason | undefined> {
  const leases = await liveLeases(paths.root);
  if (leases.has(pathDigest(path.join(paths.root, rel)))) return 'open';
  if ((await usage()).dirty.has(rel)) return 'dirty';
  return undefined;
}

/** Prunes the hash indexes, check records, usage records and index files of what was evicted. */
async function forgetState(
  paths: CachePaths,
  removed: readonly CacheFile[],
  goneDirs: ReadonlySet<string>,
): Promise<void> {
  try {
    const existing = new Set(await readdir(paths.indexDir).catch(() => [] as string[]));
    const forgets = new Map<string, string[]>();
    for (const file of removed) {
      for (const dir of selfAndAncestors(file.path).slice(1)) {
        const index = indexFileFor(paths.indexDir, path.join(paths.root, dir));
        if (!existing.has(path.basename(index)) || goneDirs.has(dir)) continue;
        let rels = forgets.get(index);
        if (rels === undefined) forgets.set(index, (rels = []));
        rels.push(file.path.slice(dir.length + 1));
      }
    }
    for (const [file, rels] of forgets) {
      const index = await HashIndex.load(file);
      for (const rel of rels) index.forget(rel);
      await index.save({ prune: false });
    }
    for (const dir of goneDirs) {
      const index = indexFileFor(paths.indexDir, path.join(paths.root, dir));
      if (existing.has(path.basename(index))) await dropIndexFile(index);
    }
    await dropChecks(
      path.join(paths.indexDir, CHECKS_DIR),
      removed.map((f) => path.join(paths.root, ...f.path.split('/'))),
    );
    const gone = new Set(removed.map((f) => f.path));
    await forgetUsage(paths.root, (p) => gone.has(p) || goneDirs.has(p));
  } catch (error) {
    log.warn(`could not prune the cache state: ${(error as Error).message}`);
  }
}
