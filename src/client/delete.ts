/**
 * Deleting objects: in batches of DeleteObjects, each key S3 could not delete reported
 * with its own error; or one DELETE.
 *
 * @packageDocumentation
 */
import type { DeleteObjectsCommandOutput } from '@aws-sdk/client-s3';

import { LocalPathError, S3ObjectError } from '../exceptions.js';
import type { ClientContext } from './context.js';
import { typedErrors } from './errors.js';

/** S3's limit of keys per DeleteObjects request. */
export const DELETE_BATCH = 1000;

/** What {@link deleteObjects} did: the keys deleted, and each key that was not, with why. */
export interface DeleteResult {
  /** The keys deleted (or already absent). */
  deleted: string[];
  /** The keys not deleted, each with its error. */
  failed: { key: string; error: S3ObjectError }[];
}

/**
 * Deletes keys with DeleteObjects, at most 1,000 per request (S3's limit), and reports
 * each key S3 could not delete instead of treating the batch as done.
 */
export async function deleteObjects(
  ctx: ClientContext,
  bucket: string,
  keys: readonly string[],
  signal: AbortSignal | undefined,
): Promise<DeleteResult> {
  const result: DeleteResult = { deleted: [], failed: [] };
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const batch = keys.slice(i, i + DELETE_BATCH);
    const site = { operation: 'DeleteObjects', bucket, key: batch[0] ?? '', signal };
    let out: DeleteObjectsCommandOutput;
    try {
      out = await typedErrors(site, ctx.describe, () =>
        ctx.transport.deleteObjects(
          { Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } },
          signal,
        ),
      );
    } catch (e) {
      // A batch S3 refused as a whole fails each of its keys; an abort stops the deletion,
      // and so would a local error (a LocalPathError is an S3ObjectError too).
      if (!(e instanceof S3ObjectError) || e instanceof LocalPathError) throw e;
      for (const key of batch) result.failed.push({ key, error: e });
      continue;
    }
    const errors = keyErrors(ctx, bucket, out);
    for (const key of batch) {
      const error = errors.get(key);
      if (error === undefined) result.deleted.push(key);
      else result.failed.push({ key, error });
    }
  }
  return result;
}

/** The error of each key a DeleteObjects response says it could not delete. */
function keyErrors(
  ctx: ClientContext,
  bucket: string,
  out: DeleteObjectsCommandOutput,
): Map<string, S3ObjectError> {
  const errors = new Map<string, S3ObjectError>();
  for (const err of out.Errors ?? []) {
    if (err.Key === undefined) continue;
    const uri = ctx.describe(bucket, err.Key);
    errors.set(
      err.Key,
      new S3ObjectError(
        `DeleteObjects ${uri} failed (${err.Code ?? 'unknown'})${err.Message ? `: ${err.Message}` : ''}`,
        {
          operation: 'DeleteObjects',
          uri,
          cause: Object.assign(new Error(err.Message ?? err.Code ?? 'delete failed'), {
            name: err.Code ?? 'DeleteError',
          }),
        },
      ),
    );
  }
  return errors;
}

/** DELETEs one object (S3 answers success whether or not it existed). */
export async function deleteObject(
  ctx: ClientContext,
  bucket: string,
  key: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const site = { operation: 'DeleteObject', bucket, key, signal };
  await typedErrors(site, ctx.describe, () =>
    ctx.transport.deleteObject({ Bucket: bucket, Key: key }, signal),
  );
}
