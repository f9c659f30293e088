/**
 * S3's key order, and lookups in lists kept in it. A leaf: the walk, the listing matcher,
 * the hash index and the client's listing checks all sort and search by these.
 *
 * @packageDocumentation
 */

/** A UTF-16 code unit from U+D800 up: where code unit order and code point order part. */
const HIGH_UNIT = /[\ud800-\uffff]/;

/**
 * Compares keys (or paths below one prefix) in S3's listing order: the binary order of
 * their UTF-8 bytes, which is code point order. JavaScript's `<` compares UTF-16 code
 * units, which disagrees only when both strings hold a unit from U+D800 up (a surrogate
 * against U+E000–U+FFFF), so only that case takes the slow path.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  if (HIGH_UNIT.test(a) && HIGH_UNIT.test(b)) return compareCodePoints(a, b);
  return a < b ? -1 : 1;
}

/** Sorts strings in place in {@link compareKeys} order. */
export function sortKeys(keys: string[]): string[] {
  // The default sort compares UTF-16 code units, which is key order without high units.
  return keys.some((k) => HIGH_UNIT.test(k)) ? keys.sort(compareKeys) : keys.sort();
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral characters) move above U+E000–U+FFFF, as in code point order.
    if (x >= 0xd800 && y >= 0xd800) {
      x += x < 0xe000 ? 0x2000 : -0x800;
      y += y < 0xe000 ? 0x2000 : -0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The index of `key` in `sorted` (in {@link compareKeys} order), or -1. `hint` is tried
 * first, then the one after it: lookups that follow the order cost one comparison.
 */
export function indexOfKey(sorted: readonly string[], key: string, hint = -1): number {
  if (hint >= 0) {
    if (sorted[hint] === key) return hint;
    if (sorted[hint + 1] === key) return hint + 1;
  }
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(sorted[mid] ?? '', key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
