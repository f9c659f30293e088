/**
 * What an `S3Object` whose local path is in the default cache does for the cache: it
 * records each download and open in the usage log (once per call, not per file), leases
 * the file while a handle is open, marks it dirty while its written content is not
 * uploaded, and after a download that moved bytes evicts down to `cacheMaxSize`.
 * Failures here are logged, never thrown: the cache's bookkeeping must not fail a transfer.
 *
 * @packageDocumentation
 */
import path from 'node:path';

import type { Lock } from '../lock.js';
import { getLogger } from '../logging.js';
import type { Direction, SyncResult } from '../result.js';
import { evictToFit } from './api.js';
import { VERSIONS_DIR } from './policy.js';
import { recordUsage, takeLease, type UsageRecord } from './state.js';
import type { CachePaths } from './store.js';

const log = getLogger('cache');

/** What `open()` asks of the cache. */
export interface OpenCacheHooks {
  /** Leases the file for as long as the handle is open. */
  lease(): Promise<Pick<Lock, 'release'>>;
  /** Records that the local copy holds content not uploaded yet. */
  markDirty(): Promise<void>;
}

/** The cache bookkeeping of one object in the default cache. */
export class CacheKeeper implements OpenCacheHooks {
  readonly #paths: CachePaths;
  readonly #localPath: string;
  /** `localPath` relative to the cache root. */
  readonly #rel: string;
  readonly #maxSize: number | undefined;

  private constructor(paths: CachePaths, localPath: string, rel: string, maxSize?: number) {
    this.#paths = paths;
    this.#localPath = localPath;
    this.#rel = rel;
    this.#maxSize = maxSize;
  }

  /**
   * The keeper of `localPath`; `undefined` when it is not inside the cache root's buckets
   * or its pinned-version copies (`.versions/`), the only dot-directory that is cache.
   */
  static of(paths: CachePaths, localPath: string, maxSize?: number): CacheKeeper | undefined {
    const rel = path.relative(paths.root, path.resolve(localPath)).split(path.sep).join('/');
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
    if (rel.startsWith('.') && !rel.startsWith(`${VERSIONS_DIR}/`)) return undefined;
    return new CacheKeeper(paths, localPath, rel, maxSize);
  }

  async #record(extra: Partial<UsageRecord> = {}): Promise<void> {
    try {
      await recordUsage(this.#paths.root, [{ p: this.#rel, t: Date.now(), ...extra }]);
    } catch (error) {
      log.warn(`could not record the use of ${this.#localPath}: ${(error as Error).message}`);
    }
  }

  /**
   * After a sync: records the use (an upload also clears dirtiness: the content is now
   * the object's), and after a download that moved bytes, evicts to fit the limit.
   */
  async afterSync(direction: Direction, result: SyncResult): Promise<void> {
    if (result.dryRun) return;
    await this.#record(direction === 'upload' ? { d: 0 } : {});
    if (direction !== 'download' || this.#maxSize === undefined) return;
    if (result.transferred === 0) return;
    try {
      const pruned = await evictToFit(this.#paths, this.#maxSize, this.#rel);
      if (pruned !== undefined && pruned.removed.length > 0) {
        log.info(
          `evicted ${pruned.removed.length} cached file(s), ${pruned.freed} bytes, to fit ${this.#maxSize} bytes`,
        );
      }
    } catch (error) {
      log.warn(`could not evict from the cache: ${(error as Error).message}`);
    }
  }

  /** Leases the file for an open handle (records the use too); see {@link OpenCacheHooks}. */
  async lease(): Promise<Pick<Lock, 'release'>> {
    await this.#record();
    try {
      return await takeLease(this.#paths.root, this.#localPath);
    } catch (error) {
      log.warn(`could not lease ${this.#localPath}: ${(error as Error).message}`);
      return { release: () => Promise.resolve() };
    }
  }

  /** See {@link OpenCacheHooks}. */
  markDirty(): Promise<void> {
    return this.#record({ d: 1 });
  }
}
