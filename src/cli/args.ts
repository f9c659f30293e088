/**
 * The `s3lync` command line's arguments: parsed with `node:util` `parseArgs`, checked, and
 * turned into a plain description of what to run ({@link CliCommand}). Pure (no I/O), so
 * every rule is unit tested without a process.
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';

import { parseDuration, parseSize } from '../cache/policy.js';
import { parsePositiveInt } from '../config.js';
import { ConfigError } from '../exceptions.js';
import { PROGRESS_MODES, validateProgressMode, type ProgressMode } from '../progress.js';
import { formatS3Uri, redactRawUri } from '../utils.js';
import {
  COMMANDS,
  UsageError,
  type CacheArgs,
  type CliCommand,
  type CommandName,
  type GlobalOptions,
  type TransferArgs,
} from './command.js';
import { endpointUrl, hasScheme, lastSegmentProblem, parseUri, withEndpoint } from './locations.js';
import { keySourceArg } from './sse-c-key.js';
import { UPLOAD_FLAG_OPTIONS, uploadFlags } from './upload-flags.js';

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
  'sse-c-key': { type: 'string' },
  'follow-symlinks': { type: 'boolean' },
  'no-follow-symlinks': { type: 'boolean' },
  ...UPLOAD_FLAG_OPTIONS,
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
  mv: TRANSFER_OPTIONS,
  check: {
    'no-default-excludes': { type: 'boolean' },
    exclude: { type: 'string', multiple: true },
    include: { type: 'string', multiple: true },
    'exclude-regex': { type: 'string', multiple: true },
    concurrency: { type: 'string' },
  },
  ls: { recursive: { type: 'boolean', short: 'r' } },
  rm: { recursive: { type: 'boolean', short: 'r' } },
  cat: { 'sse-c-key': { type: 'string' } },
  cache: {
    'max-size': { type: 'string' },
    'older-than': { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
} as const;

const ALL_OPTIONS = {
  ...GLOBAL_OPTIONS,
  ...COMMAND_OPTIONS.sync,
  ...COMMAND_OPTIONS.ls,
  ...COMMAND_OPTIONS.cache,
} as const;

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
  return commandArgs(command, args, values, tokens, globalOptions(values, command));
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
type Tokens = ReturnType<typeof parseRaw>['tokens'];

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

/** The command's own arguments, checked, once the options are known to be its own. */
function commandArgs(
  command: CommandName,
  args: readonly string[],
  values: Values,
  tokens: Tokens,
  global: GlobalOptions,
): CliCommand {
  switch (command) {
    case 'cp':
    case 'sync':
    case 'mv':
    case 'check':
      return {
        kind: command,
        global,
        transfer: transferArgs(command, args, values, tokens, global),
      };
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
    case 'cache':
      return { kind: 'cache', global, cache: cacheArgs(args, values) };
  }
}

/** `cache ls`, `cache prune [--max-size S] [--older-than AGE]`, `cache clear [s3://...]`. */
function cacheArgs(args: readonly string[], values: Values): CacheArgs {
  const [action, ...rest] = args;
  const dryRun = values['dry-run'] === true;
  const only = (allowed: string[]): void => {
    for (const flag of ['max-size', 'older-than', 'dry-run'] as const) {
      if (values[flag] !== undefined && !allowed.includes(flag)) {
        throw new UsageError(`cache ${action ?? ''} does not take --${flag}`, 'cache');
      }
    }
    const most = action === 'clear' ? 1 : 0;
    if (rest.length > most) {
      throw new UsageError(
        `cache ${action ?? ''}: unexpected ${JSON.stringify(rest[most])}`,
        'cache',
      );
    }
  };
  switch (action) {
    case 'ls':
      only([]);
      return { action };
    case 'prune': {
      only(['max-size', 'older-than', 'dry-run']);
      const setting = <T>(
        flag: string,
        value: string | undefined,
        parse: (v: string, s: string) => T,
      ): T | undefined => {
        if (value === undefined) return undefined;
        try {
          return parse(value, flag);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          throw new UsageError(error.message, 'cache');
        }
      };
      return {
        action,
        maxSize: setting('--max-size', values['max-size'], parseSize),
        olderThan: setting('--older-than', values['older-than'], parseDuration),
        dryRun,
      };
    }
    case 'clear': {
      only(['dry-run']);
      const uri = rest[0];
      if (uri !== undefined && !uri.startsWith('s3://')) {
        throw new UsageError(
          `cache clear takes an s3:// URI, got ${JSON.stringify(redactRawUri(uri))}`,
          'cache',
        );
      }
      if (uri !== undefined) parseUri(uri, 'cache', true);
      return { action, uri, dryRun };
    }
    default:
      throw new UsageError(
        action === undefined
          ? 'cache needs ls, prune or clear'
          : `unknown cache command ${JSON.stringify(action)}; expected ls, prune or clear`,
        'cache',
      );
  }
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
    ...(values['sse-c-key'] !== undefined && {
      sseCustomerKey: keySourceArg(values['sse-c-key'], command),
    }),
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
  command: 'cp' | 'sync' | 'mv' | 'check',
  args: readonly string[],
  values: Values,
  tokens: Tokens,
  global: GlobalOptions,
): TransferArgs {
  const { source, destination, srcS3, dstS3 } = transferSides(command, args);
  const remote = srcS3 ? source : destination;
  const target = srcS3 && dstS3 ? s3Arg(command, [destination], global.endpoint, {}) : undefined;
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
  const concurrency =
    values.concurrency === undefined ? undefined : concurrencyOption(values.concurrency, command);
  const shown = formatS3Uri(parsed);
  return {
    direction: srcS3 ? 'download' : 'upload',
    uri,
    target,
    localPath: target !== undefined ? '' : srcS3 ? destination : source,
    source: srcS3 ? shown : source,
    destination:
      target !== undefined ? formatS3Uri(parseUri(target, command)) : srcS3 ? destination : shown,
    dryRun: values['dry-run'] === true,
    useChecksum: values['no-checksum'] !== true,
    ...uploadFlags(values, tokens, command, !srcS3),
    defaultExcludes: values['no-default-excludes'] !== true,
    concurrency,
    mirror,
    maxDelete,
    followSymlinks: followSymlinks(tokens),
  };
}

/** `--follow-symlinks`/`--no-follow-symlinks`: the last one given; `undefined` for neither. */
function followSymlinks(tokens: Tokens): boolean | undefined {
  let follow: boolean | undefined;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'follow-symlinks') follow = true;
    if (t.name === 'no-follow-symlinks') follow = false;
  }
  return follow;
}

/** The source and the destination of `cp`/`sync`: exactly one of them `s3://`. */
function transferSides(
  command: 'cp' | 'sync' | 'mv' | 'check',
  args: readonly string[],
): { source: string; destination: string; srcS3: boolean; dstS3: boolean } {
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
  if (!srcS3 && !dstS3) {
    throw new UsageError(`${command} needs one s3:// side; both are local paths`, command);
  }
  return { source, destination, srcS3, dstS3 };
}

function concurrencyOption(value: string, command: CommandName): number {
  try {
    return parsePositiveInt(value, '--concurrency');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new UsageError(
      `--concurrency must be an integer >= 1, got ${JSON.stringify(value)}`,
      command,
    );
  }
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
