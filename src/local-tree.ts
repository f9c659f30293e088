/**
 * One walk of a local tree: every regular file under a root (symlinks to files included,
 * symlinked directories not followed), with paths relative to the root and `/` separators.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { LocalPathError } from './exceptions.js';
import type { ExcludeMatcher } from './excludes.js';
import type { FileIdentity } from './hash-index.js';
import { getLogger } from './logging.js';

const log = getLogger('local-tree');

/** s3lync's own temp files, never part of a tree whatever the excludes. */
export const TEMP_FILE = /^\..*\.s3lync-tmp$/;

/** A local file found by the walk. */
export interface LocalFile extends FileIdentity {
  /** The path relative to the root, with `/` separators. */
  path: string;
}

/** The identity of a file from a bigint `stat`. */
export function identityOf(s: BigIntStats): FileIdentity {
  return { size: Number(s.size), mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino };
}

/**
 * Lists the files under `root`. Excluded directories are not descended into. A missing
 * root is an empty tree.
 *
 * @throws {LocalPathError} when a directory cannot be read.
 */
export async function walkLocal(
  root: string,
  isExcluded: ExcludeMatcher,
  signal?: AbortSignal,
): Promise<LocalFile[]> {
  const files: LocalFile[] = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const relDir = pending.pop() ?? '';
    const absDir = relDir === '' ? root : path.join(root, ...relDir.split('/'));
    let entries;
    try {
      entries = await readdir(absDir, { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (relDir === '' && code === 'ENOENT') return files;
      throw new LocalPathError(
        `Cannot read the directory ${absDir}: ${code ?? String(error)}`,
        absDir,
        {
          cause: error,
        },
      );
    }
    const stats = entries.map(async (entry) => {
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      if (TEMP_FILE.test(entry.name) || isExcluded(rel)) return;
      const abs = path.join(absDir, entry.name);
      if (entry.isDirectory()) {
        pending.push(rel);
        return;
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) return;
      let s: BigIntStats;
      try {
        s = await stat(abs, { bigint: true });
      } catch (error) {
        if (entry.isSymbolicLink()) {
          log.warn(`skipping the broken symlink ${abs}`);
          return;
        }
        throw new LocalPathError(`Cannot stat ${abs}: ${(error as Error).message}`, abs, {
          cause: error,
        });
      }
      if (s.isFile()) files.push({ path: rel, ...identityOf(s) });
      else if (s.isDirectory()) log.warn(`not following the symlinked directory ${abs}`);
    });
    await Promise.all(stats);
  }
  return files;
}
