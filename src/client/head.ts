/**
 * HEAD of an object: what it is, or that it is not there. A 403 without a reason (a HEAD
 * response has no body) is explained by one GET of its first byte.
 *
 * @packageDocumentation
 */
import { AccessDeniedError, NotFoundError } from '../exceptions.js';
import type { ClientContext } from './context.js';
import { isExplainedDenial, typedErrors, type RequestSite } from './errors.js';
import { storedParams } from '../param-compare.js';
import { remoteObject } from './remote-object.js';
import { isMultipartEtag } from '../etag.js';
import type { RemoteObject } from './types.js';

/** Options of {@link headObject}. */
export interface HeadOptions {
  /** Asks about this part (AWS then says how many parts there are). @default none */
  partNumber?: number;
  /** `If-Match`: refuse (412) unless the object still has this ETag. @default none */
  ifMatch?: string;
  /** HEAD of this version (`versionId`). @default the latest */
  versionId?: string | undefined;
  /** Also report the parameters the object stored (`stored`, for `compareParams`). @default false */
  stored?: boolean;
}

/**
 * HEAD of an object; `undefined` when the key is not an object (404). With `partNumber`,
 * servers that support it (AWS) also say how many parts the object has and the size of
 * that part (then `size` is the part's size).
 */
export async function headObject(
  ctx: ClientContext,
  bucket: string,
  key: string,
  signal: AbortSignal | undefined,
  options: HeadOptions,
): Promise<RemoteObject | undefined> {
  const site = { operation: 'HeadObject', bucket, key, signal };
  try {
    const out = await typedErrors(site, ctx.describe, () =>
      ctx.transport.headObject(
        {
          Bucket: bucket,
          Key: key,
          ChecksumMode: 'ENABLED',
          ...(options.partNumber !== undefined && { PartNumber: options.partNumber }),
          ...(options.ifMatch !== undefined && { IfMatch: options.ifMatch }),
          ...(options.versionId !== undefined && { VersionId: options.versionId }),
        },
        signal,
      ),
    );
    const object = remoteObject(out);
    // A multipart object's part HEAD that reports no part count: PartNumber was ignored.
    if (options.partNumber !== undefined && isMultipartEtag(object.etag)) {
      ctx.learn?.({ partNumberHead: object.partsCount !== undefined });
    }
    return options.stored === true ? { ...object, stored: storedParams(out) } : object;
  } catch (e) {
    // A missing key is an answer; a missing bucket is not.
    if (e instanceof NotFoundError && e.code !== 'NoSuchBucket') return undefined;
    if (e instanceof AccessDeniedError && !isExplainedDenial(e)) {
      throw (await explainDenial(ctx, site)) ?? e;
    }
    throw e;
  }
}

/**
 * A HEAD response has no body, so a 403 cannot say why. One GET of the first byte
 * (whose 403 carries the S3 error code) tells a wrong access key from a wrong secret
 * from a missing permission; `undefined` if it does not say more.
 */
async function explainDenial(
  ctx: ClientContext,
  site: RequestSite,
): Promise<AccessDeniedError | undefined> {
  try {
    await typedErrors(site, ctx.describe, async () => {
      const out = await ctx.transport.getObject(
        { Bucket: site.bucket, Key: site.key, Range: 'bytes=0-0' },
        site.signal,
      );
      await out.Body?.transformToByteArray();
    });
    return undefined;
  } catch (e) {
    return isExplainedDenial(e) ? e : undefined;
  }
}
