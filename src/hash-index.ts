/**
 * The local hash index: the MD5 of each file is computed once and remembered, keyed by
 * its path relative to a sync root together with its size, mtime and ctime (ns) and
 * inode, so an unchanged file is never hashed again. A download verified by its multipart
 * ETag is remembered by that ETag alone, with no MD5 (none was computed): it decides later
 * syncs against the same ETag, and anything else that needs the MD5 hashes the file then.
 *
 * The index is one file per sync root in the cache directory, written atomically (temp,
 * fsync, rename). A torn or corrupt index loses only the lines that do not parse. Entries
 * for files modified too close to the moment they were hashed are not trusted ("racy"
 * entries, as in git): a second change within the same timestamp tick would be invisible.
 *
 * @packageDocumentation
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import { acquireLock, type Lock } from './lock.js';
import { getLogger } from './logging.js';
import { resized } from './utils.js';
import { compareKeys, sortKeys } from './keys.js';

import { nowNs, RACY_MARGIN_COARSE_NS, RACY_MARGIN_NS, type FileIdentity } from './identity.js';

const log = getLogger('hash-index');

const MAGIC = 's3lync-hash-index 1';

/** A save waits this long for another process's save of the same index, then gives up (a cache). */
const INDEX_LOCK_TIMEOUT_MS = 30_000;

/** One remembered file. */
export interface IndexEntry extends FileIdentity {
  /**
   * Hex MD5 of the content, or `undefined` when it was never computed: then `etag` is the
   * content's identity (a download verified against it) and the entry is a miss for
   * anything that needs the MD5.
   */
  md5: string | undefined;
  /** Wall-clock time (ns) of the stat the digest belongs to. */
  hashedAtNs: bigint;
  /** Whether s3lync set the mtime itself (downloads), so its value says nothing of the fs tick. */
  ownMtime: boolean;
  /** The remote ETag this content was last verified equal to. */
  etag?: string | undefined;
}

/**
 * Whether an entry may stand in for hashing a file with identity `current`: the identity
 * must be unchanged and the entry must not be racy.
 */
export function isTrusted(entry: IndexEntry, current: FileIdentity): boolean {
  if (
    entry.size !== current.size ||
    entry.mtimeNs !== current.mtimeNs ||
    entry.ctimeNs !== current.ctimeNs ||
    entry.ino !== current.ino
  ) {
    return false;
  }
  // ctime is stamped by the kernel (utimes cannot set it): whole-second ctimes mean a
  // coarse filesystem, where a later change could keep the same timestamp for longer.
  const coarse = !entry.ownMtime && entry.ctimeNs % 1_000_000_000n === 0n;
  const margin = coarse ? RACY_MARGIN_COARSE_NS : RACY_MARGIN_NS;
  return entry.mtimeNs + margin <= entry.hashedAtNs;
}

/** Serialises entries: a header line, then one JSON array per entry. */
export function serializeIndex(
  entries: ReadonlyMap<string, IndexEntry>,
  savedAtNs: bigint,
): string {
  const lines = [`${MAGIC} ${savedAtNs}`];
  for (const [p, e] of entries) {
    lines.push(
      JSON.stringify([
        p,
        e.size,
        String(e.mtimeNs),
        String(e.ctimeNs),
        String(e.ino),
        e.md5 ?? '',
        String(e.hashedAtNs),
        e.ownMtime ? 1 : 0,
        e.etag ?? '',
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

function parseLine(line: string): [string, IndexEntry] | undefined {
  try {
    const a = JSON.parse(line) as unknown;
    if (!Array.isArray(a) || a.length !== 9) return undefined;
    const [p, size, mtime, ctime, ino, md5, hashedAt, own, etag] = a as unknown[];
    if (
      typeof p !== 'string' ||
      typeof size !== 'number' ||
      !Number.isSafeInteger(size) ||
      typeof md5 !== 'string' ||
      !validMd5(md5) ||
      typeof etag !== 'string' ||
      (md5 === '' && etag === '')
    ) {
      return undefined;
    }
    return [
      p,
      {
        size,
        mtimeNs: BigInt(mtime as string),
        ctimeNs: BigInt(ctime as string),
        ino: BigInt(ino as string),
        md5: md5 === '' ? undefined : md5,
        hashedAtNs: BigInt(hashedAt as string),
        ownMtime: own === 1,
        ...(etag !== '' && { etag }),
      },
    ];
  } catch {
    return undefined;
  }
}

/**
 * Whether an index line's MD5 field is valid: 32 hex digits, or empty for an entry known by
 * its verified ETag alone (older readers drop such lines, which costs a re-hash).
 */
function validMd5(md5: string): boolean {
  return md5 === '' || /^[0-9a-f]{32}$/.test(md5);
}

/** The text of a JSON string token without escapes, or `undefined`. */
function plainString(token: string | undefined): string | undefined {
  if (token === undefined || token.length < 2 || !token.startsWith('"') || !token.endsWith('"'))
    return undefined;
  const inner = token.slice(1, -1);
  return inner.includes('"') || inner.includes('\\') ? undefined : inner;
}

/**
 * {@link parseLine} without `JSON.parse`, for lines as this module writes them (a third of
 * the cost at a million lines); `undefined` when the line needs the general parser.
 */
function parseLineFast(line: string): [string, IndexEntry] | undefined {
  if (!line.startsWith('["') || !line.endsWith(']')) return undefined;
  const end = line.indexOf('"', 2);
  if (end < 0 || line.charCodeAt(end + 1) !== 0x2c) return undefined;
  // Parsed as a JSON string: a fresh string, where a slice would keep the whole line alive.
  const escape = line.indexOf('\\');
  if (escape >= 0 && escape < end) return undefined;
  const p = JSON.parse(line.slice(1, end + 1)) as string;
  const fields: string[] = [];
  let i = end + 2;
  for (let k = 0; k < 7; k++) {
    const j = line.indexOf(',', i);
    if (j < 0) return undefined;
    fields.push(line.slice(i, j));
    i = j + 1;
  }
  const [sizeText, mtime, ctime, ino, md5, hashedAt, own] = fields.map((f, k) =>
    k === 0 || k === 6 ? f : plainString(f),
  );
  const size = Number(sizeText);
  if (String(size) !== sizeText || !Number.isSafeInteger(size)) return undefined;
  if (md5 === undefined || !validMd5(md5)) return undefined;
  if (mtime === undefined || ctime === undefined || ino === undefined || hashedAt === undefined)
    return undefined;
  const etagToken = line.slice(i, -1);
  const quotedMd5 = `"\\"${md5}\\""`;
  const etag =
    md5 !== '' && etagToken === quotedMd5
      ? `"${md5}"`
      : plainString(etagToken) === undefined
        ? undefined
        : (JSON.parse(etagToken) as string);
  if (etag === undefined || (md5 === '' && etag === '')) return undefined;
  try {
    return [
      p,
      {
        size,
        mtimeNs: BigInt(mtime),
        ctimeNs: BigInt(ctime),
        ino: BigInt(ino),
        md5: md5 === '' ? undefined : md5,
        hashedAtNs: BigInt(hashedAt),
        ownMtime: own === '1',
        ...(etag !== '' && { etag }),
      },
    ];
  } catch {
    return undefined;
  }
}

/** Parses an index; lines that do not parse (a torn write, corruption) are dropped. */
export function parseIndex(text: string): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  const lines = text.split('\n');
  const header = lines[0]?.split(' ') ?? [];
  if (`${header[0]} ${header[1]}` !== MAGIC || header.length !== 3) return entries;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const parsed = parseLine(line);
    if (parsed !== undefined) entries.set(parsed[0], parsed[1]);
  }
  return entries;
}

/** The index file for a sync root inside `indexDir`. */
export function indexFileFor(indexDir: string, root: string): string {
  const digest = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 32);
  return path.join(indexDir, `${digest}.jsonl`);
}

/** Which version of the index file was read: rewritten by rename, so a new inode each time. */
interface FileVersion {
  ino: number;
  size: number;
  mtimeMs: number;
}

function sameVersion(a: FileVersion | undefined, b: FileVersion | undefined): boolean {
  return a?.ino === b?.ino && a?.size === b?.size && a?.mtimeMs === b?.mtimeMs;
}

async function versionOf(file: string): Promise<FileVersion | undefined> {
  try {
    const { ino, size, mtimeMs } = await stat(file);
    return { ino, size, mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Removes temp files of `file` left by a save that died (only ever called under its lock). */
async function removeIndexTemps(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  for (const name of await readdir(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.tmp'))
      await rm(path.join(dir, name), { force: true });
  }
}

const OWN_MTIME = 1;
/** A row replaced, forgotten or pruned: no longer an entry. */
const DEAD = 2;
/** Looked up, kept or recorded since loading (pruning keeps it). */
const SEEN = 4;
/** Recorded since the last save: a merge applies it over the disk's entry. */
const UNSAVED = 8;
/** The ETag is the MD5 itself, quoted or bare, so no string is kept for it. */
const ETAG_QUOTED_MD5 = 16;
const ETAG_BARE_MD5 = 32;
/** No MD5 is known (the 16 bytes are zero): the ETag, kept as a string, is the identity. */
const NO_MD5 = 64;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  return c - 87; // a-f; parseLine has checked the digits
}

/**
 * Index entries in columns: a path string, 57 bytes of typed arrays and one flag byte per
 * row, and a string only for an ETag that is not the MD5 itself (or for a row without one). A million entries take
 * about 110 MB rather than the ~400 MB of a Map of objects with five bigints each.
 */
class EntryTable {
  readonly paths: string[] = [];
  private sizes = new Float64Array(16);
  private mtimes = new BigInt64Array(16);
  private ctimes = new BigInt64Array(16);
  private inos = new BigUint64Array(16);
  private hashedAts = new BigInt64Array(16);
  private md5s = new Uint8Array(16 * 16);
  private flags = new Uint8Array(16);
  private readonly etags = new Map<number, string>();
  /** The row the last {@link find} hit: lookups in walk order hit the next one. */
  private hint = 0;

  get length(): number {
    return this.paths.length;
  }

  push(rel: string, e: IndexEntry, flags = 0): number {
    const i = this.paths.length;
    if (i === this.sizes.length) this.grow();
    this.paths.push(rel);
    this.set(i, e, flags);
    return i;
  }

  set(i: number, e: IndexEntry, flags: number): void {
    this.sizes[i] = e.size;
    this.mtimes[i] = e.mtimeNs;
    this.ctimes[i] = e.ctimeNs;
    this.inos[i] = e.ino;
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

  md5(i: number): string | undefined {
    if (this.has(i, NO_MD5)) return undefined;
    let out = '';
    for (let b = 0; b < 16; b++) out += HEX[this.md5s[i * 16 + b] ?? 0] ?? '';
    return out;
  }

  entry(i: number): IndexEntry {
    const md5 = this.md5(i);
    const f = this.flags[i] ?? 0;
    const etag =
      md5 !== undefined && (f & ETAG_QUOTED_MD5) !== 0
        ? `"${md5}"`
        : md5 !== undefined && (f & ETAG_BARE_MD5) !== 0
          ? md5
          : this.etags.get(i);
    return {
      size: this.sizes[i] ?? 0,
      mtimeNs: this.mtimes[i] ?? 0n,
      ctimeNs: this.ctimes[i] ?? 0n,
      ino: this.inos[i] ?? 0n,
      md5,
      hashedAtNs: this.hashedAts[i] ?? 0n,
      ownMtime: (f & OWN_MTIME) !== 0,
      ...(etag !== undefined && { etag }),
    };
  }

  has(i: number, flag: number): boolean {
    return ((this.flags[i] ?? 0) & flag) !== 0;
  }

  mark(i: number, flag: number): void {
    this.flags[i] = (this.flags[i] ?? 0) | flag;
  }

  unmark(i: number, flag: number): void {
    this.flags[i] = (this.flags[i] ?? 0) & ~flag;
  }

  alive(i: number): boolean {
    return i >= 0 && !this.has(i, DEAD);
  }

  /** The row of `rel` in a table sorted by {@link compareKeys}, or -1. */
  find(rel: string): number {
    const paths = this.paths;
    const h = this.hint;
    if (paths[h] === rel) return h;
    if (paths[h + 1] === rel) return (this.hint = h + 1);
    let lo = 0;
    let hi = paths.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(paths[mid] ?? '', rel);
      if (c === 0) return (this.hint = mid);
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
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

  /** Serialises the live rows, one line each (see {@link serializeIndex}). */
  line(i: number): string {
    const f = this.flags[i] ?? 0;
    const md5 = this.md5(i);
    const etag =
      md5 !== undefined && (f & ETAG_QUOTED_MD5) !== 0
        ? `"${md5}"`
        : md5 !== undefined && (f & ETAG_BARE_MD5) !== 0
          ? md5
          : (this.etags.get(i) ?? '');
    return JSON.stringify([
      this.paths[i],
      this.sizes[i],
      String(this.mtimes[i]),
      String(this.ctimes[i]),
      String(this.inos[i]),
      md5 ?? '',
      String(this.hashedAts[i]),
      (f & OWN_MTIME) !== 0 ? 1 : 0,
      etag,
    ]);
  }

  /** Whether row `i` may stand in for hashing a file with identity `id` ({@link isTrusted}). */
  trusted(i: number, id: FileIdentity): boolean {
    const mtime = this.mtimes[i] ?? 0n;
    const ctime = this.ctimes[i] ?? 0n;
    if (
      this.sizes[i] !== id.size ||
      mtime !== id.mtimeNs ||
      ctime !== id.ctimeNs ||
      this.inos[i] !== id.ino
    ) {
      return false;
    }
    const coarse = !this.has(i, OWN_MTIME) && ctime % 1_000_000_000n === 0n;
    return mtime + (coarse ? RACY_MARGIN_COARSE_NS : RACY_MARGIN_NS) <= (this.hashedAts[i] ?? 0n);
  }

  private grow(): void {
    const n = this.sizes.length * 2;
    this.sizes = resized(this.sizes, n);
    this.mtimes = resized(this.mtimes, n);
    this.ctimes = resized(this.ctimes, n);
    this.inos = resized(this.inos, n);
    this.hashedAts = resized(this.hashedAts, n);
    this.md5s = resized(this.md5s, n * 16);
    this.flags = resized(this.flags, n);
  }
}

/** Bytes read from an index file at a time: the file is parsed as it streams in. */
const READ_CHUNK = 1 << 20;
/** Characters of lines gathered before each write. */
const WRITE_CHUNK = 1 << 20;

/**
 * Reads an index file line by line, in chunks, into a table in key order, and the version
 * read; a missing file is empty. Lines that do not parse are dropped (as {@link parseIndex}).
 */
async function readIndexFile(file: string): Promise<{ table: EntryTable; version?: FileVersion }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return { table: new EntryTable() };
  }
  try {
    // Stat and read the same descriptor, so the version is the one read.
    const { ino, size, mtimeMs } = await fh.stat();
    let table = new EntryTable();
    const decoder = new StringDecoder('utf8');
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    let rest = '';
    let header: boolean | undefined;
    const take = (line: string): void => {
      if (header === undefined) {
        const parts = line.split(' ');
        header = `${parts[0]} ${parts[1]}` === MAGIC && parts.length === 3;
        return;
      }
      if (line === '') return;
      const parsed = parseLineFast(line) ?? parseLine(line);
      if (parsed !== undefined) table.push(parsed[0], parsed[1]);
    };
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      const lines = (rest + decoder.write(buffer.subarray(0, bytesRead))).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) take(line);
      if (header === false) break;
    }
    if (header !== false) take(rest + decoder.end());
    if (header !== true) table = new EntryTable();
    else if (!table.isSorted()) table = table.sorted();
    return { table, version: { ino, size, mtimeMs } };
  } finally {
    await fh.close();
  }
}

/**
 * The hash index of one sync root.
 *
 * Saving merges: under a lock, what this run recorded and forgot is applied to the index
 * as it is on disk now, so two processes (or two objects syncing files of one directory)
 * never erase each other's entries.
 *
 * It is held compactly: the loaded index as a table in key order (as the walk lists files,
 * so lookups in walk order cost no search), what this run recorded in a second table, and
 * the files a walk saw as the walk's own sorted list ({@link HashIndex.keepSorted}).
 * Files are written sorted, streamed in and out in chunks: loading and saving are linear.
 */
export class HashIndex {
  /** The index as loaded (or as merged at the last save): sorted, rows die when replaced. */
  private base = new EntryTable();
  private liveBase = 0;
  /** Entries recorded or re-stamped since loading, which win over `base`. */
  private readonly overlay = new EntryTable();
  private readonly overlayRow = new Map<string, number>();
  private readonly forgotten = new Set<string>();
  /** Paths seen that have no row. */
  private readonly seenExtra = new Set<string>();
  /** A walk's paths in key order: all seen. */
  private kept: readonly string[] = [];
  private dirty = false;

  private constructor(
    private readonly file: string | undefined,
    private version: FileVersion | undefined,
  ) {}

  /** Loads the index at `file`; a missing or unreadable index is an empty one. */
  static async load(file: string): Promise<HashIndex> {
    try {
      const { table, version } = await readIndexFile(file);
      const index = new HashIndex(file, version);
      index.base = table;
      index.liveBase = table.length;
      return index;
    } catch (error) {
      log.warn(`ignoring unreadable hash index ${file}: ${(error as Error).message}`);
      return new HashIndex(file, undefined);
    }
  }

  /** An index that remembers nothing across runs (`hashIndex: false`). */
  static disabled(): HashIndex {
    return new HashIndex(undefined, undefined);
  }

  /** The number of entries. */
  get size(): number {
    return this.liveBase + this.overlayRow.size;
  }

  /** The entry of `rel`, if it may stand in for hashing a file with identity `id`. */
  lookup(rel: string, id: FileIdentity): IndexEntry | undefined {
    const o = this.overlayRow.get(rel);
    if (o !== undefined) {
      this.overlay.mark(o, SEEN);
      return this.overlay.trusted(o, id) ? this.overlay.entry(o) : undefined;
    }
    const b = this.base.find(rel);
    if (!this.base.alive(b)) {
      this.keep(rel);
      return undefined;
    }
    this.base.mark(b, SEEN);
    return this.base.trusted(b, id) ? this.base.entry(b) : undefined;
  }

  /** Remembers the digest of `rel`. */
  record(rel: string, entry: IndexEntry): void {
    this.put(rel, entry, SEEN);
    this.forgotten.delete(rel);
    this.seenExtra.delete(rel);
  }

  /**
   * Records the remote ETag that the content `md5` of `rel` was verified equal to. An entry
   * of other content, or without an MD5 (its ETag is its identity), is left as it is.
   */
  setEtag(rel: string, md5: string, etag: string | undefined): void {
    if (etag === undefined) return;
    const o = this.overlayRow.get(rel);
    const b = o === undefined ? this.base.find(rel) : -1;
    if (o === undefined && !this.base.alive(b)) return;
    const [table, row] = o === undefined ? [this.base, b] : [this.overlay, o];
    const e = table.entry(row);
    if (e.md5 !== md5) return;
    this.put(rel, { ...e, etag }, table.has(row, SEEN) ? SEEN : 0);
  }

  /** Notes that `rel` still exists, so pruning keeps it. */
  keep(rel: string): void {
    const o = this.overlayRow.get(rel);
    const b = o === undefined ? this.base.find(rel) : -1;
    if (o !== undefined) this.overlay.mark(o, SEEN);
    else if (b >= 0) this.base.mark(b, SEEN);
    else this.seenExtra.add(rel);
  }

  /**
   * Notes that every path of `paths` still exists: a walk's files, sorted by
   * {@link compareKeys}. Costs nothing per path; the list is held, not copied.
   */
  keepSorted(paths: readonly string[]): void {
    this.kept = paths;
  }

  /** Forgets `rel` (a deleted file). */
  forget(rel: string): void {
    const o = this.overlayRow.get(rel);
    if (o !== undefined) {
      this.overlay.mark(o, DEAD);
      this.overlayRow.delete(rel);
      this.dirty = true;
    }
    const b = this.base.find(rel);
    if (this.base.alive(b)) {
      this.base.mark(b, DEAD);
      this.liveBase--;
      this.dirty = true;
    }
    this.forgotten.add(rel);
  }

  /**
   * Writes the index atomically, merged into what is on disk now (see the class). With
   * `prune`, entries not looked up, recorded or kept since loading (files that vanished)
   * are dropped, which keeps the index bounded.
   */
  async save(options: { prune: boolean }): Promise<void> {
    if (this.file === undefined) return;
    const file = this.file;
    if (options.prune && this.prune(this.base)) this.dirty = true;
    if (!this.dirty) return;
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    let lock: Lock | undefined;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      lock = await acquireLock(`${file}.lock`, {
        timeoutMs: INDEX_LOCK_TIMEOUT_MS,
        what: `the hash index ${file}`,
      });
      if (lock.recovered) await removeIndexTemps(file);
      if (!sameVersion(this.version, await versionOf(file)))
        this.mergeFromDisk((await readIndexFile(file)).table, options.prune);
      const fh = await open(temp, 'w');
      try {
        await this.write(fh);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, file);
      this.version = await versionOf(file);
      for (const row of this.overlayRow.values()) this.overlay.unmark(row, UNSAVED);
      this.forgotten.clear();
      this.dirty = false;
    } catch (error) {
      // `force` ignores only ENOENT: a temp path under a non-directory throws ENOTDIR.
      await rm(temp, { force: true }).catch(() => undefined);
      // The index is a cache: failing to save it costs a re-hash, never data.
      log.warn(`could not save the hash index ${file}: ${(error as Error).message}`);
    } finally {
      await lock?.release();
    }
  }

  /** Puts an entry in the overlay (replacing the base's row), unsaved. */
  private put(rel: string, entry: IndexEntry, flags: number): void {
    const o = this.overlayRow.get(rel);
    if (o !== undefined) {
      this.overlay.set(o, entry, flags | UNSAVED | (this.overlay.has(o, SEEN) ? SEEN : 0));
    } else {
      this.overlayRow.set(rel, this.overlay.push(rel, entry, flags | UNSAVED));
      const b = this.base.find(rel);
      if (this.base.alive(b)) {
        this.base.mark(b, DEAD);
        this.liveBase--;
      }
    }
    this.dirty = true;
  }

  /** Marks the rows of `table` (sorted) whose path the kept walk lists, by one merge. */
  private markKept(table: EntryTable): void {
    const kept = this.kept;
    let k = 0;
    table.paths.forEach((p, i) => {
      while (k < kept.length && compareKeys(kept[k] ?? '', p) < 0) k++;
      if (kept[k] === p) table.mark(i, SEEN);
    });
  }

  private isKept(rel: string): boolean {
    let lo = 0;
    let hi = this.kept.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(this.kept[mid] ?? '', rel);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Kills the live rows of `table` (sorted) and of the overlay that nothing saw. */
  private prune(table: EntryTable): boolean {
    this.markKept(table);
    let pruned = false;
    for (let i = 0; i < table.length; i++) {
      if (table.alive(i) && !table.has(i, SEEN) && !this.seenExtra.has(table.paths[i] ?? '')) {
        table.mark(i, DEAD);
        if (table === this.base) this.liveBase--;
        pruned = true;
      }
    }
    for (const [rel, o] of this.overlayRow) {
      if (!this.overlay.has(o, SEEN) && !this.seenExtra.has(rel) && !this.isKept(rel)) {
        this.overlay.mark(o, DEAD);
        this.overlayRow.delete(rel);
        pruned = true;
      }
    }
    return pruned;
  }

  /**
   * Takes the index on disk (written by someone else since loading) and applies this run's
   * changes: unsaved records and forgets win; entries saved before give way to the disk's.
   */
  private mergeFromDisk(disk: EntryTable, prune: boolean): void {
    // What this run saw of the old base carries over to the disk's rows, by one merge.
    const base = this.base;
    let b = 0;
    disk.paths.forEach((p, i) => {
      while (b < base.length && compareKeys(base.paths[b] ?? '', p) < 0) b++;
      if (base.paths[b] === p && base.has(b, SEEN)) disk.mark(i, SEEN);
    });
    const kill = (rel: string): void => {
      const row = disk.find(rel);
      if (disk.alive(row)) disk.mark(row, DEAD);
    };
    for (const rel of this.forgotten) kill(rel);
    for (const [rel, o] of this.overlayRow) {
      if (this.overlay.has(o, UNSAVED)) {
        kill(rel);
      } else {
        const row = disk.find(rel);
        if (row >= 0 && this.overlay.has(o, SEEN)) disk.mark(row, SEEN);
        this.overlay.mark(o, DEAD);
        this.overlayRow.delete(rel);
      }
    }
    this.base = disk;
    this.liveBase = 0;
    for (let i = 0; i < disk.length; i++) if (disk.alive(i)) this.liveBase++;
    // The walk saw the whole root: what it did not see is gone (or costs one re-hash).
    if (prune) this.prune(disk);
  }

  /** Writes the header and every live entry in key order, in chunks. */
  private async write(fh: FileHandle): Promise<void> {
    let chunk: string[] = [`${MAGIC} ${nowNs()}`];
    let chars = 0;
    const add = async (line: string): Promise<void> => {
      chunk.push(line);
      chars += line.length;
      if (chars < WRITE_CHUNK) return;
      await fh.write(`${chunk.join('\n')}\n`);
      chunk = [];
      chars = 0;
    };
    const base = this.base;
    const overlay = this.overlay;
    const recorded = sortKeys([...this.overlayRow.keys()]);
    let r = 0;
    for (let i = 0; i < base.length; i++) {
      if (!base.alive(i)) continue;
      const p = base.paths[i] ?? '';
      for (; r < recorded.length && compareKeys(recorded[r] ?? '', p) < 0; r++) {
        await add(overlay.line(this.overlayRow.get(recorded[r] ?? '') ?? -1));
      }
      await add(base.line(i));
    }
    for (; r < recorded.length; r++) {
      await add(overlay.line(this.overlayRow.get(recorded[r] ?? '') ?? -1));
    }
    if (chunk.length > 0) await fh.write(`${chunk.join('\n')}\n`);
  }
}
