import type * as FsPromises from 'node:fs/promises';
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  HashIndex,
  indexFileFor,
  isTrusted,
  parseIndex,
  serializeIndex,
  type IndexEntry,
} from '../../src/hash-index.js';
import { configureLogging, resetLogging, type Logger } from '../../src/logging.js';
import {
  nowNs,
  RACY_MARGIN_COARSE_NS,
  RACY_MARGIN_NS,
  type FileIdentity,
  identityOf,
} from '../../src/identity.js';

// Pass-through spies, to prove what the index writes (and that a disabled one writes nothing).
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  return {
    ...actual,
    mkdir: vi.fn(actual.mkdir),
    open: vi.fn(actual.open),
    rename: vi.fn(actual.rename),
    writeFile: vi.fn(actual.writeFile),
  };
});

const MD5_A = '0123456789abcdef0123456789abcdef';
const MD5_B = 'fedcba9876543210fedcba9876543210';

/** A fine-grained mtime (not a whole second). */
const MTIME = 1_700_000_000_123_456_789n;
/** A whole-second mtime, as coarse filesystems give. */
const COARSE_MTIME = 1_700_000_000_000_000_000n;

function identity(overrides: Partial<FileIdentity> = {}): FileIdentity {
  return { size: 42, mtimeNs: MTIME, ctimeNs: MTIME + 5n, ino: 123_456n, ...overrides };
}

function entry(overrides: Partial<IndexEntry> = {}): IndexEntry {
  const id = identity(overrides);
  return {
    ...id,
    md5: MD5_A,
    hashedAtNs: id.mtimeNs + 10_000_000_000n,
    ownMtime: false,
    ...overrides,
  };
}

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 's3lync-hash-index-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let dirCount = 0;
async function freshDir(): Promise<string> {
  const dir = path.join(tmp, `case-${++dirCount}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('isTrusted', () => {
  it('trusts an entry whose identity matches and that was hashed well after its mtime', () => {
    expect(isTrusted(entry(), identity())).toBe(true);
  });

  it.each<[string, Partial<FileIdentity>]>([
    ['size', { size: 43 }],
    ['mtimeNs', { mtimeNs: MTIME + 1n }],
    ['ctimeNs', { ctimeNs: MTIME + 6n }],
    ['ino', { ino: 123_457n }],
  ])('does not trust an entry whose %s differs', (_field, change) => {
    expect(isTrusted(entry(), identity(change))).toBe(false);
  });

  it('applies the racy margin to fine-grained mtimes', () => {
    expect(isTrusted(entry({ hashedAtNs: MTIME + RACY_MARGIN_NS }), identity())).toBe(true);
    expect(isTrusted(entry({ hashedAtNs: MTIME + RACY_MARGIN_NS - 1n }), identity())).toBe(false);
    expect(isTrusted(entry({ hashedAtNs: MTIME }), identity())).toBe(false);
    // A clock that went backwards: hashed "before" the mtime.
    expect(isTrusted(entry({ hashedAtNs: MTIME - 1n }), identity())).toBe(false);
  });

  it('applies the coarse margin on a coarse filesystem (whole-second mtime and ctime)', () => {
    const id = identity({ mtimeNs: COARSE_MTIME, ctimeNs: COARSE_MTIME });
    const at = (hashedAtNs: bigint, ownMtime = false): IndexEntry =>
      entry({ mtimeNs: COARSE_MTIME, ctimeNs: COARSE_MTIME, hashedAtNs, ownMtime });
    expect(isTrusted(at(COARSE_MTIME + RACY_MARGIN_NS), id)).toBe(false);
    expect(isTrusted(at(COARSE_MTIME + RACY_MARGIN_COARSE_NS - 1n), id)).toBe(false);
    expect(isTrusted(at(COARSE_MTIME + RACY_MARGIN_COARSE_NS), id)).toBe(true);
  });

  it('uses the fine margin for a whole-second mtime on a fine filesystem (set by utimes)', () => {
    // Files another tool (or another s3lync index) downloaded with the object's date.
    const id = identity({ mtimeNs: COARSE_MTIME });
    const at = (hashedAtNs: bigint): IndexEntry => entry({ mtimeNs: COARSE_MTIME, hashedAtNs });
    expect(isTrusted(at(COARSE_MTIME + RACY_MARGIN_NS), id)).toBe(true);
    expect(isTrusted(at(COARSE_MTIME + RACY_MARGIN_NS - 1n), id)).toBe(false);
  });

  it('uses the fine margin for a whole-second mtime s3lync set itself', () => {
    const id = identity({ mtimeNs: COARSE_MTIME });
    const own = (hashedAtNs: bigint): IndexEntry =>
      entry({ mtimeNs: COARSE_MTIME, hashedAtNs, ownMtime: true });
    expect(isTrusted(own(COARSE_MTIME + RACY_MARGIN_NS), id)).toBe(true);
    expect(isTrusted(own(COARSE_MTIME + RACY_MARGIN_NS - 1n), id)).toBe(false);
  });

  it('has the documented margins', () => {
    expect(RACY_MARGIN_NS).toBe(100_000_000n);
    expect(RACY_MARGIN_COARSE_NS).toBe(2_000_000_000n);
  });
});

describe('serializeIndex / parseIndex', () => {
  it('round-trips awkward paths, huge bigints and optional etags', () => {
    const big = 2n ** 63n + 12_345n;
    const entries = new Map<string, IndexEntry>([
      ['plain.txt', entry()],
      ['tab\there', entry({ etag: '"abc"' })],
      ['new\nline/and\r\nCRLF', entry({ md5: MD5_B })],
      ['"quoted" \'single\' \\back\\slash', entry({ ownMtime: true })],
      ['ünïcödé/日本語/emoji-😀.bin', entry({ etag: `${MD5_A}-3` })],
      ['line\u2028sep\u2029para', entry()],
      ['[1,2,3]', entry()],
      [
        'huge',
        entry({
          size: Number.MAX_SAFE_INTEGER,
          mtimeNs: big,
          ctimeNs: big + 1n,
          ino: 2n ** 64n - 1n,
          hashedAtNs: big + 2n,
        }),
      ],
    ]);
    const text = serializeIndex(entries, nowNs());
    const parsed = parseIndex(text);
    expect(parsed).toEqual(entries);
    expect([...parsed.keys()]).toEqual([...entries.keys()]);
    expect(parsed.get('plain.txt')).not.toHaveProperty('etag');
    expect(parsed.get('huge')?.ino).toBe(2n ** 64n - 1n);
    expect(parsed.get('huge')?.mtimeNs).toBe(big);
  });

  it('writes one header line, then one line per entry', () => {
    const text = serializeIndex(
      new Map([
        ['a\nb', entry()],
        ['c', entry()],
      ]),
      77n,
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe('s3lync-hash-index 1 77');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
  });

  it('round-trips an empty index', () => {
    expect(parseIndex(serializeIndex(new Map(), 1n))).toEqual(new Map());
  });

  it('drops torn and corrupt lines but keeps the good ones', () => {
    const good = new Map([
      ['good-1', entry()],
      ['good-2', entry({ md5: MD5_B, etag: 'e' })],
    ]);
    const [header, line1, line2] = serializeIndex(good, 1n).split('\n');
    const bad = [
      '["torn",42,"1700000000123456789"',
      'not json at all',
      '{"an":"object"}',
      '[]',
      JSON.stringify(['short', 42, '1', '2', '3', MD5_A, '4', 0]),
      JSON.stringify(['long', 42, '1', '2', '3', MD5_A, '4', 0, '', 'extra']),
      JSON.stringify(['bad-md5', 42, '1', '2', '3', 'xyz', '4', 0, '']),
      JSON.stringify(['upper-md5', 42, '1', '2', '3', MD5_A.toUpperCase(), '4', 0, '']),
      JSON.stringify(['str-size', '42', '1', '2', '3', MD5_A, '4', 0, '']),
      JSON.stringify(['frac-size', 4.5, '1', '2', '3', MD5_A, '4', 0, '']),
      JSON.stringify(['unsafe-size', 2 ** 60, '1', '2', '3', MD5_A, '4', 0, '']),
      JSON.stringify(['bad-mtime', 42, 'abc', '2', '3', MD5_A, '4', 0, '']),
      JSON.stringify(['null-ino', 42, '1', '2', null, MD5_A, '4', 0, '']),
      JSON.stringify(['frac-hashed', 42, '1', '2', '3', MD5_A, '4.5', 0, '']),
      JSON.stringify([7, 42, '1', '2', '3', MD5_A, '4', 0, '']),
      JSON.stringify(['etag-number', 42, '1', '2', '3', MD5_A, '4', 0, 5]),
    ];
    const text = [header, ...bad.slice(0, 8), line1, ...bad.slice(8), line2, '["cut-off",4'].join(
      '\n',
    );
    const parsed = parseIndex(text);
    expect(parsed).toEqual(good);
  });

  it('keeps the last entry of a path written twice', () => {
    const header = serializeIndex(new Map(), 1n).trimEnd();
    const first = serializeIndex(new Map([['p', entry()]]), 1n).split('\n')[1];
    const second = serializeIndex(new Map([['p', entry({ md5: MD5_B })]]), 1n).split('\n')[1];
    expect(parseIndex([header, first, second].join('\n')).get('p')?.md5).toBe(MD5_B);
  });

  it('returns an empty index for a wrong header, an empty text or binary garbage', () => {
    const body = serializeIndex(new Map([['a', entry()]]), 1n)
      .split('\n')
      .slice(1)
      .join('\n');
    expect(parseIndex(`some-other-format 1\n${body}`)).toEqual(new Map());
    expect(parseIndex(body)).toEqual(new Map());
    expect(parseIndex('')).toEqual(new Map());
    expect(parseIndex('\n\n\n')).toEqual(new Map());
    const garbage = Buffer.alloc(4096);
    let x = 7;
    for (let i = 0; i < garbage.length; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      garbage[i] = x >>> 16;
    }
    expect(parseIndex(garbage.toString('utf8'))).toEqual(new Map());
    expect(parseIndex(garbage.toString('latin1'))).toEqual(new Map());
    // Garbage after a valid header is dropped line by line.
    expect(parseIndex(`s3lync-hash-index 1 5\n${garbage.toString('latin1')}`)).toEqual(new Map());
  });
});

describe('indexFileFor', () => {
  it('is stable for the same root and lives in the index directory', () => {
    const dir = path.join(tmp, 'indexes');
    const a = indexFileFor(dir, '/data/root');
    expect(indexFileFor(dir, '/data/root')).toBe(a);
    expect(indexFileFor(dir, '/data/root/')).toBe(a);
    expect(indexFileFor(dir, '/data/./other/../root')).toBe(a);
    expect(path.dirname(a)).toBe(dir);
    expect(path.basename(a)).toMatch(/^[0-9a-f]{32}\.jsonl$/);
  });

  it('resolves relative roots', () => {
    const dir = path.join(tmp, 'indexes');
    expect(indexFileFor(dir, 'rel/root')).toBe(indexFileFor(dir, path.resolve('rel/root')));
  });

  it('differs for different roots', () => {
    const dir = path.join(tmp, 'indexes');
    const files = new Set(
      ['/data/root', '/data/root2', '/data/Root', '/data', '/other/root'].map((r) =>
        indexFileFor(dir, r),
      ),
    );
    expect(files.size).toBe(5);
  });
});

describe('nowNs', () => {
  it('is a bigint in nanoseconds', () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const now = nowNs();
    expect(typeof now).toBe('bigint');
    expect(now >= before).toBe(true);
    expect(now % 1_000_000n).toBe(0n);
  });
});

describe('HashIndex', () => {
  type Line = { level: string; line: string };
  let lines: Line[];

  beforeEach(() => {
    lines = [];
    const push =
      (level: string) =>
      (line: string): void => {
        lines.push({ level, line });
      };
    const logger: Logger = {
      debug: push('debug'),
      info: push('info'),
      warn: push('warn'),
      error: push('error'),
    };
    configureLogging({ level: 'debug', logger });
  });

  afterEach(() => {
    resetLogging();
    vi.mocked(mkdir).mockClear();
    vi.mocked(open).mockClear();
    vi.mocked(rename).mockClear();
    vi.mocked(writeFile).mockClear();
  });

  async function indexWith(file: string, entries: Record<string, IndexEntry>): Promise<HashIndex> {
    const index = await HashIndex.load(file);
    for (const [p, e] of Object.entries(entries)) index.record(p, e);
    await index.save({ prune: false });
    return HashIndex.load(file);
  }

  async function saved(file: string): Promise<Map<string, IndexEntry>> {
    return parseIndex(await readFile(file, 'utf8'));
  }

  it('loads a missing file as an empty index, without a warning', async () => {
    const index = await HashIndex.load(path.join(tmp, 'nope', 'missing.jsonl'));
    expect(index.size).toBe(0);
    expect(index.lookup('a', identity())).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('loads an unreadable index (a directory) as empty, with a warning', async () => {
    const dir = await freshDir();
    const index = await HashIndex.load(dir);
    expect(index.size).toBe(0);
    expect(lines.some((l) => l.level === 'warn' && l.line.includes('unreadable'))).toBe(true);
  });

  it('round-trips record + save + load', async () => {
    const file = path.join(await freshDir(), 'sub', 'dir', 'index.jsonl');
    const index = await HashIndex.load(file);
    const e1 = entry();
    const e2 = entry({ md5: MD5_B, etag: '"etag"', ino: 2n ** 60n, ownMtime: true });
    index.record('a.txt', e1);
    index.record('dir/b\tc.bin', e2);
    expect(index.size).toBe(2);
    await index.save({ prune: true });

    const again = await HashIndex.load(file);
    expect(again.size).toBe(2);
    expect(again.lookup('a.txt', identity())).toEqual(e1);
    expect(again.lookup('dir/b\tc.bin', identity({ ino: 2n ** 60n }))).toEqual(e2);
    expect(await saved(file)).toEqual(
      new Map([
        ['a.txt', e1],
        ['dir/b\tc.bin', e2],
      ]),
    );
  });

  it('remembers a real file until it changes', async () => {
    const dir = await freshDir();
    const data = path.join(dir, 'data.bin');
    await writeFile(data, 'content');
    const id = identityOf(await stat(data, { bigint: true }));
    const file = path.join(dir, 'index.jsonl');
    const index = await HashIndex.load(file);
    index.record('data.bin', {
      ...id,
      md5: MD5_A,
      hashedAtNs: id.mtimeNs + 5_000_000_000n,
      ownMtime: false,
    });
    await index.save({ prune: true });

    const loaded = await HashIndex.load(file);
    expect(loaded.lookup('data.bin', identityOf(await stat(data, { bigint: true })))?.md5).toBe(
      MD5_A,
    );
    // Same size, another mtime: not trusted.
    await utimes(data, new Date(2001, 0, 1), new Date(2001, 0, 1));
    expect(
      loaded.lookup('data.bin', identityOf(await stat(data, { bigint: true }))),
    ).toBeUndefined();
  });

  it('does not trust an entry hashed right after the file was modified', async () => {
    const dir = await freshDir();
    const data = path.join(dir, 'racy.bin');
    await writeFile(data, 'content');
    const id = identityOf(await stat(data, { bigint: true }));
    const file = path.join(dir, 'index.jsonl');
    const index = await HashIndex.load(file);
    const hashedAtNs = id.mtimeNs + RACY_MARGIN_NS - 1n;
    index.record('racy.bin', { ...id, md5: MD5_A, hashedAtNs, ownMtime: false });
    await index.save({ prune: true });
    const loaded = await HashIndex.load(file);
    expect(loaded.size).toBe(1);
    expect(loaded.lookup('racy.bin', id)).toBeUndefined();
  });

  it('saves atomically: the file is fully replaced and no temp file remains', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'index.jsonl');
    // A longer previous content, with a torn tail, that a partial overwrite would leave behind.
    const old = new Map<string, IndexEntry>();
    for (let i = 0; i < 50; i++) old.set(`old-${i}`, entry());
    await writeFile(file, `${serializeIndex(old, 1n)}["torn`);
    const inoBefore = (await stat(file)).ino;

    const index = await HashIndex.load(file);
    expect(index.size).toBe(50);
    index.record('new', entry({ md5: MD5_B }));
    await index.save({ prune: true });

    const text = await readFile(file, 'utf8');
    expect(parseIndex(text)).toEqual(new Map([['new', entry({ md5: MD5_B })]]));
    expect(text.split('\n')).toHaveLength(3);
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('old-');
    expect(text).not.toContain('torn');
    // Replaced by a rename, not rewritten in place.
    expect((await stat(file)).ino).not.toBe(inoBefore);
    expect(await readdir(dir)).toEqual(['index.jsonl']);
    expect(vi.mocked(rename)).toHaveBeenCalledTimes(1);
    const [from, to] = vi.mocked(rename).mock.calls[0] ?? [];
    expect(to).toBe(file);
    expect(String(from)).toMatch(/^.*index\.jsonl\.[0-9a-f]{12}\.tmp$/);
    expect(path.dirname(String(from))).toBe(dir);
  });

  it('survives a crash mid-write: a torn index keeps its good lines, a stray temp file is ignored', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'index.jsonl');
    const full = serializeIndex(
      new Map([
        ['kept-1', entry()],
        ['kept-2', entry({ md5: MD5_B })],
        ['lost', entry()],
      ]),
      1n,
    );
    await writeFile(file, full.slice(0, full.lastIndexOf('"lost"') + 10));
    await writeFile(`${file}.abcdef012345.tmp`, 'half a write');
    const index = await HashIndex.load(file);
    expect(index.size).toBe(2);
    expect(index.lookup('kept-1', identity())?.md5).toBe(MD5_A);
    expect(index.lookup('kept-2', identity())?.md5).toBe(MD5_B);
    expect(index.lookup('lost', identity())).toBeUndefined();
  });

  it('save({ prune: true }) drops entries not looked up, kept or recorded since load', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, {
      looked: entry(),
      'looked-untrusted': entry(),
      kept: entry(),
      rerecorded: entry(),
      vanished: entry(),
      'also-vanished': entry(),
    });
    expect(index.size).toBe(6);
    expect(index.lookup('looked', identity())).toBeDefined();
    expect(index.lookup('looked-untrusted', identity({ size: 1 }))).toBeUndefined();
    index.keep('kept');
    index.record('rerecorded', entry({ md5: MD5_B }));
    index.record('brand-new', entry());
    await index.save({ prune: true });

    expect([...(await saved(file)).keys()].sort()).toEqual([
      'brand-new',
      'kept',
      'looked',
      'looked-untrusted',
      'rerecorded',
    ]);
    expect(index.size).toBe(5);
  });

  it('save({ prune: true }) writes even when pruning is the only change', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { a: entry(), b: entry() });
    index.keep('a');
    await index.save({ prune: true });
    expect([...(await saved(file)).keys()]).toEqual(['a']);
  });

  it('save({ prune: false }) keeps entries that were not seen', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { a: entry(), b: entry() });
    index.record('c', entry());
    await index.save({ prune: false });
    expect([...(await saved(file)).keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('does not rewrite an unchanged index', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { a: entry() });
    index.keep('a');
    vi.mocked(rename).mockClear();
    await index.save({ prune: false });
    await index.save({ prune: true });
    expect(vi.mocked(rename)).not.toHaveBeenCalled();
  });

  it('lookup marks an entry as seen, trusted or not, and even when absent', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { a: entry(), b: entry() });
    expect(index.lookup('a', identity({ mtimeNs: 1n }))).toBeUndefined();
    expect(index.lookup('missing', identity())).toBeUndefined();
    await index.save({ prune: true });
    expect([...(await saved(file)).keys()]).toEqual(['a']);
  });

  it('lookup returns only trusted entries', () => {
    const index = HashIndex.disabled();
    index.record('racy', entry({ hashedAtNs: MTIME }));
    index.record('fine', entry());
    expect(index.lookup('racy', identity())).toBeUndefined();
    expect(index.lookup('fine', identity())).toEqual(entry());
  });

  it('forget removes an entry and the removal is saved', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { a: entry(), b: entry() });
    index.forget('a');
    expect(index.size).toBe(1);
    expect(index.lookup('a', identity())).toBeUndefined();
    await index.save({ prune: false });
    expect([...(await saved(file)).keys()]).toEqual(['b']);
  });

  it('forgetting an unknown path changes nothing and writes nothing', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    index.forget('never-there');
    await index.save({ prune: false });
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('setEtag applies only when the md5 matches', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    index.record('f', entry());
    index.setEtag('f', MD5_B, '"wrong-content"');
    expect(index.lookup('f', identity())?.etag).toBeUndefined();
    index.setEtag('f', MD5_A, undefined);
    expect(index.lookup('f', identity())?.etag).toBeUndefined();
    index.setEtag('unknown', MD5_A, '"x"');
    expect(index.size).toBe(1);
    index.setEtag('f', MD5_A, `"${MD5_A}-2"`);
    expect(index.lookup('f', identity())?.etag).toBe(`"${MD5_A}-2"`);
    expect(index.lookup('f', identity())?.md5).toBe(MD5_A);
    await index.save({ prune: true });
    expect((await saved(file)).get('f')?.etag).toBe(`"${MD5_A}-2"`);
  });

  it('setEtag alone makes a loaded index dirty', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { f: entry() });
    index.setEtag('f', MD5_A, 'etag-1');
    await index.save({ prune: false });
    expect((await saved(file)).get('f')?.etag).toBe('etag-1');
  });

  it('HashIndex.disabled() remembers within a run but never writes anything', async () => {
    const index = HashIndex.disabled();
    index.record('a', entry());
    index.setEtag('a', MD5_A, 'e');
    index.forget('missing');
    expect(index.size).toBe(1);
    vi.mocked(mkdir).mockClear();
    vi.mocked(open).mockClear();
    vi.mocked(rename).mockClear();
    vi.mocked(writeFile).mockClear();
    await index.save({ prune: true });
    await index.save({ prune: false });
    expect(vi.mocked(mkdir)).not.toHaveBeenCalled();
    expect(vi.mocked(open)).not.toHaveBeenCalled();
    expect(vi.mocked(rename)).not.toHaveBeenCalled();
    expect(vi.mocked(writeFile)).not.toHaveBeenCalled();
    expect(HashIndex.disabled().size).toBe(0);
  });

  it('a save into an unwritable directory does not throw; it only logs', async () => {
    const dir = await freshDir();
    const regular = path.join(dir, 'regular-file');
    await writeFile(regular, 'not a directory');
    for (const file of [
      path.join(regular, 'index.jsonl'),
      path.join(regular, 'deeper', 'index.jsonl'),
    ]) {
      const index = await HashIndex.load(file);
      index.record('a', entry());
      await expect(index.save({ prune: true })).resolves.toBeUndefined();
    }
    // (Loading from under a regular file warns too: ENOTDIR is not a plain "missing".)
    const saveWarnings = lines.filter(
      (l) => l.level === 'warn' && l.line.includes('could not save the hash index'),
    );
    expect(saveWarnings).toHaveLength(2);
    // mkdir says EEXIST for the regular file itself, ENOTDIR below it.
    expect(saveWarnings[0]?.line).toMatch(/EEXIST|ENOTDIR/);
    expect(saveWarnings[1]?.line).toContain('ENOTDIR');
    expect(await readdir(dir)).toEqual(['regular-file']);
  });

  it('a save that fails at the rename leaves no temp file and keeps the old index', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'index.jsonl');
    const index = await indexWith(file, { a: entry() });
    const before = await readFile(file, 'utf8');
    index.record('b', entry());
    vi.mocked(rename).mockRejectedValueOnce(
      Object.assign(new Error('EXDEV: simulated'), { code: 'EXDEV' }),
    );
    await expect(index.save({ prune: false })).resolves.toBeUndefined();
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['index.jsonl']);
    expect(lines.some((l) => l.level === 'warn' && l.line.includes('simulated'))).toBe(true);
    // Still dirty: the next save writes it.
    await index.save({ prune: false });
    expect([...(await saved(file)).keys()].sort()).toEqual(['a', 'b']);
  });
});

describe('HashIndex.save merges with saves made since loading', () => {
  async function saved(file: string): Promise<Map<string, IndexEntry>> {
    return parseIndex(await readFile(file, 'utf8'));
  }

  it('two indexes loaded from one file keep both records (no lost update)', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const first = await HashIndex.load(file);
    const second = await HashIndex.load(file);
    first.record('a', entry({ md5: MD5_A }));
    second.record('b', entry({ md5: MD5_B }));
    await first.save({ prune: false });
    await second.save({ prune: false });
    const onDisk = await saved(file);
    expect([...onDisk.keys()].sort()).toEqual(['a', 'b']);
    expect(onDisk.get('a')?.md5).toBe(MD5_A);
    expect(onDisk.get('b')?.md5).toBe(MD5_B);
    expect(second.size).toBe(2);
  });

  it('concurrent saves of many indexes of one file all land', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const indexes = await Promise.all(Array.from({ length: 8 }, () => HashIndex.load(file)));
    indexes.forEach((index, i) => {
      index.record(`f${i}`, entry());
    });
    await Promise.all(indexes.map((index) => index.save({ prune: false })));
    expect([...(await saved(file)).keys()].sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `f${i}`).sort(),
    );
    expect(await readdir(path.dirname(file))).toEqual(['index.jsonl']);
  });

  it("this run's record wins over the disk's entry for the same path; others' entries stay", async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const base = await HashIndex.load(file);
    base.record('shared', entry({ md5: MD5_A }));
    base.record('theirs', entry({ md5: MD5_A }));
    await base.save({ prune: false });
    const mine = await HashIndex.load(file);
    const theirs = await HashIndex.load(file);
    theirs.record('theirs', entry({ md5: MD5_B }));
    await theirs.save({ prune: false });
    mine.record('shared', entry({ md5: MD5_B }));
    await mine.save({ prune: false });
    const onDisk = await saved(file);
    expect(onDisk.get('shared')?.md5).toBe(MD5_B);
    expect(onDisk.get('theirs')?.md5).toBe(MD5_B);
  });

  it('a forget is merged too: a path forgotten here is gone after the merge', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const base = await HashIndex.load(file);
    base.record('gone', entry());
    await base.save({ prune: false });
    const mine = await HashIndex.load(file);
    const theirs = await HashIndex.load(file);
    theirs.record('new', entry());
    await theirs.save({ prune: false });
    mine.forget('gone');
    await mine.save({ prune: false });
    expect([...(await saved(file)).keys()]).toEqual(['new']);
  });

  it('a pruning save drops what its walk did not see, also from the disk version', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const base = await HashIndex.load(file);
    base.record('kept', entry());
    base.record('vanished', entry());
    await base.save({ prune: false });
    const mine = await HashIndex.load(file);
    const theirs = await HashIndex.load(file);
    theirs.record('kept', entry({ md5: MD5_B }));
    await theirs.save({ prune: false });
    mine.keep('kept');
    await mine.save({ prune: true });
    const onDisk = await saved(file);
    expect([...onDisk.keys()]).toEqual(['kept']);
    // Not changed by this run, so the other process's newer entry is the one kept.
    expect(onDisk.get('kept')?.md5).toBe(MD5_B);
  });

  it('a save waits for a lock held by another live process and then merges', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    index.record('a', entry());
    // The parent process is alive and on this host: its lock is honoured until released.
    const lockFile = `${file}.lock`;
    await writeFile(
      lockFile,
      JSON.stringify({ pid: process.ppid, host: os.hostname(), since: Date.now(), token: 'x' }),
    );
    const saving = index.save({ prune: false });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    await rm(lockFile);
    await saving;
    expect([...(await saved(file)).keys()]).toEqual(['a']);
  });
});

describe('parseIndex: the header must be exactly version 1', () => {
  it('ignores an index from another version', () => {
    const entries = new Map([
      [
        'a',
        {
          size: 1,
          mtimeNs: 1n,
          ctimeNs: 1n,
          ino: 1n,
          md5: '0'.repeat(32),
          hashedAtNs: 2n,
          ownMtime: false,
        },
      ],
    ]);
    const text = serializeIndex(entries, 5n);
    expect(parseIndex(text).size).toBe(1);
    expect(parseIndex(text.replace('s3lync-hash-index 1 ', 's3lync-hash-index 10 ')).size).toBe(0);
  });
});

describe('HashIndex at scale: sorted, streamed, compact', () => {
  async function saved(file: string): Promise<Map<string, IndexEntry>> {
    return parseIndex(await readFile(file, 'utf8'));
  }

  it('writes entries in key order, whatever order they were recorded in', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    for (const p of ['b', 'a/x', 'a.txt', '😀', '\uffff', 'a']) index.record(p, entry());
    await index.save({ prune: false });
    expect([...(await saved(file)).keys()]).toEqual(['a', 'a.txt', 'a/x', 'b', '\uffff', '😀']);
  });

  it('loads an unsorted file (an older writer) and keeps the last of a path written twice', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const lines = serializeIndex(
      new Map([
        ['z', entry()],
        ['a', entry()],
        ['m', entry()],
      ]),
      1n,
    ).split('\n');
    const again = serializeIndex(new Map([['a', entry({ md5: MD5_B })]]), 1n).split('\n')[1];
    await writeFile(file, [...lines.slice(0, -1), again, ''].join('\n'));
    const index = await HashIndex.load(file);
    expect(index.size).toBe(3);
    expect(index.lookup('a', identity())?.md5).toBe(MD5_B);
    index.record('b', entry());
    await index.save({ prune: false });
    expect([...(await saved(file)).entries()].map(([p, e]) => `${p}:${e.md5}`)).toEqual([
      `a:${MD5_B}`,
      `b:${MD5_A}`,
      `m:${MD5_A}`,
      `z:${MD5_A}`,
    ]);
  });

  it('streams a file of many chunks, lines and characters cut at chunk edges', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const many = new Map<string, IndexEntry>();
    // ~3 MiB of lines with multi-byte characters, so chunk edges fall inside them.
    for (let i = 0; i < 15_000; i++) {
      many.set(
        `dir-é-${'ü'.repeat(i % 97)}/file-${String(i).padStart(6, '0')}-😀`,
        entry({ ino: BigInt(i) }),
      );
    }
    const text = serializeIndex(many, 1n);
    expect(Buffer.byteLength(text)).toBeGreaterThan(3 * 2 ** 20);
    await writeFile(file, text);
    const index = await HashIndex.load(file);
    expect(index.size).toBe(many.size);
    for (const [p, e] of many) expect(index.lookup(p, e)).toEqual(e);
    index.record('new', entry());
    await index.save({ prune: false });
    const back = await saved(file);
    expect(back.size).toBe(many.size + 1);
    for (const [p, e] of many) expect(back.get(p)).toEqual(e);
  });

  it('round-trips every form of ETag: the MD5 quoted or bare, another string, none', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    const forms: Record<string, IndexEntry> = {
      quoted: entry({ etag: `"${MD5_A}"` }),
      bare: entry({ etag: MD5_A }),
      multipart: entry({ etag: `"${MD5_B}-3"` }),
      other: entry({ etag: 'W/"weird"' }),
      none: entry(),
    };
    for (const [p, e] of Object.entries(forms)) index.record(p, e);
    await index.save({ prune: false });
    const loaded = await HashIndex.load(file);
    for (const [p, e] of Object.entries(forms)) expect(loaded.lookup(p, identity())).toEqual(e);
    expect(await saved(file)).toEqual(new Map(Object.entries(forms)));
    // An ETag set on a loaded entry lands in the next save, the rest unchanged.
    loaded.setEtag('none', MD5_A, `"${MD5_A}"`);
    await loaded.save({ prune: true });
    expect((await saved(file)).get('none')?.etag).toBe(`"${MD5_A}"`);
    expect((await saved(file)).get('multipart')?.etag).toBe(`"${MD5_B}-3"`);
  });

  it('keepSorted keeps a whole walk without a per-path call; pruning drops the rest', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const walk = ['a', 'b/c', 'd', 'e'];
    const setup = await HashIndex.load(file);
    for (const p of [...walk, 'gone', 'b/gone']) setup.record(p, entry());
    await setup.save({ prune: false });

    const index = await HashIndex.load(file);
    index.keepSorted(walk);
    // A re-stamped entry and a new one are kept as well.
    index.setEtag('d', MD5_A, 'etag');
    index.record('new', entry());
    await index.save({ prune: true });
    expect([...(await saved(file)).keys()]).toEqual(['a', 'b/c', 'd', 'e', 'new']);
    expect(index.size).toBe(5);
  });

  it('keepSorted applies to entries another process saved meanwhile, too', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const mine = await HashIndex.load(file);
    const theirs = await HashIndex.load(file);
    theirs.record('walked', entry({ md5: MD5_B }));
    theirs.record('not-walked', entry());
    await theirs.save({ prune: false });
    mine.keepSorted(['walked']);
    mine.record('mine', entry());
    await mine.save({ prune: true });
    expect([...(await saved(file)).keys()]).toEqual(['mine', 'walked']);
    expect(mine.size).toBe(2);
  });

  it('a record saved before gives way to a newer entry another process saved', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const mine = await HashIndex.load(file);
    mine.record('f', entry({ md5: MD5_A }));
    await mine.save({ prune: false });
    const theirs = await HashIndex.load(file);
    theirs.record('f', entry({ md5: MD5_B }));
    await theirs.save({ prune: false });
    mine.record('g', entry());
    await mine.save({ prune: false });
    expect((await saved(file)).get('f')?.md5).toBe(MD5_B);
    expect(mine.lookup('f', identity())?.md5).toBe(MD5_B);
  });
});

describe('parseIndex and the index loader agree on every line', () => {
  it('the fast reader of a loaded index accepts and rejects what parseIndex does', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const good = serializeIndex(
      new Map([
        ['plain', entry()],
        ['with "quotes" and \\ and \n', entry({ etag: `"${MD5_A}"` })],
        ['multipart', entry({ etag: `"${MD5_B}-2"`, ownMtime: true })],
        ['bare', entry({ etag: MD5_A, ino: 2n ** 63n + 5n })],
        ['negative-mtime', entry({ mtimeNs: -5n, hashedAtNs: 200_000_000n })],
        ['ünïcode/😀', entry({ size: 2 ** 52 })],
      ]),
      1n,
    ).split('\n');
    const bad = [
      '["size-not-integer",1.5,"1","1","1","' + MD5_A + '","2",0,""]',
      '["size-hex",0x10,"1","1","1","' + MD5_A + '","2",0,""]',
      '["md5-upper",1,"1","1","1","' + MD5_A.toUpperCase() + '","2",0,""]',
      '["mtime-not-number",1,"x","1","1","' + MD5_A + '","2",0,""]',
      '["too-few",1,"1","1","1","' + MD5_A + '","2",0]',
      '["etag-not-string",1,"1","1","1","' + MD5_A + '","2",0,5]',
      '["spaced",1, "1","1","1","' + MD5_A + '","2",0,""]',
      '["numbers-unquoted",1,1,1,1,"' + MD5_A + '",2,1,""]',
      'not json at all',
    ];
    const text = [...good.slice(0, -1), ...bad, ''].join('\n');
    await writeFile(file, text);
    const expected = parseIndex(text);
    const index = await HashIndex.load(file);
    expect(index.size).toBe(expected.size);
    expect(index.lookup('plain', identity())).toEqual(entry());
    index.record('zz', entry());
    await index.save({ prune: false });
    const back = parseIndex(await readFile(file, 'utf8'));
    back.delete('zz');
    expect(back).toEqual(expected);
  });
});

describe('entries without an MD5 (a download verified by its multipart ETag)', () => {
  const MULTIPART = `"${MD5_B}-3"`;
  const noMd5 = (overrides: Partial<IndexEntry> = {}): IndexEntry =>
    entry({ md5: undefined, etag: MULTIPART, ...overrides });

  async function saved(file: string): Promise<Map<string, IndexEntry>> {
    return parseIndex(await readFile(file, 'utf8'));
  }

  async function indexWith(file: string, entries: Record<string, IndexEntry>): Promise<HashIndex> {
    const index = await HashIndex.load(file);
    for (const [p, e] of Object.entries(entries)) index.record(p, e);
    await index.save({ prune: false });
    return HashIndex.load(file);
  }

  it('serialise with an empty MD5 field and parse back to md5 undefined', () => {
    const entries = new Map([
      ['a', noMd5()],
      ['b', entry()],
    ]);
    const text = serializeIndex(entries, 1n);
    expect(JSON.parse(text.split('\n')[1] ?? '')).toEqual([
      'a',
      42,
      String(MTIME),
      String(MTIME + 5n),
      '123456',
      '',
      String(MTIME + 10_000_000_000n),
      0,
      MULTIPART,
    ]);
    expect(parseIndex(text)).toEqual(entries);
  });

  it('a line with neither an MD5 nor an ETag is dropped: it could decide nothing', () => {
    const text = serializeIndex(
      new Map([
        ['useless', entry({ md5: undefined })],
        ['kept', noMd5()],
      ]),
      1n,
    );
    expect([...parseIndex(text).keys()]).toEqual(['kept']);
  });

  it('round-trip through record, save and load, whatever the ETag looks like', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    const forms: Record<string, IndexEntry> = {
      multipart: noMd5(),
      // ETags that look like an MD5 are kept as strings, never taken for the MD5.
      quotedZeros: noMd5({ etag: `"${'0'.repeat(32)}"` }),
      bare: noMd5({ etag: MD5_A }),
      emptyQuotes: noMd5({ etag: '""' }),
      own: noMd5({ ownMtime: true, ino: 2n ** 63n }),
      withMd5: entry({ etag: `"${MD5_A}"` }),
    };
    for (const [p, e] of Object.entries(forms)) index.record(p, e);
    expect(index.lookup('multipart', identity())).toEqual(forms.multipart);
    await index.save({ prune: false });
    const loaded = await HashIndex.load(file);
    expect(loaded.size).toBe(6);
    for (const [p, e] of Object.entries(forms)) {
      expect(loaded.lookup(p, identity({ ino: e.ino }))).toEqual(e);
    }
    expect(await saved(file)).toEqual(new Map(Object.entries(forms)));
  });

  it('lookup trusts them by identity like any entry, and reports no MD5', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await HashIndex.load(file);
    index.record('f', noMd5());
    expect(index.lookup('f', identity())?.md5).toBeUndefined();
    expect(index.lookup('f', identity())?.etag).toBe(MULTIPART);
    expect(index.lookup('f', identity({ mtimeNs: MTIME + 1n }))).toBeUndefined();
  });

  it('setEtag leaves them alone: the ETag is their identity, and no MD5 can match', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { f: noMd5() });
    index.setEtag('f', MD5_A, '"other"');
    expect(index.lookup('f', identity())).toEqual(noMd5());
    await index.save({ prune: false });
    expect((await saved(file)).get('f')).toEqual(noMd5());
  });

  it('a record with an MD5 (the file hashed later) replaces one, and setEtag then applies', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const index = await indexWith(file, { f: noMd5() });
    index.record('f', entry({ md5: MD5_A }));
    index.setEtag('f', MD5_A, '"new"');
    expect(index.lookup('f', identity())).toEqual(entry({ md5: MD5_A, etag: '"new"' }));
    await index.save({ prune: true });
    expect(await saved(file)).toEqual(new Map([['f', entry({ md5: MD5_A, etag: '"new"' })]]));
  });

  it('merge with saves made since loading, both ways', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const first = await HashIndex.load(file);
    const second = await HashIndex.load(file);
    first.record('a', noMd5());
    first.record('same', entry({ md5: MD5_A }));
    second.record('b', entry({ md5: MD5_B }));
    second.record('same', noMd5({ etag: '"later-1"' }));
    await first.save({ prune: false });
    await second.save({ prune: false });
    const onDisk = await saved(file);
    expect(onDisk).toEqual(
      new Map([
        ['a', noMd5()],
        ['b', entry({ md5: MD5_B })],
        ['same', noMd5({ etag: '"later-1"' })],
      ]),
    );
    // And the other way: an MD5 recorded here wins over an entry without one on disk.
    first.record('a', entry({ md5: MD5_A }));
    await first.save({ prune: false });
    expect((await saved(file)).get('a')).toEqual(entry({ md5: MD5_A }));
    expect((await saved(file)).get('same')).toEqual(noMd5({ etag: '"later-1"' }));
  });

  it('an index file with them loads in an older reader minus those lines (the MD5 was required)', () => {
    const text = serializeIndex(
      new Map([
        ['old', entry()],
        ['new', noMd5()],
      ]),
      1n,
    );
    // The previous reader's rule: 32 hex digits in the MD5 field, else the line is dropped.
    const olderReader = text
      .split('\n')
      .slice(1)
      .filter((l) => l !== '')
      .filter((l) => /^[0-9a-f]{32}$/.test(String((JSON.parse(l) as unknown[])[5])));
    expect(olderReader.map((l) => (JSON.parse(l) as unknown[])[0])).toEqual(['old']);
  });

  it('the fast reader of a loaded index agrees with parseIndex on them', async () => {
    const file = path.join(await freshDir(), 'index.jsonl');
    const good = serializeIndex(
      new Map([
        ['plain', entry()],
        ['no-md5', noMd5()],
        ['no-md5 "escaped"', noMd5({ etag: 'W/"x"' })],
        ['no-md5-empty-quotes', noMd5({ etag: '""' })],
      ]),
      1n,
    ).split('\n');
    const bad = [
      '["neither",1,"1","1","1","","2",0,""]',
      '["md5-short",1,"1","1","1","abc","2",0,"\\"e\\""]',
    ];
    const text = [...good.slice(0, -1), ...bad, ''].join('\n');
    await writeFile(file, text);
    const expected = parseIndex(text);
    expect([...expected.keys()].sort()).toEqual(
      ['no-md5', 'no-md5 "escaped"', 'no-md5-empty-quotes', 'plain'].sort(),
    );
    const index = await HashIndex.load(file);
    expect(index.size).toBe(expected.size);
    index.record('zz', entry());
    await index.save({ prune: false });
    const back = parseIndex(await readFile(file, 'utf8'));
    back.delete('zz');
    expect(back).toEqual(expected);
  });
});
