/**
 * The sync plan: what to transfer and what to delete, decided from data alone (a remote
 * listing, a local listing and the digests already known). No I/O here.
 *
 * @packageDocumentation
 */
import { normalizeEtag } from './hash.js';
import { compareKeys, indexOfKey } from './keys.js';
import type { Direction, SyncAction, TransferReason } from './result.js';
import { compareDigests } from './verify.js';

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

/**
 * How one path compares across the two sides, from sizes alone: a transfer with its reason,
 * `unchanged`, or `digest` when a same-size pair needs the local file's digest first (then
 * {@link decideContent} finishes). The source is the remote side for downloads, the local
 * side for uploads.
 */
export function decidePair(
  direction: Direction,
  remote: RemoteEntry | undefined,
  local: LocalEntry | undefined,
  useChecksum: boolean,
): TransferReason | 'unchanged' | 'digest' {
  const [src, dst] = direction === 'download' ? [remote, local] : [local, remote];
  if (src === undefined) throw new Error('internal: a pair without its source');
  if (dst === undefined) return 'missing';
  if (src.size !== dst.size) return 'size';
  return useChecksum ? 'digest' : 'unchanged';
}

/** Finishes {@link decidePair} for a same-size pair, given the local digest if known. */
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
  const actions: SyncAction[] = [];
  let unchanged = 0;
  const { direction, useChecksum } = input;

  const decide = (r: RemoteEntry | undefined, l: LocalEntry | undefined): void => {
    const path = (r ?? l)?.path ?? '';
    let reason = decidePair(direction, r, l, useChecksum);
    if (reason === 'digest' && r !== undefined) reason = decideContent(input.digestOf(path), r);
    if (reason === 'unchanged' || reason === 'digest') unchanged++;
    else if (direction === 'download' && r !== undefined)
      actions.push({ op: 'download', path, key: r.key, size: r.size, reason });
    else if (l !== undefined)
      actions.push({ op: 'upload', path, key: input.keyOf(path), size: l.size, reason });
  };

  if (direction === 'download') {
    for (const r of remote.values()) decide(r, local.get(r.path));
    if (input.mirror) {
      for (const l of local.values()) {
        if (!remote.has(l.path))
          actions.push(deleteAction('local', l.path, input.keyOf(l.path), l.size));
      }
    }
  } else {
    for (const l of local.values()) decide(remote.get(l.path), l);
    if (input.mirror) {
      for (const r of remote.values()) {
        if (!local.has(r.path)) actions.push(deleteAction('remote', r.path, r.key, r.size));
      }
    }
  }
  return { actions, unchanged };
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

/** A remote entry released by {@link TreeMatcher}, with the row of the same local path. */
export interface MatchedPair {
  remote: RemoteEntry;
  /** The index of the local path with the same name, or -1 when the local side lacks it. */
  local: number;
}

/**
 * A remote entry refused because it and another key cannot both exist locally: a file
 * where the other needs a directory (`a` and `a/b`).
 */
export interface RefusedEntry {
  remote: RemoteEntry;
  /**
   * `needed-as-directory`: the other key lies below this one, which is refused (the rule
   * whenever both are still undecided); `under-a-file`: the other key, a file above this
   * one, was already released (only after a listing out of order).
   */
  conflict: 'needed-as-directory' | 'under-a-file';
  /** The path of the other key. */
  other: string;
}

/** What {@link TreeMatcher} could decide after a page, or at the end. */
export interface MatchStep {
  /** Remote entries, each with its local row (or -1), in listing order. */
  pairs: MatchedPair[];
  /** Local rows no remote entry has, final. */
  localOnly: number[];
  /** Remote entries refused as file-vs-directory conflicts. */
  refused: RefusedEntry[];
}

/** Options of {@link TreeMatcher}. */
export interface TreeMatcherOptions {
  /** The local paths, sorted by {@link compareKeys}, without duplicates. */
  local: readonly string[];
  /** Refuse keys that need a path as a file and as a directory (downloads). @default false */
  conflicts?: boolean;
  /**
   * Release local-only rows as soon as the listing has passed them (uploads), rather than
   * only at the end. @default false
   */
  earlyLocalOnly?: boolean;
}

interface Pending {
  remote: RemoteEntry;
  row: number;
  refused: boolean;
}

/**
 * Matches a listing, page by page, against a sorted local side, and releases each remote
 * entry as soon as it is decided, so transfers can start before the listing ends. Holds
 * one bit per local row, plus (for conflicts) the few keys still open; nothing per remote
 * key once it is released.
 *
 * S3 lists keys in {@link compareKeys} order, and the matcher relies on it: a key `a` can
 * only conflict with keys `a/…`, which come after `a` and before any key past `a/`
 * (`a.txt` and `a-1` sort between `a` and `a/`, `a0` after). So `a` stays open until a
 * key past `a/` (or the end) proves it a file, or a key `a/…` refuses it. Released local
 * rows are final because no smaller key can follow.
 *
 * A listing out of order (S3 Express directory buckets, some mocks) is handled too: from
 * the first key out of place on, conflicts are decided at the end among the keys held
 * from then on, and a key that clashes with one already released is refused itself; an
 * upload that was released as `missing` before the key turned up stays released.
 */
export class TreeMatcher {
  private readonly local: readonly string[];
  private readonly conflicts: boolean;
  private readonly earlyLocalOnly: boolean;
  private readonly seen: Uint8Array;
  private cursor = 0;
  private last: string | undefined;
  private ordered = true;
  /** Open keys (conflicts only): each a prefix of the next, so their lengths increase. */
  private stack: Pending[] = [];
  /** Paths of released keys with no local row (conflicts only), for a switch to unordered. */
  private releasedRemoteOnly: string[] = [];
  /** After a key out of order: rows below it were released early (uploads). */
  private frozenCursor = 0;
  /** After a key out of order (conflicts): what was released before, and what is held. */
  private releasedFiles = new Set<string>();
  private releasedDirs = new Map<string, string>();
  private readonly held = new Map<string, Pending>();

  constructor(options: TreeMatcherOptions) {
    this.local = options.local;
    this.conflicts = options.conflicts ?? false;
    this.earlyLocalOnly = options.earlyLocalOnly ?? false;
    this.seen = new Uint8Array(this.local.length);
  }

  /** Whether every key so far came in listing order. */
  get inOrder(): boolean {
    return this.ordered;
  }

  /** Feeds one page of the listing; returns what is decided now. */
  page(entries: Iterable<RemoteEntry>): MatchStep {
    const step: MatchStep = { pairs: [], localOnly: [], refused: [] };
    for (const r of entries) {
      if (this.ordered && this.last !== undefined && compareKeys(r.path, this.last) <= 0) {
        this.leaveOrder();
      }
      if (this.ordered) this.addOrdered(r, step);
      else this.addUnordered(r, step);
    }
    return step;
  }

  /** The listing is complete: returns everything still open. */
  end(): MatchStep {
    const step: MatchStep = { pairs: [], localOnly: [], refused: [] };
    if (this.ordered) {
      for (const p of this.stack) this.release(p, step);
      this.stack = [];
    } else if (this.conflicts) {
      this.endUnordered(step);
    }
    const from = !this.earlyLocalOnly ? 0 : this.ordered ? this.cursor : this.frozenCursor;
    for (let i = from; i < this.local.length; i++) if (this.seen[i] === 0) step.localOnly.push(i);
    return step;
  }

  /** The local row of `path`, or -1. */
  find(path: string): number {
    return indexOfKey(this.local, path);
  }

  private addOrdered(r: RemoteEntry, step: MatchStep): void {
    const p = r.path;
    this.last = p;
    const local = this.local;
    while (this.cursor < local.length && compareKeys(local[this.cursor] ?? '', p) < 0) {
      if (this.earlyLocalOnly) step.localOnly.push(this.cursor);
      this.cursor++;
    }
    let row = -1;
    if (this.cursor < local.length && local[this.cursor] === p) {
      row = this.cursor++;
      this.seen[row] = 1;
    }
    if (!this.conflicts) {
      step.pairs.push({ remote: r, local: row });
      return;
    }
    // Keys the new one has moved past are files for good.
    const stack = this.stack;
    for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
      const q = top.remote.path;
      if (p.startsWith(q) && p.charCodeAt(q.length) <= 0x2f) break;
      stack.pop();
      this.release(top, step);
    }
    // What is left are prefixes of p; those followed by "/" in p must be directories.
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
      const open = openKeyOfLength(stack, i);
      if (open !== undefined && !open.refused) {
        this.refuse(open);
        step.refused.push({ remote: open.remote, conflict: 'needed-as-directory', other: p });
      }
    }
    stack.push({ remote: r, row, refused: false });
  }

  private refuse(p: Pending): void {
    p.refused = true;
    // Still not local-only, but not released either.
    if (p.row >= 0) this.seen[p.row] = 2;
  }

  private release(p: Pending, step: MatchStep): void {
    if (p.refused) return;
    step.pairs.push({ remote: p.remote, local: p.row });
    if (p.row < 0) this.releasedRemoteOnly.push(p.remote.path);
  }

  private leaveOrder(): void {
    this.ordered = false;
    this.frozenCursor = this.cursor;
    if (!this.conflicts) return;
    const open = new Set(this.stack.map((p) => p.row));
    const files = new Set(this.releasedRemoteOnly);
    this.releasedRemoteOnly = [];
    this.local.forEach((path, i) => {
      if (this.seen[i] === 1 && !open.has(i)) files.add(path);
    });
    for (const f of files) {
      for (let i = f.indexOf('/'); i > 0; i = f.indexOf('/', i + 1)) {
        const dir = f.slice(0, i);
        if (!this.releasedDirs.has(dir)) this.releasedDirs.set(dir, f);
      }
    }
    this.releasedFiles = files;
    for (const p of this.stack) if (!p.refused) this.held.set(p.remote.path, p);
    this.stack = [];
  }

  private addUnordered(r: RemoteEntry, step: MatchStep): void {
    const p = r.path;
    if (!this.conflicts) {
      const row = this.find(p);
      if (row >= 0) {
        // Seen: a duplicate; below the frozen cursor: already released as local-only.
        if (this.seen[row] !== 0) return;
        this.seen[row] = 1;
        if (this.earlyLocalOnly && row < this.frozenCursor) return;
      }
      step.pairs.push({ remote: r, local: row });
      return;
    }
    if (this.releasedFiles.has(p) || this.held.has(p)) return;
    const pending: Pending = { remote: r, row: this.find(p), refused: false };
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
      const dir = p.slice(0, i);
      if (this.releasedFiles.has(dir)) {
        this.refuse(pending);
        step.refused.push({ remote: r, conflict: 'under-a-file', other: dir });
        return;
      }
    }
    const below = this.releasedDirs.get(p);
    if (below !== undefined) {
      this.refuse(pending);
      step.refused.push({ remote: r, conflict: 'needed-as-directory', other: below });
      return;
    }
    this.held.set(p, pending);
  }

  private endUnordered(step: MatchStep): void {
    for (const p of this.held.keys()) {
      for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
        const parent = this.held.get(p.slice(0, i));
        if (parent !== undefined && !parent.refused) {
          this.refuse(parent);
          step.refused.push({ remote: parent.remote, conflict: 'needed-as-directory', other: p });
        }
      }
    }
    for (const pending of this.held.values()) {
      if (pending.refused) continue;
      if (pending.row >= 0) this.seen[pending.row] = 1;
      step.pairs.push({ remote: pending.remote, local: pending.row });
    }
    this.held.clear();
  }
}

/** The open key of exactly `length` characters: the stack's lengths increase. */
function openKeyOfLength(stack: readonly Pending[], length: number): Pending | undefined {
  let lo = 0;
  let hi = stack.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const p = stack[mid];
    if (p === undefined) return undefined;
    const n = p.remote.path.length;
    if (n === length) return p;
    if (n < length) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
