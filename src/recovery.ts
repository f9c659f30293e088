/**
 * Crash recovery: what a process killed mid-sync leaves behind, found and removed by the
 * next sync of the same path (which knows there was a crash because it broke the dead
 * process's lock).
 *
 * @packageDocumentation
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { processAlive } from './lock.js';
import { getLogger } from './logging.js';
import { tempFileOwner } from './utils.js';

const log = getLogger('recovery');

/**
 * Removes the temp files of dead processes of this host that belong to `localPath`: under
 * it if it is a directory, else those of the file itself. Temp files of live processes,
 * and ones that name no pid, are left alone.
 *
 * @param isAlive - whether a pid of this host runs. @default {@link processAlive}
 * @returns the paths removed.
 */
export async function removeOrphanTemps(
  localPath: string,
  isAlive: (pid: number) => boolean = processAlive,
): Promise<string[]> {
  const st = await stat(localPath).catch(() => undefined);
  let candidates: string[];
  if (st?.isDirectory() === true) {
    const names = await readdir(localPath, { recursive: true });
    candidates = names.map((rel) => path.join(localPath, rel));
  } else {
    const dir = path.dirname(localPath);
    const prefix = `.${path.basename(localPath)}.`;
    const names = await readdir(dir).catch(() => [] as string[]);
    candidates = names.filter((n) => n.startsWith(prefix)).map((n) => path.join(dir, n));
  }
  const removed: string[] = [];
  for (const file of candidates) {
    const pid = tempFileOwner(path.basename(file));
    if (pid === undefined || isAlive(pid)) continue;
    await rm(file, { force: true });
    removed.push(file);
  }
  if (removed.length > 0) {
    log.info(`removed ${removed.length} temp file(s) of a crashed sync under ${localPath}`);
  }
  return removed;
}
