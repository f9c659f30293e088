/**
 * Positional writes that either complete or fail. `write(2)` may write less than asked
 * (a disk filling up writes what fits, and only the next call fails with ENOSPC); Node's
 * `FileHandle.write`/`writev` return that short count without an error, so a caller that
 * ignores it leaves a hole in the file.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes all of `buffers`, in order, at `position` of `fh`, continuing after short writes.
 *
 * @throws the write's error (e.g. ENOSPC), or an ENOSPC-like error if a write makes no progress.
 */
export async function writeAllAt(
  fh: FileHandle,
  buffers: readonly Buffer[],
  position: number,
): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, at);
    if (bytesWritten === 0) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write (no progress)'), {
        code: 'ENOSPC',
        syscall: 'write',
      });
    }
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    pending = rest;
  }
}
