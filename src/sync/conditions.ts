/**
 * Lost-update protection of a single-file upload: the preconditions it is sent with,
 * the quirk of servers that compare If-Match unquoted, and the ConflictError.
 *
 * @packageDocumentation
 */
import { ConfigError, ConflictError, PreconditionFailedError } from '../exceptions.js';
import { getLogger } from '../logging.js';
import type { Layout } from './layout.js';
import type { SyncTarget } from './options.js';
import { normalizeEtag } from '../etag.js';

const log = getLogger('sync');

/** Preconditions of a single-file upload (lost-update protection, `open('x')`). */
export interface UploadConditions {
  ifMatch?: string | undefined;
  ifNoneMatch?: boolean | undefined;
}

/**
 * The preconditions of a single-file upload with lost-update protection; throws
 * {@link ConflictError} at once when the HEAD already shows another version.
 */
export function uploadConditions(
  target: SyncTarget,
  layout: Layout,
  expected: string | null | undefined,
): UploadConditions {
  if (expected === undefined) return {};
  if (layout.tree) {
    throw new ConfigError(`\`ifMatch\` protects the upload of one file; ${target.uri} is a tree`);
  }
  const current = layout.head;
  const want = expected === null ? undefined : normalizeEtag(expected);
  const have = current === undefined ? undefined : (normalizeEtag(current.etag) ?? '');
  if (want !== have) {
    throw new ConflictError(
      `Refusing to upload ${target.localPath} to ${target.uri}: the object changed on the server since it was last seen (expected ${want ?? 'no object'}, found ${have ?? 'no object'})`,
      { operation: 'PutObject', uri: target.uri },
    );
  }
  return want === undefined ? { ifNoneMatch: true } : { ifMatch: `"${want}"` };
}

/**
 * The conditions to retry with when a quoted `If-Match` was refused although the object
 * still has that ETag (servers that compare against the unquoted ETag); else `undefined`.
 */
export async function quirkRetry(
  error: unknown,
  target: SyncTarget,
  conditions: UploadConditions,
  signal: AbortSignal | undefined,
): Promise<UploadConditions | undefined> {
  const expected = conditions.ifMatch;
  if (
    !(error instanceof PreconditionFailedError) ||
    expected === undefined ||
    !expected.startsWith('"')
  ) {
    return undefined;
  }
  const head = await target.client.head(target.bucket, target.key, signal);
  if (head === undefined || normalizeEtag(head.etag) !== normalizeEtag(expected)) return undefined;
  log.debug(
    `${target.uri}: the server refused a quoted If-Match for the current ETag; retrying unquoted`,
  );
  return { ...conditions, ifMatch: normalizeEtag(expected) };
}

/**
 * Whether the server enforces `conditions` on PUT, probed once per endpoint and process
 * (`client/capabilities`); `undefined` without conditions or when the probe could not
 * tell. When it does not, a warning says what still holds: s3lync's check before writing,
 * but not against a write that lands between that check and this one.
 */
export async function serverEnforces(
  target: SyncTarget,
  conditions: UploadConditions,
): Promise<boolean | undefined> {
  const create = conditions.ifNoneMatch === true;
  if (!create && conditions.ifMatch === undefined) return undefined;
  const caps = await target.client.conditionalWrites(target.bucket, target.key);
  const enforced = create ? caps.conditionalCreate : caps.conditionalReplace;
  if (enforced === false) {
    const header = create ? 'If-None-Match: *' : 'If-Match';
    log.warn(
      `${target.uri}: the server ignores ${header} on PUT; s3lync checked the object before writing, but a write by someone else between that check and this upload is overwritten`,
    );
  }
  return enforced;
}

/** A refused conditional write becomes a {@link ConflictError}. */
export function conflictOr(error: unknown, target: SyncTarget): unknown {
  if (!(error instanceof PreconditionFailedError) || error instanceof ConflictError) return error;
  return new ConflictError(
    `Refusing to upload ${target.localPath} to ${target.uri}: the object changed on the server while it was being sent`,
    { operation: error.operation ?? 'PutObject', uri: target.uri, cause: error },
  );
}

/** An upload with its conditions, retried once for servers that compare If-Match unquoted. */
export function putConditional(
  put: (conditions: UploadConditions) => Promise<string | undefined>,
  target: SyncTarget,
  conditions: UploadConditions,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  return put(conditions).catch(async (error: unknown) => {
    // Ceph (and DigitalOcean Spaces) match If-Match on PUT only against the unquoted
    // ETag; a 412 while the ETag is the expected one means that quirk.
    const unquoted = await quirkRetry(error, target, conditions, signal);
    if (unquoted === undefined) throw conflictOr(error, target);
    return put(unquoted).catch((again: unknown) => {
      throw conflictOr(again, target);
    });
  });
}
