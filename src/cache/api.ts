/**
 * The cache as users see it: {@link cacheUsage} (`s3lync cache ls`), {@link pruneCache}
 * (`s3lync cache prune`) and {@link clearCache} (`s3lync cache clear`), on the default
 * cache root only.
 *
 * @packageDocumentation
 */
import path from 'node:path';

import { readEnvConfig } from '../config.js';
import { LockTimeoutError } from '../exceptions.js';
import { acquireLock } from '../lock.js';
import { defaultLocalPath, parseS3UriOrBucket } from '../utils.js';
import {
  cacheUriOf,
  chooseVictims,
  groupFiles,
  objectPathOf,
  parseDuration,
  parseSize,
  type CacheFile,
  type KeepReason,
} from './policy.js';
import { STATE_DIR } from './state.js';
import { cachePaths, evict, scanCache, type CachePaths } from './store.js';

/** One cached file. */
export interface CachedFile {
  /** `s3://<bucket>/<key>` (`?versionId=` for a pinned version's copy): the object it is a copy of. */
  uri: string;
  /** Its local path. */
  localPath: string;
  size: number;
  /** When s3lync last downloaded or opened it (or, for a file it has no record of, when it landed). */
  lastUsed: Date;
  /** Whether it holds content never uploaded (a failed `open('w')` upload). */
  dirty: boolean;
}

/** The cached files of one bucket and prefix (or one object). */
export interface CacheEntryUsage {
  /** `s3://<bucket>/<prefix>/` for a tree, `s3://<bucket>/<key>` for one object. */
  uri: string;
  localPath: string;
  /** Bytes. */
  size: number;
  files: number;
  /** The latest use of one of its files. */
  lastUsed: Date;
  /** Its dirty files (content never uploaded): never evicted. */
  dirty: CachedFile[];
}

/** What the cache holds: {@link cacheUsage}. */
export interface CacheUsage {
  /** The cache root. */
  root: string;
  /** Bytes in it. */
  size: number;
  files: number;
  /** The limit from `S3LYNC_CACHE_MAX_SIZE`, if set. */
  maxSize: number | undefined;
  /** Per bucket and prefix, sorted. */
  entries: CacheEntryUsage[];
}

/** Options of {@link pruneCache}. */
export interface PruneCacheOptions {
  /**
   * Evict least recently used files until the cache holds at most this much: bytes, or a
   * string such as `'10G'` or `'500M'` (powers of 1024).
   * @default S3LYNC_CACHE_MAX_SIZE, else no size limit
   */
  maxSize?: number | string;
  /** Evict files last used longer ago than this: ms, or a string such as `'30d'` or `'12h'`. @default no age limit */
  olderThan?: number | string;
  /** Say what would go without removing anything. @default false */
  dryRun?: boolean;
}

/** What {@link pruneCache} or {@link clearCache} removed (or, in a dry run, would remove). */
export interface PruneCacheResult {
  root: string;
  dryRun: boolean;
  /** The files removed, least recently used first. */
  removed: CachedFile[];
  /** Their bytes. */
  freed: number;
  /** Bytes left in the cache. */
  size: number;
  /** Files that had to stay: open, under a live lock, or dirty. */
  kept: (CachedFile & { reason: KeepReason })[];
}

function describe(paths: CachePaths, f: CacheFile): CachedFile {
  return {
    uri: cacheUriOf(f.path, false),
    localPath: path.join(paths.root, ...f.path.split('/')),
    size: f.size,
    lastUsed: new Date(f.lastUsed),
    dirty: f.dirty,
  };
}

/**
 * What the default cache holds, per bucket and prefix: size, file count, last use, and
 * the dirty files (content never uploaded).
 */
export async function cacheUsage(): Promise<CacheUsage> {
  const env = readEnvConfig();
  const paths = cachePaths(env);
  const { files, usage } = await scanCache(paths);
  const dirtyOf = new Map(files.filter((f) => f.dirty).map((f) => [f.path, f]));
  const filePaths = new Set(files.map((f) => f.path));
  const entries = groupFiles(files, new Set(usage.used.keys())).map((g): CacheEntryUsage => {
    const single = g.files === 1 && filePaths.has(g.path);
    return {
      uri: cacheUriOf(g.path, !single),
      localPath: path.join(paths.root, ...g.path.split('/')),
      size: g.size,
      files: g.files,
      lastUsed: new Date(g.lastUsed),
      dirty: g.dirty.flatMap((p) => {
        const f = dirtyOf.get(p);
        return f === undefined ? [] : [describe(paths, f)];
      }),
    };
  });
  let size = 0;
  for (const f of files) size += f.size;
  return { root: paths.root, size, files: files.length, maxSize: env.cacheMaxSize, entries };
}

/** Runs `choose` on a fresh scan and evicts what it picks, one cache-wide eviction at a time. */
async function prune(
  paths: CachePaths,
  choose: (files: CacheFile[]) => CacheFile[],
  options: { dryRun: boolean; waitMs: number; scope?: (f: CacheFile) => boolean },
): Promise<PruneCacheResult | undefined> {
  const lockFile = path.join(paths.root, STATE_DIR, 'evict.lock');
  let lock;
  try {
    lock = await acquireLock(lockFile, { timeoutMs: options.waitMs, what: 'the cache eviction' });
  } catch (error) {
    if (error instanceof LockTimeoutError && Number.isFinite(options.waitMs)) return undefined;
    throw error;
  }
  try {
    const { files } = await scanCache(paths);
    const victims = choose(files);
    const { scope } = options;
    const kept = files.filter(
      (f) => (f.keep !== undefined || f.dirty) && (scope === undefined || scope(f)),
    );
    let total = 0;
    for (const f of files) total += f.size;
    const { removed, kept: busy } = options.dryRun
      ? { removed: victims, kept: [] }
      : await evict(paths, victims);
    let freed = 0;
    for (const f of removed) freed += f.size;
    return {
      root: paths.root,
      dryRun: options.dryRun,
      removed: removed.map((f) => describe(paths, f)),
      freed,
      size: total - freed,
      kept: [
        ...kept.map((f) => ({ ...describe(paths, f), reason: f.keep ?? ('dirty' as const) })),
        ...busy.map(({ file, reason }) => ({ ...describe(paths, file), reason })),
      ],
    };
  } finally {
    await lock.release();
  }
}

/**
 * Evicts from the default cache the files last used longer ago than `olderThan`, then the
 * least recently used ones until it fits `maxSize`. Never removes a file open through
 * `open()`, one under a live lock (a sync in progress), or a dirty one.
 *
 * @throws {ConfigError} for a size or age it cannot read.
 */
export async function pruneCache(options: PruneCacheOptions = {}): Promise<PruneCacheResult> {
  const env = readEnvConfig();
  const maxSize =
    options.maxSize === undefined ? env.cacheMaxSize : parseSize(options.maxSize, '`maxSize`');
  const olderThan =
    options.olderThan === undefined ? undefined : parseDuration(options.olderThan, '`olderThan`');
  const now = Date.now();
  const result = await prune(
    cachePaths(env),
    (files) => chooseVictims(files, { maxSize, olderThan, now }),
    { dryRun: options.dryRun === true, waitMs: Infinity },
  );
  return result as PruneCacheResult;
}

/**
 * Removes from the default cache every file of `uri` (`s3://bucket`, `s3://bucket/prefix/`
 * or one object, the copies of their pinned versions included; `?versionId=` for one
 * pinned copy only), or everything when no URI is given, with their hash index entries,
 * check records and usage records. Open, locked and dirty files stay, and are reported.
 *
 * @throws {InvalidUriError} for a URI it cannot parse.
 */
export async function clearCache(
  uri?: string,
  options: { dryRun?: boolean } = {},
): Promise<PruneCacheResult> {
  const env = readEnvConfig();
  const paths = cachePaths(env);
  let inScope: (f: CacheFile) => boolean = () => true;
  if (uri !== undefined) {
    const parsed = parseS3UriOrBucket(uri);
    const key = parsed.key.replace(/\/+$/, '');
    if (parsed.versionId !== undefined) {
      const local = defaultLocalPath(parsed.bucket, parsed.key, env, parsed.versionId);
      const exact = path.relative(paths.root, local).split(path.sep).join('/');
      inScope = (f) => f.path === exact;
    } else {
      const under = key === '' ? parsed.bucket : `${parsed.bucket}/${key}`;
      // A pinned version's copy is in scope by the object it is a copy of.
      inScope = (f) => {
        const p = objectPathOf(f.path);
        return p === under || p.startsWith(`${under}/`);
      };
    }
  }
  const result = await prune(
    paths,
    (files) => chooseVictims(files.filter(inScope), { maxSize: 0, now: Date.now() }),
    { dryRun: options.dryRun === true, waitMs: Infinity, scope: inScope },
  );
  return result as PruneCacheResult;
}

/**
 * An eviction after a download waits this long for another process's eviction (which is
 * quick), then gives up: the next download evicts again.
 */
const AUTO_EVICT_WAIT_MS = 30_000;

/**
 * Evicts least recently used files until the cache fits `maxSize`, keeping the files of
 * `inUse` (the transfer that just ran). It waits for another process's eviction, whose
 * scan may predate this download, so that the last download leaves the cache within the
 * limit.
 *
 * @internal called after a transfer.
 */
export async function evictToFit(
  paths: CachePaths,
  maxSize: number,
  inUse: string,
): Promise<PruneCacheResult | undefined> {
  return prune(
    paths,
    (files) =>
      chooseVictims(
        files.map((f) =>
          f.keep === undefined && (f.path === inUse || f.path.startsWith(`${inUse}/`))
            ? { ...f, keep: 'in-use' as const }
            : f,
        ),
        { maxSize, now: Date.now() },
      ),
    { dryRun: false, waitMs: AUTO_EVICT_WAIT_MS },
  );
}
