/**
 * `cache ls`, `cache prune` and `cache clear`: the library's {@link cacheUsage},
 * {@link pruneCache} and {@link clearCache} on the default cache, with what they print.
 *
 * @packageDocumentation
 */
import { cacheUsage, clearCache, pruneCache } from '../cache/api.js';
import { readEnvConfig } from '../config.js';
import { UsageError, type CacheArgs } from './command.js';
import type { CommandContext } from './context.js';
import {
  cacheEntryJson,
  cachedFileJson,
  formatCacheEntry,
  formatCacheHeader,
  formatPrune,
} from './format.js';

/** Runs a `cache` command; resolves to the exit code. */
export async function cacheCommand(args: CacheArgs, { out }: CommandContext): Promise<number> {
  if (args.action === 'ls') {
    const usage = await cacheUsage();
    out.info(formatCacheHeader(usage));
    if (usage.entries.length > 0) {
      out.data(`${'LAST USED'.padEnd(20)} ${'SIZE'.padStart(10)} ${'FILES'.padStart(7)}  URI`);
    }
    for (const entry of usage.entries) for (const line of formatCacheEntry(entry)) out.data(line);
    out.json({
      command: 'cache ls',
      ok: true,
      root: usage.root,
      size: usage.size,
      files: usage.files,
      maxSize: usage.maxSize ?? null,
      entries: usage.entries.map(cacheEntryJson),
    });
    return 0;
  }
  if (
    args.action === 'prune' &&
    args.maxSize === undefined &&
    args.olderThan === undefined &&
    readEnvConfig().cacheMaxSize === undefined
  ) {
    throw new UsageError(
      'cache prune needs --max-size or --older-than (or S3LYNC_CACHE_MAX_SIZE)',
      'cache',
    );
  }
  const result =
    args.action === 'prune'
      ? await pruneCache({
          ...(args.maxSize !== undefined && { maxSize: args.maxSize }),
          ...(args.olderThan !== undefined && { olderThan: args.olderThan }),
          dryRun: args.dryRun,
        })
      : await clearCache(args.uri, { dryRun: args.dryRun });
  for (const line of formatPrune(result)) out.info(line);
  out.json({
    command: `cache ${args.action}`,
    ok: true,
    root: result.root,
    dryRun: result.dryRun,
    freed: result.freed,
    size: result.size,
    removed: result.removed.map(cachedFileJson),
    kept: result.kept.map((f) => ({ ...cachedFileJson(f), reason: f.reason })),
  });
  return 0;
}
