import { execFileSync } from 'node:child_process';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { LocalPathError, UnsafePathError } from '../../src/exceptions.js';
import {
  LocalRoot,
  openRegularFile,
  readRegularFile,
  readRegularFileSync,
  removeLocalCopy,
} from '../../src/local-root.js';
import { isOrphanTemp, removeOrphanTemps } from '../../src/recovery.js';
import { HOST_TAG, isTempName, tempName } from '../../src/utils.js';

let base: string;
let rootDir: string;
let outside: string;

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 's3lync-root-'));
  rootDir = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await mkdir(rootDir);
  await mkdir(outside);
  await writeFile(path.join(outside, 'file.txt'), 'outside');
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function write(root: LocalRoot, rel: string, body: string): Promise<void> {
  const temp = await root.createTemp(rel);
  const fh = await temp.open();
  await fh.writeFile(body);
  await fh.close();
  await temp.commit();
}

describe('LocalRoot.resolve', () => {
  it.each(['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a/.', '', 'a\0b', '..'])(
    'refuses %j',
    (rel) => {
      expect(() => new LocalRoot(rootDir).resolve(rel)).toThrow(UnsafePathError);
    },
  );

  it('maps a safe relative path inside the root', () => {
    expect(new LocalRoot(rootDir).resolve('a/b c/d.txt')).toBe(
      path.join(rootDir, 'a', 'b c', 'd.txt'),
    );
  });
});

describe('LocalRoot writes', () => {
  it('creates the directories on the way and lands the file by rename', async () => {
    const root = new LocalRoot(path.join(rootDir, 'new'));
    await write(root, 'a/b/c.txt', 'hello');
    expect(await readFile(path.join(rootDir, 'new', 'a', 'b', 'c.txt'), 'utf8')).toBe('hello');
    expect((await readdir(path.join(rootDir, 'new', 'a', 'b'))).filter(isTempName)).toEqual([]);
  });

  it('never writes through a symlinked directory inside the root', async () => {
    await symlink(outside, path.join(rootDir, 'sub'));
    const root = new LocalRoot(rootDir);
    const error = await root.createTemp('sub/file.txt').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafePathError);
    expect((error as Error).message).toMatch(/symbolic link/);
    expect(await readdir(outside)).toEqual(['file.txt']);
    expect(await readFile(path.join(outside, 'file.txt'), 'utf8')).toBe('outside');
  });

  it('checkWritable changes nothing and refuses what a write would refuse', async () => {
    await symlink(outside, path.join(rootDir, 'sub'));
    const root = new LocalRoot(rootDir);
    await expect(root.checkWritable('new/deeper/x.txt')).resolves.toBeUndefined();
    await expect(root.checkWritable('sub/x.txt')).rejects.toBeInstanceOf(UnsafePathError);
    await expect(root.checkWritable('../x.txt')).rejects.toBeInstanceOf(UnsafePathError);
    expect(await readdir(rootDir)).toEqual(['sub']);
  });

  it('makes a new directory once for writers that arrive together', async () => {
    const root = new LocalRoot(path.join(rootDir, 'new'));
    const rels = Array.from({ length: 40 }, (_, i) => `a/b${i % 2}/f${i}`);
    await Promise.all(rels.map((rel) => write(root, rel, rel)));
    for (const rel of rels) {
      expect(await readFile(path.join(rootDir, 'new', ...rel.split('/')), 'utf8')).toBe(rel);
    }
    expect((await readdir(path.join(rootDir, 'new', 'a'))).sort()).toEqual(['b0', 'b1']);
  });

  it('refuses every writer that arrives together through a symlinked directory, each by its path', async () => {
    await symlink(outside, path.join(rootDir, 'sub'));
    const root = new LocalRoot(rootDir);
    const errors = await Promise.all(
      ['sub/x/1', 'sub/x/2', 'sub/3'].map((rel) => root.createTemp(rel).catch((e: unknown) => e)),
    );
    for (const [i, rel] of ['sub/x/1', 'sub/x/2', 'sub/3'].entries()) {
      expect(errors[i]).toBeInstanceOf(UnsafePathError);
      expect((errors[i] as Error).message).toContain(path.join(rootDir, ...rel.split('/')));
    }
    expect(await readdir(outside)).toEqual(['file.txt']);
  });

  it('refuses a file where a directory should be', async () => {
    await writeFile(path.join(rootDir, 'plain'), 'x');
    const error = await new LocalRoot(rootDir).createTemp('plain/x.txt').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPathError);
    expect(error).not.toBeInstanceOf(UnsafePathError);
    expect((error as Error).message).toMatch(/is a regular file, expected a directory/);
  });

  it('replaces a symlink at the target itself, never its target', async () => {
    await symlink(path.join(outside, 'file.txt'), path.join(rootDir, 'link.txt'));
    await write(new LocalRoot(rootDir), 'link.txt', 'new');
    expect((await lstat(path.join(rootDir, 'link.txt'))).isFile()).toBe(true);
    expect(await readFile(path.join(outside, 'file.txt'), 'utf8')).toBe('outside');
  });

  it('keeps a long legal name legal: the temp name is short and fixed', async () => {
    const name = `${'あ'.repeat(83)}.t`; // 251 bytes
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    await write(new LocalRoot(rootDir), name, 'long');
    expect(await readFile(path.join(rootDir, name), 'utf8')).toBe('long');
  });

  it('discards a temp file without touching the target', async () => {
    await writeFile(path.join(rootDir, 'keep.txt'), 'old');
    const temp = await new LocalRoot(rootDir).createTemp('keep.txt');
    await temp.discard();
    expect(await readdir(rootDir)).toEqual(['keep.txt']);
    expect(await readFile(path.join(rootDir, 'keep.txt'), 'utf8')).toBe('old');
  });
});

describe('LocalRoot deletes', () => {
  it('removes a link, not what it points to', async () => {
    await symlink(path.join(outside, 'file.txt'), path.join(rootDir, 'link.txt'));
    await new LocalRoot(rootDir).remove('link.txt');
    expect(await readdir(rootDir)).toEqual([]);
    expect(await readFile(path.join(outside, 'file.txt'), 'utf8')).toBe('outside');
  });

  it('never deletes through a symlinked directory', async () => {
    await symlink(outside, path.join(rootDir, 'sub'));
    await expect(new LocalRoot(rootDir).remove('sub/file.txt')).rejects.toBeInstanceOf(
      UnsafePathError,
    );
    expect(await readdir(outside)).toEqual(['file.txt']);
  });

  it('removes only empty directories', async () => {
    const root = new LocalRoot(rootDir);
    await write(root, 'full/a.txt', 'a');
    await mkdir(path.join(rootDir, 'empty'));
    await symlink(outside, path.join(rootDir, 'linked'));
    expect(await root.removeEmptyDir('full')).toBe(false);
    expect(await root.removeEmptyDir('empty')).toBe(true);
    expect(await root.removeEmptyDir('linked')).toBe(false);
    expect((await readdir(rootDir)).sort()).toEqual(['full', 'linked']);
  });

  it('removeLocalCopy removes a tree, links inside it but not their targets', async () => {
    const copy = path.join(rootDir, 'copy');
    await mkdir(copy);
    await symlink(outside, path.join(copy, 'out'));
    await removeLocalCopy(copy);
    expect(await readdir(rootDir)).toEqual([]);
    expect(await readdir(outside)).toEqual(['file.txt']);
  });
});

describe('openRegularFile', () => {
  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = path.join(rootDir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const error = await openRegularFile(fifo).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPathError);
    expect((error as Error).message).toMatch(/FIFO/);
    await expect(readRegularFile(fifo)).rejects.toBeInstanceOf(LocalPathError);
  });

  it('refuses a directory and a device', async () => {
    await expect(openRegularFile(rootDir)).rejects.toThrow(/directory/);
    await expect(openRegularFile('/dev/null')).rejects.toThrow(/character device/);
  });

  it('reads a regular file, also through a link', async () => {
    await symlink(path.join(outside, 'file.txt'), path.join(rootDir, 'l'));
    expect((await readRegularFile(path.join(rootDir, 'l'))).toString()).toBe('outside');
  });

  it('reads an empty file and one larger than a read', async () => {
    const empty = path.join(rootDir, 'empty');
    const big = path.join(rootDir, 'big');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    await writeFile(empty, '');
    await writeFile(big, bytes);
    expect(await readRegularFile(empty)).toEqual(Buffer.alloc(0));
    expect((await readRegularFile(big)).equals(bytes)).toBe(true);
  });
});

describe('readRegularFileSync', () => {
  it('reads a small regular file, also through a link, and an empty one', async () => {
    await symlink(path.join(outside, 'file.txt'), path.join(rootDir, 'l'));
    await writeFile(path.join(rootDir, 'empty'), '');
    expect(readRegularFileSync(path.join(rootDir, 'l'), 100)?.toString()).toBe('outside');
    expect(readRegularFileSync(path.join(rootDir, 'empty'), 100)).toEqual(Buffer.alloc(0));
  });

  it('says undefined for a file larger than its limit', () => {
    const file = path.join(outside, 'file.txt');
    expect(readRegularFileSync(file, 7)?.toString()).toBe('outside');
    expect(readRegularFileSync(file, 6)).toBeUndefined();
  });

  it('refuses a FIFO at once, a directory and a device', () => {
    const fifo = path.join(rootDir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(() => readRegularFileSync(fifo, 100)).toThrow(LocalPathError);
    expect(() => readRegularFileSync(fifo, 100)).toThrow(/FIFO/);
    expect(() => readRegularFileSync(rootDir, 100)).toThrow(/directory/);
    expect(() => readRegularFileSync('/dev/null', 100)).toThrow(/character device/);
  });
});

describe('crash debris', () => {
  const dead = 2 ** 22 + 17; // above Linux's pid_max default: never a live process
  const alive = (pid: number): boolean => pid !== dead;

  it("tells a dead process's temp file of this host from others", () => {
    expect(isOrphanTemp(tempName('aa', dead), alive)).toBe(true);
    expect(isOrphanTemp(tempName('aa', process.pid), alive)).toBe(false);
    const otherHost = HOST_TAG === 'ffff' ? 'eeee' : 'ffff';
    expect(isOrphanTemp(tempName('aa', dead, otherHost), alive)).toBe(false);
    expect(isOrphanTemp(`.x.txt.${dead}-ab12.s3lync-tmp`, alive)).toBe(true);
    expect(isOrphanTemp('.x.txt.ab12.s3lync-tmp', alive)).toBe(false);
    expect(isOrphanTemp('file.txt', alive)).toBe(false);
  });

  it('removes dead temp files in one directory, or a whole tree, and nothing else', async () => {
    await mkdir(path.join(rootDir, 'd'));
    await symlink(outside, path.join(rootDir, 'linked'));
    const top = path.join(rootDir, tempName('0001', dead));
    const deep = path.join(rootDir, 'd', tempName('0002', dead));
    const live = path.join(rootDir, tempName('0003', process.pid));
    const beyond = path.join(outside, tempName('0004', dead));
    for (const f of [top, deep, live, beyond]) await writeFile(f, 'partial');
    await writeFile(path.join(rootDir, 'data.txt'), 'data');

    expect(await removeOrphanTemps(new LocalRoot(rootDir), false, alive)).toEqual([top]);
    expect(await removeOrphanTemps(new LocalRoot(rootDir), true, alive)).toEqual([deep]);
    expect((await readdir(rootDir)).sort()).toEqual(
      ['d', 'data.txt', 'linked', path.basename(live)].sort(),
    );
    expect((await readdir(outside)).sort()).toEqual(['file.txt', path.basename(beyond)].sort());
    expect(await readlink(path.join(rootDir, 'linked'))).toBe(outside);
  });
});
