import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { LocalPathError } from '../../src/exceptions.js';
import { compileExcludes, DEFAULT_EXCLUDES } from '../../src/excludes.js';
import {
  escapeBytes,
  LocalTree,
  walkLocal,
  walkLocalTree,
  type LocalFile,
} from '../../src/local-tree.js';
import { isTempName, tempName } from '../../src/utils.js';
import { identityOf } from '../../src/identity.js';
import { compareKeys } from '../../src/keys.js';

let tmp: string;
let root: string;

async function put(rel: string, content: string): Promise<void> {
  const abs = path.join(root, ...rel.split('/'));
  await mkdir(path.dirname(abs), { recursive: true });
  await writeFile(abs, content);
}

function paths(files: LocalFile[]): string[] {
  return files.map((f) => f.path).sort();
}

const none = (): boolean => false;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 's3lync-tree-'));
  root = path.join(tmp, 'root');
  await put('a.txt', 'abc');
  await put('dir/file.txt', 'hello');
  await put('dir/sub/deep.bin', 'x'.repeat(1000));
  await put('skip/inside.txt', 'nope');
  await put('skip/deeper/more.txt', 'nope');
  await put('.hidden/x', 'h');
  await put('.env', 'SECRET=1');
  await put('x/__pycache__/y.pyc', 'pyc');
  await put('name with spaces/ünïcode.txt', 'u');
  // s3lync's own temp files, as tempName names them, and as s3lync 0.1 named them.
  await writeFile(path.join(root, tempName('abc123')), 'partial');
  await writeFile(path.join(root, 'dir', tempName('def456')), 'partial');
  await writeFile(path.join(root, 'dir', `.file.txt.${process.pid}-def456.s3lync-tmp`), 'old');
  await mkdir(path.join(root, 'empty-dir', 'nested'), { recursive: true });
  await symlink(path.join(root, 'a.txt'), path.join(root, 'link-file'));
  await symlink('file.txt', path.join(root, 'dir', 'relative-link'));
  await symlink(path.join(root, 'dir'), path.join(root, 'link-dir'));
  await symlink(path.join(root, 'does-not-exist'), path.join(root, 'broken'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('walkLocal', () => {
  it('lists every file with / relative paths and sizes', async () => {
    const files = await walkLocal(root, none);
    expect(paths(files)).toEqual([
      '.env',
      '.hidden/x',
      'a.txt',
      'dir/file.txt',
      'dir/relative-link',
      'dir/sub/deep.bin',
      'link-file',
      'name with spaces/ünïcode.txt',
      'skip/deeper/more.txt',
      'skip/inside.txt',
      'x/__pycache__/y.pyc',
    ]);
    const byPath = new Map(files.map((f) => [f.path, f]));
    expect(byPath.get('a.txt')?.size).toBe(3);
    expect(byPath.get('dir/file.txt')?.size).toBe(5);
    expect(byPath.get('dir/sub/deep.bin')?.size).toBe(1000);
    for (const f of files) {
      expect(f.path).not.toContain('\\');
      expect(f.path.startsWith('/')).toBe(false);
    }
  });

  it('gives each file its stat identity', async () => {
    const files = await walkLocal(root, none);
    const f = files.find((x) => x.path === 'dir/sub/deep.bin');
    expect(f).toBeDefined();
    const s = await stat(path.join(root, 'dir', 'sub', 'deep.bin'), { bigint: true });
    expect(f).toEqual({ path: 'dir/sub/deep.bin', ...identityOf(s) });
  });

  it('never lists s3lync temp files, even with no excludes', async () => {
    const files = await walkLocal(root, none);
    expect(files.some((f) => f.path.endsWith('.s3lync-tmp'))).toBe(false);
    expect(files.some((f) => isTempName(path.basename(f.path)))).toBe(false);
  });

  it('does not descend into excluded directories', async () => {
    const asked: string[] = [];
    const isExcluded = vi.fn((rel: string) => {
      asked.push(rel);
      return rel === 'skip';
    });
    const files = await walkLocal(root, isExcluded);
    expect(paths(files)).not.toContain('skip/inside.txt');
    expect(paths(files)).not.toContain('skip/deeper/more.txt');
    expect(asked).toContain('skip');
    // Nothing inside the excluded directory was even looked at.
    expect(asked.filter((rel) => rel.startsWith('skip/'))).toEqual([]);
    expect(paths(files)).toContain('dir/file.txt');
  });

  it('applies the default excludes to files and directories', async () => {
    const files = await walkLocal(root, compileExcludes(DEFAULT_EXCLUDES));
    expect(paths(files)).toEqual([
      'a.txt',
      'dir/file.txt',
      'dir/relative-link',
      'dir/sub/deep.bin',
      'link-file',
      'name with spaces/ünïcode.txt',
      'skip/deeper/more.txt',
      'skip/inside.txt',
    ]);
  });

  it('excludes single files by their relative path', async () => {
    const files = await walkLocal(root, compileExcludes(['^dir/file\\.txt$']));
    expect(paths(files)).not.toContain('dir/file.txt');
    expect(paths(files)).toContain('dir/sub/deep.bin');
  });

  it('returns [] for a missing root', async () => {
    await expect(walkLocal(path.join(tmp, 'missing'), none)).resolves.toEqual([]);
  });

  it('returns [] for an empty root', async () => {
    await expect(walkLocal(path.join(root, 'empty-dir'), none)).resolves.toEqual([]);
  });

  it('throws LocalPathError when the root is a file', async () => {
    await expect(walkLocal(path.join(root, 'a.txt'), none)).rejects.toBeInstanceOf(LocalPathError);
  });

  it("includes a symlink to a file with the target's size", async () => {
    const files = await walkLocal(root, none);
    const link = files.find((f) => f.path === 'link-file');
    const target = files.find((f) => f.path === 'a.txt');
    expect(link?.size).toBe(3);
    expect(link?.ino).toBe(target?.ino);
    expect(files.find((f) => f.path === 'dir/relative-link')?.size).toBe(5);
  });

  it('does not follow a symlinked directory', async () => {
    const files = await walkLocal(root, none);
    expect(files.some((f) => f.path === 'link-dir' || f.path.startsWith('link-dir/'))).toBe(false);
  });

  it('skips a broken symlink without throwing', async () => {
    const files = await walkLocal(root, none);
    expect(files.some((f) => f.path === 'broken')).toBe(false);
  });

  it('rejects with the reason of an already-aborted signal', async () => {
    const reason = new Error('stop now');
    await expect(walkLocal(root, none, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    controller.abort('why');
    await expect(walkLocal(path.join(tmp, 'missing'), none, controller.signal)).rejects.toBe('why');
  });

  it('completes with a signal that is never aborted', async () => {
    const files = await walkLocal(root, none, new AbortController().signal);
    expect(paths(files)).toContain('a.txt');
  });
});

describe('walkLocalTree', () => {
  it('lists files in key order: a directory d sorts as "d/", between d.txt and d0', async () => {
    const orderRoot = path.join(tmp, 'order');
    const names = ['d.txt', 'd/x', 'd/y/z', 'd0', 'd-1', 'D', 'e', '\uffff', '😀', 'é/a'];
    for (const rel of names) {
      const abs = path.join(orderRoot, ...rel.split('/'));
      await mkdir(path.dirname(abs), { recursive: true });
      await writeFile(abs, rel);
    }
    const tree = await walkLocalTree(orderRoot, none);
    expect(tree.paths).toEqual([...names].sort(compareKeys));
    expect(tree.paths).toEqual([
      'D',
      'd-1',
      'd.txt',
      'd/x',
      'd/y/z',
      'd0',
      'e',
      'é/a',
      '\uffff',
      '😀',
    ]);
  });

  it('holds the same files as walkLocal, with their identities', async () => {
    const tree = await walkLocalTree(root, none);
    const files = await walkLocal(root, none);
    expect(tree.length).toBe(files.length);
    expect(tree.files()).toEqual(files);
    const i = tree.paths.indexOf('dir/sub/deep.bin');
    const s = await stat(path.join(root, 'dir', 'sub', 'deep.bin'), { bigint: true });
    expect(tree.identity(i)).toEqual(identityOf(s));
    expect(tree.sizeOf(i)).toBe(1000);
    expect(tree.file(i)).toEqual({ path: 'dir/sub/deep.bin', ...identityOf(s) });
  });
});

describe('LocalTree', () => {
  it('grows past its first capacity and keeps 64-bit identities exactly', () => {
    const files = Array.from({ length: 100 }, (_, i) => ({
      path: `f${String(i).padStart(3, '0')}`,
      size: 2 ** 40 + i,
      mtimeNs: -(2n ** 62n) + BigInt(i),
      ctimeNs: 1_700_000_000_123_456_789n + BigInt(i),
      ino: 2n ** 64n - 1n - BigInt(i),
    }));
    const tree = LocalTree.of([...files].reverse());
    expect(tree.length).toBe(100);
    expect(tree.files()).toEqual(files);
  });
});

describe('escapeBytes', () => {
  it('shows printable ASCII as is and every other byte as \\xNN', () => {
    expect(escapeBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74]))).toBe('caf\\xe9.t');
    expect(escapeBytes(Buffer.from('a\\b\n', 'latin1'))).toBe('a\\x5cb\\x0a');
  });
});

describe('identityOf', () => {
  it('gives bigint mtimeNs, ctimeNs and ino and a number size', async () => {
    const s = await stat(path.join(root, 'dir', 'file.txt'), { bigint: true });
    const id = identityOf(s);
    expect(typeof id.size).toBe('number');
    expect(typeof id.mtimeNs).toBe('bigint');
    expect(typeof id.ctimeNs).toBe('bigint');
    expect(typeof id.ino).toBe('bigint');
    expect(id).toEqual({ size: 5, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino });
    expect(Object.keys(id).sort()).toEqual(['ctimeNs', 'ino', 'mtimeNs', 'size']);
  });
});

describe('walkLocalTree: links, special files and undecodable names', () => {
  let base: string;
  let tree: string;
  const outsideFile = (): string => path.join(base, 'outside', 'secret.txt');

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 's3lync-links-'));
    tree = path.join(base, 'tree');
    await mkdir(path.join(base, 'outside'), { recursive: true });
    await writeFile(outsideFile(), 'the secret');
    await mkdir(path.join(tree, 'real'), { recursive: true });
    await writeFile(path.join(tree, 'a.txt'), 'abc');
    await writeFile(path.join(tree, 'real', 'x.txt'), 'x');
    await symlink(outsideFile(), path.join(tree, 'leak'));
    await symlink(path.join(base, 'outside'), path.join(tree, 'leakdir'));
    await symlink('a.txt', path.join(tree, 'inner'));
    await symlink('..', path.join(tree, 'real', 'loop'));
    execFileSync('mkfifo', [path.join(tree, 'pipe')]);
    const bad = Buffer.concat([
      Buffer.from(`${tree}/caf`),
      Buffer.from([0xe9]),
      Buffer.from('.txt'),
    ]);
    await writeFile(bad, 'latin-1 name');
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('reads links inside the root, and skips and reports links out of it, directory links, FIFOs', async () => {
    const walked = await walkLocalTree(tree, none);
    expect(walked.paths).toEqual(['a.txt', 'inner', 'real/x.txt']);
    const reasons = new Map(walked.skipped.map((s) => [s.path, s.reason]));
    expect(reasons.get('leak')).toMatch(/outside the root/);
    expect(reasons.get('leakdir')).toMatch(/outside the root/);
    expect(reasons.get('real/loop')).toMatch(/directory/);
    expect(reasons.get('pipe')).toMatch(/FIFO/);
    expect(walked.skipped.every((s) => s.side === 'local')).toBe(true);
  });

  it('reports a name that is not UTF-8 as a problem of its own, its bytes escaped', async () => {
    const walked = await walkLocalTree(tree, none);
    expect(walked.problems).toHaveLength(1);
    const [problem] = walked.problems;
    expect(problem?.path).toBe('caf\\xe9.txt');
    expect(problem?.error).toBeInstanceOf(LocalPathError);
    expect((problem?.error as Error).message).toMatch(/caf\\xe9\.txt.*not valid UTF-8/);
  });

  it('with followSymlinks follows links out of the root and into directories, but not a loop', async () => {
    const walked = await walkLocalTree(tree, none, { followSymlinks: true });
    expect(walked.paths).toEqual(['a.txt', 'inner', 'leak', 'leakdir/secret.txt', 'real/x.txt']);
    expect([...walked.paths].sort(compareKeys)).toEqual(walked.paths);
    const reasons = new Map(walked.skipped.map((s) => [s.path, s.reason]));
    expect(reasons.get('real/loop')).toMatch(/loop/);
    expect(reasons.get('pipe')).toMatch(/FIFO/);
  });
});
