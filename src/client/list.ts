/**
 * Listing: pages of ListObjectsV2, each checked to advance before it is used, so a server
 * that loops or goes back cannot make a listing endless or repeat keys.
 *
 * @packageDocumentation
 */
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';

import { ListingError } from '../exceptions.js';
import { compareKeys } from '../keys.js';
import type { ClientContext } from './context.js';
import { typedErrors } from './errors.js';
import type { ListedObject, ListedPage } from './types.js';

/** Options of {@link listPages}. */
export interface ListOptions {
  /** Lists one level: keys below the next delimiter come back as a common prefix. @default none (flat) */
  delimiter?: string | undefined;
  /** Stops the listing. @default none */
  signal?: AbortSignal | undefined;
}

/** Whether at least one key starts with `prefix` (one LIST of one key). */
export async function prefixExists(
  ctx: ClientContext,
  bucket: string,
  prefix: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const site = { operation: 'ListObjectsV2', bucket, key: prefix, signal };
  const out = await typedErrors(site, ctx.describe, () =>
    ctx.transport.listObjectsV2({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }, signal),
  );
  return (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
}

/**
 * Lists under `prefix` page by page (up to 1,000 entries per request). With a
 * `delimiter` (`/`), keys below the next delimiter come back once, as a common prefix:
 * one level of a tree, as `ls` shows it. A failed page throws.
 *
 * A listing that does not advance throws a {@link ListingError} instead of yielding the
 * page that shows it: a truncated page without a continuation token, a token the server
 * already gave, a page whose first object sorts at or before the last object of the page
 * before (in S3 key order, UTF-8 byte order), or a page that lists only keys of the page
 * before again. Keys out of order within a page (or across pages, short of these) are
 * passed on as they are, for the caller to judge.
 */
export async function* listPages(
  ctx: ClientContext,
  bucket: string,
  prefix: string,
  options: ListOptions,
): AsyncGenerator<ListedPage, void, undefined> {
  const { delimiter, signal } = options;
  const site = { operation: 'ListObjectsV2', bucket, key: prefix, signal };
  const advance = new ListingAdvance(site.operation, ctx.describe(bucket, prefix));
  let token: string | undefined;
  for (let pageNumber = 1; ; pageNumber++) {
    const continuation = token;
    const page = await typedErrors(site, ctx.describe, () =>
      ctx.transport.listObjectsV2(
        { Bucket: bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: continuation },
        signal,
      ),
    );
    const objects = listedObjects(page);
    // Objects read with a customer key are SSE-C: their listed ETags are no MD5s.
    if (ctx.customerKey !== undefined) for (const o of objects) o.opaqueEtag = true;
    // Each page is checked before it is yielded: a page that does not advance is not used.
    token = advance.check(pageNumber, page, objects);
    const prefixes = (page.CommonPrefixes ?? []).flatMap((p) => p.Prefix ?? []);
    yield { objects, prefixes };
    if (token === undefined) return;
    advance.used(token);
  }
}

/** The objects of a page, as listed (entries without a key skipped). */
function listedObjects(page: ListObjectsV2CommandOutput): ListedObject[] {
  const objects: ListedObject[] = [];
  for (const o of page.Contents ?? []) {
    if (o.Key === undefined) continue;
    objects.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified });
  }
  return objects;
}

/** Checks that each page of a listing moves it forward. */
class ListingAdvance {
  readonly #usedTokens = new Set<string>();
  /** The last page that had objects: its number, its keys, and the last of them as listed. */
  #previous: { page: number; keys: Set<string>; last: string } | undefined;

  constructor(
    private readonly operation: string,
    private readonly uri: string,
  ) {}

  /** Records a continuation token as sent. */
  used(token: string): void {
    this.#usedTokens.add(token);
  }

  /**
   * The continuation token of page `pageNumber` (`undefined` at the end).
   *
   * @throws {ListingError} if the page does not advance the listing.
   */
  check(
    pageNumber: number,
    page: ListObjectsV2CommandOutput,
    objects: readonly ListedObject[],
  ): string | undefined {
    const truncated = page.IsTruncated === true;
    const token = truncated ? page.NextContinuationToken : undefined;
    if (truncated && token === undefined) {
      throw this.stuck(
        `the server said page ${pageNumber} is truncated but gave no continuation token`,
      );
    }
    if (token !== undefined && this.#usedTokens.has(token)) {
      throw this.stuck(
        `the server repeated the continuation token ${quoted(token)} on page ${pageNumber}`,
      );
    }
    const first = objects[0]?.key;
    const previous = this.#previous;
    if (previous !== undefined && first !== undefined) {
      if (compareKeys(first, previous.last) <= 0) {
        throw this.stuck(
          `page ${pageNumber} goes back to ${quoted(first)}, at or before ${quoted(previous.last)} of page ${previous.page}`,
        );
      }
      // Pages out of order (which this tolerates) can still not list the same page again.
      if (objects.every((o) => previous.keys.has(o.key))) {
        throw this.stuck(`page ${pageNumber} lists only keys of page ${previous.page} again`);
      }
    }
    if (first !== undefined) {
      const keys = new Set(objects.map((o) => o.key));
      this.#previous = { page: pageNumber, keys, last: objects.at(-1)?.key ?? first };
    }
    return token;
  }

  private stuck(why: string): ListingError {
    const { operation, uri } = this;
    return new ListingError(`${operation} ${uri}: ${why}: the listing does not advance`, {
      operation,
      uri,
    });
  }
}

/** A key or token from the server, quoted and cut to a readable length for messages. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}
