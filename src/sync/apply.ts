/**
 * Applying a decision to one file: a download or an upload with the hash index kept
 * in step, the digest a same-size pair needs, and a mirror's deletions.
 *
 * @packageDocumentation
 */
import { stat } from 'node:fs/promises';

import { PreconditionFailedError } from '../exceptions.js';
import { hashBuffer, hashFile, md5Hex, SMALL_FILE_SIZE, type ReceivedDigest } from '../hash.js';
import type { HashIndex } from '../hash-index.js';
import { identityOf, nowNs } from '../identity.js';
import { readRegularFile, readRegularFileSync, type LocalRoot } from '../local-root.js';
import type { LocalFile } from '../local-tree.js';
import { getLogger } from '../logging.js';
import type { KnownDigest, RemoteEntry } from '../plan.js';
import { ProgressBar } from '../progress.js';
import type { Direction, SyncAction, SyncResult } from '../result.js';
import {
  downloadFile,
  uploadFile,
  usesMultipart,
  type DownloadedFile,
  type TransferContext,
} from '../transfer.js';
import { hashingFor, verifyContent, type ContentDigest, type RemoteContent } from '../verify.js';
import type { UploadConditions } from './conditions.js';
import type { SyncOptions, SyncTarget } from './options.js';
import type { SyncFailure } from '../result.js';
import type { LocalDigest } from '../etag.js';

const log = getLogger('sync');

/** Parts in flight per multipart upload; large files share the concurrency budget. */
const PARTS_PER_UPLOAD = 4;

export function progressFor(
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

export function transferContext(target: SyncTarget, root: LocalRoot): TransferContext {
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
    paramsFor: target.paramsFor,
  };
}

/**
 * Decides a same-size pair whose listed ETag cannot (a multipart or encrypted object the
 * index has not seen): one HEAD for the fingerprint, part layout and checksum, then, if
 * need be, one pass over the local file computing the candidate composites. Returns
 * whether the contents are equal; `false` also when it cannot tell (the file is sent).
 */
export async function resolveUnknown(
  run: FileRun,
  file: LocalFile,
  remote: RemoteEntry,
  digest: LocalDigest,
): Promise<boolean> {
  const { ctx, signal } = run;
  const { partNumberHead } = await ctx.client.capabilities();
  const head = await ctx.client
    .head(ctx.bucket, remote.key, signal, {
      ...(partNumberHead !== false && { partNumber: 1 }),
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
    local = await hashFile(ctx.root.resolve(file.path), {
      ...extra,
      knownMd5: digest.md5,
      ...(signal && { signal }),
    });
    run.hashed.files++;
    run.hashed.bytes += local.size;
  }
  const verdict = verifyContent(local, content);
  if (verdict.result === 'unknown')
    log.debug(`cannot compare ${file.path}: ${verdict.reason}; it will be transferred`);
  return verdict.result === 'match';
}

/** Counts what was hashed (to show the index at work) and what could not be verified. */
export interface HashCounter {
  files: number;
  bytes: number;
  unverified: number;
}

/** What applying a decision to one file needs, shared by every file of a sync. */
export interface FileRun {
  /** Where files go and how they move. */
  ctx: TransferContext;
  /** The hash index, kept in step with every file read or written. */
  index: HashIndex;
  /** What was hashed, and what could not be verified. */
  hashed: HashCounter;
  signal: AbortSignal | undefined;
  /** Downloads that could not be verified, kept only when the caller asked (`onVerified`). */
  unverifiedPaths?: Set<string> | undefined;
}

/** The MD5 of no bytes: the digest of every empty file. */
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/**
 * Files up to this size are hashed from one synchronous read: through libuv's threadpool
 * the open, fstat, read and close of a small file cost about four times the system calls
 * themselves (measured: 210 against 50 CPU µs for a 4 KiB file, its MD5 included), and the page cache answers a
 * read this small in microseconds.
 */
export const TINY_FILE_SIZE = 64 * 1024;

/** Synchronous reads between two turns of the event loop, which they block meanwhile. */
const SYNC_READ_BATCH = 64;
let syncReads = 0;

/**
 * The digest of a file the walk found empty, recorded in the index without opening it: the
 * walk's stat saw its content. The entry is stamped with a time no later than that stat
 * (`statedFromNs`), so {@link isTrusted}'s racy margin holds as for a read. `undefined`
 * when the file is not empty or the stat's time is unknown: it has to be read.
 */
export function emptyFileDigest(
  run: FileRun,
  file: LocalFile,
  statedFromNs: bigint | undefined,
): LocalDigest | undefined {
  if (file.size !== 0 || statedFromNs === undefined) return undefined;
  run.hashed.files++;
  run.index.record(file.path, {
    ...file,
    md5: EMPTY_MD5,
    hashedAtNs: statedFromNs,
    ownMtime: false,
  });
  return { size: 0, md5: EMPTY_MD5 };
}

/** Hashes a local file and records its digest in the index. */
export async function hashLocal(run: FileRun, file: LocalFile): Promise<LocalDigest> {
  const { hashed, signal } = run;
  const hashedAtNs = nowNs();
  const abs = run.ctx.root.resolve(file.path);
  let digest: LocalDigest | undefined;
  if (file.size <= TINY_FILE_SIZE) {
    signal?.throwIfAborted();
    if (++syncReads % SYNC_READ_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
    const data = readRegularFileSync(abs, TINY_FILE_SIZE);
    // A file that grew past the limit since the walk is read like a large one.
    if (data !== undefined) digest = { size: data.length, md5: md5Hex(data) };
  }
  digest ??= await hashFile(abs, { size: file.size, ...(signal && { signal }) });
  hashed.files++;
  hashed.bytes += digest.size;
  run.index.record(file.path, { ...file, md5: digest.md5, hashedAtNs, ownMtime: false });
  return { size: digest.size, md5: digest.md5 };
}

/** One download: the key, where it lands, and what the listing said of it. */
export interface DownloadJob {
  key: string;
  rel: string;
  size: number;
  etag: string | undefined;
  onBytes: (n: number) => void;
}

/** Downloads one file and records it in the index; resolves to the ETag it got. */
export async function downloadOne(run: FileRun, job: DownloadJob): Promise<string | undefined> {
  const { ctx, signal } = run;
  const { key, rel, onBytes } = job;
  const result = await downloadFile(ctx, key, rel, {
    signal,
    onBytes,
    size: job.size,
    etag: job.etag,
  });
  await recordDownload(run, key, rel, result);
  return result.etag;
}

/**
 * Keeps the index in step with a download that landed at `rel`: its identity, MD5 and ETag
 * (without an MD5, a download verified by its multipart ETag, the ETag is the identity).
 * One that could not be verified is counted and logged.
 */
export async function recordDownload(
  run: Pick<FileRun, 'ctx' | 'index' | 'hashed' | 'unverifiedPaths'>,
  key: string,
  rel: string,
  result: DownloadedFile,
): Promise<void> {
  const { ctx, index } = run;
  if (result.unverified !== undefined) {
    run.hashed.unverified++;
    run.unverifiedPaths?.add(rel);
    log.warn(`downloaded ${ctx.describe(key)} without verifying it: ${result.unverified}`);
  }
  const s = await stat(ctx.root.resolve(rel), { bigint: true });
  index.record(rel, {
    ...identityOf(s),
    md5: result.digest.md5,
    hashedAtNs: nowNs(),
    ownMtime: result.lastModified !== undefined,
    etag: result.etag,
  });
}

/** One upload: the file the walk found, what is known of it, and where it goes. */
export interface UploadJob {
  file: LocalFile;
  /** Its digest, when the decision already knew it. */
  known: KnownDigest | undefined;
  key: string;
  onBytes: (n: number) => void;
  conditions: UploadConditions;
}

/** Uploads one file, keeping the index in step; resolves to the ETag it got. */
export async function uploadOne(run: FileRun, job: UploadJob): Promise<string | undefined> {
  const { ctx, index, hashed, signal } = run;
  const { file, known, key, onBytes, conditions } = job;
  const abs = ctx.root.resolve(file.path);
  const multipart = usesMultipart(ctx, file.size);
  const options = { signal, onBytes, ...conditions, checksumAlgorithm: ctx.checksumAlgorithm };
  const hashedAtNs = nowNs();
  const remember = (digest: ReceivedDigest, etag?: string): void => {
    hashed.files++;
    hashed.bytes += digest.size;
    // A multipart upload computes no MD5 unless it knew one: its verified ETag identifies it.
    if (digest.md5 === undefined && etag === undefined) return;
    index.record(file.path, {
      ...file,
      md5: digest.md5,
      hashedAtNs,
      ownMtime: false,
      ...(digest.md5 === undefined && { etag }),
    });
  };
  let digest: ReceivedDigest;
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
    if (cached === undefined) remember(digest, etag);
  }
  if (digest.md5 !== undefined) index.setEtag(file.path, digest.md5, etag);
  return etag;
}

export async function deleteLocal(
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

export async function deleteRemote(
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
