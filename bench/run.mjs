/* global Buffer, console, process */
/**
 * s3lync benchmark against a throwaway radosgw (Ceph's S3 server, memstore).
 *
 *   npm run bench                       (builds the package, then runs this file)
 *   node bench/run.mjs [--json PATH] [--reps N] [--cpu-prof DIR]
 *
 * Every scenario runs in a fresh child process (bench/worker.mjs), --reps times (3), and
 * the table shows the median wall time with the other columns of that same run. The raw
 * SDK with the same concurrency is the ceiling that uploads and downloads are held to.
 * The server, the data and the hash indexes live in a temp dir removed on exit, on errors
 * and on Ctrl-C. See bench/README.md.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

// The SDK warns about Node 20 on every client construction in every worker; not our news.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { hasCommand, killRgw, startRgw } from '../scripts/radosgw/throwaway.mjs';

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
const HOUR_AGO = new Date(Date.now() - 3_600_000);

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = { json: undefined, reps: 3, cpuProf: undefined };
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
    else throw new Error(`unknown argument ${a} (known: --json PATH, --reps N, --cpu-prof DIR)`);
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

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping radosgw and removing the temp dir...`);
    cleanup();
    process.exit(code);
  });
}

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
async function runWorker(spec, cpuProf) {
  const out = path.join(tempDir, `result-${++workerSeq}.json`);
  const args = [];
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
    for (const b of [BUCKET, CEIL_BUCKET, BIG_BUCKET]) {
      await sdk.send(new CreateBucketCommand({ Bucket: b }));
    }

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

    const common = {
      lib,
      endpoint,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      concurrency: CONCURRENCY,
    };
    const worker = (label, spec) => runWorker({ label, ...common, ...spec }, args.cpuProf);

    // The 10,000-file tree is uploaded once, untimed; scenario (f) re-syncs it.
    const bigIndex = path.join(tempDir, 'index', 'big');
    t = Date.now();
    const seed = await worker('f-seed', {
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

    /** @type {Record<string, object[]>} */
    const runs = {};
    const record = (id, result) => {
      (runs[id] ??= []).push(result);
      const fails =
        Object.keys(result.failures).length > 0
          ? ` FAILED REQUESTS ${JSON.stringify(result.failures)}`
          : '';
      log(
        `  ${id.padEnd(8)} ${f3(result.wallS)} s  cpu ${f2(result.cpuS)} s  rss ${Math.round(result.peakRssMiB)} MiB  transferred ${result.transferred}  hashed ${result.hashedFiles}  ${requestText(result.requests)}${fails}`,
      );
    };

    for (let rep = 1; rep <= args.reps; rep++) {
      log(`repetition ${rep}/${args.reps}`);
      const prefix = `r${rep}/`;
      const ceilPrefix = `c${rep}/`;
      const indexDir = path.join(tempDir, 'index', `r${rep}`);
      const dlDir = path.join(tempDir, `dl-${rep}`);
      const ceilDlDir = path.join(tempDir, `ceil-dl-${rep}`);
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
        }).then((r) => {
          record(id, r);
          return r;
        });

      // Alternate which goes first, so neither side always meets a warmer server.
      if (rep % 2 === 1) {
        await ceilPut();
        await sync('a', 'upload', smallDir);
      } else {
        await sync('a', 'upload', smallDir);
        await ceilPut();
      }
      await sync('c', 'upload', smallDir);
      if (rep % 2 === 1) {
        await ceilGet();
        await sync('b', 'download', dlDir);
      } else {
        await sync('b', 'download', dlDir);
        await ceilGet();
      }
      await verifyTree(dlDir, small.paths, SMALL);
      await verifyTree(ceilDlDir, small.paths, SMALL);
      await sync('d', 'download', dlDir);

      await changeFiles(smallDir, small.paths, rep);
      await sync('e', 'upload', smallDir);
      await restoreFiles(smallDir, small.paths);

      await sync('f', 'upload', bigDir, { bucket: BIG_BUCKET, prefix: 'big/', indexDir: bigIndex });

      // Housekeeping, untimed: free what this repetition wrote.
      t = Date.now();
      await deletePrefix(sdk, BUCKET, prefix);
      await deletePrefix(sdk, CEIL_BUCKET, ceilPrefix);
      await rm(dlDir, { recursive: true, force: true });
      await rm(ceilDlDir, { recursive: true, force: true });
      await gcProcess();
      log(`  cleanup ${Date.now() - t} ms`);
    }

    const report = buildReport(runs, args.reps, loadAtStart);
    console.log(report.markdown);
    if (args.json !== undefined) {
      await mkdir(path.dirname(args.json), { recursive: true });
      await writeFile(
        args.json,
        `${JSON.stringify(
          {
            date: new Date().toISOString(),
            node: process.version,
            platform: `${os.platform()} ${os.arch()}, ${os.cpus().length} CPUs`,
            loadAverage: { start: loadAtStart, end: load() },
            reps: args.reps,
            concurrency: CONCURRENCY,
            data: { small: { ...SMALL, md5: small.md5 }, big: { ...BIG, md5: big.md5 } },
            ceilingBody: 'Buffer (fs.readFile), ContentLength set by the SDK',
            bigTreeSeedUpload: seed,
            scenarios: report.scenarios,
            targets: report.targets,
          },
          null,
          2,
        )}\n`,
      );
      log(`wrote ${args.json}`);
    }
    log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    sdk.destroy();
  }
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
  {
    id: 'b',
    name: '(b) download 1,000 × 4 KiB, empty dir',
    files: SMALL.files,
    ceiling: 'ceil-get',
  },
  { id: 'c', name: '(c) no-op re-upload, 1,000 files', files: SMALL.files, noop: true },
  { id: 'd', name: '(d) no-op re-download, 1,000 files', files: SMALL.files, noop: true },
  { id: 'e', name: '(e) re-upload, 10 of 1,000 changed', files: SMALL.files },
  { id: 'f', name: '(f) no-op re-upload, 10,000 × 1 KiB', files: BIG.files, noop: true },
];

function buildReport(runs, reps, loadAtStart) {
  const rows = [];
  const scenarios = [];
  const med = {};
  for (const s of SCENARIOS) med[s.id] = median(runs[s.id]);
  for (const s of SCENARIOS) {
    const m = med[s.id];
    const filesPerS = s.files / m.wallS;
    const ceil = s.ceiling === undefined ? undefined : s.files / med[s.ceiling].wallS;
    const ratio = ceil === undefined ? undefined : filesPerS / ceil;
    rows.push(
      `| ${s.name} | ${f3(m.wallS)} | ${f2(m.cpuS)} | ${Math.round(m.peakRssMiB)} | ${requestText(m.requests)} | ${int(m.transferred)} | ${s.id.startsWith('ceil') ? '—' : `${int(m.hashedFiles)} (${int(m.hashedBytes / 1024)} KiB)`} | ${int(filesPerS)} | ${ratio === undefined ? '—' : `${(ratio * 100).toFixed(0)}%`} |`,
    );
    scenarios.push({
      id: s.id,
      name: s.name,
      files: s.files,
      median: { ...m, filesPerS, ...(ratio !== undefined && { vsCeiling: ratio }) },
      runs: runs[s.id],
    });
  }

  const targets = [];
  const target = (name, pass, detail) => {
    targets.push({ name, pass, detail });
  };
  for (const s of SCENARIOS.filter((x) => x.noop)) {
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
  for (const s of SCENARIOS.filter((x) => x.noop)) {
    const bytes = runs[s.id].map((r) => r.hashedBytes);
    target(
      `${s.name}: re-hashes 0 bytes`,
      bytes.every((b) => b === 0),
      `hashed bytes per run: ${bytes.join(', ')}`,
    );
  }
  for (const s of SCENARIOS.filter((x) => x.ceiling !== undefined)) {
    const ratio = scenarios.find((x) => x.id === s.id).median.vsCeiling;
    target(
      `${s.name}: ≥ 80% of the ceiling's files/s`,
      ratio >= 0.8,
      `${int(s.files / med[s.id].wallS)} vs ${int(s.files / med[s.ceiling].wallS)} files/s = ${(ratio * 100).toFixed(0)}% (each repetition against its own ceiling run: ${runs[s.id].map((r, i) => pct(runs[s.ceiling][i].wallS / r.wallS)).join(', ')}; CPU s ${f2(med[s.id].cpuS)} vs ${f2(med[s.ceiling].cpuS)})`,
    );
  }
  const changed = runs.e.map((r) => r.transferred);
  target(
    `(e) transfers exactly ${CHANGED}`,
    changed.every((n) => n === CHANGED),
    `transferred per run: ${changed.join(', ')}`,
  );

  const lines = [
    `## s3lync benchmark (radosgw memstore on 127.0.0.1, ${os.cpus().length} CPUs, Node ${process.version}, ${CONCURRENCY} in flight, median of ${reps})`,
    '',
    '| scenario | wall s (median) | CPU s | peak RSS MiB | requests | files transferred | hashed files | files/s | vs ceiling |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|',
    ...rows,
    '',
    `Load average (1/5/15 min) at the start: ${loadAtStart}; at the end: ${load()}. On a shared or busy machine wall times`,
    'scatter; compare the runs below and the CPU column before trusting a small difference.',
    '',
    'All runs, wall s: ' +
      SCENARIOS.map((s) => `${s.id} ${runs[s.id].map((r) => f3(r.wallS)).join('/')}`).join('; '),
    '',
    'Wall and CPU s cover the operation only, in a fresh process (not Node start-up or imports); peak RSS is the',
    'whole worker process. files/s = files in the tree ÷ wall s (checked or sent). Ceiling PUT bodies are Buffers',
    'from fs.readFile; ceiling GETs pipe the body to a file. Requests are HTTP attempts, SDK retries included.',
    '',
    '### Targets',
    '',
    ...targets.map((x) => `- ${x.pass ? 'PASS' : '**FAIL**'}  ${x.name} — ${x.detail}`),
    '',
    targets.every((x) => x.pass)
      ? 'All targets pass.'
      : `FAIL: ${targets.filter((x) => !x.pass).length} of ${targets.length} targets failed.`,
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
