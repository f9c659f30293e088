#!/usr/bin/env node
/**
 * The `s3lync` command: a thin layer over the library. Arguments are parsed in
 * `cli/args.ts` and output is formatted in `cli/format.ts`; every transfer, listing and
 * deletion is a call to `S3Object` or its client.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import { parseCli } from './cli/args.js';
import {
  UsageError,
  type CliCommand,
  type GlobalOptions,
  type TransferArgs,
} from './cli/command.js';
import {
  credentialsHint,
  errorMessage,
  formatAction,
  formatDuration,
  formatError,
  formatListEntry,
  formatSummary,
  listEntryJson,
  plural,
  transferSummary,
  type ListEntry,
} from './cli/format.js';
import { HELP, USAGE } from './cli/help.js';
import { fileInDirectory, parseUri } from './cli/locations.js';
import { createS3Client, S3lyncClient, timeoutsFor } from './client.js';
import { readEnvConfig } from './config.js';
import { S3Object, type S3ObjectOptions } from './core.js';
import {
  HashMismatchError,
  NotFoundError,
  S3lyncError,
  S3ObjectError,
  SyncError,
} from './exceptions.js';
import { HashingStream, isMd5Etag, normalizeEtag } from './hash.js';
import { configureLogging, redact, registerSecret } from './logging.js';
import { formatS3Uri } from './utils.js';
import type { SyncFailure, SyncResult } from './result.js';

/** Why a command stopped on Ctrl-C. */
class InterruptedError extends S3lyncError {
  constructor() {
    super('interrupted');
  }
}

/** Where a command writes: text and JSON to stdout, errors to stderr, secrets redacted. */
class Output {
  readonly #global: GlobalOptions;

  constructor(global: GlobalOptions) {
    this.#global = global;
  }

  /** A line of the command's result (ls lines); always printed, unless `--json`. */
  data(line: string): void {
    if (!this.#global.json) process.stdout.write(`${redact(line)}\n`);
  }

  /** A line of commentary (summaries, plans); not with `--json` or `-q`. */
  info(line: string): void {
    if (!this.#global.json && !this.#global.quiet) process.stdout.write(`${redact(line)}\n`);
  }

  /** The `--json` object. */
  json(value: unknown): void {
    if (this.#global.json) process.stdout.write(`${redact(JSON.stringify(value))}\n`);
  }

  /** An error line, always. */
  error(line: string): void {
    process.stderr.write(`${redact(line)}\n`);
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Prints a usage error and the command's usage line; resolves to exit code 2. */
function usageFailure(error: UsageError): number {
  process.stderr.write(`s3lync: ${redact(error.message)}\n${USAGE[error.command ?? 'main']}\n`);
  return 2;
}

/** Runs the command line `argv` (without `node` and the script); resolves to the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageFailure(error);
  }
  if (command.kind === 'help') {
    process.stdout.write(`${HELP[command.topic ?? 'main']}\n`);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const { global } = command;
  const out = new Output(global);
  if (global.debug) configureLogging({ level: 'debug' });
  // The SDK's advice to move to Node 22 is eight lines on every run; --debug shows it.
  if (!global.debug) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The AWS SDK reads the profile (credentials, region) from here.
  if (global.profile !== undefined) process.env.AWS_PROFILE = global.profile;

  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) {
      out.error('s3lync: interrupted again; exiting without cleaning up');
      process.exit(130);
    }
    out.error('s3lync: interrupted; cancelling what is in flight (Ctrl-C again to force)');
    controller.abort(new InterruptedError());
  };
  process.on('SIGINT', onSigint);
  try {
    const code = await run(command, out, controller.signal);
    return controller.signal.aborted ? 130 : code;
  } catch (error) {
    if (controller.signal.aborted) {
      out.error(
        's3lync: interrupted; transfers in flight were cancelled and their temp files removed',
      );
      return 130;
    }
    // Bad usage found only once the command runs (e.g. where a file would land).
    if (error instanceof UsageError) return usageFailure(error);
    const hint = credentialsHint(error, global.profile);
    const text = formatError(error, global.debug);
    out.error(hint === undefined ? text : `${text}${global.debug ? '\n' : ' '}${hint}`);
    const message = errorMessage(error);
    out.json({
      command: command.kind,
      ok: false,
      error: hint === undefined ? message : `${message} ${hint}`,
    });
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function run(
  command: Exclude<CliCommand, { kind: 'help' | 'version' }>,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  switch (command.kind) {
    case 'cp':
    case 'sync':
      return transfer(command.kind, command.transfer, command.global, out, signal);
    case 'ls':
      return list(command.uri, command.recursive, command.global, out, signal);
    case 'rm':
      return remove(command.uri, command.recursive, command.global, out, signal);
    case 'cat':
      return cat(command.uri, command.global, signal);
  }
}

function objectFor(uri: string, global: GlobalOptions, options: S3ObjectOptions): S3Object {
  return new S3Object(uri, {
    progressMode: global.progress,
    ...(global.region !== undefined && { region: global.region }),
    ...options,
  });
}

/**
 * `cp`/`sync` semantics for a single file: a destination ending with `/` (or an existing
 * directory) receives the file under its own name, as with `cp`. Returns the object to
 * sync and the local path to show.
 *
 * @throws {UsageError} when that name would not put the file inside the directory.
 */
async function resolveTarget(
  command: 'cp' | 'sync',
  args: TransferArgs,
  global: GlobalOptions,
  options: S3ObjectOptions,
  signal: AbortSignal,
): Promise<{ obj: S3Object; local: string }> {
  const obj = objectFor(args.uri, global, { ...options, localPath: args.localPath });
  const isDir = (p: string): Promise<boolean> =>
    stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    );
  if (args.direction === 'upload') {
    if (!obj.key.endsWith('/') || (await isDir(args.localPath)))
      return { obj, local: args.localPath };
    const uri = `${args.uri}${path.basename(obj.localPath)}`;
    return {
      obj: objectFor(uri, global, {
        ...options,
        localPath: args.localPath,
        client: obj.client.sdk,
      }),
      local: args.localPath,
    };
  }
  const intoDir = /[/\\]$/.test(args.localPath) || (await isDir(args.localPath));
  if (obj.key.endsWith('/') || !intoDir) return { obj, local: args.localPath };
  // One HEAD tells a single object (goes into the directory) from a prefix (is the directory).
  if ((await obj.client.head(obj.bucket, obj.key, signal)) === undefined) {
    return { obj, local: args.localPath };
  }
  let local: string;
  try {
    // The destination is the destination: whatever the key, the file lands inside it.
    local = fileInDirectory(command, args.source, args.localPath, obj.key);
  } catch (error) {
    obj.client.sdk.destroy();
    throw error;
  }
  return {
    obj: objectFor(args.uri, global, { ...options, localPath: local, client: obj.client.sdk }),
    local,
  };
}

async function transfer(
  command: 'cp' | 'sync',
  args: TransferArgs,
  global: GlobalOptions,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  const options: S3ObjectOptions = {
    ...(args.concurrency !== undefined && { maxConcurrency: args.concurrency }),
    ...(!args.defaultExcludes && { excludes: [] }),
  };
  const { obj, local } = await resolveTarget(command, args, global, options, signal);
  let result: SyncResult;
  let failures: readonly SyncFailure[] = [];
  try {
    result = await obj.sync(args.direction, {
      dryRun: args.dryRun,
      useChecksum: args.useChecksum,
      excludes: args.excludes,
      mirror: args.mirror,
      ...(args.maxDelete !== undefined && { maxDelete: args.maxDelete }),
      signal,
    });
  } catch (error) {
    if (!(error instanceof SyncError) || error.result === undefined) throw error;
    result = error.result;
    failures = error.failures;
  } finally {
    obj.client.sdk.destroy();
  }
  const summary = transferSummary(command, args, result, failures);
  for (const f of summary.failed) out.error(`s3lync: failed: ${f.path}: ${f.error}`);
  for (const w of summary.warnings) out.error(`s3lync: warning: skipped ${w.path}: ${w.reason}`);
  const places = { bucket: obj.bucket, tree: result.tree, local };
  // Transfers are shown as they happen (progress); plans and deletions are listed here.
  for (const action of result.actions) {
    if (result.dryRun || action.op === 'delete') {
      out.info(formatAction(action, places, result.dryRun));
    }
  }
  if (failures.length > 0 && args.mirror && result.deleted === 0 && !result.dryRun) {
    out.info('Nothing was deleted, because some transfers failed.');
  }
  out.info(formatSummary(summary));
  out.json(summary);
  return failures.length > 0 ? 1 : 0;
}

async function list(
  uri: string,
  recursive: boolean,
  global: GlobalOptions,
  out: Output,
  signal: AbortSignal,
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
  });
  const client = new S3lyncClient(sdk, {
    describe: (bucket, key) => formatS3Uri({ ...parsed, bucket, key }),
  });
  const { bucket, key: prefix } = parsed;
  const entries: ListEntry[] = [];
  const emit = (entry: ListEntry): void => {
    entries.push(entry);
    out.data(formatListEntry(entry));
  };
  try {
    if (recursive) {
      for await (const page of client.listObjects(bucket, prefix, signal)) {
        for (const o of page) emit(objectEntry(o.key, o));
      }
    } else {
      // Names are shown relative to the level listed, as aws-cli does.
      const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
      for await (const page of client.listPages(bucket, prefix, { delimiter: '/', signal })) {
        for (const p of page.prefixes) emit({ type: 'prefix', name: p.slice(base.length) });
        for (const o of page.objects) {
          const name = o.key.slice(base.length);
          if (name !== '') emit(objectEntry(name, o));
        }
      }
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

async function remove(
  uri: string,
  recursive: boolean,
  global: GlobalOptions,
  out: Output,
  signal: AbortSignal,
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

async function cat(uri: string, global: GlobalOptions, signal: AbortSignal): Promise<number> {
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

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${redact(formatError(error, true))}\n`);
  return 1;
});
