/** What the command line prints: pure formatting, no process. */
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  credentialsHint,
  errorMessage,
  formatAction,
  formatDuration,
  formatError,
  formatListEntry,
  formatSummary,
  formatTime,
  listEntryJson,
  plural,
  transferSummary,
  type TransferSummary,
} from '../../src/cli/format.js';
import { NotFoundError, SyncError, type SyncAction, type SyncResult } from '../../src/index.js';

function result(overrides: Partial<SyncResult> = {}): SyncResult {
  return {
    direction: 'download',
    dryRun: false,
    tree: true,
    uri: 's3://bucket/data/',
    localPath: '/tmp/data',
    actions: [],
    unchanged: 0,
    transferred: 0,
    deleted: 0,
    failed: 0,
    skipped: [],
    bytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    unverified: 0,
    durationMs: 420,
    ...overrides,
  };
}

const ARGS = { direction: 'download', source: 's3://bucket/data/', destination: './data' } as const;

const download: SyncAction = {
  op: 'download',
  path: 'a/b.txt',
  key: 'data/a/b.txt',
  size: 2048,
  reason: 'missing',
};
const upload: SyncAction = {
  op: 'upload',
  path: 'c.txt',
  key: 'data/c.txt',
  size: 10,
  reason: 'checksum',
};
const deleteLocal: SyncAction = {
  op: 'delete',
  side: 'local',
  path: 'old.txt',
  key: 'data/old.txt',
  size: 5,
  reason: 'not-in-source',
};
const deleteRemote: SyncAction = { ...deleteLocal, side: 'remote' };

describe('transferSummary', () => {
  it('has the documented --json shape, from a SyncResult', () => {
    const summary = transferSummary(
      'sync',
      ARGS,
      result({ transferred: 3, unchanged: 5, deleted: 1, bytes: 1536 }),
      [],
    );
    expect(summary).toEqual({
      command: 'sync',
      ok: true,
      direction: 'download',
      source: 's3://bucket/data/',
      destination: './data',
      dryRun: false,
      transferred: 3,
      skipped: 5,
      deleted: 1,
      failed: [],
      warnings: [],
      bytes: 1536,
      durationMs: 420,
    } satisfies TransferSummary);
  });

  it('lists failures with one-line messages and is not ok', () => {
    const summary = transferSummary('cp', ARGS, result({ transferred: 1, failed: 1 }), [
      { path: 'x.bin', error: new Error('GetObject failed (HTTP 500)\n  more detail') },
    ]);
    expect(summary.ok).toBe(false);
    expect(summary.failed).toEqual([{ path: 'x.bin', error: 'GetObject failed (HTTP 500)' }]);
  });

  it('counts what a dry run would do, and carries its actions', () => {
    const actions = [download, upload, deleteLocal];
    const summary = transferSummary(
      'sync',
      ARGS,
      result({ dryRun: true, actions, unchanged: 7 }),
      [],
    );
    expect(summary).toMatchObject({
      dryRun: true,
      transferred: 2,
      deleted: 1,
      skipped: 7,
      bytes: 2058,
      actions,
    });
  });
});

describe('formatSummary', () => {
  const base = transferSummary('cp', ARGS, result(), []);

  it('says what was done, with sizes and time', () => {
    expect(formatSummary({ ...base, transferred: 3, skipped: 5, deleted: 1, bytes: 1536 })).toBe(
      'Done: 3 files transferred (1.5 KiB), 5 skipped (unchanged), 1 deleted in 0.42 s',
    );
    expect(formatSummary({ ...base, transferred: 1, bytes: 6 })).toBe(
      'Done: 1 file transferred (6 B), 0 skipped (unchanged), 0 deleted in 0.42 s',
    );
  });

  it('says what failed', () => {
    expect(
      formatSummary({
        ...base,
        ok: false,
        transferred: 2,
        failed: [{ path: 'a', error: 'x' }],
      }),
    ).toBe(
      'Failed: 2 files transferred (0 B), 0 skipped (unchanged), 0 deleted, 1 failed in 0.42 s',
    );
  });

  it('says a dry run changed nothing', () => {
    expect(
      formatSummary({ ...base, dryRun: true, transferred: 2, deleted: 1, skipped: 4, bytes: 2048 }),
    ).toBe(
      'Dry run: would transfer 2 files (2.0 KiB) and delete 1; 4 unchanged. Nothing was changed.',
    );
  });
});

describe('formatAction', () => {
  const tree = { bucket: 'bucket', tree: true, local: 'data' };

  it('shows both ends of a transfer and the reason', () => {
    expect(formatAction(download, tree, true)).toBe(
      `(dry run) download: s3://bucket/data/a/b.txt -> ${path.join('data', 'a', 'b.txt')} (missing)`,
    );
    expect(formatAction(upload, tree, false)).toBe(
      `upload: ${path.join('data', 'c.txt')} -> s3://bucket/data/c.txt (checksum)`,
    );
  });

  it('shows the side a deletion happens on', () => {
    expect(formatAction(deleteLocal, tree, true)).toBe(
      `(dry run) delete: ${path.join('data', 'old.txt')} (not-in-source)`,
    );
    expect(formatAction(deleteRemote, tree, false)).toBe(
      'delete: s3://bucket/data/old.txt (not-in-source)',
    );
  });

  it('shows a single file by its own local path', () => {
    const file = { bucket: 'bucket', tree: false, local: './b.txt' };
    expect(formatAction(download, file, false)).toBe(
      'download: s3://bucket/data/a/b.txt -> ./b.txt (missing)',
    );
  });
});

describe('ls lines', () => {
  const when = new Date('2026-11-24T03:40:12.345Z');

  it('lays out prefixes and objects in columns, aws-cli style', () => {
    expect(formatListEntry({ type: 'prefix', name: 'logs/' })).toBe(`${' '.repeat(28)}PRE logs/`);
    expect(
      formatListEntry({
        type: 'object',
        name: 'report.csv',
        key: 'r/report.csv',
        size: 1234,
        lastModified: when,
        etag: 'abc',
      }),
    ).toBe('2026-11-24T03:40:12Z       1234 report.csv');
  });

  it('shows times in UTC to the second, or a dash', () => {
    expect(formatTime(when)).toBe('2026-11-24T03:40:12Z');
    expect(formatTime(undefined)).toBe('-'.padEnd(20));
  });

  it('gives JSON entries', () => {
    expect(listEntryJson({ type: 'prefix', name: 'logs/' })).toEqual({
      type: 'prefix',
      name: 'logs/',
    });
    expect(
      listEntryJson({
        type: 'object',
        name: 'a',
        key: 'p/a',
        size: 1,
        lastModified: when,
        etag: undefined,
      }),
    ).toEqual({
      type: 'object',
      name: 'a',
      key: 'p/a',
      size: 1,
      lastModified: '2026-11-24T03:40:12.345Z',
      etag: null,
    });
  });
});

describe('errors', () => {
  it('are one line without --debug', () => {
    const error = new SyncError('download s3://b/p/: 2 file(s) failed:\n  a: x\n  b: y', []);
    expect(formatError(error, false)).toBe('s3lync: download s3://b/p/: 2 file(s) failed:');
    expect(formatError('plain', false)).toBe('s3lync: plain');
    expect(errorMessage({ code: 1 })).toBe('{ code: 1 }');
  });

  it('carry the stack and the causes with --debug', () => {
    const cause = new Error('socket hang up');
    const error = new NotFoundError('HeadObject s3://b/k failed (HTTP 404)', { cause });
    const text = formatError(error, true);
    expect(text).toMatch(
      /^s3lync: NotFoundError: HeadObject s3:\/\/b\/k failed \(HTTP 404\)\n\s+at /,
    );
    expect(text).toMatch(/\ncaused by: Error: socket hang up\n\s+at /);
  });
});

describe('credentialsHint', () => {
  const missing = Object.assign(new Error('Could not load credentials from any providers'), {
    name: 'CredentialsProviderError',
  });
  const wrapped = new NotFoundError('GetObject s3://b/k failed (no response)', { cause: missing });

  it('says where credentials come from when the SDK found none', () => {
    expect(credentialsHint(wrapped, undefined)).toBe(
      '(no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, give --profile, or put them in the URI)',
    );
    expect(credentialsHint(missing, 'dev')).toBe(
      '(no credentials for --profile dev: is it in ~/.aws/credentials or ~/.aws/config?)',
    );
  });

  it('stays quiet for other errors', () => {
    expect(credentialsHint(new Error('x', { cause: new Error('y') }), 'dev')).toBeUndefined();
    expect(credentialsHint('text', undefined)).toBeUndefined();
  });
});

describe('small formats', () => {
  it('plural and durations', () => {
    expect(plural(1, 'object')).toBe('1 object');
    expect(plural(0, 'object')).toBe('0 objects');
    expect(formatDuration(420)).toBe('0.42 s');
    expect(formatDuration(12_345)).toBe('12.3 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
  });
});
