/**
 * `cp`/`sync` between two `s3://` sides, `mv` (a verified copy, then the source's files
 * that verified are deleted) and `check` (both sides compared, nothing transferred).
 *
 * @packageDocumentation
 */
import path from 'node:path';

import { SyncError } from '../exceptions.js';
import { LocalRoot } from '../local-root.js';
import type { S3Object, S3ObjectOptions } from '../core.js';
import type { SyncFailure, SyncResult } from '../result.js';
import type { TransferArgs } from './command.js';
import { objectFor, type CommandContext } from './context.js';
import { resolveTarget } from './transfer.js';
import { errorMessage, formatAction, formatSummary, transferSummary } from './format.js';

/** The object options the transfer flags set. */
function flagsOf(args: TransferArgs): S3ObjectOptions {
  return {
    ...(args.concurrency !== undefined && { maxConcurrency: args.concurrency }),
    ...(!args.defaultExcludes && { excludes: [] }),
  };
}

/** The two objects of an S3 → S3 command. */
function sides(args: TransferArgs, context: CommandContext): { src: S3Object; dst: S3Object } {
  const options: S3ObjectOptions = { ...flagsOf(args), localPath: '.' };
  const src = objectFor(args.uri, context.global, options);
  const dst = objectFor(args.target ?? '', context.global, options);
  return { src, dst };
}

/** The options of a sync from the command line's transfer flags. */
function syncFlags(args: TransferArgs, context: CommandContext) {
  return {
    useChecksum: args.useChecksum,
    excludes: args.excludeRegexes,
    filters: args.filters,
    ...(args.uploadParams !== undefined && { uploadParams: args.uploadParams }),
    signal: context.signal,
  };
}

/** Runs a sync, a SyncError turned back into its result and failures. */
async function settled(
  run: () => Promise<SyncResult>,
): Promise<{ result: SyncResult; failures: readonly SyncFailure[] }> {
  try {
    return { result: await run(), failures: [] };
  } catch (error) {
    if (!(error instanceof SyncError) || error.result === undefined) throw error;
    return { result: error.result, failures: error.failures };
  }
}

/** `cp`/`sync` with two `s3://` sides; resolves to the exit code. */
export async function copyRemote(
  command: 'cp' | 'sync',
  args: TransferArgs,
  context: CommandContext,
): Promise<number> {
  const { src, dst } = sides(args, context);
  try {
    const { result, failures } = await settled(() =>
      src.syncTo(dst, {
        ...syncFlags(args, context),
        dryRun: args.dryRun,
        mirror: args.mirror,
        ...(args.maxDelete !== undefined && { maxDelete: args.maxDelete }),
      }),
    );
    return printed(command, args, src, result, failures, context);
  } finally {
    src.client.sdk.destroy();
    dst.client.sdk.destroy();
  }
}

function printed(
  command: 'cp' | 'sync' | 'mv',
  args: TransferArgs,
  src: S3Object,
  result: SyncResult,
  failures: readonly SyncFailure[],
  { out }: CommandContext,
): number {
  const summary = transferSummary(command === 'mv' ? 'cp' : command, args, result, failures);
  for (const f of summary.failed) out.error(`s3lync: failed: ${f.path}: ${f.error}`);
  const dstBucket = args.target === undefined ? src.bucket : objectBucket(args.target);
  const shownSource = result.tree && !args.source.endsWith('/') ? `${args.source}/` : args.source;
  const places = { bucket: dstBucket, tree: result.tree, local: shownSource };
  for (const action of result.actions) out.info(formatAction(action, places, result.dryRun));
  out.info(formatSummary(summary));
  out.json({ ...summary, command });
  return failures.length > 0 ? 1 : 0;
}

function objectBucket(uri: string): string {
  return /^s3:\/\/(?:[^@]*@)?(?:https?:\/\/[^/]+\/)?([^/]+)/.exec(uri)?.[1] ?? '';
}

/**
 * `mv`: a copy (cp semantics), then the source's files whose destination verified are
 * deleted; a file whose copy failed or could not be verified stays. Exit 1 if any stayed.
 */
export async function move(args: TransferArgs, context: CommandContext): Promise<number> {
  const verified: string[] = [];
  const onVerified = (path: string): void => {
    verified.push(path);
  };
  const { out } = context;
  const options = { ...syncFlags(args, context), useChecksum: true, onVerified };
  let src: S3Object;
  let outcome: { result: SyncResult; failures: readonly SyncFailure[] };
  let destroy: () => void;
  if (args.target !== undefined) {
    const both = sides(args, context);
    src = both.src;
    destroy = () => {
      both.src.client.sdk.destroy();
      both.dst.client.sdk.destroy();
    };
    outcome = await settled(() => both.src.syncTo(both.dst, options));
  } else {
    // Where a single file lands follows cp: into a directory, or under a prefix, by name.
    // No hash index: it remembers downloads it could not verify as synced, and mv deletes
    // only what this run proves.
    const { obj } = await resolveTarget(
      'cp',
      args,
      { ...flagsOf(args), hashIndex: false },
      context,
    );
    src = obj;
    destroy = () => {
      obj.client.sdk.destroy();
    };
    outcome = await settled(() => obj.sync(args.direction, options));
  }
  try {
    const { result, failures } = outcome;
    const code = printed('mv', args, src, result, failures, context);
    const removed = await removeSources(args, src, result.tree, verified, context);
    const kept = failures.length + result.unverified;
    out.info(`Moved ${removed} file(s); ${kept} kept at the source (failed or not verified).`);
    return kept > 0 ? 1 : code;
  } finally {
    destroy();
  }
}

/** Deletes the verified sources: objects for an S3 source, files through the local root. */
async function removeSources(
  args: TransferArgs,
  src: S3Object,
  tree: boolean,
  paths: readonly string[],
  { signal }: CommandContext,
): Promise<number> {
  if (paths.length === 0) return 0;
  if (args.direction === 'download') {
    const prefix = src.key.endsWith('/') ? src.key : `${src.key}/`;
    const keys = paths.map((p) => (tree ? `${prefix}${p}` : src.key));
    const { deleted, failed } = await src.client.deleteObjects(src.bucket, keys, signal);
    const first = failed[0];
    if (first !== undefined)
      throw first.error instanceof Error ? first.error : new Error(String(first.error));
    return deleted.length;
  }
  // Through the local root's door, as every delete under a sync root.
  const root = new LocalRoot(tree ? args.localPath : path.dirname(args.localPath));
  const dirs = new Set<string>();
  for (const p of paths) {
    await root.remove(tree ? p : path.basename(args.localPath));
    for (let i = p.lastIndexOf('/'); tree && i > 0; i = p.lastIndexOf('/', i - 1))
      dirs.add(p.slice(0, i));
  }
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await root.removeEmptyDir(dir);
  return paths.length;
}

/** `check`: both sides compared (a dry-run mirror), nothing transferred. Exit 0/1/2. */
export async function check(args: TransferArgs, context: CommandContext): Promise<number> {
  const { out } = context;
  const plan = { ...syncFlags(args, context), useChecksum: true, dryRun: true, mirror: true };
  let result: SyncResult;
  try {
    if (args.target !== undefined) {
      const { src, dst } = sides(args, context);
      try {
        result = await src.syncTo(dst, plan);
      } finally {
        src.client.sdk.destroy();
        dst.client.sdk.destroy();
      }
    } else {
      const obj = objectFor(args.uri, context.global, {
        ...flagsOf(args),
        localPath: args.localPath,
      });
      try {
        result = await obj.sync(args.direction, plan);
      } finally {
        obj.client.sdk.destroy();
      }
    }
  } catch (error) {
    out.error(`s3lync: check failed: ${errorMessage(error)}`);
    out.json({ command: 'check', ok: false, error: errorMessage(error) });
    return 2;
  }
  const report = checkReport(args, result);
  for (const [label, paths] of Object.entries(report.lists)) {
    for (const p of paths) out.info(`${label}: ${p}`);
  }
  const differences = report.differences;
  out.info(`${report.matching} matching, ${differences} difference(s)`);
  // A file that could not be read or compared is neither a match nor a known difference.
  if (result.failed > 0) {
    out.error(`s3lync: check failed: ${result.failed} file(s) could not be compared`);
  }
  out.json({
    command: 'check',
    ok: differences === 0 && result.failed === 0,
    source: args.source,
    destination: args.destination,
    matching: report.matching,
    ...report.json,
  });
  if (result.failed > 0) return 2;
  return differences === 0 ? 0 : 1;
}

/** What a dry-run mirror says, as `check` lists it. */
export function checkReport(
  args: Pick<TransferArgs, 'source' | 'destination'>,
  result: SyncResult,
) {
  const undecided = new Set(result.undecided ?? []);
  const missingOnDestination: string[] = [];
  const missingOnSource: string[] = [];
  const differ: string[] = [];
  const unknown: string[] = [];
  for (const a of result.actions) {
    if (a.op === 'delete') missingOnSource.push(a.path);
    else if (a.reason === 'missing') missingOnDestination.push(a.path);
    else if (undecided.has(a.path)) unknown.push(a.path);
    else differ.push(a.path);
  }
  const json = { missingOnDestination, missingOnSource, differ, unknown, failed: result.failed };
  return {
    matching: result.unchanged,
    differences:
      missingOnDestination.length + missingOnSource.length + differ.length + unknown.length,
    json,
    lists: {
      [`missing on ${args.destination}`]: missingOnDestination,
      [`missing on ${args.source}`]: missingOnSource,
      differ,
      'unknown (cannot compare)': unknown,
    },
  };
}
