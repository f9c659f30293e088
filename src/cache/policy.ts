/**
 * The cache's pure rules: sizes and ages as people write them, when a cached file was
 * last used, which files go first when the cache is over its limit, and how files group
 * for `s3lync cache ls`. No I/O, so each rule is tested on plain data.
 *
 * @packageDocumentation
 */
import { ConfigError } from '../exceptions.js';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
};

/**
 * Parses a size: a number of bytes, or a number with a unit `K`, `M`, `G`, `T`, `P`
 * (powers of 1024, as rclone reads them; `KB`, `KiB`, `k` mean the same), e.g. `10G`,
 * `1.5GiB`, `500M`, `0`.
 *
 * @throws {ConfigError} naming `source` for anything else.
 */
export function parseSize(value: string | number, source: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(value);
    const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
    if (m !== null && unit !== undefined) {
      const bytes = Math.floor(Number(m[1]) * unit);
      if (Number.isSafeInteger(bytes)) return bytes;
    }
  }
  throw new ConfigError(
    `Expected ${source} to be a size such as 10G, 500M or a number of bytes, got ${JSON.stringify(value)}`,
  );
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parses an age: a number of ms, or a number with a unit `ms`, `s`, `m` (minutes), `h`,
 * `d`, `w`, e.g. `30d`, `12h`, `90s`.
 *
 * @throws {ConfigError} naming `source` for anything else.
 */
export function parseDuration(value: string | number, source: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|[smhdw]?)\s*$/i.exec(value);
    const unit = m === null ? undefined : DURATION_UNITS[(m[2] ?? '').toLowerCase() || 'ms'];
    if (m !== null && unit !== undefined) return Number(m[1]) * unit;
  }
  throw new ConfigError(
    `Expected ${source} to be an age such as 30d, 12h, 15m or a number of ms, got ${JSON.stringify(value)}`,
  );
}

/** The directory of pinned-version copies: `<cache>/.versions/<bucket>/<versionId>/<key>`. */
export const VERSIONS_DIR = '.versions';

/** How many leading segments of `rel` name where its keys start: `<bucket>`, or `.versions/<bucket>/<versionId>`. */
function baseDepth(rel: string): number {
  return rel.startsWith(`${VERSIONS_DIR}/`) ? 3 : 1;
}

/**
 * The `<bucket>/<key>` a cached path is a copy of (a pinned copy's version segment
 * dropped), so a bucket or prefix covers its pinned copies too.
 */
export function objectPathOf(rel: string): string {
  if (baseDepth(rel) === 1) return rel;
  const parts = rel.split('/');
  return [parts[1] ?? '', ...parts.slice(3)].join('/');
}

/**
 * The URI of a cached path: `s3://<bucket>/<key>`, with `?versionId=` for a pinned copy
 * (its directory name: the version ID, or its digest when the ID is not a safe name).
 * `prefix` marks a group of files, shown with a trailing `/`.
 */
export function cacheUriOf(rel: string, prefix: boolean): string {
  const parts = rel.split('/');
  const depth = baseDepth(rel);
  const bucket = parts[depth === 1 ? 0 : 1] ?? '';
  const key = parts.slice(depth).join('/');
  const version = depth === 1 ? '' : `?versionId=${encodeURIComponent(parts[2] ?? '')}`;
  return `s3://${bucket}/${key}${prefix && key !== '' ? '/' : ''}${version}`;
}

/** Why a cached file must stay. */
export type KeepReason = 'open' | 'locked' | 'dirty' | 'in-use';

/** One cached file as eviction sees it. */
export interface CacheFile {
  /** Relative to the cache root, `/`-separated: `<bucket>/<key>` or `.versions/<bucket>/<versionId>/<key>`. */
  readonly path: string;
  readonly size: number;
  /** When s3lync last downloaded or opened it (ms since the epoch). */
  readonly lastUsed: number;
  /** Whether it holds content that was never uploaded. */
  readonly dirty: boolean;
  /** Set when it must not be evicted now. */
  readonly keep?: KeepReason | undefined;
}

/** The paths a path is used through: itself and each directory above it, deepest first. */
export function selfAndAncestors(rel: string): string[] {
  const out = [rel];
  for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) {
    out.push(rel.slice(0, i));
  }
  return out;
}

/**
 * When `rel` was last used: the latest record of the file itself or of a directory above
 * it (a tree sync records its root once, not each file), else `fallback`.
 */
export function lastUsedOf(
  rel: string,
  used: ReadonlyMap<string, number>,
  fallback: number,
): number {
  let latest: number | undefined;
  for (const p of selfAndAncestors(rel)) {
    const t = used.get(p);
    if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  }
  return latest ?? fallback;
}

/** What to prune down to. */
export interface PrunePolicy {
  /** Evict until the cache holds at most this many bytes. @default no limit */
  maxSize?: number | undefined;
  /** Evict every file last used longer ago than this (ms). @default no age limit */
  olderThan?: number | undefined;
  /** Now, in ms since the epoch. */
  now: number;
}

/**
 * The files to evict, in eviction order: every evictable file used longer ago than
 * `olderThan`, then the least recently used others until the total fits `maxSize`.
 * Dirty files and files with a `keep` reason are never chosen; they still count toward
 * the total, so the cache may stay above the limit when they alone exceed it.
 */
export function chooseVictims(files: readonly CacheFile[], policy: PrunePolicy): CacheFile[] {
  let total = 0;
  for (const f of files) total += f.size;
  const evictable = files
    .filter((f) => !f.dirty && f.keep === undefined)
    .sort((a, b) => a.lastUsed - b.lastUsed || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const cutoff = policy.olderThan === undefined ? undefined : policy.now - policy.olderThan;
  const victims: CacheFile[] = [];
  for (const f of evictable) {
    const old = cutoff !== undefined && f.lastUsed < cutoff;
    const over = policy.maxSize !== undefined && total > policy.maxSize;
    if (!old && !over) break;
    victims.push(f);
    total -= f.size;
  }
  return victims;
}

/** Cached files summed per bucket and prefix. */
export interface CacheGroup {
  /** `<bucket>` or `<bucket>/<prefix>`, relative to the cache root. */
  readonly path: string;
  size: number;
  files: number;
  /** The latest use of a file in it (ms since the epoch). */
  lastUsed: number;
  /** Its files that hold content never uploaded. */
  dirty: string[];
}

/**
 * Groups files by what was synced: the shallowest recorded path (a tree, or the file
 * itself) above each file, else its bucket (and version) and first key segment. Sorted
 * by path.
 */
export function groupFiles(
  files: readonly CacheFile[],
  recorded: ReadonlySet<string>,
): CacheGroup[] {
  const groups = new Map<string, CacheGroup>();
  for (const f of files) {
    let key = selfAndAncestors(f.path).findLast((p) => recorded.has(p));
    if (key === undefined) {
      const parts = f.path.split('/');
      const depth = baseDepth(f.path) + 1;
      key = parts.length > depth ? parts.slice(0, depth).join('/') : f.path;
    }
    let g = groups.get(key);
    if (g === undefined) {
      g = { path: key, size: 0, files: 0, lastUsed: 0, dirty: [] };
      groups.set(key, g);
    }
    g.size += f.size;
    g.files++;
    g.lastUsed = Math.max(g.lastUsed, f.lastUsed);
    if (f.dirty) g.dirty.push(f.path);
  }
  return [...groups.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
