/* global process */
/**
 * One benchmark scenario in a fresh process, so that peak RSS belongs to that scenario
 * alone. Started by bench/run.mjs as `node bench/worker.mjs '<spec JSON>'`; writes its
 * measurements as JSON to `spec.out`.
 *
 * Kinds:
 *   s3lync    `new S3Object(uri).sync(direction)` of a tree
 *   ceil-put  raw SDK: PutObject of each file (Body = Buffer from fs.readFile), N in flight
 *   ceil-get  raw SDK: GetObject of each key, piped to a file, N in flight
 *
 * Wall and CPU time cover the operation only (not Node's start-up or module loading);
 * peak RSS is the whole process's (`resourceUsage().maxRSS`).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';

import { pathToFileURL } from 'node:url';

import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const spec = JSON.parse(process.argv[2] ?? '{}');

/**
 * Counts the HTTP requests an SDK client sends, by command. The middleware sits in the
 * finalizeRequest step at low priority, inside the SDK's retry middleware (high priority
 * in the same step), so every attempt counts, retries included; s3lync's own retries of
 * streaming transfers call `send` again and count too. Failed attempts are also tallied
 * by HTTP status.
 */
function countRequests(sdk) {
  const requests = {};
  const failures = {};
  sdk.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      requests[name] = (requests[name] ?? 0) + 1;
      try {
        return await next(args);
      } catch (error) {
        const status = error?.$metadata?.httpStatusCode ?? error?.code ?? 'network';
        const k = `${name} ${status}`;
        failures[k] = (failures[k] ?? 0) + 1;
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'benchRequestCounter' },
  );
  return { requests, failures };
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
  const { S3Object } = await import(
    spec.lib === undefined ? 's3lync' : pathToFileURL(spec.lib).href
  );
  const uri = `s3://${spec.secretKey}:${spec.accessKey}@${spec.endpoint}/${spec.bucket}/${spec.prefix}`;
  const obj = new S3Object(uri, {
    localPath: spec.localPath,
    progressMode: 'disabled',
    maxConcurrency: spec.concurrency,
    hashIndex: spec.indexDir,
  });
  const counter = countRequests(obj.client.sdk);
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
  const counter = countRequests(sdk);
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

const result =
  spec.kind === 's3lync' ? await runS3lync() : await runCeiling(/** @type {string} */ (spec.kind));
result.peakRssMiB = process.resourceUsage().maxRSS / 1024;
await writeFile(spec.out, JSON.stringify(result));
