/**
 * The handle `S3Object.open()` returns: a `fs.promises.FileHandle` whose `close()` uploads.
 *
 * Write modes work on a temp file next to the local path. `close()` uploads it and then
 * renames it into place; `discard()` (and an exception in the callback form) removes it,
 * so neither the object nor the local copy ever holds half-written data.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { ConfigError, NotFoundError, PreconditionFailedError } from './exceptions.js';
import { LocalRoot, openRegularFile, type TempFile } from './local-root.js';
import { getLogger } from './logging.js';
import { removeOrphanTemps } from './recovery.js';

import type { OpenCacheHooks } from './cache/keeper.js';
import type { S3lyncClient } from './client.js';
import type { SyncOptions } from './sync.js';

/** Options of `S3Object.open()`: those of the syncs it runs. */
export type OpenOptions = Omit<SyncOptions, 'dryRun' | 'mirror' | 'maxDelete'>;

/** What `open()` needs from the object it opens (an `S3Object`). */
export interface OpenTarget {
  readonly bucket: string;
  readonly key: string;
  /** The URI, redacted. */
  readonly uri: string;
  readonly localPath: string;
  readonly client: Pick<S3lyncClient, 'head'>;
  download(options: OpenOptions): Promise<unknown>;
  upload(options: OpenOptions): Promise<unknown>;
  /** Uploads `sourcePath` as a new object (`If-None-Match: *`). */
  uploadNew(sourcePath: string, options: OpenOptions): Promise<boolean | undefined>;
}

const log = getLogger('file');

/** The modes of `open()`: Python's, with `b` accepted and ignored (handles are binary). */
export type OpenMode =
  | 'r'
  | 'rb'
  | 'r+'
  | 'rb+'
  | 'r+b'
  | 'w'
  | 'wb'
  | 'w+'
  | 'wb+'
  | 'w+b'
  | 'a'
  | 'ab'
  | 'a+'
  | 'ab+'
  | 'a+b'
  | 'x'
  | 'xb'
  | 'x+'
  | 'xb+'
  | 'x+b';

/** What a mode means for syncing. */
export interface ModeSemantics {
  /** `r`, `w`, `a` or `x`. */
  base: 'r' | 'w' | 'a' | 'x';
  /** Whether `+` was given (read and write). */
  plus: boolean;
  /** Whether closing uploads. */
  writes: boolean;
  /** The flags for the local file. */
  flags: string;
}

/**
 * Parses a mode.
 *
 * @throws {ConfigError} listing the valid modes.
 */
export function parseOpenMode(mode: string): ModeSemantics {
  const m = /^([rwax])(b?)(\+?)(b?)$/.exec(mode);
  if (m === null || (m[2] === 'b' && m[4] === 'b')) {
    throw new ConfigError(
      `Invalid open mode ${JSON.stringify(mode)}: expected r, w, a or x, optionally with + and b (e.g. 'rb', 'w+', 'r+b')`,
    );
  }
  const base = m[1] as ModeSemantics['base'];
  const plus = m[3] === '+';
  const writes = base !== 'r' || plus;
  const flags = base === 'x' ? (plus ? 'w+' : 'w') : `${base}${plus ? '+' : ''}`;
  return { base, plus, writes, flags };
}

/** A file handle on the local copy; for write modes, `close()` uploads. */
export interface S3File extends FileHandle {
  /** The mode the file was opened with. */
  readonly mode: OpenMode;
  /** The path the handle reads and writes (a temp file for write modes). */
  readonly path: string;
  /** Whether closing uploads. */
  readonly writes: boolean;
  /**
   * Mode `'x'`, after `close()`: whether the server itself refused to replace an existing
   * object (`If-None-Match: *`). `false`: it ignores that header (a warning says so), so
   * only s3lync's check at `open()` held, not against an object created in between.
   * `undefined` before `close()`, in other modes, or when the probe could not tell.
   */
  readonly exclusive: boolean | undefined;
  /** Closes the file and, for write modes, uploads it and moves it into place. */
  close(): Promise<void>;
  /** Closes the file without uploading; what was written is dropped. */
  discard(): Promise<void>;
  /** `await using`: discards unless `close()` already ran (see the README). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** What a handle does with the cache: its lease, released once it is closed, and the dirty mark. */
interface HandleCache {
  readonly hooks: OpenCacheHooks | undefined;
  readonly lease: { release(): Promise<void> } | undefined;
}

/**
 * Opens the local copy of `obj` in `mode`; see `S3Object.open`. A copy in the default cache
 * is leased first, so no eviction removes it while the handle is open.
 */
export async function openS3File(
  obj: OpenTarget,
  mode: OpenMode,
  options: OpenOptions,
  hooks?: OpenCacheHooks,
): Promise<S3File> {
  const sem = parseOpenMode(mode);
  const cache: HandleCache = { hooks, lease: await hooks?.lease() };
  try {
    return await openLeased(obj, mode, sem, options, cache);
  } catch (error) {
    await cache.lease?.release();
    throw error;
  }
}

async function openLeased(
  obj: OpenTarget,
  mode: OpenMode,
  sem: ModeSemantics,
  options: OpenOptions,
  cache: HandleCache,
): Promise<S3File> {
  if (!sem.writes) {
    await obj.download(options);
    return wrap(await openRegularFile(obj.localPath), obj, mode, sem, undefined, options, cache);
  }
  const root = new LocalRoot(path.dirname(obj.localPath));
  // A write killed midway leaves its temp file beside the local copy: the next one clears it.
  await removeOrphanTemps(root, false);
  if (sem.base === 'x' && (await obj.client.head(obj.bucket, obj.key, options.signal))) {
    throw new PreconditionFailedError(
      `${obj.uri} already exists; mode 'x' only creates new objects`,
      {
        operation: 'open',
        uri: obj.uri,
      },
    );
  }
  const temp = await root.createTemp(path.basename(obj.localPath));
  try {
    if (sem.base === 'a' || sem.base === 'r') {
      // Appending to a stale cache would upload it over the remote content: sync first.
      try {
        await obj.download(options);
        await temp.copyFrom(obj.localPath);
      } catch (error) {
        if (!(error instanceof NotFoundError) || sem.base === 'r') throw error;
      }
    }
    return wrap(await temp.openAs(sem.flags), obj, mode, sem, temp, options, cache);
  } catch (error) {
    await temp.discard();
    throw error;
  }
}

function wrap(
  handle: FileHandle,
  obj: OpenTarget,
  mode: OpenMode,
  sem: ModeSemantics,
  temp: TempFile | undefined,
  options: OpenOptions,
  cache: HandleCache,
): S3File {
  const filePath = temp?.path ?? obj.localPath;
  let settled = false;
  let exclusive: boolean | undefined;

  const discard = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    try {
      await handle.close();
      await temp?.discard();
    } finally {
      await cache.lease?.release();
    }
  };

  const close = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    try {
      await closeAndUpload();
    } finally {
      await cache.lease?.release();
    }
  };

  const closeAndUpload = async (): Promise<void> => {
    await handle.close();
    if (temp === undefined) return;
    if (sem.base === 'x') {
      try {
        exclusive = await obj.uploadNew(filePath, options);
      } catch (error) {
        await temp.discard();
        throw error;
      }
      await temp.commit();
      return;
    }
    // The content becomes the local copy first, so a failed upload loses nothing and
    // upload() can send it again; the upload then skips nothing it should send. Marked
    // dirty before, so no eviction takes it until an upload succeeds.
    await cache.hooks?.markDirty();
    await temp.commit();
    try {
      await obj.upload(options);
    } catch (error) {
      log.warn(`upload of ${obj.uri} failed; the written content is kept at ${obj.localPath}`);
      throw error;
    }
  };

  const dispose = async (): Promise<void> => {
    if (settled) return;
    if (sem.writes) {
      process.emitWarning(
        `s3lync: the file for ${obj.uri} was disposed without close(); nothing was uploaded`,
        { code: 'S3LYNC_DISPOSED_WITHOUT_CLOSE' },
      );
    }
    await discard();
  };

  const overrides: Record<PropertyKey, unknown> = {
    mode,
    path: filePath,
    writes: sem.writes,
    close,
    discard,
    [Symbol.asyncDispose]: dispose,
  };
  return new Proxy(handle, {
    get(target, prop) {
      if (prop === 'exclusive') return exclusive;
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  }) as S3File;
}
