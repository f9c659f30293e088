/**
 * Runs a sync: the local walk, then the listing page by page, each page matched against
 * the walk and its transfers started while the next page is listed (bounded in parallel);
 * for a mirror, deletions once the listing is complete and every transfer succeeded. A
 * single file is a tree of one entry, so both go the same way. The phases, each in a
 * module of `sync/`: scope (`layout`, `listing`) → decide and schedule (`run`, with the
 * one rule of `plan.ts`) → apply (`apply`, `conditions`) → report (`report`).
 *
 * @packageDocumentation
 */
import { refuseWrites } from './cache/freshness.js';
import { ConfigError, S3lyncError } from './exceptions.js';
import { compileMatcher, patternSource } from './excludes.js';
import { LocalRoot } from './local-root.js';
import type { Direction, SkippedEntry, SyncResult } from './result.js';
import { downloadCached } from './sync/cached.js';
import { downloadLayout, uploadLayout } from './sync/layout.js';
import type { Scope, SyncInternals, SyncOptions, SyncTarget } from './sync/options.js';
import { newResult, report } from './sync/report.js';
import { SyncRun } from './sync/run.js';
import type { SyncFailure } from './result.js';

export type { Limiter, SyncOptions, SyncTarget } from './sync/options.js';
export { uploadNew } from './sync/upload-new.js';

/**
 * Runs a sync of `target` in `direction`; a download as its cache policy allows.
 *
 * @throws {OfflineError} for an upload offline, or a download offline with no local copy.
 * @throws {PinnedVersionError} for an upload to a pinned version.
 */
export async function runSync(
  target: SyncTarget,
  direction: Direction,
  options: SyncOptions = {},
  internals: SyncInternals = {},
): Promise<SyncResult> {
  const { cache } = target;
  if (direction === 'upload') refuseWrites(cache, 'upload()', target.uri);
  const full = (): Promise<SyncResult> => syncAll(target, direction, options, internals);
  return direction === 'download' && cache !== undefined
    ? downloadCached(target, cache, options, full)
    : full();
}

/** {@link runSync}, asking the server. */
async function syncAll(
  target: SyncTarget,
  direction: Direction,
  options: SyncOptions,
  internals: SyncInternals,
): Promise<SyncResult> {
  const started = Date.now();
  options.signal?.throwIfAborted();
  const maxDelete = maxDeleteOf(options);
  const failures: SyncFailure[] = [];
  const skipped: SkippedEntry[] = [];
  const scope = scopeOf(target, options, failures, skipped);
  const layout =
    direction === 'download'
      ? await downloadLayout(target, scope)
      : await uploadLayout(target, scope);
  // What the walk could not read fails on its own in an upload; a download never needs it.
  for (const problem of layout.local.problems) {
    if (direction === 'upload') failures.push(problem);
    else skipped.push({ side: 'local', path: problem.path, reason: errorText(problem.error) });
  }
  skipped.push(...layout.local.skipped);
  const result = newResult(target, direction, options.dryRun ?? false, skipped);
  result.tree = layout.tree;
  const door = new LocalRoot(layout.root);
  const run = await SyncRun.open(
    target,
    direction,
    layout,
    door,
    { ...options, ...internals, maxDelete },
    result,
    failures,
  );

  await run.matchListing();
  if (run.deletes.length > maxDelete) {
    run.close();
    throw new S3lyncError(
      `Refusing to mirror ${target.uri}: it would delete ${run.deletes.length} files, more than maxDelete (${maxDelete}). Nothing was changed.`,
    );
  }
  if (result.dryRun) {
    await run.plan();
  } else {
    await run.runPlanned();
    await run.applyDeletes();
  }
  return report(result, {
    started,
    hashed: run.files.hashed,
    failures,
    root: layout.root,
    etag: run.fileEtag,
    deletesHeld: run.deletes.length > 0 && result.deleted === 0,
  });
}

/** `maxDelete`, checked. */
export function maxDeleteOf(options: SyncOptions): number {
  const maxDelete = options.maxDelete ?? Number.POSITIVE_INFINITY;
  if (typeof maxDelete !== 'number' || Number.isNaN(maxDelete) || maxDelete < 0) {
    throw new ConfigError(
      `Expected \`maxDelete\` to be a number >= 0, got ${JSON.stringify(options.maxDelete)} (${typeof options.maxDelete})`,
    );
  }
  return maxDelete;
}

/** What the layout and the listing of this run need, and where they report. */
export function scopeOf(
  target: SyncTarget,
  options: SyncOptions,
  failures: SyncFailure[],
  skipped: SkippedEntry[],
): Scope {
  return {
    isExcluded: compileMatcher(
      [...target.excludes, ...(options.excludes ?? []).map(patternSource)],
      target.filters,
    ),
    signal: options.signal,
    followSymlinks: options.followSymlinks ?? target.followSymlinks ?? false,
    failures,
    skipped,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
