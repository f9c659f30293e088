/**
 * What every command runs with: its global options, where it writes, the signal that
 * Ctrl-C aborts, and the one way it opens an {@link S3Object} with those options.
 *
 * @packageDocumentation
 */
import { S3Object, type S3ObjectOptions } from '../core.js';
import type { GlobalOptions } from './command.js';
import { readCustomerKey } from './sse-c-key.js';
import type { Output } from './output.js';

/** What a running command is given besides its own arguments. */
export interface CommandContext {
  /** The options every command takes. */
  global: GlobalOptions;
  /** Where the command writes. */
  out: Output;
  /** Aborted on Ctrl-C: transfers in flight are cancelled. */
  signal: AbortSignal;
}

/**
 * An {@link S3Object} for `uri`, with the global `--progress` and `--region` applied, and
 * the SSE-C key of `--sse-c-key` or `S3LYNC_SSE_C_KEY`.
 */
export function objectFor(uri: string, global: GlobalOptions, options: S3ObjectOptions): S3Object {
  const key = readCustomerKey(global.sseCustomerKey);
  return new S3Object(uri, {
    progressMode: global.progress,
    ...(global.region !== undefined && { region: global.region }),
    ...(key !== undefined && { sseCustomerKey: key.fields.SSECustomerKey }),
    ...options,
  });
}
