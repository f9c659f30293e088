/**
 * One walk of a local tree: every regular file under a root, with paths relative to the
 * root and `/` separators, in S3's key order, held compactly. Links to files inside the
 * root are read; links leading out of it, links to directories, FIFOs, sockets and devices
 * are skipped and reported (with `followSymlinks`, every link is followed, loops excepted);
 * a name that is not valid UTF-8 is reported as a problem of its own.
 *
 * @packageDocumentation
 */
import { realpathSync, statSync, type BigIntStats, type Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import { LocalPathError } from './exceptions.js';
import type { ExcludeMatcher } from './excludes.js';
import { fileKind } from './local-root.js';
import { getLogger } from './logging.js';
import { isTempName } from './utils.js';
import type { SyncFailure, SkippedEntry } from './result.js';
import { identityOf, IdentityColumns, nowNs, type FileIdentity } from './identity.js';
import { compareKeys, sortKeys } from './keys.js';

const log = getLogger('local-tree');

/**
 * Files stat'ed between two turns of the event loop. The stats are synchronous: through
 * libuv's threadpool a stat costs about three times the system call itself (measured: 17
 * against 5 CPU s for 1,000,000 files), and 64 of them block the loop for well under 1 ms.
 */
const STAT_BATCH = 64;

/** A local file found by the walk. */
export interface LocalFile extends FileIdentity {
  /** The path relative to the root, with `/` separators. */
  path: string;
}

/**
 * The files of a local tree in key order ({@link compareKeys}): a sorted array of paths and
 * their identities in {@link IdentityColumns}, so a file costs its path string and 32
 * bytes, not an object with three bigints.
 */
export class LocalTree {
  /** The relative paths, sorted by {@link compareKeys}. */
  readonly paths: string[] = [];
  /** What the walk left out on purpose (links out of the root, FIFOs...), in walk order. */
  readonly skipped: SkippedEntry[] = [];
  /** Entries that could not be read or named (an unreadable directory, a name not UTF-8). */
  readonly problems: SyncFailure[] = [];
  /**
   * A wall-clock time (ns) no later than any stat behind the identities: from then on an
   * identity's size 0 says the file was empty, so its digest needs no read. `undefined`
   * when unknown.
   */
  statedFromNs: bigint | undefined;
  private readonly ids = new IdentityColumns();

  /** A tree of the given files (sorted here), stat'ed no earlier than `statedFromNs`. */
  static of(files: Iterable<LocalFile>, statedFromNs?: bigint): LocalTree {
    const tree = new LocalTree();
    tree.statedFromNs = statedFromNs;
    for (const f of [...files].sort((a, b) => compareKeys(a.path, b.path))) tree.push(f.path, f);
    return tree;
  }

  /** The number of files. */
  get length(): number {
    return this.paths.length;
  }

  /** The size of file `i`. */
  sizeOf(i: number): number {
    return this.ids.size(i);
  }

  /** The identity of file `i`. */
  identity(i: number): FileIdentity {
    return this.ids.identity(i);
  }

  /** File `i` as an object. */
  file(i: number): LocalFile {
    return { path: this.paths[i] ?? '', ...this.identity(i) };
  }

  /** Every file as an object, in order. */
  files(): LocalFile[] {
    return this.paths.map((_, i) => this.file(i));
  }

  /** Appends a file; the caller keeps the order. */
  push(rel: string, id: FileIdentity): void {
    this.ids.set(this.paths.length, id);
    this.paths.push(rel);
  }
}

/** One directory being walked: its entries in key order, and how far the walk got. */
interface Frame {
  relDir: string;
  absDir: string;
  names: string[];
  kinds: Kind[];
  next: number;
  /** The real paths of this directory and those above it (followed links: loops). */
  reals: ReadonlySet<string>;
}

type Kind = 'file' | 'dir';

/** Options of {@link walkLocalTree}. */
export interface WalkOptions {
  /** Stops the walk; it rejects with `signal.reason`. @default none */
  signal?: AbortSignal | undefined;
  /** Follow every symbolic link, also out of the root and into directories (loops excepted). @default false */
  followSymlinks?: boolean | undefined;
}

/** What one walk knows while it runs. */
interface Walk {
  tree: LocalTree;
  isExcluded: ExcludeMatcher;
  followSymlinks: boolean;
  /** The real path of the root, to tell links that stay inside from ones that leave. */
  rootReal: string;
}

/**
 * Walks the files under `root` in key order: each directory's entries are sorted with a
 * directory `d` taken as `d/` (so `d.txt` comes before `d/x`, `d0` after it) and walked
 * depth first, which orders the whole tree as S3 orders keys. Excluded directories are
 * not descended into. A missing root is an empty tree. Skipped entries and problems below
 * the root are collected in the tree, not thrown.
 *
 * @throws {LocalPathError} when the root cannot be read.
 */
export async function walkLocalTree(
  root: string,
  isExcluded: ExcludeMatcher,
  signalOrOptions?: AbortSignal | WalkOptions,
): Promise<LocalTree> {
  const options: WalkOptions =
    signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {});
  const { signal } = options;
  const tree = new LocalTree();
  tree.statedFromNs = nowNs();
  signal?.throwIfAborted();
  const rootReal = realRoot(root);
  if (rootReal === undefined) return tree;
  const walk: Walk = {
    tree,
    isExcluded,
    followSymlinks: options.followSymlinks ?? false,
    rootReal,
  };
  const top = await readFrame(walk, root, '', new Set([rootReal]));
  if (top === undefined) return tree;
  const stack: Frame[] = [top];
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    signal?.throwIfAborted();
    const { names, kinds } = frame;
    if (frame.next >= names.length) {
      stack.pop();
      continue;
    }
    if (kinds[frame.next] === 'dir') {
      const name = names[frame.next++] ?? '';
      const abs = path.join(frame.absDir, name);
      const child = await readFrame(walk, abs, joinRel(frame.relDir, name), frame.reals);
      if (child !== undefined) stack.push(child);
      continue;
    }
    // A run of files up to the next directory, appended in order; then the loop turns.
    const dir = frame.absDir.endsWith(path.sep) ? frame.absDir : frame.absDir + path.sep;
    const end = Math.min(names.length, frame.next + STAT_BATCH);
    for (; frame.next < end && kinds[frame.next] !== 'dir'; frame.next++) {
      const name = names[frame.next] ?? '';
      const rel = joinRel(frame.relDir, name);
      try {
        const s = statSync(dir + name, { bigint: true });
        if (s.isFile()) tree.push(rel, identityOf(s));
        else skip(tree, rel, `it is ${fileKind(s)} now`);
      } catch (error) {
        tree.problems.push({
          path: rel,
          error: new LocalPathError(
            `Cannot stat ${dir + name}: ${(error as Error).message}`,
            dir + name,
            {
              cause: error,
            },
          ),
        });
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return tree;
}

/**
 * Lists the files under `root` as objects, in key order. {@link walkLocalTree} holds the
 * same far more compactly.
 *
 * @throws {LocalPathError} when a directory cannot be read.
 */
export async function walkLocal(
  root: string,
  isExcluded: ExcludeMatcher,
  signalOrOptions?: AbortSignal | WalkOptions,
): Promise<LocalFile[]> {
  return (await walkLocalTree(root, isExcluded, signalOrOptions)).files();
}

/** A relative path; joined by `join` rather than `+`, so the string is flat, not a rope. */
function joinRel(relDir: string, name: string): string {
  return relDir === '' ? name : [relDir, name].join('/');
}

/** The real path of the root; `undefined` when it is missing. */
function realRoot(root: string): string | undefined {
  try {
    return realpathSync(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LocalPathError(`Cannot read ${root}: ${(error as Error).message}`, root, {
      cause: error,
    });
  }
}

function skip(tree: LocalTree, rel: string, reason: string): void {
  tree.skipped.push({ side: 'local', path: rel, reason });
  log.warn(`skipping ${rel}: ${reason}`);
}

/**
 * The entries of a directory worth walking, in key order. A directory below the root that
 * cannot be read is a problem of the tree; the root's own failure is thrown.
 */
async function readFrame(
  walk: Walk,
  absDir: string,
  relDir: string,
  reals: ReadonlySet<string>,
): Promise<Frame | undefined> {
  let entries: Dirent[];
  try {
    entries = await readdir(absDir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (relDir === '' && code === 'ENOENT') return undefined;
    const failure = new LocalPathError(
      `Cannot read the directory ${absDir}: ${code ?? String(error)}`,
      absDir,
      { cause: error },
    );
    if (relDir === '') throw failure;
    walk.tree.problems.push({ path: relDir, error: failure });
    return undefined;
  }
  const undecodable = entries.some((e) => e.name.includes('\uFFFD'))
    ? await undecodableNames(walk, absDir, relDir)
    : undefined;
  // Followed links can loop: the real paths of this directory and those above tell.
  const here =
    walk.followSymlinks && relDir !== '' ? new Set([...reals, realOrSelf(absDir)]) : reals;
  const kindOf = new Map<string, Kind>();
  for (const entry of entries) {
    const { name } = entry;
    const rel = joinRel(relDir, name);
    if (isTempName(name) || undecodable?.has(name) === true) continue;
    // A link is a directory until followed: the glob filters decide only files.
    if (walk.isExcluded(rel, entry.isDirectory() || entry.isSymbolicLink())) continue;
    if (entry.isDirectory()) kindOf.set(`${name}/`, 'dir');
    else if (entry.isFile()) kindOf.set(name, 'file');
    else if (entry.isSymbolicLink()) {
      const kind = followLink(walk, path.join(absDir, name), rel, here);
      if (kind === 'dir') kindOf.set(`${name}/`, kind);
      else if (kind !== undefined && !walk.isExcluded(rel)) kindOf.set(name, kind);
    } else skip(walk.tree, rel, `it is ${fileKind(entry)}`);
  }
  const keys = sortKeys([...kindOf.keys()]);
  return {
    relDir,
    absDir,
    names: keys.map((k) => (k.endsWith('/') ? k.slice(0, -1) : k)),
    kinds: keys.map((k) => kindOf.get(k) ?? 'file'),
    next: 0,
    reals: here,
  };
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * What a symbolic link is to the walk: a file to read, a directory to descend (only with
 * `followSymlinks`), or `undefined` when it is skipped (and reported): broken, leading out
 * of the root, a directory, a loop, or neither file nor directory.
 */
function followLink(
  walk: Walk,
  abs: string,
  rel: string,
  reals: ReadonlySet<string>,
): Kind | undefined {
  let real: string;
  let s: BigIntStats;
  try {
    real = realpathSync(abs);
    s = statSync(real, { bigint: true });
  } catch {
    skip(walk.tree, rel, 'it is a broken symbolic link');
    return undefined;
  }
  const inside = real === walk.rootReal || real.startsWith(walk.rootReal + path.sep);
  if (!inside && !walk.followSymlinks) {
    skip(
      walk.tree,
      rel,
      `it is a symbolic link to ${real}, outside the root (followSymlinks follows it)`,
    );
    return undefined;
  }
  if (s.isFile()) return 'file';
  if (!s.isDirectory()) {
    skip(walk.tree, rel, `it is a symbolic link to ${fileKind(s)}`);
    return undefined;
  }
  if (!walk.followSymlinks) {
    skip(walk.tree, rel, 'it is a symbolic link to a directory (followSymlinks follows it)');
    return undefined;
  }
  if (reals.has(real)) {
    skip(walk.tree, rel, `it is a symbolic link to ${real}, which contains it (a loop)`);
    return undefined;
  }
  return 'dir';
}

/**
 * The names of `absDir` (as `readdir` decodes them, with U+FFFD) whose bytes are not valid
 * UTF-8: each is a problem of the tree, shown with its bytes escaped, and left out.
 */
async function undecodableNames(walk: Walk, absDir: string, relDir: string): Promise<Set<string>> {
  const raw = await readdir(absDir, { encoding: 'buffer' }).catch(() => [] as Buffer[]);
  const out = new Set<string>();
  for (const bytes of raw) {
    const name = bytes.toString('utf8');
    if (Buffer.from(name, 'utf8').equals(bytes)) continue;
    out.add(name);
    const shown = joinRel(relDir, escapeBytes(bytes));
    walk.tree.problems.push({
      path: shown,
      error: new LocalPathError(
        `Cannot sync ${path.join(absDir, escapeBytes(bytes))}: its name is not valid UTF-8 (bytes "${escapeBytes(bytes)}"), and S3 keys are UTF-8; rename it`,
        path.join(absDir, escapeBytes(bytes)),
      ),
    });
  }
  return out;
}

/** A name's bytes, printable ASCII as is and every other byte as `\xNN`. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x5c
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
