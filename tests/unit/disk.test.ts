import type { FileHandle } from 'node:fs/promises';

import { describe, expect, it } from 'vitest';

import { writeAllAt } from '../../src/disk.js';

/** A file handle whose writev writes at most `limits[i]` bytes on call i (then fails). */
function shortWriter(limits: number[], error?: NodeJS.ErrnoException) {
  const file = Buffer.alloc(64);
  const calls: { position: number; lengths: number[] }[] = [];
  const fh = {
    writev(buffers: Buffer[], position: number) {
      calls.push({ position, lengths: buffers.map((b) => b.length) });
      const limit = limits.shift();
      if (limit === undefined) return Promise.reject(error ?? new Error('unexpected call'));
      let written = 0;
      for (const b of buffers) {
        const n = Math.min(b.length, limit - written);
        b.copy(file, position + written, 0, n);
        written += n;
        if (written === limit) break;
      }
      return Promise.resolve({ bytesWritten: written, buffers });
    },
  } as unknown as FileHandle;
  return { fh, file, calls };
}

describe('writeAllAt', () => {
  it('continues after short writes, mid-buffer and across buffers, at the right offsets', async () => {
    const { fh, file, calls } = shortWriter([3, 4, 100]);
    await writeAllAt(fh, [Buffer.from('abcde'), Buffer.from('fghij')], 10);
    expect(file.subarray(10, 20).toString()).toBe('abcdefghij');
    expect(calls).toEqual([
      { position: 10, lengths: [5, 5] },
      { position: 13, lengths: [2, 5] },
      { position: 17, lengths: [3] },
    ]);
  });

  it("surfaces the next write's error after a short write (a disk that filled up)", async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      syscall: 'write',
    });
    const { fh } = shortWriter([2], enospc);
    await expect(writeAllAt(fh, [Buffer.from('abcdef')], 0)).rejects.toBe(enospc);
  });

  it('fails with ENOSPC if a write makes no progress, instead of looping', async () => {
    const { fh } = shortWriter([0]);
    await expect(writeAllAt(fh, [Buffer.from('abc')], 0)).rejects.toMatchObject({
      code: 'ENOSPC',
    });
  });

  it('writes nothing for empty input', async () => {
    const { fh, calls } = shortWriter([]);
    await writeAllAt(fh, [Buffer.alloc(0)], 0);
    expect(calls).toEqual([]);
  });
});
