/**
 * The upload and filter flags of `cp`/`sync`: `--exclude`/`--include` globs in the order
 * given, `--exclude-regex`, and the object parameters (`--content-type`, `--metadata`,
 * `--sse`, …) as `uploadParams`, checked by the library's own rules. Pure.
 *
 * @packageDocumentation
 */
import { ConfigError } from '../exceptions.js';
import type { PathFilter } from '../excludes.js';
import { checkCompareParams, COMPARABLE_PARAMS, type ComparableParam } from '../param-compare.js';
import { checkUploadParams } from '../upload-params-check.js';
import type { UploadParams } from '../upload-params.js';
import { UsageError, type CommandName } from './command.js';

/** The flags of this module, for `parseArgs`. */
export const UPLOAD_FLAG_OPTIONS = {
  exclude: { type: 'string', multiple: true },
  include: { type: 'string', multiple: true },
  'exclude-regex': { type: 'string', multiple: true },
  'content-type': { type: 'string' },
  'no-guess-mime-type': { type: 'boolean' },
  'cache-control': { type: 'string' },
  'content-encoding': { type: 'string' },
  'content-disposition': { type: 'string' },
  metadata: { type: 'string', multiple: true },
  sse: { type: 'string' },
  'sse-kms-key-id': { type: 'string' },
  'storage-class': { type: 'string' },
  acl: { type: 'string' },
  'compare-params': { type: 'string' },
} as const;

/** Each flag that sets an upload parameter, and the parameter. */
const PARAM_FLAGS = {
  'content-type': 'ContentType',
  'cache-control': 'CacheControl',
  'content-encoding': 'ContentEncoding',
  'content-disposition': 'ContentDisposition',
  sse: 'ServerSideEncryption',
  'sse-kms-key-id': 'SSEKMSKeyId',
  'storage-class': 'StorageClass',
  acl: 'ACL',
} as const satisfies Partial<Record<keyof typeof UPLOAD_FLAG_OPTIONS, keyof UploadParams>>;

/** What these flags say, parsed. */
export interface UploadFlags {
  /** `--exclude`/`--include`, in the order given. */
  filters: PathFilter[];
  /** `--exclude-regex`, in order. */
  excludeRegexes: string[];
  /** The object parameters; `undefined` when no flag sets one. */
  uploadParams: UploadParams | undefined;
  /** Not `--no-guess-mime-type`. */
  guessContentType: boolean;
  /** `--compare-params`: parameters compared with a HEAD of each unchanged object. */
  compareParams: readonly ComparableParam[] | undefined;
}

interface Token {
  kind: string;
  name?: string;
  value?: string | undefined;
}

type FlagValues = { [K in keyof typeof UPLOAD_FLAG_OPTIONS]?: unknown };

/**
 * Reads the upload and filter flags. `tokens` give the order of `--exclude` and
 * `--include` (the later one wins where both match).
 *
 * @throws {UsageError} for a bad value, or a parameter flag on a download.
 */
export function uploadFlags(
  values: FlagValues,
  tokens: readonly Token[],
  command: CommandName,
  upload: boolean,
): UploadFlags {
  const filters: PathFilter[] = [];
  for (const t of tokens) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    if (t.name === 'exclude') filters.push({ exclude: t.value });
    if (t.name === 'include') filters.push({ include: t.value });
  }
  const params: Record<string, unknown> = {};
  const given: string[] = [];
  for (const [flag, field] of Object.entries(PARAM_FLAGS)) {
    const value = values[flag as keyof typeof PARAM_FLAGS];
    if (value === undefined) continue;
    params[field] = value;
    given.push(`--${flag}`);
  }
  const metadata = values.metadata as string[] | undefined;
  if (metadata !== undefined) {
    params.Metadata = Object.assign({}, ...metadata.map((m) => metadataArg(m, command)));
    given.push('--metadata');
  }
  const guess = values['no-guess-mime-type'] !== true;
  if (!guess) given.push('--no-guess-mime-type');
  const compare = values['compare-params'] as string | undefined;
  if (compare !== undefined) given.push('--compare-params');
  if (!upload && given.length > 0) {
    throw new UsageError(`${given.join(', ')}: only an upload sets object parameters`, command);
  }
  return {
    filters,
    excludeRegexes: regexes((values['exclude-regex'] as string[] | undefined) ?? [], command),
    uploadParams: Object.keys(params).length === 0 ? undefined : checked(params, command),
    guessContentType: guess,
    compareParams: compare === undefined ? undefined : compareArg(compare, command),
  };
}

/** The parameters checked as the library checks them, a refusal as a usage error. */
function checked(params: Record<string, unknown>, command: CommandName): UploadParams {
  try {
    checkUploadParams(params, 'the command line');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const flag = (field: string): string =>
      field === 'Metadata'
        ? '--metadata'
        : `--${Object.entries(PARAM_FLAGS).find(([, f]) => f === field)?.[0] ?? field}`;
    throw new UsageError(
      error.message.replace(/`([A-Za-z]+)(\.[^`]*)?`/g, (_m, field: string) => flag(field)),
      command,
    );
  }
  return params;
}

/** `--metadata k=v,k2=v2`, or a JSON object as `aws s3` also takes. */
function metadataArg(value: string, command: CommandName): Record<string, string> {
  if (value.trimStart().startsWith('{')) {
    try {
      return JSON.parse(value) as Record<string, string>;
    } catch {
      throw new UsageError(`--metadata ${JSON.stringify(value)} is not valid JSON`, command);
    }
  }
  const out: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(
        `--metadata takes key=value[,key=value...] or a JSON object, got ${JSON.stringify(value)}`,
        command,
      );
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** `--compare-params ContentType,CacheControl,...`, checked as the library checks it. */
function compareArg(value: string, command: CommandName): readonly ComparableParam[] {
  const names = value.split(',').map((n) => n.trim());
  try {
    return checkCompareParams(names, 'compareParams');
  } catch {
    throw new UsageError(
      `--compare-params takes a comma-separated list of ${COMPARABLE_PARAMS.join(', ')}, got ${JSON.stringify(value)}`,
      command,
    );
  }
}

/** `--exclude-regex` patterns, each a valid regular expression. */
function regexes(patterns: string[], command: CommandName): string[] {
  for (const pattern of patterns) {
    try {
      new RegExp(pattern);
    } catch (error) {
      throw new UsageError(
        `--exclude-regex ${JSON.stringify(pattern)} is not a valid regular expression: ${(error as Error).message}`,
        command,
      );
    }
  }
  return patterns;
}
