/**
 * What an S3 server honours, learned once per endpoint and process, never assumed:
 * conditional writes, `PartNumber` on HEAD, stored additional checksums, and the form of a
 * completed multipart upload's ETag.
 *
 * How each is learned, and what it costs:
 * - `partNumberHead`, `storedChecksums`, `multipartEtag`: from responses s3lync receives
 *   anyway (a HEAD with `PartNumber` of a multipart object, a PUT or Complete sent with a
 *   checksum, a Complete). No request is added.
 * - `conditionalCreate`, `conditionalReplace`: by one probe per endpoint and process, sent
 *   only before the first conditional write (`open('x')`, `upload({ ifMatch })`), never on
 *   a sync that sends none: a scratch key next to the target, named like s3lync's temp
 *   files (listings leave such keys alone), gets PUT `If-None-Match: *` twice, then PUT
 *   `If-Match` of an ETag it cannot have, then a DELETE. Four small requests.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';

import type { S3Client } from '@aws-sdk/client-s3';

import { PreconditionFailedError } from '../exceptions.js';
import { getLogger } from '../logging.js';
import { tempName } from '../utils.js';
import { describeError, typedErrors } from './errors.js';
import type { Transport } from './transport.js';
import type { UriFormatter } from './types.js';

/** What the probe sends through. */
interface ProbeContext {
  readonly transport: Transport;
  readonly describe: UriFormatter;
}

const log = getLogger('client');

/** What a server was seen to honour; `undefined`: not learned yet. */
export interface ServerCapabilities {
  /** PUT honours `If-None-Match: *` (refuses to replace an existing object). */
  conditionalCreate?: boolean | undefined;
  /** PUT honours `If-Match` (refuses to replace another version). */
  conditionalReplace?: boolean | undefined;
  /** HEAD honours `PartNumber` (reports the part count and the part's size). */
  partNumberHead?: boolean | undefined;
  /** Stores the additional checksum an upload is sent with, and returns it. */
  storedChecksums?: boolean | undefined;
  /**
   * The ETag of a completed multipart upload: the composite of the parts (`<md5>-N`), the
   * whole object's MD5, or something else.
   */
  multipartEtag?: 'composite' | 'md5' | 'opaque' | undefined;
}

/** Endpoint → what it was seen to honour, shared by every client of this process. */
const known = new Map<string, ServerCapabilities>();
/** Endpoint → the conditional-write probe under way or done. */
const probes = new Map<string, Promise<void>>();

/** The key of an SDK client's endpoint: its custom URL, else AWS and the region. */
export async function endpointKey(sdk: S3Client): Promise<string> {
  const config = sdk.config as {
    endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>;
    region: () => Promise<string>;
  };
  const ep = await config.endpoint?.();
  if (ep === undefined) return `aws:${await config.region()}`;
  return `${ep.protocol}//${ep.hostname}${ep.port === undefined ? '' : `:${ep.port}`}${ep.path}`;
}

/** The capabilities learned for `endpoint` (a live object: later learning shows in it). */
export function capabilitiesOf(endpoint: string): ServerCapabilities {
  let caps = known.get(endpoint);
  if (caps === undefined) {
    caps = {};
    known.set(endpoint, caps);
  }
  return caps;
}

/** Forgets everything learned (tests). */
export function forgetCapabilities(): void {
  known.clear();
  probes.clear();
}

/**
 * Records what a response showed. A capability once seen missing stays missing: one
 * answer that ignores a header is proof, a later one that seems to honour it is not.
 */
export function learn(caps: ServerCapabilities, seen: ServerCapabilities): void {
  for (const name of Object.keys(seen) as (keyof ServerCapabilities)[]) {
    const value = seen[name];
    if (value === undefined || caps[name] === false) continue;
    if (caps[name] !== value) log.debug(`server capability ${name}: ${String(value)}`);
    (caps as Record<string, unknown>)[name] = value;
  }
}

/**
 * Learns whether the server honours conditional writes, by the probe described above, at
 * most once per endpoint and process (concurrent callers share it). A failed probe (no
 * permission on the scratch key, a network error) leaves both unknown.
 */
export function probeConditionalWrites(
  ctx: ProbeContext,
  endpoint: string,
  bucket: string,
  nearKey: string,
): Promise<void> {
  let probe = probes.get(endpoint);
  if (probe === undefined) {
    probe = runProbe(ctx, capabilitiesOf(endpoint), bucket, nearKey);
    probes.set(endpoint, probe);
  }
  return probe;
}

async function runProbe(
  ctx: ProbeContext,
  caps: ServerCapabilities,
  bucket: string,
  nearKey: string,
): Promise<void> {
  const key = `${nearKey.slice(0, nearKey.lastIndexOf('/') + 1)}${tempName(randomBytes(4).toString('hex'))}`;
  const site = { operation: 'PutObject', bucket, key, signal: undefined };
  /** Whether a PUT with `conditions` was refused with 412. */
  const refused = async (conditions: { IfNoneMatch?: string; IfMatch?: string }) => {
    try {
      await typedErrors(site, ctx.describe, () =>
        ctx.transport.putObject({ Bucket: bucket, Key: key, Body: Buffer.alloc(0), ...conditions }),
      );
      return false;
    } catch (error) {
      if (error instanceof PreconditionFailedError) return true;
      throw error;
    }
  };
  let created = false;
  try {
    // The scratch key is new: a 412 here says nothing (someone else's key, or a server
    // that refuses every conditional PUT), so only a success counts.
    if (await refused({ IfNoneMatch: '*' })) return;
    created = true;
    const create = await refused({ IfNoneMatch: '*' });
    const replace = await refused({ IfMatch: '"00000000000000000000000000000000"' });
    learn(caps, { conditionalCreate: create, conditionalReplace: replace });
  } catch (error) {
    created = true;
    log.debug(
      `could not probe conditional writes on s3://${bucket}/${key}: ${describeError(error)}`,
    );
  } finally {
    if (created) {
      await ctx.transport.deleteObject({ Bucket: bucket, Key: key }).catch((error: unknown) => {
        log.warn(
          `could not remove the probe key ${ctx.describe(bucket, key)} (${describeError(error)})`,
        );
      });
    }
  }
}
