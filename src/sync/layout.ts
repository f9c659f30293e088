/**
 * What a sync works on: a tree (a prefix and a local directory) or one file, its
 * listing and its local walk. A HEAD or the first page of the listing decides which.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

import type { RemoteObject } from '../client.js';
import { LocalPathError, NotFoundError } from '../exceptions.js';
import { identityOf, nowNs } from '../identity.js';
import { fileKind } from '../local-root.js';
import { LocalTree, walkLocalTree } from '../local-tree.js';
import type { RemoteEntry } from '../plan.js';
import { openListing } from './listing.js';
import type { Scope, SyncTarget } from './options.js';

export interface Layout {
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

export async function downloadLayout(target: SyncTarget, scope: Scope): Promise<Layout> {
  const { client, bucket, key, localPath } = target;
  const { signal } = scope;
  const statedFromNs = nowNs();
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
  return fileLayout(target, head, localStat, statedFromNs);
}

export async function uploadLayout(target: SyncTarget, scope: Scope): Promise<Layout> {
  const { client, bucket, key, localPath } = target;
  const { signal } = scope;
  const statedFromNs = nowNs();
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
  return fileLayout(target, head, localStat, statedFromNs);
}

/** The local path's bigint stat (identity for the index), or `undefined` when it is missing. */
export async function statLocal(localPath: string): Promise<BigIntStats | undefined> {
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
  statedFromNs: bigint,
): Layout {
  const root = path.dirname(target.localPath);
  const rel = path.basename(target.localPath);
  const local = LocalTree.of(
    localStat === undefined ? [] : [{ path: rel, ...identityOf(localStat) }],
    statedFromNs,
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

function notFound(target: SyncTarget): NotFoundError {
  return new NotFoundError(`${target.uri} does not exist: it is neither an object nor a prefix`, {
    operation: 'download',
    uri: target.uri,
  });
}
