/**
 * The sync plan: what to transfer and what to delete, decided from data alone (a remote
 * listing, a local listing and the digests already known). No I/O here.
 *
 * @packageDocumentation
 */
import type { Direction, SyncAction, TransferReason } from './result.js';
import { compareDigests } from './verify.js';
import { normalizeEtag } from './etag.js';

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

/**
 * Digests known for local files, and the ETag each was last seen equal to. At least one of
 * `md5` and `syncedEtag` is known: an index entry of a download verified by its multipart
 * ETag has no MD5, and decides only against that ETag.
 */
export interface KnownDigest {
  /** Size in bytes. */
  size: number;
  /** Hex MD5 of the content, or `undefined` when only `syncedEtag` is known. */
  md5: string | undefined;
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
  const out: string[] = [];
  for (const r of remote) {
    const l = local.get(r.path);
    if (l === undefined) continue;
    if (decideEntry('download', r, l, { useChecksum, mirror: false }).op === 'compare') {
      out.push(r.path);
    }
  }
  return out;
}

/**
 * Whether a same-size local file equals the remote object. Unknown ETags (multipart,
 * encrypted) are equal only when the index says this very file was synced with this ETag.
 */
export function sameContent(digest: KnownDigest | undefined, remote: RemoteEntry): boolean {
  return digest !== undefined && contentVerdict(digest, remote) === 'unchanged';
}

/**
 * What a known digest says of a same-size pair: `unchanged`, `checksum` (other content),
 * or `unknown` when neither the MD5 nor the ETag the index synced this file with decides
 * (a multipart or encrypted ETag, or no MD5 known), which hashing or the server settles.
 */
export function contentVerdict(
  digest: KnownDigest,
  remote: RemoteEntry,
): 'unchanged' | 'checksum' | 'unknown' {
  const { md5 } = digest;
  // The usual case, as verifyContent decides it but without normalising the ETag.
  if (
    md5 !== undefined &&
    remote.etag === `"${md5}"` &&
    digest.size === remote.size &&
    remote.fingerprintMd5 === undefined &&
    remote.opaqueEtag !== true
  ) {
    return 'unchanged';
  }
  // Without the MD5 only the ETag the file was synced with can decide.
  const verdict =
    md5 === undefined ? 'unknown' : compareDigests({ size: digest.size, md5 }, remote);
  if (verdict !== 'unknown') return verdict === 'equal' ? 'unchanged' : 'checksum';
  const listed = normalizeEtag(remote.etag);
  return listed !== undefined && normalizeEtag(digest.syncedEtag) === listed
    ? 'unchanged'
    : 'unknown';
}

/** What one path calls for; see {@link decideEntry}. */
export type EntryDecision =
  /** The source's file goes to the destination. */
  | { op: 'transfer'; reason: TransferReason }
  /** Same size, and content counts: the digests decide ({@link contentVerdict}). */
  | { op: 'compare' }
  /** Nothing to do. */
  | { op: 'unchanged' }
  /** The destination has what the source lacks, and this is a mirror. */
  | { op: 'delete'; side: 'local' | 'remote' }
  /** The destination has what the source lacks; without a mirror it stays. */
  | { op: 'keep' };

/**
 * THE decision of a sync for one path, from the two sides' entries (either may be absent)
 * and sizes alone: transfer what the destination lacks or holds at another size; compare
 * the content of a same-size pair (unless `useChecksum` is off); delete, in a mirror only,
 * what the source lacks. The source is the remote side for downloads, the local side for
 * uploads. {@link planSync} and the streaming sync both decide with this function.
 */
export function decideEntry(
  direction: Direction,
  remote: RemoteEntry | undefined,
  local: LocalEntry | undefined,
  options: { useChecksum: boolean; mirror: boolean },
): EntryDecision {
  const [src, dst] = direction === 'download' ? [remote, local] : [local, remote];
  if (src === undefined) {
    if (dst === undefined) throw new Error('internal: a path on neither side');
    if (!options.mirror) return { op: 'keep' };
    return { op: 'delete', side: direction === 'download' ? 'local' : 'remote' };
  }
  if (dst === undefined) return { op: 'transfer', reason: 'missing' };
  if (src.size !== dst.size) return { op: 'transfer', reason: 'size' };
  return options.useChecksum ? { op: 'compare' } : { op: 'unchanged' };
}

/** Finishes a `compare` decision for a same-size pair, given the local digest if known. */
export function decideContent(
  digest: KnownDigest | undefined,
  remote: RemoteEntry,
): 'unchanged' | 'checksum' {
  return sameContent(digest, remote) ? 'unchanged' : 'checksum';
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
  const { direction } = input;
  const actions: SyncAction[] = [];
  const deletes: SyncAction[] = [];
  let unchanged = 0;
  // The source's paths in their order, then the destination's that the source lacks.
  const [sources, others] = direction === 'download' ? [remote, local] : [local, remote];
  const paths = [...sources.keys(), ...[...others.keys()].filter((p) => !sources.has(p))];
  for (const path of paths) {
    const r = remote.get(path);
    const l = local.get(path);
    let d = decideEntry(direction, r, l, input);
    if (d.op === 'compare' && r !== undefined) {
      const same = decideContent(input.digestOf(path), r) === 'unchanged';
      d = same ? { op: 'unchanged' } : { op: 'transfer', reason: 'checksum' };
    }
    if (d.op === 'unchanged') unchanged++;
    else if (d.op === 'transfer')
      actions.push(transferAction(direction, path, r, l, d.reason, input));
    else if (d.op === 'delete') {
      const size = (d.side === 'local' ? l?.size : r?.size) ?? 0;
      deletes.push(deleteAction(d.side, path, r?.key ?? input.keyOf(path), size));
    }
  }
  return { actions: [...actions, ...deletes], unchanged };
}

/** The transfer of one path, source to destination. */
function transferAction(
  direction: Direction,
  path: string,
  remote: RemoteEntry | undefined,
  local: LocalEntry | undefined,
  reason: TransferReason,
  input: Pick<PlanInput, 'keyOf'>,
): SyncAction {
  if (direction === 'download' && remote !== undefined) {
    return { op: 'download', path, key: remote.key, size: remote.size, reason };
  }
  return { op: 'upload', path, key: input.keyOf(path), size: local?.size ?? 0, reason };
}

/** The deletion of a path the source lacks (mirror). */
export function deleteAction(
  side: 'local' | 'remote',
  path: string,
  key: string,
  size: number,
): SyncAction {
  return { op: 'delete', side, path, key, size, reason: 'not-in-source' };
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
