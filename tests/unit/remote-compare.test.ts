/** The rule of S3 → S3 (whether two objects hold the same bytes) and the copy's part size. */
import { describe, expect, it } from 'vitest';

import { copyPartSize, copySource } from '../../src/client/copy.js';
import { checkReport } from '../../src/cli/remote.js';
import { compareObjects, md5Of } from '../../src/remote-compare.js';
import type { SyncResult } from '../../src/result.js';

const MiB = 1024 * 1024;
const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';

describe('compareObjects', () => {
  it('equal ETags are equal bytes, plain or multipart', () => {
    expect(compareObjects({ size: 3, etag: `"${A}"` }, { size: 3, etag: A })).toBe('equal');
    expect(compareObjects({ size: 9, etag: `"${A}-2"` }, { size: 9, etag: `"${A}-2"` })).toBe(
      'equal',
    );
  });
  it('another size is different, whatever the ETags', () => {
    expect(compareObjects({ size: 3, etag: A }, { size: 4, etag: A })).toBe('different');
  });
  it('two plain MD5 ETags that differ are different', () => {
    expect(compareObjects({ size: 3, etag: A }, { size: 3, etag: B })).toBe('different');
  });
  it('a multipart ETag of another layout is unknown, never equal; a fingerprint decides it', () => {
    expect(compareObjects({ size: 9, etag: `${A}-2` }, { size: 9, etag: B })).toBe('unknown');
    expect(
      compareObjects({ size: 9, etag: `${A}-2`, fingerprintMd5: B }, { size: 9, etag: B }),
    ).toBe('equal');
    expect(
      compareObjects({ size: 9, etag: `${A}-2`, fingerprintMd5: A }, { size: 9, etag: B }),
    ).toBe('different');
  });
  it('an opaque ETag proves nothing, not even when both are the same', () => {
    expect(compareObjects({ size: 3, etag: A, opaqueEtag: true }, { size: 3, etag: A })).toBe(
      'unknown',
    );
    expect(md5Of({ size: 3, etag: A, opaqueEtag: true })).toBeUndefined();
    expect(
      compareObjects(
        { size: 3, etag: A, opaqueEtag: true, fingerprintMd5: B },
        { size: 3, etag: B },
      ),
    ).toBe('equal');
  });
});

describe('the copy', () => {
  it('copies in the source layout when its ETag names one, so the composite ETag proves it', () => {
    expect(copyPartSize(12 * MiB, `${A}-3`, 5 * MiB, 64 * MiB)).toBe(5 * MiB);
    expect(copyPartSize(20 * MiB, `${A}-3`, undefined, 64 * MiB)).toBe(8 * MiB);
  });
  it('else the preferred size, at least 5 MiB and at most 10,000 parts', () => {
    expect(copyPartSize(12 * MiB, A, undefined, 1 * MiB)).toBe(5 * MiB);
    expect(copyPartSize(100_000 * MiB, A, undefined, 5 * MiB)).toBe(10 * MiB);
  });
  it('names the source URL-encoded, its slashes kept', () => {
    expect(copySource({ bucket: 'b', key: 'a b/c+d/é?' })).toBe('b/a%20b/c%2Bd/%C3%A9%3F');
  });
});

describe('check', () => {
  it('sorts a dry-run mirror into missing, differing and unknown; unknown is never a match', () => {
    const result = {
      unchanged: 4,
      failed: 0,
      undecided: ['u.bin'],
      actions: [
        { op: 'copy', path: 'new.txt', key: 'd/new.txt', size: 1, reason: 'missing' },
        { op: 'copy', path: 'z.txt', key: 'd/z.txt', size: 1, reason: 'checksum' },
        { op: 'copy', path: 'u.bin', key: 'd/u.bin', size: 1, reason: 'checksum' },
        {
          op: 'delete',
          side: 'remote',
          path: 'old.txt',
          key: 'd/old.txt',
          size: 1,
          reason: 'not-in-source',
        },
      ],
    } as unknown as SyncResult;
    const report = checkReport({ source: 's3://b/s/', destination: 's3://b/d/' }, result);
    expect(report.matching).toBe(4);
    expect(report.differences).toBe(4);
    expect(report.json).toEqual({
      missingOnDestination: ['new.txt'],
      missingOnSource: ['old.txt'],
      differ: ['z.txt'],
      unknown: ['u.bin'],
      failed: 0,
    });
  });
});
