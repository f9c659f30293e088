/** Shared helpers of the integration tests: the server, a bucket per suite, temp dirs. */
import { createHash, randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  inject,
  it,
  TestRunner,
  vi,
} from 'vitest';

import { laneOf, type LaneOperation } from '../../src/client/lane.js';
import { PROBE_KEY } from '../../src/client/lane/endpoint.js';
import { compositeEtag } from '../../src/etag.js';
import { CAPABILITIES, recordExclusion, type Capability } from '../setup/capabilities.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

export const s3 = inject('s3');

/** `describe` when a server is available, else a skipped `describe` (the setup said why loudly). */
export const describeS3 = s3.available ? describe : describe.skip;

type TestBody = (...args: never[]) => void | Promise<void>;
type TestLike = (name: string, fn?: TestBody, timeout?: number) => void;
/** `it`, with `each`. */
type ItLike = TestLike & { each: typeof it.each };

/** The names of the suites around the test being declared, and the file. */
function whereDeclared(name: string): string {
  interface SuiteLike {
    name: string;
    suite?: SuiteLike | undefined;
    file?: { name: string } | undefined;
  }
  const names: string[] = [name];
  const current = TestRunner.getCurrentSuite() as unknown as SuiteLike;
  for (let suite: SuiteLike | undefined = current; suite !== undefined; suite = suite.suite) {
    const known = suite.name === '' || suite.name === current.file?.name || suite.name === names[0];
    if (!known) names.unshift(suite.name);
  }
  const file = current.file?.name ?? '';
  return `${path.basename(file)} > ${names.join(' > ')}`;
}

/** Whether the server under test lacks `cap` (for hooks that set up what a declared test needs). */
export function serverLacks(cap: Capability): boolean {
  return s3.lacks?.includes(cap) === true;
}

/**
 * `it` for tests that need server capabilities. On a server that lacks one
 * (tests/setup/capabilities.ts) each test is excluded and recorded, and the run ends with
 * the table of what was excluded where, for what: never a silent skip.
 *
 *   requires('conditional-writes').it('refuses a racing write', async () => { ... });
 */
export function requires(...caps: Capability[]): { it: ItLike } {
  for (const cap of caps) {
    if (!(cap in CAPABILITIES)) throw new Error(`requires(): unknown capability "${cap}"`);
  }
  const missing = caps.filter((c) => s3.lacks?.includes(c) === true);
  if (!s3.available || missing.length === 0) {
    return { it: it as unknown as ItLike };
  }
  const record = (name: string): void => {
    const test = whereDeclared(name);
    for (const capability of missing) {
      recordExclusion(s3.exclusions ?? '', { capability, server: s3.server ?? '', test });
    }
  };
  const needs = ` [needs ${missing.join(', ')}]`;
  const excluded: TestLike = (name, fn, timeout) => {
    record(name);
    it.skip(`${name}${needs}`, fn as () => void, timeout);
  };
  return {
    it: Object.assign(excluded, {
      each: ((cases: unknown[][]) =>
        (name: string, fn: () => void, timeout?: number): void => {
          record(name);
          it.skip.each(cases)(`${name}${needs}`, fn, timeout);
        }) as unknown as typeof it.each,
    }),
  };
}

/**
 * The ETag this server gives a multipart upload of `data` in parts of `partSize`, quoted:
 * the composite of the parts, or, on a server without 'composite-etag' (s3rver), the
 * whole object's MD5. Both are answers s3lync must verify.
 */
export function multipartEtagOf(data: Buffer, partSize: number): string {
  if (s3.lacks?.includes('composite-etag') === true) return `"${md5(data)}"`;
  const parts: string[] = [];
  for (let o = 0; o < data.length; o += partSize) parts.push(md5(data.subarray(o, o + partSize)));
  return `"${compositeEtag(parts)}"`;
}

/** A raw SDK client on the test server, for arranging and checking state behind s3lync's back. */
export function rawClient(): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The endpoint in the `s3://SECRET:ACCESS@http://host/` form s3lync parses. */
export function uriFor(bucket: string, key: string): string {
  return `s3://${s3.secretAccessKey}:${s3.accessKeyId}@${s3.endpoint}/${bucket}/${key}`;
}

/** Creates a fresh bucket for the suite and empties and removes it afterwards. */
export function useBucket(): { readonly name: string; client: S3Client } {
  const state = { name: `s3lync-${randomBytes(5).toString('hex')}`, client: rawClient() };
  beforeAll(async () => {
    await state.client.send(new CreateBucketCommand({ Bucket: state.name }));
  });
  afterAll(async () => {
    await emptyBucket(state.client, state.name);
    await state.client.send(new DeleteBucketCommand({ Bucket: state.name }));
  });
  return state;
}

export async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
}

/** A temp directory for the suite, removed afterwards. */
export function useTempDir(): { readonly path: string } {
  const state = { path: '' };
  beforeAll(async () => {
    state.path = await mkdtemp(path.join(os.tmpdir(), 's3lync-test-'));
  });
  afterAll(async () => {
    await rm(state.path, { recursive: true, force: true });
  });
  return state;
}

export async function putObject(
  client: S3Client,
  bucket: string,
  key: string,
  body: string | Buffer,
): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function getObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function headObject(client: S3Client, bucket: string, key: string) {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

export async function objectExists(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<boolean> {
  try {
    await headObject(client, bucket, key);
    return true;
  } catch (e) {
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return false;
    throw e;
  }
}

type AnySend = (command: unknown, ...rest: unknown[]) => Promise<unknown>;

/** The SDK command of each operation the data lane sends. */
const LANE_COMMANDS: Record<LaneOperation, new (input: never) => object> = {
  HeadObject: HeadObjectCommand,
  GetObject: GetObjectCommand,
  PutObject: PutObjectCommand,
  UploadPart: UploadPartCommand,
  ListObjectsV2: ListObjectsV2Command,
};

/**
 * Intercepts every request of an SDK client, on both paths: its `send`, and the operations
 * of its data lane (each shown to `around` as the SDK command it stands for, so a test
 * reads `command.input` and may change the output either way). `around` gets the command
 * and a function that performs the real request, and returns what the request should
 * resolve to. (A request the lane hands to the SDK would be seen twice; against radosgw
 * the lane hands over none.)
 */
export function interceptSend(
  client: S3Client,
  around: (command: unknown, send: () => Promise<unknown>) => Promise<unknown>,
): void {
  const real = client.send.bind(client) as AnySend;
  // The lane's endpoint probe goes through `send` but never leaves the process.
  const isProbe = (command: unknown): boolean =>
    (command as { input?: { Key?: string } }).input?.Key === PROBE_KEY;
  const wrapped: AnySend = (command, ...rest) =>
    isProbe(command) ? real(command, ...rest) : around(command, () => real(command, ...rest));
  // send's overloads include a callback form returning void; the promise form is what runs.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  vi.spyOn(client, 'send').mockImplementation(wrapped as S3Client['send']);
  const lane = laneOf(client);
  if (lane === undefined) return;
  const perform = lane.perform.bind(lane);
  vi.spyOn(lane, 'perform').mockImplementation((operation, input, signal, run) =>
    around(new LANE_COMMANDS[operation](input as never), () =>
      perform(operation, input, signal, run),
    ),
  );
}

/** The names of the commands `client` sends from now on (`HeadObjectCommand`…), on both paths. */
export function recordCommands(client: S3Client): string[] {
  const names: string[] = [];
  interceptSend(client, (command, send) => {
    names.push((command as object).constructor.name);
    return send();
  });
  return names;
}

/** A unique key prefix for one test. */
export function uniqueKey(name: string): string {
  return `${randomBytes(4).toString('hex')}/${name}`;
}

/** The hex MD5 of `data`. */
export function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** `text` with the characters special in a RegExp escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Everything under `dir`, recursively, by `lstat` (a link is described, never followed):
 * relative path → "dir", "file <size> <md5>", "symlink -> <target>", "fifo", "socket",
 * "block device" or "char device". Names that are not valid UTF-8 are read as bytes and
 * shown with those bytes escaped (`\xNN`). A missing `dir` is an empty map. Paths in
 * `skip` (relative, with `/`) are left out with everything below them: the target a test
 * expects to change, inside a parent it expects unchanged.
 */
export async function snapshotTree(
  dir: string,
  options: { skip?: readonly string[] } = {},
): Promise<Map<string, string>> {
  const skip = new Set(options.skip ?? []);
  const out = new Map<string, string>();
  const shown = (name: Buffer): string =>
    Buffer.from(name.toString('utf8'), 'utf8').equals(name)
      ? name.toString('utf8')
      : [...name].map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16)}`)).join('');
  async function walk(abs: Buffer, rel: string): Promise<void> {
    const names = await readdir(abs, { encoding: 'buffer' }).catch((error: unknown) => {
      if (rel === '' && (error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    for (const name of names) {
      const child = Buffer.concat([abs, Buffer.from(path.sep), name]);
      const childRel = rel === '' ? shown(name) : `${rel}/${shown(name)}`;
      if (skip.has(childRel)) continue;
      const s = await lstat(child);
      if (s.isDirectory()) {
        out.set(childRel, 'dir');
        await walk(child, childRel);
      } else if (s.isFile()) out.set(childRel, `file ${s.size} ${md5(await readFile(child))}`);
      else if (s.isSymbolicLink()) out.set(childRel, `symlink -> ${await readlink(child, 'utf8')}`);
      else if (s.isFIFO()) out.set(childRel, 'fifo');
      else if (s.isSocket()) out.set(childRel, 'socket');
      else out.set(childRel, s.isBlockDevice() ? 'block device' : 'char device');
    }
  }
  await walk(Buffer.from(dir), '');
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Where a hostile test looks for changes: the target, its parent, a directory outside. */
export interface TargetPlaces {
  /** The target's parent: it holds the target and its siblings. */
  parent: string;
  /** The local path of the S3Object under test (not created). */
  target: string;
  /** A directory outside the parent. */
  outside: string;
}

/**
 * Fresh places under `base`: a parent holding the target's place, a sibling whose name
 * starts like the target and a file next to it, and a directory outside holding a file.
 */
export async function targetPlaces(base: string): Promise<TargetPlaces> {
  const parent = path.join(base, 'parent');
  const target = path.join(parent, 'target');
  const outside = path.join(base, 'outside');
  await mkdir(path.join(parent, 'target-sibling'), { recursive: true });
  await writeFile(path.join(parent, 'target-sibling', 'a.txt'), 'a sibling, not the target');
  await writeFile(path.join(parent, 'next-to-target.txt'), 'next to the target');
  await mkdir(path.join(outside, 'deep'), { recursive: true });
  await writeFile(path.join(outside, 'deep', 'important.txt'), 'outside the target');
  return { parent, target, outside };
}

/**
 * A fault proxy in front of the test server, a fresh one per test: a client that never
 * gives up uses up its own test's requests, not the next one's.
 */
export function useProxyPerTest(maxRequests: number): { readonly proxy: FaultProxy } {
  const state = {} as { proxy: FaultProxy };
  beforeEach(async () => {
    state.proxy = await startFaultProxy({
      target: s3.endpoint,
      maxRequests,
      maxLifetimeMs: 60_000,
    });
  });
  afterEach(async () => {
    await state.proxy.close();
  });
  return state;
}

/** Every key under `prefix`, sorted, listed directly (not through s3lync). */
export async function listKeys(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}
