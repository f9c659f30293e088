/**
 * The hash index's entries held in columns, with a flag byte per row for what the index
 * did with it since loading. Pure: the index (`hash-index.ts`) loads, saves and merges it.
 *
 * @packageDocumentation
 */
import { formatIndexLine, type IndexEntry } from './hash-index-format.js';
import { IdentityColumns, isTrusted, type FileIdentity } from './identity.js';
import { compareKeys, indexOfKey } from './keys.js';
import { resized } from './utils.js';

const OWN_MTIME = 1;
/** A row replaced, forgotten or pruned: no longer an entry. */
export const DEAD = 2;
/** Looked up, kept or recorded since loading (pruning keeps it). */
export const SEEN = 4;
/** Recorded since the last save: a merge applies it over the disk's entry. */
export const UNSAVED = 8;
/** The ETag is the MD5 itself, quoted or bare, so no string is kept for it. */
const ETAG_QUOTED_MD5 = 16;
const ETAG_BARE_MD5 = 32;
/** No MD5 is known (the 16 bytes are zero): the ETag, kept as a string, is the identity. */
const NO_MD5 = 64;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  return c - 87; // a-f; the index format has checked the digits
}

/**
 * Index entries in columns: a path string, the identity in {@link IdentityColumns}, 25 more
 * bytes of typed arrays and one flag byte per row, and a string only for an ETag that is
 * not the MD5 itself (or for a row without one). A million entries take about 110 MB
 * rather than the ~400 MB of a Map of objects with five bigints each.
 */
export class EntryTable {
  /** The paths, one per row. */
  readonly paths: string[] = [];
  private readonly ids = new IdentityColumns();
  private hashedAts = new BigInt64Array(16);
  private md5s = new Uint8Array(16 * 16);
  private flags = new Uint8Array(16);
  private readonly etags = new Map<number, string>();
  /** The row the last {@link find} hit: lookups in walk order hit the next one. */
  private hint = 0;
  /** One row read for the trust rule or a line: reused, so reading allocates no object. */
  private readonly row: IndexEntry = {
    size: 0,
    mtimeNs: 0n,
    ctimeNs: 0n,
    ino: 0n,
    md5: undefined,
    hashedAtNs: 0n,
    ownMtime: false,
    etag: undefined,
  };

  /** The number of rows, dead ones included. */
  get length(): number {
    return this.paths.length;
  }

  /** Appends a row; returns its number. */
  push(rel: string, e: IndexEntry, flags = 0): number {
    const i = this.paths.length;
    if (i === this.flags.length) this.grow();
    this.paths.push(rel);
    this.set(i, e, flags);
    return i;
  }

  /** Overwrites row `i` with `e`; of `flags`, only {@link SEEN} and {@link UNSAVED} are kept. */
  set(i: number, e: IndexEntry, flags: number): void {
    this.ids.set(i, e);
    this.hashedAts[i] = e.hashedAtNs;
    const md5 = e.md5;
    if (md5 === undefined) this.md5s.fill(0, i * 16, i * 16 + 16);
    else {
      for (let b = 0; b < 16; b++) {
        this.md5s[i * 16 + b] =
          (hexValue(md5.charCodeAt(2 * b)) << 4) | hexValue(md5.charCodeAt(2 * b + 1));
      }
    }
    let f = flags & (SEEN | UNSAVED);
    if (e.ownMtime) f |= OWN_MTIME;
    if (md5 === undefined) f |= NO_MD5;
    this.etags.delete(i);
    if (md5 !== undefined && e.etag === `"${md5}"`) f |= ETAG_QUOTED_MD5;
    else if (md5 !== undefined && e.etag === md5) f |= ETAG_BARE_MD5;
    else if (e.etag !== undefined) this.etags.set(i, e.etag);
    this.flags[i] = f;
  }

  /** The entry of row `i`, as a new object. */
  entry(i: number): IndexEntry {
    const r = this.view(i);
    return {
      size: r.size,
      mtimeNs: r.mtimeNs,
      ctimeNs: r.ctimeNs,
      ino: r.ino,
      md5: r.md5,
      hashedAtNs: r.hashedAtNs,
      ownMtime: r.ownMtime,
      ...(r.etag !== undefined && { etag: r.etag }),
    };
  }

  /** Whether row `i` has `flag`. */
  has(i: number, flag: number): boolean {
    return ((this.flags[i] ?? 0) & flag) !== 0;
  }

  /** Sets `flag` on row `i`. */
  mark(i: number, flag: number): void {
    this.flags[i] = (this.flags[i] ?? 0) | flag;
  }

  /** Clears `flag` on row `i`. */
  unmark(i: number, flag: number): void {
    this.flags[i] = (this.flags[i] ?? 0) & ~flag;
  }

  /** Whether `i` is a row that is still an entry (-1, from {@link find}, is not). */
  alive(i: number): boolean {
    return i >= 0 && !this.has(i, DEAD);
  }

  /** The row of `rel` in a table sorted by {@link compareKeys}, or -1. */
  find(rel: string): number {
    const i = indexOfKey(this.paths, rel, this.hint);
    if (i >= 0) this.hint = i;
    return i;
  }

  /** Whether every path is greater than the one before it. */
  isSorted(): boolean {
    const paths = this.paths;
    for (let i = 1; i < paths.length; i++) {
      if (compareKeys(paths[i - 1] ?? '', paths[i] ?? '') >= 0) return false;
    }
    return true;
  }

  /** The table in key order; of a path written twice, the later row wins. */
  sorted(): EntryTable {
    const paths = this.paths;
    const order = Array.from(paths.keys()).sort(
      (a, b) => compareKeys(paths[a] ?? '', paths[b] ?? '') || a - b,
    );
    const out = new EntryTable();
    order.forEach((row, k) => {
      if (paths[order[k + 1] ?? -1] === paths[row]) return;
      out.push(paths[row] ?? '', this.entry(row), this.flags[row] ?? 0);
    });
    return out;
  }

  /** The index line of row `i` ({@link formatIndexLine}). */
  line(i: number): string {
    return formatIndexLine(this.paths[i] ?? '', this.view(i));
  }

  /** Whether row `i` may stand in for hashing a file with identity `id` ({@link isTrusted}). */
  trusted(i: number, id: FileIdentity): boolean {
    return isTrusted(this.stamp(i), id);
  }

  /** Row `i`'s identity and stamp in the reused {@link row}, its MD5 and ETag left stale. */
  private stamp(i: number): IndexEntry {
    const r = this.ids.read(i, this.row);
    r.hashedAtNs = this.hashedAts[i] ?? 0n;
    r.ownMtime = this.has(i, OWN_MTIME);
    return r;
  }

  /** Row `i` whole in the reused {@link row}: valid until the next read. */
  private view(i: number): IndexEntry {
    const r = this.stamp(i);
    const md5 = this.md5(i);
    r.md5 = md5;
    r.etag =
      md5 !== undefined && this.has(i, ETAG_QUOTED_MD5)
        ? `"${md5}"`
        : md5 !== undefined && this.has(i, ETAG_BARE_MD5)
          ? md5
          : this.etags.get(i);
    return r;
  }

  private md5(i: number): string | undefined {
    if (this.has(i, NO_MD5)) return undefined;
    let out = '';
    for (let b = 0; b < 16; b++) out += HEX[this.md5s[i * 16 + b] ?? 0] ?? '';
    return out;
  }

  private grow(): void {
    const n = this.flags.length * 2;
    this.hashedAts = resized(this.hashedAts, n);
    this.md5s = resized(this.md5s, n * 16);
    this.flags = resized(this.flags, n);
  }
}
