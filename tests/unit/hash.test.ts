import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compositeEtag, hashFile, isMultipartEtag, normalizeEtag } from '../../src/index.js';
import {
  hashBuffer,
  InOrderFileHasher,
  PartHasher,
  partLayout,
  readChunks,
} from '../../src/hash.js';
import { compareDigests } from '../../src/verify.js';
import { HASH_CHUNK_SIZE, HashingStream } from '../../src/hash.js';
import { isMd5Etag, type RemoteDigest } from '../../src/etag.js';

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** The multipart ETag computed by hand: md5 of the binary part md5s, then -N. */
function expectedComposite(data: Buffer, partSize: number): string {
  const binaryMd5s: Buffer[] = [];
  for (let i = 0; i < data.length; i += partSize) {
    binaryMd5s.push(
      createHash('md5')
        .update(data.subarray(i, i + partSize))
        .digest(),
    );
  }
  return `${createHash('md5').update(Buffer.concat(binaryMd5s)).digest('hex')}-${binaryMd5s.length}`;
}

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >>> 16;
  }
  return out;
}

/** Splits `data` into chunks of the given sizes, cycling through them. */
function chunked(data: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const size = sizes[i % sizes.length] ?? 1;
    out.push(data.subarray(offset, offset + size));
    offset += size;
    i++;
  }
  return out;
}

function hashWithUpdate(chunks: Buffer[], partSize?: number): ReturnType<HashingStream['digest']> {
  const hasher = new HashingStream(partSize);
  for (const c of chunks) hasher.update(c);
  return hasher.digest();
}

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

describe('normalizeEtag', () => {
  it('strips quotes and lowercases', () => {
    expect(normalizeEtag('"9B2CF535F27731C974343645A3985328"')).toBe(
      '9b2cf535f27731c974343645a3985328',
    );
    expect(normalizeEtag('9b2cf535f27731c974343645a3985328')).toBe(
      '9b2cf535f27731c974343645a3985328',
    );
  });

  it('strips a weak-validator prefix', () => {
    expect(normalizeEtag('W/"ABC"')).toBe('abc');
  });

  it('keeps the part count of a multipart ETag', () => {
    expect(normalizeEtag('"D41D8CD98F00B204E9800998ECF8427E-12"')).toBe(
      'd41d8cd98f00b204e9800998ecf8427e-12',
    );
  });

  it('trims whitespace', () => {
    expect(normalizeEtag('  "abc"  ')).toBe('abc');
  });

  it('gives undefined for nothing', () => {
    expect(normalizeEtag(undefined)).toBeUndefined();
    expect(normalizeEtag('')).toBeUndefined();
    expect(normalizeEtag('""')).toBeUndefined();
    expect(normalizeEtag('   ')).toBeUndefined();
    expect(normalizeEtag('W/""')).toBeUndefined();
  });
});

describe('isMultipartEtag / isMd5Etag', () => {
  const plain = '"9b2cf535f27731c974343645a3985328"';
  const multi = '"9b2cf535f27731c974343645a3985328-3"';

  it('tells a plain MD5 from a multipart ETag', () => {
    expect(isMd5Etag(plain)).toBe(true);
    expect(isMultipartEtag(plain)).toBe(false);
    expect(isMd5Etag(multi)).toBe(false);
    expect(isMultipartEtag(multi)).toBe(true);
  });

  it('accepts upper case and weak ETags', () => {
    expect(isMd5Etag('W/"9B2CF535F27731C974343645A3985328"')).toBe(true);
    expect(isMultipartEtag('9B2CF535F27731C974343645A3985328-10000')).toBe(true);
  });

  it.each([
    undefined,
    '',
    'abc',
    '9b2cf535f27731c974343645a398532',
    '9b2cf535f27731c974343645a39853288',
    'zb2cf535f27731c974343645a3985328',
    '9b2cf535f27731c974343645a3985328-',
    '9b2cf535f27731c974343645a3985328-x',
  ])('rejects %j as neither', (etag) => {
    expect(isMd5Etag(etag)).toBe(false);
    expect(isMultipartEtag(etag)).toBe(false);
  });
});

describe('compositeEtag', () => {
  it('matches a vector computed by hand', () => {
    const p1 = md5('part one');
    const p2 = md5('part two');
    const concat = Buffer.concat([Buffer.from(p1, 'hex'), Buffer.from(p2, 'hex')]);
    expect(concat).toHaveLength(32);
    expect(compositeEtag([p1, p2])).toBe(`${md5(concat)}-2`);
  });

  it('matches a known literal vector', () => {
    // md5('a') = 0cc175b9c0f1b6a831c399e269772661, md5('b') = 92eb5ffee6ae2fec3ad71c777531578f.
    expect(md5('a')).toBe('0cc175b9c0f1b6a831c399e269772661');
    expect(md5('b')).toBe('92eb5ffee6ae2fec3ad71c777531578f');
    const binary = Buffer.from(
      '0cc175b9c0f1b6a831c399e26977266192eb5ffee6ae2fec3ad71c777531578f',
      'hex',
    );
    expect(compositeEtag([md5('a'), md5('b')])).toBe(`${md5(binary)}-2`);
  });

  it('is not the plain md5 for one part', () => {
    const p = md5('only part');
    expect(compositeEtag([p])).toBe(`${md5(Buffer.from(p, 'hex'))}-1`);
    expect(compositeEtag([p])).not.toBe(`${p}-1`);
  });

  it('is a multipart ETag', () => {
    expect(isMultipartEtag(compositeEtag([md5('x'), md5('y'), md5('z')]))).toBe(true);
  });
});

describe('HashingStream', () => {
  const partSize = 1000;

  it('hashes the whole content and counts bytes without a part size', () => {
    const data = bytes(12_345);
    const digest = hashWithUpdate(chunked(data, [777]));
    expect(digest).toEqual({ size: data.length, md5: md5(data) });
    expect(digest.multipartEtag).toBeUndefined();
  });

  it.each([
    ['an uneven last part', 2_500],
    ['an exact multiple', 3_000],
    ['exactly one part', 1_000],
    ['less than one part', 999],
    ['one byte more than a part', 1_001],
    ['1 byte', 1],
  ])('gives the composite of %s', (_what, size) => {
    const data = bytes(size, size);
    const digest = hashWithUpdate([data], partSize);
    expect(digest.size).toBe(size);
    expect(digest.md5).toBe(md5(data));
    expect(digest.multipartEtag).toBe(expectedComposite(data, partSize));
    expect(digest.multipartEtag?.endsWith(`-${Math.ceil(size / partSize)}`)).toBe(true);
  });

  it('gives no multipart ETag for 0 bytes', () => {
    const digest = hashWithUpdate([], partSize);
    expect(digest).toEqual({ size: 0, md5: EMPTY_MD5 });
    expect(digest).not.toHaveProperty('multipartEtag');
  });

  it('gives no multipart ETag for empty chunks only', () => {
    const digest = hashWithUpdate([Buffer.alloc(0), Buffer.alloc(0)], partSize);
    expect(digest).toEqual({ size: 0, md5: EMPTY_MD5 });
  });

  it.each([[[1]], [[7, 13, 999, 1, 2001]], [[333]], [[1000]], [[999, 1]], [[1001]], [[4000]]])(
    'does not depend on how chunks straddle part boundaries (%j)',
    (sizes) => {
      for (const size of [2_500, 3_000, 3_001]) {
        const data = bytes(size, 7);
        const digest = hashWithUpdate(chunked(data, sizes), partSize);
        expect(digest).toEqual({
          size,
          md5: md5(data),
          multipartEtag: expectedComposite(data, partSize),
        });
      }
    },
  );

  it('gives the real S3 composite for 5 MiB parts', () => {
    const part = 5 * 1024 * 1024;
    const data = bytes(part * 2 + 12_345, 3);
    const digest = hashWithUpdate(chunked(data, [HASH_CHUNK_SIZE, 65_536, 100_003]), part);
    expect(digest.multipartEtag).toBe(expectedComposite(data, part));
    expect(digest.multipartEtag?.endsWith('-3')).toBe(true);
  });

  it('passes the bytes through unchanged as a Transform and reports each chunk', async () => {
    const data = bytes(5_000, 11);
    const seen: number[] = [];
    const hasher = new HashingStream(partSize, (n) => seen.push(n));
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunked(data, [123, 4567])),
      hasher,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(hasher.bytes).toBe(data.length);
    expect(hasher.digest()).toEqual({
      size: data.length,
      md5: md5(data),
      multipartEtag: expectedComposite(data, partSize),
    });
  });
});

describe('hashFile', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-hash-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('equals crypto md5 for a file larger than one read chunk', async () => {
    const data = bytes(HASH_CHUNK_SIZE * 2 + 17, 5);
    const file = path.join(dir, 'big.bin');
    await writeFile(file, data);
    const digest = await hashFile(file);
    expect(digest).toEqual({ size: data.length, md5: md5(data) });
  });

  it('computes the composite ETag in the same pass', async () => {
    const data = bytes(HASH_CHUNK_SIZE + 5_000, 9);
    const file = path.join(dir, 'parts.bin');
    await writeFile(file, data);
    const part = 300_000;
    expect(await hashFile(file, { partSize: part })).toEqual({
      size: data.length,
      md5: md5(data),
      multipartEtag: expectedComposite(data, part),
    });
  });

  it('with a known MD5, computes only the composites and reports the MD5 given', async () => {
    const data = bytes(HASH_CHUNK_SIZE + 5_000, 11);
    const file = path.join(dir, 'known.bin');
    await writeFile(file, data);
    const part = 300_000;
    expect(await hashFile(file, { candidatePartSizes: [part], knownMd5: 'f'.repeat(32) })).toEqual({
      size: data.length,
      md5: 'f'.repeat(32),
      composites: { [part]: expectedComposite(data, part) },
    });
  });

  it('hashes an empty file', async () => {
    const file = path.join(dir, 'empty.bin');
    await writeFile(file, '');
    expect(await hashFile(file, { partSize: 1024 })).toEqual({ size: 0, md5: EMPTY_MD5 });
  });

  it('rejects for a missing file', async () => {
    await expect(hashFile(path.join(dir, 'missing.bin'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('rejects when the signal is already aborted', async () => {
    const file = path.join(dir, 'aborted.bin');
    await writeFile(file, bytes(100));
    const controller = new AbortController();
    controller.abort();
    await expect(hashFile(file, { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

describe('compareDigests', () => {
  const data = Buffer.from('hello world');
  const local = { size: data.length, md5: md5(data) };
  const otherMd5 = md5('something else');
  const multipart = `"${md5('x')}-2"`;

  function remote(overrides: Partial<RemoteDigest>): RemoteDigest {
    return { size: data.length, etag: undefined, ...overrides };
  }

  it('says different when the sizes differ, whatever the hashes', () => {
    expect(compareDigests(local, remote({ size: 999, etag: `"${local.md5}"` }))).toBe('different');
    expect(compareDigests(local, remote({ size: 0, fingerprintMd5: local.md5 }))).toBe('different');
    expect(compareDigests(local, remote({ size: 1, etag: multipart }))).toBe('different');
  });

  it('compares a plain MD5 ETag', () => {
    expect(compareDigests(local, remote({ etag: `"${local.md5}"` }))).toBe('equal');
    expect(compareDigests(local, remote({ etag: `"${local.md5.toUpperCase()}"` }))).toBe('equal');
    expect(compareDigests(local, remote({ etag: `"${otherMd5}"` }))).toBe('different');
  });

  it('never says equal for a multipart ETag without a fingerprint', () => {
    expect(compareDigests(local, remote({ etag: multipart }))).toBe('unknown');
    expect(compareDigests(local, remote({ etag: `"${local.md5}-1"` }))).toBe('unknown');
  });

  it('lets the fingerprint decide for a multipart ETag', () => {
    expect(compareDigests(local, remote({ etag: multipart, fingerprintMd5: local.md5 }))).toBe(
      'equal',
    );
    expect(compareDigests(local, remote({ etag: multipart, fingerprintMd5: otherMd5 }))).toBe(
      'different',
    );
  });

  it('prefers the fingerprint to a plain ETag', () => {
    expect(
      compareDigests(local, remote({ etag: `"${otherMd5}"`, fingerprintMd5: local.md5 })),
    ).toBe('equal');
  });

  it('ignores a fingerprint that is not an MD5', () => {
    expect(compareDigests(local, remote({ etag: multipart, fingerprintMd5: 'garbage' }))).toBe(
      'unknown',
    );
    expect(
      compareDigests(local, remote({ etag: `"${local.md5}"`, fingerprintMd5: 'garbage' })),
    ).toBe('equal');
  });

  it('says unknown for an opaque (SSE-KMS) ETag that looks like an MD5', () => {
    expect(compareDigests(local, remote({ etag: `"${local.md5}"`, opaqueEtag: true }))).toBe(
      'unknown',
    );
    expect(compareDigests(local, remote({ etag: `"${otherMd5}"`, opaqueEtag: true }))).toBe(
      'unknown',
    );
  });

  it('lets the fingerprint decide for an opaque ETag', () => {
    expect(
      compareDigests(
        local,
        remote({ etag: `"${otherMd5}"`, opaqueEtag: true, fingerprintMd5: local.md5 }),
      ),
    ).toBe('equal');
  });

  it('says unknown without any ETag', () => {
    expect(compareDigests(local, remote({}))).toBe('unknown');
    expect(compareDigests(local, remote({ etag: '""' }))).toBe('unknown');
    expect(compareDigests(local, remote({ etag: 'not-an-md5' }))).toBe('unknown');
  });

  it('compares empty content', () => {
    expect(compareDigests({ size: 0, md5: EMPTY_MD5 }, { size: 0, etag: `"${EMPTY_MD5}"` })).toBe(
      'equal',
    );
  });
});

describe('HashingStream: part size must be positive', () => {
  it.each([0, -1, 1.5])('rejects %j', (size) => {
    expect(() => new HashingStream(size)).toThrow(RangeError);
  });
});

describe('partLayout', () => {
  const MiB = 1024 * 1024;
  it('cuts a size into whole parts and one last part that may be smaller', () => {
    expect(partLayout(0, 5 * MiB)).toEqual({ parts: 1, lastPartSize: 0 });
    expect(partLayout(5 * MiB - 1, 5 * MiB)).toEqual({ parts: 1, lastPartSize: 5 * MiB - 1 });
    expect(partLayout(5 * MiB, 5 * MiB)).toEqual({ parts: 1, lastPartSize: 5 * MiB });
    expect(partLayout(5 * MiB + 1, 5 * MiB)).toEqual({ parts: 2, lastPartSize: 1 });
    expect(partLayout(10_000 * 5 * MiB, 5 * MiB)).toEqual({ parts: 10_000, lastPartSize: 5 * MiB });
  });

  it('refuses a part size that is not a positive integer', () => {
    expect(() => partLayout(10, 0)).toThrow(RangeError);
    expect(() => partLayout(10, 1.5)).toThrow(RangeError);
  });
});

describe('PartHasher', () => {
  it('gives each part its MD5 and the whole content its MD5 and composite ETag', async () => {
    const data = bytes(2500, 3);
    const hasher = new PartHasher(1000);
    const parts = [];
    for (let i = 0; i < data.length; i += 1000) {
      parts.push(await hasher.addPart(data.subarray(i, i + 1000)));
    }
    expect(parts.map((p) => p.md5)).toEqual(
      [0, 1000, 2000].map((i) => md5(data.subarray(i, i + 1000))),
    );
    expect(parts.every((p) => p.checksum === undefined)).toBe(true);
    const composite = expectedComposite(data, 1000);
    expect(hasher.digest()).toEqual({
      size: data.length,
      md5: md5(data),
      multipartEtag: composite,
      composites: { 1000: composite },
    });
  });

  it('computes the whole MD5 only when asked', async () => {
    const data = bytes(2500, 3);
    const hasher = new PartHasher(1000, undefined, false);
    for (let i = 0; i < data.length; i += 1000) await hasher.addPart(data.subarray(i, i + 1000));
    const composite = expectedComposite(data, 1000);
    expect(hasher.digest()).toEqual({
      size: data.length,
      md5: undefined,
      multipartEtag: composite,
      composites: { 1000: composite },
    });
  });

  it('computes a checksum per part when asked', async () => {
    const hasher = new PartHasher(4, 'SHA1');
    const part = await hasher.addPart(Buffer.from('abcd'));
    expect(part.checksum).toBe(createHash('sha1').update('abcd').digest('base64'));
  });
});

describe('readChunks', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-chunks-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('yields the file in order from two reused buffers', async () => {
    const data = bytes(10_000, 4);
    const file = path.join(dir, 'f.bin');
    await writeFile(file, data);
    const seen: Buffer[] = [];
    const backing = new Set<ArrayBufferLike>();
    for await (const chunk of readChunks(file, { chunkSize: 3000 })) {
      backing.add(chunk.buffer);
      seen.push(Buffer.from(chunk));
    }
    expect(seen.map((c) => c.length)).toEqual([3000, 3000, 3000, 1000]);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    expect(backing.size).toBe(2);
  });

  it('yields nothing for an empty file and stops on an aborted signal', async () => {
    const empty = path.join(dir, 'empty.bin');
    await writeFile(empty, '');
    const chunks = [];
    for await (const c of readChunks(empty)) chunks.push(c);
    expect(chunks).toEqual([]);
    const file = path.join(dir, 'g.bin');
    await writeFile(file, bytes(5000));
    const controller = new AbortController();
    const reason = new Error('stop');
    const read = async () => {
      for await (const chunk of readChunks(file, { chunkSize: 1000, signal: controller.signal })) {
        expect(chunk).toHaveLength(1000);
        controller.abort(reason);
      }
    };
    await expect(read()).rejects.toBe(reason);
  });
});

describe('InOrderFileHasher', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-ordered-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hashes in order what is written out of order, reading back only what came early', async () => {
    const data = bytes(10_000, 5);
    const fh = await open(path.join(dir, 'out.bin'), 'w+');
    try {
      const hasher = new HashingStream(4000);
      const ordered = new InOrderFileHasher(fh, hasher, 1500);
      const piece = (from: number, to: number) => ordered.write(data.subarray(from, to), from);
      // 6000-10000 comes first, then 2000-6000 in two pieces, then the start.
      await piece(6000, 10_000);
      await Promise.all([piece(2000, 4000), piece(4000, 6000)]);
      await piece(0, 2000);
      await ordered.finish(data.length);
      expect(hasher.digest()).toEqual({
        size: data.length,
        md5: md5(data),
        multipartEtag: expectedComposite(data, 4000),
      });
      // Only the first piece was at the hashing position when it was written.
      expect(ordered.reread).toBe(8000);
      expect((await readFile(path.join(dir, 'out.bin'))).equals(data)).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('hashes from memory what arrives in order', async () => {
    const data = bytes(5000, 6);
    const fh = await open(path.join(dir, 'seq.bin'), 'w+');
    try {
      const hasher = new HashingStream();
      const ordered = new InOrderFileHasher(fh, hasher);
      for (let i = 0; i < data.length; i += 1000)
        await ordered.write(data.subarray(i, i + 1000), i);
      await ordered.finish(data.length);
      expect(hasher.digest().md5).toBe(md5(data));
      expect(ordered.reread).toBe(0);
    } finally {
      await fh.close();
    }
  });

  it('fails at finish when a gap was never written', async () => {
    const fh = await open(path.join(dir, 'gap.bin'), 'w+');
    try {
      const ordered = new InOrderFileHasher(fh, new HashingStream());
      await ordered.write(Buffer.from('abc'), 0);
      await ordered.write(Buffer.from('xyz'), 10);
      await expect(ordered.finish(13)).rejects.toThrow(/hashed 3 of 13/);
    } finally {
      await fh.close();
    }
  });
});

describe('skipMd5: the composites without the whole content MD5', () => {
  it('HashingStream computes the composites and reports no MD5', () => {
    const data = bytes(12_345, 3);
    const hasher = new HashingStream(undefined, undefined, {
      candidatePartSizes: [1000, 4000],
      skipMd5: true,
    });
    for (const chunk of chunked(data, [777])) hasher.update(chunk);
    expect(hasher.received()).toEqual({
      size: data.length,
      md5: undefined,
      composites: { 1000: expectedComposite(data, 1000), 4000: expectedComposite(data, 4000) },
    });
  });

  it('digest() refuses to report an MD5 that was not computed', () => {
    const hasher = new HashingStream(undefined, undefined, { skipMd5: true });
    hasher.update(Buffer.from('abc'));
    expect(() => hasher.digest()).toThrow(/MD5 was not computed/);
  });

  it('received() reports the MD5 when it was computed, as digest() does', () => {
    const data = bytes(5_000, 4);
    const hasher = new HashingStream(undefined, undefined, { candidatePartSizes: [1000] });
    hasher.update(data);
    expect(hasher.received()).toEqual({
      size: data.length,
      md5: md5(data),
      composites: { 1000: expectedComposite(data, 1000) },
    });
  });

  it('hashFile and hashBuffer always compute the MD5 (their callers need it)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-hash-skip-'));
    try {
      const data = bytes(HASH_CHUNK_SIZE + 10, 6);
      const file = path.join(dir, 'f.bin');
      await writeFile(file, data);
      expect((await hashFile(file, { skipMd5: true })).md5).toBe(md5(data));
      expect((await hashFile(file, { skipMd5: true, size: 10 })).md5).toBe(md5(data));
      expect((await hashBuffer(data, { skipMd5: true })).md5).toBe(md5(data));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
