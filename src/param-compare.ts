/**
 * "Also compare these": whether the parameters an upload would send differ from what the
 * object stored, for the parameters a user asked to keep in step (`compareParams`). By
 * default parameters are never compared: the same bytes with a new `Cache-Control` are
 * not uploaded again. Pure: the stored parameters come from a HEAD, done elsewhere.
 *
 * @packageDocumentation
 */
import { ConfigError } from './exceptions.js';
import type { SentParams } from './upload-params.js';

/** The parameters `compareParams` may name: those a HEAD reports as they were sent. */
export const COMPARABLE_PARAMS = [
  'ContentType',
  'CacheControl',
  'ContentEncoding',
  'ContentDisposition',
  'ContentLanguage',
  'Metadata',
  'StorageClass',
  'ServerSideEncryption',
] as const;

/** A parameter `compareParams` may name. */
export type ComparableParam = (typeof COMPARABLE_PARAMS)[number];

/** What an object stored of the comparable parameters, as a HEAD reports them. */
export type StoredParams = { [K in Exclude<ComparableParam, 'Metadata'>]?: string | undefined } & {
  /** User metadata, s3lync's own (`s3lync-*`) left out; names lower-case. */
  Metadata: Record<string, string>;
};

/** A parameter that differs: what the upload would send, and what the object has. */
export interface ParamDifference {
  field: ComparableParam;
  wanted: string | undefined;
  stored: string | undefined;
}

const OWN_PREFIX = 's3lync-';

/** Fields the server (or the bucket) chooses when an upload sends none: then not compared. */
const SERVER_CHOOSES: ReadonlySet<ComparableParam> = new Set([
  'ContentType',
  'StorageClass',
  'ServerSideEncryption',
]);

/** The comparable parameters of a HEAD's output. */
export function storedParams(
  out: { [K in Exclude<ComparableParam, 'Metadata'>]?: string | undefined } & {
    Metadata?: Record<string, string> | undefined;
  },
): StoredParams {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(out.Metadata ?? {})) {
    const lower = name.toLowerCase();
    if (!lower.startsWith(OWN_PREFIX)) metadata[lower] = value;
  }
  return {
    ContentType: out.ContentType,
    CacheControl: out.CacheControl,
    ContentEncoding: out.ContentEncoding,
    ContentDisposition: out.ContentDisposition,
    ContentLanguage: out.ContentLanguage,
    StorageClass: out.StorageClass,
    ServerSideEncryption: out.ServerSideEncryption,
    Metadata: metadata,
  };
}

/** Metadata as S3 stores it: lower-case names, in a stable order, as one string. */
function metadataText(metadata: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v] as const);
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(pairs);
}

/**
 * The first of `fields` whose value the upload would send differs from the stored one;
 * `undefined` when they all agree. The rule, per field:
 * - a header field (`CacheControl`, `ContentEncoding`, …) differs when the values differ,
 *   one absent included: an upload without `Cache-Control` would remove a stored one;
 * - `ContentType` the same, unless the upload sends none (`guessContentType: false` and no
 *   `ContentType`): the server chooses it;
 * - `Metadata` differs when the user's metadata differs (names compared lower-case, as S3
 *   stores them; s3lync's own fingerprint and part size left out);
 * - `StorageClass` and `ServerSideEncryption` only when the upload sets them (else the
 *   bucket's default applies); a HEAD that names no class means `STANDARD`.
 */
export function paramDifference(
  wanted: SentParams,
  stored: StoredParams,
  fields: readonly ComparableParam[],
): ParamDifference | undefined {
  for (const field of fields) {
    let w: string | undefined;
    let s: string | undefined;
    if (field === 'Metadata') {
      w = metadataText(wanted.Metadata ?? {});
      s = metadataText(stored.Metadata);
    } else {
      w = wanted[field];
      s = stored[field];
      if (w === undefined && SERVER_CHOOSES.has(field)) continue;
      if (field === 'StorageClass') s ??= 'STANDARD';
    }
    if (w !== s) return { field, wanted: w, stored: s };
  }
  return undefined;
}

/**
 * Checks a `compareParams` option.
 *
 * @throws {ConfigError} naming the option and what it may hold.
 */
export function checkCompareParams(value: unknown, name: string): readonly ComparableParam[] {
  const ok = (v: unknown): v is ComparableParam =>
    typeof v === 'string' && (COMPARABLE_PARAMS as readonly string[]).includes(v);
  if (!Array.isArray(value) || !value.every(ok)) {
    throw new ConfigError(
      `Expected \`${name}\` to be an array of ${COMPARABLE_PARAMS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return Object.freeze([...new Set(value)]);
}
