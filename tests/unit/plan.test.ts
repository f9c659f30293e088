import { createHash } from 'node:crypto';

import { describe, expect, it, vi } from 'vitest';

import {
  contentVerdict,
  decideContent,
  fileDirectoryConflicts,
  pathsNeedingDigest,
  decideEntry,
  planSync,
  sameContent,
  type KnownDigest,
  type LocalEntry,
  type PlanInput,
  type RemoteEntry,
} from '../../src/plan.js';
import type { Direction, SyncAction } from '../../src/result.js';

const PREFIX = 'data/';

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

function remote(
  path: string,
  size: number,
  etag?: string,
  extra: Partial<RemoteEntry> = {},
): RemoteEntry {
  return {
    path,
    key: `${PREFIX}${path}`,
    size,
    etag: etag === undefined ? undefined : `"${etag}"`,
    ...extra,
  };
}

function local(path: string, size: number): LocalEntry {
  return { path, size };
}

const keyOf = (path: string): string => `${PREFIX}${path}`;

function input(overrides: Partial<PlanInput> & { direction: Direction }): PlanInput {
  return {
    remote: [],
    local: [],
    useChecksum: true,
    mirror: false,
    digestOf: () => undefined,
    keyOf,
    ...overrides,
  };
}

function digests(map: Record<string, KnownDigest>): (path: string) => KnownDigest | undefined {
  return (path) => map[path];
}

function transfers(actions: SyncAction[]): SyncAction[] {
  return actions.filter((a) => a.op !== 'delete');
}

function deletes(actions: SyncAction[]): SyncAction[] {
  return actions.filter((a) => a.op === 'delete');
}

const A = md5('aaaa');
const B = md5('bbbb');
const MULTIPART = `${md5('parts')}-3`;

describe('planSync: download', () => {
  it('downloads missing, other-size and other-content files with their reason', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [
          remote('missing.txt', 4, A),
          remote('size.txt', 5, A),
          remote('checksum.txt', 4, B),
          remote('same.txt', 4, A),
        ],
        local: [local('size.txt', 4), local('checksum.txt', 4), local('same.txt', 4)],
        digestOf: digests({
          'checksum.txt': { size: 4, md5: A },
          'same.txt': { size: 4, md5: A },
        }),
      }),
    );
    expect(plan.actions).toEqual([
      { op: 'download', path: 'missing.txt', key: 'data/missing.txt', size: 4, reason: 'missing' },
      { op: 'download', path: 'size.txt', key: 'data/size.txt', size: 5, reason: 'size' },
      {
        op: 'download',
        path: 'checksum.txt',
        key: 'data/checksum.txt',
        size: 4,
        reason: 'checksum',
      },
    ]);
    expect(plan.unchanged).toBe(1);
  });

  it('uses the remote key and the remote size for downloads', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [{ path: 'x', key: 'elsewhere/x', size: 9, etag: undefined }],
        local: [local('x', 3)],
      }),
    );
    expect(plan.actions).toEqual([
      { op: 'download', path: 'x', key: 'elsewhere/x', size: 9, reason: 'size' },
    ]);
  });

  it('ignores local files the remote lacks when not mirroring', () => {
    const plan = planSync(
      input({ direction: 'download', remote: [], local: [local('only-local', 1)] }),
    );
    expect(plan).toEqual({ actions: [], unchanged: 0 });
  });

  it('treats a same-size file without a known digest as changed', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [remote('f', 4, A)],
        local: [local('f', 4)],
        digestOf: () => undefined,
      }),
    );
    expect(plan.actions).toEqual([
      { op: 'download', path: 'f', key: 'data/f', size: 4, reason: 'checksum' },
    ]);
  });
});

describe('planSync: upload', () => {
  it('uploads missing, other-size and other-content files with their reason', () => {
    const plan = planSync(
      input({
        direction: 'upload',
        local: [
          local('missing.txt', 4),
          local('size.txt', 5),
          local('checksum.txt', 4),
          local('same.txt', 4),
        ],
        remote: [remote('size.txt', 4, A), remote('checksum.txt', 4, B), remote('same.txt', 4, A)],
        digestOf: digests({
          'checksum.txt': { size: 4, md5: A },
          'same.txt': { size: 4, md5: A },
        }),
      }),
    );
    expect(plan.actions).toEqual([
      { op: 'upload', path: 'missing.txt', key: 'data/missing.txt', size: 4, reason: 'missing' },
      { op: 'upload', path: 'size.txt', key: 'data/size.txt', size: 5, reason: 'size' },
      { op: 'upload', path: 'checksum.txt', key: 'data/checksum.txt', size: 4, reason: 'checksum' },
    ]);
    expect(plan.unchanged).toBe(1);
  });

  it('builds upload keys with keyOf', () => {
    const plan = planSync(
      input({
        direction: 'upload',
        local: [local('a/b.txt', 2)],
        keyOf: (p) => `custom/${p}`,
      }),
    );
    expect(plan.actions).toEqual([
      { op: 'upload', path: 'a/b.txt', key: 'custom/a/b.txt', size: 2, reason: 'missing' },
    ]);
  });

  it('ignores remote objects the local tree lacks when not mirroring', () => {
    const plan = planSync(input({ direction: 'upload', remote: [remote('r', 1, A)] }));
    expect(plan).toEqual({ actions: [], unchanged: 0 });
  });
});

describe.each<Direction>(['download', 'upload'])('planSync without checksums (%s)', (direction) => {
  it('counts same-size files as unchanged and never asks for a digest', () => {
    const digestOf = vi.fn((): KnownDigest | undefined => ({ size: 4, md5: B }));
    const plan = planSync(
      input({
        direction,
        useChecksum: false,
        remote: [remote('same.txt', 4, A), remote('multi.bin', 4, MULTIPART), remote('big', 9, A)],
        local: [local('same.txt', 4), local('multi.bin', 4), local('big', 8)],
        digestOf,
      }),
    );
    expect(digestOf).not.toHaveBeenCalled();
    expect(plan.unchanged).toBe(2);
    expect(plan.actions).toEqual([
      {
        op: direction,
        path: 'big',
        key: 'data/big',
        size: direction === 'download' ? 9 : 8,
        reason: 'size',
      },
    ]);
  });

  it('still reports missing files', () => {
    const digestOf = vi.fn((): KnownDigest | undefined => undefined);
    const plan = planSync(
      input({
        direction,
        useChecksum: false,
        remote: direction === 'download' ? [remote('m', 1, A)] : [],
        local: direction === 'upload' ? [local('m', 1)] : [],
        digestOf,
      }),
    );
    expect(plan.actions.map((a) => a.reason)).toEqual(['missing']);
    expect(digestOf).not.toHaveBeenCalled();
  });
});

describe('planSync: digestOf', () => {
  it('is called only for same-size pairs', () => {
    const digestOf = vi.fn((): KnownDigest | undefined => undefined);
    planSync(
      input({
        direction: 'download',
        remote: [remote('same', 4, A), remote('other', 5, A), remote('missing', 4, A)],
        local: [local('same', 4), local('other', 4), local('extra', 4)],
        digestOf,
      }),
    );
    expect(digestOf.mock.calls).toEqual([['same']]);
  });
});

describe('planSync: mirror', () => {
  const remoteSide = [remote('both', 4, A), remote('changed', 4, B), remote('remote-only', 3, A)];
  const localSide = [local('both', 4), local('changed', 4), local('local-only', 7)];
  const digestOf = digests({ both: { size: 4, md5: A }, changed: { size: 4, md5: A } });

  it('download: deletes local files the remote lacks, on the local side', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: remoteSide,
        local: localSide,
        digestOf,
        mirror: true,
      }),
    );
    expect(deletes(plan.actions)).toEqual([
      {
        op: 'delete',
        side: 'local',
        path: 'local-only',
        key: 'data/local-only',
        size: 7,
        reason: 'not-in-source',
      },
    ]);
  });

  it('upload: deletes remote objects the local tree lacks, on the remote side', () => {
    const plan = planSync(
      input({ direction: 'upload', remote: remoteSide, local: localSide, digestOf, mirror: true }),
    );
    expect(deletes(plan.actions)).toEqual([
      {
        op: 'delete',
        side: 'remote',
        path: 'remote-only',
        key: 'data/remote-only',
        size: 3,
        reason: 'not-in-source',
      },
    ]);
  });

  it.each<Direction>(['download', 'upload'])(
    '%s: adds deletions and changes nothing else',
    (direction) => {
      const base = input({ direction, remote: remoteSide, local: localSide, digestOf });
      const without = planSync({ ...base, mirror: false });
      const withMirror = planSync({ ...base, mirror: true });
      expect(transfers(withMirror.actions)).toEqual(without.actions);
      expect(deletes(without.actions)).toEqual([]);
      expect(deletes(withMirror.actions)).toHaveLength(1);
      expect(withMirror.unchanged).toBe(without.unchanged);
    },
  );

  it('deletes nothing when both sides hold the same paths', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [remote('a', 1, A), remote('b', 2, A)],
        local: [local('a', 5), local('b', 2)],
        mirror: true,
      }),
    );
    expect(deletes(plan.actions)).toEqual([]);
  });

  it('deletes everything at the destination when the source is empty', () => {
    const down = planSync(
      input({ direction: 'download', local: [local('a', 1), local('b/c', 2)], mirror: true }),
    );
    expect(down.actions.map((a) => [a.op, a.path])).toEqual([
      ['delete', 'a'],
      ['delete', 'b/c'],
    ]);
    const up = planSync(
      input({
        direction: 'upload',
        remote: [remote('a', 1, A), remote('b/c', 2, A)],
        mirror: true,
      }),
    );
    expect(up.actions.map((a) => [a.op, a.path])).toEqual([
      ['delete', 'a'],
      ['delete', 'b/c'],
    ]);
  });
});

describe('planSync: unknown ETags', () => {
  it.each<Direction>(['download', 'upload'])(
    '%s: a multipart ETag without fingerprint is never assumed equal',
    (direction) => {
      const plan = planSync(
        input({
          direction,
          remote: [remote('big.bin', 4, MULTIPART)],
          local: [local('big.bin', 4)],
          digestOf: digests({ 'big.bin': { size: 4, md5: md5('parts') } }),
        }),
      );
      expect(plan.actions).toEqual([
        { op: direction, path: 'big.bin', key: 'data/big.bin', size: 4, reason: 'checksum' },
      ]);
      expect(plan.unchanged).toBe(0);
    },
  );

  it('a multipart ETag equal to the ETag the index synced this file with is unchanged', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [remote('big.bin', 4, MULTIPART)],
        local: [local('big.bin', 4)],
        digestOf: digests({ 'big.bin': { size: 4, md5: A, syncedEtag: `"${MULTIPART}"` } }),
      }),
    );
    expect(plan).toEqual({ actions: [], unchanged: 1 });
  });

  it('a multipart ETag other than the synced one is a checksum transfer', () => {
    const plan = planSync(
      input({
        direction: 'upload',
        remote: [remote('big.bin', 4, MULTIPART)],
        local: [local('big.bin', 4)],
        digestOf: digests({ 'big.bin': { size: 4, md5: A, syncedEtag: `${md5('other')}-3` } }),
      }),
    );
    expect(plan.actions.map((a) => a.reason)).toEqual(['checksum']);
  });

  it('the fingerprint decides over a multipart ETag', () => {
    const equal = planSync(
      input({
        direction: 'download',
        remote: [remote('f', 4, MULTIPART, { fingerprintMd5: A })],
        local: [local('f', 4)],
        digestOf: digests({ f: { size: 4, md5: A } }),
      }),
    );
    expect(equal).toEqual({ actions: [], unchanged: 1 });
    const different = planSync(
      input({
        direction: 'download',
        remote: [remote('f', 4, MULTIPART, { fingerprintMd5: B })],
        local: [local('f', 4)],
        // Even a matching synced ETag does not override a fingerprint that disagrees.
        digestOf: digests({ f: { size: 4, md5: A, syncedEtag: MULTIPART } }),
      }),
    );
    expect(different.actions.map((a) => a.reason)).toEqual(['checksum']);
  });

  it('the fingerprint decides over a plain MD5 ETag', () => {
    const plan = planSync(
      input({
        direction: 'upload',
        remote: [remote('f', 4, A, { fingerprintMd5: B })],
        local: [local('f', 4)],
        digestOf: digests({ f: { size: 4, md5: B } }),
      }),
    );
    expect(plan).toEqual({ actions: [], unchanged: 1 });
  });

  it('an opaque ETag that looks like an MD5 is not trusted', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [remote('enc', 4, A, { opaqueEtag: true })],
        local: [local('enc', 4)],
        digestOf: digests({ enc: { size: 4, md5: A } }),
      }),
    );
    expect(plan.actions.map((a) => a.reason)).toEqual(['checksum']);
  });

  it('an opaque ETag with a fingerprint is decided by the fingerprint', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [remote('enc', 4, B, { opaqueEtag: true, fingerprintMd5: A })],
        local: [local('enc', 4)],
        digestOf: digests({ enc: { size: 4, md5: A } }),
      }),
    );
    expect(plan).toEqual({ actions: [], unchanged: 1 });
  });

  it('a missing ETag is a checksum transfer', () => {
    const plan = planSync(
      input({
        direction: 'download',
        remote: [remote('f', 4)],
        local: [local('f', 4)],
        digestOf: digests({ f: { size: 4, md5: A } }),
      }),
    );
    expect(plan.actions.map((a) => a.reason)).toEqual(['checksum']);
  });
});

describe('sameContent', () => {
  const r = (etag: string | undefined, extra: Partial<RemoteEntry> = {}): RemoteEntry => ({
    path: 'f',
    key: 'data/f',
    size: 4,
    etag,
    ...extra,
  });

  it('is false without a digest', () => {
    expect(sameContent(undefined, r(`"${A}"`))).toBe(false);
  });

  it('compares a plain MD5 ETag, quoted or not, in any case', () => {
    expect(sameContent({ size: 4, md5: A }, r(`"${A}"`))).toBe(true);
    expect(sameContent({ size: 4, md5: A }, r(A.toUpperCase()))).toBe(true);
    expect(sameContent({ size: 4, md5: A }, r(`"${B}"`))).toBe(false);
  });

  it('is false for another size even with the same MD5', () => {
    expect(sameContent({ size: 5, md5: A }, r(`"${A}"`))).toBe(false);
  });

  it('trusts a synced ETag only for unknown ETags, and only when it equals the listed one', () => {
    expect(sameContent({ size: 4, md5: A }, r(`"${MULTIPART}"`))).toBe(false);
    expect(sameContent({ size: 4, md5: A, syncedEtag: MULTIPART }, r(`"${MULTIPART}"`))).toBe(true);
    expect(
      sameContent({ size: 4, md5: A, syncedEtag: `"${MULTIPART.toUpperCase()}"` }, r(MULTIPART)),
    ).toBe(true);
    expect(sameContent({ size: 4, md5: A, syncedEtag: `${B}-3` }, r(MULTIPART))).toBe(false);
    // A plain MD5 ETag decides: a stale synced ETag equal to it does not make it equal.
    expect(sameContent({ size: 4, md5: A, syncedEtag: B }, r(B))).toBe(false);
  });

  it('never matches an absent ETag, even with an absent synced ETag', () => {
    expect(sameContent({ size: 4, md5: A }, r(undefined))).toBe(false);
    expect(sameContent({ size: 4, md5: A, syncedEtag: '' }, r(''))).toBe(false);
    expect(sameContent({ size: 4, md5: A, syncedEtag: undefined }, r(undefined))).toBe(false);
  });

  it('does not trust an md5-looking opaque ETag, but does trust the synced one', () => {
    expect(sameContent({ size: 4, md5: A }, r(A, { opaqueEtag: true }))).toBe(false);
    expect(sameContent({ size: 4, md5: B, syncedEtag: A }, r(A, { opaqueEtag: true }))).toBe(true);
  });
});

describe('pathsNeedingDigest', () => {
  const remoteSide = [remote('same', 4, A), remote('other', 5, A), remote('remote-only', 4, A)];
  const localSide = new Map<string, LocalEntry>([
    ['same', local('same', 4)],
    ['other', local('other', 4)],
    ['local-only', local('local-only', 4)],
  ]);

  it('returns only the same-size pairs', () => {
    expect(pathsNeedingDigest(remoteSide, localSide, true)).toEqual(['same']);
  });

  it('returns nothing without checksums', () => {
    expect(pathsNeedingDigest(remoteSide, localSide, false)).toEqual([]);
  });

  it('includes unknown-ETag pairs (they need the digest to match a synced ETag)', () => {
    expect(
      pathsNeedingDigest([remote('m', 4, MULTIPART)], new Map([['m', local('m', 4)]]), true),
    ).toEqual(['m']);
  });
});

describe('fileDirectoryConflicts', () => {
  it('flags a file that another key needs as a directory', () => {
    expect(fileDirectoryConflicts(['a', 'a/b'])).toEqual(new Set(['a']));
  });

  it('flags a deeper file under which other keys live', () => {
    expect(fileDirectoryConflicts(['a/b', 'a/b/c/d'])).toEqual(new Set(['a/b']));
  });

  it('flags every ancestor that is also a file', () => {
    expect(fileDirectoryConflicts(['a/b/c/d', 'a', 'a/b/c', 'x'])).toEqual(new Set(['a', 'a/b/c']));
  });

  it('has no false positives for names that only share a prefix', () => {
    expect(fileDirectoryConflicts(['ab', 'a/b'])).toEqual(new Set());
    expect(fileDirectoryConflicts(['a.txt', 'a/x'])).toEqual(new Set());
    expect(fileDirectoryConflicts(['a/b', 'a/bc', 'a/b.c'])).toEqual(new Set());
  });

  it('is empty for no paths or flat paths', () => {
    expect(fileDirectoryConflicts([])).toEqual(new Set());
    expect(fileDirectoryConflicts(['x', 'y', 'z'])).toEqual(new Set());
  });
});

describe('planSync at scale', () => {
  it('plans 10,000 entries with the expected counts', () => {
    const n = 10_000;
    const remoteSide: RemoteEntry[] = [];
    const localSide: LocalEntry[] = [];
    const known = new Map<string, KnownDigest>();
    // i % 5: 0 missing locally, 1 other size, 2 other content, 3 equal, 4 local only.
    for (let i = 0; i < n; i++) {
      const p = `dir${i % 37}/sub${i % 11}/file-${i}.bin`;
      const kind = i % 5;
      const md = md5(String(i));
      if (kind !== 4) remoteSide.push(remote(p, 100 + (i % 7), md));
      if (kind === 1) localSide.push(local(p, 200 + (i % 7)));
      if (kind === 2 || kind === 3 || kind === 4) localSide.push(local(p, 100 + (i % 7)));
      if (kind === 2) known.set(p, { size: 100 + (i % 7), md5: md5(`changed ${i}`) });
      if (kind === 3) known.set(p, { size: 100 + (i % 7), md5: md });
    }
    const digestOf = vi.fn((p: string) => known.get(p));
    const perKind = n / 5;

    const down = planSync(
      input({
        direction: 'download',
        remote: remoteSide,
        local: localSide,
        digestOf,
        mirror: true,
      }),
    );
    const count = (actions: SyncAction[], op: string, reason: string): number =>
      actions.filter((a) => a.op === op && a.reason === reason).length;
    expect(count(down.actions, 'download', 'missing')).toBe(perKind);
    expect(count(down.actions, 'download', 'size')).toBe(perKind);
    expect(count(down.actions, 'download', 'checksum')).toBe(perKind);
    expect(count(down.actions, 'delete', 'not-in-source')).toBe(perKind);
    expect(down.actions).toHaveLength(4 * perKind);
    expect(down.unchanged).toBe(perKind);
    expect(digestOf).toHaveBeenCalledTimes(2 * perKind);
    expect(new Set(down.actions.map((a) => a.path)).size).toBe(down.actions.length);

    const localNeeded = new Map(localSide.map((l) => [l.path, l]));
    expect(pathsNeedingDigest(remoteSide, localNeeded, true)).toHaveLength(2 * perKind);

    const up = planSync(
      input({ direction: 'upload', remote: remoteSide, local: localSide, digestOf, mirror: true }),
    );
    // Upload: local-only files are missing remotely, remote-only objects are deleted.
    expect(count(up.actions, 'upload', 'missing')).toBe(perKind);
    expect(count(up.actions, 'upload', 'size')).toBe(perKind);
    expect(count(up.actions, 'upload', 'checksum')).toBe(perKind);
    expect(count(up.actions, 'delete', 'not-in-source')).toBe(perKind);
    expect(up.unchanged).toBe(perKind);
    expect(new Set(deletes(up.actions).map((a) => (a.op === 'delete' ? a.side : a.op)))).toEqual(
      new Set(['remote']),
    );
    expect(new Set(deletes(down.actions).map((a) => (a.op === 'delete' ? a.side : a.op)))).toEqual(
      new Set(['local']),
    );

    const unused = vi.fn((p: string) => known.get(p));
    const sizeOnly = planSync(
      input({
        direction: 'download',
        remote: remoteSide,
        local: localSide,
        useChecksum: false,
        digestOf: unused,
      }),
    );
    expect(sizeOnly.actions).toHaveLength(2 * perKind);
    expect(sizeOnly.unchanged).toBe(2 * perKind);
    expect(unused).not.toHaveBeenCalled();
  });
});

describe('a known digest without an MD5 (an index entry of a multipart-verified download)', () => {
  const r = (etag: string | undefined, extra: Partial<RemoteEntry> = {}): RemoteEntry => ({
    path: 'f',
    key: 'data/f',
    size: 4,
    etag,
    ...extra,
  });
  const noMd5: KnownDigest = { size: 4, md5: undefined, syncedEtag: `"${MULTIPART}"` };

  it('is unchanged against the very ETag it was verified with, without an MD5', () => {
    expect(contentVerdict(noMd5, r(`"${MULTIPART}"`))).toBe('unchanged');
    expect(contentVerdict(noMd5, r(MULTIPART.toUpperCase()))).toBe('unchanged');
    expect(decideContent(noMd5, r(`"${MULTIPART}"`))).toBe('unchanged');
    expect(sameContent(noMd5, r(`"${MULTIPART}"`))).toBe(true);
  });

  it('is unknown (the file gets hashed) against any other ETag, never equal or different', () => {
    expect(contentVerdict(noMd5, r(`"${B}-3"`))).toBe('unknown');
    // A plain MD5 ETag would decide with an MD5; without one it cannot.
    expect(contentVerdict(noMd5, r(`"${A}"`))).toBe('unknown');
    expect(contentVerdict(noMd5, r(`"${A}"`, { fingerprintMd5: A }))).toBe('unknown');
    expect(contentVerdict(noMd5, r(undefined))).toBe('unknown');
    // "undefined" is no MD5: a remote ETag of that text matches nothing.
    expect(contentVerdict({ size: 4, md5: undefined }, r('"undefined"'))).toBe('unknown');
    expect(decideContent(noMd5, r(`"${B}-3"`))).toBe('checksum');
  });

  it('a plan with it transfers only what another ETag lists', () => {
    const digestOf = vi.fn((): KnownDigest | undefined => noMd5);
    const plan = planSync({
      direction: 'download',
      remote: [
        { ...r(`"${MULTIPART}"`), path: 'same', key: 'data/same' },
        { ...r(`"${B}-3"`), path: 'other', key: 'data/other' },
      ],
      local: [
        { path: 'same', size: 4 },
        { path: 'other', size: 4 },
      ],
      useChecksum: true,
      mirror: false,
      digestOf,
      keyOf: (p) => PREFIX + p,
    });
    expect(plan.unchanged).toBe(1);
    expect(plan.actions.map((a) => [a.path, a.reason])).toEqual([['other', 'checksum']]);
  });
});

describe('decideEntry: the one rule the sync and planSync decide with', () => {
  const r = (size: number): RemoteEntry => ({ path: 'p', key: 'k/p', size, etag: '"e"' });
  const l = (size: number): { path: string; size: number } => ({ path: 'p', size });
  const on = { useChecksum: true, mirror: true };
  const off = { useChecksum: false, mirror: false };

  it.each<Direction>(['download', 'upload'])(
    'transfers what the destination lacks or holds at another size (%s)',
    (direction) => {
      const [missingRemote, missingLocal] =
        direction === 'download' ? [r(3), undefined] : [undefined, l(3)];
      expect(decideEntry(direction, missingRemote, missingLocal, off)).toEqual({
        op: 'transfer',
        reason: 'missing',
      });
      expect(decideEntry(direction, r(3), l(4), off)).toEqual({ op: 'transfer', reason: 'size' });
    },
  );

  it('compares a same-size pair only when content counts', () => {
    expect(decideEntry('download', r(3), l(3), on)).toEqual({ op: 'compare' });
    expect(decideEntry('upload', r(3), l(3), off)).toEqual({ op: 'unchanged' });
  });

  it('deletes what the source lacks in a mirror only, on the destination side', () => {
    expect(decideEntry('download', undefined, l(3), on)).toEqual({ op: 'delete', side: 'local' });
    expect(decideEntry('upload', r(3), undefined, on)).toEqual({ op: 'delete', side: 'remote' });
    expect(decideEntry('download', undefined, l(3), off)).toEqual({ op: 'keep' });
    expect(decideEntry('upload', r(3), undefined, off)).toEqual({ op: 'keep' });
  });
});
