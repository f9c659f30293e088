/* global Buffer, console, process */
/**
 * s3lync benchmark against a throwaway radosgw (Ceph's S3 server, memstore).
 *
 *   npm run bench                       (builds the package, then runs this file)
 *   node bench/run.mjs [--json PATH] [--reps N] [--cpu-prof DIR] [--only NAME[,NAME]]
 *                      [--large] [--million] [--all] [--no-trees]
 *
 * Every scenario runs in a fresh child process (bench/worker.mjs), --reps times (3), and
 * the table shows the median wall time with the other columns of that same run. The raw
 * SDK with the same concurrency is the ceiling that uploads and downloads are held to;
 * `rclone copy --checksum` on the same server, when installed, is the peer row.
 * The server, the data and the hash indexes live in a temp dir removed on exit, on errors
 * and on Ctrl-C. See bench/README.md.
 */
import { execFile, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  cpSync,
  existsSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

// The SDK warns about Node 20 on every client construction in every worker; not our news.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { hasCommand, killRgw, onExitSignals, startRgw } from '../scripts/radosgw/throwaway.mjs';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const WORKER = path.join(import.meta.dirname, 'worker.mjs');

const ACCESS_KEY = 'S3LYNCBENCHACCESSKEY';
const SECRET_KEY = 's3lyncBenchSecretKey0000000000000000000000';
const CONCURRENCY = 16;
const BUCKET = 'bench';
const CEIL_BUCKET = 'bench-ceil';
const BIG_BUCKET = 'bench-big';
const SMALL = { files: 1000, size: 4096, seed: 0x5eed0001 };
const BIG = { files: 10_000, size: 1024, seed: 0x5eed0002 };
const CHANGED = 10;
const LARGE_BUCKET = 'bench-large';
const LARGE = {
  size: 512 * 1024 * 1024,
  seed: 0x5eed0003,
  partSize: 8 * 1024 * 1024,
  queueSize: 4,
};
const MILLION = { pages: 1000, pageSize: 1000 };
const RCLONE_REMOTE = 'bench';
/** rclone's flags in every run: the same concurrency, and its closing stats on stderr. */
const RCLONE_FLAGS = [
  '--checksum',
  '--transfers',
  String(CONCURRENCY),
  '--checkers',
  String(CONCURRENCY),
  '--stats',
  '1h',
  '--stats-log-level',
  'NOTICE',
];
/** The 512 MiB file: rclone's parts as s3lync's (8 MiB, 4 in flight). */
const RCLONE_LARGE_FLAGS = ['--s3-chunk-size', '8M', '--s3-upload-concurrency', '4'];

/** What each `--only` name selects, in the tree section and in --large. */
const ONLY = {
  upload: ['a', 'L-up'],
  download: ['b', 'L-down'],
  'noop-upload': ['c'],
  'noop-download': ['d'],
  'cold-noop': ['g'],
  changed: ['e'],
  'noop-10k': ['f'],
  fingerprint: ['L-down-fp'],
  rehash: ['L-rehash'],
  hashing: ['L-md5sum', 'L-hashfile', 'L-md5node'],
};
const LIVE_SAMPLE_MS = 100;
const LIVE_SAMPLE_MS_TEXT = `${LIVE_SAMPLE_MS} ms`;
const HOUR_AGO = new Date(Date.now() - 3_600_000);

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {
    json: undefined,
    reps: 3,
    cpuProf: undefined,
    trees: true,
    large: false,
    million: false,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') out.json = path.resolve(value());
    else if (a === '--reps') out.reps = Number(value());
    else if (a === '--cpu-prof') out.cpuProf = path.resolve(value());
    else if (a === '--large') out.large = true;
    else if (a === '--million') out.million = true;
    else if (a === '--all') out.large = out.million = true;
    else if (a === '--no-trees') out.trees = false;
    else if (a === '--only') {
      out.only = new Set();
      for (const name of value().split(',')) {
        const ids = ONLY[name];
        if (ids === undefined) {
          throw new Error(
            `--only: unknown scenario ${name} (known: ${Object.keys(ONLY).join(', ')})`,
          );
        }
        for (const id of ids) out.only.add(id);
      }
    } else {
      throw new Error(
        `unknown argument ${a} (known: --json PATH, --reps N, --cpu-prof DIR, --only NAME[,NAME], --large, --million, --all, --no-trees)`,
      );
    }
  }
  if (!Number.isInteger(out.reps) || out.reps < 1) throw new Error('--reps must be >= 1');
  return out;
}

// ---------------------------------------------------------------------------------------
// The throwaway server (as in demo/demo.mjs)
// ---------------------------------------------------------------------------------------

const log = (text = '') => {
  console.error(text);
};

let tempDir;
let cluster;
let startScript; // start-rgw.sh while it runs
let currentChild; // the worker running now
let libDir; // this run's copy of dist/

/** Stops radosgw and removes the temp dir. Synchronous, so it also works in signal handlers. */
function cleanup() {
  if (currentChild?.exitCode === null) currentChild.kill('SIGKILL');
  if (startScript?.exitCode === null) startScript.kill('SIGKILL');
  if (cluster !== undefined) {
    killRgw(cluster);
    cluster = undefined;
  }
  if (tempDir !== undefined) {
    rmSync(tempDir, { recursive: true, force: true });
    tempDir = undefined;
  }
  if (libDir !== undefined) {
    rmSync(libDir, { recursive: true, force: true });
    libDir = undefined;
  }
}

/**
 * Copies dist/ aside for the workers, so a rebuild during the run (the build starts with
 * rm -rf dist) cannot break or change it. The copy sits in node_modules/.cache/, where the
 * package's dependencies still resolve and linters do not look.
 */
function snapshotLibrary() {
  const dist = path.join(root, 'dist');
  if (!existsSync(path.join(dist, 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` first (npm run bench does)');
  }
  libDir = path.join(root, 'node_modules', '.cache', `s3lync-bench-${process.pid}`);
  cpSync(dist, libDir, { recursive: true });
  return path.join(libDir, 'index.js');
}

onExitSignals(cleanup);

async function startServer() {
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

  log(`radosgw is up at ${endpoint} (${Date.now() - start} ms), temp dir ${tempDir}`);
  return endpoint;
}

/** Whether scenario `id` was asked for (every one without --only). */
function picked(args, id) {
  return args.only === undefined || args.only.has(id);
}

/**
 * rclone's configuration, from the environment only: a remote named `bench` of type s3 on
 * this radosgw, and RCLONE_CONFIG="" so no config file is read or written. `undefined`
 * when rclone is not installed.
 */
function rcloneEnv(endpoint) {
  if (!hasCommand('rclone')) return undefined;
  const name = `RCLONE_CONFIG_${RCLONE_REMOTE.toUpperCase()}`;
  return {
    RCLONE_CONFIG: '',
    RCLONE_CACHE_DIR: path.join(tempDir, 'rclone-cache'),
    [`${name}_TYPE`]: 's3',
    [`${name}_PROVIDER`]: 'Ceph',
    [`${name}_ENDPOINT`]: endpoint,
    [`${name}_ACCESS_KEY_ID`]: ACCESS_KEY,
    [`${name}_SECRET_ACCESS_KEY`]: SECRET_KEY,
    [`${name}_REGION`]: 'us-east-1',
    [`${name}_FORCE_PATH_STYLE`]: 'true',
    // Unset (null): the server is plain HTTP, and rclone's AWS SDK fails to start with a
    // CA bundle it cannot load into rclone's own HTTP transport.
    AWS_CA_BUNDLE: null,
  };
}

function rawClient(endpoint) {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Deletes every object under `prefix` (untimed housekeeping between repetitions). */
async function deletePrefix(sdk, bucket, prefix) {
  let token;
  let n = 0;
  do {
    const page = await sdk.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length > 0) {
      const out = await sdk.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
      );
      if ((out.Errors ?? []).length > 0) {
        throw new Error(`could not delete ${out.Errors.length} objects under ${prefix}`);
      }
      n += keys.length;
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return n;
}

/** Frees the memstore space of deleted objects now rather than later. */
async function gcProcess() {
  await run(
    'radosgw-admin',
    ['-c', path.join(cluster, 'ceph.conf'), 'gc', 'process', '--include-all'],
    {
      timeout: 60_000,
    },
  );
}

// ---------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so every run writes the same bytes. */
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function fileBytes(seed, index, size) {
  const next = prng(Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE(next(), i);
  return buf;
}

/** Relative paths: 10 dirs × 10 subdirs × (files / 100) files. */
function treePaths(files) {
  const perDir = files / 100;
  const width = String(perDir - 1).length;
  const out = [];
  for (let d = 0; d < 10; d++) {
    for (let s = 0; s < 10; s++) {
      for (let f = 0; f < perDir; f++)
        out.push(`d${d}/s${s}/f${String(f).padStart(width, '0')}.bin`);
    }
  }
  return out;
}

/** Writes a tree; every file gets an mtime an hour ago. Returns its paths and an MD5 of it all. */
async function generateTree(dir, spec) {
  const paths = treePaths(spec.files);
  const all = createHash('md5');
  for (let d = 0; d < 10; d++) {
    for (let s = 0; s < 10; s++) await mkdir(path.join(dir, `d${d}`, `s${s}`), { recursive: true });
  }
  const batch = 256;
  for (let i = 0; i < paths.length; i += batch) {
    await Promise.all(
      paths.slice(i, i + batch).map(async (rel, j) => {
        const abs = path.join(dir, ...rel.split('/'));
        await writeFile(abs, fileBytes(spec.seed, i + j, spec.size));
        await utimes(abs, HOUR_AGO, HOUR_AGO);
      }),
    );
  }
  for (let i = 0; i < paths.length; i++) all.update(fileBytes(spec.seed, i, spec.size));
  return { paths, md5: all.digest('hex') };
}

/** The files scenario (e) changes: spread over the tree, the same every run. */
function changedIndexes() {
  return Array.from({ length: CHANGED }, (_, i) => (i * 97 + 13) % SMALL.files);
}

/** Overwrites the changed files with new bytes of the same size (a fresh mtime, like an edit). */
async function changeFiles(dir, paths, rep) {
  for (const i of changedIndexes()) {
    const original = fileBytes(SMALL.seed, i, SMALL.size);
    const changed = fileBytes(SMALL.seed ^ (0x0c4a0000 + rep), i, SMALL.size);
    if (changed.equals(original)) throw new Error('internal: the changed file equals the original');
    await writeFile(path.join(dir, ...paths[i].split('/')), changed);
  }
}

/** Puts the original bytes (and the old mtime) back, so the next repetition starts equal. */
async function restoreFiles(dir, paths) {
  for (const i of changedIndexes()) {
    const abs = path.join(dir, ...paths[i].split('/'));
    await writeFile(abs, fileBytes(SMALL.seed, i, SMALL.size));
    await utimes(abs, HOUR_AGO, HOUR_AGO);
  }
}

/** Checks a downloaded tree byte for byte against the generator. */
async function verifyTree(dir, paths, spec) {
  for (let i = 0; i < paths.length; i++) {
    const got = await readFile(path.join(dir, ...paths[i].split('/')));
    if (!got.equals(fileBytes(spec.seed, i, spec.size))) {
      throw new Error(`downloaded ${paths[i]} differs from the source`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------

let workerSeq = 0;

/** Runs one scenario in a fresh `node bench/worker.mjs` and returns its measurements. */
async function runWorker(spec, cpuProf, nodeArgs = []) {
  const out = path.join(tempDir, `result-${++workerSeq}.json`);
  const args = [...nodeArgs];
  if (cpuProf !== undefined) {
    args.push(
      '--cpu-prof',
      '--cpu-prof-dir',
      cpuProf,
      '--cpu-prof-name',
      `${spec.label}-${workerSeq}.cpuprofile`,
    );
  }
  args.push(WORKER, JSON.stringify({ ...spec, out }));
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  currentChild = child;
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, sig) => {
      resolve(sig ?? c);
    });
  });
  currentChild = undefined;
  if (code !== 0) throw new Error(`worker ${spec.label} failed (exit ${code})`);
  return JSON.parse(await readFile(out, 'utf8'));
}

// ---------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------

const SHORT = {
  ListObjectsV2: 'LIST',
  PutObject: 'PUT',
  GetObject: 'GET',
  HeadObject: 'HEAD',
  DeleteObjects: 'DELETE',
  DeleteObject: 'DELETE1',
  CreateMultipartUpload: 'MPU-CREATE',
  UploadPart: 'MPU-PART',
  CompleteMultipartUpload: 'MPU-COMPLETE',
};
const ORDER = ['LIST', 'HEAD', 'GET', 'PUT'];

function requestText(requests) {
  const entries = Object.entries(requests).map(([k, n]) => [SHORT[k] ?? k, n]);
  entries.sort((a, b) => {
    const ia = ORDER.indexOf(a[0]);
    const ib = ORDER.indexOf(b[0]);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a[0].localeCompare(b[0]);
  });
  return entries.map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}

const countOf = (requests, name) => requests[name] ?? 0;

function median(runs) {
  const sorted = [...runs].sort((a, b) => a.wallS - b.wallS);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const f2 = (x) => x.toFixed(2);
const f3 = (x) => x.toFixed(3);
const int = (x) => Math.round(x).toLocaleString('en-US');
const pct = (x) => `${(x * 100).toFixed(0)}%`;
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!hasCommand('radosgw') || !hasCommand('ceph-mon') || !hasCommand('ceph-osd')) {
    console.error('radosgw is not installed; see demo/demo.mjs for the apt-get line.');
    return 1;
  }
  const t0 = Date.now();
  const loadAtStart = load();
  const lib = snapshotLibrary();
  tempDir = mkdtempSync(path.join(os.tmpdir(), 's3lync-bench-'));
  if (args.cpuProf !== undefined) await mkdir(args.cpuProf, { recursive: true });
  const endpoint = await startServer();
  const sdk = rawClient(endpoint);
  try {
    for (const b of [BUCKET, CEIL_BUCKET, BIG_BUCKET, LARGE_BUCKET]) {
      await sdk.send(new CreateBucketCommand({ Bucket: b }));
    }
    const common = {
      lib,
      endpoint,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      concurrency: CONCURRENCY,
    };
    const worker = (label, spec, nodeArgs) =>
      runWorker({ label, ...common, ...spec }, args.cpuProf, nodeArgs);
    const rclone = await rclonePeer(endpoint, worker);
    const markdown = [];
    const json = {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}, ${os.cpus().length} CPUs`,
      loadAverage: { start: loadAtStart },
      reps: args.reps,
      concurrency: CONCURRENCY,
    };
    if (args.trees) {
      const trees = await runTrees(sdk, worker, args, loadAtStart, rclone, { endpoint, lib });
      markdown.push(trees.markdown);
      Object.assign(json, trees.json);
    }
    if (args.large) {
      const large = await runLarge(sdk, worker, args, rclone);
      markdown.push(large.markdown);
      json.large = large.json;
    }
    if (args.million) {
      const million = await runMillion(worker, args);
      markdown.push(million.markdown);
      json.million = million.json;
    }
    console.log(markdown.join('\n\n'));
    if (args.json !== undefined) {
      json.loadAverage.end = load();
      await mkdir(path.dirname(args.json), { recursive: true });
      await writeFile(args.json, `${JSON.stringify(json, null, 2)}\n`);
      log(`wrote ${args.json}`);
    }
    log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    sdk.destroy();
  }
}

/**
 * The peer: runs `rclone ARGS… --checksum --transfers 16 --checkers 16` in a worker, or
 * `undefined` (with a notice) when rclone is not installed. Its start-up, measured once
 * with `rclone version`, is in `startS`: its rows include it, s3lync's exclude Node's.
 */
async function rclonePeer(endpoint, worker) {
  const env = rcloneEnv(endpoint);
  if (env === undefined) {
    log('rclone is not installed: the peer rows are skipped (apt-get install rclone)');
    return undefined;
  }
  const version = await worker('rclone-version', { kind: 'rclone', args: ['version'], env });
  log(`rclone start-up (\`rclone version\`): ${f3(version.wallS)} s`);
  return {
    startS: version.wallS,
    run: (label, rcloneArgs, extraFlags = []) =>
      worker(label, {
        kind: 'rclone',
        args: [...rcloneArgs, ...RCLONE_FLAGS, ...extraFlags],
        env,
      }),
    remote: (bucket, key) => `${RCLONE_REMOTE}:${bucket}/${key}`,
  };
}

/** The tree scenarios (a)–(f), their ceilings and the rclone peer: the default section. */
async function runTrees(sdk, worker, args, loadAtStart, rclone, { endpoint, lib }) {
  {
    // Data.
    const dataDir = path.join(tempDir, 'data');
    const smallDir = path.join(dataDir, 'tree1k');
    const bigDir = path.join(dataDir, 'tree10k');
    let t = Date.now();
    const small = await generateTree(smallDir, SMALL);
    const big = await generateTree(bigDir, BIG);
    const manifest = path.join(tempDir, 'tree1k.json');
    await writeFile(manifest, JSON.stringify(small.paths));
    log(
      `generated ${SMALL.files} × ${SMALL.size} B (md5 of all ${small.md5}) and ${BIG.files} × ${BIG.size} B (md5 ${big.md5}) in ${Date.now() - t} ms`,
    );

    // The 10,000-file tree is uploaded once, untimed; scenario (f) re-syncs it.
    const on = (id) => picked(args, id);
    const bigIndex = path.join(tempDir, 'index', 'big');
    let seed;
    if (on('f')) {
      t = Date.now();
      seed = await worker('f-seed', {
        kind: 's3lync',
        direction: 'upload',
        bucket: BIG_BUCKET,
        prefix: 'big/',
        localPath: bigDir,
        indexDir: bigIndex,
      });
      if (seed.transferred !== BIG.files) {
        throw new Error(`the first upload of the 10,000-file tree sent ${seed.transferred} files`);
      }
      log(
        `uploaded the 10,000-file tree once (untimed setup): ${f2(seed.wallS)} s, ${int(BIG.files / seed.wallS)} files/s, ${requestText(seed.requests)}`,
      );
    }

    /** @type {Record<string, object[]>} */
    const runs = {};
    const record = (id, result) => {
      (runs[id] ??= []).push(result);
      const fails =
        Object.keys(result.failures ?? {}).length > 0
          ? ` FAILED REQUESTS ${JSON.stringify(result.failures)}`
          : '';
      log(
        `  ${id.padEnd(8)} ${f3(result.wallS)} s  cpu ${f2(result.cpuS)} s  rss ${Math.round(result.peakRssMiB)} MiB  transferred ${result.transferred}  ${result.requests === undefined ? `checked ${result.checks}` : `hashed ${result.hashedFiles}  ${requestText(result.requests)}`}${fails}`,
      );
    };
    // What a later scenario starts from runs even when only that one was asked for
    // (untimed, not recorded): a download needs the upload, a no-op its first run.
    const needUpload = ['a', 'b', 'c', 'd', 'e', 'g'].some(on);
    const needDownload = on('b') || on('d') || on('g');
    const keep = (id, r) => {
      if (on(id.replace(/^rc-/, ''))) record(id, r);
      else log(`  ${id.padEnd(8)} ${f3(r.wallS)} s  (setup for another scenario, not recorded)`);
      return r;
    };

    for (let rep = 1; rep <= args.reps; rep++) {
      log(`repetition ${rep}/${args.reps}`);
      const prefix = `r${rep}/`;
      const ceilPrefix = `c${rep}/`;
      const rclonePrefix = `k${rep}`;
      const indexDir = path.join(tempDir, 'index', `r${rep}`);
      const dlDir = path.join(tempDir, `dl-${rep}`);
      const ceilDlDir = path.join(tempDir, `ceil-dl-${rep}`);
      const rcloneDlDir = path.join(tempDir, `rclone-dl-${rep}`);
      const ceilPut = () =>
        worker('ceil-put', {
          kind: 'ceil-put',
          bucket: CEIL_BUCKET,
          prefix: ceilPrefix,
          localPath: smallDir,
          manifest,
        }).then((r) => {
          record('ceil-put', r);
        });
      const ceilGet = () =>
        worker('ceil-get', {
          kind: 'ceil-get',
          bucket: CEIL_BUCKET,
          prefix: ceilPrefix,
          localPath: ceilDlDir,
          manifest,
        }).then((r) => {
          record('ceil-get', r);
        });
      const sync = (id, direction, localPath, extra = {}) =>
        worker(id, {
          kind: 's3lync',
          direction,
          bucket: BUCKET,
          prefix,
          localPath,
          indexDir,
          ...extra,
        }).then((r) => keep(id, r));
      const remote = rclone?.remote(BUCKET, rclonePrefix);
      const peer = (id, direction) =>
        rclone === undefined
          ? Promise.resolve()
          : rclone
              .run(
                id,
                direction === 'upload' ? ['copy', smallDir, remote] : ['copy', remote, rcloneDlDir],
              )
              .then((r) => keep(id, r));
      // Alternate which goes first, so neither side always meets a warmer server.
      const inTurn = async (steps) => {
        for (const step of rep % 2 === 1 ? steps : [...steps].reverse()) await step();
      };

      if (needUpload) {
        await inTurn([
          ...(on('a') || on('b') ? [ceilPut] : []),
          () => sync('a', 'upload', smallDir),
          () => peer('rc-a', 'upload'),
        ]);
      }
      if (on('c')) {
        await sync('c', 'upload', smallDir);
        await peer('rc-c', 'upload');
      }
      if (needDownload) {
        await inTurn([
          ...(on('b') ? [ceilGet] : []),
          () => sync('b', 'download', dlDir),
          () => peer('rc-b', 'download'),
        ]);
        await verifyTree(dlDir, small.paths, SMALL);
        if (on('b')) await verifyTree(ceilDlDir, small.paths, SMALL);
        if (rclone !== undefined) await verifyTree(rcloneDlDir, small.paths, SMALL);
      }
      if (on('d')) {
        await sync('d', 'download', dlDir);
        await peer('rc-d', 'download');
      }
      if (on('g')) {
        // Cold start: `node cli.js sync` as a user runs it, and the raw SDK's one LIST, each
        // a whole process. The CLI keeps its hash index under XDG_CACHE_HOME: one untimed run
        // fills it, the next is the no-op.
        const uri = `s3://${SECRET_KEY}:${ACCESS_KEY}@${endpoint}/${BUCKET}/${prefix}`;
        const cli = {
          kind: 'process',
          argv: [process.execPath, path.join(path.dirname(lib), 'cli.js'), 'sync', uri, dlDir],
          env: { XDG_CACHE_HOME: path.join(tempDir, `cli-cache-${rep}`) },
        };
        await worker('g-setup', cli);
        const ceilList = () =>
          worker('ceil-list', {
            kind: 'process',
            argv: [
              process.execPath,
              path.join(import.meta.dirname, 'ceil-list.mjs'),
              JSON.stringify({
                endpoint,
                accessKey: ACCESS_KEY,
                secretKey: SECRET_KEY,
                bucket: BUCKET,
                prefix,
              }),
            ],
          }).then((r) => {
            record('ceil-list', r);
          });
        await inTurn([ceilList, () => worker('g', cli).then((r) => keep('g', r))]);
      }
      if (on('e')) {
        await changeFiles(smallDir, small.paths, rep);
        await sync('e', 'upload', smallDir);
        await peer('rc-e', 'upload');
        await restoreFiles(smallDir, small.paths);
      }
      if (on('f')) {
        await sync('f', 'upload', bigDir, {
          bucket: BIG_BUCKET,
          prefix: 'big/',
          indexDir: bigIndex,
        });
      }

      // Housekeeping, untimed: free what this repetition wrote.
      t = Date.now();
      await deletePrefix(sdk, BUCKET, prefix);
      await deletePrefix(sdk, BUCKET, `${rclonePrefix}/`);
      await deletePrefix(sdk, CEIL_BUCKET, ceilPrefix);
      for (const dir of [dlDir, ceilDlDir, rcloneDlDir])
        await rm(dir, { recursive: true, force: true });
      await gcProcess();
      log(`  cleanup ${Date.now() - t} ms`);
    }

    const report = buildReport(runs, args.reps, loadAtStart, rclone);
    return {
      markdown: report.markdown,
      json: {
        data: { small: { ...SMALL, md5: small.md5 }, big: { ...BIG, md5: big.md5 } },
        ceilingBody: 'Buffer (fs.readFile), ContentLength set by the SDK',
        bigTreeSeedUpload: seed,
        scenarios: report.scenarios,
        targets: report.targets,
      },
    };
  }
}

// ---------------------------------------------------------------------------------------
// --large: one 512 MiB file up and down, next to lib-storage and one GetObject stream
// ---------------------------------------------------------------------------------------

/**
 * Writes `size` seeded bytes (AES-128-CTR of zeros, key and IV from the seed: the same
 * bytes every run, at GB/s) with an mtime an hour ago. Returns the file's MD5.
 */
async function generateLargeFile(file, spec) {
  const key = createHash('sha256').update(`s3lync-bench-${spec.seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const md5 = createHash('md5');
  const out = createWriteStream(file);
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  async function* chunks() {
    for (let done = 0; done < spec.size; done += zeros.length) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, spec.size - done)));
      md5.update(chunk);
      yield chunk;
    }
  }
  await pipeline(chunks, out);
  await utimes(file, HOUR_AGO, HOUR_AGO);
  return md5.digest('hex');
}

async function md5OfFile(file) {
  const hash = createHash('md5');
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

const LARGE_SCENARIOS = [
  { id: 'L-ceil-up', name: 'ceiling: lib-storage Upload, 8 MiB parts, queueSize 4' },
  { id: 'L-up', name: 's3lync upload, 512 MiB, new key', ceiling: 'L-ceil-up' },
  {
    id: 'L-rclone-up',
    name: 'peer: rclone copyto, upload',
    ceiling: 'L-ceil-up',
    peerOf: 'L-up',
  },
  { id: 'L-ceil-down', name: 'ceiling: one GetObject stream → file' },
  { id: 'L-down', name: 's3lync download, 512 MiB, new file', ceiling: 'L-ceil-down' },
  {
    id: 'L-rclone-down',
    name: 'peer: rclone copyto, download of its upload',
    ceiling: 'L-ceil-down',
    peerOf: 'L-down',
  },
  {
    id: 'L-down-fp',
    name: 's3lync download of the same bytes with an MD5 fingerprint',
    ceiling: 'L-ceil-down',
  },
  {
    id: 'L-rehash',
    name: 's3lync re-upload of the same file, no hash index (MD5, HEADs, composite ETag)',
  },
  { id: 'L-md5sum', name: 'md5sum of the file (hashing floor)' },
  { id: 'L-hashfile', name: "s3lync's hashFile of the file (the library's MD5 pass)" },
  { id: 'L-md5node', name: "Node's MD5 of the file, createReadStream, 1 MiB chunks" },
];

async function runLarge(sdk, worker, args, rclone) {
  const loadAtStart = load();
  const size = LARGE.size;
  const file = path.join(tempDir, 'data', 'large-512m.bin');
  await mkdir(path.dirname(file), { recursive: true });
  let t = Date.now();
  const md5 = await generateLargeFile(file, LARGE);
  log(`generated ${file}: ${size / 2 ** 20} MiB, md5 ${md5}, in ${Date.now() - t} ms`);

  /** @type {Record<string, object[]>} */
  const runs = {};
  const record = (id, result) => {
    (runs[id] ??= []).push(result);
    const fails =
      Object.keys(result.failures ?? {}).length > 0
        ? ` FAILED REQUESTS ${JSON.stringify(result.failures)}`
        : '';
    log(
      `  ${id.padEnd(11)} ${f3(result.wallS)} s  cpu ${f2(result.cpuS)} s  rss ${Math.round(result.peakRssMiB)} MiB  ${f2(size / 1e6 / result.wallS)} MB/s  rchar/size ${result.rchar === undefined ? '—' : f2(result.rchar / size)}  ${result.requests === undefined ? '' : requestText(result.requests)}${fails}`,
    );
    return result;
  };
  const base = { bucket: LARGE_BUCKET, size, partSize: LARGE.partSize, queueSize: LARGE.queueSize };
  const on = (id) => picked(args, id);
  // The downloads, the fingerprinted copy and the re-upload start from s3lync's upload.
  const needUpload = ['L-up', 'L-down', 'L-down-fp', 'L-rehash'].some(on);
  const keep = (id, r) => {
    if (on(id) || (r.peerOf !== undefined && on(r.peerOf))) return record(id, r);
    log(`  ${id.padEnd(11)} ${f3(r.wallS)} s  (setup for another scenario, not recorded)`);
    return r;
  };

  for (let rep = 1; rep <= args.reps; rep++) {
    log(`large, repetition ${rep}/${args.reps}`);
    const sKey = `large/s${rep}.bin`;
    const cKey = `large/c${rep}.bin`;
    const kKey = `large/k${rep}.bin`;
    const sDown = path.join(tempDir, `large-dl-s${rep}.bin`);
    const cDown = path.join(tempDir, `large-dl-c${rep}.bin`);
    const kDown = path.join(tempDir, `large-dl-k${rep}.bin`);
    const indexDir = path.join(tempDir, 'index', `large-${rep}`);
    const up = () =>
      worker('L-up', {
        ...base,
        kind: 'one',
        direction: 'upload',
        key: sKey,
        localPath: file,
        indexDir,
      }).then((r) => keep('L-up', r));
    const ceilUp = () =>
      worker('L-ceil-up', { ...base, kind: 'ceil-upload', key: cKey, localPath: file }).then((r) =>
        record('L-ceil-up', r),
      );
    const down = () =>
      worker('L-down', {
        ...base,
        kind: 'one',
        direction: 'download',
        key: sKey,
        localPath: sDown,
        indexDir,
      }).then((r) => record('L-down', r));
    const ceilDown = () =>
      worker('L-ceil-down', {
        ...base,
        kind: 'ceil-getfile',
        key: cKey,
        localPath: cDown,
      }).then((r) => record('L-ceil-down', r));
    const remote = rclone?.remote(LARGE_BUCKET, kKey);
    const peer = (id, from, to) =>
      rclone.run(id, ['copyto', from, to], RCLONE_LARGE_FLAGS).then((r) => {
        const peerOf = LARGE_SCENARIOS.find((x) => x.id === id).peerOf;
        return keep(id, { ...r, peerOf });
      });
    const withPeer = rclone !== undefined && (on('L-up') || on('L-down'));
    const ups = [
      ...(on('L-up') || on('L-down') ? [ceilUp] : []),
      ...(needUpload ? [up] : []),
      ...(withPeer ? [() => peer('L-rclone-up', file, remote)] : []),
    ];
    const downs = on('L-down')
      ? [ceilDown, down, ...(withPeer ? [() => peer('L-rclone-down', remote, kDown)] : [])]
      : [];
    // Alternate which goes first, so neither side always meets a fuller memstore.
    for (const step of rep % 2 === 1 ? [...ups, ...downs] : [...ups.reverse(), ...downs.reverse()])
      await step();
    for (const [what, f] of [
      ['s3lync download', sDown],
      ['ceiling download', cDown],
      ['rclone download', kDown],
    ]) {
      if (!existsSync(f)) continue;
      const got = await md5OfFile(f);
      if (got !== md5)
        throw new Error(`the ${what} of the 512 MiB file has md5 ${got}, not ${md5}`);
      await rm(f, { force: true });
    }
    await deletePrefix(sdk, LARGE_BUCKET, cKey);
    await deletePrefix(sdk, LARGE_BUCKET, kKey);
    // The same bytes with the fingerprint a same-size overwrite records (here by a
    // server-side copy): one MD5 pass verifies the download, instead of the MD5 and the
    // composite ETag of the recorded part size.
    if (on('L-down-fp')) {
      const fKey = `large/f${rep}.bin`;
      const fDown = path.join(tempDir, `large-dl-f${rep}.bin`);
      await sdk.send(
        new CopyObjectCommand({
          Bucket: LARGE_BUCKET,
          Key: fKey,
          CopySource: `${LARGE_BUCKET}/${sKey}`,
          MetadataDirective: 'REPLACE',
          Metadata: { 's3lync-md5': md5, 's3lync-part-size': String(LARGE.partSize) },
        }),
      );
      record(
        'L-down-fp',
        await worker('L-down-fp', {
          ...base,
          kind: 'one',
          direction: 'download',
          key: fKey,
          localPath: fDown,
          indexDir: path.join(tempDir, 'index', `large-fp-${rep}`),
        }),
      );
      const gotFp = await md5OfFile(fDown);
      if (gotFp !== md5) throw new Error(`the fingerprinted download has md5 ${gotFp}, not ${md5}`);
      await rm(fDown, { force: true });
      await sdk.send(new DeleteObjectCommand({ Bucket: LARGE_BUCKET, Key: fKey }));
    }
    if (on('L-rehash')) {
      const rehash = record(
        'L-rehash',
        await worker('L-rehash', {
          ...base,
          kind: 'one',
          direction: 'upload',
          key: sKey,
          localPath: file,
          indexDir: path.join(tempDir, 'index', `large-rehash-${rep}`),
        }),
      );
      if (rehash.transferred !== 0) {
        throw new Error(`the re-upload of an unchanged file sent it (${rehash.transferred})`);
      }
    }
    for (const [id, kind] of [
      ['L-md5sum', 'md5sum'],
      ['L-hashfile', 'hashfile'],
      ['L-md5node', 'md5-node'],
    ]) {
      if (!on(id)) continue;
      const r = record(id, await worker(id, { ...base, kind, localPath: file }));
      if (r.md5 !== md5) throw new Error(`${id} computed ${r.md5}, not ${md5}`);
    }

    t = Date.now();
    await deletePrefix(sdk, LARGE_BUCKET, 'large/');
    await gcProcess();
    log(`  cleanup ${Date.now() - t} ms`);
  }
  await rm(file, { force: true });
  return buildLargeReport(runs, args.reps, md5, loadAtStart, rclone);
}

function buildLargeReport(runs, reps, md5, loadAtStart, rclone) {
  const size = LARGE.size;
  const med = {};
  const present = LARGE_SCENARIOS.filter((s) => runs[s.id] !== undefined);
  for (const s of present) med[s.id] = median(runs[s.id]);
  const versusPeer = peerRatios(present, med);
  const mbps = (r) => size / 1e6 / r.wallS;
  const rows = present.map((s) => {
    const m = med[s.id];
    const ratio = med[s.ceiling] === undefined ? undefined : mbps(m) / mbps(med[s.ceiling]);
    const rss = m.childPeakRssMiB ?? m.peakRssMiB;
    return `| ${s.name} | ${f3(m.wallS)} | ${f2(m.cpuS)} | ${Math.round(rss)} | ${int(mbps(m))} | ${ratio === undefined ? '—' : pct(ratio)} | ${m.rchar === undefined ? '—' : f2(m.rchar / size)} | ${m.readBytes === undefined ? '—' : f2(m.readBytes / size)} | ${m.requests === undefined ? '—' : requestText(m.requests)} | ${timesText(versusPeer[s.id])} |`;
  });

  const targets = [];
  const target = (name, pass, detail) => {
    targets.push({ name, pass, detail });
  };
  const own = present.filter((x) => x.peerOf === undefined);
  for (const s of own.filter((x) => med[x.ceiling] !== undefined)) {
    const ratio = mbps(med[s.id]) / mbps(med[s.ceiling]);
    target(
      `${s.name}: ≥ 90% of the ceiling's MB/s`,
      ratio >= 0.9,
      `${int(mbps(med[s.id]))} vs ${int(mbps(med[s.ceiling]))} MB/s = ${pct(ratio)} (each repetition against its own ceiling run: ${runs[s.id].map((r, i) => pct(runs[s.ceiling][i].wallS / r.wallS)).join(', ')}; CPU s ${f2(med[s.id].cpuS)} vs ${f2(med[s.ceiling].cpuS)})`,
    );
    const rss = runs[s.id].map((r) => r.peakRssMiB);
    target(
      `${s.name}: peak RSS ≤ 150 MiB`,
      rss.every((x) => x <= 150),
      `peak RSS per run: ${rss.map((x) => `${Math.round(x)} MiB`).join(', ')} (the ceiling: ${runs[s.ceiling].map((r) => `${Math.round(r.peakRssMiB)} MiB`).join(', ')})`,
    );
  }
  if (runs['L-up'] !== undefined) {
    const upReads = runs['L-up'].map((r) => r.rchar / size);
    target(
      's3lync upload, 512 MiB, new key: reads the file once (rchar / size ≤ 1.05)',
      upReads.every((x) => x <= 1.05),
      `rchar / size per run: ${upReads.map(f2).join(', ')}`,
    );
  }
  const floor = med['L-md5sum'];
  const versusFloor = (id) =>
    floor === undefined || med[id] === undefined
      ? 'not run'
      : `${f3(med[id].wallS)} s vs ${f3(floor.wallS)} s = ${f2(med[id].wallS / floor.wallS)}× (${int(mbps(med[id]))} vs ${int(mbps(floor))} MB/s; CPU s ${f2(med[id].cpuS)} vs ${f2(floor.cpuS)})`;
  if (floor !== undefined && med['L-hashfile'] !== undefined) {
    const hashing = LARGE_SCENARIOS.find((x) => x.id === 'L-hashfile');
    target(
      `${hashing.name}: within 10% of md5sum's wall time`,
      med['L-hashfile'].wallS / floor.wallS <= 1.1,
      versusFloor('L-hashfile'),
    );
  }

  const lines = [
    `## 512 MiB transfers and the hashing floor (${os.cpus().length} CPUs, median of ${reps})`,
    '',
    `One seeded file of ${size / 2 ** 20} MiB (md5 ${md5}), in the page cache. Every row is a fresh process. Load average (1/5/15 min) at the start of the section: ${loadAtStart}; at the end: ${load()}.`,
    '',
    '| scenario | wall s (median) | CPU s | peak RSS MiB | MB/s | vs ceiling | rchar / size | read_bytes / size | requests | s3lync ÷ rclone |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    ...rows,
    '',
    'All runs, wall s: ' +
      present.map((s) => `${s.id} ${runs[s.id].map((r) => f3(r.wallS)).join('/')}`).join('; '),
    '',
    'MB/s = 10^6 bytes per second. rchar / size: bytes the worker read through read syscalls',
    '(/proc/self/io `rchar`, page-cache hits included, so it counts how many times the file is read;',
    'socket reads count too, so a download shows ≥ 1 from the network alone) ÷ the file size.',
    'read_bytes / size: the same from the block layer, 0 when the file is cached. md5sum runs under',
    '/usr/bin/time (its own RSS, no /proc/io figures). A download shows about 2: its hashing',
    'worker thread reads the file back from the page cache, in order, as it is written.',
    'The re-upload row is an unchanged file with a fresh hash index against the object s3lync',
    'uploaded. That object records its part size but no MD5 (a single-pass upload knows the MD5 only',
    'once the metadata is sent), so deciding that it is unchanged takes the MD5 of the file, a HEAD',
    'for the part size and the composite ETag: it is reported, not held to the hashing target.',
    `Re-upload vs md5sum: ${versusFloor('L-rehash')}.`,
    "Node's own MD5 over createReadStream is a reference (what plain Node reaches), not s3lync:",
    `it is shown, not held to a target. Node's MD5 vs md5sum: ${versusFloor('L-md5node')}.`,
    ...peerNotes(
      rclone,
      `, \`copyto\` one file, \`${RCLONE_LARGE_FLAGS.join(' ')}\` (s3lync's parts), its downloads with its default 4 streams`,
    ),
    '',
    ...targetLines('Targets (512 MiB)', targets),
  ];
  return {
    markdown: lines.join('\n'),
    json: { size, md5, partSize: LARGE.partSize, queueSize: LARGE.queueSize, runs, targets },
  };
}

/** The Markdown "Targets" section: a PASS/FAIL line each, then the verdict. */
function targetLines(heading, targets) {
  return [
    `### ${heading}`,
    '',
    ...targets.map((x) => `- ${x.pass ? 'PASS' : '**FAIL**'}  ${x.name} — ${x.detail}`),
    '',
    targets.every((x) => x.pass)
      ? 'All targets pass.'
      : `FAIL: ${targets.filter((x) => !x.pass).length} of ${targets.length} targets failed.`,
  ];
}

// ---------------------------------------------------------------------------------------
// --million: planning 1,000,000 keys against a mocked listing
// ---------------------------------------------------------------------------------------

/**
 * Key number i of the generated listings, relative to the prefix: 1,000 files per
 * directory. bench/worker.mjs's `generatedKey` names the listed keys the same way.
 */
function generatedKey(i, perDir = MILLION.pageSize) {
  return `d${String(Math.floor(i / perDir)).padStart(4, '0')}/f${String(i).padStart(7, '0')}.bin`;
}

/** Creates `files` empty files named by {@link generatedKey} (no data blocks, only inodes). */
async function generateEmptyTree(dir, files) {
  const perDir = MILLION.pageSize;
  for (let d = 0; d < files / perDir; d++) {
    await mkdir(path.join(dir, generatedKey(d * perDir, perDir), '..'), { recursive: true });
    // Synchronous: through libuv's threadpool a million creations take several times longer.
    for (let j = 0; j < perDir; j++) {
      writeFileSync(path.join(dir, ...generatedKey(d * perDir + j, perDir).split('/')), '');
    }
  }
}

async function runMillion(worker, args) {
  const loadAtStart = load();
  const gcArgs = ['--expose-gc'];
  /** @type {Record<string, object[]>} */
  const runs = {};
  const record = (id, r) => {
    (runs[id] ??= []).push(r);
    log(
      r.entries !== undefined
        ? `  ${id.padEnd(13)} ${int(r.entries)} entries: load ${f2(r.loadWallS)} s (cpu ${f2(r.loadCpuS)}), save ${f2(r.saveWallS)} s (cpu ${f2(r.saveCpuS)}), merging save ${f2(r.mergeWallS)} s (cpu ${f2(r.mergeCpuS)}), ${int(r.heapPerEntry + r.buffersPerEntry)} B/entry`
        : `  ${id.padEnd(13)} ${f3(r.wallS)} s  cpu ${f2(r.cpuS)} s  rss ${Math.round(r.peakRssMiB)} MiB  heap/key: result held ${int(r.heapRetainedPerKey)} B, ${r.live ? 'peak live' : 'peak incl. garbage'} ${int(r.heapPeakPerKey)} B  planned ${r.planned} unchanged ${r.unchanged} hashed ${r.hashedFiles}  ${requestText(r.requests)}`,
    );
    return r;
  };
  const keys = MILLION.pages * MILLION.pageSize;
  const mockBase = {
    bucket: 'mock',
    prefix: 'm/',
    pageSize: MILLION.pageSize,
    pages: MILLION.pages,
  };

  // The no-op's tree: one empty local file per listed key (the listing says 0 bytes, ETag
  // the MD5 of nothing), and a hash index seeded by a first, untimed sync.
  const treeDir = path.join(tempDir, 'data', 'tree1m');
  let t = Date.now();
  await generateEmptyTree(treeDir, keys);
  const made = (Date.now() - t) / 1000;
  log(`created ${int(keys)} empty files in ${f2(made)} s`);
  const indexDir = path.join(tempDir, 'index', 'tree1m');
  const noopSpec = (direction) => ({
    ...mockBase,
    kind: 'plan-mock',
    mode: 'noop',
    direction,
    localPath: treeDir,
    indexDir,
  });
  const seed = await worker('M-seed', noopSpec('upload'), gcArgs);
  if (seed.unchanged !== keys || seed.hashedFiles !== keys) {
    throw new Error(
      `the seeding sync of the 1,000,000-file tree found ${seed.unchanged} unchanged, hashed ${seed.hashedFiles}`,
    );
  }
  log(
    `seeded the hash index with a first sync (untimed): ${f2(seed.wallS)} s, ${f2(seed.cpuS)} CPU s, hashed ${int(seed.hashedFiles)}`,
  );

  const drySpec = (rep) => ({
    ...mockBase,
    kind: 'plan-mock',
    mode: 'dry-download',
    localPath: path.join(tempDir, `million-dl-${rep}`),
    indexDir: path.join(tempDir, 'index', `million-${rep}`),
  });
  for (let rep = 1; rep <= args.reps; rep++) {
    log(`million, repetition ${rep}/${args.reps}`);
    record('M-noop-down', await worker('M-noop-down', noopSpec('download'), gcArgs));
    record('M-noop-up', await worker('M-noop-up', noopSpec('upload'), gcArgs));
    record('M-dry', await worker('M-dry', drySpec(rep), gcArgs));
  }
  // One more run of each whose samples force a GC first: the peak of live data.
  log('million, live-heap runs (a GC before every sample; timing not used)');
  const live = { liveSampleMs: LIVE_SAMPLE_MS };
  record(
    'M-noop-down-live',
    await worker('M-noop-down-live', { ...noopSpec('download'), ...live }, gcArgs),
  );
  record(
    'M-noop-up-live',
    await worker('M-noop-up-live', { ...noopSpec('upload'), ...live }, gcArgs),
  );
  record('M-dry-live', await worker('M-dry-live', { ...drySpec(0), ...live }, gcArgs));

  // The seeded index itself, loaded and saved at 100,000 and 1,000,000 entries.
  log('million, hash index load and save');
  const [indexFile] = await readdir(indexDir);
  for (const entries of [100_000, keys]) {
    const id = entries === keys ? 'I-1m' : 'I-100k';
    record(
      id,
      await worker(
        id,
        { kind: 'index-io', indexFile: path.join(indexDir, indexFile), entries },
        gcArgs,
      ),
    );
  }
  await rm(treeDir, { recursive: true, force: true });
  return buildMillionReport(runs, args.reps, { seed, made, loadAtStart });
}

function buildMillionReport(runs, reps, setup) {
  const keys = MILLION.pages * MILLION.pageSize;
  const scenarios = [
    { id: 'M-noop-down', name: 'no-op download plan: 1,000,000 keys = local files, index warm' },
    { id: 'M-noop-up', name: 'no-op upload plan: 1,000,000 local files = keys, index warm' },
    { id: 'M-dry', name: 'dry-run download plan, 1,000,000 keys, empty local dir (all missing)' },
  ];
  const med = {};
  for (const s of scenarios) med[s.id] = median(runs[s.id]);
  const liveOf = (id) => runs[`${id}-live`][0];
  const rows = scenarios.map((s) => {
    const m = med[s.id];
    return `| ${s.name} | ${f3(m.wallS)} | ${f2(m.cpuS)} | ${f2((m.cpuS * 1e6) / keys)} | ${Math.round(m.peakRssMiB)} | ${int(m.heapRetainedPerKey)} | ${int(m.heapPeakPerKey)} | ${int(liveOf(s.id).heapPeakPerKey)} | ${int(m.planned)} / ${int(m.unchanged)} / ${int(m.hashedFiles)} | ${requestText(m.requests)} |`;
  });
  const index = (id) => runs[id][0];
  const indexRows = ['I-100k', 'I-1m'].map((id) => {
    const r = index(id);
    return `| ${int(r.entries)} | ${f2(r.loadWallS)} | ${f2(r.loadCpuS)} | ${f2(r.saveWallS)} | ${f2(r.saveCpuS)} | ${f2(r.mergeWallS)} | ${f2(r.mergeCpuS)} | ${int(r.heapPerEntry + r.buffersPerEntry)} | ${f2(r.fileBytes / 2 ** 20)} |`;
  });
  const targets = [];
  const target = (name, pass, detail) => {
    targets.push({ name, pass, detail });
  };
  for (const [id, what] of [
    ['M-noop-down', '1,000,000-key no-op download plan'],
    ['M-noop-up', '1,000,000-key no-op upload plan'],
  ]) {
    const liveRun = liveOf(id);
    target(
      `${what}: ≤ 300 B of heap per key (peak of live data)`,
      liveRun.heapPeakPerKey <= 300,
      `peak live ${int(liveRun.heapPeakPerKey)} B/key; after the sync: ${runs[id].map((r) => `${int(r.heapRetainedPerKey)} B`).join(', ')}; peak incl. garbage: ${runs[id].map((r) => `${int(r.heapPeakPerKey)} B`).join(', ')}`,
    );
    target(
      `${what}: ≤ 30 s CPU`,
      med[id].cpuS <= 30,
      `${f2(med[id].cpuS)} CPU s, ${f3(med[id].wallS)} s wall (runs: ${runs[id].map((r) => `${f2(r.cpuS)}`).join(', ')} CPU s)`,
    );
    target(
      `${what}: 1,000 LIST and nothing else, nothing hashed or transferred, all unchanged`,
      runs[id].every(
        (r) =>
          r.hashedFiles === 0 &&
          r.planned === 0 &&
          r.unchanged === keys &&
          countOf(r.requests, 'ListObjectsV2') === MILLION.pages &&
          Object.keys(r.requests).length === 1,
      ),
      runs[id]
        .map(
          (r) =>
            `unchanged ${int(r.unchanged)}, hashed ${r.hashedFiles}, ${requestText(r.requests)}`,
        )
        .join('; '),
    );
  }
  target(
    '1,000,000-key dry-run plan (every key a download): ≤ 30 s CPU',
    med['M-dry'].cpuS <= 30,
    `${f2(med['M-dry'].cpuS)} CPU s (runs: ${runs['M-dry'].map((r) => f2(r.cpuS)).join(', ')}); heap per key: the 1,000,000 planned actions held ${int(med['M-dry'].heapRetainedPerKey)} B, peak live ${int(liveOf('M-dry').heapPeakPerKey)} B (reported, no target: the result is the output)`,
  );
  const small = index('I-100k');
  const big = index('I-1m');
  const ratio = (a, b) => b / a;
  target(
    'hash index: load and save grow linearly (1,000,000 vs 100,000 entries ≤ 15× the CPU; linear is 10×)',
    ratio(small.loadCpuS, big.loadCpuS) <= 15 &&
      ratio(small.saveCpuS, big.saveCpuS) <= 15 &&
      ratio(small.mergeCpuS, big.mergeCpuS) <= 15,
    `load ${f2(big.loadCpuS)} / ${f2(small.loadCpuS)} = ${f2(ratio(small.loadCpuS, big.loadCpuS))}×, save ${f2(ratio(small.saveCpuS, big.saveCpuS))}×, merging save ${f2(ratio(small.mergeCpuS, big.mergeCpuS))}× (CPU s)`,
  );
  const lines = [
    `## Planning at scale: a mocked listing (${os.cpus().length} CPUs, median of ${reps})`,
    '',
    `Load average (1/5/15 min) at the start of the section: ${setup.loadAtStart}; at the end: ${load()}.`,
    '',
    '| scenario | wall s (median) | CPU s | CPU µs / key | peak RSS MiB | heap B/key, after the sync (result held) | heap B/key, peak incl. garbage | heap B/key, peak live | planned / unchanged / hashed | requests (mocked) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    'All runs, wall s: ' +
      scenarios.map((s) => `${s.id} ${runs[s.id].map((r) => f3(r.wallS)).join('/')}`).join('; '),
    '',
    'The SDK client is real, but a middleware at the head of its stack answers ListObjectsV2 with',
    '1,000-key pages made on the fly; nothing goes on the network. The no-op rows are real: 1,000,000',
    `empty local files in 1,000 directories (created in ${f2(setup.made)} s, untimed), listed as empty objects, so every`,
    "file is walked and stat'ed, matched with its key, and found unchanged through the hash index,",
    `which a first sync seeded (untimed: ${f2(setup.seed.wallS)} s, ${f2(setup.seed.cpuS)} CPU s, hashed ${int(setup.seed.hashedFiles)} files).`,
    'The dry-run row plans 1,000,000 downloads into an empty directory; its result holds them all.',
    'Heap = `heapUsed` + `arrayBuffers` (typed arrays live outside the V8 heap), ÷ keys, each minus',
    'the same after two forced GCs (`--expose-gc`) before the sync (library, client and mock loaded):',
    '"after the sync" is measured after two more GCs with the SyncResult still referenced; "peak incl.',
    `garbage" samples every 20 ms during the timed runs; "peak live" is one extra run per row that forces a`,
    `full GC before each sample (every ${LIVE_SAMPLE_MS_TEXT}), whose timing is not used. CPU s is user + system of the sync,`,
    'libuv threads included.',
    '',
    '### The hash index of that tree',
    '',
    '| entries | load s | load CPU s | save s | save CPU s | merging save s | merging save CPU s | B / entry loaded | file MiB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...indexRows,
    '',
    'The seeded index cut to its first N entries, in a fresh process: a load; a save after one record',
    '(rewrites every entry, fsync and rename); a save after another process saved meanwhile (reads and',
    'merges the disk version first). Bytes per entry: heap + ArrayBuffers after loading.',
    '',
    ...targetLines('Targets (planning)', targets),
  ];
  return { markdown: lines.join('\n'), json: { runs, setup, targets } };
}

const SCENARIOS = [
  { id: 'ceil-put', name: 'ceiling: raw SDK PutObject, 1,000 × 4 KiB', files: SMALL.files },
  { id: 'ceil-get', name: 'ceiling: raw SDK GetObject, 1,000 × 4 KiB', files: SMALL.files },
  {
    id: 'a',
    name: '(a) upload 1,000 × 4 KiB, empty prefix',
    files: SMALL.files,
    ceiling: 'ceil-put',
  },
  { id: 'rc-a', name: 'peer: rclone, (a)', files: SMALL.files, ceiling: 'ceil-put', peerOf: 'a' },
  {
    id: 'b',
    name: '(b) download 1,000 × 4 KiB, empty dir',
    files: SMALL.files,
    ceiling: 'ceil-get',
  },
  { id: 'rc-b', name: 'peer: rclone, (b)', files: SMALL.files, ceiling: 'ceil-get', peerOf: 'b' },
  { id: 'c', name: '(c) no-op re-upload, 1,000 files', files: SMALL.files, noop: true },
  { id: 'rc-c', name: 'peer: rclone, (c)', files: SMALL.files, peerOf: 'c' },
  { id: 'd', name: '(d) no-op re-download, 1,000 files', files: SMALL.files, noop: true },
  { id: 'rc-d', name: 'peer: rclone, (d)', files: SMALL.files, peerOf: 'd' },
  { id: 'e', name: '(e) re-upload, 10 of 1,000 changed', files: SMALL.files },
  { id: 'rc-e', name: 'peer: rclone, (e)', files: SMALL.files, peerOf: 'e' },
  { id: 'f', name: '(f) no-op re-upload, 10,000 × 1 KiB', files: BIG.files, noop: true },
  {
    id: 'ceil-list',
    name: 'ceiling: raw SDK, one LIST, whole process',
    files: SMALL.files,
  },
  {
    id: 'g',
    name: '(g) no-op re-download, `s3lync sync`, whole process',
    files: SMALL.files,
    ceiling: 'ceil-list',
  },
];

/** s3lync's speed over the peer's (its wall ÷ s3lync's, medians), for the rows that have one. */
function peerRatios(scenarios, med) {
  const out = {};
  for (const p of scenarios.filter((x) => x.peerOf !== undefined)) {
    if (med[p.id] !== undefined && med[p.peerOf] !== undefined) {
      out[p.peerOf] = med[p.id].wallS / med[p.peerOf].wallS;
    }
  }
  return out;
}

const timesText = (x) => (x === undefined ? '—' : `${f2(x)}×`);

/** The rclone notes under a table, when its rows are there. */
function peerNotes(rclone, extra) {
  if (rclone === undefined) return ['rclone is not installed: no peer rows.'];
  return [
    `Peer rows: \`rclone copy --checksum --transfers ${CONCURRENCY} --checkers ${CONCURRENCY}\`${extra}, configured by`,
    'environment variables only (an s3 remote, provider Ceph, path style; no config file), on the same server.',
    "Its wall time is around the child process, so it includes rclone's start-up",
    `(\`rclone version\` took ${f3(rclone.startS)} s); s3lync's rows exclude Node's. CPU s and peak RSS are rclone's own`,
    '(/usr/bin/time); its requests and hashing are not counted (—), its files transferred come from its',
    "closing stats. \"s3lync ÷ rclone\" is s3lync's speed over rclone's (rclone's wall ÷ s3lync's, medians):",
    'above 1× s3lync is faster.',
  ];
}

function buildReport(runs, reps, loadAtStart, rclone) {
  const rows = [];
  const scenarios = [];
  const med = {};
  const present = SCENARIOS.filter((s) => runs[s.id] !== undefined);
  for (const s of present) med[s.id] = median(runs[s.id]);
  const versusPeer = peerRatios(present, med);
  for (const s of present) {
    const m = med[s.id];
    const filesPerS = s.files / m.wallS;
    const ceil =
      s.ceiling === undefined || med[s.ceiling] === undefined
        ? undefined
        : s.files / med[s.ceiling].wallS;
    const ratio = ceil === undefined ? undefined : filesPerS / ceil;
    const counted = m.requests !== undefined;
    rows.push(
      `| ${s.name} | ${f3(m.wallS)} | ${f2(m.cpuS)} | ${Math.round(m.peakRssMiB)} | ${counted ? requestText(m.requests) : '—'} | ${int(m.transferred)} | ${s.id.startsWith('ceil') || !counted ? '—' : `${int(m.hashedFiles)} (${int(m.hashedBytes / 1024)} KiB)`} | ${int(filesPerS)} | ${ratio === undefined ? '—' : `${(ratio * 100).toFixed(0)}%`} | ${timesText(versusPeer[s.id])} |`,
    );
    scenarios.push({
      id: s.id,
      name: s.name,
      files: s.files,
      median: {
        ...m,
        filesPerS,
        ...(ratio !== undefined && { vsCeiling: ratio }),
        ...(versusPeer[s.id] !== undefined && { vsRclone: versusPeer[s.id] }),
      },
      runs: runs[s.id],
    });
  }

  const targets = [];
  const target = (name, pass, detail) => {
    targets.push({ name, pass, detail });
  };
  const own = present.filter((x) => x.peerOf === undefined);
  for (const s of own.filter((x) => x.noop)) {
    const lists = Math.ceil(s.files / 1000);
    const bad = runs[s.id].filter(
      (r) =>
        countOf(r.requests, 'ListObjectsV2') !== lists ||
        ['HeadObject', 'GetObject', 'PutObject'].some((k) => countOf(r.requests, k) !== 0),
    );
    target(
      `${s.name}: ${lists} LIST, 0 HEAD/GET/PUT`,
      bad.length === 0,
      runs[s.id].map((r) => requestText(r.requests)).join(' | '),
    );
  }
  for (const s of own.filter((x) => x.noop)) {
    const bytes = runs[s.id].map((r) => r.hashedBytes);
    target(
      `${s.name}: re-hashes 0 bytes`,
      bytes.every((b) => b === 0),
      `hashed bytes per run: ${bytes.join(', ')}`,
    );
  }
  for (const s of own.filter((x) => x.ceiling !== undefined && med[x.ceiling] !== undefined)) {
    const ratio = scenarios.find((x) => x.id === s.id).median.vsCeiling;
    target(
      `${s.name}: ≥ 80% of the ceiling's files/s`,
      ratio >= 0.8,
      `${int(s.files / med[s.id].wallS)} vs ${int(s.files / med[s.ceiling].wallS)} files/s = ${(ratio * 100).toFixed(0)}% (each repetition against its own ceiling run: ${runs[s.id].map((r, i) => pct(runs[s.ceiling][i].wallS / r.wallS)).join(', ')}; CPU s ${f2(med[s.id].cpuS)} vs ${f2(med[s.ceiling].cpuS)})`,
    );
  }
  if (runs.e !== undefined) {
    const changed = runs.e.map((r) => r.transferred);
    target(
      `(e) transfers exactly ${CHANGED}`,
      changed.every((n) => n === CHANGED),
      `transferred per run: ${changed.join(', ')}`,
    );
  }

  const lines = [
    `## s3lync benchmark (radosgw memstore on 127.0.0.1, ${os.cpus().length} CPUs, Node ${process.version}, ${CONCURRENCY} in flight, median of ${reps})`,
    '',
    '| scenario | wall s (median) | CPU s | peak RSS MiB | requests | files transferred | hashed files | files/s | vs ceiling | s3lync ÷ rclone |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Load average (1/5/15 min) at the start: ${loadAtStart}; at the end: ${load()}. On a shared or busy machine wall times`,
    'scatter; compare the runs below and the CPU column before trusting a small difference.',
    '',
    'All runs, wall s: ' +
      present.map((s) => `${s.id} ${runs[s.id].map((r) => f3(r.wallS)).join('/')}`).join('; '),
    '',
    'Wall and CPU s cover the operation only, in a fresh process (not Node start-up or imports); peak RSS is the',
    'whole worker process. files/s = files in the tree ÷ wall s (checked or sent). Ceiling PUT bodies are Buffers',
    'from fs.readFile; ceiling GETs pipe the body to a file. Requests are HTTP attempts, SDK retries included.',
    ...peerNotes(rclone, ''),
    '',
    ...targetLines('Targets', targets),
  ];
  return { markdown: lines.join('\n'), scenarios, targets };
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error('\nThe benchmark failed:', error);
  process.exitCode = 1;
} finally {
  cleanup();
}
