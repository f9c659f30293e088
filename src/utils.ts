/**
 * Pure helpers: URI parsing and redaction, the default cache path, safe key-to-path
 * mapping. Nothing here touches the network or the disk.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

import { InvalidUriError, UnsafePathError } from './exceptions.js';

/** Credentials carried in a URI. */
export interface UriCredentials {
  /** The access key id (the part after `:`). */
  accessKeyId: string;
  /** The secret access key (the part before `:`). Never printed. */
  secretAccessKey: string;
}

/** The parts of an `s3://` URI. */
export interface ParsedS3Uri {
  /** The bucket name. */
  bucket: string;
  /** The object key, or the prefix of a tree (a trailing `/` is kept). */
  key: string;
  /** The endpoint with its scheme (`https://` when the URI gave none); absent for AWS. */
  endpoint?: string;
  /** Credentials given in the URI, if any. */
  credentials?: UriCredentials;
  /** The version a trailing `?versionId=` pins (never part of `key`), if any. */
  versionId?: string;
}

/** The URI forms s3lync accepts, as shown in {@link InvalidUriError} messages. */
export const ACCEPTED_URI_FORMS: readonly string[] = [
  's3://bucket/key',
  's3://endpoint@bucket/key',
  's3://SECRET_KEY:ACCESS_KEY@endpoint/bucket/key',
  's3://SECRET_KEY:ACCESS_KEY@https://endpoint/bucket/key',
  's3://https://endpoint/bucket/key',
  's3://bucket/key?versionId=VERSION',
];

/** A trailing `?versionId=`: the only query a URI takes (any other `?` is part of the key). */
const VERSION_QUERY = /\?versionId=([^/?#&=\s]+)$/;

const SCHEME = /^https?:\/\//i;
/** S3's limit on a key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const HOST_WITH_PORT = /^[^:@/\s]+:\d{1,5}$/;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,253}[a-z0-9]$/i;
// Today's bucket naming rules; a secret key's first "/" segment almost never fits them.
const STRICT_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function uriError(raw: string, problem: string): InvalidUriError {
  return new InvalidUriError(
    `Invalid S3 URI ${JSON.stringify(redactRawUri(raw))}: ${problem}. Accepted forms:\n` +
      ACCEPTED_URI_FORMS.map((f) => `  ${f}`).join('\n'),
  );
}

/**
 * Parses an `s3://` URI in any of the {@link ACCEPTED_URI_FORMS}.
 *
 * Credentials come secret first (`SECRET:ACCESS@`), as in the Python package. An endpoint
 * without a scheme gets `https://`; `host:port@bucket/key` is an endpoint with a port,
 * not credentials. The key is taken literally: `%`, `#`, `?` and `+` are not decoded,
 * except for a trailing `?versionId=VERSION`, which pins the version and is not part of
 * the key.
 *
 * @throws {InvalidUriError} when the URI has another scheme or lacks a bucket or key.
 */
export function parseS3Uri(uri: string): ParsedS3Uri {
  if (typeof uri !== 'string') {
    throw new InvalidUriError(
      `Invalid S3 URI: expected a string, got ${typeof uri}. Accepted forms:\n` +
        ACCEPTED_URI_FORMS.map((f) => `  ${f}`).join('\n'),
    );
  }
  if (!uri.startsWith('s3://')) throw uriError(uri, 'it must start with "s3://"');
  if (uri.includes('\0')) throw uriError(uri, 'it contains a NUL character');
  let rest = uri.slice('s3://'.length);
  let endpoint: string | undefined;
  let credentials: UriCredentials | undefined;

  const at = rest.indexOf('@');
  const beforeAt = at >= 0 ? rest.slice(0, at) : '';
  const colon = beforeAt.indexOf(':');
  if (!SCHEME.test(rest) && at >= 0 && colon > 0 && !HOST_WITH_PORT.test(beforeAt)) {
    // Secret keys may contain "/", so only a head that is a plain bucket name means form 1.
    const firstSegment = beforeAt.split('/', 1)[0] ?? '';
    const looksLikeBucketPath = beforeAt.includes('/') && STRICT_BUCKET.test(firstSegment);
    const access = beforeAt.slice(colon + 1);
    if (!looksLikeBucketPath && !access.includes(':') && !access.includes('/')) {
      const secret = beforeAt.slice(0, colon);
      if (access === '') throw uriError(uri, 'the access key after ":" is empty');
      credentials = { secretAccessKey: secret, accessKeyId: access };
      rest = rest.slice(at + 1);
      if (!SCHEME.test(rest)) rest = `https://${rest}`;
    }
  }

  if (SCHEME.test(rest)) {
    const schemeEnd = rest.indexOf('://') + 3;
    const slash = rest.indexOf('/', schemeEnd);
    const host = slash >= 0 ? rest.slice(schemeEnd, slash) : rest.slice(schemeEnd);
    if (host === '' || /\s/.test(host)) throw uriError(uri, 'the endpoint is empty or has spaces');
    endpoint = `${rest.slice(0, schemeEnd).toLowerCase()}${host}`;
    rest = slash >= 0 ? rest.slice(slash + 1) : '';
  } else if (credentials === undefined && at >= 0 && !beforeAt.includes('/')) {
    if (beforeAt === '') throw uriError(uri, 'the endpoint before "@" is empty');
    if (beforeAt.includes(':') && !HOST_WITH_PORT.test(beforeAt)) {
      throw uriError(uri, 'credentials must be exactly SECRET_KEY:ACCESS_KEY before "@"');
    }
    endpoint = `https://${beforeAt}`;
    rest = rest.slice(at + 1);
  }

  const slash = rest.indexOf('/');
  const bucket = slash >= 0 ? rest.slice(0, slash) : rest;
  let key = slash >= 0 ? rest.slice(slash + 1) : '';
  const version = VERSION_QUERY.exec(key);
  const versionId = version === null ? undefined : decodeVersion(uri, version[1] ?? '');
  if (version !== null) key = key.slice(0, version.index);
  if (bucket === '') throw uriError(uri, 'the bucket is missing');
  if (!BUCKET.test(bucket)) {
    throw uriError(uri, `the bucket name ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  }
  if (key === '') throw uriError(uri, 'the key is missing');
  if (versionId !== undefined && key.endsWith('/')) {
    throw uriError(uri, 'a versionId pins one object; a key ending with "/" is a prefix');
  }
  // S3 keys are UTF-8: a lone surrogate would be sent as U+FFFD, another key than meant.
  if (LONE_SURROGATE.test(key))
    throw uriError(uri, 'the key has a lone UTF-16 surrogate (not valid UTF-8)');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw uriError(uri, `the key is ${bytes} bytes of UTF-8; S3 keys are at most ${MAX_KEY_BYTES}`);
  }
  return {
    bucket,
    key,
    ...(endpoint !== undefined && { endpoint }),
    ...(credentials !== undefined && { credentials }),
    ...(versionId !== undefined && { versionId }),
  };
}

/**
 * {@link parseS3Uri}, also accepting a bucket alone (`s3://bucket`, `s3://bucket/`), which
 * gives an empty key: for what works on a whole bucket (`ls`, `cache clear`).
 *
 * @throws {InvalidUriError} with the error of the URI as given.
 */
export function parseS3UriOrBucket(uri: string): ParsedS3Uri {
  try {
    return parseS3Uri(uri);
  } catch (error) {
    if (!(error instanceof InvalidUriError) || typeof uri !== 'string') throw error;
    try {
      const probe = parseS3Uri(`${uri.replace(/\/$/, '')}/_`);
      if (probe.key === '_' && probe.versionId === undefined) return { ...probe, key: '' };
    } catch {
      // the original error says more
    }
    throw error;
  }
}

/** A `versionId` query value, percent-decoded. */
function decodeVersion(uri: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw uriError(uri, `the versionId ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
}

/**
 * Formats a parsed URI for display: the secret key becomes `***`, the access key stays
 * so the identity can be told apart.
 */
export function formatS3Uri(parsed: ParsedS3Uri): string {
  const creds = parsed.credentials ? `***:${parsed.credentials.accessKeyId}@` : '';
  const version =
    parsed.versionId === undefined ? '' : `?versionId=${encodeURIComponent(parsed.versionId)}`;
  if (parsed.endpoint === undefined) return `s3://${creds}${parsed.bucket}/${parsed.key}${version}`;
  return `s3://${creds}${parsed.endpoint}/${parsed.bucket}/${parsed.key}${version}`;
}

/**
 * Best-effort redaction of a URI that may not parse: whatever stands between `s3://`
 * (or another scheme: a mistyped URI still carries the secret) and the first `:` of a
 * `SECRET:ACCESS@` head becomes `***`.
 */
export function redactRawUri(raw: string): string {
  return raw.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/)[^@]*?:(?=[^:@]*@)/i, '$1***:');
}

/** Where the caches live, passed in so the choice can be tested for any environment. */
export interface CacheLocation {
  /** `XDG_CACHE_HOME`, if set. */
  xdgCacheHome?: string | undefined;
  /** `HOME`, if set. */
  home?: string | undefined;
  /** The OS temp directory. */
  tmpdir: string;
}

/**
 * The root of s3lync's cache: `$XDG_CACHE_HOME/s3lync`, else `$HOME/.cache/s3lync`,
 * else `<tmpdir>/s3lync`.
 */
export function cacheRoot(location: CacheLocation): string {
  if (location.xdgCacheHome) return path.join(location.xdgCacheHome, 's3lync');
  if (location.home) return path.join(location.home, '.cache', 's3lync');
  return path.join(location.tmpdir, 's3lync');
}

/**
 * The default local path of an object: `<cache root>/<bucket>/<key>`; of a pinned
 * version, `<cache root>/.versions/<bucket>/<versionId>/<key>`.
 *
 * @throws {UnsafePathError} when the key would leave the cache directory.
 */
export function defaultLocalPath(
  bucket: string,
  key: string,
  location: CacheLocation,
  versionId?: string,
): string {
  if (versionId === undefined) return resolveKeyPath(path.join(cacheRoot(location), bucket), key);
  // A pinned version has its own copy, so it never replaces (or is replaced by) the latest.
  const name = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(versionId)
    ? versionId
    : createHash('sha256').update(versionId).digest('hex').slice(0, 32);
  return resolveKeyPath(path.join(cacheRoot(location), '.versions', bucket, name), key);
}

/**
 * Maps a key (or a key relative to a prefix) onto a path inside `root`, refusing keys
 * that would leave it: `..` segments, absolute keys, NUL characters, empty segments.
 * A trailing `/` is dropped (it marks a prefix).
 *
 * @throws {UnsafePathError} when the key is not safe.
 */
export function resolveKeyPath(root: string, key: string): string {
  const trimmed = key.endsWith('/') ? key.slice(0, -1) : key;
  const segments = trimmed.split('/');
  const reason = unsafeKeyReason(trimmed, segments);
  if (reason !== undefined) {
    throw new UnsafePathError(
      `Refusing key ${JSON.stringify(key)}: ${reason}, so its local path would not stay inside ${root}`,
      root,
    );
  }
  return path.join(root, ...segments);
}

/**
 * Why a key (relative to a root) cannot map to a local path inside it, or `undefined` when
 * it can.
 */
export function unsafeKeyReason(
  key: string,
  segments: string[] = key.split('/'),
): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('\0')) return 'it contains a NUL character';
  if (key.startsWith('/')) return 'it is absolute';
  if (segments.some((s) => s === '..')) return 'it has a ".." segment';
  if (segments.some((s) => s === '' || s === '.')) return 'it has an empty or "." segment';
  if (path.sep === '\\' && segments.some((s) => s.includes('\\') || /^[a-z]:/i.test(s))) {
    return 'it has a Windows path separator or drive';
  }
  return undefined;
}

/** Expands a leading `~` to `home` and normalises the path. */
export function expandHome(p: string, home: string | undefined): string {
  if (home && (p === '~' || p.startsWith('~/') || p.startsWith(`~${path.sep}`))) {
    return path.resolve(home, p.slice(2));
  }
  return path.resolve(p);
}

/**
 * The name of a temp file a download or a write goes to before it is renamed into place:
 * hidden, of a short fixed length (so a legal name next to it never pushes it past
 * NAME_MAX), and naming the host and process that write it, so one left by a crash can be
 * told from one being written.
 *
 * @param pid - the writing process. @default process.pid
 * @param host - a 4-hex tag of the writing host. @default {@link HOST_TAG}
 */
export function tempName(random: string, pid = process.pid, host = HOST_TAG): string {
  return `.s3lync-${host}-${pid}-${random}.tmp`;
}

/** A 4-hex tag of this host's name, carried in temp names (a shared disk has several hosts). */
export const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 4);

const TEMP_NAME = /^\.s3lync-([0-9a-f]{4})-(\d+)-[0-9a-f]+\.tmp$/;
/** The names of s3lync 0.1 (`.<name>.<pid>-<random>.s3lync-tmp`), still recognised. */
const LEGACY_TEMP_NAME = /^\..*\.s3lync-tmp$/;

/**
 * Whether a file name (one path segment, or the last segment of a key) is one of s3lync's
 * temp files. Such names are never synced, deleted by a mirror, or downloaded, on either side.
 */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name) || LEGACY_TEMP_NAME.test(name);
}

/**
 * Who wrote a temp file, from its name: the pid, and the host tag (`undefined` for a
 * legacy name, which has none); `undefined` when the name names no process.
 */
export function tempFileOwner(name: string): { pid: number; host: string | undefined } | undefined {
  const m = TEMP_NAME.exec(name);
  if (m?.[1] !== undefined && m[2] !== undefined) return { pid: Number(m[2]), host: m[1] };
  const legacy = /\.(\d+)-[0-9a-f]+\.s3lync-tmp$/.exec(name);
  return legacy?.[1] === undefined ? undefined : { pid: Number(legacy[1]), host: undefined };
}

/** The typed arrays the compact tables (the local walk, the hash index) keep their columns in. */
export type Column = Float64Array | BigInt64Array | BigUint64Array | Uint8Array;

/** A copy of `column` with room for `length` elements (the extra ones zero). */
export function resized<T extends Column>(column: T, length: number): T {
  const out = new (column.constructor as new (length: number) => T)(length);
  (out as { set(a: T): void }).set(column);
  return out;
}

/** Formats a byte count for humans: `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit] ?? 'B'}`;
}
