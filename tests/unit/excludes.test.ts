import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/exceptions.js';
import {
  checkFilters,
  compileExcludes,
  compileMatcher,
  DEFAULT_EXCLUDES,
  patternSource,
  type PathFilter,
} from '../../src/excludes.js';
import { walkLocal } from '../../src/local-tree.js';

describe('DEFAULT_EXCLUDES', () => {
  const isExcluded = compileExcludes(DEFAULT_EXCLUDES);

  it.each([
    '.git/config',
    '.git',
    'a/.hidden',
    'a/b/.hidden/file.txt',
    '.env',
    'x/__pycache__/y.pyc',
    '__pycache__/m.cpython-312.pyc',
    '__pycache__',
    'pkg.egg-info/PKG-INFO',
    'src/pkg.egg-info',
  ])('excludes %s', (rel) => {
    expect(isExcluded(rel)).toBe(true);
  });

  it.each([
    'a.txt',
    'dir/file.txt',
    'not.hidden/x',
    'a/not.hidden',
    'x/pycache/y',
    'x/__pycache__y/z',
    'x/my__pycache__/z',
    'egg-info/x',
    'pkg.egg-information/x',
    'file.',
    'a/b..c',
  ])('does not exclude %s', (rel) => {
    expect(isExcluded(rel)).toBe(false);
  });

  it('is a read-only list of valid patterns', () => {
    for (const p of DEFAULT_EXCLUDES) expect(patternSource(p)).toBe(p);
    expect(DEFAULT_EXCLUDES).toHaveLength(3);
  });
});

describe('compileExcludes', () => {
  it('excludes nothing for no patterns', () => {
    const isExcluded = compileExcludes([]);
    for (const rel of ['.git/config', 'a', '__pycache__/x', '']) {
      expect(isExcluded(rel)).toBe(false);
    }
  });

  it('matches against the relative path with / separators', () => {
    const isExcluded = compileExcludes(['^build/', '\\.log$']);
    expect(isExcluded('build/out.js')).toBe(true);
    expect(isExcluded('src/build/out.js')).toBe(false);
    expect(isExcluded('logs/app.log')).toBe(true);
    expect(isExcluded('logs/app.log.1')).toBe(false);
  });

  it('keeps Python-style patterns with a leading / working on relative paths', () => {
    const isExcluded = compileExcludes(['/\\.venv']);
    expect(isExcluded('.venv/bin/python')).toBe(true);
    expect(isExcluded('.venv')).toBe(true);
    expect(isExcluded('sub/.venv/lib/x.py')).toBe(true);
    expect(isExcluded('venv/bin/python')).toBe(false);
    expect(isExcluded('a.venv/x')).toBe(false);
  });

  it('excludes a path when any pattern matches', () => {
    const isExcluded = compileExcludes(['^a$', '^b/']);
    expect(isExcluded('a')).toBe(true);
    expect(isExcluded('b/c')).toBe(true);
    expect(isExcluded('c')).toBe(false);
  });

  it('throws ConfigError for an invalid pattern', () => {
    expect(() => compileExcludes(['ok', '(unclosed'])).toThrow(ConfigError);
  });

  describe('only ever sees relative paths (Python defect 1)', () => {
    // The Python package matched absolute paths, so its default `/\.` excluded every
    // file of a root inside ~/.cache.
    const root = path.join(os.homedir(), '.cache', 's3lync', 'bucket', 'prefix');

    it('does not exclude the files of a root inside ~/.cache with the defaults', () => {
      const isExcluded = compileExcludes(DEFAULT_EXCLUDES);
      expect(isExcluded('data/file.txt')).toBe(false);
      expect(isExcluded('file.txt')).toBe(false);
      // The absolute path would have been excluded: this is what the matcher must not see.
      expect(isExcluded(path.join(root, 'file.txt'))).toBe(true);
    });

    it('a pattern meant for absolute paths does not exclude a whole root', () => {
      const isExcluded = compileExcludes(['/\\.cache/']);
      expect(isExcluded('data/file.txt')).toBe(false);
      expect(isExcluded('file.txt')).toBe(false);
    });

    let tmp: string;
    beforeAll(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), 's3lync-excludes-'));
    });
    afterAll(async () => {
      await rm(tmp, { recursive: true, force: true });
    });

    it('walkLocal of a root under a .cache directory finds its files', async () => {
      const cacheRoot = path.join(tmp, '.cache', 's3lync', 'bucket', 'prefix');
      await mkdir(path.join(cacheRoot, 'data', '.git'), { recursive: true });
      await writeFile(path.join(cacheRoot, 'file.txt'), 'x');
      await writeFile(path.join(cacheRoot, 'data', 'inner.txt'), 'yy');
      await writeFile(path.join(cacheRoot, 'data', '.git', 'HEAD'), 'z');
      const isExcluded = compileExcludes([...DEFAULT_EXCLUDES, '/\\.cache/']);
      const files = await walkLocal(cacheRoot, isExcluded);
      expect(files.map((f) => f.path).sort()).toEqual(['data/inner.txt', 'file.txt']);
    });
  });
});

describe('patternSource', () => {
  it('returns the source of a string pattern', () => {
    expect(patternSource('\\.tmp$')).toBe('\\.tmp$');
  });

  it('accepts RegExp objects', () => {
    expect(patternSource(/\.tmp$/)).toBe('\\.tmp$');
    const isExcluded = compileExcludes([patternSource(/(^|\/)node_modules(\/|$)/)]);
    expect(isExcluded('a/node_modules/b')).toBe(true);
    expect(isExcluded('a/node_modulesx/b')).toBe(false);
  });

  it.each(['(unclosed', '[a-', '*oops', 'a{2,1}', '(?<n>a)(?<n>b)'])(
    'rejects the invalid pattern %s with ConfigError',
    (pattern) => {
      let caught: unknown;
      try {
        patternSource(pattern);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toContain(JSON.stringify(pattern));
      expect((caught as Error).cause).toBeInstanceOf(SyntaxError);
    },
  );

  it('rejects a value that is neither a string nor a RegExp with ConfigError', () => {
    expect(() => patternSource(42 as unknown as string)).toThrow(ConfigError);
    expect(() => patternSource(undefined as unknown as string)).toThrow(ConfigError);
  });
});

describe('RegExp flags', () => {
  it('are refused rather than silently dropped', () => {
    expect(() => patternSource(/logs/i)).toThrow(ConfigError);
    expect(() => patternSource(/logs/i)).toThrow(/cannot have flags/);
    expect(patternSource(/logs/)).toBe('logs');
  });
});

describe('glob filters (aws s3 semantics)', () => {
  // The tree of the `aws s3` documentation's "Use of Exclude and Include Filters".
  const tree = [
    '.git/config',
    '.git/description',
    'foo.txt',
    'bar.txt',
    'baz.jpg',
    'sub/deep/qux.txt',
  ];
  const kept = (filters: PathFilter[]): string[] => {
    const isExcluded = compileMatcher([], filters);
    return tree.filter((rel) => !isExcluded(rel));
  };

  it('includes everything without filters', () => {
    expect(kept([])).toEqual(tree);
  });

  it('--exclude ".git/*" leaves out the .git directory\'s files', () => {
    expect(kept([{ exclude: '.git/*' }])).toEqual([
      'foo.txt',
      'bar.txt',
      'baz.jpg',
      'sub/deep/qux.txt',
    ]);
  });

  it('--exclude "*" --include "*.txt": the later include wins, at any depth', () => {
    expect(kept([{ exclude: '*' }, { include: '*.txt' }])).toEqual([
      'foo.txt',
      'bar.txt',
      'sub/deep/qux.txt',
    ]);
  });

  it('--include "*.txt" --exclude "*": the later exclude wins, so nothing', () => {
    expect(kept([{ include: '*.txt' }, { exclude: '*' }])).toEqual([]);
  });

  it('--exclude "*" --include "*.txt" --exclude "bar.txt": the last match decides each file', () => {
    expect(kept([{ exclude: '*' }, { include: '*.txt' }, { exclude: 'bar.txt' }])).toEqual([
      'foo.txt',
      'sub/deep/qux.txt',
    ]);
  });

  it('an include alone changes nothing: every file is included by default', () => {
    expect(kept([{ include: '*.jpg' }])).toEqual(tree);
  });

  it('matches the whole relative path: "*.txt" at any depth, "sub/*" under sub/', () => {
    expect(kept([{ exclude: 'sub/*' }])).toEqual(tree.slice(0, 5));
    expect(kept([{ exclude: 'qux.txt' }])).toEqual(tree);
    expect(kept([{ exclude: '[fb]a?.*' }])).toEqual([
      '.git/config',
      '.git/description',
      'foo.txt',
      'sub/deep/qux.txt',
    ]);
  });

  it('never prunes a directory (a later include may take back a file in it); regexes still do', () => {
    const isExcluded = compileMatcher(['^build$'], [{ exclude: '*' }, { include: '*.txt' }]);
    expect(isExcluded('sub', true)).toBe(false);
    expect(isExcluded('sub/a.txt')).toBe(false);
    expect(isExcluded('sub/a.bin')).toBe(true);
    expect(isExcluded('build', true)).toBe(true);
  });

  it('cannot take back what a regular-expression exclude (the defaults) leaves out', () => {
    const isExcluded = compileMatcher(DEFAULT_EXCLUDES, [{ include: '.env' }]);
    expect(isExcluded('.env')).toBe(true);
  });

  it.each<[string, unknown]>([
    ['not an array', { exclude: '*' }],
    ['an empty glob', [{ exclude: '' }]],
    ['both keys', [{ exclude: '*', include: 'a' }]],
    ['an unknown key', [{ skip: '*' }]],
    ['a glob that is no string', [{ include: /x/ }]],
  ])('refuses %s with a ConfigError', (_what, filters) => {
    expect(() => checkFilters(filters, 'filters')).toThrow(ConfigError);
  });

  describe('in a walk', () => {
    let tmp: string;
    beforeAll(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), 's3lync-filters-'));
      await mkdir(path.join(tmp, 'logs', 'old'), { recursive: true });
      await writeFile(path.join(tmp, 'logs', 'old', 'a.log'), 'a');
      await writeFile(path.join(tmp, 'logs', 'old', 'keep.txt'), 'k');
      await writeFile(path.join(tmp, 'top.log'), 't');
    });
    afterAll(async () => {
      await rm(tmp, { recursive: true, force: true });
    });

    it('descends directories whose files the globs exclude, and keeps the ones taken back', async () => {
      const isExcluded = compileMatcher(DEFAULT_EXCLUDES, [
        { exclude: 'logs/*' },
        { include: '*.txt' },
      ]);
      const files = await walkLocal(tmp, isExcluded);
      expect(files.map((f) => f.path)).toEqual(['logs/old/keep.txt', 'top.log']);
    });
  });
});
