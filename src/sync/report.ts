/**
 * What a sync reports: its result, counted as it ran, and for a real run with failures a
 * `SyncError` that lists each one (the error of a single file as it is).
 *
 * @packageDocumentation
 */
import path from 'node:path';

import { localPathErrorOf, SyncError } from '../exceptions.js';
import { getLogger } from '../logging.js';
import type { Direction, SkippedEntry, SyncResult } from '../result.js';
import { formatBytes } from '../utils.js';
import type { HashCounter } from './apply.js';
import type { SyncTarget } from './options.js';
import type { SyncFailure } from '../result.js';
import { normalizeEtag } from '../etag.js';

const log = getLogger('sync');

/** An empty result of a sync of `target`, to be counted in as it runs. */
export function newResult(
  target: SyncTarget,
  direction: Direction,
  dryRun: boolean,
  skipped: SkippedEntry[],
): SyncResult {
  return {
    direction,
    dryRun,
    tree: false,
    uri: target.uri,
    localPath: target.localPath,
    actions: [],
    unchanged: 0,
    transferred: 0,
    deleted: 0,
    failed: 0,
    skipped,
    bytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    unverified: 0,
    durationMs: 0,
  };
}

/** What a finished run adds to its result. */
export interface Outcome {
  started: number;
  hashed: HashCounter;
  failures: SyncFailure[];
  /** The local root the failures' paths are relative to. */
  root: string;
  /** For one object: its ETag after the sync. */
  etag: string | undefined;
  /** Whether a mirror's deletions were held back by the failures. */
  deletesHeld: boolean;
}

/**
 * Completes the result. A real run with failures throws: the failure itself for one
 * object (its own error says more than a wrapper would), else a {@link SyncError}.
 */
export function report(result: SyncResult, outcome: Outcome): SyncResult {
  const { failures, hashed } = outcome;
  result.hashedFiles = hashed.files;
  result.hashedBytes = hashed.bytes;
  result.failed = failures.length;
  result.durationMs = Date.now() - outcome.started;
  if (result.dryRun) return result;
  result.unverified = hashed.unverified;
  if (!result.tree) result.etag = normalizeEtag(outcome.etag);
  if (failures.length === 0) {
    log.info(
      `${result.direction} ${result.uri}: ${result.transferred} transferred (${formatBytes(result.bytes)}), ${result.unchanged} unchanged, ${result.deleted} deleted`,
    );
    return result;
  }
  // A disk error names the file it concerns, as a LocalPathError.
  for (const f of failures) {
    const abs = path.join(outcome.root, ...f.path.split('/'));
    f.error = localPathErrorOf(f.error, `${result.direction} ${f.path}`, abs) ?? f.error;
  }
  if (!result.tree && failures.length === 1) throw failures[0]?.error;
  const list = failures
    .slice(0, 10)
    .map((f) => `  ${f.path}: ${(f.error as Error).message}`)
    .join('\n');
  const more = failures.length > 10 ? `\n  ... and ${failures.length - 10} more` : '';
  const noDeletes = outcome.deletesHeld ? ' (so nothing was deleted)' : '';
  throw new SyncError(
    `${result.direction} ${result.uri}: ${failures.length} file(s) failed${noDeletes}:\n${list}${more}`,
    failures,
    result,
  );
}
