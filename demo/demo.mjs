/* global console, process */
/**
 * The README quick start, end to end, against a throwaway S3 server.
 *
 *   npm run demo        (builds the package, then runs this file)
 *
 * The server is Ceph's radosgw when it is installed (Debian/Ubuntu), otherwise s3rver, an
 * S3 server that npm installed as a dev dependency, run inside this process: nothing to
 * install by hand, no root. S3LYNC_DEMO_SERVER=radosgw or =s3rver picks one. The server's
 * data and the local cache live in a temp directory that is removed on exit, on errors
 * and on Ctrl-C.
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
import { startS3rver } from '../scripts/s3rver/embedded.mjs';
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

/**
 * Counts the S3 requests an S3Object sends, by command name, on both of its paths: the
 * SDK client's, and the data lane s3lync sends its hot requests through once it
 * has started (each lane request is named by the command it stands for).
 */
async function countRequests(obj) {
  const sdk = obj.client.sdk;
  const counts = new Map();
  const tally = (name) => counts.set(name, (counts.get(name) ?? 0) + 1);
  // In the step that sends: the lane's endpoint probe stops before it and is not counted.
  sdk.middlewareStack.add(
    (next, context) => (args) => {
      tally(context.commandName);
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low' },
  );
  // An internal module of the build, as in the benchmark: the lane is not public API.
  const { laneOf } = await import('../dist/client/lane.js');
  const lane = laneOf(sdk);
  if (lane !== undefined) {
    const laneSend = lane.send.bind(lane);
    lane.send = (route, request, ...rest) => {
      tally(`${laneCommand(request)}Command`);
      return laneSend(route, request, ...rest);
    };
  }
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

/** The S3 operation of a data-lane request, by its method and query. */
function laneCommand(request) {
  if (request.method === 'HEAD') return 'HeadObject';
  if (request.query['list-type'] === '2') return 'ListObjectsV2';
  return request.query['x-id'] ?? request.method;
}

// ---------------------------------------------------------------------------------------
// The throwaway server
// ---------------------------------------------------------------------------------------

let tempDir;
let cluster;
let startScript; // start-rgw.sh while it runs
let embedded; // s3rver, when it runs in this process

/**
 * Stops radosgw and removes the temp dir. Synchronous, so it also works in signal handlers
 * (s3rver dies with this process).
 */
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

/** Which server to use: S3LYNC_DEMO_SERVER, else radosgw when installed, else s3rver. */
function chooseServer() {
  const asked = process.env.S3LYNC_DEMO_SERVER?.trim().toLowerCase();
  const rgw = hasCommand('radosgw') && hasCommand('ceph-mon') && hasCommand('ceph-osd');
  if (asked === 'radosgw' && !rgw) {
    throw new Error(
      `S3LYNC_DEMO_SERVER=radosgw, but radosgw is not installed. Install it (Debian/Ubuntu, as root):\n  ${INSTALL_RADOSGW}`,
    );
  }
  if (asked !== undefined && asked !== '' && asked !== 'radosgw' && asked !== 's3rver') {
    throw new Error(`S3LYNC_DEMO_SERVER must be radosgw or s3rver, not "${asked}"`);
  }
  return asked === 's3rver' || !rgw ? 's3rver' : 'radosgw';
}

async function startServer(kind) {
  tempDir = mkdtempSync(path.join(os.tmpdir(), 's3lync-demo-'));
  const start = Date.now();
  if (kind === 's3rver') {
    embedded = await startS3rver({
      directory: path.join(tempDir, 's3rver'),
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
    });
    say(`    s3rver is up at ${embedded.endpoint} (${ms(start)}), data in ${tempDir}`);
    return embedded.endpoint;
  }
  cluster = path.join(tempDir, 'cluster');
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

  const kind = chooseServer();
  if (kind === 'radosgw') {
    step(0, 'Starting a throwaway radosgw (Ceph, installed on this machine) on free ports...');
  } else {
    step(0, 'Starting s3rver, an S3 server from npm, in this process on a free port...');
    const why = hasCommand('radosgw') ? 'S3LYNC_DEMO_SERVER=s3rver' : 'radosgw is not installed';
    say(`    (${why}; s3rver came with npm ci, nothing else to install)`);
  }
  const endpoint = await startServer(kind);
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
  const writerRequests = await countRequests(writer);
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
  const readerRequests = await countRequests(reader);
  start = Date.now();
  const content = await reader.open('r', (f) => f.readFile({ encoding: 'utf8' }));
  say(
    `    downloaded to ${reader.localPath} in ${ms(start)}; requests: ${readerRequests.take().text}`,
  );
  say('    content:');
  for (const line of content.trimEnd().split('\n')) say(`    | ${line}`);

  // (c) Nothing changed: one GET with If-None-Match (the cached copy's ETag) is answered
  // 304 Not Modified, and no byte moves.
  step('c', 'download() again: the local copy is unchanged, so nothing is transferred');
  const before = (await stat(reader.localPath)).mtimeMs;
  start = Date.now();
  const again = await reader.sync('download');
  const { text } = readerRequests.take();
  const untouched = (await stat(reader.localPath)).mtimeMs === before;
  const verdict =
    again.transferred === 0 && again.bytes === 0 && untouched
      ? 'nothing downloaded'
      : 'DOWNLOADED AGAIN?!';
  say(`    ${text} (If-None-Match, answered 304 Not Modified), ${verdict} (${ms(start)})`);

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
  const upRequests = await countRequests(up);
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
  const downRequests = await countRequests(down);
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
  if (embedded !== undefined) {
    say('\nStopping s3rver and removing the temp dir...');
    await embedded.close();
    embedded = undefined;
  }
  cleanup();
}
