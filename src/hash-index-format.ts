/**
 * The hash index file's text format, pure: a header line (`s3lync-hash-index 1 <savedAtNs>`),
 * then one JSON array per entry, `[path, size, mtimeNs, ctimeNs, ino, md5, hashedAtNs,
 * ownMtime, etag]`, the bigints as decimal strings and a missing MD5 or ETag as `""`.
 *
 * @packageDocumentation
 */
import type { StampedIdentity } from './identity.js';

const MAGIC = 's3lync-hash-index 1';

/** One remembered file. */
export interface IndexEntry extends StampedIdentity {
  /**
   * Hex MD5 of the content, or `undefined` when it was never computed: then `etag` is the
   * content's identity (a download verified against it) and the entry is a miss for
   * anything that needs the MD5.
   */
  md5: string | undefined;
  /** The remote ETag this content was last verified equal to. */
  etag?: string | undefined;
}

/** The header line of an index saved at `savedAtNs`. */
export function indexHeader(savedAtNs: bigint): string {
  return `${MAGIC} ${savedAtNs}`;
}

/** Whether `line` is an index header (of this format version). */
export function isIndexHeader(line: string): boolean {
  const parts = line.split(' ');
  return `${parts[0]} ${parts[1]}` === MAGIC && parts.length === 3;
}

/** The line of one entry. */
export function formatIndexLine(rel: string, e: IndexEntry): string {
  return JSON.stringify([
    rel,
    e.size,
    String(e.mtimeNs),
    String(e.ctimeNs),
    String(e.ino),
    e.md5 ?? '',
    String(e.hashedAtNs),
    e.ownMtime ? 1 : 0,
    e.etag ?? '',
  ]);
}

/** Serialises entries: a header line, then one JSON array per entry. */
export function serializeIndex(
  entries: ReadonlyMap<string, IndexEntry>,
  savedAtNs: bigint,
): string {
  const lines = [indexHeader(savedAtNs)];
  for (const [p, e] of entries) lines.push(formatIndexLine(p, e));
  return `${lines.join('\n')}\n`;
}

/** Parses an index; lines that do not parse (a torn write, corruption) are dropped. */
export function parseIndex(text: string): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  const lines = text.split('\n');
  if (!isIndexHeader(lines[0] ?? '')) return entries;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const parsed = parseLine(line);
    if (parsed !== undefined) entries.set(parsed[0], parsed[1]);
  }
  return entries;
}

/**
 * The path and entry of an entry line, or `undefined` when it does not parse. Lines as
 * {@link formatIndexLine} writes them take a path without `JSON.parse` (a third of the
 * cost at a million lines); any other line takes the general parser.
 */
export function parseIndexLine(line: string): [string, IndexEntry] | undefined {
  return parseLineFast(line) ?? parseLine(line);
}

function parseLine(line: string): [string, IndexEntry] | undefined {
  try {
    const a = JSON.parse(line) as unknown;
    if (!Array.isArray(a) || a.length !== 9) return undefined;
    const [p, size, mtime, ctime, ino, md5, hashedAt, own, etag] = a as unknown[];
    if (
      typeof p !== 'string' ||
      typeof size !== 'number' ||
      !Number.isSafeInteger(size) ||
      typeof md5 !== 'string' ||
      !validMd5(md5) ||
      typeof etag !== 'string' ||
      (md5 === '' && etag === '')
    ) {
      return undefined;
    }
    return withPath(p, entryOf(size, mtime, ctime, ino, md5, hashedAt, own === 1, etag));
  } catch {
    return undefined;
  }
}

/**
 * Whether an index line's MD5 field is valid: 32 hex digits, or empty for an entry known by
 * its verified ETag alone (older readers drop such lines, which costs a re-hash).
 */
function validMd5(md5: string): boolean {
  return md5 === '' || /^[0-9a-f]{32}$/.test(md5);
}

/** The text of a JSON string token without escapes, or `undefined`. */
function plainString(token: string | undefined): string | undefined {
  if (token === undefined || token.length < 2 || !token.startsWith('"') || !token.endsWith('"'))
    return undefined;
  const inner = token.slice(1, -1);
  return inner.includes('"') || inner.includes('\\') ? undefined : inner;
}

/** {@link parseLine} without `JSON.parse`; `undefined` when the line needs the general parser. */
function parseLineFast(line: string): [string, IndexEntry] | undefined {
  if (!line.startsWith('["') || !line.endsWith(']')) return undefined;
  const end = line.indexOf('"', 2);
  if (end < 0 || line.charCodeAt(end + 1) !== 0x2c) return undefined;
  // Parsed as a JSON string: a fresh string, where a slice would keep the whole line alive.
  const escape = line.indexOf('\\');
  if (escape >= 0 && escape < end) return undefined;
  const p = JSON.parse(line.slice(1, end + 1)) as string;
  const fields: string[] = [];
  let i = end + 2;
  for (let k = 0; k < 7; k++) {
    const j = line.indexOf(',', i);
    if (j < 0) return undefined;
    fields.push(line.slice(i, j));
    i = j + 1;
  }
  const [sizeText, mtime, ctime, ino, md5, hashedAt, own] = fields.map((f, k) =>
    k === 0 || k === 6 ? f : plainString(f),
  );
  const size = Number(sizeText);
  if (String(size) !== sizeText || !Number.isSafeInteger(size)) return undefined;
  if (md5 === undefined || !validMd5(md5)) return undefined;
  if (mtime === undefined || ctime === undefined || ino === undefined || hashedAt === undefined)
    return undefined;
  const etagToken = line.slice(i, -1);
  const quotedMd5 = `"\\"${md5}\\""`;
  const etag =
    md5 !== '' && etagToken === quotedMd5
      ? `"${md5}"`
      : plainString(etagToken) === undefined
        ? undefined
        : (JSON.parse(etagToken) as string);
  if (etag === undefined || (md5 === '' && etag === '')) return undefined;
  return withPath(p, entryOf(size, mtime, ctime, ino, md5, hashedAt, own === '1', etag));
}

/** The entry of a line's checked fields; `undefined` when a bigint field is not one. */
function entryOf(
  size: number,
  mtime: unknown,
  ctime: unknown,
  ino: unknown,
  md5: string,
  hashedAt: unknown,
  ownMtime: boolean,
  etag: string,
): IndexEntry | undefined {
  try {
    return {
      size,
      mtimeNs: BigInt(mtime as string),
      ctimeNs: BigInt(ctime as string),
      ino: BigInt(ino as string),
      md5: md5 === '' ? undefined : md5,
      hashedAtNs: BigInt(hashedAt as string),
      ownMtime,
      ...(etag !== '' && { etag }),
    };
  } catch {
    return undefined;
  }
}

function withPath(p: string, entry: IndexEntry | undefined): [string, IndexEntry] | undefined {
  return entry === undefined ? undefined : [p, entry];
}
