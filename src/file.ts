/**
 * The handle `S3Object.open()` returns: a `fs.promises.FileHandle` whose `close()` uploads.
 *
 * Write modes work on a temp file next to the local path. `close()` uploads it and then
 * renames it into place; `discard()` (and an exception in the callback form) removes it,
 * so neither the object nor the local copy ever holds half-written data.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { ConfigError, NotFoundError, PreconditionFailedError } from './exceptions.js';
import { getLogger } from './logging.js';
import { tempPathFor } from './utils.js';

import type { S3Object, TransferOptions } from './core.js';

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
  /** Closes the file and, for write modes, uploads it and moves it into place. */
  close(): Promise<void>;
  /** Closes the file without uploading; what was written is dropped. */
  discard(): Promise<void>;
  /** `await using`: discards unless `close()` already ran (see the README). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens the local copy of `obj` in `mode`; see `S3Object.open`. */
export async function openS3File(
  obj: S3Object,
  mode: OpenMode,
  options: TransferOptions,
): Promise<S3File> {
  const sem = parseOpenMode(mode);
  if (!sem.writes) {
    await obj.download(options);
    return wrap(await open(obj.localPath, 'r'), obj, mode, sem, obj.localPath, options);
  }
  await mkdir(path.dirname(obj.localPath), { recursive: true });
  const temp = tempPathFor(obj.localPath, randomBytes(6).toString('hex'));
  if (sem.base === 'x' && (await obj.client.head(obj.bucket, obj.key, options.signal))) {
    throw new PreconditionFailedError(
      `${obj.uri} already exists; mode 'x' only creates new objects`,
      {
        operation: 'open',
        uri: obj.uri,
      },
    );
  }
  if (sem.base === 'a' || sem.base === 'r') {
    // Appending to a stale cache would upload it over the remote content: sync first.
    try {
      await obj.download(options);
      await copyFile(obj.localPath, temp, constants.COPYFILE_FICLONE);
    } catch (error) {
      if (!(error instanceof NotFoundError) || sem.base === 'r') throw error;
    }
  }
  try {
    return wrap(await open(temp, sem.flags), obj, mode, sem, temp, options);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function wrap(
  handle: FileHandle,
  obj: S3Object,
  mode: OpenMode,
  sem: ModeSemantics,
  filePath: string,
  options: TransferOptions,
): S3File {
  let settled = false;

  const discard = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    await handle.close();
    if (sem.writes) await rm(filePath, { force: true });
  };

  const close = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    await handle.close();
    if (!sem.writes) return;
    if (sem.base === 'x') {
      try {
        await obj.uploadNew(filePath, options);
      } catch (error) {
        await rm(filePath, { force: true });
        throw error;
      }
      await rename(filePath, obj.localPath);
      return;
    }
    // The content becomes the local copy first, so a failed upload loses nothing and
    // upload() can send it again; the upload then skips nothing it should send.
    await rename(filePath, obj.localPath);
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
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  }) as S3File;
}
