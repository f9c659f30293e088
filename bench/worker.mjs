/* global clearInterval, process, setInterval */
/**
 * One benchmark scenario in a fresh process, so that peak RSS belongs to that scenario
 * alone. Started by bench/run.mjs as `node bench/worker.mjs '<spec JSON>'`; writes its
 * measurements as JSON to `spec.out`.
 *
 * Kinds:
 *   s3lync    `new S3Object(uri).sync(direction)` of a tree
 *   ceil-put  raw SDK: PutObject of each file (Body = Buffer from fs.readFile), N in flight
 *   ceil-get  raw SDK: GetObject of each key, piped to a file, N in flight
 *   one       `new S3Object(uri).sync(direction)` of one large file (--large)
 *   ceil-upload    lib-storage `Upload` of one file, `partSize`, `queueSize` (--large)
 *   ceil-getfile   one `GetObject` of one key piped to a file, a single stream (--large)
 *   md5-node  Node's MD5 of a file, read with 1 MiB chunks (--large)
 *   hashfile  s3lync's `hashFile` of a file: the library's own MD5 pass (--large)
 *   md5sum    `md5sum` of a file, run under /usr/bin/time (--large)
 *   rclone    `rclone spec.args…` under /usr/bin/time, configured by `spec.env` (the peer)
 *   process   `spec.argv` under /usr/bin/time: a whole process, start-up included (cold no-op)
 *   plan-mock a tree sync planned against a mocked SDK client that generates listing
 *             pages on the fly (--million); run with --expose-gc for the heap figures
 *   index-io  load and saves of a hash index of N entries (--million), with --expose-gc
 *
 * Wall and CPU time cover the operation only (not Node's start-up or module loading);
 * peak RSS is the whole process's (`resourceUsage().maxRSS`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

import { fileURLToPath, pathToFileURL } from 'node:url';

import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const spec = JSON.parse(process.argv[2] ?? '{}');

/**
 * Counts the HTTP requests an SDK client sends, by operation, on both paths. On the SDK's,
 * a middleware sits in the finalizeRequest step at low priority, inside the SDK's retry
 * middleware (high priority in the same step), so every attempt counts, retries included;
 * s3lync's own retries of streaming transfers call `send` again and count too. On the data
 * lane (the clients s3lync builds), every attempt passes through the lane's `send`. Failed
 * attempts are also tallied by HTTP status. (The lane's endpoint probe stops before the
 * finalizeRequest step: it sends nothing and is not counted.)
 */
async function countRequests(sdk) {
  const requests = {};
  const failures = {};
  const tally = (name) => {
    requests[name] = (requests[name] ?? 0) + 1;
  };
  const failed = (name, error) => {
    const status = error?.$metadata?.httpStatusCode ?? error?.code ?? 'network';
    const k = `${name} ${status}`;
    failures[k] = (failures[k] ?? 0) + 1;
  };
  sdk.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      tally(name);
      try {
        return await next(args);
      } catch (error) {
        failed(name, error);
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'benchRequestCounter' },
  );
  const lane = await laneOfClient(sdk);
  if (lane !== undefined) {
    const send = lane.send.bind(lane);
    lane.send = async (route, request, signal) => {
      const name = laneOperation(request);
      tally(name);
      try {
        const answer = await send(route, request, signal);
        if (answer.statusCode >= 300) failed(name, { code: answer.statusCode });
        return answer;
      } catch (error) {
        failed(name, error);
        throw error;
      }
    };
  }
  return { requests, failures };
}

/** The data lane of an SDK client s3lync built, if it has one (and the build knows lanes). */
async function laneOfClient(sdk) {
  try {
    const { laneOf } = await loadLibModule('client/lane.js');
    return laneOf(sdk);
  } catch {
    return undefined;
  }
}

/** The S3 operation of a lane request, by its method and query. */
function laneOperation(request) {
  if (request.method === 'HEAD') return 'HeadObject';
  if (request.query['list-type'] === '2') return 'ListObjectsV2';
  return request.query['x-id'] ?? `${request.method} ?`;
}

function rawClient() {
  return new S3Client({
    endpoint: spec.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: spec.accessKey, secretAccessKey: spec.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Runs `fn` over `items` with `n` in flight. */
async function pool(items, n, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}

async function measure(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const extra = await fn();
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wallS, cpuS: (cpu.user + cpu.system) / 1e6, ...extra };
}

async function runS3lync() {
  // The built package: run.mjs's snapshot of dist/, else the package itself (self-reference).
  const { S3Object } = await loadLib();
  const uri = `s3://${spec.secretKey}:${spec.accessKey}@${spec.endpoint}/${spec.bucket}/${spec.prefix}`;
  const obj = new S3Object(uri, {
    localPath: spec.localPath,
    progressMode: 'disabled',
    maxConcurrency: spec.concurrency,
    hashIndex: spec.indexDir,
  });
  const counter = await countRequests(obj.client.sdk);
  const m = await measure(async () => {
    const r = await obj.sync(spec.direction);
    return {
      transferred: r.transferred,
      unchanged: r.unchanged,
      bytes: r.bytes,
      hashedFiles: r.hashedFiles,
      hashedBytes: r.hashedBytes,
      libDurationMs: r.durationMs,
    };
  });
  obj.client.sdk.destroy();
  return { ...m, requests: counter.requests, failures: counter.failures };
}

async function runCeiling(kind) {
  const files = JSON.parse(await readFile(spec.manifest, 'utf8'));
  const sdk = rawClient();
  const counter = await countRequests(sdk);
  const dirs = new Map();
  const ensureDir = (dir) => {
    let p = dirs.get(dir);
    if (p === undefined) {
      p = mkdir(dir, { recursive: true });
      dirs.set(dir, p);
    }
    return p;
  };
  const m = await measure(async () => {
    let bytes = 0;
    await pool(files, spec.concurrency, async (rel) => {
      const key = `${spec.prefix}${rel}`;
      const abs = path.join(spec.localPath, ...rel.split('/'));
      if (kind === 'ceil-put') {
        const body = await readFile(abs);
        await sdk.send(new PutObjectCommand({ Bucket: spec.bucket, Key: key, Body: body }));
        bytes += body.length;
      } else {
        await ensureDir(path.dirname(abs));
        const out = await sdk.send(new GetObjectCommand({ Bucket: spec.bucket, Key: key }));
        await pipeline(out.Body, createWriteStream(abs));
        bytes += out.ContentLength ?? 0;
      }
    });
    return { transferred: files.length, unchanged: 0, bytes, hashedFiles: 0, hashedBytes: 0 };
  });
  sdk.destroy();
  return { ...m, requests: counter.requests, failures: counter.failures };
}

/**
 * Bytes this process read through syscalls (`rchar`, page cache hits included) and from
 * the block layer (`read_bytes`, 0 for cached files), from /proc/self/io.
 */
function procIo() {
  const text = readFileSync('/proc/self/io', 'utf8');
  const get = (name) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rchar: get('rchar'), readBytes: get('read_bytes') };
}

/** `measure` plus the bytes read from /proc/self/io over the operation. */
async function measureIo(fn) {
  const io0 = procIo();
  const m = await measure(fn);
  const io1 = procIo();
  return { ...m, rchar: io1.rchar - io0.rchar, readBytes: io1.readBytes - io0.readBytes };
}

async function loadLib() {
  return import(spec.lib === undefined ? 's3lync' : pathToFileURL(spec.lib).href);
}

/** A module of the library's build beside its entry: internals the benchmark measures too. */
async function loadLibModule(name) {
  const entry = spec.lib ?? fileURLToPath(import.meta.resolve('s3lync'));
  return import(pathToFileURL(path.join(path.dirname(entry), name)).href);
}

/** s3lync upload or download of one large file. */
async function runOne() {
  const { S3Object } = await loadLib();
  const uri = `s3://${spec.secretKey}:${spec.accessKey}@${spec.endpoint}/${spec.bucket}/${spec.key}`;
  const obj = new S3Object(uri, {
    localPath: spec.localPath,
    progressMode: 'disabled',
    hashIndex: spec.indexDir,
    ...spec.options,
  });
  const counter = await countRequests(obj.client.sdk);
  const m = await measureIo(async () => {
    const r = await obj.sync(spec.direction);
    return {
      transferred: r.transferred,
      bytes: r.bytes,
      hashedFiles: r.hashedFiles,
      hashedBytes: r.hashedBytes,
    };
  });
  obj.client.sdk.destroy();
  return { ...m, requests: counter.requests, failures: counter.failures };
}

/** The ceilings of one large file: lib-storage's Upload, or one GetObject stream to a file. */
async function runCeilingOne(kind) {
  const sdk = rawClient();
  const counter = await countRequests(sdk);
  const m = await measureIo(async () => {
    if (kind === 'ceil-upload') {
      const upload = new Upload({
        client: sdk,
        params: { Bucket: spec.bucket, Key: spec.key, Body: createReadStream(spec.localPath) },
        partSize: spec.partSize,
        queueSize: spec.queueSize,
      });
      await upload.done();
      return { transferred: 1, bytes: spec.size };
    }
    const out = await sdk.send(new GetObjectCommand({ Bucket: spec.bucket, Key: spec.key }));
    await pipeline(out.Body, createWriteStream(spec.localPath));
    return { transferred: 1, bytes: out.ContentLength ?? 0 };
  });
  sdk.destroy();
  return { ...m, requests: counter.requests, failures: counter.failures };
}

/** Node's MD5 of a file, 1 MiB reads. */
async function runMd5Node() {
  return measureIo(async () => {
    const hash = createHash('md5');
    await pipeline(createReadStream(spec.localPath, { highWaterMark: 1024 * 1024 }), hash);
    return { md5: hash.digest('hex'), bytes: spec.size };
  });
}

/** s3lync's `hashFile`: the MD5 pass the library makes of a local file. */
async function runHashFile() {
  const { hashFile } = await loadLib();
  return measureIo(async () => {
    const digest = await hashFile(spec.localPath);
    return { md5: digest.md5, bytes: spec.size };
  });
}

/** `md5sum` of a file under /usr/bin/time: its own wall, CPU and peak RSS. */
async function runMd5sum() {
  const { stdout, stderr } = await promisify(execFile)('/usr/bin/time', [
    '-f',
    'TIME %e %U %S %M',
    'md5sum',
    spec.localPath,
  ]);
  const line = stderr.split('\n').find((l) => l.startsWith('TIME '));
  if (line === undefined) throw new Error(`no /usr/bin/time line in ${JSON.stringify(stderr)}`);
  const [wall, user, sys, rssKiB] = line.split(' ').slice(1).map(Number);
  return {
    wallS: wall,
    cpuS: user + sys,
    md5: stdout.split(' ')[0],
    bytes: spec.size,
    childPeakRssMiB: rssKiB / 1024,
  };
}

/**
 * `rclone` with `spec.args` under /usr/bin/time: wall time around the child (its start-up
 * included), its own CPU and peak RSS, and the files it transferred and checked from its
 * closing stats. Configured by `spec.env` only (RCLONE_CONFIG="" : no config file); a
 * variable set to null there is removed from the child's environment.
 */
/** `spec.argv` under /usr/bin/time: wall time around the child, its own CPU and peak RSS. */
async function runProcess() {
  const t0 = performance.now();
  const { stderr } = await promisify(execFile)(
    '/usr/bin/time',
    ['-f', 'TIME %e %U %S %M', ...spec.argv],
    { env: { ...process.env, ...spec.env }, maxBuffer: 64 * 1024 * 1024 },
  );
  const wallS = (performance.now() - t0) / 1000;
  const line = stderr.split('\n').find((l) => l.startsWith('TIME '));
  if (line === undefined) throw new Error(`no /usr/bin/time line in ${JSON.stringify(stderr)}`);
  const [, user, sys, rssKiB] = line.split(' ').slice(1).map(Number);
  return { wallS, cpuS: user + sys, childPeakRssMiB: rssKiB / 1024, transferred: 0 };
}

async function runRclone() {
  const childEnv = (extra) =>
    Object.fromEntries(Object.entries({ ...process.env, ...extra }).filter(([, v]) => v !== null));
  const t0 = performance.now();
  const { stderr } = await promisify(execFile)(
    '/usr/bin/time',
    ['-f', 'TIME %e %U %S %M', 'rclone', ...spec.args],
    { env: childEnv(spec.env), maxBuffer: 64 * 1024 * 1024 },
  );
  const wallS = (performance.now() - t0) / 1000;
  const line = stderr.split('\n').find((l) => l.startsWith('TIME '));
  if (line === undefined) throw new Error(`no /usr/bin/time line in ${JSON.stringify(stderr)}`);
  const [, user, sys, rssKiB] = line.split(' ').slice(1).map(Number);
  // "Transferred: 1000 / 1000, 100%" (files; the bytes line has units) and "Checks: 3 / 3".
  const count = (name) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) / \\d+,`, 'm').exec(stderr)?.[1] ?? 0);
  return {
    wallS,
    cpuS: user + sys,
    childPeakRssMiB: rssKiB / 1024,
    transferred: count('Transferred'),
    checks: count('Checks'),
  };
}

/**
 * An SDK client whose ListObjectsV2 never leaves the process: a middleware at the head of
 * the stack answers with a page of `pageSize` keys made on the fly from the continuation
 * token. Every other command fails. (aws-sdk-client-mock is not used here: its sinon stubs
 * keep every call's result, which would put every listed page in the heap figures.)
 */
function mockListingClient(pageOf, pages) {
  const sdk = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'MOCK', secretAccessKey: 'MOCK' },
  });
  const requests = {};
  sdk.middlewareStack.add(
    (_next, context) => async (args) => {
      const name = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      requests[name] = (requests[name] ?? 0) + 1;
      if (name !== 'ListObjectsV2')
        throw new Error(`the mock serves ListObjectsV2 only, not ${name}`);
      const n =
        args.input.ContinuationToken === undefined ? 0 : Number(args.input.ContinuationToken);
      const last = n + 1 >= pages;
      const contents = pageOf(n, args.input.Prefix ?? '');
      return {
        output: {
          $metadata: { httpStatusCode: 200 },
          Contents: contents,
          KeyCount: contents.length,
          IsTruncated: !last,
          ...(!last && { NextContinuationToken: String(n + 1) }),
        },
        response: {},
      };
    },
    { step: 'initialize', priority: 'high', name: 'benchMockListing' },
  );
  return { sdk, requests };
}

const LAST_MODIFIED = new Date('2026-01-01T00:00:00Z');

/** A fake ETag for key number i: 32 hex digits, unique per key. */
function fakeEtag(i) {
  return `"${(i >>> 0).toString(16).padStart(8, '0').repeat(4)}"`;
}

/**
 * Key number i of the generated listings, relative to the prefix: 1,000 files per
 * directory, `d0000/f0000000.bin` on. bench/run.mjs makes the local tree with the same names.
 */
function generatedKey(i, perDir = 1000) {
  return `d${String(Math.floor(i / perDir)).padStart(4, '0')}/f${String(i).padStart(7, '0')}.bin`;
}

/** The ETag of an empty object: the MD5 of nothing. */
const EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"';

/** The heap in use plus ArrayBuffer memory (typed arrays live outside the V8 heap). */
function memoryInUse() {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/**
 * Plans a tree sync against the mock listing, `spec.pages` × `spec.pageSize` keys named by
 * {@link generatedKey}. `spec.mode`:
 *   'dry-download'  keys that do not exist locally, `dryRun: true` (every key a download);
 *   'noop'          empty objects that all exist locally as empty files (`spec.localPath`,
 *                   made by run.mjs) with a warm hash index: `sync(spec.direction)` finds
 *                   every file unchanged.
 * Heap: heap in use plus ArrayBuffers after forced GCs before the sync (the library, the
 * client and the mock already loaded) and after it with the SyncResult still held; the
 * peak is sampled every 20 ms (garbage included), or with `spec.liveSampleMs` after a
 * forced GC each time.
 */
async function runPlanMock() {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('run the plan-mock worker with --expose-gc');
  const { S3Object } = await loadLib();
  const keys = spec.pages * spec.pageSize;
  const dryRun = spec.mode === 'dry-download';
  const pageOf = (n, prefix) => {
    const out = new Array(spec.pageSize);
    for (let j = 0; j < spec.pageSize; j++) {
      const i = n * spec.pageSize + j;
      out[j] = {
        Key: `${prefix}${generatedKey(i, spec.pageSize)}`,
        Size: dryRun ? 1024 : 0,
        ETag: dryRun ? fakeEtag(i) : EMPTY_ETAG,
        LastModified: LAST_MODIFIED,
      };
    }
    return out;
  };
  const { sdk, requests } = mockListingClient(pageOf, spec.pages);
  const obj = new S3Object(`s3://${spec.bucket}/${spec.prefix}`, {
    client: sdk,
    localPath: spec.localPath,
    progressMode: 'disabled',
    maxConcurrency: spec.concurrency,
    hashIndex: spec.indexDir,
  });
  const direction = dryRun ? 'download' : spec.direction;
  gc();
  gc();
  const before = memoryInUse();
  const base = before.heap + before.buffers;
  let peak = base;
  // With `liveSampleMs`, each sample forces a full GC first: the peak of live data, at the
  // price of the timing (that run's wall and CPU are not reported).
  const live = spec.liveSampleMs !== undefined;
  const sample = () => {
    const m = memoryInUse();
    peak = Math.max(peak, m.heap + m.buffers);
  };
  const sampler = setInterval(
    () => {
      if (live) gc();
      sample();
    },
    live ? spec.liveSampleMs : 20,
  );
  let result;
  const m = await measure(async () => {
    result = await obj.sync(direction, { dryRun });
    return {};
  });
  clearInterval(sampler);
  sample();
  gc();
  gc();
  const after = memoryInUse();
  return {
    ...m,
    keys,
    planned: result.actions.length,
    unchanged: result.unchanged,
    transferred: result.transferred,
    hashedFiles: result.hashedFiles,
    hashedBytes: result.hashedBytes,
    heapBaseMiB: base / 2 ** 20,
    heapRetainedPerKey: (after.heap + after.buffers - base) / keys,
    buffersRetainedPerKey: (after.buffers - before.buffers) / keys,
    heapPeakPerKey: (peak - base) / keys,
    live,
    requests,
    failures: {},
  };
}

/**
 * Loads and saves the hash index at `spec.indexFile`, cut to its first `spec.entries`
 * entries (lines) in a copy: the load; a save that rewrites it (one entry recorded); a
 * save that first merges another process's save (one more entry each side).
 */
async function runIndexIo() {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('run the index-io worker with --expose-gc');
  const { HashIndex } = await loadLibModule('hash-index.js');
  const file = path.join(path.dirname(spec.out), `index-io-${spec.entries}.jsonl`);
  const lines = (await readFile(spec.indexFile, 'utf8')).split('\n');
  await writeFile(file, `${lines.slice(0, spec.entries + 1).join('\n')}\n`);
  lines.length = 0;
  const entry = {
    size: 0,
    mtimeNs: 1n,
    ctimeNs: 1n,
    ino: 1n,
    md5: 'd41d8cd98f00b204e9800998ecf8427e',
    hashedAtNs: 10n ** 18n,
    ownMtime: false,
  };
  gc();
  gc();
  const before = memoryInUse();
  let index;
  const load = await measure(async () => {
    index = await HashIndex.load(file);
    return {};
  });
  gc();
  gc();
  const loaded = memoryInUse();
  const entries = index.size;
  index.record('zz-bench-save', entry);
  const save = await measure(async () => {
    await index.save({ prune: false });
    return {};
  });
  const other = await HashIndex.load(file);
  other.record('zz-bench-other', entry);
  await other.save({ prune: false });
  index.record('zz-bench-merge', entry);
  const merge = await measure(async () => {
    await index.save({ prune: false });
    return {};
  });
  const final = await HashIndex.load(file);
  if (final.size !== entries + 3) {
    throw new Error(`the merged index has ${final.size} entries, expected ${entries + 3}`);
  }
  return {
    entries,
    loadWallS: load.wallS,
    loadCpuS: load.cpuS,
    saveWallS: save.wallS,
    saveCpuS: save.cpuS,
    mergeWallS: merge.wallS,
    mergeCpuS: merge.cpuS,
    heapPerEntry: (loaded.heap - before.heap) / entries,
    buffersPerEntry: (loaded.buffers - before.buffers) / entries,
    fileBytes: (await stat(file)).size,
    requests: {},
    failures: {},
  };
}

const KINDS = {
  s3lync: runS3lync,
  'ceil-put': () => runCeiling('ceil-put'),
  'ceil-get': () => runCeiling('ceil-get'),
  one: runOne,
  'ceil-upload': () => runCeilingOne('ceil-upload'),
  'ceil-getfile': () => runCeilingOne('ceil-getfile'),
  'md5-node': runMd5Node,
  hashfile: runHashFile,
  md5sum: runMd5sum,
  rclone: runRclone,
  process: runProcess,
  'plan-mock': runPlanMock,
  'index-io': runIndexIo,
};
const runKind = KINDS[spec.kind];
if (runKind === undefined) throw new Error(`unknown worker kind ${spec.kind}`);
const result = await runKind();
// A child's own peak (md5sum, rclone), else this process's.
result.peakRssMiB = result.childPeakRssMiB ?? process.resourceUsage().maxRSS / 1024;
await writeFile(spec.out, JSON.stringify(result));
