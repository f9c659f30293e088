/**
 * The places a command line names, checked: the `--endpoint` value, `s3://` URIs (with
 * the endpoint applied) and the local file name a key stands for. Pure; each problem is a
 * {@link UsageError}.
 *
 * @packageDocumentation
 */
import path from 'node:path';

import { InvalidUriError } from '../exceptions.js';
import { parseS3Uri, parseS3UriOrBucket, redactRawUri, type ParsedS3Uri } from '../utils.js';
import { UsageError, type CommandName } from './command.js';

/** Whether an argument is meant as a URL (`s3://`, or a mistyped `http://`, `gs://`...). */
export function hasScheme(arg: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(arg);
}

/**
 * Checks an `--endpoint` value: `http(s)://host[:port]`, or a bare `host[:port]` (https).
 * A path, credentials or spaces are refused.
 */
export function endpointUrl(value: string, command?: CommandName): string {
  const withScheme = hasScheme(value) ? value : `https://${value}`;
  const match = /^(https?):\/\/([^/@\s?#]+)\/?$/i.exec(withScheme);
  if (match === null) {
    throw new UsageError(
      `--endpoint must be http://host[:port] or https://host[:port], got ${JSON.stringify(redactRawUri(value))}`,
      command,
    );
  }
  return `${(match[1] ?? 'https').toLowerCase()}://${match[2] ?? ''}`;
}

/**
 * Applies `--endpoint` to an `s3://bucket/key` URI: `s3://<endpoint>/bucket/key`. With an
 * empty key (a bucket, for `ls`), `bucket/` stays as it is.
 *
 * @throws {UsageError} when the URI already names an endpoint.
 */
export function withEndpoint(
  uri: string,
  endpoint: string | undefined,
  command?: CommandName,
): string {
  if (endpoint === undefined) return uri;
  const parsed = parseUri(uri, command, true);
  if (parsed.endpoint !== undefined) {
    throw new UsageError(
      `${redactRawUri(uri)} already names an endpoint; give --endpoint only with s3://bucket/key`,
      command,
    );
  }
  return `s3://${endpoint}/${parsed.bucket}/${parsed.key}`;
}

/**
 * Parses an S3 URI; with `allowBucketOnly`, `s3://bucket` and `s3://bucket/` give an
 * empty key (for `ls`).
 *
 * @throws {UsageError} with the first line of the {@link InvalidUriError}.
 */
export function parseUri(uri: string, command?: CommandName, allowBucketOnly = false): ParsedS3Uri {
  try {
    return allowBucketOnly ? parseS3UriOrBucket(uri) : parseS3Uri(uri);
  } catch (error) {
    if (!(error instanceof InvalidUriError)) throw error;
    throw new UsageError(error.message.split('\n')[0] ?? error.message, command);
  }
}

/**
 * Why a key cannot stand for a local file or directory on the command line of `cp` or
 * `sync`, or `undefined` when it can: its last segment is `.`, `..` or empty. A trailing
 * `/` only marks a prefix, so the segment before it is the last one (`a//` has an empty
 * one). Only the last segment matters here: it is the one the CLI turns into a file name
 * (the keys under a prefix are checked one by one when they are mapped to paths).
 */
export function lastSegmentProblem(key: string): string | undefined {
  const trimmed = key.endsWith('/') ? key.slice(0, -1) : key;
  const last = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  if (last === '') return 'the last segment of the key is empty';
  if (last === '.' || last === '..') {
    return `the last segment of the key is ${JSON.stringify(last)}`;
  }
  return undefined;
}

/**
 * The path a single object downloaded into `directory` gets: `directory/<last segment of
 * key>`, which must be a file directly inside `directory` whatever the key. `uri` (shown,
 * so redacted) and `command` are for the message.
 *
 * @throws {UsageError} when the path would be the directory itself or outside it.
 */
export function fileInDirectory(
  command: 'cp' | 'sync',
  uri: string,
  directory: string,
  key: string,
): string {
  const problem = lastSegmentProblem(key);
  const local = path.join(directory, path.posix.basename(key));
  const relative = path.relative(path.resolve(directory), path.resolve(local));
  const inside =
    relative !== '' &&
    relative !== '..' &&
    !relative.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(relative);
  if (problem !== undefined || !inside) {
    throw new UsageError(
      `${command}: ${uri}: ${problem ?? 'the last segment of the key is not a file name'}, so it cannot name a file inside the destination directory ${JSON.stringify(directory)}`,
      command,
    );
  }
  return local;
}
