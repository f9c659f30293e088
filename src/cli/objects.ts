/**
 * `ls`, `rm` and `cat`: a listing, a deletion and a download to stdout, each one call to
 * the client, with what the command prints.
 *
 * @packageDocumentation
 */
import { pipeline } from 'node:stream/promises';

import { createS3Client, S3lyncClient, timeoutsFor } from '../client.js';
import { readEnvConfig } from '../config.js';
import { HashMismatchError, NotFoundError, S3ObjectError } from '../exceptions.js';
import { HashingStream } from '../hash.js';
import { registerSecret } from '../logging.js';
import { formatS3Uri } from '../utils.js';
import { objectFor, type CommandContext } from './context.js';
import {
  formatDuration,
  formatListEntry,
  listEntryJson,
  plural,
  type ListEntry,
} from './format.js';
import { parseUri } from './locations.js';
import { isMd5Etag, normalizeEtag } from '../etag.js';

/** Runs `ls`; resolves to the exit code. */
export async function list(
  uri: string,
  recursive: boolean,
  { global, out, signal }: CommandContext,
): Promise<number> {
  const parsed = parseUri(uri, 'ls', true);
  if (parsed.credentials) registerSecret(parsed.credentials.secretAccessKey);
  // `ls` also takes a bare bucket, which an S3Object cannot name: build the client directly.
  const env = readEnvConfig();
  const sdk = createS3Client({
    endpoint: parsed.endpoint,
    credentials: parsed.credentials,
    region: global.region ?? env.region,
    timeouts: timeoutsFor(undefined, env),
    dataLane: env.dataLane,
  });
  const client = new S3lyncClient(sdk, {
    describe: (bucket, key) => formatS3Uri({ ...parsed, bucket, key }),
  });
  const { bucket, key: prefix } = parsed;
  const entries: ListEntry[] = [];
  try {
    for await (const entry of listEntries(client, bucket, prefix, recursive, signal)) {
      entries.push(entry);
      out.data(formatListEntry(entry));
    }
  } finally {
    sdk.destroy();
  }
  const shown = formatS3Uri(parsed);
  if (entries.length === 0) {
    throw new NotFoundError(`Nothing found under ${shown}`, { operation: 'ls', uri: shown });
  }
  out.json({ command: 'ls', ok: true, uri: shown, entries: entries.map(listEntryJson) });
  return 0;
}

/** The entries of `ls`, page by page: one level under `prefix`, or every key under it. */
async function* listEntries(
  client: S3lyncClient,
  bucket: string,
  prefix: string,
  recursive: boolean,
  signal: AbortSignal,
): AsyncGenerator<ListEntry> {
  if (recursive) {
    for await (const page of client.listObjects(bucket, prefix, signal)) {
      for (const o of page) yield objectEntry(o.key, o);
    }
    return;
  }
  // Names are shown relative to the level listed, as aws-cli does.
  const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  for await (const page of client.listPages(bucket, prefix, { delimiter: '/', signal })) {
    for (const p of page.prefixes) yield { type: 'prefix', name: p.slice(base.length) };
    for (const o of page.objects) {
      const name = o.key.slice(base.length);
      if (name !== '') yield objectEntry(name, o);
    }
  }
}

function objectEntry(
  name: string,
  o: { key: string; size: number; etag: string | undefined; lastModified?: Date | undefined },
): ListEntry {
  return {
    type: 'object',
    name,
    key: o.key,
    size: o.size,
    lastModified: o.lastModified,
    etag: normalizeEtag(o.etag),
  };
}

/** Runs `rm`; resolves to the exit code. */
export async function remove(
  uri: string,
  recursive: boolean,
  { global, out, signal }: CommandContext,
): Promise<number> {
  const started = Date.now();
  const target = recursive && !uri.endsWith('/') ? `${uri}/` : uri;
  // The local path is never touched: rm deletes on S3 only.
  const obj = objectFor(target, global, { localPath: process.cwd(), progressMode: 'disabled' });
  const shown = `s3://${obj.bucket}/${obj.key}`;
  let deleted: number;
  try {
    if (recursive) {
      deleted = await obj.delete({ signal });
      out.info(
        `Deleted ${plural(deleted, 'object')} under ${shown} in ${formatDuration(Date.now() - started)}`,
      );
    } else {
      if ((await obj.client.head(obj.bucket, obj.key, signal)) === undefined) {
        const isPrefix = await obj.client.prefixExists(obj.bucket, `${obj.key}/`, signal);
        throw new NotFoundError(
          `${obj.uri} is not an object${isPrefix ? ' (it is a prefix: add --recursive to delete everything under it)' : ''}`,
          { operation: 'rm', uri: obj.uri },
        );
      }
      await obj.client.deleteObject(obj.bucket, obj.key, signal);
      deleted = 1;
      out.info(`delete: ${shown}`);
    }
  } finally {
    obj.client.sdk.destroy();
  }
  out.json({
    command: 'rm',
    ok: true,
    uri: obj.uri,
    recursive,
    deleted,
    durationMs: Date.now() - started,
  });
  return 0;
}

/** Runs `cat`: the object to stdout, then its size and MD5 checked; resolves to the exit code. */
export async function cat(uri: string, { global, signal }: CommandContext): Promise<number> {
  // The local path is never touched: cat streams to stdout.
  const obj = objectFor(uri, global, { localPath: process.cwd(), progressMode: 'disabled' });
  try {
    const { object, body } = await obj.client.getStream(obj.bucket, obj.key, signal);
    const hasher = new HashingStream();
    try {
      await pipeline(body, hasher, process.stdout, { signal, end: false });
    } catch (error) {
      // The reader went away (`| head`): not an error of ours.
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') return 0;
      throw obj.client.toError(error, 'GetObject', obj.bucket, obj.key, signal);
    }
    const digest = hasher.digest();
    if (digest.size !== object.size) {
      throw new S3ObjectError(
        `GetObject ${obj.uri}: received ${digest.size} bytes, expected ${object.size}`,
        { operation: 'GetObject', uri: obj.uri },
      );
    }
    // The fingerprint s3lync recorded, else a plain ETag (the MD5 unless encrypted).
    const etag = normalizeEtag(object.etag);
    const expected =
      normalizeEtag(object.fingerprintMd5) ??
      (!object.opaqueEtag && isMd5Etag(etag) ? etag : undefined);
    if (expected !== undefined && expected !== digest.md5) {
      throw new HashMismatchError(
        `GetObject ${obj.uri}: the bytes written have MD5 ${digest.md5}, but the object's is ${expected}`,
        { expected, actual: digest.md5, uri: obj.uri },
      );
    }
    return 0;
  } finally {
    obj.client.sdk.destroy();
  }
}
