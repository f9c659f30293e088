/**
 * The listing matched against the local walk, page by page: both in S3's key order, so
 * each remote key meets its local twin (or its absence) as it arrives. A key that is a file
 * where another key needs a directory (`a` and `a/b`) is refused whichever pages they come
 * on; a listing out of order is still matched, more slowly. Pure: no I/O.
 *
 * @packageDocumentation
 */
import { compareKeys, indexOfKey } from './keys.js';
import type { RemoteEntry } from './plan.js';

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
