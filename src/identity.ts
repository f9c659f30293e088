/**
 * A file's identity as `stat` sees it (size, mtime, ctime, inode), held one by one or in
 * columns, and the rule that trusts a digest remembered for it (with its racy margins).
 * The walk, the hash index and the transfers share it; it imports only `resized`.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from 'node:fs';

import { resized } from './utils.js';

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

/** The identity a digest was taken of, and when: what {@link isTrusted} decides on. */
export interface StampedIdentity extends FileIdentity {
  /** Wall-clock time (ns) of the stat the digest belongs to. */
  hashedAtNs: bigint;
  /** Whether s3lync set the mtime itself (downloads), so its value says nothing of the fs tick. */
  ownMtime: boolean;
}

/**
 * Whether an entry may stand in for hashing a file with identity `current`: the identity
 * must be unchanged and the entry must not be racy.
 */
export function isTrusted(entry: StampedIdentity, current: FileIdentity): boolean {
  if (
    entry.size !== current.size ||
    entry.mtimeNs !== current.mtimeNs ||
    entry.ctimeNs !== current.ctimeNs ||
    entry.ino !== current.ino
  ) {
    return false;
  }
  // ctime is stamped by the kernel (utimes cannot set it): whole-second ctimes mean a
  // coarse filesystem, where a later change could keep the same timestamp for longer.
  const coarse = !entry.ownMtime && entry.ctimeNs % 1_000_000_000n === 0n;
  const margin = coarse ? RACY_MARGIN_COARSE_NS : RACY_MARGIN_NS;
  return entry.mtimeNs + margin <= entry.hashedAtNs;
}

/**
 * File identities by row, one typed array per field, growing as rows are set: a row costs
 * 32 bytes, not an object with three bigints.
 */
export class IdentityColumns {
  private sizes = new Float64Array(16);
  private mtimes = new BigInt64Array(16);
  private ctimes = new BigInt64Array(16);
  private inos = new BigUint64Array(16);

  /** Sets row `i`, making room for it (doubling) when it is past the end. */
  set(i: number, id: FileIdentity): void {
    if (i >= this.sizes.length) this.grow(Math.max(i + 1, this.sizes.length * 2));
    this.sizes[i] = id.size;
    this.mtimes[i] = id.mtimeNs;
    this.ctimes[i] = id.ctimeNs;
    this.inos[i] = id.ino;
  }

  /** The size of row `i`. */
  size(i: number): number {
    return this.sizes[i] ?? 0;
  }

  /** The identity of row `i`, as a new object. */
  identity(i: number): FileIdentity {
    return this.read(i, { size: 0, mtimeNs: 0n, ctimeNs: 0n, ino: 0n });
  }

  /** Writes the identity of row `i` into `into` (so a reader can reuse one object). */
  read<T extends FileIdentity>(i: number, into: T): T {
    into.size = this.sizes[i] ?? 0;
    into.mtimeNs = this.mtimes[i] ?? 0n;
    into.ctimeNs = this.ctimes[i] ?? 0n;
    into.ino = this.inos[i] ?? 0n;
    return into;
  }

  private grow(n: number): void {
    this.sizes = resized(this.sizes, n);
    this.mtimes = resized(this.mtimes, n);
    this.ctimes = resized(this.ctimes, n);
    this.inos = resized(this.inos, n);
  }
}
