/**
 * The local hash index: the MD5 of each file is computed once and remembered, keyed by
 * its path relative to a sync root together with its size, mtime and ctime (ns) and
 * inode, so an unchanged file is never hashed again.
 *
 * The index is one file per sync root in the cache directory, written atomically (temp,
 * fsync, rename). A torn or corrupt index loses only the lines that do not parse. Entries
 * for files modified too close to the moment they were hashed are not trusted ("racy"
 * entries, as in git): a second change within the same timestamp tick would be invisible.
 *
 * @packageDocumentation
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { acquireLock, type Lock } from './lock.js';
import { getLogger } from './logging.js';

const log = getLogger('hash-index');

const MAGIC = 's3lync-hash-index 1';

/** A save waits this long for another process's save of the same index, then gives up (a cache). */
const INDEX_LOCK_TIMEOUT_MS = 30_000;

/** Below this, a fine-grained mtime this close to the hash time is not trusted. */
export const RACY_MARGIN_NS = 100_000_000n;
/** On coarse filesystems (whole-second ctimes) the margin is two seconds (FAT's tick). */
export const RACY_MARGIN_COARSE_NS = 2_000_000_000n;

/** The identity of a file's content as `stat` sees it. */
export interface FileIdentity {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

/** One remembered file. */
export interface IndexEntry extends FileIdentity {
  /** Hex MD5 of the content. */
  md5: string;
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
        e.md5,
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
      !/^[0-9a-f]{32}$/.test(md5) ||
      typeof etag !== 'string'
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
        md5,
        hashedAtNs: BigInt(hashedAt as string),
        ownMtime: own === 1,
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

/** The current wall-clock time in ns. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
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

/** Reads an index file: its entries and the version read; a missing file is empty. */
async function readIndexFile(
  file: string,
): Promise<{ entries: Map<string, IndexEntry>; version?: FileVersion }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return { entries: new Map() };
  }
  try {
    // Stat and read the same descriptor, so the version is the one read.
    const { ino, size, mtimeMs } = await fh.stat();
    const text = await fh.readFile('utf8');
    return { entries: parseIndex(text), version: { ino, size, mtimeMs } };
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
 */
export class HashIndex {
  private readonly seen = new Set<string>();
  /** Entries recorded (or re-stamped) since loading: what a save merges in. */
  private readonly changed = new Map<string, IndexEntry>();
  private readonly forgotten = new Set<string>();
  private dirty = false;

  private constructor(
    private readonly file: string | undefined,
    private entries: Map<string, IndexEntry>,
    private version: FileVersion | undefined,
  ) {}

  /** Loads the index at `file`; a missing or unreadable index is an empty one. */
  static async load(file: string): Promise<HashIndex> {
    try {
      const { entries, version } = await readIndexFile(file);
      return new HashIndex(file, entries, version);
    } catch (error) {
      log.warn(`ignoring unreadable hash index ${file}: ${(error as Error).message}`);
      return new HashIndex(file, new Map(), undefined);
    }
  }

  /** An index that remembers nothing across runs (`hashIndex: false`). */
  static disabled(): HashIndex {
    return new HashIndex(undefined, new Map(), undefined);
  }

  /** The number of entries. */
  get size(): number {
    return this.entries.size;
  }

  /** The entry of `rel`, if it may stand in for hashing a file with identity `id`. */
  lookup(rel: string, id: FileIdentity): IndexEntry | undefined {
    this.seen.add(rel);
    const e = this.entries.get(rel);
    return e !== undefined && isTrusted(e, id) ? e : undefined;
  }

  /** Remembers the digest of `rel`. */
  record(rel: string, entry: IndexEntry): void {
    this.seen.add(rel);
    this.entries.set(rel, entry);
    this.changed.set(rel, entry);
    this.forgotten.delete(rel);
    this.dirty = true;
  }

  /** Records the remote ETag that the content `md5` of `rel` was verified equal to. */
  setEtag(rel: string, md5: string, etag: string | undefined): void {
    const e = this.entries.get(rel);
    if (e === undefined || e.md5 !== md5 || etag === undefined) return;
    const entry = { ...e, etag };
    this.entries.set(rel, entry);
    this.changed.set(rel, entry);
    this.dirty = true;
  }

  /** Notes that `rel` still exists, so pruning keeps it. */
  keep(rel: string): void {
    this.seen.add(rel);
  }

  /** Forgets `rel` (a deleted file). */
  forget(rel: string): void {
    this.changed.delete(rel);
    this.forgotten.add(rel);
    this.dirty = this.entries.delete(rel) || this.dirty;
  }

  /**
   * Writes the index atomically, merged into what is on disk now (see the class). With
   * `prune`, entries not looked up, recorded or kept since loading (files that vanished)
   * are dropped, which keeps the index bounded.
   */
  async save(options: { prune: boolean }): Promise<void> {
    if (this.file === undefined) return;
    const file = this.file;
    if (options.prune) {
      for (const p of this.entries.keys()) {
        if (!this.seen.has(p)) {
          this.entries.delete(p);
          this.dirty = true;
        }
      }
    }
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
        this.mergeFromDisk(await readIndexFile(file), options.prune);
      const fh = await open(temp, 'w');
      try {
        await fh.writeFile(serializeIndex(this.entries, nowNs()));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, file);
      this.version = await versionOf(file);
      this.changed.clear();
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

  /** Takes the index on disk (written by someone else since loading) and applies this run's changes. */
  private mergeFromDisk(disk: { entries: Map<string, IndexEntry> }, prune: boolean): void {
    const merged = disk.entries;
    for (const rel of this.forgotten) merged.delete(rel);
    for (const [rel, e] of this.changed) merged.set(rel, e);
    if (prune) {
      // The walk saw the whole root: what it did not see is gone (or costs one re-hash).
      for (const rel of merged.keys()) if (!this.seen.has(rel)) merged.delete(rel);
    }
    this.entries = merged;
  }
}
