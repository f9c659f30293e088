/**
 * Runs a sync: one listing of each side, a plan, then bounded parallel transfers and, for
 * a mirror, deletions. A single file is a tree of one entry, so both go the same way.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';
import { readFile, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';

import pLimit from 'p-limit';

import type { ChecksumAlgorithm } from './checksum.js';
import type { RemoteObject, S3lyncClient } from './client.js';
import {
  ConfigError,
  ConflictError,
  LocalPathError,
  NotFoundError,
  PreconditionFailedError,
  S3lyncError,
  SyncError,
  UnsafePathError,
  type SyncFailure,
} from './exceptions.js';
import { compileExcludes, patternSource } from './excludes.js';
import { hashBuffer, hashFile, normalizeEtag, SMALL_FILE_SIZE, type FileDigest } from './hash.js';
import { HashIndex, indexFileFor, nowNs, type FileIdentity } from './hash-index.js';
import { identityOf, walkLocal, type LocalFile } from './local-tree.js';
import { getLogger } from './logging.js';
import {
  fileDirectoryConflicts,
  pathsNeedingDigest,
  planSync,
  sameContent,
  type Direction,
  type KnownDigest,
  type RemoteEntry,
  type SyncAction,
} from './plan.js';
import { ProgressBar, type ProgressCallback, type ProgressMode } from './progress.js';
import {
  downloadFile,
  partSizeFor,
  uploadFile,
  usesMultipart,
  type TransferContext,
} from './transfer.js';
import { formatBytes, resolveKeyPath, unsafeKeyReason } from './utils.js';
import {
  compareDigests,
  hashingFor,
  verifyContent,
  type ContentDigest,
  type RemoteContent,
} from './verify.js';

const log = getLogger('sync');

/** Options of a sync (`download()`, `upload()`, `sync()`). */
export interface SyncOptions {
  /** Compare MD5s to skip unchanged files; without it, equal sizes count as unchanged. @default true */
  useChecksum?: boolean;
  /** Extra excludes for this call, added to the object's. @default none */
  excludes?: readonly (string | RegExp)[];
  /** Overrides the object's progress mode for this call. @default the object's */
  progressMode?: ProgressMode;
  /** Delete what the source lacks at the destination (excluded paths never). @default false */
  mirror?: boolean;
  /** Refuse a mirror that would delete more than this many files, before anything changes. @default Infinity */
  maxDelete?: number;
  /** Plan only: return what would be done, change nothing. @default false */
  dryRun?: boolean;
  /** Cancels the sync; the promise rejects with `signal.reason`. @default none */
  signal?: AbortSignal;
  /** Receives progress events. @default none */
  onProgress?: ProgressCallback;
  /**
   * Lost-update protection for the upload of one file: `true` replaces the object only if
   * it still has the ETag this `S3Object` last saw (by its last download or upload), a
   * string only if it has that ETag. Otherwise the upload fails with {@link ConflictError}
   * and the object is left as it is. Needs a server with conditional writes (AWS, Ceph).
   * @default false
   */
  ifMatch?: boolean | string;
  /** @internal the ETag `ifMatch` resolved to (`null`: the object must not exist). @default none */
  expectedEtag?: string | null | undefined;
  /**
   * Bounds this call's files together with other calls that share it (an
   * `S3ObjectManager` passes one to every object of a batch); overrides the object's.
   * @default the object's `limiter`, else a limiter of `maxConcurrency` per sync
   */
  limiter?: Limiter;
}

/** What a sync did (or, for a dry run, would do). */
export interface SyncResult {
  /** Which way it went. */
  direction: Direction;
  /** Whether this was a dry run (nothing changed). */
  dryRun: boolean;
  /** Whether the key was a prefix (a tree) rather than one object. */
  tree: boolean;
  /** The URI (redacted). */
  uri: string;
  /** The local file or directory. */
  localPath: string;
  /** Each transfer and deletion, with its reason: planned (dry run) or done. */
  actions: SyncAction[];
  /** Files found unchanged and skipped. */
  unchanged: number;
  /** Files transferred. */
  transferred: number;
  /** Files deleted (mirror). */
  deleted: number;
  /** Files that failed (a real run with failures throws {@link SyncError} carrying this result). */
  failed: number;
  /** Bytes transferred. */
  bytes: number;
  /** Local files read to compute an MD5 (the hash index spares unchanged ones). */
  hashedFiles: number;
  /** Bytes read to compute MD5s. */
  hashedBytes: number;
  /**
   * Downloads whose bytes could not be verified (an encrypted or multipart object with no
   * fingerprint, no known part layout and no checksum); each is logged as a warning.
   */
  unverified: number;
  /** Wall time in ms. */
  durationMs: number;
  /**
   * For one object (not a tree) and a real run: the object's ETag after the sync, without
   * quotes (the one just transferred, or the unchanged object's); `undefined` for trees and
   * dry runs.
   */
  etag?: string | undefined;
}

/** What a sync needs from the object it syncs. */
export interface SyncTarget {
  client: S3lyncClient;
  bucket: string;
  key: string;
  localPath: string;
  uri: string;
  describe: (key: string) => string;
  maxConcurrency: number;
  partSize: number;
  multipartThreshold: number;
  progressMode: ProgressMode;
  excludes: readonly string[];
  /** Where hash indexes live; `undefined` disables the index. */
  indexDir: string | undefined;
  /** A limiter shared with other syncs (a batch); else one of `maxConcurrency` per sync. */
  limiter?: Limiter | undefined;
  /** Also send this S3 additional checksum with uploads. */
  checksumAlgorithm?: ChecksumAlgorithm | undefined;
  /** Objects larger than this download as parallel ranged GETs. */
  rangeThreshold?: number | undefined;
}

/**
 * Runs tasks with bounded concurrency; `pLimit(n)` from p-limit is one. Share one between
 * objects to bound the files in flight across all of them.
 */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Parts in flight per multipart upload; large files share the concurrency budget. */
const PARTS_PER_UPLOAD = 4;

interface Layout {
  tree: boolean;
  /** The local root: the directory of a tree, the parent directory of a file. */
  root: string;
  /** The key prefix of a tree (ends with `/`), or the key of a file. */
  prefix: string;
  /** Remote entries, relative to the root. */
  remote: RemoteEntry[];
  /** Local files, relative to the root. */
  local: LocalFile[];
}

/** Runs a sync of `target` in `direction`. */
export async function runSync(
  target: SyncTarget,
  direction: Direction,
  options: SyncOptions = {},
): Promise<SyncResult> {
  const started = Date.now();
  const { signal } = options;
  signal?.throwIfAborted();
  const maxDelete = options.maxDelete ?? Number.POSITIVE_INFINITY;
  if (typeof maxDelete !== 'number' || Number.isNaN(maxDelete) || maxDelete < 0) {
    throw new ConfigError(
      `Expected \`maxDelete\` to be a number >= 0, got ${JSON.stringify(options.maxDelete)} (${typeof options.maxDelete})`,
    );
  }
  const isExcluded = compileExcludes([
    ...target.excludes,
    ...(options.excludes ?? []).map(patternSource),
  ]);
  const layout =
    direction === 'download'
      ? await downloadLayout(target, isExcluded, signal)
      : await uploadLayout(target, isExcluded, signal);

  const failures: SyncFailure[] = [];
  if (direction === 'download' && layout.tree) refuseUnsafeKeys(layout, failures);
  const conditions =
    direction === 'upload' ? uploadConditions(target, layout, options.expectedEtag) : {};

  const index =
    target.indexDir === undefined
      ? HashIndex.disabled()
      : await HashIndex.load(indexFileFor(target.indexDir, layout.root));
  const localByPath = new Map(layout.local.map((f) => [f.path, f]));
  for (const f of layout.local) index.keep(f.path);
  const useChecksum = options.useChecksum ?? true;
  const limit: Limiter = options.limiter ?? target.limiter ?? pLimit(target.maxConcurrency);

  const hashed: HashCounter = { files: 0, bytes: 0, unverified: 0 };
  const digests = new Map<string, KnownDigest>();
  const needed = pathsNeedingDigest(layout.remote, localByPath, useChecksum);
  const remoteByPath = new Map(layout.remote.map((r) => [r.path, r]));
  await Promise.all(
    needed.map((rel) =>
      limit(async () => {
        const file = localByPath.get(rel);
        const remote = remoteByPath.get(rel);
        if (file === undefined || remote === undefined) return;
        const digest = await knownDigest(index, layout.root, file, hashed, signal);
        digests.set(rel, digest);
        // Only a same-size pair the MD5 and the index cannot decide needs the server's help.
        if (sameContent(digest, remote) || compareDigests(digest, remote) !== 'unknown') return;
        const equal = await resolveUnknown(
          target,
          layout.root,
          file,
          remote,
          digest,
          hashed,
          signal,
        );
        if (equal) {
          digests.set(rel, { ...digest, syncedEtag: remote.etag });
          index.setEtag(rel, digest.md5, remote.etag);
        }
      }),
    ),
  );

  const keyOf = (rel: string): string => (layout.tree ? `${layout.prefix}${rel}` : layout.prefix);
  const plan = planSync({
    direction,
    remote: layout.remote,
    local: layout.local,
    useChecksum,
    mirror: options.mirror ?? false,
    digestOf: (rel) => digests.get(rel),
    keyOf,
  });
  const transfers = plan.actions.filter((a) => a.op !== 'delete');
  const deletes = plan.actions.filter((a) => a.op === 'delete');
  if (deletes.length > maxDelete) {
    throw new S3lyncError(
      `Refusing to mirror ${target.uri}: it would delete ${deletes.length} files, more than maxDelete (${maxDelete}). Nothing was changed.`,
    );
  }

  const result: SyncResult = {
    direction,
    dryRun: options.dryRun ?? false,
    tree: layout.tree,
    uri: target.uri,
    localPath: target.localPath,
    actions: [],
    unchanged: plan.unchanged,
    transferred: 0,
    deleted: 0,
    failed: failures.length,
    bytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    unverified: 0,
    durationMs: 0,
  };
  if (result.dryRun) {
    result.actions = plan.actions;
    result.hashedFiles = hashed.files;
    result.hashedBytes = hashed.bytes;
    result.durationMs = Date.now() - started;
    return result;
  }

  const ctx = transferContext(target);
  const largeLimit = pLimit(Math.max(1, Math.floor(target.maxConcurrency / ctx.queueSize)));
  const progress = progressFor(target, options, direction);
  progress.expect(
    transfers.length,
    transfers.reduce((n, a) => n + a.size, 0),
  );

  // What a single object ends up with: the HEAD's ETag, unless a transfer replaces it.
  let fileEtag = layout.tree ? undefined : layout.remote[0]?.etag;
  try {
    // Settle every transfer before rejecting on abort, so no temp file or request outlives
    // the promise.
    const settled = await Promise.allSettled(
      transfers.map((action) => {
        const large = usesMultipart(ctx, action.size);
        const run = async (): Promise<void> => {
          signal?.throwIfAborted();
          const abs = absolutePath(layout, action.path);
          const file = progress.start({
            direction: action.op,
            key: action.key,
            path: abs,
            size: action.size,
          });
          try {
            let etag: string | undefined;
            if (action.op === 'download') {
              etag = await downloadOne(
                ctx,
                index,
                action.key,
                abs,
                action.path,
                hashed,
                file.advance,
                signal,
                { size: action.size, etag: remoteByPath.get(action.path)?.etag },
              );
            } else {
              const send = (preconditions: UploadConditions): Promise<string | undefined> =>
                uploadOne(
                  ctx,
                  index,
                  layout.root,
                  localByPath.get(action.path),
                  digests.get(action.path),
                  action.key,
                  hashed,
                  file.advance,
                  signal,
                  preconditions,
                );
              etag = await send(conditions).catch(async (error: unknown) => {
                // Ceph (and DigitalOcean Spaces) match If-Match on PUT only against the
                // unquoted ETag; a 412 while the ETag is the expected one means that quirk.
                const unquoted = await quirkRetry(error, target, conditions, signal);
                if (unquoted === undefined) throw conflictOr(error, target);
                return send(unquoted).catch((again: unknown) => {
                  throw conflictOr(again, target);
                });
              });
            }
            if (!layout.tree) fileEtag = etag;
            file.finish();
            result.transferred++;
            result.bytes += action.size;
            result.actions.push(action);
          } catch (error) {
            if (signal?.aborted) throw signal.reason;
            failures.push({ path: action.path, error });
            log.debug(`failed ${action.op} ${action.path}: ${(error as Error).message}`);
          }
        };
        // Large files wait for the part budget before taking a file slot, so they never hold one idle.
        return large ? largeLimit(() => limit(run)) : limit(run);
      }),
    );
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
  } catch (error) {
    await index.save({ prune: false });
    throw error;
  } finally {
    progress.close();
  }
  signal?.throwIfAborted();

  if (deletes.length > 0) {
    if (failures.length > 0) {
      log.warn(`not deleting anything under ${target.uri}: ${failures.length} transfers failed`);
    } else if (direction === 'download') {
      await deleteLocal(layout, deletes, index, result, failures, signal);
    } else {
      await deleteRemote(target, deletes, result, failures, signal);
    }
  }
  await index.save({ prune: layout.tree });
  result.hashedFiles = hashed.files;
  result.hashedBytes = hashed.bytes;
  result.unverified = hashed.unverified;
  result.failed = failures.length;
  result.durationMs = Date.now() - started;
  if (!layout.tree) result.etag = normalizeEtag(fileEtag);
  if (failures.length > 0) {
    // One file is one transfer: its own error says more than a wrapper would.
    if (!layout.tree && failures.length === 1) throw failures[0]?.error;
    const list = failures
      .slice(0, 10)
      .map((f) => `  ${f.path}: ${(f.error as Error).message}`)
      .join('\n');
    const more = failures.length > 10 ? `\n  ... and ${failures.length - 10} more` : '';
    const noDeletes = deletes.length > 0 && result.deleted === 0 ? ' (so nothing was deleted)' : '';
    throw new SyncError(
      `${direction} ${target.uri}: ${failures.length} file(s) failed${noDeletes}:\n${list}${more}`,
      failures,
      result,
    );
  }
  log.info(
    `${direction} ${target.uri}: ${result.transferred} transferred (${formatBytes(result.bytes)}), ${result.unchanged} unchanged, ${result.deleted} deleted`,
  );
  return result;
}

function progressFor(
  target: SyncTarget,
  options: Pick<SyncOptions, 'progressMode' | 'onProgress'>,
  direction: Direction,
): ProgressBar {
  return new ProgressBar({
    mode: options.progressMode ?? target.progressMode,
    onProgress: options.onProgress,
    description: `${direction === 'download' ? '↓' : '↑'} ${target.bucket}/${target.key}`,
  });
}

function transferContext(target: SyncTarget): TransferContext {
  return {
    client: target.client,
    bucket: target.bucket,
    describe: target.describe,
    multipartThreshold: target.multipartThreshold,
    partSize: target.partSize,
    queueSize: Math.min(PARTS_PER_UPLOAD, target.maxConcurrency),
    checksumAlgorithm: target.checksumAlgorithm,
    madeDirs: new Set(),
    rangeThreshold: target.rangeThreshold,
  };
}

function absolutePath(layout: Layout, rel: string): string {
  return path.join(layout.root, ...rel.split('/'));
}

/**
 * Decides a same-size pair whose listed ETag cannot (a multipart or encrypted object the
 * index has not seen): one HEAD for the fingerprint, part layout and checksum, then, if
 * need be, one pass over the local file computing the candidate composites. Returns
 * whether the contents are equal; `false` also when it cannot tell (the file is sent).
 */
async function resolveUnknown(
  target: SyncTarget,
  root: string,
  file: LocalFile,
  remote: RemoteEntry,
  digest: KnownDigest,
  hashed: HashCounter,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const head = await target.client
    .head(target.bucket, remote.key, signal, {
      partNumber: 1,
      ...(remote.etag !== undefined && { ifMatch: remote.etag }),
    })
    .catch((error: unknown) => {
      // 412: the object changed since the listing; it will be transferred.
      if (error instanceof PreconditionFailedError) return undefined;
      throw error;
    });
  if (head === undefined) return false;
  const content: RemoteContent = {
    size: remote.size,
    etag: remote.etag,
    fingerprintMd5: head.fingerprintMd5,
    opaqueEtag: head.opaqueEtag,
    checksum: head.checksum,
    partSizeHint: head.partSizeHint,
    serverPartSize: head.partsCount !== undefined && head.partsCount > 1 ? head.size : undefined,
  };
  let local: ContentDigest = digest;
  const extra = hashingFor(content);
  if ((extra.candidatePartSizes?.length ?? 0) > 0 || extra.checksum !== undefined) {
    local = await hashFile(path.join(root, ...file.path.split('/')), {
      ...extra,
      ...(signal && { signal }),
    });
    hashed.files++;
    hashed.bytes += local.size;
  }
  const verdict = verifyContent(local, content);
  if (verdict.result === 'unknown')
    log.debug(`cannot compare ${file.path}: ${verdict.reason}; it will be transferred`);
  return verdict.result === 'match';
}

/** Counts what was hashed (to show the index at work) and what could not be verified. */
interface HashCounter {
  files: number;
  bytes: number;
  unverified: number;
}

async function knownDigest(
  index: HashIndex,
  root: string,
  file: LocalFile,
  hashed: HashCounter,
  signal: AbortSignal | undefined,
): Promise<KnownDigest> {
  const cached = index.lookup(file.path, file);
  if (cached !== undefined) return { size: cached.size, md5: cached.md5, syncedEtag: cached.etag };
  const hashedAtNs = nowNs();
  const digest = await hashFile(path.join(root, ...file.path.split('/')), {
    size: file.size,
    ...(signal && { signal }),
  });
  hashed.files++;
  hashed.bytes += digest.size;
  index.record(file.path, { ...file, md5: digest.md5, hashedAtNs, ownMtime: false });
  return { size: digest.size, md5: digest.md5 };
}

async function downloadOne(
  ctx: TransferContext,
  index: HashIndex,
  key: string,
  abs: string,
  rel: string,
  counts: HashCounter,
  onBytes: (n: number) => void,
  signal: AbortSignal | undefined,
  known: { size: number; etag: string | undefined },
): Promise<string | undefined> {
  const result = await downloadFile(ctx, key, abs, { signal, onBytes, ...known });
  if (result.unverified !== undefined) {
    counts.unverified++;
    log.warn(`downloaded ${ctx.describe(key)} without verifying it: ${result.unverified}`);
  }
  const s = await stat(abs, { bigint: true });
  const id: FileIdentity = identityOf(s);
  index.record(rel, {
    ...id,
    md5: result.digest.md5,
    hashedAtNs: nowNs(),
    ownMtime: result.lastModified !== undefined,
    etag: result.etag,
  });
  return result.etag;
}

/**
 * The preconditions of a single-file upload with lost-update protection; throws
 * {@link ConflictError} at once when the HEAD already shows another version.
 */
function uploadConditions(
  target: SyncTarget,
  layout: Layout,
  expected: string | null | undefined,
): UploadConditions {
  if (expected === undefined) return {};
  if (layout.tree) {
    throw new ConfigError(`\`ifMatch\` protects the upload of one file; ${target.uri} is a tree`);
  }
  const current = layout.remote[0];
  const want = expected === null ? undefined : normalizeEtag(expected);
  const have = current === undefined ? undefined : (normalizeEtag(current.etag) ?? '');
  if (want !== have) {
    throw new ConflictError(
      `Refusing to upload ${target.localPath} to ${target.uri}: the object changed on the server since it was last seen (expected ${want ?? 'no object'}, found ${have ?? 'no object'})`,
      { operation: 'PutObject', uri: target.uri },
    );
  }
  return want === undefined ? { ifNoneMatch: true } : { ifMatch: `"${want}"` };
}

/**
 * The conditions to retry with when a quoted `If-Match` was refused although the object
 * still has that ETag (servers that compare against the unquoted ETag); else `undefined`.
 */
async function quirkRetry(
  error: unknown,
  target: SyncTarget,
  conditions: UploadConditions,
  signal: AbortSignal | undefined,
): Promise<UploadConditions | undefined> {
  const expected = conditions.ifMatch;
  if (
    !(error instanceof PreconditionFailedError) ||
    expected === undefined ||
    !expected.startsWith('"')
  ) {
    return undefined;
  }
  const head = await target.client.head(target.bucket, target.key, signal);
  if (head === undefined || normalizeEtag(head.etag) !== normalizeEtag(expected)) return undefined;
  log.debug(
    `${target.uri}: the server refused a quoted If-Match for the current ETag; retrying unquoted`,
  );
  return { ...conditions, ifMatch: normalizeEtag(expected) };
}

/** A refused conditional write becomes a {@link ConflictError}. */
function conflictOr(error: unknown, target: SyncTarget): unknown {
  if (!(error instanceof PreconditionFailedError) || error instanceof ConflictError) return error;
  return new ConflictError(
    `Refusing to upload ${target.localPath} to ${target.uri}: the object changed on the server while it was being sent`,
    { operation: error.operation ?? 'PutObject', uri: target.uri, cause: error },
  );
}

/** Preconditions of a single-file upload (lost-update protection, `open('x')`). */
interface UploadConditions {
  ifMatch?: string | undefined;
  ifNoneMatch?: boolean | undefined;
}

async function uploadOne(
  ctx: TransferContext,
  index: HashIndex,
  root: string,
  file: LocalFile | undefined,
  known: KnownDigest | undefined,
  key: string,
  hashed: HashCounter,
  onBytes: (n: number) => void,
  signal: AbortSignal | undefined,
  conditions: UploadConditions = {},
): Promise<string | undefined> {
  if (file === undefined) throw new Error('internal: upload of a file the walk did not find');
  const abs = path.join(root, ...file.path.split('/'));
  const multipart = usesMultipart(ctx, file.size);
  const options = { signal, onBytes, ...conditions, checksumAlgorithm: ctx.checksumAlgorithm };
  const hashedAtNs = nowNs();
  const remember = (digest: FileDigest): void => {
    hashed.files++;
    hashed.bytes += digest.size;
    index.record(file.path, { ...file, md5: digest.md5, hashedAtNs, ownMtime: false });
  };
  let digest: FileDigest;
  let etag: string | undefined;
  if (!multipart && file.size <= SMALL_FILE_SIZE) {
    // One read: the bytes hashed are the bytes sent.
    const body = await readFile(abs, signal ? { signal } : {});
    const cached =
      ctx.checksumAlgorithm === undefined && body.length === file.size ? known : undefined;
    if (cached !== undefined) {
      digest = { size: cached.size, md5: cached.md5 };
    } else {
      digest = await hashBuffer(body, { checksum: ctx.checksumAlgorithm });
      remember(digest);
    }
    etag = await uploadFile(ctx, abs, key, digest, { ...options, body });
  } else {
    // The composite ETag of a multipart upload, or a checksum, needs a pass of its own.
    const cached =
      multipart || ctx.checksumAlgorithm !== undefined
        ? undefined
        : (known ?? index.lookup(file.path, file));
    if (cached !== undefined) {
      digest = { size: cached.size, md5: cached.md5 };
    } else {
      digest = await hashFile(abs, {
        ...(multipart && { partSize: partSizeFor(ctx, file.size) }),
        ...(signal && { signal }),
        checksum: ctx.checksumAlgorithm,
      });
      remember(digest);
    }
    etag = await uploadFile(ctx, abs, key, digest, options);
  }
  index.setEtag(file.path, digest.md5, etag);
  return etag;
}

async function downloadLayout(
  target: SyncTarget,
  isExcluded: (rel: string) => boolean,
  signal: AbortSignal | undefined,
): Promise<Layout> {
  const { client, bucket, key, localPath } = target;
  const localStat = await statLocal(localPath);
  // A local directory means a tree: list it straight away, with no HEAD.
  if (key.endsWith('/') || localStat?.isDirectory() === true) {
    const prefix = key.endsWith('/') ? key : `${key}/`;
    const listed = await listTree(client, bucket, prefix, isExcluded, true, signal);
    if (listed.any) return treeLayout(target, prefix, listed.entries, isExcluded, signal);
    if (key.endsWith('/') || (await client.head(bucket, key, signal)) === undefined) {
      throw notFound(target);
    }
    throw new LocalPathError(
      `Cannot download ${target.uri} to ${localPath}: it is a directory, expected a file`,
      localPath,
    );
  }
  const head = await client.head(bucket, key, signal);
  if (head === undefined) {
    const prefix = `${key}/`;
    const listed = await listTree(client, bucket, prefix, isExcluded, true, signal);
    if (!listed.any) throw notFound(target);
    if (localStat !== undefined) {
      throw new LocalPathError(
        `Cannot download the prefix ${target.uri} to ${localPath}: it is a file, expected a directory`,
        localPath,
      );
    }
    return treeLayout(target, prefix, listed.entries, isExcluded, signal);
  }
  return fileLayout(target, head, localStat);
}

async function uploadLayout(
  target: SyncTarget,
  isExcluded: (rel: string) => boolean,
  signal: AbortSignal | undefined,
): Promise<Layout> {
  const { client, bucket, key, localPath } = target;
  const localStat = await statLocal(localPath);
  if (localStat === undefined) {
    throw new LocalPathError(
      `Cannot upload ${localPath} to ${target.uri}: the local path does not exist`,
      localPath,
    );
  }
  if (localStat.isDirectory()) {
    const prefix = key.endsWith('/') ? key : `${key}/`;
    // Excluded keys stay out whatever they look like: a mirror must never delete them.
    const listed = await listTree(client, bucket, prefix, isExcluded, false, signal);
    return treeLayout(target, prefix, listed.entries, isExcluded, signal);
  }
  if (key.endsWith('/')) {
    throw new LocalPathError(
      `Cannot upload the file ${localPath} to the prefix ${target.uri}: a key ending with "/" names a directory`,
      localPath,
    );
  }
  const head = await client.head(bucket, key, signal);
  return fileLayout(target, head, localStat);
}

/** The local path's bigint stat (identity for the index), or `undefined` when it is missing. */
async function statLocal(localPath: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(localPath, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LocalPathError(`Cannot read ${localPath}: ${(e as Error).message}`, localPath, {
      cause: e,
    });
  }
}

/** A single file as a tree of one entry; the callers have ruled out a local directory. */
function fileLayout(
  target: SyncTarget,
  head: RemoteObject | undefined,
  localStat: BigIntStats | undefined,
): Layout {
  const root = path.dirname(target.localPath);
  const rel = path.basename(target.localPath);
  const local: LocalFile[] =
    localStat === undefined ? [] : [{ path: rel, ...identityOf(localStat) }];
  const remote: RemoteEntry[] =
    head === undefined
      ? []
      : [
          {
            path: rel,
            key: target.key,
            size: head.size,
            etag: head.etag,
            fingerprintMd5: head.fingerprintMd5,
            opaqueEtag: head.opaqueEtag,
          },
        ];
  return { tree: false, root, prefix: target.key, remote, local };
}

async function treeLayout(
  target: SyncTarget,
  prefix: string,
  remote: RemoteEntry[],
  isExcluded: (rel: string) => boolean,
  signal: AbortSignal | undefined,
): Promise<Layout> {
  const local = await walkLocal(target.localPath, isExcluded, signal);
  return { tree: true, root: target.localPath, prefix, remote, local };
}

/** Lists a prefix; `any` tells an empty prefix (only a marker) from a missing one. */
async function listTree(
  client: S3lyncClient,
  bucket: string,
  prefix: string,
  isExcluded: (rel: string) => boolean,
  keepUnsafe: boolean,
  signal: AbortSignal | undefined,
): Promise<{ any: boolean; entries: RemoteEntry[] }> {
  const entries: RemoteEntry[] = [];
  let any = false;
  for await (const page of client.listObjects(bucket, prefix, signal)) {
    for (const o of page) {
      any = true;
      const rel = o.key.slice(prefix.length);
      // Directory markers ("a/b/") hold no data. For downloads, keys that cannot map inside
      // the root are kept whatever the excludes, to be refused loudly rather than skipped.
      if (rel === '' || rel.endsWith('/')) continue;
      if (isExcluded(rel) && !(keepUnsafe && unsafeKeyReason(rel) !== undefined)) continue;
      entries.push({ path: rel, key: o.key, size: o.size, etag: o.etag });
    }
  }
  return { any, entries };
}

/** Moves keys that cannot map inside the root out of the plan, as failures. */
function refuseUnsafeKeys(layout: Layout, failures: SyncFailure[]): void {
  const conflicts = fileDirectoryConflicts(layout.remote.map((r) => r.path));
  layout.remote = layout.remote.filter((r) => {
    try {
      resolveKeyPath(layout.root, r.path);
    } catch (error) {
      failures.push({ path: r.path, error });
      return false;
    }
    if (conflicts.has(r.path)) {
      failures.push({
        path: r.path,
        error: new UnsafePathError(
          `Refusing key ${JSON.stringify(r.key)}: other keys need ${r.path} to be a directory, so it cannot also be a file`,
          absolutePath(layout, r.path),
        ),
      });
      return false;
    }
    return true;
  });
}

async function deleteLocal(
  layout: Layout,
  deletes: SyncAction[],
  index: HashIndex,
  result: SyncResult,
  failures: SyncFailure[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const dirs = new Set<string>();
  for (const action of deletes) {
    signal?.throwIfAborted();
    try {
      await rm(absolutePath(layout, action.path));
      index.forget(action.path);
      result.deleted++;
      result.actions.push(action);
      const parts = action.path.split('/');
      for (let i = parts.length - 1; i > 0; i--) dirs.add(parts.slice(0, i).join('/'));
    } catch (error) {
      failures.push({ path: action.path, error });
    }
  }
  // Deepest first; a directory that still holds anything (an excluded file) stays.
  for (const dir of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    await rmdir(absolutePath(layout, dir)).catch(() => undefined);
  }
}

async function deleteRemote(
  target: SyncTarget,
  deletes: SyncAction[],
  result: SyncResult,
  failures: SyncFailure[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const byKey = new Map(deletes.map((a) => [a.key, a]));
  const { deleted, failed } = await target.client.deleteObjects(
    target.bucket,
    [...byKey.keys()],
    signal,
  );
  for (const key of deleted) {
    const action = byKey.get(key);
    if (action === undefined) continue;
    result.deleted++;
    result.actions.push(action);
  }
  for (const f of failed) failures.push({ path: byKey.get(f.key)?.path ?? f.key, error: f.error });
}

function notFound(target: SyncTarget): NotFoundError {
  return new NotFoundError(`${target.uri} does not exist: it is neither an object nor a prefix`, {
    operation: 'download',
    uri: target.uri,
  });
}

/**
 * Uploads `sourcePath` to a key that must not exist yet (`If-None-Match: *`): the
 * `open('x')` path. Nothing is compared first; the server decides.
 *
 * @throws {PreconditionFailedError} when the key exists.
 */
export async function uploadNew(
  target: SyncTarget,
  sourcePath: string,
  options: Pick<SyncOptions, 'signal' | 'onProgress' | 'progressMode'> = {},
): Promise<void> {
  const { signal } = options;
  const size = (await stat(sourcePath)).size;
  const ctx = transferContext(target);
  const multipart = usesMultipart(ctx, size);
  const digest = await hashFile(sourcePath, {
    ...(multipart && { partSize: partSizeFor(ctx, size) }),
    ...(signal && { signal }),
  });
  const progress = progressFor(target, options, 'upload');
  progress.expect(1, size);
  const file = progress.start({
    direction: 'upload',
    key: target.key,
    path: target.localPath,
    size,
  });
  try {
    await uploadFile(ctx, sourcePath, target.key, digest, {
      signal,
      onBytes: file.advance,
      ifNoneMatch: true,
    });
    file.finish();
  } finally {
    progress.close();
  }
}
