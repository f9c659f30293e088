import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { WorkerFileHasher } from '../../src/hash-worker.js';
import { compositeEtag } from '../../src/hash.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >>> 16;
  }
  return out;
}

describe('WorkerFileHasher', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-worker-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hashes in a worker, in order, what is written out of order: MD5 and composite ETags', async () => {
    const data = bytes(10_000, 7);
    const file = path.join(dir, 'out.bin');
    const fh = await open(file, 'w+');
    const hasher = new WorkerFileHasher(fh, { candidatePartSizes: [4000, 3000, 4000] }, 1500);
    try {
      const piece = (from: number, to: number) => hasher.write(data.subarray(from, to), from);
      await piece(6000, 10_000);
      await Promise.all([piece(2000, 4000), piece(4000, 6000)]);
      await piece(0, 2000);
      const parts = (size: number) => {
        const out: string[] = [];
        for (let o = 0; o < data.length; o += size) out.push(md5(data.subarray(o, o + size)));
        return compositeEtag(out);
      };
      expect(await hasher.finish(data.length)).toEqual({
        size: data.length,
        md5: md5(data),
        composites: { 3000: parts(3000), 4000: parts(4000) },
      });
      expect((await readFile(file)).equals(data)).toBe(true);
    } finally {
      await hasher.close();
      await fh.close();
    }
  });

  it('with skipMd5, computes only the composite ETags and reports no MD5', async () => {
    const data = bytes(10_000, 9);
    const fh = await open(path.join(dir, 'skip.bin'), 'w+');
    const hasher = new WorkerFileHasher(fh, { candidatePartSizes: [3000], skipMd5: true }, 1500);
    try {
      await hasher.write(data.subarray(5000), 5000);
      await hasher.write(data.subarray(0, 5000), 0);
      const out: string[] = [];
      for (let o = 0; o < data.length; o += 3000) out.push(md5(data.subarray(o, o + 3000)));
      expect(await hasher.finish(data.length)).toEqual({
        size: data.length,
        md5: undefined,
        composites: { 3000: compositeEtag(out) },
      });
    } finally {
      await hasher.close();
      await fh.close();
    }
  });

  it('refuses to finish while a gap was never written', async () => {
    const fh = await open(path.join(dir, 'gap.bin'), 'w+');
    const hasher = new WorkerFileHasher(fh);
    try {
      await hasher.write(Buffer.from('abc'), 0);
      await hasher.write(Buffer.from('xyz'), 10);
      await expect(hasher.finish(13)).rejects.toThrow(/3 of 13 bytes/);
    } finally {
      await hasher.close();
      await fh.close();
    }
  });

  it('leaves a checksum or a known MD5 to the in-thread hasher', () => {
    expect(WorkerFileHasher.supports(undefined)).toBe(true);
    expect(WorkerFileHasher.supports({ candidatePartSizes: [5] })).toBe(true);
    expect(WorkerFileHasher.supports({ checksum: 'CRC32' })).toBe(false);
    expect(WorkerFileHasher.supports({ knownMd5: 'a'.repeat(32) })).toBe(false);
    expect(WorkerFileHasher.supports({ candidatePartSizes: [5], skipMd5: true })).toBe(true);
  });
});
