import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  candidatePartSizes,
  choosePartSize,
  MAX_PARTS,
  compositeEtag,
  partsInEtag,
  verifyContent,
  type ContentDigest,
  type RemoteContent,
} from '../../src/index.js';
import { partLayout } from '../../src/hash.js';
import { partSizeFor, rangeSizeFor, usesMultipart } from '../../src/transfer.js';
import { checksumOf, createChecksummer } from '../../src/checksum.js';
import { COMMON_PART_SIZES, MAX_CANDIDATE_PART_SIZES } from '../../src/etag.js';
import { hashBuffer } from '../../src/hash.js';
import { hashingFor } from '../../src/verify.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** The multipart ETag of `data` uploaded in parts of `partSize`, computed independently. */
function etagFor(data: Buffer, partSize: number): string {
  const parts: string[] = [];
  for (let o = 0; o < data.length; o += partSize) parts.push(md5(data.subarray(o, o + partSize)));
  return compositeEtag(parts);
}

describe('candidatePartSizes', () => {
  it('lists only sizes that give exactly the number of parts', () => {
    const size = 13 * MiB + 7;
    const c = candidatePartSizes(size, 3);
    expect(c.length).toBeGreaterThan(0);
    for (const p of c) expect(Math.ceil(size / p)).toBe(3);
    expect(c).toContain(5 * MiB);
  });

  it('puts hints first and drops hints that cannot fit', () => {
    const size = 20 * MiB;
    expect(candidatePartSizes(size, 4, [5 * MiB])[0]).toBe(5 * MiB);
    expect(candidatePartSizes(size, 2, [7 * MiB])).not.toContain(7 * MiB);
    expect(candidatePartSizes(size, 3, [7 * MiB])[0]).toBe(7 * MiB);
  });

  it('handles one byte over a part, and one part', () => {
    expect(candidatePartSizes(5 * MiB + 1, 2)).toContain(5 * MiB);
    expect(candidatePartSizes(5 * MiB + 1, 2)).not.toContain(8 * MiB);
    expect(candidatePartSizes(123, 1)).toEqual([123]);
    expect(candidatePartSizes(0, 1)).toEqual([]);
  });

  it(`tries at most ${MAX_CANDIDATE_PART_SIZES} sizes`, () => {
    expect(candidatePartSizes(1, 1).length).toBeLessThanOrEqual(MAX_CANDIDATE_PART_SIZES);
    const many = candidatePartSizes(2048 * MiB, 2, COMMON_PART_SIZES);
    expect(many.length).toBeLessThanOrEqual(MAX_CANDIDATE_PART_SIZES);
  });
});

describe('partsInEtag', () => {
  it('reads the part count', () => {
    expect(partsInEtag(`"${'a'.repeat(32)}-12"`)).toBe(12);
    expect(partsInEtag(`"${'a'.repeat(32)}"`)).toBeUndefined();
    expect(partsInEtag(undefined)).toBeUndefined();
  });
});

describe('verifyContent', () => {
  const data = Buffer.alloc(11 * MiB + 3, 'q');
  const digest: ContentDigest = { size: data.length, md5: md5(data) };

  it('a size difference is a mismatch, whatever the hashes', () => {
    expect(
      verifyContent({ ...digest, size: 1 }, { size: 2, etag: `"${digest.md5}"` }),
    ).toMatchObject({
      result: 'mismatch',
      by: 'size',
    });
  });

  it('the fingerprint decides before the ETag', () => {
    const remote: RemoteContent = {
      size: digest.size,
      etag: '"junk-3"',
      fingerprintMd5: digest.md5,
    };
    expect(verifyContent(digest, remote)).toEqual({ result: 'match', by: 'fingerprint' });
    expect(verifyContent(digest, { ...remote, fingerprintMd5: md5('x') }).result).toBe('mismatch');
  });

  it('a plain ETag is an MD5 unless the object is encrypted', () => {
    const remote: RemoteContent = { size: digest.size, etag: `"${digest.md5}"` };
    expect(verifyContent(digest, remote)).toEqual({ result: 'match', by: 'md5' });
    expect(verifyContent(digest, { ...remote, etag: `"${md5('x')}"` }).result).toBe('mismatch');
    expect(verifyContent(digest, { ...remote, opaqueEtag: true }).result).toBe('unknown');
  });

  it.each([5 * MiB, 8 * MiB])(
    'recognises a multipart ETag for the right part size (%i)',
    (part) => {
      const etag = etagFor(data, part);
      const local = {
        ...digest,
        composites: { [part]: etag, [16 * MiB]: etagFor(data, 16 * MiB) },
      };
      expect(verifyContent(local, { size: data.length, etag: `"${etag}"` })).toEqual({
        result: 'match',
        by: 'multipart',
      });
    },
  );

  it('a wrong composite is a mismatch only when the layout is known', () => {
    const etag = etagFor(data, 5 * MiB);
    const wrongBytes = {
      ...digest,
      composites: { [5 * MiB]: etagFor(Buffer.alloc(data.length, 'z'), 5 * MiB) },
    };
    expect(
      verifyContent(wrongBytes, { size: data.length, etag, partSizeHint: 5 * MiB }).result,
    ).toBe('mismatch');
    expect(
      verifyContent(wrongBytes, { size: data.length, etag, serverPartSize: 5 * MiB }).result,
    ).toBe('mismatch');
    // Guessed layouts that do not match prove nothing: never a false mismatch.
    expect(verifyContent(wrongBytes, { size: data.length, etag }).result).toBe('unknown');
  });

  it('falls back to a full-object checksum', async () => {
    const sum = createChecksummer('SHA256');
    sum.update(data);
    const value = await sum.digest();
    const remote: RemoteContent = {
      size: data.length,
      etag: `"${md5('kms')}"`,
      opaqueEtag: true,
      checksum: { algorithm: 'SHA256', value, type: 'FULL_OBJECT' },
    };
    expect(verifyContent({ ...digest, checksum: value }, remote)).toEqual({
      result: 'match',
      by: 'checksum',
    });
    expect(verifyContent({ ...digest, checksum: 'AAAA' }, remote).result).toBe('mismatch');
    expect(verifyContent(digest, remote).result).toBe('unknown');
  });
});

describe('hashingFor', () => {
  it('asks for candidate part sizes for a multipart ETag, hints first', () => {
    const h = hashingFor({ size: 20 * MiB, etag: `"${'a'.repeat(32)}-3"`, partSizeHint: 7 * MiB });
    expect(h.candidatePartSizes?.[0]).toBe(7 * MiB);
    expect(h.checksum).toBeUndefined();
  });

  it('asks for the checksum only when the MD5 cannot decide', () => {
    const checksum = { algorithm: 'CRC32C' as const, value: 'x', type: 'FULL_OBJECT' as const };
    expect(hashingFor({ size: 1, etag: `"${'a'.repeat(32)}"`, checksum }).checksum).toBeUndefined();
    expect(
      hashingFor({ size: 1, etag: `"${'a'.repeat(32)}"`, opaqueEtag: true, checksum }).checksum,
    ).toBe('CRC32C');
    expect(
      hashingFor({
        size: 1,
        etag: `"${'a'.repeat(32)}"`,
        opaqueEtag: true,
        checksum: { ...checksum, type: 'COMPOSITE' },
      }).checksum,
    ).toBeUndefined();
  });
});

describe('checksums', () => {
  // Known vectors for "hello world" (checked against the AWS SDK's own implementations
  // and, for the SHAs, any sha1sum/sha256sum).
  it.each([
    ['CRC32', 'DUoRhQ=='],
    ['CRC32C', 'yZRlqg=='],
    ['CRC64NVME', 'jSnVw/bqjr4='],
    ['SHA1', 'Kq5sNclPz7QV2+lfQIuc6R7oRu0='],
    ['SHA256', 'uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek='],
  ] as const)('%s', async (algorithm, expected) => {
    const c = createChecksummer(algorithm);
    c.update(Buffer.from('hello '));
    c.update(Buffer.from('world'));
    expect(await c.digest()).toBe(expected);
    expect((await hashBuffer(Buffer.from('hello world'), { checksum: algorithm })).checksum).toBe(
      expected,
    );
  });

  it('checksumOf picks the strongest and tells composite from full-object', () => {
    expect(checksumOf({ ChecksumCRC32: 'a', ChecksumSHA256: 'b' })).toEqual({
      algorithm: 'SHA256',
      value: 'b',
      type: 'FULL_OBJECT',
    });
    expect(checksumOf({ ChecksumCRC32C: 'c-4' })).toEqual({
      algorithm: 'CRC32C',
      value: 'c',
      type: 'COMPOSITE',
    });
    expect(checksumOf({ ChecksumCRC32: 'c', ChecksumType: 'COMPOSITE' })?.type).toBe('COMPOSITE');
    expect(checksumOf({})).toBeUndefined();
  });
});

describe('choosePartSize', () => {
  const preferred = 8 * MiB;
  it('keeps the preferred size while it gives at most 10,000 parts', () => {
    expect(choosePartSize(0, preferred)).toBe(preferred);
    expect(choosePartSize(5 * MiB - 1, preferred)).toBe(preferred);
    expect(choosePartSize(5 * MiB + 1, preferred)).toBe(preferred);
    expect(choosePartSize(MAX_PARTS * preferred, preferred)).toBe(preferred);
  });

  it('keeps the preferred size at the 5 MiB boundaries', () => {
    expect(choosePartSize(5 * MiB, preferred)).toBe(preferred);
    // S3's smallest part size as the preferred one: the 10,000-part limit at exactly 5 MiB.
    const min = 5 * MiB;
    expect(choosePartSize(0, min)).toBe(min);
    expect(choosePartSize(min - 1, min)).toBe(min);
    expect(choosePartSize(min, min)).toBe(min);
    expect(choosePartSize(min + 1, min)).toBe(min);
    expect(choosePartSize(MAX_PARTS * min, min)).toBe(min);
    expect(choosePartSize(MAX_PARTS * min + 1, min)).toBe(6 * MiB);
  });

  it('grows to the smallest whole MiB that fits in 10,000 parts', () => {
    expect(choosePartSize(MAX_PARTS * preferred + 1, preferred)).toBe(9 * MiB);
    const huge = 5 * 1024 * 1024 * MiB; // 5 TiB, S3's largest object
    const part = choosePartSize(huge, preferred);
    expect(Math.ceil(huge / part)).toBeLessThanOrEqual(MAX_PARTS);
    expect(part % MiB).toBe(0);
    expect(Math.ceil(huge / (part - MiB))).toBeGreaterThan(MAX_PARTS);
  });
});

describe('hashingFor with a fingerprint', () => {
  it('computes no composites: the MD5 decides', () => {
    const h = hashingFor({
      size: 20 * MiB,
      etag: `"${'a'.repeat(32)}-3"`,
      fingerprintMd5: 'b'.repeat(32),
    });
    expect(h.candidatePartSizes).toEqual([]);
    expect(h.skipMd5).toBe(false);
  });
});

describe('hashingFor: the MD5 only where it verifies', () => {
  const multipart = `"${'a'.repeat(32)}-3"`;
  it('skips the MD5 when a multipart ETag verifies (recorded or guessed part sizes)', () => {
    expect(hashingFor({ size: 20 * MiB, etag: multipart, partSizeHint: 7 * MiB }).skipMd5).toBe(
      true,
    );
    expect(hashingFor({ size: 13 * MiB, etag: multipart }).skipMd5).toBe(true);
  });

  it('computes the MD5 where it is the verification, or nothing else could be', () => {
    // A fingerprint, a plain MD5 ETag: the MD5 decides.
    expect(hashingFor({ size: 4, etag: `"${'a'.repeat(32)}"` }).skipMd5).toBe(false);
    expect(
      hashingFor({ size: 20 * MiB, etag: multipart, fingerprintMd5: 'b'.repeat(32) }).skipMd5,
    ).toBe(false);
    // No part size fits the part count, or an encrypted ETag: no composite to compute.
    expect(hashingFor({ size: 1, etag: multipart }).skipMd5).toBe(false);
    expect(hashingFor({ size: 20 * MiB, etag: multipart, opaqueEtag: true }).skipMd5).toBe(false);
    expect(hashingFor({ size: 4, etag: undefined }).skipMd5).toBe(false);
  });
});

describe('verifyContent without an MD5 (not computed)', () => {
  const data = Buffer.alloc(11 * MiB, 5);
  const etag = `"${etagFor(data, 5 * MiB)}"`;
  const composites = { [5 * MiB]: etagFor(data, 5 * MiB) };

  it('a multipart ETag still decides, both ways', () => {
    const remote: RemoteContent = { size: data.length, etag, partSizeHint: 5 * MiB };
    expect(verifyContent({ size: data.length, md5: undefined, composites }, remote)).toEqual({
      result: 'match',
      by: 'multipart',
    });
    const other = { [5 * MiB]: `${'c'.repeat(32)}-3` };
    expect(
      verifyContent({ size: data.length, md5: undefined, composites: other }, remote),
    ).toMatchObject({ result: 'mismatch', by: 'multipart' });
  });

  it('an MD5 rule cannot decide: unknown, never a false match or mismatch', () => {
    const local: ContentDigest = { size: 4, md5: undefined };
    expect(verifyContent(local, { size: 4, etag: `"${md5('abcd')}"` }).result).toBe('unknown');
    expect(
      verifyContent(local, { size: 4, etag: `"${md5('abcd')}"`, fingerprintMd5: md5('abcd') })
        .result,
    ).toBe('unknown');
    // The size still decides.
    expect(verifyContent(local, { size: 5, etag: undefined })).toMatchObject({
      result: 'mismatch',
      by: 'size',
    });
  });

  it('with a fingerprint and no MD5, the composites decide instead', () => {
    const remote: RemoteContent = {
      size: data.length,
      etag,
      fingerprintMd5: md5(data),
      partSizeHint: 5 * MiB,
    };
    expect(verifyContent({ size: data.length, md5: undefined, composites }, remote)).toEqual({
      result: 'match',
      by: 'multipart',
    });
  });
});

describe('rangeSizeFor: the ranges of a ranged download', () => {
  const ctx = { partSize: 8 * MiB, queueSize: 4 };
  it('cuts an object into one range per request in flight', () => {
    expect(rangeSizeFor(ctx, 512 * MiB)).toBe(128 * MiB);
    expect(rangeSizeFor(ctx, 512 * MiB + 1)).toBe(128 * MiB + 1);
    expect(rangeSizeFor({ ...ctx, queueSize: 1 }, 512 * MiB)).toBe(512 * MiB);
  });

  it('never below the part size: a small object has fewer ranges than requests allowed', () => {
    expect(rangeSizeFor(ctx, 20 * MiB)).toBe(8 * MiB);
    expect(rangeSizeFor(ctx, 0)).toBe(8 * MiB);
  });
});

describe('usesMultipart and partSizeFor: where multipart starts, and its parts', () => {
  const ctx = { multipartThreshold: 5 * MiB, partSize: 5 * MiB };
  it('sends up to one part as one PUT and more as parts', () => {
    expect(usesMultipart(ctx, 0)).toBe(false);
    expect(usesMultipart(ctx, 5 * MiB - 1)).toBe(false);
    expect(usesMultipart(ctx, 5 * MiB)).toBe(false);
    expect(usesMultipart(ctx, 5 * MiB + 1)).toBe(true);
    // 5 MiB + 1: one full part and a last part of one byte.
    expect(partLayout(5 * MiB + 1, partSizeFor(ctx, 5 * MiB + 1))).toEqual({
      parts: 2,
      lastPartSize: 1,
    });
  });

  it('never needs more than 10,000 parts, and no part is under 5 MiB but the last', () => {
    for (const size of [MAX_PARTS * 5 * MiB, MAX_PARTS * 5 * MiB + 1, 5 * 1024 * 1024 * MiB]) {
      const part = partSizeFor(ctx, size);
      const layout = partLayout(size, part);
      expect(layout.parts).toBeLessThanOrEqual(MAX_PARTS);
      expect(part).toBeGreaterThanOrEqual(5 * MiB);
      expect(layout.lastPartSize).toBeGreaterThan(0);
    }
    expect(partLayout(MAX_PARTS * 5 * MiB, partSizeFor(ctx, MAX_PARTS * 5 * MiB)).parts).toBe(
      MAX_PARTS,
    );
    expect(partSizeFor(ctx, MAX_PARTS * 5 * MiB + 1)).toBe(6 * MiB);
  });
});
