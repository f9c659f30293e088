/**
 * The one door to the local filesystem. Every write, rename, mkdir, utimes and delete
 * under a sync root goes through a {@link LocalRoot}, which refuses any path that would
 * resolve outside the root: a `..`, `.` or empty segment, an absolute path, or a symbolic
 * link (or a file) where a directory should be. Reads of file contents go through
 * {@link openRegularFile}, which never blocks on a FIFO or opens a device. ESLint forbids
 * the write and open APIs of `node:fs` everywhere else (see `eslint.config.js`).
 *
 * Threat model: the listing, the keys and the tree as they are when a sync looks at them
 * are untrusted. A local process racing the sync to swap a checked directory for a link
 * is not covered: Node has no `openat`, so a check and the write after it are two calls.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  rmdir,
  unlink,
  utimes,
  type FileHandle,
} from 'node:fs/promises';
import path from 'node:path';

import { LocalPathError, UnsafePathError } from './exceptions.js';
import { tempName, unsafeKeyReason } from './utils.js';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } = constants;

/** What a stat or a directory entry says an entry is. */
export type EntryKind = Pick<
  Stats,
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isSocket'
  | 'isBlockDevice'
  | 'isCharacterDevice'
>;

/** What an entry is, for messages: "a FIFO (named pipe)", "a socket"... */
export function fileKind(s: EntryKind): string {
  if (s.isFile()) return 'a regular file';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isDirectory()) return 'a directory';
  if (s.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Opens a file for reading only if it is a regular file. `O_NONBLOCK` makes the open of a
 * FIFO with no writer return at once instead of hanging, and the `fstat` of the open
 * descriptor (not of the path) decides, so a file swapped after a check is caught too.
 *
 * @throws {LocalPathError} for anything but a regular file.
 */
export async function openRegularFile(file: string): Promise<FileHandle> {
  return (await openRegular(file)).fh;
}

/** {@link openRegularFile}, with the descriptor's stat. */
async function openRegular(file: string): Promise<{ fh: FileHandle; size: number }> {
  const fh = await open(file, O_RDONLY | O_NONBLOCK);
  try {
    const s = await fh.stat();
    if (s.isFile()) return { fh, size: s.size };
    throw notRegular(file, s);
  } catch (error) {
    await fh.close();
    throw error;
  }
}

function notRegular(file: string, s: EntryKind): LocalPathError {
  return new LocalPathError(
    `Cannot read ${file}: it is ${fileKind(s)}; s3lync reads only regular files`,
    file,
  );
}

/** Reads a whole regular file (small files); see {@link openRegularFile}. */
export async function readRegularFile(file: string, signal?: AbortSignal): Promise<Buffer> {
  const { fh, size } = await openRegular(file);
  try {
    // As readFile does, but with the size already known: one read, not another fstat.
    if (size === 0) return await fh.readFile(signal ? { signal } : {});
    signal?.throwIfAborted();
    const out = Buffer.allocUnsafeSlow(size);
    let n = 0;
    for (let got = 1; got > 0 && n < size; n += got) {
      got = (await fh.read(out, n, size - n, n)).bytesRead;
      signal?.throwIfAborted();
    }
    return n === size ? out : out.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a whole regular file of at most `maxSize` bytes synchronously (tiny files, whose
 * read blocks the event loop for microseconds); see {@link openRegularFile}. `undefined`
 * when the open descriptor says it is larger.
 *
 * @throws {LocalPathError} for anything but a regular file.
 */
export function readRegularFileSync(file: string, maxSize: number): Buffer | undefined {
  const fd = openSync(file, O_RDONLY | O_NONBLOCK);
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw notRegular(file, s);
    if (s.size > maxSize) return undefined;
    // As readFile: the size the descriptor says, or to the end when it says 0.
    const out = Buffer.allocUnsafe(s.size > 0 ? s.size : maxSize + 1);
    let n = 0;
    for (let got = 1; got > 0 && n < out.length; n += got) {
      got = readSync(fd, out, n, out.length - n, n);
    }
    return n > maxSize ? undefined : out.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes a local copy the user asked to delete (`S3Object.delete({ local: true })`): the
 * path itself, recursively if it is a directory. Links inside are removed, never followed.
 */
export async function removeLocalCopy(localPath: string): Promise<void> {
  await rm(localPath, { force: true, recursive: true });
}

/** A temp file beside its target, created by {@link LocalRoot.createTemp}. */
export class TempFile {
  /** The temp file's absolute path. */
  readonly path: string;
  /** The target's absolute path. */
  readonly target: string;
  /** The descriptor the file was created with, until the first {@link open} takes it. */
  #created: FileHandle | undefined;

  /** @internal made by {@link LocalRoot.createTemp} only. */
  constructor(tempPath: string, target: string, created?: FileHandle) {
    this.path = tempPath;
    this.target = target;
    this.#created = created;
  }

  /**
   * Opens the temp file from its start, emptied (every attempt of a download starts over);
   * never follows a link, never creates a file elsewhere. The first call hands over the
   * descriptor the file was created with (empty, read-write): one open per file, not two.
   * The caller closes what it gets.
   *
   * @param readBack - also for reading (the ranged download's hasher reads it back). @default false
   */
  open(readBack = false): Promise<FileHandle> {
    const created = this.#created;
    this.#created = undefined;
    if (created !== undefined) return Promise.resolve(created);
    return open(this.path, (readBack ? O_RDWR : O_WRONLY) | O_TRUNC | O_NOFOLLOW);
  }

  /** Opens the temp file with `open(2)` flags such as `'w+'` or `'a'` (the `open()` handle). */
  async openAs(flags: string): Promise<FileHandle> {
    await this.#release();
    return open(this.path, flags);
  }

  /** Copies `source` into the temp file (a clone where the filesystem can). */
  async copyFrom(source: string): Promise<void> {
    await this.#release();
    await copyFile(source, this.path, constants.COPYFILE_FICLONE);
  }

  /** Sets the temp file's times. */
  async setTimes(atime: Date, mtime: Date): Promise<void> {
    await utimes(this.path, atime, mtime);
  }

  /** Renames the temp file over its target: the one moment the target changes. */
  async commit(): Promise<void> {
    await this.#release();
    await rename(this.path, this.target);
  }

  /** Removes the temp file, if it is still there. */
  async discard(): Promise<void> {
    await this.#release();
    await rm(this.path, { force: true });
  }

  /** Closes the creation descriptor if nobody took it. */
  async #release(): Promise<void> {
    const created = this.#created;
    this.#created = undefined;
    await created?.close();
  }
}

/**
 * A sync root: a directory s3lync may write in, and nowhere else. Paths are relative to
 * it, with `/` separators. Directories on the way to a write are checked once per
 * instance (one sync): each must be a real directory, not a link, and missing ones are
 * created one level at a time, so nothing is ever created through a link.
 */
export class LocalRoot {
  /** The root's absolute path. */
  readonly dir: string;
  /** Relative directories known to be real directories of this root. */
  private readonly dirs = new Set<string>();
  /** Relative directories found missing by {@link checkWritable}: a write would make them. */
  private readonly absent = new Set<string>();
  /** Directories being checked or made for a write, by relative path. */
  private readonly making = new Map<string, Promise<Stats | 'made'>>();
  private rootMade: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** `rel` under the root, unchecked: the one place a relative path becomes a local one. */
  #join(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  /**
   * The absolute path of `rel`.
   *
   * @throws {UnsafePathError} when `rel` would leave the root (`..`, `.`, empty segments,
   * absolute, NUL).
   */
  resolve(rel: string): string {
    const reason = unsafeKeyReason(rel);
    if (reason !== undefined) {
      throw new UnsafePathError(
        `Refusing key ${JSON.stringify(rel)}: ${reason}, so its local path would not stay inside ${this.dir}`,
        this.dir,
      );
    }
    return this.#join(rel);
  }

  /**
   * Creates a temp file beside `rel` (`O_EXCL`, no link followed), creating the directories
   * on the way; the caller writes it and then commits or discards it.
   *
   * @throws {UnsafePathError} when the way to `rel` leaves the root or passes a link.
   */
  async createTemp(rel: string): Promise<TempFile> {
    const target = this.resolve(rel);
    await this.directoriesOf(rel, 'create');
    const temp = path.join(path.dirname(target), tempName(randomBytes(4).toString('hex')));
    const fh = await open(temp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, 0o666);
    return new TempFile(temp, target, fh);
  }

  /**
   * Removes the file (or link: never its target) at `rel`.
   *
   * @throws {UnsafePathError} when the way to `rel` leaves the root or passes a link.
   */
  async remove(rel: string): Promise<void> {
    const abs = this.resolve(rel);
    await this.directoriesOf(rel, 'exist');
    await unlink(abs);
  }

  /** Removes the directory `rel` if it is empty; one still holding anything stays. */
  async removeEmptyDir(rel: string): Promise<boolean> {
    const abs = this.resolve(rel);
    try {
      await this.directoriesOf(rel, 'exist');
      const s = await lstat(abs);
      if (!s.isDirectory()) return false;
      await rmdir(abs);
      this.dirs.delete(rel);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The relative paths of every entry under the root (or under `rel`, not recursively when
   * `recursive` is false), links listed and not followed; empty when it is missing.
   */
  async list(relDir = '', recursive = true): Promise<string[]> {
    const abs = relDir === '' ? this.dir : this.resolve(relDir);
    const names = await readdir(abs, { recursive }).catch(() => [] as string[]);
    const base = relDir === '' ? '' : `${relDir}/`;
    return names.map((n) => base + n.split(path.sep).join('/'));
  }

  /**
   * Checks, without changing anything, that `rel` could be written: each directory on the
   * way is a directory (not a link), or missing (it would be created). A dry run's plan
   * is then what the real run does.
   *
   * @throws {UnsafePathError} when the way to `rel` leaves the root or passes a link.
   */
  async checkWritable(rel: string): Promise<void> {
    this.resolve(rel);
    await this.directoriesOf(rel, 'check');
  }

  /**
   * Checks the directories of `rel` below the root: each must be a directory, not a link.
   * `create` makes missing ones; `check` stops at the first missing one (it would be
   * made); `exist` fails on it. The root itself is the caller's choice and may be a link.
   */
  private async directoriesOf(rel: string, mode: 'create' | 'check' | 'exist'): Promise<void> {
    if (mode === 'create') await this.#makeRoot();
    const segments = rel.split('/');
    let dir = '';
    for (let i = 0; i < segments.length - 1; i++) {
      dir = dir === '' ? (segments[i] ?? '') : `${dir}/${segments[i] ?? ''}`;
      if (this.dirs.has(dir)) continue;
      if (mode === 'check' && this.absent.has(dir)) return;
      const s = mode === 'create' ? await this.#made(dir) : await this.#lstat(dir, mode);
      if (s === undefined) {
        this.absent.add(dir);
        return;
      }
      if (s !== 'made') this.#assertDirectory(rel, dir, s);
      this.dirs.add(dir);
    }
  }

  /** The root, made once (with its parents) by the first write. */
  async #makeRoot(): Promise<void> {
    this.rootMade ??= mkdir(this.dir, { recursive: true }).then(
      () => undefined,
      (error: unknown) => {
        this.rootMade = undefined;
        throw error;
      },
    );
    await this.rootMade;
  }

  /**
   * What is at `dir`, made if missing: `'made'` for a directory this call created (mkdir
   * makes a directory or fails, so it needs no lstat), else its lstat. Writers of the same
   * new directory share one check instead of each racing to make it.
   */
  #made(dir: string): Promise<Stats | 'made'> {
    let pending = this.making.get(dir);
    if (pending === undefined) {
      pending = this.#lstatOrMake(dir).finally(() => this.making.delete(dir));
      this.making.set(dir, pending);
    }
    return pending;
  }

  async #lstatOrMake(dir: string): Promise<Stats | 'made'> {
    const abs = this.#join(dir);
    const s = await this.#lstat(dir, 'create');
    if (s !== undefined) return s;
    try {
      await mkdir(abs);
      return 'made';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return lstat(abs);
    }
  }

  /** The lstat of `dir`; `undefined` when it is missing, unless `mode` is `exist`. */
  async #lstat(dir: string, mode: 'create' | 'check' | 'exist'): Promise<Stats | undefined> {
    return lstat(this.#join(dir)).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && mode !== 'exist') return undefined;
      throw error;
    });
  }

  /** Refuses a link or a non-directory at `dir` on the way to `rel`. */
  #assertDirectory(rel: string, dir: string, s: Stats): void {
    const abs = this.#join(dir);
    if (s.isSymbolicLink()) {
      throw new UnsafePathError(
        `Refusing to write ${this.#join(rel)}: ${abs} is a symbolic link, and s3lync never writes or deletes through one (it may lead outside ${this.dir})`,
        abs,
      );
    }
    if (!s.isDirectory()) {
      throw new LocalPathError(
        `Cannot write ${this.#join(rel)}: ${abs} is ${fileKind(s)}, expected a directory`,
        abs,
      );
    }
  }
}
