/**
 * Hashing a file in a worker thread while it is being written: the MD5 passes of a ranged
 * download leave the event loop, which then only moves bytes.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

import { writeAllAt } from './disk.js';
import {
  HASH_CHUNK_SIZE,
  WrittenRanges,
  type HashingOptions,
  type ReceivedDigest,
} from './hash.js';

/**
 * The worker, as CommonJS source run with `eval: true`: a separate file would have to be
 * found next to the compiled module, which neither bundlers nor the TypeScript test runner
 * guarantee. It reads the file through the descriptor it is given (the caller's, shared by
 * the process) in `chunkSize` reads up to each `end` it is sent, hashing the whole content
 * (unless `md5` is false) and the parts of each part size; `last` asks for the digests.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const { fd, partSizes, chunkSize, md5 } = workerData;
const buffer = Buffer.allocUnsafeSlow(chunkSize);
const whole = md5 ? createHash('md5') : undefined;
const trackers = partSizes.map((size) => ({ size, hash: createHash('md5'), fill: 0, parts: [] }));
let hashed = 0;
let failed = false;
parentPort.on('message', ({ end, last }) => {
  if (failed) return;
  try {
    while (hashed < end) {
      const n = readSync(fd, buffer, 0, Math.min(chunkSize, end - hashed), hashed);
      if (n === 0) throw new Error('the file ends at ' + hashed + ', before ' + end);
      const chunk = buffer.subarray(0, n);
      if (whole) whole.update(chunk);
      for (const t of trackers) {
        for (let o = 0; o < n; ) {
          const take = Math.min(t.size - t.fill, n - o);
          t.hash.update(chunk.subarray(o, o + take));
          t.fill += take;
          o += take;
          if (t.fill === t.size) {
            t.parts.push(t.hash.digest());
            t.hash = createHash('md5');
            t.fill = 0;
          }
        }
      }
      hashed += n;
    }
    if (last) {
      const composites = {};
      for (const t of trackers) {
        if (t.fill > 0) t.parts.push(t.hash.digest());
        const etag = createHash('md5').update(Buffer.concat(t.parts)).digest('hex');
        composites[t.size] = etag + '-' + t.parts.length;
      }
      parentPort.postMessage({ size: hashed, md5: whole && whole.digest('hex'), composites });
    }
  } catch (error) {
    failed = true;
    parentPort.postMessage({ error: String((error && error.message) || error) });
  }
});
`;

interface WorkerReply {
  size?: number;
  md5?: string;
  composites?: Record<number, string>;
  error?: string;
}

/**
 * Writes a file at arbitrary offsets (ranged downloads) while a worker thread hashes it in
 * order, reading back from the page cache whatever has been written contiguously from the
 * start. The event loop only writes; the MD5 and the composite ETags of the candidate part
 * sizes are computed on another core. An additional checksum is not supported here (use
 * {@link InOrderFileHasher} for that): see {@link WorkerFileHasher.supports}.
 *
 * Call {@link WorkerFileHasher.close} in every case, before closing the file.
 */
export class WorkerFileHasher {
  private readonly worker: Worker;
  private readonly written = new WrittenRanges();
  /** How far the worker has been told the file is written contiguously. */
  private posted = 0;
  private readonly reply: Promise<WorkerReply>;
  private readonly partSizes: number[];

  /** Whether these hashing options can be computed in the worker. */
  static supports(options: HashingOptions | undefined): boolean {
    return options?.checksum === undefined && options?.knownMd5 === undefined;
  }

  /**
   * @param fh - the file, open for reading and writing; the worker reads its descriptor.
   * @param options - candidate part sizes to compute composite ETags for, and whether the
   *   whole content's MD5 is skipped.
   * @param chunkSize - the size of the worker's reads.
   */
  constructor(
    private readonly fh: FileHandle,
    options: HashingOptions = {},
    chunkSize: number = HASH_CHUNK_SIZE,
  ) {
    this.partSizes = [...new Set(options.candidatePartSizes ?? [])];
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        fd: fh.fd,
        partSizes: this.partSizes,
        chunkSize,
        md5: options.skipMd5 !== true,
      },
    });
    this.reply = new Promise<WorkerReply>((resolve, reject) => {
      this.worker.once('message', (m: WorkerReply) => {
        resolve(m);
      });
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => {
        reject(new Error(`internal: the hashing worker exited (${code}) before it answered`));
      });
    });
    // Read in finish(); until then a failure must not be an unhandled rejection.
    this.reply.catch(() => undefined);
  }

  /** Writes `data` at `position`; keep `data` unchanged until this resolves. */
  async write(data: Buffer, position: number): Promise<void> {
    await writeAllAt(this.fh, [data], position);
    this.written.add(position, position + data.length, this.posted);
    const end = this.written.endFrom(this.posted);
    if (end > this.posted) {
      this.posted = end;
      this.worker.postMessage({ end });
    }
  }

  /** The digests of `[0, size)`, once the worker has hashed it all (the MD5 unless skipped). */
  async finish(size: number): Promise<ReceivedDigest> {
    if (this.posted < size) {
      throw new Error(`internal: ${this.posted} of ${size} bytes written in order`);
    }
    this.worker.postMessage({ end: size, last: true });
    const reply = await this.reply;
    if (reply.error !== undefined) throw new Error(`hashing ${size} bytes failed: ${reply.error}`);
    const digest: ReceivedDigest = { size: reply.size ?? 0, md5: reply.md5 };
    if (digest.size > 0 && this.partSizes.length > 0) digest.composites = reply.composites ?? {};
    return digest;
  }

  /** Stops the worker; it no longer reads the file once this resolves. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
