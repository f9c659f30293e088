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
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import {
  indexHeader,
  isIndexHeader,
  parseIndexLine,
  type IndexEntry,
} from './hash-index-format.js';
import { DEAD, EntryTable, SEEN, UNSAVED } from './hash-index-table.js';
import { nowNs, type FileIdentity } from './identity.js';
import { compareKeys, indexOfKey, sortKeys } from './keys.js';
import { acquireLock, pathDigest, type Lock } from './lock.js';
import { getLogger } from './logging.js';

export { parseIndex, serializeIndex, type IndexEntry } from './hash-index-format.js';
export { isTrusted } from './identity.js';

const log = getLogger('hash-index');

/** A save waits this long for another process's save of the same index, then gives up (a cache). */
const INDEX_LOCK_TIMEOUT_MS = 30_000;

/** The index file for a sync root inside `indexDir`. */
export function indexFileFor(indexDir: string, root: string): string {
  return path.join(indexDir, `${pathDigest(root)}.jsonl`);
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

/** Bytes read from an index file at a time: the file is parsed as it streams in. */
const READ_CHUNK = 1 << 20;
/** Characters of lines gathered before each write. */
const WRITE_CHUNK = 1 << 20;

/**
 * Reads an index file line by line, in chunks, into a table in key order, and the version
 * read; a missing file is empty. Lines that do not parse are dropped (as by `parseIndex`).
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
        header = isIndexHeader(line);
        return;
      }
      if (line === '') return;
      const parsed = parseIndexLine(line);
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
      if (
        !this.overlay.has(o, SEEN) &&
        !this.seenExtra.has(rel) &&
        indexOfKey(this.kept, rel) < 0
      ) {
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
    let chunk: string[] = [indexHeader(nowNs())];
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

/** Removes the index `file` of a root that is gone (a cleared cache directory), under its lock. */
export async function dropIndexFile(file: string): Promise<void> {
  const lock = await acquireLock(`${file}.lock`, {
    timeoutMs: INDEX_LOCK_TIMEOUT_MS,
    what: `the hash index ${file}`,
  });
  try {
    await rm(file, { force: true });
  } finally {
    await lock.release();
  }
}
