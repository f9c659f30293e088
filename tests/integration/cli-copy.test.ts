/**
 * The built `s3lync` command against radosgw for S3 → S3 `cp`/`sync`, `mv` and `check`:
 * exit codes, JSON, and that `mv` never deletes a source whose copy failed.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { expect, it } from 'vitest';

import { startFaultProxy } from '../support/fault-proxy.js';
import {
  describeS3,
  listKeys,
  putObject,
  s3,
  uniqueKey,
  useBucket,
  useTempDir,
} from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(root, 'dist', 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built command with the test server's credentials from the environment. */
function runCli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: root,
      env: {
        ...process.env,
        AWS_PROFILE: '',
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: s3.region,
        AWS_CONFIG_FILE: path.join(root, 'no-such-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(root, 'no-such-aws-credentials'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

describeS3('the command line: S3 → S3, mv and check', () => {
  const bucket = useBucket();
  const tmp = useTempDir();
  const at = (endpoint: string, ...args: string[]): string[] => [
    '--endpoint',
    endpoint,
    '--progress',
    'disabled',
    ...args,
  ];
  const uri = (key: string): string => `s3://${bucket.name}/${key}`;

  async function seed(prefix: string, files: Record<string, string>): Promise<void> {
    for (const [rel, body] of Object.entries(files)) {
      await putObject(bucket.client, bucket.name, `${prefix}${rel}`, body);
    }
  }

  it('cp and sync between two s3:// sides; check exits 0 when they match, 1 with JSON when not', async () => {
    const base = uniqueKey('cli');
    await seed(`${base}/a/`, { 'x.txt': 'x', 'd/y.txt': 'yy', 'z.txt': 'zzz' });
    const cp = await runCli(at(s3.endpoint, 'cp', uri(`${base}/a/`), uri(`${base}/b/`), '--json'));
    expect(cp.code).toBe(0);
    expect(JSON.parse(cp.stdout)).toMatchObject({ command: 'cp', ok: true, transferred: 3 });
    expect(await listKeys(bucket.client, bucket.name, `${base}/b/`)).toHaveLength(3);

    const same = await runCli(
      at(s3.endpoint, 'check', uri(`${base}/a/`), uri(`${base}/b/`), '--json'),
    );
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ command: 'check', ok: true, matching: 3 });

    await seed(`${base}/b/`, { 'z.txt': 'ZZZ', 'extra.txt': 'e' });
    await seed(`${base}/a/`, { 'new.txt': 'n' });
    const differ = await runCli(
      at(s3.endpoint, 'check', uri(`${base}/a/`), uri(`${base}/b/`), '--json'),
    );
    expect(differ.code).toBe(1);
    expect(JSON.parse(differ.stdout)).toMatchObject({
      ok: false,
      matching: 2,
      missingOnDestination: ['new.txt'],
      missingOnSource: ['extra.txt'],
      differ: ['z.txt'],
      unknown: [],
    });
    const text = await runCli(at(s3.endpoint, 'check', uri(`${base}/a/`), uri(`${base}/b/`)));
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('differ: z.txt');

    const sync = await runCli(
      at(s3.endpoint, 'sync', uri(`${base}/a/`), uri(`${base}/b/`), '--delete', '--json'),
    );
    expect(sync.code).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ transferred: 2, deleted: 1 });
    const after = await runCli(at(s3.endpoint, 'check', uri(`${base}/a/`), uri(`${base}/b/`)));
    expect(after.code).toBe(0);
  });

  it('check of a local tree against S3, and exit 2 when the check itself fails', async () => {
    const base = uniqueKey('local');
    const dir = path.join(tmp.path, 'check-local');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'a.txt'), 'a');
    await writeFile(path.join(dir, 'sub', 'b.txt'), 'b');
    expect((await runCli(at(s3.endpoint, 'cp', dir, uri(`${base}/`)))).code).toBe(0);
    expect((await runCli(at(s3.endpoint, 'check', dir, uri(`${base}/`)))).code).toBe(0);
    await writeFile(path.join(dir, 'a.txt'), 'A');
    const differ = await runCli(at(s3.endpoint, 'check', dir, uri(`${base}/`), '--json'));
    expect(differ.code).toBe(1);
    expect(JSON.parse(differ.stdout)).toMatchObject({ differ: ['a.txt'], matching: 1 });
    const failed = await runCli(
      at(s3.endpoint, 'check', dir, `s3://no-such-bucket-${base.slice(0, 8)}/x/`),
    );
    expect(failed.code).toBe(2);
  });

  it('mv local → S3 deletes the sources it copied; mv S3 → S3 likewise', async () => {
    const base = uniqueKey('mv');
    const dir = path.join(tmp.path, 'mv-out');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'a.txt'), 'a');
    await writeFile(path.join(dir, 'sub', 'b.txt'), 'b');
    const up = await runCli(at(s3.endpoint, 'mv', dir, uri(`${base}/in/`)));
    expect(up.code).toBe(0);
    expect(await readdir(dir)).toEqual([]);
    const across = await runCli(at(s3.endpoint, 'mv', uri(`${base}/in/`), uri(`${base}/archive/`)));
    expect(across.code).toBe(0);
    expect(await listKeys(bucket.client, bucket.name, `${base}/in/`)).toEqual([]);
    expect(await listKeys(bucket.client, bucket.name, `${base}/archive/`)).toEqual([
      `${base}/archive/a.txt`,
      `${base}/archive/sub/b.txt`,
    ]);
  });

  it('mv of one file goes under a prefix by its name, and from S3 into a directory', async () => {
    const base = uniqueKey('mv1');
    const dir = path.join(tmp.path, 'mv-one');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'r.csv'), 'a,b');
    expect(
      (await runCli(at(s3.endpoint, 'mv', path.join(dir, 'r.csv'), uri(`${base}/`)))).code,
    ).toBe(0);
    expect(await readdir(dir)).toEqual([]);
    expect(await listKeys(bucket.client, bucket.name, `${base}/`)).toEqual([`${base}/r.csv`]);
    const back = await runCli(at(s3.endpoint, 'mv', uri(`${base}/r.csv`), `${dir}/`));
    expect(back.code).toBe(0);
    expect(await readdir(dir)).toEqual(['r.csv']);
    expect(await listKeys(bucket.client, bucket.name, `${base}/`)).toEqual([]);
  });

  it('mv keeps every source whose copy failed, and exits 1', async () => {
    const base = uniqueKey('mvfail');
    await seed(`${base}/src/`, { 'ok.txt': 'ok', 'bad.txt': 'bad' });
    const proxy = await startFaultProxy({ target: s3.endpoint, maxRequests: 200 });
    try {
      // Every request for the destination's bad.txt fails: its CopyObject never succeeds.
      proxy.setRules([
        {
          match: { method: 'PUT', path: /\/dst\/bad\.txt$/ },
          fault: { kind: 'status', status: 500 },
        },
      ]);
      const run = await runCli(at(proxy.endpoint, 'mv', uri(`${base}/src/`), uri(`${base}/dst/`)));
      expect(run.code).toBe(1);
      expect(
        proxy.requests.some((r) => r.method === 'PUT' && r.path.endsWith('/dst/bad.txt')),
      ).toBe(true);
    } finally {
      await proxy.close();
    }
    expect(await listKeys(bucket.client, bucket.name, `${base}/src/`)).toEqual([
      `${base}/src/bad.txt`,
    ]);
    expect(await listKeys(bucket.client, bucket.name, `${base}/dst/`)).toEqual([
      `${base}/dst/ok.txt`,
    ]);
  });
});
