/**
 * When s3lync last checked a single object's local copy against the server, and what it
 * found: one small JSON file per local path in `<index dir>/checks/`. A record says "the
 * content with this ETag (of this version) was current at `checkedAt`"; it counts only
 * while the hash index trusts the local file to still be that content, so a file changed
 * since, by anyone, is checked again.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import { LocalRoot, readRegularFile } from '../local-root.js';
import { getLogger } from '../logging.js';

const log = getLogger('cache');

/** The records' directory inside an index directory. */
export const CHECKS_DIR = 'checks';

/** One single object's last check. */
export interface CheckRecord {
  /** The ETag (normalised) the local content was found current as. */
  etag: string;
  /** The version it is, for a pinned object. */
  versionId?: string | undefined;
  /** When the check was sent (ms since the epoch). */
  checkedAt: number;
}

/** The record file's name for `localPath`. */
export function recordName(localPath: string): string {
  return `${createHash('sha256').update(path.resolve(localPath)).digest('hex').slice(0, 32)}.json`;
}

/** The record of `localPath`, or `undefined` when there is none (or it does not parse). */
export async function readCheck(
  checksDir: string,
  localPath: string,
): Promise<CheckRecord | undefined> {
  try {
    const data = JSON.parse(
      (await readRegularFile(path.join(checksDir, recordName(localPath)))).toString('utf8'),
    ) as Partial<CheckRecord> | null;
    if (typeof data?.etag !== 'string' || typeof data.checkedAt !== 'number') return undefined;
    const versionId = typeof data.versionId === 'string' ? data.versionId : undefined;
    return { etag: data.etag, versionId, checkedAt: data.checkedAt };
  } catch {
    return undefined;
  }
}

/** Writes the record of `localPath` (temp file, rename); a failure costs a request later, never data. */
export async function writeCheck(
  checksDir: string,
  localPath: string,
  record: CheckRecord,
): Promise<void> {
  let temp;
  try {
    temp = await new LocalRoot(checksDir).createTemp(recordName(localPath));
    const fh = await temp.open();
    try {
      await fh.writeFile(JSON.stringify(record));
    } finally {
      await fh.close();
    }
    await temp.commit();
  } catch (error) {
    await temp?.discard().catch(() => undefined);
    log.debug(`could not record the check of ${localPath}: ${(error as Error).message}`);
  }
}

/**
 * Removes the records of `localPaths` (files evicted from the cache) that exist; a
 * record left behind is harmless (it counts only while the hash index trusts the file).
 */
export async function dropChecks(checksDir: string, localPaths: readonly string[]): Promise<void> {
  const existing = new Set(await readdir(checksDir).catch(() => [] as string[]));
  if (existing.size === 0) return;
  const door = new LocalRoot(checksDir);
  for (const localPath of localPaths) {
    const name = recordName(localPath);
    if (!existing.has(name)) continue;
    await door.remove(name).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }
}
