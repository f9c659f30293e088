/**
 * The ranges of a file written so far, for a hasher that follows parallel writers in order.
 * Pure bookkeeping, no I/O.
 *
 * @packageDocumentation
 */

/**
 * The ranges of a file written so far, merged, for a reader that follows the writers in
 * order: how far the file is written contiguously from a position.
 */
export class WrittenRanges {
  /** `[start, end)` pairs, sorted and merged, none ending at or before the last `from`. */
  private readonly ranges: [number, number][] = [];

  /** Records `[start, end)` as written; bytes before `from` (already consumed) are dropped. */
  add(start: number, end: number, from = 0): void {
    if (end <= from) return;
    const r = this.ranges;
    r.push([Math.max(start, from), end]);
    r.sort((a, b) => a[0] - b[0]);
    for (let i = r.length - 1; i > 0; i--) {
      const prev = r[i - 1];
      const cur = r[i];
      if (prev !== undefined && cur !== undefined && cur[0] <= prev[1]) {
        prev[1] = Math.max(prev[1], cur[1]);
        r.splice(i, 1);
      }
    }
  }

  /** How far the file is written contiguously from `from` (`from` itself when nothing is). */
  endFrom(from: number): number {
    while (this.ranges[0] !== undefined && this.ranges[0][1] <= from) this.ranges.shift();
    const first = this.ranges[0];
    return first !== undefined && first[0] <= from ? first[1] : from;
  }
}
