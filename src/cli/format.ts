/**
 * What the `s3lync` command line prints: summaries, dry-run plans, listings and errors,
 * as text and as JSON. Pure (strings in, strings out), so every format is unit tested.
 *
 * @packageDocumentation
 */
import path from 'node:path';
import { inspect } from 'node:util';

import { formatBytes } from '../utils.js';
import type { SyncFailure, Direction, SkippedEntry, SyncAction, SyncResult } from '../result.js';
import type { TransferArgs } from './command.js';

/** A failed file, as the summary shows it. */
export interface FailedFile {
  /** The path relative to the sync root (the file name for a single object). */
  path: string;
  /** The error's message (one line, secret redacted). */
  error: string;
}

/** The summary of `cp` and `sync`: what `--json` prints, and what the text summary says. */
export interface TransferSummary {
  /** `cp` or `sync`. */
  command: 'cp' | 'sync';
  /** Whether every file succeeded. */
  ok: boolean;
  /** Which way the files went. */
  direction: Direction;
  /** The source (an S3 URI with the secret redacted, or the local path as given). */
  source: string;
  /** The destination, likewise. */
  destination: string;
  /** Whether this was a dry run: the counts are then what would be done. */
  dryRun: boolean;
  /** Files transferred (would be, in a dry run). */
  transferred: number;
  /** Files skipped because they are unchanged. */
  skipped: number;
  /** Files deleted (would be, in a dry run) by `sync --delete`. */
  deleted: number;
  /** Files that failed, with why. */
  failed: FailedFile[];
  /** Entries left alone on purpose (a link out of the root, a FIFO...), each with why. */
  warnings: SkippedEntry[];
  /** Bytes transferred (would be, in a dry run). */
  bytes: number;
  /** Wall time in ms. */
  durationMs: number;
  /** With `--dry-run`: each planned transfer and deletion. */
  actions?: SyncAction[];
}

/** The first line of an error's message. */
export function errorMessage(error: unknown): string {
  const message =
    error instanceof Error ? error.message : typeof error === 'string' ? error : inspect(error);
  return message.split('\n')[0] ?? message;
}

/** The summary of a sync, from its result and failures. */
export function transferSummary(
  command: 'cp' | 'sync',
  args: Pick<TransferArgs, 'direction' | 'source' | 'destination'>,
  result: SyncResult,
  failures: readonly SyncFailure[],
): TransferSummary {
  const summary: TransferSummary = {
    command,
    ok: failures.length === 0,
    direction: args.direction,
    source: args.source,
    destination: args.destination,
    dryRun: result.dryRun,
    transferred: result.transferred,
    skipped: result.unchanged,
    deleted: result.deleted,
    failed: failures.map((f) => ({ path: f.path, error: errorMessage(f.error) })),
    warnings: result.skipped,
    bytes: result.bytes,
    durationMs: result.durationMs,
  };
  if (result.dryRun) {
    const transfers = result.actions.filter((a) => a.op !== 'delete');
    summary.transferred = transfers.length;
    summary.deleted = result.actions.length - transfers.length;
    summary.bytes = transfers.reduce((n, a) => n + a.size, 0);
    summary.actions = result.actions;
  }
  return summary;
}

/** `1 file`, `2 files`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `0.42 s`, `12.3 s`, `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The one-line human summary of `cp` and `sync`. */
export function formatSummary(s: TransferSummary): string {
  const bytes = formatBytes(s.bytes);
  if (s.dryRun) {
    return `Dry run: would transfer ${plural(s.transferred, 'file')} (${bytes}) and delete ${s.deleted}; ${s.skipped} unchanged. Nothing was changed.`;
  }
  const parts = [
    `${plural(s.transferred, 'file')} transferred (${bytes})`,
    `${s.skipped} skipped (unchanged)`,
    `${s.deleted} deleted`,
  ];
  if (s.warnings.length > 0) parts.push(`${s.warnings.length} left alone (see the warnings)`);
  if (s.failed.length > 0) parts.push(`${s.failed.length} failed`);
  return `${s.failed.length > 0 ? 'Failed' : 'Done'}: ${parts.join(', ')} in ${formatDuration(s.durationMs)}`;
}

/** Where the files of a sync live, for showing its actions. */
export interface ActionPlaces {
  /** The bucket. */
  bucket: string;
  /** Whether the sync was of a tree (paths are then relative to `local`). */
  tree: boolean;
  /** The local file or directory, as shown. */
  local: string;
}

/**
 * One action as a line: `download: s3://bucket/key -> local (reason)`,
 * `delete: local (not-in-source)`; `(dry run) ` first for a plan.
 */
export function formatAction(action: SyncAction, places: ActionPlaces, dryRun: boolean): string {
  const remote = `s3://${places.bucket}/${action.key}`;
  const local = places.tree ? path.join(places.local, ...action.path.split('/')) : places.local;
  const head = dryRun ? '(dry run) ' : '';
  switch (action.op) {
    case 'download':
      return `${head}download: ${remote} -> ${local} (${action.reason})`;
    case 'upload':
      return `${head}upload: ${local} -> ${remote} (${action.reason})`;
    case 'copy':
      // `local` is the source's URI here, a prefix ending with "/" for a tree.
      return `${head}copy: ${places.tree ? places.local + action.path : places.local} -> ${remote} (${action.reason})`;
    case 'delete':
      return `${head}delete: ${action.side === 'remote' ? remote : local} (${action.reason})`;
  }
}

/** One entry of `ls`. */
export type ListEntry =
  | { type: 'prefix'; name: string }
  | {
      type: 'object';
      /** What `ls` shows: the key relative to the listed level, or the full key with `--recursive`. */
      name: string;
      key: string;
      size: number;
      lastModified: Date | undefined;
      etag: string | undefined;
    };

/** A time as `ls` shows it: UTC, to the second, `2026-11-24T03:40:12Z`. */
export function formatTime(date: Date | undefined): string {
  return date === undefined ? '-'.padEnd(20) : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One `ls` line, as aws-cli lays them out: `PRE dir/` or time, size in bytes, name. */
export function formatListEntry(entry: ListEntry): string {
  if (entry.type === 'prefix') return `${''.padEnd(20)} ${'PRE'.padStart(10)} ${entry.name}`;
  return `${formatTime(entry.lastModified)} ${String(entry.size).padStart(10)} ${entry.name}`;
}

/** An `ls` entry as `--json` shows it. */
export function listEntryJson(entry: ListEntry): Record<string, unknown> {
  if (entry.type === 'prefix') return { type: 'prefix', name: entry.name };
  return {
    type: 'object',
    name: entry.name,
    key: entry.key,
    size: entry.size,
    lastModified: entry.lastModified?.toISOString() ?? null,
    etag: entry.etag ?? null,
  };
}

/**
 * An error as the CLI prints it: `s3lync: <first line>`; with `debug`, the stack and the
 * chain of causes.
 */
export function formatError(error: unknown, debug: boolean): string {
  if (!debug) return `s3lync: ${errorMessage(error)}`;
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const text =
      current instanceof Error
        ? (current.stack ?? `${current.name}: ${current.message}`)
        : inspect(current);
    lines.push(depth === 0 ? `s3lync: ${text}` : `caused by: ${text}`);
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join('\n');
}

/**
 * What to do about missing credentials, when `error` (or a cause of it) is the SDK's
 * `CredentialsProviderError`; otherwise `undefined`.
 */
export function credentialsHint(error: unknown, profile: string | undefined): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current.name === 'CredentialsProviderError') {
      return profile === undefined
        ? '(no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, give --profile, or put them in the URI)'
        : `(no credentials for --profile ${profile}: is it in ~/.aws/credentials or ~/.aws/config?)`;
    }
    current = current.cause;
  }
  return undefined;
}
