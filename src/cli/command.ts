/**
 * What a parsed `s3lync` command line is: the commands, their options, and the error for
 * bad usage. Plain data, shared by the parser, the help, the formatting and the runner.
 *
 * @packageDocumentation
 */
import { S3lyncError } from '../exceptions.js';
import type { PathFilter } from '../excludes.js';
import type { ProgressMode } from '../progress.js';
import type { Direction } from '../result.js';
import type { ComparableParam } from '../param-compare.js';
import type { UploadParams } from '../upload-params.js';

/** Where `--sse-c-key` says the SSE-C key is: a file, or an environment variable. */
export type KeySource = { file: string } | { env: string };

/** The commands. */
export type CommandName = 'cp' | 'sync' | 'mv' | 'check' | 'ls' | 'rm' | 'cat' | 'cache';

/** Every {@link CommandName}, in the order the help lists them. */
export const COMMANDS: readonly CommandName[] = [
  'cp',
  'sync',
  'mv',
  'check',
  'ls',
  'rm',
  'cat',
  'cache',
];

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
  /** `--sse-c-key` (cp, sync, cat): where the SSE-C key is read from. */
  sseCustomerKey?: KeySource;
}

/** What `cp` and `sync` do. */
export interface TransferArgs {
  /** `download` when the source is the `s3://` side, else `upload`. */
  direction: Direction;
  /** The `s3://` side, with `--endpoint` applied. */
  uri: string;
  /** The local side, as given (`''` when both sides are S3). */
  localPath: string;
  /** S3 → S3: the destination's `s3://` URI, with `--endpoint` applied; `uri` is the source. */
  target?: string | undefined;
  /** The source as given (redacted), for messages. */
  source: string;
  /** The destination as given (redacted), for messages. */
  destination: string;
  /** `--dry-run`. */
  dryRun: boolean;
  /** Not `--no-checksum`. */
  useChecksum: boolean;
  /** `--exclude`/`--include` globs, in the order given (`aws s3` semantics). */
  filters: PathFilter[];
  /** `--exclude-regex`, in order. */
  excludeRegexes: string[];
  /** The object parameters of uploads (`--content-type`, `--metadata`, `--sse`, …), checked. */
  uploadParams: UploadParams | undefined;
  /** Not `--no-guess-mime-type`. */
  guessContentType: boolean;
  /** `--compare-params`: parameters compared with a HEAD of each unchanged object. */
  compareParams: readonly ComparableParam[] | undefined;
  /** Not `--no-default-excludes`. */
  defaultExcludes: boolean;
  /** `--concurrency`. */
  concurrency: number | undefined;
  /** `--delete` (sync only). */
  mirror: boolean;
  /** `--max-delete` (sync only). */
  maxDelete: number | undefined;
  /** `--follow-symlinks` (true) or `--no-follow-symlinks` (false), the last given; else the library's default. */
  followSymlinks: boolean | undefined;
}

/** What `cache ls|prune|clear` does. */
export type CacheArgs =
  | { action: 'ls' }
  | {
      action: 'prune';
      /** `--max-size`, in bytes. */
      maxSize: number | undefined;
      /** `--older-than`, in ms. */
      olderThan: number | undefined;
      dryRun: boolean;
    }
  | {
      action: 'clear';
      /** The `s3://bucket[/prefix]` to clear; `undefined`: all of it. */
      uri: string | undefined;
      dryRun: boolean;
    };

/** A parsed command line. */
export type CliCommand =
  | { kind: 'help'; topic: CommandName | undefined }
  | { kind: 'version' }
  | { kind: 'cp' | 'sync' | 'mv' | 'check'; global: GlobalOptions; transfer: TransferArgs }
  | { kind: 'ls'; global: GlobalOptions; uri: string; recursive: boolean }
  | { kind: 'rm'; global: GlobalOptions; uri: string; recursive: boolean }
  | { kind: 'cat'; global: GlobalOptions; uri: string }
  | { kind: 'cache'; global: GlobalOptions; cache: CacheArgs };

/** A command line that runs something against S3 (not help or the version). */
export type RunCommand = Exclude<CliCommand, { kind: 'help' | 'version' }>;
