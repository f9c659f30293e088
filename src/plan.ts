/**
 * The sync plan: what to transfer and what to delete, decided from data alone (a remote
 * listing, a local listing and the digests already known). No I/O here.
 *
 * @packageDocumentation
 */
import { normalizeEtag, type LocalDigest } from './hash.js';
import { compareDigests } from './verify.js';

/** Which way a sync goes. */
export type Direction = 'download' | 'upload';

/** Why a file is transferred: absent at the destination, another size, other content. */
export type TransferReason = 'missing' | 'size' | 'checksum';

/** Why a file is deleted: the source does not have it (mirror only). */
export type DeleteReason = 'not-in-source';

/** One step of a plan. Paths are relative to the sync root with `/` separators. */
export type SyncAction =
  | { op: 'download' | 'upload'; path: string; key: string; size: number; reason: TransferReason }
  | {
      op: 'delete';
      side: 'local' | 'remote';
      path: string;
      key: string;
      size: number;
      reason: DeleteReason;
    };

/** A remote entry, relative to the prefix. */
export interface RemoteEntry {
  /** The path relative to the prefix. */
  path: string;
  /** The full key. */
  key: string;
  size: number;
  etag: string | undefined;
  /** The MD5 s3lync recorded at upload (known from a HEAD, not from a listing). */
  fingerprintMd5?: string | undefined;
  /** Whether the ETag is not an MD5 (server-side encryption with KMS or SSE-C). */
  opaqueEtag?: boolean | undefined;
}

/** A local entry, relative to the root. */
export interface LocalEntry {
  /** The path relative to the root. */
  path: string;
  size: number;
}

/** Digests known for local files, and the ETag each was last seen equal to. */
export interface KnownDigest extends LocalDigest {
  /** The remote ETag this exact file was last verified equal to (from the hash index). */
  syncedEtag?: string | undefined;
}

/** The inputs of {@link planSync}. */
export interface PlanInput {
  direction: Direction;
  /** The remote entries (excluded paths already removed). */
  remote: Iterable<RemoteEntry>;
  /** The local entries (excluded paths already removed). */
  local: Iterable<LocalEntry>;
  /** Compare content, not only size. */
  useChecksum: boolean;
  /** Add deletions of what the source lacks. */
  mirror: boolean;
  /** The digest of a local file, if known; called only for same-size pairs. */
  digestOf: (path: string) => KnownDigest | undefined;
  /** Builds the key of a local path (uploads). */
  keyOf: (path: string) => string;
}

/** A plan: actions in a stable order, plus what was found unchanged. */
export interface Plan {
  actions: SyncAction[];
  /** Paths found unchanged. */
  unchanged: number;
}

/**
 * Same-size pairs whose digest is needed before {@link planSync} can decide: the caller
 * hashes these (or finds them in the index) first.
 */
export function pathsNeedingDigest(
  remote: Iterable<RemoteEntry>,
  local: ReadonlyMap<string, LocalEntry>,
  useChecksum: boolean,
): string[] {
  if (!useChecksum) return [];
  const out: string[] = [];
  for (const r of remote) {
    if (local.get(r.path)?.size === r.size) out.push(r.path);
  }
  return out;
}

/**
 * Whether a same-size local file equals the remote object. Unknown ETags (multipart,
 * encrypted) are equal only when the index says this very file was synced with this ETag.
 */
export function sameContent(digest: KnownDigest | undefined, remote: RemoteEntry): boolean {
  if (digest === undefined) return false;
  const verdict = compareDigests(digest, remote);
  if (verdict !== 'unknown') return verdict === 'equal';
  const listed = normalizeEtag(remote.etag);
  return listed !== undefined && normalizeEtag(digest.syncedEtag) === listed;
}

/**
 * Decides what a sync does. Transfers cover every source path that is absent, of another
 * size, or (with `useChecksum`) of other content at the destination. With `mirror`,
 * every destination path the source lacks is deleted; nothing else changes.
 */
export function planSync(input: PlanInput): Plan {
  const remote = new Map<string, RemoteEntry>();
  for (const r of input.remote) remote.set(r.path, r);
  const local = new Map<string, LocalEntry>();
  for (const l of input.local) local.set(l.path, l);
  const actions: SyncAction[] = [];
  let unchanged = 0;

  const decide = (
    src: { size: number },
    dst: { size: number } | undefined,
    path: string,
  ): TransferReason | undefined => {
    if (dst === undefined) return 'missing';
    if (src.size !== dst.size) return 'size';
    if (!input.useChecksum) return undefined;
    const r = remote.get(path);
    return r !== undefined && sameContent(input.digestOf(path), r) ? undefined : 'checksum';
  };

  if (input.direction === 'download') {
    for (const r of remote.values()) {
      const reason = decide(r, local.get(r.path), r.path);
      if (reason === undefined) unchanged++;
      else actions.push({ op: 'download', path: r.path, key: r.key, size: r.size, reason });
    }
    if (input.mirror) {
      for (const l of local.values()) {
        if (!remote.has(l.path)) {
          actions.push({
            op: 'delete',
            side: 'local',
            path: l.path,
            key: input.keyOf(l.path),
            size: l.size,
            reason: 'not-in-source',
          });
        }
      }
    }
  } else {
    for (const l of local.values()) {
      const reason = decide(l, remote.get(l.path), l.path);
      if (reason === undefined) unchanged++;
      else
        actions.push({
          op: 'upload',
          path: l.path,
          key: input.keyOf(l.path),
          size: l.size,
          reason,
        });
    }
    if (input.mirror) {
      for (const r of remote.values()) {
        if (!local.has(r.path)) {
          actions.push({
            op: 'delete',
            side: 'remote',
            path: r.path,
            key: r.key,
            size: r.size,
            reason: 'not-in-source',
          });
        }
      }
    }
  }
  return { actions, unchanged };
}

/**
 * Remote paths that cannot all exist locally: a key that is a file where another key
 * needs a directory (`a` and `a/b`). Returns the file-side paths, which are refused.
 */
export function fileDirectoryConflicts(paths: Iterable<string>): Set<string> {
  const all = new Set(paths);
  const conflicts = new Set<string>();
  for (const p of all) {
    let i = p.indexOf('/');
    while (i > 0) {
      const parent = p.slice(0, i);
      if (all.has(parent)) conflicts.add(parent);
      i = p.indexOf('/', i + 1);
    }
  }
  return conflicts;
}
