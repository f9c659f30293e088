/**
 * A file's identity as `stat` sees it (size, mtime, ctime, inode), and the racy margin of
 * the rule that trusts a remembered digest. A leaf: the walk, the hash index and the
 * transfers share it.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';

/** Below this, a fine-grained mtime this close to the hash time is not trusted. */
export const RACY_MARGIN_NS = 100_000_000n;
/** On coarse filesystems (whole-second ctimes) the margin is two seconds (FAT's tick). */
export const RACY_MARGIN_COARSE_NS = 2_000_000_000n;

/** The identity of a file's content as `stat` sees it. */
export interface FileIdentity {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

/** The identity of a file from a bigint `stat`. */
export function identityOf(s: BigIntStats): FileIdentity {
  return { size: Number(s.size), mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino };
}

/** The current wall-clock time in ns. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
