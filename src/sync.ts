/**
 * Runs a sync: the local walk, then the listing page by page, each page matched against
 * the walk and its transfers started while the next page is listed (bounded in parallel);
 * for a mirror, deletions once the listing is complete and every transfer succeeded. A
 * single file is a tree of one entry, so both go the same way.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

import pLimit from 'p-limit';

import type { ChecksumAlgorithm } from './checksum.js';
import type { ListedObject, RemoteObject, S3lyncClient } from './client.js';
import {
  ConfigError,
  ConflictError,
  ListingError,
  LocalPathError,
  localPathErrorOf,
  NotFoundError,
  PreconditionFailedError,
  S3lyncError,
  SyncError,
  UnsafePathError,
} from './exceptions.js';
import { compileExcludes, patternSource } from './excludes.js';
import {
  hashBuffer,
  hashFile,
  normalizeEtag,
  SMALL_FILE_SIZE,
  type FileDigest,
  type LocalDigest,
} from './hash.js';
import { HashIndex, indexFileFor } from './hash-index.js';
import { fileKind, LocalRoot, readRegularFile } from './local-root.js';
import { LocalTree, walkLocalTree, type LocalFile } from './local-tree.js';
import { getLogger } from './logging.js';
import {
  contentVerdict,
  decidePair,
  deleteAction,
  TreeMatcher,
  type KnownDigest,
  type MatchedPair,
  type MatchStep,
  type RefusedEntry,
  type RemoteEntry,
} from './plan.js';
import { ProgressBar, type ProgressCallback, type ProgressMode } from './progress.js';
import { downloadFile, uploadFile, usesMultipart, type TransferContext } from './transfer.js';
import { formatBytes, isTempName, unsafeKeyReason } from './utils.js';
import { hashingFor, verifyContent, type ContentDigest, type RemoteContent } from './verify.js';
import type {
  Direction,
  SkippedEntry,
  SyncAction,
  SyncFailure,
  SyncResult,
  TransferReason,
} from './result.js';
import { nowNs, type FileIdentity, identityOf } from './identity.js';

const log = getLogger('sync');

/** Options of a sync (`download()`, `upload()`, `sync()`). */
export interface SyncOptions {
  /** Compare MD5s to skip unchanged files; without it, equal sizes count as unchanged. @default true */
  useChecksum?: boolean;
  /** Extra excludes for this call, added to the object's. @default none */
  excludes?: readonly (string | RegExp)[];
  /** Overrides the object's progress mode for this call. @default the object's */
  progressMode?: ProgressMode;
  /** Overrides the object's `followSymlinks` for this call. @default the object's */
  followSymlinks?: boolean;
  /** Delete what the source lacks at the destination (excluded paths never). @default false */
  mirror?: boolean;
  /**
   * Refuse a mirror that would delete more than this many files, before anything changes.
   * With a finite value, transfers wait until the listing is complete (so a refusal changes
   * nothing); otherwise they start as the pages of the listing arrive. Deletions always wait
   * for the whole listing and every transfer.
   * @default Infinity
   */
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
  /** Follow symbolic links that lead out of the root or to directories. */
  followSymlinks?: boolean | undefined;
}

/**
 * Runs tasks with bounded concurrency; `pLimit(n)` from p-limit is one. Share one between
 * objects to bound the files in flight across all of them.
 */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Parts in flight per multipart upload; large files share the concurrency budget. */
const PARTS_PER_UPLOAD = 4;

/**
 * Matches every key {@link unsafeKeyReason} refuses (an empty, "." or ".." segment, a
 * leading "/", NUL, a Windows separator or drive), and few others: a cheap first test.
 */
const MAYBE_UNSAFE = /(?:^|\/)\.{0,2}(?:\/|$)|[\0\\:]/;

/** Tasks started but not settled, at most, before the next page of the listing is asked for. */
const MAX_QUEUED_TASKS = 1000;

interface Layout {
  tree: boolean;
  /** The local root: the directory of a tree, the parent directory of a file. */
  root: string;
  /** The key prefix of a tree (ends with `/`), or the key of a file. */
  prefix: string;
  /** The remote entries, relative to the root, page by page as listed. */
  pages: AsyncIterable<RemoteEntry[]> | Iterable<RemoteEntry[]>;
  /** Local files, relative to the root, in key order. */
  local: LocalTree;
  /** For one object: what its HEAD said (`undefined`: no such object). */
  head?: RemoteEntry | undefined;
}

/** A transfer decided by the plan, with what running it needs. */
interface Transfer {
  action: Extract<SyncAction, { op: 'download' | 'upload' }>;
  /** The local file (uploads). */
  file?: LocalFile | undefined;
  /** Its digest, when known (uploads). */
  digest?: KnownDigest | undefined;
  /** The listed ETag (downloads). */
  etag?: string | undefined;
}

/**
 * Promises started and not yet settled, counted rather than kept, so a sync of a million
 * files does not hold a million promises. Tasks report their own per-file failures; what
 * reaches the group (an abort) is kept and thrown by {@link TaskGroup.drain}.
 */
class TaskGroup {
  private running = 0;
  private waiters: (() => void)[] = [];
  private error: { reason: unknown } | undefined;

  /** Whether a task rejected. */
  get failed(): boolean {
    return this.error !== undefined;
  }

  add(task: Promise<unknown>): void {
    this.running++;
    task.then(
      () => {
        this.settle();
      },
      (reason: unknown) => {
        this.error ??= { reason };
        this.settle();
      },
    );
  }

  /** Waits until at most `n` tasks are running. */
  async below(n: number): Promise<void> {
    while (this.running > n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Waits for every task; rethrows the first rejection. */
  async drain(): Promise<void> {
    await this.below(0);
    if (this.error !== undefined) throw this.error.reason;
  }

  private settle(): void {
    this.running--;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
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
  const failures: SyncFailure[] = [];
  const skipped: SkippedEntry[] = [];
  const scope: Scope = {
    isExcluded,
    signal,
    followSymlinks: options.followSymlinks ?? target.followSymlinks ?? false,
    failures,
    skipped,
  };
  const layout =
    direction === 'download'
      ? await downloadLayout(target, scope)
      : await uploadLayout(target, scope);
  const { local, root } = layout;
  const door = new LocalRoot(root);
  // What the walk could not read fails on its own in an upload; a download never needs it.
  for (const problem of local.problems) {
    if (direction === 'upload') failures.push(problem);
    else
      skipped.push({ side: 'local', path: problem.path, reason: (problem.error as Error).message });
  }
  skipped.push(...local.skipped);
  const conditions =
    direction === 'upload' ? uploadConditions(target, layout, options.expectedEtag) : {};

  const index =
    target.indexDir === undefined
      ? HashIndex.disabled()
      : await HashIndex.load(indexFileFor(target.indexDir, root));
  index.keepSorted(local.paths);
  const useChecksum = options.useChecksum ?? true;
  const mirror = options.mirror ?? false;
  const dryRun = options.dryRun ?? false;
  // A finite maxDelete promises that a refused mirror changes nothing, so transfers wait
  // until the listing is complete and the deletions are counted.
  const deferred = dryRun || (mirror && maxDelete !== Number.POSITIVE_INFINITY);
  const limit: Limiter = options.limiter ?? target.limiter ?? pLimit(target.maxConcurrency);
  const keyOf = (rel: string): string => (layout.tree ? `${layout.prefix}${rel}` : layout.prefix);

  const result: SyncResult = {
    direction,
    dryRun,
    tree: layout.tree,
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
  const hashed: HashCounter = { files: 0, bytes: 0, unverified: 0 };
  const tasks = new TaskGroup();
  const ctx = transferContext(target, door);
  const largeLimit = pLimit(Math.max(1, Math.floor(target.maxConcurrency / ctx.queueSize)));
  const progress = dryRun ? undefined : progressFor(target, options, direction);
  /** Deferred transfers in plan order; a slot stays empty until its digest decides it. */
  const planned: (Transfer | undefined)[] = [];
  const deletes: SyncAction[] = [];
  // What a single object ends up with: the HEAD's ETag, unless a transfer replaces it.
  let fileEtag = layout.head?.etag;

  const start = (t: Transfer): void => {
    const { action } = t;
    progress?.expect(1, action.size);
    const run = async (): Promise<void> => {
      signal?.throwIfAborted();
      const abs = door.resolve(action.path);
      const file = progress?.start({
        direction: action.op,
        key: action.key,
        path: abs,
        size: action.size,
      });
      const advance = file?.advance ?? (() => undefined);
      try {
        let etag: string | undefined;
        if (action.op === 'download') {
          etag = await downloadOne(ctx, index, action.key, action.path, hashed, advance, signal, {
            size: action.size,
            etag: t.etag,
          });
        } else {
          const send = (preconditions: UploadConditions): Promise<string | undefined> =>
            uploadOne(
              ctx,
              index,
              door,
              t.file,
              t.digest,
              action.key,
              hashed,
              advance,
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
        file?.finish();
        result.transferred++;
        result.bytes += action.size;
        result.actions.push(action);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        failures.push({ path: action.path, error });
        log.debug(`failed ${action.op} ${action.path}: ${(error as Error).message}`);
      }
    };
    const large = usesMultipart(ctx, action.size);
    // Large files wait for the part budget before taking a file slot, so they never hold one idle.
    tasks.add(large ? largeLimit(() => limit(run)) : limit(run));
  };
  /** Runs a decided transfer now, or keeps it for later (a dry run, a finite maxDelete). */
  const decided = (t: Transfer, slot?: number): void => {
    if (!deferred) {
      start(t);
      return;
    }
    // A dry run keeps only the action: at a million keys the rest would double the plan.
    const kept = dryRun ? { action: t.action } : t;
    if (slot === undefined) planned.push(kept);
    else planned[slot] = kept;
  };
  const transfer = (
    reason: TransferReason,
    rel: string,
    remote: RemoteEntry | undefined,
    row: number,
    digest?: KnownDigest,
    slot?: number,
  ): void => {
    if (direction === 'download' && remote !== undefined) {
      const action: Transfer['action'] = {
        op: 'download',
        path: rel,
        key: remote.key,
        size: remote.size,
        reason,
      };
      decided({ action, etag: remote.etag }, slot);
    } else {
      const file = local.file(row);
      const action: Transfer['action'] = {
        op: 'upload',
        path: rel,
        key: keyOf(rel),
        size: file.size,
        reason,
      };
      decided({ action, file, digest }, slot);
    }
  };

  const onPair = ({ remote, local: row }: MatchedPair): void => {
    const rel = remote.path;
    if (direction === 'download' && layout.tree && MAYBE_UNSAFE.test(rel)) {
      try {
        door.resolve(rel);
      } catch (error) {
        failures.push({ path: rel, error });
        return;
      }
    }
    if (direction === 'upload' && row < 0) {
      if (mirror) deletes.push(deleteAction('remote', rel, remote.key, remote.size));
      return;
    }
    const pair = decidePair(
      direction,
      remote,
      row < 0 ? undefined : { path: rel, size: local.sizeOf(row) },
      useChecksum,
    );
    if (pair === 'unchanged') result.unchanged++;
    else if (pair !== 'digest') transfer(pair, rel, remote, row);
    else decideByDigest(rel, remote, row);
  };
  /** A same-size pair: the index decides at once, or hashing (and a HEAD) later. */
  const decideByDigest = (rel: string, remote: RemoteEntry, row: number): void => {
    const file = local.file(row);
    const cached = index.lookup(rel, file);
    const known: KnownDigest | undefined =
      cached === undefined
        ? undefined
        : { size: cached.size, md5: cached.md5, syncedEtag: cached.etag };
    const verdict = known === undefined ? 'unknown' : contentVerdict(known, remote);
    if (verdict === 'unchanged') {
      result.unchanged++;
      return;
    }
    if (verdict === 'checksum') {
      transfer('checksum', rel, remote, row, known);
      return;
    }
    const slot = deferred ? planned.push(undefined) - 1 : undefined;
    const work = async (): Promise<void> => {
      // An entry without an MD5 (known by an ETag the listing no longer has) is a miss.
      const digest: LocalDigest =
        known?.md5 !== undefined
          ? { size: known.size, md5: known.md5 }
          : await hashLocal(index, door, file, hashed, signal);
      let equal = contentVerdict(digest, remote);
      // Only a same-size pair the MD5 and the index cannot decide needs the server's help.
      if (equal === 'unknown') {
        const same = await resolveUnknown(target, door, file, remote, digest, hashed, signal);
        if (same) index.setEtag(rel, digest.md5, remote.etag);
        equal = same ? 'unchanged' : 'checksum';
      }
      if (equal === 'unchanged') result.unchanged++;
      else transfer('checksum', rel, remote, row, digest, slot);
    };
    tasks.add(
      limit(work).catch((error: unknown) => {
        if (signal?.aborted) throw signal.reason;
        failures.push({ path: rel, error });
      }),
    );
  };
  const onRefused = ({ remote, conflict, other }: RefusedEntry): void => {
    const rel = remote.path;
    try {
      door.resolve(rel);
    } catch (error) {
      failures.push({ path: rel, error });
      return;
    }
    const why =
      conflict === 'needed-as-directory'
        ? `other keys need ${rel} to be a directory, so it cannot also be a file`
        : `${other} is a file here, so it cannot also be a directory`;
    failures.push({
      path: rel,
      error: new UnsafePathError(
        `Refusing key ${JSON.stringify(remote.key)}: ${why}`,
        door.resolve(rel),
      ),
    });
  };
  const onLocalOnly = (row: number): void => {
    const rel = local.paths[row] ?? '';
    if (direction === 'upload') transfer('missing', rel, undefined, row);
    else if (mirror) deletes.push(deleteAction('local', rel, keyOf(rel), local.sizeOf(row)));
  };
  const apply = (step: MatchStep): void => {
    for (const r of step.refused) onRefused(r);
    for (const p of step.pairs) onPair(p);
    for (const row of step.localOnly) onLocalOnly(row);
  };

  const matcher = new TreeMatcher({
    local: local.paths,
    conflicts: direction === 'download' && layout.tree,
    earlyLocalOnly: direction === 'upload',
  });
  try {
    // Each page is decided as it arrives; its transfers start while the next one is listed.
    for await (const page of layout.pages) {
      signal?.throwIfAborted();
      apply(matcher.page(page));
      await tasks.below(MAX_QUEUED_TASKS);
      if (tasks.failed) break;
    }
    signal?.throwIfAborted();
    if (!tasks.failed) apply(matcher.end());
    if (!matcher.inOrder) log.debug(`${target.uri}: the listing was not in key order`);
    await tasks.drain();
  } catch (error) {
    // Settle every task before rejecting (a failed listing, an abort), so no temp file or
    // request outlives the promise; nothing is deleted.
    await tasks.below(0);
    if (!dryRun) await index.save({ prune: false });
    progress?.close();
    throw error;
  }

  if (deletes.length > maxDelete) {
    progress?.close();
    throw new S3lyncError(
      `Refusing to mirror ${target.uri}: it would delete ${deletes.length} files, more than maxDelete (${maxDelete}). Nothing was changed.`,
    );
  }
  if (dryRun) {
    for (const t of planned) {
      if (t === undefined) continue;
      // The plan promises only what the real run would do: no download through a link.
      const refused =
        t.action.op === 'download'
          ? await door.checkWritable(t.action.path).catch((error: unknown) => error)
          : undefined;
      if (refused === undefined) result.actions.push(t.action);
      else failures.push({ path: t.action.path, error: refused });
    }
    result.actions.push(...deletes);
    result.failed = failures.length;
    result.hashedFiles = hashed.files;
    result.hashedBytes = hashed.bytes;
    result.durationMs = Date.now() - started;
    return result;
  }
  try {
    for (const t of planned) {
      if (t === undefined) continue;
      start(t);
      await tasks.below(MAX_QUEUED_TASKS);
    }
    planned.length = 0;
    await tasks.drain();
  } catch (error) {
    await tasks.below(0);
    await index.save({ prune: false });
    throw error;
  } finally {
    progress?.close();
  }
  signal?.throwIfAborted();

  if (deletes.length > 0) {
    if (failures.length > 0) {
      log.warn(`not deleting anything under ${target.uri}: ${failures.length} files failed`);
    } else if (direction === 'download') {
      await deleteLocal(door, deletes, index, result, failures, signal);
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
    // A disk error names the file it concerns, as a LocalPathError.
    for (const f of failures) {
      const abs = path.join(root, ...f.path.split('/'));
      f.error = localPathErrorOf(f.error, `${direction} ${f.path}`, abs) ?? f.error;
    }
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

function transferContext(target: SyncTarget, root: LocalRoot): TransferContext {
  return {
    client: target.client,
    bucket: target.bucket,
    describe: target.describe,
    multipartThreshold: target.multipartThreshold,
    partSize: target.partSize,
    queueSize: Math.min(PARTS_PER_UPLOAD, target.maxConcurrency),
    checksumAlgorithm: target.checksumAlgorithm,
    root,
    rangeThreshold: target.rangeThreshold,
  };
}

/**
 * Decides a same-size pair whose listed ETag cannot (a multipart or encrypted object the
 * index has not seen): one HEAD for the fingerprint, part layout and checksum, then, if
 * need be, one pass over the local file computing the candidate composites. Returns
 * whether the contents are equal; `false` also when it cannot tell (the file is sent).
 */
async function resolveUnknown(
  target: SyncTarget,
  root: LocalRoot,
  file: LocalFile,
  remote: RemoteEntry,
  digest: LocalDigest,
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
    // The MD5 is known: this pass adds only what it lacked.
    local = await hashFile(root.resolve(file.path), {
      ...extra,
      knownMd5: digest.md5,
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

/** Hashes a local file and records its digest in the index. */
async function hashLocal(
  index: HashIndex,
  root: LocalRoot,
  file: LocalFile,
  hashed: HashCounter,
  signal: AbortSignal | undefined,
): Promise<LocalDigest> {
  const hashedAtNs = nowNs();
  const digest = await hashFile(root.resolve(file.path), {
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
  rel: string,
  counts: HashCounter,
  onBytes: (n: number) => void,
  signal: AbortSignal | undefined,
  known: { size: number; etag: string | undefined },
): Promise<string | undefined> {
  const result = await downloadFile(ctx, key, rel, { signal, onBytes, ...known });
  if (result.unverified !== undefined) {
    counts.unverified++;
    log.warn(`downloaded ${ctx.describe(key)} without verifying it: ${result.unverified}`);
  }
  const s = await stat(ctx.root.resolve(rel), { bigint: true });
  const id: FileIdentity = identityOf(s);
  // Without an MD5 (a download verified by its multipart ETag) the ETag is the identity.
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
  const current = layout.head;
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
  root: LocalRoot,
  file: LocalFile | undefined,
  known: KnownDigest | undefined,
  key: string,
  hashed: HashCounter,
  onBytes: (n: number) => void,
  signal: AbortSignal | undefined,
  conditions: UploadConditions = {},
): Promise<string | undefined> {
  if (file === undefined) throw new Error('internal: upload of a file the walk did not find');
  const abs = root.resolve(file.path);
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
    const body = await readRegularFile(abs, signal);
    const cached =
      ctx.checksumAlgorithm === undefined && body.length === file.size ? known?.md5 : undefined;
    if (cached !== undefined) {
      digest = { size: file.size, md5: cached };
    } else {
      digest = await hashBuffer(body, { checksum: ctx.checksumAlgorithm });
      remember(digest);
    }
    ({ etag } = await uploadFile(ctx, abs, key, digest, { ...options, body }));
  } else {
    // A known MD5 spares a PUT its hashing pass and is a multipart upload's fingerprint.
    // Unknown (or an index entry without one), a PUT hashes the file first, a multipart
    // upload hashes the parts it reads.
    const cached =
      multipart || ctx.checksumAlgorithm === undefined
        ? (known?.md5 ?? index.lookup(file.path, file)?.md5)
        : undefined;
    const source = cached === undefined ? { size: file.size } : { size: file.size, md5: cached };
    ({ digest, etag } = await uploadFile(ctx, abs, key, source, options));
    if (cached === undefined) remember(digest);
  }
  index.setEtag(file.path, digest.md5, etag);
  return etag;
}

/** What the layout and the listing need from the run, and where they report. */
interface Scope {
  isExcluded: (rel: string) => boolean;
  signal: AbortSignal | undefined;
  followSymlinks: boolean;
  /** Entries refused (a key outside the prefix, an absurd size). */
  failures: SyncFailure[];
  /** Entries left alone on purpose, with why. */
  skipped: SkippedEntry[];
}

async function downloadLayout(target: SyncTarget, scope: Scope): Promise<Layout> {
  const { client, bucket, key, localPath } = target;
  const { signal } = scope;
  const localStat = await statLocal(localPath);
  // A local directory means a tree: list it straight away, with no HEAD.
  if (key.endsWith('/') || localStat?.isDirectory() === true) {
    const prefix = key.endsWith('/') ? key : `${key}/`;
    const listing = await openListing(client, bucket, prefix, scope, true);
    if (listing.any) return treeLayout(target, prefix, listing.pages, scope);
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
    const listing = await openListing(client, bucket, prefix, scope, true);
    if (!listing.any) throw notFound(target);
    if (localStat !== undefined) {
      throw new LocalPathError(
        `Cannot download the prefix ${target.uri} to ${localPath}: it is a file, expected a directory`,
        localPath,
      );
    }
    return treeLayout(target, prefix, listing.pages, scope);
  }
  return fileLayout(target, head, localStat);
}

async function uploadLayout(target: SyncTarget, scope: Scope): Promise<Layout> {
  const { client, bucket, key, localPath } = target;
  const { signal } = scope;
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
    const listing = await openListing(client, bucket, prefix, scope, false);
    return treeLayout(target, prefix, listing.pages, scope);
  }
  if (!localStat.isFile()) {
    // Opening a FIFO would wait for a writer for ever; a device is no file to upload.
    throw new LocalPathError(
      `Cannot upload ${localPath} to ${target.uri}: it is ${fileKind(localStat)}, not a regular file`,
      localPath,
    );
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
  const local = LocalTree.of(
    localStat === undefined ? [] : [{ path: rel, ...identityOf(localStat) }],
  );
  const entry: RemoteEntry | undefined =
    head === undefined
      ? undefined
      : {
          path: rel,
          key: target.key,
          size: head.size,
          etag: head.etag,
          fingerprintMd5: head.fingerprintMd5,
          opaqueEtag: head.opaqueEtag,
        };
  const pages = entry === undefined ? [] : [[entry]];
  return { tree: false, root, prefix: target.key, pages, local, head: entry };
}

async function treeLayout(
  target: SyncTarget,
  prefix: string,
  pages: AsyncIterable<RemoteEntry[]>,
  scope: Scope,
): Promise<Layout> {
  const local = await walkLocalTree(target.localPath, scope.isExcluded, scope);
  return { tree: true, root: target.localPath, prefix, pages, local };
}

/**
 * Starts listing a prefix: reads up to the first page with an object, so `any` tells an
 * empty prefix (only a marker) from a missing one, and yields the entries page by page.
 * The listing is untrusted input: see {@link remoteEntries}.
 */
async function openListing(
  client: S3lyncClient,
  bucket: string,
  prefix: string,
  scope: Scope,
  keepUnsafe: boolean,
): Promise<{ any: boolean; pages: AsyncIterable<RemoteEntry[]> }> {
  const listed = client.listObjects(bucket, prefix, scope.signal);
  const first: ListedObject[][] = [];
  let next = await listed.next();
  while (!next.done) {
    first.push(next.value);
    if (next.value.length > 0) break;
    next = await listed.next();
  }
  const done = next.done === true;
  const entries = (page: ListedObject[]): RemoteEntry[] =>
    remoteEntries(page, prefix, scope, keepUnsafe);
  const pages = async function* (): AsyncGenerator<RemoteEntry[]> {
    try {
      for (const page of first.splice(0)) yield entries(page);
      if (done) return;
      for (let n = await listed.next(); n.done !== true; n = await listed.next()) {
        yield entries(n.value);
      }
    } finally {
      await listed.return(undefined);
    }
  };
  return { any: first.some((p) => p.length > 0), pages: pages() };
}

/**
 * The entries of one listing page, relative to the prefix. A key outside the prefix or
 * with an impossible size is refused (a failure, so a mirror deletes nothing); directory
 * markers ("a/b/") are dropped, and reported when they hold bytes; keys named like
 * s3lync's temp files are left alone, as the walk leaves them. For downloads, keys that
 * cannot map inside the root are kept whatever the excludes, to be refused loudly rather
 * than skipped.
 */
function remoteEntries(
  page: readonly ListedObject[],
  prefix: string,
  scope: Scope,
  keepUnsafe: boolean,
): RemoteEntry[] {
  const out: RemoteEntry[] = [];
  for (const o of page) {
    if (!o.key.startsWith(prefix)) {
      scope.failures.push({
        path: o.key,
        error: new ListingError(
          `The listing of ${JSON.stringify(prefix)} holds ${JSON.stringify(o.key)}, which is outside that prefix: refused`,
          { operation: 'ListObjectsV2' },
        ),
      });
      continue;
    }
    const rel = o.key.slice(prefix.length);
    if (!Number.isSafeInteger(o.size) || o.size < 0) {
      scope.failures.push({
        path: rel,
        error: new ListingError(
          `The listing gives ${JSON.stringify(o.key)} an impossible size (${o.size}): refused`,
          { operation: 'ListObjectsV2' },
        ),
      });
      continue;
    }
    if (rel === '' || rel.endsWith('/')) {
      if (o.size > 0 && !scope.isExcluded(rel.slice(0, -1))) {
        skipRemote(
          scope,
          rel === '' ? o.key : rel,
          `it ends with "/" and holds ${o.size} bytes; a key ending with "/" cannot be a local file`,
        );
      }
      continue;
    }
    if (scope.isExcluded(rel) && !(keepUnsafe && unsafeKeyReason(rel) !== undefined)) continue;
    if (isTempName(rel.slice(rel.lastIndexOf('/') + 1))) {
      skipRemote(scope, rel, "it is named like one of s3lync's temp files");
      continue;
    }
    out.push({ path: rel, key: o.key, size: o.size, etag: o.etag });
  }
  return out;
}

function skipRemote(scope: Scope, rel: string, reason: string): void {
  scope.skipped.push({ side: 'remote', path: rel, reason });
  log.warn(`skipping the key ${JSON.stringify(rel)}: ${reason}`);
}

async function deleteLocal(
  root: LocalRoot,
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
      await root.remove(action.path);
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
    await root.removeEmptyDir(dir);
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
  const ctx = transferContext(target, new LocalRoot(path.dirname(target.localPath)));
  const progress = progressFor(target, options, 'upload');
  progress.expect(1, size);
  const file = progress.start({
    direction: 'upload',
    key: target.key,
    path: target.localPath,
    size,
  });
  try {
    await uploadFile(
      ctx,
      sourcePath,
      target.key,
      { size },
      {
        signal,
        onBytes: file.advance,
        ifNoneMatch: true,
      },
    );
    file.finish();
  } finally {
    progress.close();
  }
}
