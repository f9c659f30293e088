/** The streamed plan: key order, and matching a listing page by page against a sorted local side. */
import { describe, expect, it } from 'vitest';

import { fileDirectoryConflicts, type RemoteEntry } from '../../src/plan.js';
import { TreeMatcher, type MatchStep } from '../../src/tree-matcher.js';
import { compareKeys } from '../../src/keys.js';

/** A small seeded PRNG (mulberry32), so every run sees the same cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function shuffle<T>(rand: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const sorted = (paths: Iterable<string>): string[] => [...paths].sort(compareKeys);

function entry(path: string): RemoteEntry {
  return { path, key: `p/${path}`, size: 1, etag: undefined };
}

/** Splits `paths` into pages of random sizes (1..max). */
function pages(rand: () => number, paths: string[], max = 4): RemoteEntry[][] {
  const out: RemoteEntry[][] = [];
  for (let i = 0; i < paths.length;) {
    const n = 1 + Math.floor(rand() * max);
    out.push(paths.slice(i, i + n).map(entry));
    i += n;
  }
  return out;
}

/** Feeds every page, then ends; returns each step. */
function run(matcher: TreeMatcher, listing: RemoteEntry[][]): MatchStep[] {
  return [...listing.map((p) => matcher.page(p)), matcher.end()];
}

function released(steps: MatchStep[]): string[] {
  return steps.flatMap((s) => s.pairs.map((p) => p.remote.path));
}

function refused(steps: MatchStep[]): string[] {
  return steps.flatMap((s) => s.refused.map((r) => r.remote.path));
}

/** Random relative paths over an alphabet that makes prefixes, "/" and high code units common. */
function randomPaths(rand: () => number, n: number): Set<string> {
  const alphabet = ['a', 'b', '/', '.', '!', '0', 'é', '\ue000', '\uffff', '😀'];
  const out = new Set<string>();
  while (out.size < n) {
    let p = '';
    const len = 1 + Math.floor(rand() * 5);
    for (let i = 0; i < len; i++) p += pick(rand, alphabet);
    // Keys as listed after the prefix: no leading "/", no directory markers.
    if (!p.startsWith('/') && !p.endsWith('/')) out.add(p);
  }
  return out;
}

describe('compareKeys', () => {
  it("is the byte order of the keys' UTF-8, as S3 lists them", () => {
    const rand = prng(1);
    const units = ['a', 'z', '/', '\u007f', 'é', '\u0800', '\ud7ff', '\ue000', '\uffff', '😀', '𐀀'];
    for (let n = 0; n < 5000; n++) {
      const make = (): string =>
        Array.from({ length: Math.floor(rand() * 4) }, () => pick(rand, units)).join('');
      const a = make();
      const b = make();
      const bytes = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      expect([a, b, Math.sign(compareKeys(a, b))]).toEqual([a, b, bytes]);
    }
  });

  it('puts astral characters after U+E000–U+FFFF, unlike the UTF-16 order of <', () => {
    const utf16Less = (a: string, b: string): boolean => a < b;
    expect(utf16Less('😀', '\uffff')).toBe(true);
    expect(compareKeys('😀', '\uffff')).toBeGreaterThan(0);
    expect(compareKeys('a/😀', 'a/\ue000x')).toBeGreaterThan(0);
    expect(compareKeys('a', 'a')).toBe(0);
    expect(compareKeys('a', 'a/')).toBeLessThan(0);
    expect(compareKeys('a.txt', 'a/b')).toBeLessThan(0);
    expect(compareKeys('a0', 'a/b')).toBeGreaterThan(0);
  });
});

describe('TreeMatcher in listing order', () => {
  it('pairs each key with its local row and releases passed local rows early (uploads)', () => {
    const m = new TreeMatcher({ local: ['a', 'b', 'd', 'f'], earlyLocalOnly: true });
    const first = m.page([entry('b')]);
    expect(first.pairs.map((p) => [p.remote.path, p.local])).toEqual([['b', 1]]);
    expect(first.localOnly).toEqual([0]);
    const second = m.page([entry('c'), entry('e')]);
    expect(second.pairs.map((p) => [p.remote.path, p.local])).toEqual([
      ['c', -1],
      ['e', -1],
    ]);
    expect(second.localOnly).toEqual([2]);
    expect(m.end()).toEqual({ pairs: [], localOnly: [3], refused: [] });
    expect(m.inOrder).toBe(true);
  });

  it('keeps local-only rows for the end when not releasing them early (downloads)', () => {
    const m = new TreeMatcher({ local: ['a', 'b', 'd'], conflicts: true });
    const steps = run(m, [[entry('b')], [entry('c')]]);
    expect(steps.slice(0, -1).flatMap((s) => s.localOnly)).toEqual([]);
    expect(steps.at(-1)!.localOnly).toEqual([0, 2]);
    expect(released(steps)).toEqual(['b', 'c']);
  });

  it('holds a key that could still be a directory until the listing passes it', () => {
    const m = new TreeMatcher({ local: [], conflicts: true });
    // a.txt and a-1 sort between a and a/…, so a stays open past them.
    expect(released([m.page([entry('a'), entry('a-1'), entry('a.txt')])])).toEqual(['a-1']);
    const step = m.page([entry('a/b'), entry('a0')]);
    expect(step.refused).toEqual([
      { remote: entry('a'), conflict: 'needed-as-directory', other: 'a/b' },
    ]);
    expect(released([step])).toEqual(['a.txt', 'a/b']);
    expect(released([m.end()])).toEqual(['a0']);
  });

  it('refuses every ancestor that is also a key, and a refused key with a local file stays local', () => {
    const m = new TreeMatcher({ local: ['a', 'a/b/c', 'x'], conflicts: true });
    const steps = run(m, [
      [entry('a'), entry('a/b/c')],
      [entry('a/b/c/d'), entry('x')],
    ]);
    expect(refused(steps).sort()).toEqual(['a', 'a/b/c']);
    expect(released(steps)).toEqual(['a/b/c/d', 'x']);
    // Neither refused key's local file is local-only (a mirror must not delete it).
    expect(steps.flatMap((s) => s.localOnly)).toEqual([]);
  });

  it('refuses exactly what fileDirectoryConflicts refuses, for any page split', () => {
    const rand = prng(7);
    for (let round = 0; round < 300; round++) {
      const all = randomPaths(rand, 1 + Math.floor(rand() * 30));
      const remote = sorted(all);
      const local = sorted([...all].filter(() => rand() < 0.5).concat(['zz', 'a!']));
      const m = new TreeMatcher({ local: [...new Set(local)].sort(compareKeys), conflicts: true });
      const steps = run(m, pages(rand, remote));
      expect(m.inOrder).toBe(true);
      const expected = fileDirectoryConflicts(remote);
      expect(new Set(refused(steps))).toEqual(expected);
      expect(released(steps).sort(compareKeys)).toEqual(remote.filter((p) => !expected.has(p)));
    }
  });

  it('releases each key by the page of the first key past it', () => {
    const rand = prng(11);
    for (let round = 0; round < 200; round++) {
      const remote = sorted(randomPaths(rand, 1 + Math.floor(rand() * 30)));
      const m = new TreeMatcher({ local: [], conflicts: true });
      const done = new Set<string>();
      for (const page of pages(rand, remote)) {
        const step = m.page(page);
        for (const p of [...released([step]), ...refused([step])]) done.add(p);
        const last = page.at(-1)!.path;
        for (const q of remote) {
          if (compareKeys(q, last) >= 0) break;
          // Past q: the last key is beyond q and anything under q/.
          const open = last.startsWith(q) && last.charCodeAt(q.length) <= 0x2f;
          const clash = remote.some((k) => compareKeys(k, last) <= 0 && k.startsWith(`${q}/`));
          if (!open || clash) expect([q, done.has(q)]).toEqual([q, true]);
        }
      }
    }
  });
});

describe('TreeMatcher out of order', () => {
  it('still pairs every key with its local row and finds the local-only rows (downloads)', () => {
    const rand = prng(3);
    for (let round = 0; round < 300; round++) {
      const remote = shuffle(rand, [...randomPaths(rand, 1 + Math.floor(rand() * 30))]);
      const local = sorted(randomPaths(rand, Math.floor(rand() * 20)));
      const m = new TreeMatcher({ local, conflicts: true });
      const steps = run(m, pages(rand, remote));
      const out = [...released(steps), ...refused(steps)];
      // Every key exactly once, released or refused.
      expect(out.sort(compareKeys)).toEqual(sorted(remote));
      for (const s of steps) {
        for (const p of s.pairs) expect(p.local).toBe(local.indexOf(p.remote.path));
      }
      // No two released keys clash, and each refusal names a listed key it clashes with.
      expect(fileDirectoryConflicts(released(steps))).toEqual(new Set());
      for (const r of steps.flatMap((s) => s.refused)) {
        expect(remote).toContain(r.other);
        const [file, below] =
          r.conflict === 'needed-as-directory'
            ? [r.remote.path, r.other]
            : [r.other, r.remote.path];
        expect(below.startsWith(`${file}/`)).toBe(true);
      }
      const remoteSet = new Set(remote);
      expect(steps.flatMap((s) => s.localOnly).map((i) => local[i])).toEqual(
        local.filter((p) => !remoteSet.has(p)),
      );
    }
  });

  it('refuses a late key under a file already released, and a late file others need as a directory', () => {
    const m = new TreeMatcher({ local: [], conflicts: true });
    const first = m.page([entry('a'), entry('b/c'), entry('c')]);
    expect(released([first])).toEqual(['a', 'b/c']);
    const late = m.page([entry('a/x'), entry('b'), entry('0')]);
    expect(m.inOrder).toBe(false);
    expect(late.refused).toEqual([
      { remote: entry('a/x'), conflict: 'under-a-file', other: 'a' },
      { remote: entry('b'), conflict: 'needed-as-directory', other: 'b/c' },
    ]);
    expect(released([m.end()]).sort()).toEqual(['0', 'c']);
  });

  it('uploads: a row released as local-only is not paired again when its key turns up late', () => {
    const m = new TreeMatcher({ local: ['a', 'b', 'c'], earlyLocalOnly: true });
    const first = m.page([entry('c')]);
    expect(first.localOnly).toEqual([0, 1]);
    const late = m.page([entry('a'), entry('0')]);
    expect(late.pairs.map((p) => [p.remote.path, p.local])).toEqual([['0', -1]]);
    expect(m.end()).toEqual({ pairs: [], localOnly: [], refused: [] });
  });

  it('uploads: every local row is paired or local-only exactly once, whatever the order', () => {
    const rand = prng(5);
    for (let round = 0; round < 300; round++) {
      const remote = shuffle(rand, [...randomPaths(rand, Math.floor(rand() * 30))]);
      const local = sorted(randomPaths(rand, Math.floor(rand() * 30)));
      const m = new TreeMatcher({ local, earlyLocalOnly: true });
      const steps = run(m, pages(rand, remote));
      const paired = steps.flatMap((s) => s.pairs.filter((p) => p.local >= 0).map((p) => p.local));
      const only = steps.flatMap((s) => s.localOnly);
      expect([...paired, ...only].sort((x, y) => x - y)).toEqual(local.map((_, i) => i));
      // Remote keys not paired are exactly those whose row was released before they came.
      const pairedKeys = new Set(released(steps));
      for (const p of remote) {
        if (!pairedKeys.has(p)) expect(only).toContain(local.indexOf(p));
      }
    }
  });
});
