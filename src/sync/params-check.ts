/**
 * `compareParams` at work: one HEAD of an object whose bytes are unchanged, its stored
 * parameters compared with those the upload would send ({@link paramDifference}).
 *
 * @packageDocumentation
 */
import { getLogger } from '../logging.js';
import { paramDifference, type ParamDifference } from '../param-compare.js';
import type { SyncTarget } from './options.js';

const log = getLogger('sync');

/** Says how an unchanged file's object differs in the compared parameters, if it does. */
export type ParamsCheck = (key: string, localPath: string) => Promise<ParamDifference | undefined>;

/** The check of an upload with `compareParams`; `undefined` when nothing is compared. */
export function paramsCheck(
  target: SyncTarget,
  signal: AbortSignal | undefined,
): ParamsCheck | undefined {
  const fields = target.compareParams;
  if (fields === undefined || fields.length === 0) return undefined;
  return async (key, localPath) => {
    const head = await target.client.head(target.bucket, key, signal, { stored: true });
    // Gone since the listing: the next sync sees it missing.
    if (head?.stored === undefined) return undefined;
    const wanted = target.paramsFor?.(key, localPath) ?? {};
    const difference = paramDifference(wanted, head.stored, fields);
    if (difference !== undefined) {
      log.debug(
        `${key}: ${difference.field} is ${JSON.stringify(difference.stored)}, the upload sends ${JSON.stringify(difference.wanted)}`,
      );
    }
    return difference;
  };
}
