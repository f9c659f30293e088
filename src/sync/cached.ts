/**
 * A download served by the cache where it may be: a single object whose local copy the
 * hash index knows is revalidated by one conditional GET (`If-None-Match`) instead of a
 * HEAD and a GET; a copy checked within `maxAge`, or the pinned version already here, is
 * served with no request; offline, the local copy is served as it is; with
 * `staleIfError`, it is served when the server cannot be reached. Anything else (a tree,
 * a copy the index does not know, a key that may be a prefix) goes the usual way.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';
import path from 'node:path';

import type { CachePolicy } from '../cache/freshness.js';
import { NOT_MODIFIED } from '../client.js';
import { normalizeEtag } from '../etag.js';
import { NotFoundError, OfflineError } from '../exceptions.js';
import { HashIndex, indexFileFor } from '../hash-index.js';
import { identityOf } from '../identity.js';
import { LocalRoot } from '../local-root.js';
import { getLogger } from '../logging.js';
import type { SyncResult } from '../result.js';
import { downloadFile, downloadFileIfChanged } from '../transfer.js';
import { progressFor, recordDownload, transferContext } from './apply.js';
import { readCheck, writeCheck, type CheckRecord } from './checks.js';
import { statLocal } from './layout.js';
import type { SyncOptions, SyncTarget } from './options.js';
import { newResult, report } from './report.js';
import { isUnreachable } from './unreachable.js';

const log = getLogger('cache');

/** How a download was served without the server confirming the copy now. */
export type ServedFrom = NonNullable<SyncResult['servedFromCache']>;

/** What is known of the local copy of a single object. */
interface LocalCopy {
  root: string;
  rel: string;
  stat: BigIntStats | undefined;
  /** The hash index of the root, when there is one. */
  index: HashIndex | undefined;
  /** The ETag (normalised; or the MD5) the index trusts the local file to be. */
  tag: string | undefined;
  /** The last check of this content, if it matches `tag`. */
  check: CheckRecord | undefined;
}

/**
 * Downloads `target` as the cache allows; `full` is the usual sync, for what the cache
 * cannot decide.
 *
 * @throws {OfflineError} offline, when there is no local copy to serve.
 */
export async function downloadCached(
  target: SyncTarget,
  policy: CachePolicy,
  options: SyncOptions,
  full: () => Promise<SyncResult>,
): Promise<SyncResult> {
  const started = Date.now();
  if (options.dryRun === true) {
    if (policy.offline) throw offline(target, 'a dry run needs the server');
    return full();
  }
  const stat = await statLocal(target.localPath);
  if (target.key.endsWith('/') || stat?.isDirectory() === true) {
    if (policy.offline) {
      if (stat?.isDirectory() !== true) throw offline(target, 'there is no local copy');
      return served(target, 'offline', undefined, started, true);
    }
    const stale = { started, tree: true, etag: undefined, haveCopy: stat?.isDirectory() === true };
    return staleOnError(target, policy, stale, full);
  }
  const copy = await localCopy(target, policy, stat);
  const pinned = policy.versionId;
  if (pinned !== undefined && copy.check?.versionId === pinned) {
    return served(target, 'pinned', copy.tag, started, false);
  }
  if (policy.offline) {
    if (pinned !== undefined) throw offline(target, `there is no local copy of version ${pinned}`);
    if (stat?.isFile() !== true) throw offline(target, 'there is no local copy');
    return served(target, 'offline', copy.tag, started, false);
  }
  // A check of a pinned version says nothing of the latest one.
  const check = copy.check?.versionId === undefined ? copy.check : undefined;
  if (pinned === undefined && check !== undefined && started - check.checkedAt < policy.maxAge) {
    return served(target, 'max-age', copy.tag, started, false);
  }
  // A pinned download has no prefix to fall back to: it is always one GET.
  const canServeStale = stat?.isFile() === true && pinned === undefined;
  const stale = { started, tree: false, etag: copy.tag, haveCopy: canServeStale };
  if (copy.tag === undefined && pinned === undefined) {
    const result = await staleOnError(target, policy, stale, full);
    if (result.servedFromCache === undefined)
      await recordCheck(target, policy, result.etag, started);
    return result;
  }
  return staleOnError(target, policy, stale, () =>
    fetchOne(target, policy, options, copy, started, full),
  );
}

/**
 * One GET of a single object: with `If-None-Match` when the local copy is known (304:
 * nothing moves), of the pinned version when there is one. A 404 of an unpinned key goes
 * the usual way (it may be a prefix).
 */
async function fetchOne(
  target: SyncTarget,
  policy: CachePolicy,
  options: SyncOptions,
  copy: LocalCopy,
  started: number,
  full: () => Promise<SyncResult>,
): Promise<SyncResult> {
  const { signal } = options;
  const root = new LocalRoot(copy.root);
  const ctx = transferContext(target, root);
  const limit = options.limiter ?? target.limiter ?? ((task) => task());
  const progress = progressFor(target, options, 'download');
  // Shown once bytes come: a 304 moves none. The size is the local copy's, until it lands.
  let file: ReturnType<typeof progress.start> | undefined;
  const shown = (): NonNullable<typeof file> => {
    if (file !== undefined) return file;
    const size = Number(copy.stat?.size ?? 0n);
    progress.expect(1, size);
    file = progress.start({ direction: 'download', key: target.key, path: target.localPath, size });
    return file;
  };
  const common = {
    signal,
    onBytes: (n: number) => {
      shown().advance(n);
    },
    versionId: policy.versionId,
  };
  const got = await limit(() =>
    copy.tag === undefined
      ? downloadFile(ctx, target.key, copy.rel, common)
      : downloadFileIfChanged(ctx, target.key, copy.rel, `"${copy.tag}"`, common),
  )
    .catch((error: unknown) => {
      if (error instanceof NotFoundError && policy.versionId === undefined) return undefined;
      throw error;
    })
    .finally(() => {
      progress.close();
    });
  if (got === undefined) return full();
  const result = newResult(target, 'download', false, []);
  const hashed = { files: 0, bytes: 0, unverified: 0 };
  let etag: string | undefined = copy.tag;
  if (got === NOT_MODIFIED) {
    result.unchanged = 1;
  } else {
    shown().finish();
    etag = got.etag;
    const index = copy.index ?? HashIndex.disabled();
    await recordDownload({ ctx, index, hashed }, target.key, copy.rel, got);
    await index.save({ prune: false });
    result.transferred = 1;
    result.bytes = got.digest.size;
    const reason = copy.stat === undefined ? 'missing' : 'checksum';
    result.actions.push({
      op: 'download',
      path: copy.rel,
      key: target.key,
      size: got.size,
      reason,
    });
  }
  await recordCheck(target, policy, etag, started);
  return report(result, {
    started,
    hashed,
    failures: [],
    root: copy.root,
    etag,
    deletesHeld: false,
  });
}

/** The local copy of a single object as the hash index and the last check know it. */
async function localCopy(
  target: SyncTarget,
  policy: CachePolicy,
  stat: BigIntStats | undefined,
): Promise<LocalCopy> {
  const root = path.dirname(target.localPath);
  const rel = path.basename(target.localPath);
  const copy: LocalCopy = { root, rel, stat, index: undefined, tag: undefined, check: undefined };
  if (target.indexDir === undefined) return copy;
  // With no local file an unpinned download goes the usual way, which loads the index itself.
  if (stat?.isFile() !== true && policy.versionId === undefined) return copy;
  copy.index = await HashIndex.load(indexFileFor(target.indexDir, root));
  if (stat?.isFile() !== true) return copy;
  const entry = copy.index.lookup(rel, identityOf(stat));
  copy.tag = normalizeEtag(entry?.etag) ?? entry?.md5;
  if (copy.tag === undefined || policy.checksDir === undefined) return copy;
  if (policy.maxAge <= 0 && policy.versionId === undefined) return copy;
  const check = await readCheck(policy.checksDir, target.localPath);
  if (check?.etag === copy.tag) copy.check = check;
  return copy;
}

/** Records that the copy with `etag` was current at `checkedAt`, where it will be read. */
async function recordCheck(
  target: SyncTarget,
  policy: CachePolicy,
  etag: string | undefined,
  checkedAt: number,
): Promise<void> {
  const tag = normalizeEtag(etag);
  if (tag === undefined || policy.checksDir === undefined) return;
  if (policy.maxAge <= 0 && policy.versionId === undefined) return;
  await writeCheck(policy.checksDir, target.localPath, {
    etag: tag,
    versionId: policy.versionId,
    checkedAt,
  });
}

/** Runs `request`; with `staleIfError`, a server out of reach serves the local copy instead. */
async function staleOnError(
  target: SyncTarget,
  policy: CachePolicy,
  copy: { started: number; tree: boolean; etag: string | undefined; haveCopy: boolean },
  request: () => Promise<SyncResult>,
): Promise<SyncResult> {
  try {
    return await request();
  } catch (error) {
    if (!policy.staleIfError || !copy.haveCopy || !isUnreachable(error)) throw error;
    log.warn(
      `serving the local copy of ${target.uri} (${target.localPath}) unchecked: the server could not be reached (${(error as Error).message})`,
    );
    return served(target, 'stale', copy.etag, copy.started, copy.tree);
  }
}

/** The result of a download the local copy served, for `why`. */
function served(
  target: SyncTarget,
  why: ServedFrom,
  etag: string | undefined,
  started: number,
  tree: boolean,
): SyncResult {
  const result = newResult(target, 'download', false, []);
  result.tree = tree;
  result.unchanged = tree ? 0 : 1;
  result.servedFromCache = why;
  const root = tree ? target.localPath : path.dirname(target.localPath);
  const hashed = { files: 0, bytes: 0, unverified: 0 };
  return report(result, { started, hashed, failures: [], root, etag, deletesHeld: false });
}

function offline(target: SyncTarget, why: string): OfflineError {
  return new OfflineError(
    `Cannot download ${target.uri} offline (the offline option or S3LYNC_OFFLINE): ${why} at ${target.localPath}`,
  );
}
