/** The command line's argument parsing: pure, so no process is needed. */
import { describe, expect, it } from 'vitest';

import path from 'node:path';

import { parseCli } from '../../src/cli/args.js';
import { COMMANDS, UsageError, type CliCommand } from '../../src/cli/command.js';
import { HELP, USAGE } from '../../src/cli/help.js';
import {
  endpointUrl,
  fileInDirectory,
  lastSegmentProblem,
  parseUri,
  withEndpoint,
} from '../../src/cli/locations.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const ACCESS = 'AKIAIOSFODNN7EXAMPLE';

function usage(argv: string[]): UsageError {
  try {
    parseCli(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

function transfer(argv: string[]) {
  const cmd = parseCli(argv);
  if (cmd.kind !== 'cp' && cmd.kind !== 'sync') throw new Error(`not a transfer: ${cmd.kind}`);
  return cmd;
}

describe('parseCli: cp and sync', () => {
  it('downloads when the source is s3://, with the defaults', () => {
    const cmd = transfer(['cp', 's3://bucket/data/', './data']);
    expect(cmd.kind).toBe('cp');
    expect(cmd.transfer).toEqual({
      direction: 'download',
      uri: 's3://bucket/data/',
      localPath: './data',
      source: 's3://bucket/data/',
      destination: './data',
      dryRun: false,
      useChecksum: true,
      filters: [],
      excludeRegexes: [],
      uploadParams: undefined,
      guessContentType: true,
      defaultExcludes: true,
      concurrency: undefined,
      mirror: false,
      maxDelete: undefined,
    });
    expect(cmd.global).toEqual({
      endpoint: undefined,
      profile: undefined,
      region: undefined,
      progress: 'progress',
      json: false,
      quiet: false,
      debug: false,
    });
  });

  it('uploads when the destination is s3://', () => {
    const { transfer: t } = transfer(['sync', './site', 's3://bucket/site/']);
    expect(t).toMatchObject({ direction: 'upload', uri: 's3://bucket/site/', localPath: './site' });
  });

  it('reads every sync option, wherever the options stand', () => {
    const cmd = transfer([
      '--json',
      'sync',
      '--delete',
      './a',
      '--max-delete',
      '5',
      '--exclude-regex',
      '\\.tmp$',
      '--exclude-regex=^cache/',
      '--no-default-excludes',
      '--dry-run',
      '--concurrency',
      '16',
      '--no-checksum',
      's3://bkt/p/',
      '--region',
      'eu-west-1',
      '--profile',
      'dev',
      '-v',
    ]);
    expect(cmd.transfer).toMatchObject({
      mirror: true,
      maxDelete: 5,
      excludeRegexes: ['\\.tmp$', '^cache/'],
      defaultExcludes: false,
      dryRun: true,
      concurrency: 16,
      useChecksum: false,
    });
    expect(cmd.global).toMatchObject({
      json: true,
      region: 'eu-west-1',
      profile: 'dev',
      debug: true,
      // --json means a clean stdout and no bars, unless --progress says otherwise
      progress: 'disabled',
    });
  });

  it('takes --progress explicitly, even with -q or --json', () => {
    expect(transfer(['cp', '-q', 'a', 's3://bkt/k']).global.progress).toBe('disabled');
    expect(transfer(['cp', '--progress=compact', '-q', 'a', 's3://bkt/k']).global.progress).toBe(
      'compact',
    );
    expect(transfer(['cp', '--progress', 'disabled', 'a', 's3://bkt/k']).global.progress).toBe(
      'disabled',
    );
  });

  it('applies --endpoint to s3://bucket/key', () => {
    const { transfer: t, global } = transfer([
      'cp',
      '--endpoint',
      'http://127.0.0.1:7480',
      's3://bucket/key.bin',
      './key.bin',
    ]);
    expect(global.endpoint).toBe('http://127.0.0.1:7480');
    expect(t.uri).toBe('s3://http://127.0.0.1:7480/bucket/key.bin');
    expect(t.source).toBe('s3://http://127.0.0.1:7480/bucket/key.bin');
  });

  it('redacts the secret key of a credential URI in what it shows', () => {
    const uri = `s3://${SECRET}:${ACCESS}@http://host:9000/bucket/key`;
    const { transfer: t } = transfer(['cp', uri, './key']);
    expect(t.uri).toBe(uri);
    expect(t.source).toBe(`s3://***:${ACCESS}@http://host:9000/bucket/key`);
  });

  it.each([
    [['sync', 'a'], /takes a source and a destination, got 1 argument$/],
    [['cp', 'a', 'b', 'c'], /got 3 arguments/],
    [['cp', './a', './b'], /needs one s3:\/\/ side; both are local paths/],
    [['cp', 'gs://b/a', './a'], /only s3:\/\/ URIs and local paths/],
    [['cp', '--max-delete', '3', 'a', 's3://bkt/k'], /cp does not take --max-delete/],
    [['sync', '--max-delete', '3', 'a', 's3://bkt/k'], /--max-delete needs --delete/],
    [['sync', '--delete', '--max-delete', '-1', 'a', 's3://bkt/k'], /--max-delete/],
    [
      ['sync', '--delete', '--max-delete', 'x', 'a', 's3://bkt/k'],
      /--max-delete must be an integer >= 0, got "x"/,
    ],
    [
      ['cp', '--concurrency', '0', 'a', 's3://bkt/k'],
      /--concurrency must be an integer >= 1, got "0"/,
    ],
    [
      ['cp', '--exclude-regex', '(', 'a', 's3://bkt/k'],
      /--exclude-regex "\(" is not a valid regular expression/,
    ],
    [
      ['cp', '--progress', 'bars', 'a', 's3://bkt/k'],
      /--progress must be one of progress, compact, disabled, got "bars"/,
    ],
    [['cp', 'a', 's3://bkt'], /the key is missing/],
    [['cp', '--endpoint', 'http://h:1/path', 's3://bkt/k', 'a'], /--endpoint must be/],
    [['cp', '--endpoint', 'http://h:1', 's3://other:9000@bkt/k', 'a'], /already names an endpoint/],
    [['cp', '--region', '', 'a', 's3://bkt/k'], /--region must not be empty/],
  ])('refuses %j', (argv, message) => {
    const error = usage(argv);
    expect(error.message).toMatch(message);
    expect(error.command).toBe(argv.find((a) => (COMMANDS as string[]).includes(a)));
  });
});

describe('parseCli: an s3:// key whose last segment cannot name a local file', () => {
  // `path.join('dst/', '..')` is the parent of the destination: such a key would put files
  // (and with --delete, deletions) outside it.
  const refused: [key: string, why: string][] = [
    ['cli/..', 'is ".."'],
    ['cli/.', 'is "."'],
    ['..', 'is ".."'],
    ['.', 'is "."'],
    ['cli/../', 'is ".."'],
    ['cli/./', 'is "."'],
    ['a//', 'is empty'],
    ['//', 'is empty'],
  ];

  describe.each(['cp', 'sync'] as const)('%s', (command) => {
    it.each(refused)('refuses s3://bkt/%s as the source', (key, why) => {
      const error = usage([command, `s3://bkt/${key}`, 'dst/']);
      expect(error.message).toBe(
        `${command}: s3://bkt/${key}: the last segment of the key ${why}, so it cannot name a local file or directory`,
      );
      expect(error.command).toBe(command);
    });

    it.each(refused)('refuses s3://bkt/%s as the destination', (key, why) => {
      const error = usage([command, './file.txt', `s3://bkt/${key}`]);
      expect(error.message).toBe(
        `${command}: s3://bkt/${key}: the last segment of the key ${why}, so it cannot name a local file or directory`,
      );
      expect(error.command).toBe(command);
    });
  });

  it('refuses them with --delete and --endpoint too, showing the argument as given', () => {
    expect(usage(['sync', 's3://bkt/cli/..', 'dst/', '--delete']).message).toBe(
      'sync: s3://bkt/cli/..: the last segment of the key is "..", so it cannot name a local file or directory',
    );
    expect(usage(['cp', '--endpoint', 'http://h:1', 's3://bkt/cli/..', 'dst/']).message).toBe(
      'cp: s3://bkt/cli/..: the last segment of the key is "..", so it cannot name a local file or directory',
    );
  });

  it('never shows the secret key of a credential URI in that message', () => {
    const error = usage(['cp', `s3://${SECRET}:${ACCESS}@http://host:9000/bucket/cli/..`, 'dst/']);
    expect(error.message).toBe(
      `cp: s3://***:${ACCESS}@http://host:9000/bucket/cli/..: the last segment of the key is "..", so it cannot name a local file or directory`,
    );
  });

  it.each([
    ['cp', 's3://bkt/dir/', './dir'],
    ['sync', './dir', 's3://bkt/dir/'],
    ['cp', 's3://bkt/a.b/..c', 'dst/'],
    ['cp', './x', 's3://bkt/a.b/..c'],
    ['sync', 's3://bkt/a/...', 'dst/'],
    ['cp', 's3://bkt/c../', 'dst/'],
    ['sync', '.', 's3://bkt/site/'],
    ['sync', '..', 's3://bkt/site/'],
    ['cp', 's3://bkt/site/', '.'],
    ['sync', 's3://bkt/site/', '..'],
    ['cp', 's3://bkt/site/index.html', '../'],
  ])('accepts %s %s %s', (command, source, destination) => {
    const { transfer: t } = transfer([command, source, destination]);
    expect(t.source).toBe(source);
    expect(t.destination).toBe(destination);
  });

  it('lastSegmentProblem names the problem, or nothing', () => {
    expect(lastSegmentProblem('cli/..')).toBe('the last segment of the key is ".."');
    expect(lastSegmentProblem('a//')).toBe('the last segment of the key is empty');
    expect(lastSegmentProblem('/')).toBe('the last segment of the key is empty');
    for (const key of ['a', 'a/', 'a.b/..c', '...', '..c', 'c..', '.hidden', 'a/./b']) {
      expect(lastSegmentProblem(key)).toBeUndefined();
    }
  });
});

describe('fileInDirectory: a single object downloaded into a directory', () => {
  it('lands directly inside the directory, under the last segment of its key', () => {
    expect(fileInDirectory('cp', 's3://bkt/cli/x.txt', 'dst/', 'cli/x.txt')).toBe(
      path.join('dst', 'x.txt'),
    );
    expect(fileInDirectory('sync', 's3://bkt/..c', '/tmp/d', '..c')).toBe(
      path.join('/tmp/d', '..c'),
    );
  });

  it.each([
    ['cli/..', 'is ".."'],
    ['cli/.', 'is "."'],
    ['..', 'is ".."'],
    ['.', 'is "."'],
    ['a//', 'is empty'],
  ])('refuses %s, which would name the directory, its parent or nothing', (key, why) => {
    let error: unknown;
    try {
      fileInDirectory('cp', `s3://bkt/${key}`, 'dst/', key);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(error).toMatchObject({
      command: 'cp',
      message: `cp: s3://bkt/${key}: the last segment of the key ${why}, so it cannot name a file inside the destination directory "dst/"`,
    });
  });
});

describe('parseCli: ls, rm, cat', () => {
  it('ls takes a bucket alone, a prefix or a key, and --recursive', () => {
    expect(parseCli(['ls', 's3://bucket'])).toMatchObject({ kind: 'ls', uri: 's3://bucket' });
    expect(parseCli(['ls', '-r', 's3://bucket/logs/'])).toMatchObject({
      kind: 'ls',
      uri: 's3://bucket/logs/',
      recursive: true,
    });
    expect(parseCli(['ls', '--endpoint', 'http://h:1', 's3://bucket'])).toMatchObject({
      uri: 's3://http://h:1/bucket/',
    });
  });

  it('rm needs --recursive for a prefix, and a key', () => {
    expect(parseCli(['rm', 's3://bkt/k'])).toMatchObject({ kind: 'rm', recursive: false });
    expect(parseCli(['rm', '--recursive', 's3://bkt/p/'])).toMatchObject({ recursive: true });
    expect(usage(['rm', 's3://bkt/p/']).message).toMatch(/names a prefix; add --recursive/);
    expect(usage(['rm', '-r', 's3://bkt']).message).toMatch(/the key is missing/);
  });

  it('cat takes one object', () => {
    expect(parseCli(['cat', 's3://bkt/k'])).toMatchObject({ kind: 'cat', uri: 's3://bkt/k' });
    expect(usage(['cat', 's3://bkt/p/']).message).toMatch(/names a prefix, not an object/);
    expect(usage(['cat']).message).toBe('cat needs an s3:// URI');
    expect(usage(['cat', './local']).message).toMatch(/needs an s3:\/\/ URI, got "\.\/local"/);
    expect(usage(['cat', 's3://bkt/a', 's3://bkt/c']).message).toMatch(/takes one s3:\/\/ URI/);
  });

  it('options belong to their commands', () => {
    expect(usage(['ls', '--delete', 's3://bkt/k']).message).toBe('ls does not take --delete');
    expect(usage(['cat', '-r', 's3://bkt/k']).message).toBe('cat does not take -r');
  });
});

describe('parseCli: help, version, bad usage', () => {
  it('--help and help give the general help or a command help', () => {
    expect(parseCli(['--help'])).toEqual({ kind: 'help', topic: undefined });
    expect(parseCli(['help'])).toEqual({ kind: 'help', topic: undefined });
    expect(parseCli(['sync', '--help'])).toEqual({ kind: 'help', topic: 'sync' });
    expect(parseCli(['-h', 'ls'])).toEqual({ kind: 'help', topic: 'ls' });
    expect(parseCli(['help', 'rm'])).toEqual({ kind: 'help', topic: 'rm' });
    // --help wins over what would be bad usage
    expect(parseCli(['cp', '--help', 'only-one'])).toEqual({ kind: 'help', topic: 'cp' });
  });

  it('--version', () => {
    expect(parseCli(['--version'])).toEqual({ kind: 'version' });
    expect(parseCli(['ls', '--version'])).toEqual({ kind: 'version' });
  });

  it('a missing or unknown command, or an unknown option, is a usage error', () => {
    expect(usage([]).message).toBe('missing command');
    expect(usage([]).command).toBeUndefined();
    expect(usage(['copy', 'a', 'b']).message).toMatch(
      /^unknown command "copy"; expected one of cp, sync, mv, check, ls, rm, cat$/,
    );
    expect(usage(['sync', '--frobnicate', 'a', 's3://bkt/k'])).toMatchObject({
      message: 'unknown option --frobnicate',
      command: 'sync',
    });
    expect(usage(['sync', '--exclude'])).toMatchObject({
      message: '--exclude <value>: argument missing',
      command: 'sync',
    });
    expect(usage(['ls', '--json=yes', 's3://bkt/k']).message).toBe(
      '--json: does not take an argument',
    );
  });

  it('never repeats a secret key given in a bad argument', () => {
    const uri = `s3://${SECRET}:${ACCESS}@http://host/bucket`;
    for (const argv of [
      ['cp', uri, './x'],
      ['copy', `gs://${SECRET}:${ACCESS}@host/b/k`],
      ['cp', `gs://${SECRET}:${ACCESS}@host/b/k`, './x'],
      ['cat', `s3://${SECRET}:${ACCESS}@http://host/bucket/dir/`],
      ['rm', `s3://${SECRET}:${ACCESS}@http://host/bucket/dir/`],
      ['sync', `s3://${SECRET}:${ACCESS}@http://host/bucket/dir/..`, './x'],
      ['cp', './x', `s3://${SECRET}:${ACCESS}@http://host/bucket/a//`],
      ['ls', '--endpoint', 'http://h:1', `s3://${SECRET}:${ACCESS}@http://host/bucket/k`],
    ]) {
      expect(usage(argv).message).not.toContain(SECRET);
    }
  });

  it('has a usage line and a help with examples for every command', () => {
    for (const command of COMMANDS) {
      expect(USAGE[command]).toMatch(new RegExp(`^usage: s3lync ${command} `));
      expect(HELP[command]).toContain(USAGE[command]);
      expect(HELP[command]).toMatch(/Examples:\n {2}s3lync /);
      expect(HELP[command]).toContain('--endpoint URL');
    }
    expect(HELP.main).toContain(USAGE.main);
    for (const command of COMMANDS) expect(HELP.main).toMatch(new RegExp(`\\n {2}${command} `));
  });
});

describe('endpointUrl, withEndpoint, parseUri', () => {
  it('normalises an endpoint and refuses anything but a host and port', () => {
    expect(endpointUrl('http://127.0.0.1:7480')).toBe('http://127.0.0.1:7480');
    expect(endpointUrl('HTTPS://Host:443/')).toBe('https://Host:443');
    expect(endpointUrl('minio.local:9000')).toBe('https://minio.local:9000');
    for (const bad of ['ftp://h', 'http://h/p', 'http://u:p@h', 'http://', 'h o']) {
      expect(() => endpointUrl(bad)).toThrow(UsageError);
    }
  });

  it('puts the endpoint in front of the bucket', () => {
    expect(withEndpoint('s3://bkt/k/x', 'http://h:1')).toBe('s3://http://h:1/bkt/k/x');
    expect(withEndpoint('s3://bkt/k', undefined)).toBe('s3://bkt/k');
    expect(withEndpoint('s3://bkt/', 'http://h:1')).toBe('s3://http://h:1/bkt/');
  });

  it('parses a bare bucket only when asked to', () => {
    expect(parseUri('s3://bucket', 'ls', true)).toEqual({ bucket: 'bucket', key: '' });
    expect(parseUri('s3://http://h:1/bucket/', 'ls', true)).toEqual({
      bucket: 'bucket',
      key: '',
      endpoint: 'http://h:1',
    });
    expect(() => parseUri('s3://bucket', 'rm')).toThrow(
      /^Invalid S3 URI "s3:\/\/bucket": the key is missing\. Accepted forms:$/,
    );
  });
});

// Keep the exported union honest: each kind can be produced.
const kinds: CliCommand['kind'][] = ['help', 'version', 'cp', 'sync', 'ls', 'rm', 'cat'];
it('produces every kind of command', () => {
  const produced = new Set(
    [
      ['--help'],
      ['--version'],
      ['cp', 'a', 's3://bkt/k'],
      ['sync', 'a', 's3://bkt/k'],
      ['ls', 's3://bkt'],
      ['rm', 's3://bkt/k'],
      ['cat', 's3://bkt/k'],
    ].map((argv) => parseCli(argv).kind),
  );
  expect([...produced].sort()).toEqual([...kinds].sort());
});

describe('S3 -> S3, mv and check', () => {
  it('cp with two s3:// sides names the destination as target', () => {
    const parsed = parseCli(['cp', 's3://bkt/a/', 's3://bkt/c/']);
    expect(parsed).toMatchObject({
      kind: 'cp',
      transfer: { uri: 's3://bkt/a/', target: 's3://bkt/c/', localPath: '' },
    });
  });
  it('mv and check take the transfer sides', () => {
    expect(parseCli(['mv', './x', 's3://bkt/x'])).toMatchObject({
      kind: 'mv',
      transfer: { direction: 'upload' },
    });
    expect(parseCli(['check', 's3://bkt/a/', './a'])).toMatchObject({
      kind: 'check',
      transfer: { direction: 'download' },
    });
  });
});
