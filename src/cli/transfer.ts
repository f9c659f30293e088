/**
 * `cp` and `sync`: where a single file lands, the sync itself (one `S3Object.sync`), and
 * what is printed of its result.
 *
 * @packageDocumentation
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';

import { SyncError } from '../exceptions.js';
import type { S3Object, S3ObjectOptions } from '../core.js';
import type { SyncFailure, SyncResult } from '../result.js';
import type { TransferArgs } from './command.js';
import { objectFor, type CommandContext } from './context.js';
import { formatAction, formatSummary, transferSummary, type ActionPlaces } from './format.js';
import { fileInDirectory } from './locations.js';
import type { Output } from './output.js';

function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/**
 * `cp`/`sync` semantics for a single file: a destination ending with `/` (or an existing
 * directory) receives the file under its own name, as with `cp`. Returns the object to
 * sync and the local path to show.
 *
 * @throws {UsageError} when that name would not put the file inside the directory.
 */
export async function resolveTarget(
  command: 'cp' | 'sync',
  args: TransferArgs,
  options: S3ObjectOptions,
  { global, signal }: CommandContext,
): Promise<{ obj: S3Object; local: string }> {
  const obj = objectFor(args.uri, global, { ...options, localPath: args.localPath });
  if (args.direction === 'upload') {
    if (!obj.key.endsWith('/') || (await isDir(args.localPath)))
      return { obj, local: args.localPath };
    const uri = `${args.uri}${path.basename(obj.localPath)}`;
    return {
      obj: objectFor(uri, global, {
        ...options,
        localPath: args.localPath,
        client: obj.client.sdk,
      }),
      local: args.localPath,
    };
  }
  const intoDir = /[/\\]$/.test(args.localPath) || (await isDir(args.localPath));
  if (obj.key.endsWith('/') || !intoDir) return { obj, local: args.localPath };
  // One HEAD tells a single object (goes into the directory) from a prefix (is the directory).
  if ((await obj.client.head(obj.bucket, obj.key, signal)) === undefined) {
    return { obj, local: args.localPath };
  }
  let local: string;
  try {
    // The destination is the destination: whatever the key, the file lands inside it.
    local = fileInDirectory(command, args.source, args.localPath, obj.key);
  } catch (error) {
    obj.client.sdk.destroy();
    throw error;
  }
  return {
    obj: objectFor(args.uri, global, { ...options, localPath: local, client: obj.client.sdk }),
    local,
  };
}

/** Runs `cp` or `sync`; resolves to the exit code (1 when some files failed). */
export async function transfer(
  command: 'cp' | 'sync',
  args: TransferArgs,
  context: CommandContext,
): Promise<number> {
  const { out, signal } = context;
  const options: S3ObjectOptions = {
    ...(args.concurrency !== undefined && { maxConcurrency: args.concurrency }),
    ...(!args.defaultExcludes && { excludes: [] }),
  };
  const { obj, local } = await resolveTarget(command, args, options, context);
  let result: SyncResult;
  let failures: readonly SyncFailure[] = [];
  try {
    result = await obj.sync(args.direction, {
      dryRun: args.dryRun,
      useChecksum: args.useChecksum,
      excludes: args.excludeRegexes,
      filters: args.filters,
      ...(args.uploadParams !== undefined && { uploadParams: args.uploadParams }),
      guessContentType: args.guessContentType,
      ...(args.compareParams !== undefined && { compareParams: args.compareParams }),
      mirror: args.mirror,
      ...(args.maxDelete !== undefined && { maxDelete: args.maxDelete }),
      ...(args.followSymlinks !== undefined && { followSymlinks: args.followSymlinks }),
      signal,
    });
  } catch (error) {
    if (!(error instanceof SyncError) || error.result === undefined) throw error;
    result = error.result;
    failures = error.failures;
  } finally {
    obj.client.sdk.destroy();
  }
  return report(
    command,
    args,
    { bucket: obj.bucket, tree: result.tree, local },
    result,
    failures,
    out,
  );
}

/** Prints what a sync did (or would do); resolves to the exit code. */
function report(
  command: 'cp' | 'sync',
  args: TransferArgs,
  places: ActionPlaces,
  result: SyncResult,
  failures: readonly SyncFailure[],
  out: Output,
): number {
  const summary = transferSummary(command, args, result, failures);
  for (const f of summary.failed) out.error(`s3lync: failed: ${f.path}: ${f.error}`);
  for (const w of summary.warnings) out.error(`s3lync: warning: skipped ${w.path}: ${w.reason}`);
  // Transfers are shown as they happen (progress); plans and deletions are listed here.
  for (const action of result.actions) {
    if (result.dryRun || action.op === 'delete') {
      out.info(formatAction(action, places, result.dryRun));
    }
  }
  if (failures.length > 0 && args.mirror && result.deleted === 0 && !result.dryRun) {
    out.info('Nothing was deleted, because some transfers failed.');
  }
  out.info(formatSummary(summary));
  out.json(summary);
  return failures.length > 0 ? 1 : 0;
}
