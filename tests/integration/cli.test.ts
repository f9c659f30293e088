/**
 * The built `s3lync` command (dist/cli.js, as npm installs it) run as a process against
 * radosgw: output, exit codes, JSON, redaction and Ctrl-C. `npm test` builds it first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';

import { ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  describeS3,
  getObject,
  headObject,
  listKeys,
  md5,
  objectExists,
  putObject,
  requires,
  s3,
  uniqueKey,
  useBucket,
  useTempDir,
} from './helpers.js';
import { isTempName } from '../../src/utils.js';

const root = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(root, 'dist', 'cli.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/**
 * The environment of every run: credentials from the AWS chain, nothing from ~/.aws, no
 * profile or debug settings of the caller; `extra` sets variables, or removes them with
 * `undefined`.
 */
function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    ...process.env,
    AWS_PROFILE: undefined,
    S3LYNC_DEBUG: undefined,
    S3LYNC_LOG_LEVEL: undefined,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    AWS_CONFIG_FILE: path.join(root, 'no-such-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(root, 'no-such-aws-credentials'),
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
}

interface RunOptions {
  /** Variables to set, or with `undefined` to remove. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called with each stderr chunk and the child, e.g. to send a signal. */
  onStderr?: (text: string, child: ChildProcess) => void;
  /** Run the file itself (its shebang), not `node dist/cli.js`. */
  direct?: boolean;
  /** Receives the child process once it is spawned. */
  onSpawn?: (child: ChildProcess) => void;
}

function runCli(args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [command, argv] =
      options.direct === true ? [CLI, args] : [process.execPath, [CLI, ...args]];
    const child = spawn(command, argv, {
      cwd: options.cwd ?? root,
      env: cliEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    options.onSpawn?.(child);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      options.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString(), stderr, stdoutBytes });
    });
  });
}

/** The usage line printed after a usage error of each transfer command. */
const USAGE_LINE = {
  cp: 'usage: s3lync cp [options] <src> <dst>   (s3:// and local, or s3:// to s3://)',
  sync: 'usage: s3lync sync [options] <src> <dst>   (s3:// and local, or s3:// to s3://)',
} as const;

/** `--endpoint <radosgw>` followed by `args`: the credential-free form. */
const at = (...args: string[]): string[] => ['--endpoint', s3.endpoint, ...args];

async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(dir, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
}

async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const abs = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, abs).split(path.sep).join('/')] = await readFile(abs, 'utf8');
  }
  return out;
}

/**
 * Everything under `dir`, recursively: each path with its type and, for a file, its size and
 * contents; so that any file written, changed or deleted shows.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const abs = path.join(entry.parentPath, entry.name);
    const rel = path.relative(dir, abs).split(path.sep).join('/');
    if (entry.isFile()) {
      const content = await readFile(abs);
      out[rel] = `file, ${content.length} B: ${content.toString('base64')}`;
    } else {
      out[rel] = entry.isDirectory() ? 'directory' : 'other';
    }
  }
  return out;
}

beforeAll(async () => {
  if (!(await stat(CLI).catch(() => undefined))) {
    throw new Error('dist/cli.js is missing: run `npm run build` (npm test does) first');
  }
});

describe('s3lync without a server: help, version, usage', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
      version: string;
      bin: Record<string, string>;
    };
    const run = await runCli(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect(pkg.bin).toEqual({ s3lync: './dist/cli.js' });
  });

  it('runs as the bin npm installs: the file itself, through its shebang', async () => {
    expect((await readFile(CLI, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
    await chmod(CLI, 0o755); // what npm does on install
    const run = await runCli(['--help'], { direct: true });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: s3lync <cp|sync|mv|check|ls|rm|cat|cache>');
  });

  it('--help for each command shows its usage and examples', async () => {
    const main = await runCli(['--help']);
    expect(main.code).toBe(0);
    for (const command of ['cp', 'sync', 'ls', 'rm', 'cat']) {
      expect(main.stdout).toContain(`\n  ${command} `);
      const run = await runCli([command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^usage: s3lync ${command} `));
      expect(run.stdout).toContain('Examples:');
    }
    expect((await runCli(['help', 'sync'])).stdout).toContain('--max-delete N');
  });

  it.each([
    [[], 'missing command', 'usage: s3lync <cp|sync|mv|check|ls|rm|cat|cache>'],
    [
      ['sync', 'only-one'],
      'sync takes a source and a destination, got 1 argument',
      'usage: s3lync sync',
    ],
    [['cp', './a', './b'], 'cp needs one s3:// side; both are local paths', 'usage: s3lync cp'],
    [['ls', '--frobnicate', 's3://bucket/'], 'unknown option --frobnicate', 'usage: s3lync ls'],
    [['rm', 's3://bucket/dir/'], 'add --recursive', 'usage: s3lync rm'],
    [['cat'], 'cat needs an s3:// URI', 'usage: s3lync cat'],
  ])('bad usage %j exits 2 with the message and the usage line', async (args, message, usage) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const [first, second, ...rest] = run.stderr.trimEnd().split('\n');
    expect(first).toMatch(/^s3lync: /);
    expect(first).toContain(message);
    expect(second).toMatch(new RegExp(`^${usage.replace(/[|<>]/g, '\\$&')}`));
    expect(rest).toEqual([]);
  });
});

describeS3('the s3lync command against radosgw', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  const uri = (key: string): string => `s3://${bucket.name}/${key}`;

  it('cp uploads a tree and downloads it back, skipping what is unchanged', async () => {
    const prefix = uniqueKey('cp');
    const source = path.join(tmp.path, 'cp-source');
    const files = { 'a.txt': 'alpha\n', 'dir/b.txt': 'bravo\n', 'dir/sub/c.txt': 'charlie\n' };
    await writeFiles(source, files);

    const up = await runCli(at('cp', source, uri(`${prefix}/`)));
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(
      /^Done: 3 files transferred \(20 B\), 0 skipped \(unchanged\), 0 deleted in \d+\.\d+ s\n$/,
    );
    // Off a terminal, progress is a plain line per file, on stderr.
    expect(up.stderr.trimEnd().split('\n').sort()).toEqual([
      `upload: ${path.join(source, 'a.txt')} -> ${prefix}/a.txt (6 B, ${up.stderr.match(/a\.txt \(6 B, ([\d.]+ s)\)/)?.[1]})`,
      expect.stringMatching(/^upload: .*dir\/b\.txt -> .*dir\/b\.txt \(6 B, [\d.]+ s\)$/),
      expect.stringMatching(/^upload: .*dir\/sub\/c\.txt -> .*c\.txt \(8 B, [\d.]+ s\)$/),
    ]);

    const target = path.join(tmp.path, 'cp-target');
    const down = await runCli(at('cp', uri(`${prefix}/`), target, '-q'));
    expect(down).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await readTree(target)).toEqual(files);

    const again = await runCli(at('cp', uri(`${prefix}/`), target));
    expect(again.stdout).toMatch(/^Done: 0 files transferred \(0 B\), 3 skipped \(unchanged\)/);

    // A single file into a directory, as cp does.
    const into = await runCli(at('cp', uri(`${prefix}/dir/b.txt`), `${target}/`, '-q'));
    expect(into.code).toBe(0);
    expect(await readFile(path.join(target, 'b.txt'), 'utf8')).toBe('bravo\n');
    // And a local file to a prefix keeps its name.
    const named = await runCli(at('cp', path.join(source, 'a.txt'), uri(`${prefix}/copies/`)));
    expect(named.code).toBe(0);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/copies/a.txt`)).toString()).toBe(
      'alpha\n',
    );
  });

  it('sync --delete --dry-run shows the plan and changes nothing; the real run does it', async () => {
    const prefix = uniqueKey('site');
    const site = path.join(tmp.path, 'site');
    await writeFiles(site, {
      'index.html': '<h1>hi</h1>',
      'about.html': 'about',
      'old.html': 'old',
    });
    expect((await runCli(at('sync', site, uri(`${prefix}/`), '-q'))).code).toBe(0);
    await rm(path.join(site, 'old.html'));
    await writeFile(path.join(site, 'about.html'), 'about us');
    await writeFile(path.join(site, 'new.html'), 'new');

    const plan = await runCli(at('sync', site, uri(`${prefix}/`), '--delete', '--dry-run'));
    expect(plan.code).toBe(0);
    const lines = plan.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).sort()).toEqual([
      `(dry run) delete: s3://${bucket.name}/${prefix}/old.html (not-in-source)`,
      `(dry run) upload: ${path.join(site, 'about.html')} -> s3://${bucket.name}/${prefix}/about.html (size)`,
      `(dry run) upload: ${path.join(site, 'new.html')} -> s3://${bucket.name}/${prefix}/new.html (missing)`,
    ]);
    expect(lines.at(-1)).toBe(
      'Dry run: would transfer 2 files (11 B) and delete 1; 1 unchanged. Nothing was changed.',
    );
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/old.html`)).toBe(true);
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/new.html`)).toBe(false);

    const real = await runCli(at('sync', site, uri(`${prefix}/`), '--delete'));
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(
      new RegExp(
        `^delete: s3://${bucket.name}/${prefix}/old\\.html \\(not-in-source\\)\\nDone: 2 files transferred \\(11 B\\), 1 skipped \\(unchanged\\), 1 deleted in [\\d.]+ s\\n$`,
      ),
    );
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/old.html`)).toBe(false);

    const noop = await runCli(at('sync', site, uri(`${prefix}/`), '--delete'));
    expect(noop.stdout).toMatch(
      /^Done: 0 files transferred \(0 B\), 3 skipped \(unchanged\), 0 deleted/,
    );

    // --max-delete refuses before anything changes.
    await rm(path.join(site, 'new.html'));
    await rm(path.join(site, 'about.html'));
    const refused = await runCli(
      at('sync', site, uri(`${prefix}/`), '--delete', '--max-delete', '1'),
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^s3lync: Refusing to mirror .*: it would delete 2 files, more than maxDelete \(1\)\. Nothing was changed\.\n$/,
    );
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/new.html`)).toBe(true);
  });

  it('--json prints one object with the documented shape', async () => {
    const prefix = uniqueKey('json');
    const dir = path.join(tmp.path, 'json');
    await writeFiles(dir, { 'x.txt': 'xx', 'y/z.txt': 'zzz' });
    const run = await runCli(at('sync', dir, uri(`${prefix}/`), '--json'));
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(''); // --json means no progress lines unless asked
    const summary = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(summary).toEqual({
      command: 'sync',
      ok: true,
      direction: 'upload',
      source: dir,
      destination: `s3://${s3.endpoint}/${bucket.name}/${prefix}/`,
      dryRun: false,
      transferred: 2,
      skipped: 0,
      deleted: 0,
      failed: [],
      warnings: [],
      bytes: 5,
      durationMs: expect.any(Number) as number,
    });

    await writeFile(path.join(dir, 'x.txt'), 'xxx');
    const plan = JSON.parse(
      (await runCli(at('sync', dir, uri(`${prefix}/`), '--json', '--dry-run'))).stdout,
    ) as Record<string, unknown>;
    expect(plan).toMatchObject({ dryRun: true, transferred: 1, skipped: 1, bytes: 3 });
    expect(plan.actions).toEqual([
      { op: 'upload', path: 'x.txt', key: `${prefix}/x.txt`, size: 3, reason: 'size' },
    ]);
  });

  it('ls shows prefixes, sizes and dates; --recursive every key; --json the entries', async () => {
    const prefix = uniqueKey('ls');
    await putObject(bucket.client, bucket.name, `${prefix}/top.txt`, '12345');
    await putObject(bucket.client, bucket.name, `${prefix}/logs/a.log`, 'a');
    await putObject(bucket.client, bucket.name, `${prefix}/logs/deep/b.log`, 'bb');

    const level = await runCli(at('ls', uri(`${prefix}/`)));
    expect(level.code).toBe(0);
    const date = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`;
    expect(level.stdout).toMatch(new RegExp(`^ {28}PRE logs/\\n${date} {10}5 top\\.txt\\n$`));
    const all = await runCli(at('ls', '--recursive', uri(`${prefix}/`)));
    expect(
      all.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.slice(21)),
    ).toEqual([
      `         1 ${prefix}/logs/a.log`,
      `         2 ${prefix}/logs/deep/b.log`,
      `         5 ${prefix}/top.txt`,
    ]);
    const json = JSON.parse((await runCli(at('ls', uri(`${prefix}/logs/`), '--json'))).stdout) as {
      entries: unknown[];
    };
    expect(json).toEqual({
      command: 'ls',
      ok: true,
      uri: `s3://${s3.endpoint}/${bucket.name}/${prefix}/logs/`,
      entries: [
        { type: 'prefix', name: 'deep/' },
        {
          type: 'object',
          name: 'a.log',
          key: `${prefix}/logs/a.log`,
          size: 1,
          lastModified: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
          etag: md5('a'),
        },
      ],
    });
    const none = await runCli(at('ls', uri(`${prefix}/nothing/`)));
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^s3lync: Nothing found under s3:\/\/.*\/nothing\/\n$/);
  });

  it('cat streams an object to stdout byte for byte', async () => {
    const key = uniqueKey('blob.bin');
    const body = randomBytes(3 * 1024 * 1024 + 17);
    await putObject(bucket.client, bucket.name, key, body);
    const run = await runCli(at('cat', uri(key)));
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(md5(run.stdoutBytes)).toBe(md5(body));
    expect(run.stdoutBytes.length).toBe(body.length);
  });

  it('rm deletes one object; rm --recursive everything under a prefix', async () => {
    const prefix = uniqueKey('rm');
    for (const k of ['one.txt', 'dir/a', 'dir/b', 'dir/c/d']) {
      await putObject(bucket.client, bucket.name, `${prefix}/${k}`, k);
    }
    const one = await runCli(at('rm', uri(`${prefix}/one.txt`)));
    expect(one).toMatchObject({ code: 0, stdout: `delete: ${uri(`${prefix}/one.txt`)}\n` });
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/one.txt`)).toBe(false);

    // A prefix is not deleted without --recursive.
    const notObject = await runCli(at('rm', uri(`${prefix}/dir`)));
    expect(notObject.code).toBe(1);
    expect(notObject.stderr).toMatch(
      /is not an object \(it is a prefix: add --recursive to delete everything under it\)\n$/,
    );
    expect(await objectExists(bucket.client, bucket.name, `${prefix}/dir/a`)).toBe(true);

    const all = await runCli(at('rm', '--recursive', uri(`${prefix}/dir`), '--json'));
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({
      command: 'rm',
      ok: true,
      recursive: true,
      deleted: 3,
    });
    const ls = await runCli(at('ls', '-r', uri(`${prefix}/`)));
    expect(ls.code).toBe(1); // nothing left
  });

  requires('nested-common-prefixes').it('ls of a bucket alone lists its first level', async () => {
    const prefix = uniqueKey('root');
    await putObject(bucket.client, bucket.name, `${prefix}/deep/a.txt`, 'a');
    expect((await runCli(at('ls', `s3://${bucket.name}`))).stdout).toContain(
      `PRE ${prefix.split('/')[0]}/`,
    );
  });

  requires('literal-keys').it(
    'exits 1 when some files fail, listing them; the others are transferred',
    async () => {
      const prefix = uniqueKey('partial');
      await putObject(bucket.client, bucket.name, `${prefix}/good.txt`, 'good');
      // A key the server stores literally, which would land outside the target: refused.
      await bucket.client.send(
        new PutObjectCommand({ Bucket: bucket.name, Key: `${prefix}/../evil.txt`, Body: 'x' }),
      );
      const target = path.join(tmp.path, 'partial');
      const run = await runCli(at('sync', uri(`${prefix}/`), target));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        's3lync: failed: ../evil.txt: Refusing key "../evil.txt": it has a ".." segment',
      );
      expect(run.stdout).toMatch(
        /^Failed: 1 file transferred \(4 B\), 0 skipped \(unchanged\), 0 deleted, 1 failed in /,
      );
      expect(await readFile(path.join(target, 'good.txt'), 'utf8')).toBe('good');

      const json = await runCli(at('sync', uri(`${prefix}/`), target, '--json'));
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({
        ok: false,
        skipped: 1,
        failed: [{ path: '../evil.txt', error: expect.stringContaining('Refusing key') as string }],
      });

      // A missing key is one readable line, no stack trace; --debug adds the stack.
      const missing = await runCli(
        at('cp', uri(`${prefix}/nope.bin`), path.join(tmp.path, 'nope')),
      );
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(
        /^s3lync: s3:\/\/.*\/nope\.bin does not exist: it is neither an object nor a prefix\n$/,
      );
      const debug = await runCli(at('-v', 'cat', uri(`${prefix}/nope.bin`)));
      expect(debug.code).toBe(1);
      expect(debug.stderr).toMatch(/s3lync: NotFoundError: GetObject .* failed .*\n\s+at /);
    },
  );

  describe('a key whose last segment is "..": bad usage, nothing changes outside the destination', () => {
    const why = 'the last segment of the key is "..", so it cannot name a local file or directory';
    // Each case runs in a fresh cwd holding the user's files and the destination dst/.
    const cases: {
      name: string;
      command: 'cp' | 'sync';
      args: (prefix: string) => string[];
      shown: (prefix: string) => string;
      env?: Record<string, string>;
    }[] = [
      {
        name: 'cp s3://B/cli/.. dst/',
        command: 'cp',
        args: (p) => at('cp', uri(`${p}/cli/..`), 'dst/'),
        shown: (p) => uri(`${p}/cli/..`),
      },
      {
        name: 'sync s3://B/cli/.. dst/ --delete',
        command: 'sync',
        args: (p) => at('sync', uri(`${p}/cli/..`), 'dst/', '--delete'),
        shown: (p) => uri(`${p}/cli/..`),
      },
      {
        name: 'sync s3://B/cli/.. dst/ --delete --json',
        command: 'sync',
        args: (p) => at('sync', uri(`${p}/cli/..`), 'dst/', '--delete', '--json'),
        shown: (p) => uri(`${p}/cli/..`),
      },
      {
        name: 'sync s3://SECRET:ACCESS@host/B/cli/.. dst/ --delete',
        command: 'sync',
        args: (p) => [
          'sync',
          `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${s3.endpoint}/${bucket.name}/${p}/cli/..`,
          'dst/',
          '--delete',
        ],
        // The secret key is never shown.
        shown: (p) => `s3://***:${s3.accessKeyId}@${s3.endpoint}/${bucket.name}/${p}/cli/..`,
        env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
      },
      {
        name: 'cp notes.txt s3://B/up/..',
        command: 'cp',
        args: (p) => at('cp', 'notes.txt', uri(`${p}/up/..`)),
        shown: (p) => uri(`${p}/up/..`),
      },
    ];

    it.each(cases)('$name exits 2', async ({ command, args, shown, env }) => {
      const prefix = uniqueKey('escape');
      // Keys the server stores literally: "cli/.." would name the parent of a directory.
      for (const [key, body] of [
        [`${prefix}/cli/..`, 'dot-dot'],
        [`${prefix}/cli/../evil.txt`, 'evil'],
      ]) {
        await bucket.client.send(
          new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }),
        );
      }
      const work = await mkdtemp(path.join(tmp.path, 'escape-'));
      const cwd = path.join(work, 'cwd');
      const outside = path.join(work, 'outside');
      await writeFiles(cwd, {
        'notes.txt': 'my notes\n',
        'keep/deep.txt': 'deep\n',
        'dst/already.txt': 'already here\n',
      });
      await mkdir(path.join(cwd, 'dst', 'empty'));
      await writeFiles(outside, { 'other.txt': 'other\n' });
      const before = { cwd: await snapshot(cwd), outside: await snapshot(outside) };
      expect(Object.keys(before.cwd).sort()).toEqual([
        'dst',
        'dst/already.txt',
        'dst/empty',
        'keep',
        'keep/deep.txt',
        'notes.txt',
      ]);

      const run = await runCli(args(prefix), { cwd, ...(env !== undefined && { env }) });
      // Soft: every difference is reported, not only the first.
      expect.soft(run.code).toBe(2);
      expect.soft(run.stdout).toBe('');
      expect
        .soft(run.stderr)
        .toBe(`s3lync: ${command}: ${shown(prefix)}: ${why}\n${USAGE_LINE[command]}\n`);
      expect.soft(await snapshot(cwd)).toEqual(before.cwd);
      expect.soft(await snapshot(outside)).toEqual(before.outside);
      expect.soft(await objectExists(bucket.client, bucket.name, `${prefix}/up/..`)).toBe(false);
    });
  });

  it('never prints the secret key of a credential URI, whatever happens', async () => {
    const prefix = uniqueKey('secret');
    const host = s3.endpoint;
    const credUri = (key: string): string =>
      `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${host}/${bucket.name}/${key}`;
    const dir = path.join(tmp.path, 'secret');
    await writeFiles(dir, { 'a.txt': 'a' });
    const env = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    const runs = [
      await runCli(['sync', dir, credUri(`${prefix}/`), '--json'], { env }),
      await runCli(['sync', dir, credUri(`${prefix}/`), '--dry-run', '--progress=compact'], {
        env,
      }),
      await runCli(['-v', 'ls', credUri(`${prefix}/`)], { env }),
      await runCli(['cat', credUri(`${prefix}/missing`)], { env }),
      await runCli(['-v', 'cp', credUri(`${prefix}/missing`), path.join(dir, 'm')], { env }),
      await runCli(['rm', credUri(`${prefix}/`)], { env }),
      await runCli(['cp', credUri(`${prefix}/a.txt`), credUri('b')], { env }),
      await runCli(['sync', credUri(''), dir], { env }),
      await runCli(['cp', `gs://${s3.secretAccessKey}:${s3.accessKeyId}@h/b/k`, dir], { env }),
      // S3 → S3: a copy (run 7 above), and one whose source is missing.
      await runCli(['-v', 'cp', credUri(`${prefix}/missing`), credUri(`${prefix}-c/`)], { env }),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 1, 1, 2, 0, 2, 2, 1]);
    expect(JSON.parse(runs[0]?.stdout ?? '')).toMatchObject({
      destination: `s3://***:${s3.accessKeyId}@${host}/${bucket.name}/${prefix}/`,
    });
    for (const run of runs) {
      expect(run.stdout + run.stderr).not.toContain(s3.secretAccessKey);
    }
  });

  it('--profile takes the credentials from a profile of the shared files', async () => {
    const prefix = uniqueKey('profile');
    await putObject(bucket.client, bucket.name, `${prefix}/p.txt`, 'profiled');
    const credentials = path.join(tmp.path, 'aws-credentials');
    await writeFile(
      credentials,
      `[rgw]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`,
    );
    const env = {
      AWS_SHARED_CREDENTIALS_FILE: credentials,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
    };
    const good = await runCli(at('--profile', 'rgw', 'cat', uri(`${prefix}/p.txt`)), { env });
    expect(good).toMatchObject({ code: 0, stdout: 'profiled' });
    const bad = await runCli(at('--profile', 'nobody', 'cat', uri(`${prefix}/p.txt`)), { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^s3lync: GetObject .* failed .*\(no credentials for --profile nobody: is it in ~\/\.aws\/credentials or ~\/\.aws\/config\?\)$/m,
    );
    expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('Ctrl-C during a download cancels it: exit 130, no temp file, no partial file', async () => {
    const prefix = uniqueKey('sigint');
    const source = path.join(tmp.path, 'sigint-source');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 300; i++)
      files[`f${String(i).padStart(3, '0')}.bin`] = randomBytes(128 * 1024);
    await writeFiles(source, files);
    expect((await runCli(at('cp', source, uri(`${prefix}/`), '-q'))).code).toBe(0);

    const target = path.join(tmp.path, 'sigint-target');
    let sent = false;
    const run = await runCli(
      at('cp', uri(`${prefix}/`), target, '--progress=compact', '--concurrency', '2'),
      {
        // The first finished file shows bytes are flowing: interrupt now.
        onStderr: (text, child) => {
          if (!sent && text.includes('download: ')) {
            sent = true;
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(sent).toBe(true);
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('s3lync: interrupted; cancelling what is in flight');
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(
      's3lync: interrupted; transfers in flight were cancelled and their temp files removed',
    );
    const names = await readdir(target);
    expect(names.filter((n) => isTempName(path.basename(n)))).toEqual([]);
    expect(names.length).toBeGreaterThan(0);
    expect(names.length).toBeLessThan(300);
    for (const name of names) {
      const local = await readFile(path.join(target, name));
      expect(md5(local), name).toBe(md5(files[name] ?? ''));
    }
    // The next run completes the rest.
    expect((await runCli(at('cp', uri(`${prefix}/`), target, '-q'))).code).toBe(0);
    expect((await readdir(target)).length).toBe(300);
  });

  requires('abort-multipart').it(
    'Ctrl-C during a multipart upload aborts it on the server before exiting',
    async () => {
      const key = uniqueKey('sigint-up.bin');
      const file = path.join(tmp.path, 'sigint-up.bin');
      await writeFile(file, randomBytes(96 * 1024 * 1024));
      const uploads = async (): Promise<unknown[]> =>
        (
          await bucket.client.send(
            new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }),
          )
        ).Uploads ?? [];
      let child: ChildProcess | undefined;
      const state = { exited: false };
      const running = runCli(at('cp', file, uri(key), '--concurrency', '1', '-q'), {
        onSpawn: (c) => {
          child = c;
        },
      }).finally(() => {
        state.exited = true;
      });
      // Once the multipart upload exists on the server, parts are on their way: interrupt.
      while (!state.exited && (await uploads()).length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      child?.kill('SIGINT');
      const run = await running;
      expect(run.code).toBe(130);
      expect(run.stderr).toContain('s3lync: interrupted; transfers in flight were cancelled');
      expect(await uploads()).toEqual([]);
      expect(await objectExists(bucket.client, bucket.name, key)).toBe(false);
    },
  );

  it('sync of a site: content types guessed, upload flags set, --exclude/--include in order', async () => {
    const prefix = uniqueKey('cli-site');
    const site = path.join(tmp.path, 'cli-site');
    await writeFiles(site, {
      'index.html': '<h1>hi</h1>',
      'css/site.css': 'h1{}',
      'js/app.js': 'x()',
      'img/logo.svg': '<svg/>',
      'drafts/a.html': 'draft',
      'drafts/keep.html': 'keep',
      'notes.tmp': 'tmp',
      '.env': 'SECRET=1',
    });
    const run = await runCli(
      at(
        'sync',
        site,
        uri(`${prefix}/`),
        '--exclude',
        'drafts/*',
        '--include',
        'drafts/keep.html',
        '--exclude-regex',
        '\\.tmp$',
        '--cache-control',
        'max-age=300',
        '--metadata',
        'team=web,build=42',
        '--acl',
        'public-read',
        '--json',
      ),
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const keys = (await listKeys(bucket.client, bucket.name, `${prefix}/`)).sort();
    // The default excludes still skip .env; --exclude-regex skips notes.tmp.
    expect(keys).toEqual(
      ['css/site.css', 'drafts/keep.html', 'img/logo.svg', 'index.html', 'js/app.js'].map(
        (k) => `${prefix}/${k}`,
      ),
    );
    const types: Record<string, string | undefined> = {};
    for (const key of keys) {
      const h = await headObject(bucket.client, bucket.name, key);
      types[key.slice(prefix.length + 1)] = h.ContentType;
      expect(h.CacheControl).toBe('max-age=300');
      expect(h.Metadata).toMatchObject({ team: 'web', build: '42' });
    }
    expect(types).toEqual({
      'css/site.css': 'text/css',
      'drafts/keep.html': 'text/html',
      'img/logo.svg': 'image/svg+xml',
      'index.html': 'text/html',
      'js/app.js': 'text/javascript',
    });
    const bad = await runCli(at('cp', site, uri(`${prefix}/`), '--sse', 'rot13'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--sse .*one of AES256, aws:kms/);
  });
  requires('sse-c').it(
    '--sse-c-key: cp up and down and cat with the key from a file or a variable, never printed',
    async () => {
      const prefix = uniqueKey('cli-ssec');
      const dir = path.join(tmp.path, 'cli-ssec');
      const key = randomBytes(32);
      const keyFile = path.join(tmp.path, 'cli-ssec.key');
      await writeFile(keyFile, key);
      await writeFiles(dir, { 'a.txt': 'secret text', 'b/c.txt': 'more' });
      const up = await runCli(
        at('cp', dir, uri(`${prefix}/`), '--sse-c-key', `file://${keyFile}`, '--json'),
      );
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      // Without the key radosgw refuses to hand the object out.
      const plain = await runCli(at('cat', uri(`${prefix}/a.txt`)));
      expect(plain.code).toBe(1);
      const b64 = key.toString('base64');
      const cat = await runCli(at('cat', uri(`${prefix}/a.txt`), '--sse-c-key', 'env:MY_KEY'), {
        env: { MY_KEY: b64 },
      });
      expect(cat.stdout).toBe('secret text');
      expect(cat.code).toBe(0);
      const back = path.join(tmp.path, 'cli-ssec-back');
      const down = await runCli(at('cp', uri(`${prefix}/`), back, '--json', '-v'), {
        env: { S3LYNC_SSE_C_KEY: b64 },
      });
      expect(down.code).toBe(0);
      expect(await readTree(back)).toEqual({ 'a.txt': 'secret text', 'b/c.txt': 'more' });
      expect(`${down.stdout}${down.stderr}`).not.toContain(b64);
      const refused = await runCli(at('cp', dir, uri(`${prefix}/`), '--sse-c-key', b64));
      expect(refused.code).toBe(2);
      expect(refused.stderr).not.toContain(b64);
    },
  );

  it('--follow-symlinks follows a link out of the tree; --no-follow-symlinks skips it', async () => {
    const prefix = uniqueKey('cli-links');
    const dir = path.join(tmp.path, 'cli-links');
    const outside = path.join(tmp.path, 'cli-links-outside.txt');
    await writeFiles(dir, { 'in.txt': 'inside' });
    await writeFile(outside, 'outside');
    await symlink(outside, path.join(dir, 'out.txt'));
    const skip = await runCli(at('sync', dir, uri(`${prefix}/`), '--no-follow-symlinks'));
    expect(skip.code).toBe(0);
    expect(skip.stderr).toMatch(/warning: skipped out\.txt/);
    expect(await listKeys(bucket.client, bucket.name, `${prefix}/`)).toEqual([`${prefix}/in.txt`]);
    const follow = await runCli(at('sync', dir, uri(`${prefix}/`), '--follow-symlinks'));
    expect(follow.code).toBe(0);
    expect((await listKeys(bucket.client, bucket.name, `${prefix}/`)).sort()).toEqual([
      `${prefix}/in.txt`,
      `${prefix}/out.txt`,
    ]);
    expect((await getObject(bucket.client, bucket.name, `${prefix}/out.txt`)).toString()).toBe(
      'outside',
    );
  });
});
