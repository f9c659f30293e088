/** The upload and filter flags of `cp`/`sync`: parsed, checked, refused as usage errors. */
import { describe, expect, it } from 'vitest';

import { parseCli } from '../../src/cli/args.js';
import { UsageError, type TransferArgs } from '../../src/cli/command.js';

function transfer(argv: string[]): TransferArgs {
  const cmd = parseCli(argv);
  if (cmd.kind !== 'cp' && cmd.kind !== 'sync') throw new Error(`not a transfer: ${cmd.kind}`);
  return cmd.transfer;
}

function usage(argv: string[]): UsageError {
  try {
    parseCli(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('--exclude / --include', () => {
  it('keeps globs in the order given, across both flags and their = forms', () => {
    const t = transfer([
      'sync',
      '--exclude',
      '*',
      './a',
      '--include=*.txt',
      's3://bkt/p/',
      '--exclude',
      'bar.txt',
      '--exclude-regex',
      '\\.tmp$',
    ]);
    expect(t.filters).toEqual([{ exclude: '*' }, { include: '*.txt' }, { exclude: 'bar.txt' }]);
    expect(t.excludeRegexes).toEqual(['\\.tmp$']);
  });

  it('applies to downloads too', () => {
    expect(transfer(['cp', 's3://bkt/p/', './a', '--exclude', '*.log']).filters).toEqual([
      { exclude: '*.log' },
    ]);
  });

  it('--exclude takes a glob: a pattern that is no regular expression is fine', () => {
    expect(transfer(['cp', './a', 's3://bkt/p/', '--exclude', '*.tmp']).filters).toEqual([
      { exclude: '*.tmp' },
    ]);
  });
});

describe('object parameter flags', () => {
  it('reads every flag into uploadParams', () => {
    const t = transfer([
      'cp',
      './site',
      's3://bkt/site/',
      '--content-type',
      'text/plain',
      '--no-guess-mime-type',
      '--cache-control',
      'max-age=60',
      '--content-encoding',
      'gzip',
      '--content-disposition',
      'attachment',
      '--metadata',
      'team=data,tier=hot',
      '--metadata',
      '{"owner":"me"}',
      '--sse',
      'aws:kms',
      '--sse-kms-key-id',
      'key-1',
      '--storage-class',
      'STANDARD_IA',
      '--acl',
      'public-read',
    ]);
    expect(t.guessContentType).toBe(false);
    expect(t.uploadParams).toEqual({
      ContentType: 'text/plain',
      CacheControl: 'max-age=60',
      ContentEncoding: 'gzip',
      ContentDisposition: 'attachment',
      Metadata: { team: 'data', tier: 'hot', owner: 'me' },
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'key-1',
      StorageClass: 'STANDARD_IA',
      ACL: 'public-read',
    });
  });

  it('leaves uploadParams undefined without a flag', () => {
    const t = transfer(['sync', './site', 's3://bkt/site/']);
    expect(t.uploadParams).toBeUndefined();
    expect(t.guessContentType).toBe(true);
  });

  it.each<[string[], RegExp]>([
    [['--content-type', 'html'], /--content-type .*media type/],
    [['--sse', 'aes256'], /--sse .*one of AES256, aws:kms/],
    [['--sse-kms-key-id', 'k'], /--sse-kms-key-id .*needs --sse/],
    [['--sse', 'AES256', '--sse-kms-key-id', 'k'], /--sse-kms-key-id .*needs --sse/],
    [['--acl', 'open'], /--acl .*public-read/],
    [['--storage-class', 'cold'], /--storage-class/],
    [['--metadata', 's3lync-md5=x'], /--metadata .*s3lync's own/],
    [['--metadata', 'novalue'], /--metadata takes key=value/],
    [['--metadata', '{bad'], /--metadata .* is not valid JSON/],
    [['--cache-control', 'a\nb'], /--cache-control/],
  ])('refuses %j as bad usage', (flags, message) => {
    const e = usage(['cp', './a', 's3://bkt/p/', ...flags]);
    expect(e.message).toMatch(message);
    expect(e.command).toBe('cp');
  });

  it('refuses parameter flags on a download', () => {
    expect(
      usage(['cp', 's3://bkt/p/', './a', '--cache-control', 'x', '--acl', 'private']).message,
    ).toBe('--cache-control, --acl: only an upload sets object parameters');
    expect(usage(['sync', 's3://bkt/p/', './a', '--no-guess-mime-type']).message).toMatch(
      /--no-guess-mime-type/,
    );
  });

  it('ls, rm and cat do not take them', () => {
    expect(usage(['ls', 's3://bkt/p/', '--include', '*']).message).toBe(
      'ls does not take --include',
    );
  });
});
