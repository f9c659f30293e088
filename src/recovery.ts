/**
 * Crash recovery: the temp files a process killed mid-sync or mid-`open()` leaves behind,
 * found and removed by the next sync of the same path (which knows there was a crash
 * because it broke the dead process's lock) or the next `open()` for writing beside them.
 *
 * @packageDocumentation
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';

import { LocalRoot } from './local-root.js';
import { processAlive } from './lock.js';
import { getLogger } from './logging.js';
import { HOST_TAG, isTempName, tempFileOwner } from './utils.js';

const log = getLogger('recovery');

/** Whether the temp file `name` was left by a dead process of this host. */
export function isOrphanTemp(name: string, isAlive: (pid: number) => boolean): boolean {
  if (!isTempName(name)) return false;
  const owner = tempFileOwner(name);
  if (owner === undefined) return false;
  if (owner.host !== undefined && owner.host !== HOST_TAG) return false;
  return !isAlive(owner.pid);
}

/**
 * Removes the temp files of dead processes of this host in `root`: the whole tree when
 * `recursive`, else only the root directory itself (a single file's directory). Temp files
 * of live processes, of other hosts, and ones that name no pid are left alone.
 *
 * @param isAlive - whether a pid of this host runs. @default {@link processAlive}
 * @returns the paths removed.
 */
export async function removeOrphanTemps(
  root: LocalRoot,
  recursive: boolean,
  isAlive: (pid: number) => boolean = processAlive,
): Promise<string[]> {
  const removed: string[] = [];
  for (const rel of await root.list('', recursive)) {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (!isOrphanTemp(name, isAlive)) continue;
    try {
      await root.remove(rel);
      removed.push(root.resolve(rel));
    } catch (error) {
      log.debug(`could not remove the temp file ${rel}: ${(error as Error).message}`);
    }
  }
  if (removed.length > 0) {
    log.info(`removed ${removed.length} temp file(s) of a crashed process under ${root.dir}`);
  }
  return removed;
}

/**
 * Removes the crash debris of `localPath`: under it if it is a directory, else in the
 * directory holding it.
 */
export async function removeOrphanTempsOf(localPath: string): Promise<string[]> {
  const st = await lstat(localPath).catch(() => undefined);
  return st?.isDirectory() === true
    ? removeOrphanTemps(new LocalRoot(localPath), true)
    : removeOrphanTemps(new LocalRoot(path.dirname(localPath)), false);
}
