import { describe, expect, it } from 'vitest';

import {
  cacheUriOf,
  chooseVictims,
  groupFiles,
  lastUsedOf,
  objectPathOf,
  parseDuration,
  parseSize,
  selfAndAncestors,
  type CacheFile,
} from '../../src/cache/policy.js';
import { foldUsage, serializeUsage } from '../../src/cache/state.js';
import { readEnvConfig } from '../../src/config.js';
import { ConfigError } from '../../src/index.js';

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['123', 123],
    ['10G', 10 * 2 ** 30],
    ['10g', 10 * 2 ** 30],
    ['10GB', 10 * 2 ** 30],
    ['10GiB', 10 * 2 ** 30],
    ['1.5 M', 1.5 * 2 ** 20],
    ['2k', 2048],
    ['1T', 2 ** 40],
    [' 7 ', 7],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseSize(text, 'x')).toBe(bytes);
  });

  it('takes a number of bytes', () => {
    expect(parseSize(4096, 'x')).toBe(4096);
  });

  it.each(['', 'G', '-1', '10X', '1e3', '10 G B', 'ten'])(
    'refuses %j, naming the source',
    (text) => {
      expect(() => parseSize(text, 'S3LYNC_CACHE_MAX_SIZE')).toThrow(ConfigError);
      expect(() => parseSize(text, 'S3LYNC_CACHE_MAX_SIZE')).toThrow(/S3LYNC_CACHE_MAX_SIZE/);
    },
  );

  it.each([-1, 1.5, Number.NaN, Infinity])('refuses the number %d', (n) => {
    expect(() => parseSize(n, 'x')).toThrow(ConfigError);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30d', 30 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['15m', 15 * 60_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['2w', 2 * 604_800_000],
    ['1.5h', 1.5 * 3_600_000],
    ['500', 500],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text, 'x')).toBe(ms);
  });

  it.each(['', 'd', '-1d', '3y', 'soon'])('refuses %j', (text) => {
    expect(() => parseDuration(text, '--older-than')).toThrow(/--older-than/);
  });
});

describe('S3LYNC_CACHE_MAX_SIZE', () => {
  it('is read with the one size parser', () => {
    expect(readEnvConfig({ S3LYNC_CACHE_MAX_SIZE: '10G' }).cacheMaxSize).toBe(10 * 2 ** 30);
    expect(readEnvConfig({}).cacheMaxSize).toBeUndefined();
    expect(() => readEnvConfig({ S3LYNC_CACHE_MAX_SIZE: 'big' })).toThrow(/S3LYNC_CACHE_MAX_SIZE/);
  });
});

describe('lastUsedOf', () => {
  it('takes the latest record of the file or a directory above it', () => {
    const used = new Map([
      ['b/tree', 200],
      ['b/tree/sub/f', 100],
      ['b/other', 900],
    ]);
    expect(selfAndAncestors('b/tree/sub/f')).toEqual(['b/tree/sub/f', 'b/tree/sub', 'b/tree', 'b']);
    expect(lastUsedOf('b/tree/sub/f', used, 1)).toBe(200);
    expect(lastUsedOf('b/treehouse/f', used, 7)).toBe(7);
  });
});

const file = (
  path: string,
  size: number,
  lastUsed: number,
  extra: Partial<CacheFile> = {},
): CacheFile => ({
  path,
  size,
  lastUsed,
  dirty: false,
  ...extra,
});

describe('chooseVictims', () => {
  const files = [file('b/new', 10, 300), file('b/old', 10, 100), file('b/mid', 10, 200)];

  it('evicts least recently used first until the total fits', () => {
    expect(chooseVictims(files, { maxSize: 20, now: 1000 }).map((f) => f.path)).toEqual(['b/old']);
    expect(chooseVictims(files, { maxSize: 10, now: 1000 }).map((f) => f.path)).toEqual([
      'b/old',
      'b/mid',
    ]);
    expect(chooseVictims(files, { maxSize: 30, now: 1000 })).toEqual([]);
    expect(chooseVictims(files, { maxSize: 0, now: 1000 })).toHaveLength(3);
  });

  it('evicts what is older than the age, then what the size still needs', () => {
    expect(chooseVictims(files, { olderThan: 750, now: 1000 }).map((f) => f.path)).toEqual([
      'b/old',
      'b/mid',
    ]);
    expect(
      chooseVictims(files, { olderThan: 850, maxSize: 10, now: 1000 }).map((f) => f.path),
    ).toEqual(['b/old', 'b/mid']);
  });

  it('never chooses a dirty, open, locked or in-use file, which still count', () => {
    const guarded = [
      file('b/dirty', 10, 1, { dirty: true }),
      file('b/open', 10, 2, { keep: 'open' }),
      file('b/locked', 10, 3, { keep: 'locked' }),
      file('b/in-use', 10, 4, { keep: 'in-use' }),
      file('b/free', 10, 5),
    ];
    expect(
      chooseVictims(guarded, { maxSize: 0, olderThan: 0, now: 1000 }).map((f) => f.path),
    ).toEqual(['b/free']);
    expect(chooseVictims(guarded, { maxSize: 45, now: 1000 }).map((f) => f.path)).toEqual([
      'b/free',
    ]);
  });

  it('orders ties by path, so a tree used at once goes in a stable order', () => {
    const tree = [file('b/t/2', 1, 5), file('b/t/1', 1, 5)];
    expect(chooseVictims(tree, { maxSize: 1, now: 9 }).map((f) => f.path)).toEqual(['b/t/1']);
  });
});

describe('groupFiles', () => {
  it('groups by the shallowest recorded path, else bucket and first segment', () => {
    const groups = groupFiles(
      [
        file('b/data/x', 1, 10),
        file('b/data/sub/y', 2, 20, { dirty: true }),
        file('b/data/sub/z', 4, 5),
        file('b/loose/a/b', 8, 1),
        file('c/top', 16, 3),
      ],
      new Set(['b/data', 'b/data/sub/z']),
    );
    expect(groups).toEqual([
      { path: 'b/data', size: 7, files: 3, lastUsed: 20, dirty: ['b/data/sub/y'] },
      { path: 'b/loose', size: 8, files: 1, lastUsed: 1, dirty: [] },
      { path: 'c/top', size: 16, files: 1, lastUsed: 3, dirty: [] },
    ]);
  });
});

describe('pinned copies', () => {
  it('group by bucket, version and first segment, and name the object they copy', () => {
    const groups = groupFiles(
      [
        file('.versions/b/v1/m/x', 1, 1),
        file('.versions/b/v1/m/y', 2, 2),
        file('.versions/b/v2/k', 4, 3),
      ],
      new Set(),
    );
    expect(groups.map((g) => [g.path, g.files])).toEqual([
      ['.versions/b/v1/m', 2],
      ['.versions/b/v2/k', 1],
    ]);
    expect(cacheUriOf('.versions/b/v1/m', true)).toBe('s3://b/m/?versionId=v1');
    expect(cacheUriOf('.versions/b/v2/k', false)).toBe('s3://b/k?versionId=v2');
    expect(cacheUriOf('b/k', false)).toBe('s3://b/k');
    expect(cacheUriOf('b', true)).toBe('s3://b/');
    expect(objectPathOf('.versions/b/v1/m/x')).toBe('b/m/x');
    expect(objectPathOf('b/m/x')).toBe('b/m/x');
  });
});

describe('the usage log', () => {
  it('folds in order: latest use per path, dirtiness set and cleared', () => {
    const state = foldUsage(
      [
        '{"p":"b/f","t":5,"d":1}',
        '{"p":"b/f","t":3}',
        '{"p":"b/g","t":1,"d":1}',
        '{"p":"b/g","t":2,"d":0}',
      ].join('\n'),
    );
    expect([...state.used]).toEqual([
      ['b/f', 5],
      ['b/g', 2],
    ]);
    expect([...state.dirty]).toEqual(['b/f']);
  });

  it('loses only a torn line: each append starts on a line of its own', () => {
    const torn = '\n{"p":"b/a","t":1}\n{"p":"b/to' + '\n{"p":"b/c","t":3,"d":1}';
    const state = foldUsage(torn);
    expect([...state.used.keys()]).toEqual(['b/a', 'b/c']);
    expect(state.dirty.has('b/c')).toBe(true);
  });

  it('compacts to one record per path, dirtiness kept', () => {
    const state = foldUsage('{"p":"b/f","t":5,"d":1}\n{"p":"b/f","t":9}\n{"p":"b/g","t":1}');
    expect(foldUsage(serializeUsage(state))).toEqual(state);
    expect(serializeUsage(state).trim().split('\n')).toHaveLength(2);
  });
});
