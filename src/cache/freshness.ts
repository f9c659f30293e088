/**
 * How a download may use the local copy instead of the server: pinned versions, freshness
 * (`maxAge`), offline use and stale-if-error. Leaf: the settings and the refusals of writes.
 *
 * @packageDocumentation
 */
import { ConfigError, OfflineError, PinnedVersionError } from '../exceptions.js';
import type { ParsedS3Uri } from '../utils.js';

/** The cache options of an object, checked and complete. */
export interface CacheSettings {
  /** A single object checked within this many ms is served with no request. */
  readonly maxAge: number;
  /** Serve the local copy with no request; refuse writes. */
  readonly offline: boolean;
  /** Serve the local copy when the server cannot be reached. */
  readonly staleIfError: boolean;
  /** Where each single object's last check is recorded; `undefined` without a hash index. */
  readonly checksDir: string | undefined;
}

/** What a sync needs to know of the cache: the settings and the pinned version. */
export interface CachePolicy extends CacheSettings {
  /** The pinned version, if any. */
  readonly versionId: string | undefined;
}

/**
 * `parsed` with the version `versionId` pins (the option), checked against the URI's.
 *
 * @throws {ConfigError} for an empty or non-string version, or one that differs from the URI's.
 */
export function pinVersion(parsed: ParsedS3Uri, versionId: unknown): ParsedS3Uri {
  if (versionId === undefined) return parsed;
  if (typeof versionId !== 'string' || versionId === '') {
    throw new ConfigError(
      `Expected \`versionId\` to be a non-empty string, got ${JSON.stringify(versionId)} (${typeof versionId})`,
    );
  }
  if (parsed.versionId !== undefined && parsed.versionId !== versionId) {
    throw new ConfigError(
      `The \`versionId\` option (${versionId}) differs from the URI's ?versionId=${parsed.versionId}`,
    );
  }
  if (parsed.key.endsWith('/')) {
    throw new ConfigError(`\`versionId\` pins one object; ${parsed.key} is a prefix`);
  }
  return { ...parsed, versionId };
}

/**
 * Refuses a write (`what`: `upload()`, `open('w')`, `delete()`) offline or to a pinned
 * version, before any request.
 *
 * @throws {OfflineError} offline.
 * @throws {PinnedVersionError} for a pinned version.
 */
export function refuseWrites(
  policy: Pick<CachePolicy, 'offline' | 'versionId'> | undefined,
  what: string,
  uri: string,
): void {
  if (policy?.versionId !== undefined) {
    throw new PinnedVersionError(
      `Refusing ${what} of ${uri}: it is pinned to version ${policy.versionId}, and a version cannot change`,
    );
  }
  if (policy?.offline === true) {
    throw new OfflineError(
      `Refusing ${what} of ${uri}: offline (the offline option or S3LYNC_OFFLINE), nothing is sent`,
    );
  }
}
