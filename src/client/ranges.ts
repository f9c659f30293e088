/**
 * Ranged GETs of a large object into a file: parallel ranges pinned with `If-Match` to one
 * ETag, each copied through two reused buffers to its offset, hashed in order as they land.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';

import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';

import { sdkErrorMeta } from '../exceptions.js';
import { HASH_CHUNK_SIZE, HashingStream, InOrderFileHasher, type HashingOptions } from '../hash.js';
import { WorkerFileHasher } from '../hash-worker.js';
import { AttemptProgress } from './attempt-progress.js';
import type { ClientContext } from './context.js';
import { cutShort, typedErrors } from './errors.js';
import { TaskPool } from './pool.js';
import { remoteObject } from './remote-object.js';
import { retryDownload } from './retrying.js';
import type { DownloadResult, DownloadSink, RangedDownloadOptions } from './types.js';

/** What the ranges of one attempt share. */
interface RangeJob {
  readonly ctx: ClientContext;
  readonly bucket: string;
  readonly key: string;
  readonly rangeSize: number;
  /** The object's size (until the first range says, the size asked for). */
  size: number;
  /** Stops every range: the caller's abort or a sibling's failure. */
  readonly signal: AbortSignal;
  /** 1 MiB buffers free for reuse, across ranges and attempts. */
  readonly stages: Buffer[];
  readonly progress: AttemptProgress;
}

/** Where the ranges land and how their digests come out: in order, whatever order they arrive in. */
interface RangeHasher {
  /** Writes `data` at `position` and hashes what is now in order. */
  write(data: Buffer, position: number): Promise<void>;
  /** The digests of the first `size` bytes, once all are written. */
  digests(size: number): Promise<Pick<DownloadResult, 'digest' | 'receivedChecksum'>>;
  /** Stops the hashing (before the file is closed). */
  close(): Promise<void>;
}

/**
 * GETs a large object as parallel ranged GETs into `file`, every range pinned with
 * `If-Match` to one ETag so a concurrent overwrite cannot produce a mixed file (it fails
 * the attempt instead, and the retry starts over with the new version). Each range's
 * bytes are copied into two reused 1 MiB buffers and written at their offsets; an
 * {@link InOrderFileHasher} hashes them in order, from memory where they arrive in order
 * and from the page cache where they arrive early. Memory stays at about
 * `concurrency × 2 MiB` whatever the object's size. The caller owns (and removes) the
 * file.
 */
export function downloadRangesToFile(
  ctx: ClientContext,
  bucket: string,
  key: string,
  file: DownloadSink,
  options: RangedDownloadOptions,
): Promise<DownloadResult> {
  const site = { operation: 'GetObject', bucket, key, signal: options.signal };
  // Reused across ranges and attempts: holding each range until the in-order hasher
  // reached it kept the socket's chunks alive past the GC's young generation, and peak
  // RSS grew by twice the ranges in flight.
  const stages: Buffer[] = [];
  return typedErrors(site, ctx.describe, () =>
    ctx.retry.run(
      { ...site, operation: 'ranged GetObject' },
      ctx.describe,
      (attempt) => downloadRangesOnce(ctx, { bucket, key, file, options, stages }, attempt),
      // A 412 means the object changed mid-download: start over with the new version.
      (e) => retryDownload(e) || sdkErrorMeta(e).statusCode === 412,
    ),
  );
}

/** One attempt of {@link downloadRangesToFile}. */
async function downloadRangesOnce(
  ctx: ClientContext,
  request: {
    bucket: string;
    key: string;
    file: DownloadSink;
    options: RangedDownloadOptions;
    stages: Buffer[];
  },
  attempt: number,
): Promise<DownloadResult> {
  const { options } = request;
  const progress = new AttemptProgress(options.onBytes);
  const fh = await request.file.open(true);
  // One failed range stops its siblings; all settle before the file is closed.
  const pool = new TaskPool(options.concurrency, options.signal);
  const job: RangeJob = {
    ctx,
    bucket: request.bucket,
    key: request.key,
    rangeSize: options.rangeSize,
    // The first attempt fetches the version the caller saw; after a change (412), the
    // next one pins whatever version is current and takes its size from the response.
    size: attempt === 1 ? options.size : options.rangeSize,
    signal: pool.signal,
    stages: request.stages,
    progress,
  };
  let hasher: RangeHasher | undefined;
  try {
    // The first range's headers pin the version and say what to compute.
    const first = await openRange(job, 0, attempt === 1 ? options.ifMatch : undefined);
    const info = remoteObject(first);
    const total = Number(/\/(\d+)$/.exec(first.ContentRange ?? '')?.[1] ?? job.size);
    info.size = total;
    if (attempt === 1 && total !== options.size) {
      (first.Body as Readable | undefined)?.destroy();
      throw Object.assign(new Error(`the object is ${total} bytes now, not ${job.size}`), {
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      });
    }
    job.size = total;
    hasher = rangeHasher(fh, options.hashing?.(info));
    await receiveRanges(job, pool, hasher, first);
    const result: DownloadResult = { ...info, ...(await hasher.digests(total)) };
    options.verify?.(result);
    return result;
  } catch (error) {
    progress.rollback();
    throw error;
  } finally {
    // The worker reads through this descriptor: stopped before it is closed.
    await hasher?.close();
    await fh.close();
  }
}

/** Receives the first range (already open) and GETs the others, at most `concurrency` at once. */
async function receiveRanges(
  job: RangeJob,
  pool: TaskPool,
  hasher: RangeHasher,
  first: GetObjectCommandOutput,
): Promise<void> {
  const ranges = Math.max(1, Math.ceil(job.size / job.rangeSize));
  const etag = first.ETag;
  pool.start(() => receiveRange(job, hasher, 0, first));
  for (let index = 1; index < ranges; index++) {
    if (!(await pool.ready())) break;
    pool.start(async () => {
      await receiveRange(job, hasher, index, await openRange(job, index, etag));
    });
  }
  // The first failure is the cause; the siblings it stopped fail with aborts.
  await pool.settle();
}

/** The first and last byte of range `index`. */
function rangeBounds(job: RangeJob, index: number): { start: number; end: number } {
  const start = index * job.rangeSize;
  return { start, end: Math.min(job.size, start + job.rangeSize) - 1 };
}

/** GETs range `index`, pinned to `ifMatch`; the first range also asks for the checksum. */
function openRange(
  job: RangeJob,
  index: number,
  ifMatch: string | undefined,
): Promise<GetObjectCommandOutput> {
  const { start, end } = rangeBounds(job, index);
  return job.ctx.transport.getObject(
    {
      Bucket: job.bucket,
      Key: job.key,
      Range: `bytes=${start}-${end}`,
      ...(ifMatch !== undefined && { IfMatch: ifMatch }),
      ...(index === 0 && { ChecksumMode: 'ENABLED' }),
    },
    job.signal,
  );
}

/** Streams the body of range `index` to its offset; a body too long or too short fails. */
async function receiveRange(
  job: RangeJob,
  hasher: RangeHasher,
  index: number,
  out: GetObjectCommandOutput,
): Promise<void> {
  const { start, end } = rangeBounds(job, index);
  const body = out.Body as Readable;
  addAbortSignal(job.signal, body);
  const writer = new RangeWriter(job.stages, hasher, start);
  try {
    for await (const chunk of body) {
      const data = chunk as Buffer;
      if (writer.taken + data.length > end + 1) {
        throw cutShort(`range ${start}-${end} sent more than ${end - start + 1} bytes`);
      }
      await writer.push(data);
      job.progress.add(data.length);
    }
    await writer.finish();
  } finally {
    await writer.release();
  }
  // The server may clamp the last range: trust its Content-Range for where it ends.
  const servedEnd = Number(/-(\d+)\//.exec(out.ContentRange ?? '')?.[1] ?? end);
  if (writer.position !== servedEnd + 1) {
    throw cutShort(`range ${start}-${servedEnd} ended at ${writer.position}`);
  }
}

/**
 * Copies a range's chunks into two reused buffers and writes each full one at its offset.
 * One write is in flight per range, so a buffer is free again once the write of the other
 * one has been waited for.
 */
class RangeWriter {
  /** Where the next write goes. */
  position: number;
  readonly #buffers: readonly [Buffer, Buffer];
  #writing: Promise<void> = Promise.resolve();
  #slot: 0 | 1 = 0;
  #fill = 0;

  constructor(
    private readonly stages: Buffer[],
    private readonly hasher: Pick<RangeHasher, 'write'>,
    start: number,
  ) {
    this.position = start;
    this.#buffers = [
      stages.pop() ?? Buffer.allocUnsafeSlow(HASH_CHUNK_SIZE),
      stages.pop() ?? Buffer.allocUnsafeSlow(HASH_CHUNK_SIZE),
    ];
  }

  /** The offset after the bytes taken so far, written or not. */
  get taken(): number {
    return this.position + this.#fill;
  }

  /** Takes `data`, writing each buffer that fills. */
  async push(data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length;) {
      const n = data.copy(this.#buffers[this.#slot], this.#fill, offset);
      this.#fill += n;
      offset += n;
      if (this.#fill === HASH_CHUNK_SIZE) await this.flush();
    }
  }

  /** Writes what is left and waits for the last write. */
  async finish(): Promise<void> {
    if (this.#fill > 0) await this.flush();
    await this.#writing;
  }

  /** Gives the buffers back for reuse, once no write uses them. */
  async release(): Promise<void> {
    await this.#writing.catch(() => undefined);
    this.stages.push(...this.#buffers);
  }

  private async flush(): Promise<void> {
    await this.#writing;
    const data = this.#buffers[this.#slot].subarray(0, this.#fill);
    this.#writing = this.hasher.write(data, this.position);
    // Handled here, thrown where it is awaited: the next flush, or the end.
    this.#writing.catch(() => undefined);
    this.position += this.#fill;
    this.#fill = 0;
    this.#slot = this.#slot === 0 ? 1 : 0;
  }
}

/** The MD5 passes run on another core; a checksum (the worker has none) runs here. */
function rangeHasher(fh: FileHandle, hashing: HashingOptions | undefined): RangeHasher {
  if (WorkerFileHasher.supports(hashing)) {
    const worker = new WorkerFileHasher(fh, hashing);
    return {
      write: (data, position) => worker.write(data, position),
      digests: async (size) => ({ digest: await worker.finish(size), receivedChecksum: undefined }),
      close: () => worker.close(),
    };
  }
  const hasher = new HashingStream(undefined, undefined, hashing);
  const ordered = new InOrderFileHasher(fh, hasher);
  return {
    write: (data, position) => ordered.write(data, position),
    digests: async (size) => {
      await ordered.finish(size);
      return { digest: hasher.received(), receivedChecksum: await hasher.checksum() };
    },
    close: () => Promise.resolve(),
  };
}
