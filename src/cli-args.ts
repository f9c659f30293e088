/**
 * The `s3lync` command line's arguments: parsed with `node:util` `parseArgs`, checked, and
 * turned into a plain description of what to run, with the help texts. Pure (no I/O), so
 * every rule is unit tested without a process.
 *
 * @packageDocumentation
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

import { parsePositiveInt } from './config.js';
import { ConfigError, InvalidUriError, S3lyncError } from './exceptions.js';
import { PROGRESS_MODES, validateProgressMode, type ProgressMode } from './progress.js';
import { formatS3Uri, parseS3Uri, redactRawUri, type ParsedS3Uri } from './utils.js';
import type { Direction } from './result.js';

/** The commands. */
export type CommandName = 'cp' | 'sync' | 'ls' | 'rm' | 'cat';

/** Every {@link CommandName}, in the order the help lists them. */
export const COMMANDS: readonly CommandName[] = ['cp', 'sync', 'ls', 'rm', 'cat'];

/** Bad usage: the CLI prints the message and the command's usage line, and exits 2. */
export class UsageError extends S3lyncError {
  /** The command whose usage line to show; `undefined` for the general one. */
  readonly command: CommandName | undefined;

  constructor(message: string, command?: CommandName) {
    super(message);
    this.command = command;
  }
}

/** Options every command takes. */
export interface GlobalOptions {
  /** `--endpoint`: turns `s3://bucket/key` into that endpoint's form. */
  endpoint: string | undefined;
  /** `--profile`: the AWS profile (`AWS_PROFILE`) for credentials and region. */
  profile: string | undefined;
  /** `--region`. */
  region: string | undefined;
  /** `--progress`; `disabled` by default with `--json` or `-q`. */
  progress: ProgressMode;
  /** `--json`: one JSON object on stdout instead of the human summary. */
  json: boolean;
  /** `-q`: only errors. */
  quiet: boolean;
  /** `-v`/`--debug`: debug logging and stack traces. */
  debug: boolean;
}

/** What `cp` and `sync` do. */
export interface TransferArgs {
  /** `download` when the source is the `s3://` side, else `upload`. */
  direction: Direction;
  /** The `s3://` side, with `--endpoint` applied. */
  uri: string;
  /** The local side, as given. */
  localPath: string;
  /** The source as given (redacted), for messages. */
  source: string;
  /** The destination as given (redacted), for messages. */
  destination: string;
  /** `--dry-run`. */
  dryRun: boolean;
  /** Not `--no-checksum`. */
  useChecksum: boolean;
  /** `--exclude`, in order. */
  excludes: string[];
  /** Not `--no-default-excludes`. */
  defaultExcludes: boolean;
  /** `--concurrency`. */
  concurrency: number | undefined;
  /** `--delete` (sync only). */
  mirror: boolean;
  /** `--max-delete` (sync only). */
  maxDelete: number | undefined;
}

/** A parsed command line. */
export type CliCommand =
  | { kind: 'help'; topic: CommandName | undefined }
  | { kind: 'version' }
  | { kind: 'cp' | 'sync'; global: GlobalOptions; transfer: TransferArgs }
  | { kind: 'ls'; global: GlobalOptions; uri: string; recursive: boolean }
  | { kind: 'rm'; global: GlobalOptions; uri: string; recursive: boolean }
  | { kind: 'cat'; global: GlobalOptions; uri: string };

const GLOBAL_OPTIONS = {
  endpoint: { type: 'string' },
  profile: { type: 'string' },
  region: { type: 'string' },
  progress: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

const TRANSFER_OPTIONS = {
  'dry-run': { type: 'boolean' },
  exclude: { type: 'string', multiple: true },
  'no-default-excludes': { type: 'boolean' },
  concurrency: { type: 'string' },
  'no-checksum': { type: 'boolean' },
} as const;

const COMMAND_OPTIONS = {
  cp: TRANSFER_OPTIONS,
  sync: {
    ...TRANSFER_OPTIONS,
    delete: { type: 'boolean' },
    'max-delete': { type: 'string' },
  },
  ls: { recursive: { type: 'boolean', short: 'r' } },
  rm: { recursive: { type: 'boolean', short: 'r' } },
  cat: {},
} as const;

const ALL_OPTIONS = {
  ...GLOBAL_OPTIONS,
  ...COMMAND_OPTIONS.sync,
  ...COMMAND_OPTIONS.ls,
} as const;

/** The one-line usage of each command, shown with usage errors. */
export const USAGE: Readonly<Record<CommandName | 'main', string>> = {
  main: 'usage: s3lync <cp|sync|ls|rm|cat> [options] <args>   (s3lync --help for more)',
  cp: 'usage: s3lync cp [options] <src> <dst>   (one side s3://, the other local)',
  sync: 'usage: s3lync sync [options] <src> <dst>   (one side s3://, the other local)',
  ls: 'usage: s3lync ls [--recursive] <s3-uri>',
  rm: 'usage: s3lync rm [--recursive] <s3-uri>',
  cat: 'usage: s3lync cat <s3-uri>',
};

const GLOBAL_HELP = `Global options:
  --endpoint URL       an S3-compatible endpoint (http://host:port); turns s3://bucket/key
                       into that endpoint's form, credentials from the AWS chain
  --profile NAME       the AWS profile for credentials and region (sets AWS_PROFILE)
  --region REGION      the region
  --progress MODE      progress (bars on a terminal), compact (a line per file), disabled
  --json               print one JSON object on stdout (the summary) instead of text
  -q, --quiet          print only errors
  -v, --debug          debug logging, and stack traces with errors
  -h, --help           this help; "s3lync <command> --help" for a command
  --version            the version`;

const TRANSFER_HELP = `  --dry-run            show what would be done, change nothing
  --exclude REGEX      skip relative paths matching REGEX (repeatable); added to the
                       defaults (hidden files and directories, __pycache__, .egg-info)
  --no-default-excludes  do not skip the defaults
  --concurrency N      files in flight at once (default S3LYNC_MAX_WORKERS, else 8)
  --no-checksum        compare sizes only, not MD5s`;

/** The help of each command, and the general one. */
export const HELP: Readonly<Record<CommandName | 'main', string>> = {
  main: `s3lync: use S3 objects like local files, from the shell.

${USAGE.main}

Commands:
  cp <src> <dst>       copy a file or a tree, either way (unchanged files are skipped)
  sync <src> <dst>     the same, plus --delete to mirror
  ls <s3-uri>          list objects and prefixes
  rm <s3-uri>          delete an object (--recursive: everything under a prefix)
  cat <s3-uri>         write an object to stdout

S3 URIs: s3://bucket/key, s3://host:port@bucket/key, s3://https://host/bucket/key,
s3://SECRET:ACCESS@https://host/bucket/key (secret first; never printed).
A key ending with "/" names a prefix; otherwise a key that is not an object is one.

${GLOBAL_HELP}

Exit codes: 0 success, 1 failure (some files failed: the summary lists them), 2 bad
usage, 130 interrupted (Ctrl-C: transfers in flight are cancelled and cleaned up).`,
  cp: `${USAGE.cp}

Copies a file or a tree between S3 and the local disk; the direction follows which side
is s3://. Files that are already equal are skipped; nothing is deleted.
The destination is the path itself; a destination ending with "/" (or an existing
directory) receives a single file under its own name.

Options:
${TRANSFER_HELP}

${GLOBAL_HELP}

Examples:
  s3lync cp ./report.csv s3://bucket/reports/2026.csv
  s3lync cp ./report.csv s3://bucket/reports/
  s3lync cp s3://bucket/datasets/images/ ./images
  s3lync --endpoint http://127.0.0.1:7480 cp s3://bucket/key.bin ./key.bin`,
  sync: `${USAGE.sync}

Makes the destination hold what the source holds: transfers what is missing or
changed. With --delete, also deletes what the source lacks (never excluded paths,
never after a failed transfer).

Options:
  --delete             mirror: delete at the destination what the source lacks
  --max-delete N       with --delete: refuse (before changing anything) to delete more
${TRANSFER_HELP}

${GLOBAL_HELP}

Examples:
  s3lync sync ./site s3://bucket/site/ --delete --dry-run
  s3lync sync s3://bucket/datasets/run-1/ ./run-1 --exclude '\\.tmp$' --json
  s3lync sync ./logs s3://bucket/logs/ --delete --max-delete 100`,
  ls: `${USAGE.ls}

Lists the objects and prefixes (PRE) one level under the URI, with their last-modified
time (UTC) and size in bytes; --recursive lists every key under it. Exits 1 when nothing
is found.

Options:
  -r, --recursive      list every object under the prefix, with full keys

${GLOBAL_HELP}

Examples:
  s3lync ls s3://bucket/
  s3lync ls --recursive s3://bucket/datasets/
  s3lync ls s3://bucket/logs/ --json`,
  rm: `${USAGE.rm}

Deletes one object, or with --recursive every object under the prefix (DeleteObjects
in batches of 1,000).

Options:
  -r, --recursive      delete every object under the prefix (key/ is added if missing)

${GLOBAL_HELP}

Examples:
  s3lync rm s3://bucket/reports/old.csv
  s3lync rm --recursive s3://bucket/tmp/`,
  cat: `${USAGE.cat}

Streams an object to stdout (nothing is written to disk), then checks its size and,
where the server says, its MD5.

${GLOBAL_HELP}

Examples:
  s3lync cat s3://bucket/config.json
  s3lync cat s3://bucket/logs/today.log | grep ERROR`,
};

/**
 * Parses `argv` (without `node` and the script).
 *
 * @throws {UsageError} for bad usage, with a one-line message.
 */
export function parseCli(argv: readonly string[]): CliCommand {
  let parsed;
  try {
    parsed = parseRaw(argv);
  } catch (error) {
    throw usageFromParseArgs(error, commandIn(argv));
  }
  const { values, positionals, tokens } = parsed;
  const [first, ...args] = positionals;
  if (values.version === true) return { kind: 'version' };
  if (first === undefined) {
    if (values.help === true) return { kind: 'help', topic: undefined };
    throw new UsageError('missing command');
  }
  if (first === 'help') {
    const topic = args[0];
    if (topic === undefined) return { kind: 'help', topic: undefined };
    return { kind: 'help', topic: commandName(topic) };
  }
  const command = commandName(first);
  if (values.help === true) return { kind: 'help', topic: command };

  const allowed = new Set([
    ...Object.keys(GLOBAL_OPTIONS),
    ...Object.keys(COMMAND_OPTIONS[command]),
  ]);
  for (const token of tokens) {
    if (token.kind === 'option' && !allowed.has(token.name)) {
      throw new UsageError(`${command} does not take ${token.rawName}`, command);
    }
  }
  const global = globalOptions(values, command);
  switch (command) {
    case 'cp':
    case 'sync':
      return { kind: command, global, transfer: transferArgs(command, args, values, global) };
    case 'ls':
      return {
        kind: 'ls',
        global,
        uri: s3Arg(command, args, global.endpoint, { allowBucketOnly: true }),
        recursive: values.recursive === true,
      };
    case 'rm': {
      const recursive = values.recursive === true;
      const uri = s3Arg(command, args, global.endpoint);
      if (!recursive && uri.endsWith('/')) {
        throw new UsageError(
          `rm: ${redactRawUri(uri)} names a prefix; add --recursive to delete everything under it`,
          command,
        );
      }
      return { kind: 'rm', global, uri, recursive };
    }
    case 'cat': {
      const uri = s3Arg(command, args, global.endpoint);
      if (uri.endsWith('/')) {
        throw new UsageError(`cat: ${redactRawUri(uri)} names a prefix, not an object`, command);
      }
      return { kind: 'cat', global, uri };
    }
  }
}

function parseRaw(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: ALL_OPTIONS,
    allowPositionals: true,
    strict: true,
    tokens: true,
  });
}

type Values = ReturnType<typeof parseRaw>['values'];

function commandIn(argv: readonly string[]): CommandName | undefined {
  const first = argv.find((a) => !a.startsWith('-'));
  return (COMMANDS as readonly string[]).includes(first ?? '') ? (first as CommandName) : undefined;
}

function commandName(word: string): CommandName {
  if ((COMMANDS as readonly string[]).includes(word)) return word as CommandName;
  throw new UsageError(
    `unknown command ${JSON.stringify(redactRawUri(word))}; expected one of ${COMMANDS.join(', ')}`,
  );
}

function usageFromParseArgs(error: unknown, command: CommandName | undefined): unknown {
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e.code !== 'string' || !e.code.startsWith('ERR_PARSE_ARGS')) return error;
  const message = String(e.message);
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1] ?? message;
    return new UsageError(`unknown option ${option}`, command);
  }
  // "Option '--exclude <value>' argument missing", "Option '--json' does not take an argument"
  return new UsageError(message.replace(/^Option '([^']+)'/, '$1:').replace(/\.$/, ''), command);
}

function globalOptions(values: Values, command: CommandName): GlobalOptions {
  const json = values.json === true;
  const quiet = values.quiet === true;
  let progress: ProgressMode = json || quiet ? 'disabled' : 'progress';
  if (values.progress !== undefined) {
    try {
      progress = validateProgressMode(values.progress, '--progress');
    } catch {
      throw new UsageError(
        `--progress must be one of ${PROGRESS_MODES.join(', ')}, got ${JSON.stringify(values.progress)}`,
        command,
      );
    }
  }
  return {
    endpoint: values.endpoint === undefined ? undefined : endpointUrl(values.endpoint, command),
    profile: nonEmpty(values.profile, '--profile', command),
    region: nonEmpty(values.region, '--region', command),
    progress,
    json,
    quiet,
    debug: values.debug === true,
  };
}

function nonEmpty(
  value: string | undefined,
  option: string,
  command: CommandName,
): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw new UsageError(`${option} must not be empty`, command);
  return value;
}

/**
 * Checks an `--endpoint` value: `http(s)://host[:port]`, or a bare `host[:port]` (https).
 * A path, credentials or spaces are refused.
 */
export function endpointUrl(value: string, command?: CommandName): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  const match = /^(https?):\/\/([^/@\s?#]+)\/?$/i.exec(withScheme);
  if (match === null) {
    throw new UsageError(
      `--endpoint must be http://host[:port] or https://host[:port], got ${JSON.stringify(redactRawUri(value))}`,
      command,
    );
  }
  return `${(match[1] ?? 'https').toLowerCase()}://${match[2] ?? ''}`;
}

/** Whether an argument is meant as a URL (`s3://`, or a mistyped `http://`, `gs://`...). */
function hasScheme(arg: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(arg);
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
    return parseS3Uri(uri);
  } catch (error) {
    if (!(error instanceof InvalidUriError)) throw error;
    if (allowBucketOnly) {
      try {
        const probe = parseS3Uri(`${uri.replace(/\/$/, '')}/_`);
        if (probe.key === '_') return { ...probe, key: '' };
      } catch {
        // the original error says more
      }
    }
    throw new UsageError(error.message.split('\n')[0] ?? error.message, command);
  }
}

function s3Arg(
  command: CommandName,
  args: readonly string[],
  endpoint: string | undefined,
  options: { allowBucketOnly?: boolean } = {},
): string {
  if (args.length !== 1) {
    throw new UsageError(
      args.length === 0
        ? `${command} needs an s3:// URI`
        : `${command} takes one s3:// URI, got ${args.length} arguments`,
      command,
    );
  }
  const uri = args[0] ?? '';
  if (!uri.startsWith('s3://')) {
    throw new UsageError(
      `${command} needs an s3:// URI, got ${JSON.stringify(redactRawUri(uri))}`,
      command,
    );
  }
  const allowBucketOnly = options.allowBucketOnly === true;
  const full = withEndpoint(uri, endpoint, command);
  const parsed = parseUri(full, command, allowBucketOnly);
  if (!allowBucketOnly && parsed.key === '')
    throw new UsageError(`${command} needs a key`, command);
  return full;
}

function transferArgs(
  command: 'cp' | 'sync',
  args: readonly string[],
  values: Values,
  global: GlobalOptions,
): TransferArgs {
  if (args.length !== 2) {
    throw new UsageError(
      `${command} takes a source and a destination, got ${args.length} argument${args.length === 1 ? '' : 's'}`,
      command,
    );
  }
  const [source = '', destination = ''] = args;
  for (const arg of [source, destination]) {
    if (hasScheme(arg) && !arg.startsWith('s3://')) {
      throw new UsageError(
        `${JSON.stringify(redactRawUri(arg))}: only s3:// URIs and local paths are supported`,
        command,
      );
    }
    if (arg === '') throw new UsageError(`${command}: an empty path`, command);
  }
  const srcS3 = source.startsWith('s3://');
  const dstS3 = destination.startsWith('s3://');
  if (srcS3 && dstS3) {
    throw new UsageError(
      `${command} between two S3 locations is not supported; one side must be a local path`,
      command,
    );
  }
  if (!srcS3 && !dstS3) {
    throw new UsageError(`${command} needs one s3:// side; both are local paths`, command);
  }
  const remote = srcS3 ? source : destination;
  const uri = withEndpoint(remote, global.endpoint, command);
  const parsed = parseUri(uri, command);
  const problem = lastSegmentProblem(parsed.key);
  if (problem !== undefined) {
    throw new UsageError(
      `${command}: ${redactRawUri(remote)}: ${problem}, so it cannot name a local file or directory`,
      command,
    );
  }
  const mirror = values.delete === true;
  let maxDelete: number | undefined;
  if (values['max-delete'] !== undefined) {
    if (!mirror) throw new UsageError('--max-delete needs --delete', command);
    maxDelete = nonNegativeInt(values['max-delete'], '--max-delete', command);
  }
  const excludes = values.exclude ?? [];
  for (const pattern of excludes) {
    try {
      new RegExp(pattern);
    } catch (error) {
      throw new UsageError(
        `--exclude ${JSON.stringify(pattern)} is not a valid regular expression: ${(error as Error).message}`,
        command,
      );
    }
  }
  let concurrency: number | undefined;
  if (values.concurrency !== undefined) {
    try {
      concurrency = parsePositiveInt(values.concurrency, '--concurrency');
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new UsageError(
        `--concurrency must be an integer >= 1, got ${JSON.stringify(values.concurrency)}`,
        command,
      );
    }
  }
  const shown = formatS3Uri(parsed);
  return {
    direction: srcS3 ? 'download' : 'upload',
    uri,
    localPath: srcS3 ? destination : source,
    source: srcS3 ? shown : source,
    destination: srcS3 ? destination : shown,
    dryRun: values['dry-run'] === true,
    useChecksum: values['no-checksum'] !== true,
    excludes,
    defaultExcludes: values['no-default-excludes'] !== true,
    concurrency,
    mirror,
    maxDelete,
  };
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

function nonNegativeInt(value: string, option: string, command: CommandName): number {
  if (!/^\s*\d+\s*$/.test(value)) {
    throw new UsageError(
      `${option} must be an integer >= 0, got ${JSON.stringify(value)}`,
      command,
    );
  }
  return Number(value);
}
