/**
 * Where `--sse-c-key` reads the SSE-C key from: a file (`file://PATH`) or an environment
 * variable (`env:NAME`), else `S3LYNC_SSE_C_KEY`. Never the command line itself, which
 * every process list shows; never echoed.
 *
 * @packageDocumentation
 */
import { ConfigError } from '../exceptions.js';
import { readRegularFileSync } from '../local-root.js';
import { CustomerKey } from '../sse-c.js';
import { UsageError, type CommandName, type KeySource } from './command.js';

/** The environment variable the key is read from when `--sse-c-key` is not given. */
export const SSE_C_KEY_ENV = 'S3LYNC_SSE_C_KEY';

/**
 * `--sse-c-key file://PATH` (`fileb://` too, as `aws` spells binary files) or `env:NAME`.
 *
 * @throws {UsageError} for anything else, without repeating it (it may be the key).
 */
export function keySourceArg(value: string, command: CommandName): KeySource {
  const file = /^fileb?:\/\/(.+)$/.exec(value)?.[1];
  if (file !== undefined) return { file };
  const env = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(value)?.[1];
  if (env !== undefined) return { env };
  throw new UsageError(
    `--sse-c-key takes file://PATH or env:NAME (or set ${SSE_C_KEY_ENV}); a key written on the command line would show in every process list`,
    command,
  );
}

/**
 * The key from `source`, else from `S3LYNC_SSE_C_KEY` when set; `undefined` when neither
 * names one. A file holds the 32 bytes, or their base64 (surrounding whitespace ignored).
 *
 * @throws {ConfigError} for a key that is not 256 bits, naming where it came from.
 */
export function readCustomerKey(
  source: KeySource | undefined,
  env: NodeJS.ProcessEnv = process.env,
): CustomerKey | undefined {
  if (source !== undefined && 'file' in source) {
    const data = readRegularFileSync(source.file, 4096);
    if (data === undefined) {
      throw new ConfigError(`--sse-c-key file://${source.file}: the file is too large for a key`);
    }
    const key = data.length === 32 ? data : data.toString('utf8').trim();
    return CustomerKey.of(key, `the key in ${source.file}`);
  }
  const name = source?.env ?? SSE_C_KEY_ENV;
  const value = env[name];
  if (value === undefined || value === '') {
    if (source === undefined) return undefined;
    throw new ConfigError(`--sse-c-key env:${name}: the variable is not set`);
  }
  return CustomerKey.of(value.trim(), `the key in $${name}`);
}
