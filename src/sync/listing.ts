/**
 * The listing of a prefix, page by page, as untrusted input: entries outside the
 * prefix or with impossible sizes refused, markers and temp-named keys left alone.
 *
 * @packageDocumentation
 */
import type { ListedObject, S3lyncClient } from '../client.js';
import { ListingError, UnsafePathError } from '../exceptions.js';
import type { LocalRoot } from '../local-root.js';
import { getLogger } from '../logging.js';
import type { RemoteEntry } from '../plan.js';
import { isTempName, unsafeKeyReason } from '../utils.js';
import type { SyncFailure } from '../result.js';
import type { RefusedEntry } from '../tree-matcher.js';
import type { Scope } from './options.js';

const log = getLogger('sync');

/**
 * Starts listing a prefix: reads up to the first page with an object, so `any` tells an
 * empty prefix (only a marker) from a missing one, and yields the entries page by page.
 * The listing is untrusted input: see {@link remoteEntries}.
 */
export async function openListing(
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
      if (o.size > 0 && !scope.isExcluded(rel.slice(0, -1), true)) {
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
    out.push({ path: rel, key: o.key, size: o.size, etag: o.etag, opaqueEtag: o.opaqueEtag });
  }
  return out;
}

function skipRemote(scope: Scope, rel: string, reason: string): void {
  scope.skipped.push({ side: 'remote', path: rel, reason });
  log.warn(`skipping the key ${JSON.stringify(rel)}: ${reason}`);
}

/** The failure of a key the matcher refused: a file where other keys need a directory, or the reverse. */
export function refusedKey(
  door: LocalRoot,
  { remote, conflict, other }: RefusedEntry,
): SyncFailure {
  const rel = remote.path;
  try {
    door.resolve(rel);
  } catch (error) {
    return { path: rel, error };
  }
  const why =
    conflict === 'needed-as-directory'
      ? `other keys need ${rel} to be a directory, so it cannot also be a file`
      : `${other} is a file here, so it cannot also be a directory`;
  return {
    path: rel,
    error: new UnsafePathError(
      `Refusing key ${JSON.stringify(remote.key)}: ${why}`,
      door.resolve(rel),
    ),
  };
}
