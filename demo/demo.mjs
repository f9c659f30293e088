/* global console, process */
/**
 * The README quick start, end to end, against a throwaway radosgw (Ceph's S3 server).
 *
 *   npm run demo        (builds the package, then runs this file)
 *
 * Needs radosgw installed (Debian/Ubuntu). The server, its data and the local cache all
 * live in a temp directory that is removed on exit, on errors and on Ctrl-C.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect, promisify } from 'node:util';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

import {
  hasCommand,
  INSTALL_RADOSGW,
  killRgw,
  onExitSignals,
  startRgw,
} from '../scripts/radosgw/throwaway.mjs';
// The built package, by self-reference (package.json "name" + "exports").
import { S3Object, S3ObjectManager } from 's3lync';

// The AWS SDK warns that it will need Node 22 from 2027: not the demo's news. Other
// warnings still show.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');

const ACCESS_KEY = 'S3LYNCDEMOACCESSKEY0';
const SECRET_KEY = 's3lyncDemoSecretKey00000000000000000000000';
const BUCKET = 'demo-bucket';
const KEY = 'notes/hello.txt';

// ---------------------------------------------------------------------------------------
// Output helpers
// ---------------------------------------------------------------------------------------

const t0 = Date.now();
const say = (text = '') => {
  console.log(text);
};
const step = (n, title) => {
  say(`\n[${n}] ${title}`);
};
const ms = (start) => `${Date.now() - start} ms`;

/** Wraps `obj.client.sdk.send` to count the S3 requests it sends, by command name. */
function countRequests(obj) {
  const sdk = obj.client.sdk;
  const send = sdk.send.bind(sdk);
  const counts = new Map();
  sdk.send = (command, ...rest) => {
    const name = command.constructor.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return send(command, ...rest);
  };
  return {
    /** The counts since the last call, e.g. "HeadObjectCommand x1, GetObjectCommand x1". */
    take() {
      const text = [...counts].map(([name, n]) => `${name} x${n}`).join(', ') || 'none';
      const names = new Set(counts.keys());
      counts.clear();
      return { text, names };
    },
  };
}

// ---------------------------------------------------------------------------------------
// The throwaway server
// ---------------------------------------------------------------------------------------

let tempDir;
let cluster;
let startScript; // start-rgw.sh while it runs

/** Stops radosgw and removes the temp dir. Synchronous, so it also works in signal handlers. */
function cleanup() {
  if (startScript?.exitCode === null) startScript.kill('SIGKILL');
  if (cluster !== undefined) {
    killRgw(cluster);
    cluster = undefined;
  }
  if (tempDir !== undefined) {
    rmSync(tempDir, { recursive: true, force: true });
    tempDir = undefined;
  }
}

onExitSignals(cleanup);

async function startServer() {
  tempDir = mkdtempSync(path.join(os.tmpdir(), 's3lync-demo-'));
  cluster = path.join(tempDir, 'cluster');
  const start = Date.now();
  const endpoint = await startRgw({
    cluster,
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    onChild: (child) => {
      startScript = child;
    },
  });

  say(`    radosgw is up at ${endpoint} (${ms(start)}), data in ${tempDir}`);
  return endpoint;
}

async function createBucket(endpoint) {
  const sdk = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await sdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } finally {
    sdk.destroy();
  }
  say(`    created bucket "${BUCKET}" with the raw AWS SDK`);
}

// ---------------------------------------------------------------------------------------
// The quick start
// ---------------------------------------------------------------------------------------

async function main() {
  say('s3lync demo: use S3 objects like local files');
  say('=============================================');

  if (!hasCommand('radosgw') || !hasCommand('ceph-mon') || !hasCommand('ceph-osd')) {
    console.error(
      '\nThis demo runs against a throwaway Ceph radosgw, which is not installed.\n' +
        'Install it (Debian/Ubuntu, as root or with sudo):\n\n' +
        `  ${INSTALL_RADOSGW}\n\n` +
        'then run `npm run demo` again.',
    );
    return 1;
  }

  step(0, 'Starting a throwaway radosgw on free ports...');
  const endpoint = await startServer();
  await createBucket(endpoint);

  const host = endpoint.replace(/^http:\/\//, '');
  // Credentials go secret first: s3://SECRET:ACCESS@http://host:port/bucket/key
  const uri = `s3://${SECRET_KEY}:${ACCESS_KEY}@http://${host}/${BUCKET}/${KEY}`;
  const cache = path.join(tempDir, 'cache');
  say(`    the S3Objects below use  s3://<SECRET>:${ACCESS_KEY}@${endpoint}/${BUCKET}/${KEY}`);

  // (a) Write through a file handle; the upload happens when the callback succeeds.
  step('a', "open('w', async (f) => f.writeFile(...)): write a file and upload it on close");
  const writer = new S3Object(uri, {
    localPath: path.join(cache, 'writer', 'hello.txt'),
    progressMode: 'compact',
  });
  const writerRequests = countRequests(writer);
  let start = Date.now();
  await writer.open('w', async (f) => {
    await f.writeFile('Hello from s3lync!\nThis line was written through a file handle.\n');
  });
  say(`    uploaded in ${ms(start)}; requests: ${writerRequests.take().text}`);

  // (b) Another S3Object, another local path: open('r') downloads, then reads.
  step('b', "open('r') on a second S3Object with its own local path: download, then read");
  const reader = new S3Object(uri, {
    localPath: path.join(cache, 'reader', 'hello.txt'),
    progressMode: 'compact',
  });
  const readerRequests = countRequests(reader);
  start = Date.now();
  const content = await reader.open('r', (f) => f.readFile({ encoding: 'utf8' }));
  say(
    `    downloaded to ${reader.localPath} in ${ms(start)}; requests: ${readerRequests.take().text}`,
  );
  say('    content:');
  for (const line of content.trimEnd().split('\n')) say(`    | ${line}`);

  // (c) Nothing changed, so download() only asks S3 for the ETag and skips the transfer.
  step('c', 'download() again: the local copy is unchanged, so nothing is transferred');
  const before = (await stat(reader.localPath)).mtimeMs;
  start = Date.now();
  await reader.download();
  const { text, names } = readerRequests.take();
  const untouched = (await stat(reader.localPath)).mtimeMs === before;
  const verdict =
    !names.has('GetObjectCommand') && untouched ? 'nothing downloaded' : 'DOWNLOADED AGAIN?!';
  say(`    ${text}, ${verdict} (${ms(start)})`);

  // (d) Edit the local copy and upload it; the writer's now stale copy catches up.
  step('d', 'Edit the local file and upload() it');
  await writeFile(reader.localPath, `${content}And this line was added locally, then uploaded.\n`);
  start = Date.now();
  await reader.upload();
  say(`    uploaded in ${ms(start)}; requests: ${readerRequests.take().text}`);
  await writer.download({ progressMode: 'disabled' });
  say(
    `    the first S3Object's download() fetched the new version (${writerRequests.take().text}):`,
  );
  const remote = await readFile(writer.localPath, 'utf8');
  for (const line of remote.trimEnd().split('\n')) say(`    | ${line}`);

  // (e) Printing an S3Object never shows the secret key.
  step('e', 'Printing an S3Object: the secret key is redacted');
  const shown = [String(reader), inspect(reader), JSON.stringify(reader)];
  say(`    String(obj)         ${shown[0]}`);
  say(`    util.inspect(obj)   ${shown[1]}`);
  say(`    JSON.stringify(obj) ${shown[2]}`);
  const leaked = shown.some((s) => s.includes(SECRET_KEY));
  say(`    secret key in any of them: ${leaked ? 'YES (bug!)' : 'no'}`);

  // (f) The main job: a whole directory, both ways, then a no-op re-sync.
  step('f', 'A directory: upload a tree of 200 files, download it elsewhere, re-sync');
  const treeUri = `s3://${SECRET_KEY}:${ACCESS_KEY}@http://${host}/${BUCKET}/datasets/run-1`;
  const source = path.join(tempDir, 'work', 'run-1');
  for (let i = 0; i < 200; i++) {
    const file = path.join(source, `shard-${i % 10}`, `part-${i}.csv`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `id,value\n${i},${(i * 7) % 13}\n`);
  }
  // Files that existed before the sync; the hash index distrusts files modified within
  // 100 ms of being hashed, and would (rightly) hash those again next time.
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (let i = 0; i < 200; i++) {
    await utimes(path.join(source, `shard-${i % 10}`, `part-${i}.csv`), hourAgo, hourAgo);
  }
  const index = path.join(tempDir, 'index');
  const up = new S3Object(treeUri, {
    localPath: source,
    progressMode: 'disabled',
    hashIndex: index,
  });
  const upRequests = countRequests(up);
  let r = await up.sync('upload');
  say(
    `    upload:   ${r.transferred} files, ${r.bytes} bytes in ${r.durationMs} ms; ${upRequests.take().text}`,
  );
  const mirror = path.join(tempDir, 'mirror', 'run-1');
  const down = new S3Object(treeUri, {
    localPath: mirror,
    progressMode: 'disabled',
    hashIndex: index,
  });
  const downRequests = countRequests(down);
  r = await down.sync('download');
  say(
    `    download: ${r.transferred} files into ${mirror} in ${r.durationMs} ms; ${downRequests.take().text}`,
  );
  r = await up.sync('upload');
  const noopUp = `${r.transferred} transferred, ${r.unchanged} unchanged, ${r.hashedFiles} hashed; ${upRequests.take().text}`;
  say(`    re-upload with nothing changed:   ${noopUp}`);
  r = await down.sync('download');
  const noopDown = downRequests.take().text;
  say(
    `    re-download with nothing changed: ${r.transferred} transferred, ${r.unchanged} unchanged, ${r.hashedFiles} hashed; ${noopDown}`,
  );
  await writeFile(path.join(source, 'shard-3', 'part-3.csv'), 'id,value\n3,99\n');
  await rm(path.join(source, 'shard-4', 'part-4.csv'));
  const plan = await up.upload({ dryRun: true, mirror: true });
  say(
    '    after editing one file and deleting another, upload({ dryRun: true, mirror: true }) plans:',
  );
  for (const a of plan.actions) say(`    | ${a.op} ${a.path} (${a.reason})`);
  r = await up.sync('upload', { mirror: true });
  say(`    and the real run did: ${r.transferred} uploaded, ${r.deleted} deleted`);
  const treeOk =
    noopUp.endsWith('ListObjectsV2Command x1') && noopDown === 'ListObjectsV2Command x1';

  // (g) Many objects in one batch, under one concurrency limit.
  step('g', 'S3ObjectManager: three objects in one batch, one of them missing');
  const manager = new S3ObjectManager({
    concurrency: 8,
    progressMode: 'disabled',
    defaults: { hashIndex: index },
  });
  const base = `s3://${SECRET_KEY}:${ACCESS_KEY}@http://${host}/${BUCKET}`;
  manager.add(`${base}/datasets/run-1/`, {
    id: 'run-1',
    localPath: path.join(tempDir, 'batch', 'run-1'),
  });
  manager.add(`${base}/${KEY}`, {
    id: 'hello',
    localPath: path.join(tempDir, 'batch', 'hello.txt'),
  });
  manager.add(`${base}/no/such/key`, {
    id: 'missing',
    localPath: path.join(tempDir, 'batch', 'x'),
  });
  const transitions = new Map();
  manager.on('state', ({ id, state }) => {
    transitions.set(id, [...(transitions.get(id) ?? []), state.status]);
  });
  const batch = await manager.downloadAll();
  for (const [id, states] of transitions) say(`    ${id.padEnd(8)} ${states.join(' -> ')}`);
  say(
    `    report: ${batch.succeeded.length} succeeded, ${batch.skipped.length} skipped, ${batch.failed.length} failed; ${batch.transferred} files, ${batch.bytes} bytes in ${batch.durationMs} ms`,
  );
  for (const item of batch.failed) say(`    failed: ${item.id}: ${item.error.message}`);
  const hello = manager.state('hello');
  say(`    hello.txt: ${hello.status}, ETag ${hello.etag}, at ${hello.syncedAt.toISOString()}`);
  manager.destroy();
  const batchOk = batch.succeeded.length === 2 && batch.failed.length === 1;

  // (h) The same library from the shell.
  step('h', 'The s3lync command: the same syncs from a shell');
  const cliOk = await cliSteps(endpoint, source);

  const ok =
    verdict === 'nothing downloaded' &&
    !leaked &&
    remote.includes('added locally') &&
    treeOk &&
    batchOk &&
    cliOk;
  say(`\n${ok ? 'Done' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
  return ok ? 0 : 1;
}

/**
 * Runs the built CLI like a user would (credentials in the environment, `--endpoint` for
 * the local server), showing each command and its output.
 */
async function cliSteps(endpoint, source) {
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    XDG_CACHE_HOME: path.join(tempDir, 'cli-cache'),
  };
  const shell = async (...args) => {
    say(`    $ s3lync ${args.join(' ').replaceAll(tempDir, '$TMP')}`);
    let result;
    try {
      result = await run(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { env });
      result.code = 0;
    } catch (error) {
      result = error;
    }
    const output = `${result.stdout}${result.stderr}`.trimEnd().replaceAll(tempDir, '$TMP');
    for (const line of output.split('\n')) if (line !== '') say(`    ${line}`);
    if (result.code !== 0) say(`    (exit code ${result.code})`);
    return result;
  };
  const remote = `s3://${BUCKET}/datasets/run-1/`;
  const at = ['--endpoint', endpoint];
  await writeFile(path.join(source, 'shard-5', 'part-5.csv'), 'id,value\n5,55\n');
  await rm(path.join(source, 'shard-6', 'part-6.csv'));
  const plan = await shell(...at, 'sync', source, remote, '--delete', '--dry-run');
  const real = await shell(...at, 'sync', source, remote, '--delete', '--progress=disabled');
  const noop = await shell(...at, 'sync', source, remote, '--delete', '--json');
  const list = await shell(...at, 'ls', `s3://${BUCKET}/datasets/run-1/`);
  const cat = await shell(...at, 'cat', `s3://${BUCKET}/datasets/run-1/shard-5/part-5.csv`);
  const usage = await shell(...at, 'sync', source);
  const summary = JSON.parse(noop.stdout);
  return (
    plan.code === 0 &&
    plan.stdout.includes('(dry run) delete:') &&
    real.code === 0 &&
    summary.transferred === 0 &&
    summary.skipped === 198 &&
    list.code === 0 &&
    cat.stdout === 'id,value\n5,55\n' &&
    usage.code === 2
  );
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error('\nThe demo failed:', error);
  process.exitCode = 1;
} finally {
  if (cluster !== undefined) say('\nStopping radosgw and removing the temp dir...');
  cleanup();
}
