/**
 * Wiring of the door to S3: how `createS3Client` configures the SDK, how retries of the
 * SDK and of s3lync share one attempt budget, and how SDK errors become typed errors.
 *
 * The retry and body tests use a fake `requestHandler` (no socket): it exercises the SDK's
 * real middleware stack, its retry middleware included, which aws-sdk-client-mock bypasses.
 * One test talks to a real HTTP server on 127.0.0.1, for the SDK's own Node handler.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type GetObjectCommandInput,
  type UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  createS3Client,
  DEFAULT_ENDPOINT_REGION,
  DEFAULT_TIMEOUTS,
  resolveTimeouts,
  S3lyncClient,
  timeoutsFor,
  type DownloadSink,
} from '../../src/client.js';
import {
  AccessDeniedError,
  ConfigError,
  HashMismatchError,
  ListingError,
  LocalPathError,
  NotFoundError,
  PreconditionFailedError,
  S3ObjectError,
  S3TimeoutError,
} from '../../src/exceptions.js';
import { S3Object } from '../../src/core.js';
import { compositeEtag, hashFile } from '../../src/hash.js';
import { formatS3Uri } from '../../src/utils.js';

/** A download target at `file`, opened as a download's temp file is. */
function sinkAt(file: string): DownloadSink {
  return { open: (readBack?: boolean) => open(file, readBack === true ? 'w+' : 'w') };
}

const ENDPOINT = 'http://127.0.0.1:1';
const NO_DELAY = { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 } as const;

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** An SDK service error as the deserializer builds it. */
function s3Error(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

/** A body that sends `prefix`, then fails as a reset connection does. */
function dyingBody(prefix: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(prefix);
        return;
      }
      this.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    },
  });
}

// ---------------------------------------------------------------------------
// A fake HTTP handler: the SDK's whole middleware stack runs, no socket is opened.
// ---------------------------------------------------------------------------

interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
}

interface FakeHttp {
  /** The handler to give `createS3Client({ requestHandler })`. */
  handler: {
    handle: (request: SeenRequest & { body?: unknown }) => Promise<{ response: unknown }>;
    updateHttpClientConfig: () => void;
    httpHandlerConfigs: () => Record<string, never>;
  };
  /** Every request the SDK sent, in order. */
  requests: SeenRequest[];
}

/** `reply` receives each request and its number (from 1). */
function fakeHttp(reply: (request: SeenRequest, n: number) => Reply): FakeHttp {
  const requests: SeenRequest[] = [];
  const handler: FakeHttp['handler'] = {
    handle: (request) => {
      const seen = { method: request.method, path: request.path, headers: { ...request.headers } };
      requests.push(seen);
      // A request body that is a stream must be drained or destroyed, as a socket would.
      if (request.body instanceof Readable) request.body.resume();
      const r = reply(seen, requests.length);
      const body =
        r.body instanceof Readable
          ? r.body
          : Readable.from(r.body === undefined ? [] : [Buffer.from(r.body)]);
      return Promise.resolve({
        response: { statusCode: r.status, headers: { ...r.headers }, body },
      });
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  return { handler, requests };
}

function xmlError(code: string, status: number, message = ''): Reply {
  return {
    status,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': 'req-1' },
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>req-1</RequestId></Error>`,
  };
}

function okObject(body: Buffer, etag = md5(body)): Reply {
  return {
    status: 200,
    headers: {
      'content-length': String(body.length),
      'content-type': 'application/octet-stream',
      etag: `"${etag}"`,
    },
    body,
  };
}

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-client-test-'));
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

describe('createS3Client', () => {
  it('configures a custom endpoint for S3-compatible servers', async () => {
    const client = createS3Client({ endpoint: ENDPOINT });
    expect(client.config.forcePathStyle).toBe(true);
    await expect(client.config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
    await expect(client.config.responseChecksumValidation()).resolves.toBe('WHEN_REQUIRED');
    await expect(client.config.region()).resolves.toBe(DEFAULT_ENDPOINT_REGION);
    await expect(client.config.region()).resolves.toBe('us-east-1');
    await expect(client.config.maxAttempts()).resolves.toBe(3);
    const endpoint = await client.config.endpoint?.();
    expect(endpoint).toMatchObject({ protocol: 'http:', hostname: '127.0.0.1', port: 1 });
  });

  it('forces WHEN_REQUIRED checksums for a custom endpoint even when the environment asks otherwise', async () => {
    vi.stubEnv('AWS_REQUEST_CHECKSUM_CALCULATION', 'WHEN_SUPPORTED');
    vi.stubEnv('AWS_RESPONSE_CHECKSUM_VALIDATION', 'WHEN_SUPPORTED');
    const client = createS3Client({ endpoint: ENDPOINT });
    await expect(client.config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
    await expect(client.config.responseChecksumValidation()).resolves.toBe('WHEN_REQUIRED');
  });

  it('keeps an explicit region for a custom endpoint', async () => {
    const client = createS3Client({ endpoint: ENDPOINT, region: 'eu-central-1' });
    await expect(client.config.region()).resolves.toBe('eu-central-1');
  });

  it('uses WHEN_REQUIRED checksums (Content-MD5 instead) but not path style without an endpoint', async () => {
    vi.stubEnv('AWS_REQUEST_CHECKSUM_CALCULATION', 'WHEN_SUPPORTED');
    vi.stubEnv('AWS_RESPONSE_CHECKSUM_VALIDATION', 'WHEN_SUPPORTED');
    const client = createS3Client({ region: 'eu-west-1' });
    expect(client.config.forcePathStyle).toBe(false);
    await expect(client.config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
    await expect(client.config.responseChecksumValidation()).resolves.toBe('WHEN_REQUIRED');
    await expect(client.config.region()).resolves.toBe('eu-west-1');
  });

  it('sets maxAttempts from the retry config', async () => {
    await expect(createS3Client().config.maxAttempts()).resolves.toBe(3);
    const client = createS3Client({ endpoint: ENDPOINT, retry: { maxAttempts: 7 } });
    await expect(client.config.maxAttempts()).resolves.toBe(7);
  });

  it('uses the static credentials it is given', async () => {
    const client = createS3Client({
      endpoint: ENDPOINT,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'MYSECRETKEY123' },
    });
    await expect(client.config.credentials()).resolves.toMatchObject({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'MYSECRETKEY123',
    });
  });

  it('passes a custom requestHandler through to the SDK', async () => {
    const http = fakeHttp(() => ({ status: 200, headers: { 'content-length': '3' } }));
    const client = createS3Client({
      endpoint: ENDPOINT,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      requestHandler: http.handler,
    });
    expect(client.config.requestHandler).toBe(http.handler);
    const head = await new S3lyncClient(client).head('bucket', 'key');
    expect(head?.size).toBe(3);
    expect(http.requests).toEqual([
      expect.objectContaining({ method: 'HEAD', path: '/bucket/key' }),
    ]);
  });
});

// ---------------------------------------------------------------------------
// Timeouts: the SDK's own Node handler, against a real HTTP server on 127.0.0.1.
// ---------------------------------------------------------------------------

/** A server on 127.0.0.1 that answers with `handle`, and the requests it saw. */
async function localServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ endpoint: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** The settings the SDK's default handler of `client` runs with (resolved by one request). */
async function handlerSettings(client: S3Client): Promise<Record<string, unknown>> {
  const server = await localServer((_req, res) => res.end());
  try {
    // The handler resolves its settings on its first request; where it goes does not matter.
    const probe = createS3Client({
      endpoint: server.endpoint,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      retry: { maxAttempts: 1 },
      requestHandler: client.config.requestHandler,
    });
    await probe.send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'key' }));
  } finally {
    await server.close();
  }
  const handler = client.config.requestHandler as { httpHandlerConfigs: () => unknown };
  return handler.httpHandlerConfigs() as Record<string, unknown>;
}

describe('timeouts of the clients s3lync builds', () => {
  const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };

  it('gives the default handler a 10 s connect timeout and a 60 s idle timeout', async () => {
    expect(DEFAULT_TIMEOUTS).toEqual({ connectMs: 10_000, idleMs: 60_000 });
    const client = createS3Client({ endpoint: ENDPOINT, credentials });
    expect(await handlerSettings(client)).toMatchObject({
      connectionTimeout: 10_000,
      socketTimeout: 60_000,
    });
    const aws = createS3Client({ region: 'eu-west-1', credentials });
    expect(await handlerSettings(aws)).toMatchObject({
      connectionTimeout: 10_000,
      socketTimeout: 60_000,
    });
  });

  it('takes the timeouts it is given, a field at a time', async () => {
    const client = createS3Client({ endpoint: ENDPOINT, credentials, timeouts: { idleMs: 2500 } });
    expect(await handlerSettings(client)).toMatchObject({
      connectionTimeout: 10_000,
      socketTimeout: 2500,
    });
    const both = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      timeouts: { connectMs: 0, idleMs: 1500 },
    });
    expect(await handlerSettings(both)).toMatchObject({
      connectionTimeout: 0,
      socketTimeout: 1500,
    });
  });

  it('adds the timeouts to handler options that set none, and lets options that set them win', async () => {
    const merged = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      timeouts: { idleMs: 2500 },
      requestHandler: { requestTimeout: 120_000, httpAgent: { maxSockets: 7 } },
    });
    const settings = await handlerSettings(merged);
    expect(settings).toMatchObject({
      connectionTimeout: 10_000,
      socketTimeout: 2500,
      requestTimeout: 120_000,
    });
    const agent = await (settings.httpAgentProvider as () => Promise<{ maxSockets: number }>)();
    expect(agent.maxSockets).toBe(7);
    const own = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      timeouts: { connectMs: 1, idleMs: 2 },
      requestHandler: { connectionTimeout: 3000, socketTimeout: 4000 },
    });
    expect(await handlerSettings(own)).toMatchObject({
      connectionTimeout: 3000,
      socketTimeout: 4000,
    });
    // A field set to undefined sets nothing.
    const unset = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      requestHandler: { socketTimeout: undefined, connectionTimeout: undefined },
    });
    expect(await handlerSettings(unset)).toMatchObject({
      connectionTimeout: 10_000,
      socketTimeout: 60_000,
    });
  });

  it('reach the client an S3Object builds, from its options or else the environment', async () => {
    vi.stubEnv('S3LYNC_CONNECT_TIMEOUT_MS', '1234');
    vi.stubEnv('S3LYNC_IDLE_TIMEOUT_MS', '5678');
    const uri = `s3://b:a@${ENDPOINT}/bucket/key`;
    const fromEnv = new S3Object(uri, { localPath: path.join(dir, 'x') });
    expect(await handlerSettings(fromEnv.client.sdk)).toMatchObject({
      connectionTimeout: 1234,
      socketTimeout: 5678,
    });
    const given = new S3Object(uri, { localPath: path.join(dir, 'y'), timeouts: { idleMs: 900 } });
    expect(await handlerSettings(given.client.sdk)).toMatchObject({
      connectionTimeout: 1234,
      socketTimeout: 900,
    });
  });

  it('uses a handler it is given as it is', () => {
    const http = fakeHttp(() => ({ status: 200 }));
    const client = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      timeouts: { connectMs: 1, idleMs: 2 },
      requestHandler: http.handler,
    });
    expect(client.config.requestHandler).toBe(http.handler);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '5', null])(
    'refuses a timeout of %j with a ConfigError naming the field',
    (value) => {
      for (const field of ['connectMs', 'idleMs']) {
        const timeouts = { [field]: value } as never;
        expect(() => createS3Client({ endpoint: ENDPOINT, timeouts })).toThrow(ConfigError);
        expect(() => resolveTimeouts(timeouts)).toThrow(`timeouts.${field}`);
      }
    },
  );

  it('takes each field from the option, else the environment, else the default', () => {
    const env = { connectTimeoutMs: 111, idleTimeoutMs: 222 };
    expect(timeoutsFor(undefined, env)).toEqual({ connectMs: 111, idleMs: 222 });
    expect(timeoutsFor({ idleMs: 5 }, env)).toEqual({ connectMs: 111, idleMs: 5 });
    expect(timeoutsFor({ connectMs: 0 }, env)).toEqual({ connectMs: 0, idleMs: 222 });
    expect(
      timeoutsFor({ idleMs: 5 }, { connectTimeoutMs: undefined, idleTimeoutMs: undefined }),
    ).toEqual({ connectMs: 10_000, idleMs: 5 });
  });

  it('times out each attempt on a server that never answers, retries, then fails with an S3TimeoutError', async () => {
    const server = await localServer(() => undefined);
    const retry = { ...NO_DELAY, maxAttempts: 2 };
    const sdk = createS3Client({
      endpoint: server.endpoint,
      credentials,
      retry,
      timeouts: { idleMs: 200 },
    });
    try {
      const err: unknown = await new S3lyncClient(sdk, { retry })
        .head('bucket', 'key')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3TimeoutError);
      expect(err).toBeInstanceOf(S3ObjectError);
      expect((err as S3TimeoutError).message).toBe(
        'HeadObject s3://bucket/key failed after 2 attempts (timed out): the connection was idle for 200 ms (the idle timeout, timeouts.idleMs)',
      );
      expect((err as S3TimeoutError).cause).toMatchObject({ name: 'TimeoutError' });
      expect(server.requests).toEqual(['HEAD /bucket/key', 'HEAD /bucket/key']);
    } finally {
      sdk.destroy();
      await server.close();
    }
  });

  it('times out a body that stalls mid-way, retries the GET, then fails with an S3TimeoutError', async () => {
    const server = await localServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100', etag: '"e"' });
      res.write(Buffer.alloc(10, 1));
    });
    const retry = { ...NO_DELAY, maxAttempts: 2 };
    const sdk = createS3Client({
      endpoint: server.endpoint,
      credentials,
      retry,
      timeouts: { idleMs: 200 },
    });
    const temp = path.join(dir, 'stalled.tmp');
    const progress: number[] = [];
    try {
      const err: unknown = await new S3lyncClient(sdk, { retry })
        .downloadToFile('bucket', 'key', sinkAt(temp), { onBytes: (n) => progress.push(n) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3TimeoutError);
      expect((err as Error).message).toMatch(
        /^GetObject s3:\/\/bucket\/key failed after 2 attempts \(timed out\): the connection was idle for 200 ms/,
      );
      expect(server.requests).toEqual([
        'GET /bucket/key?x-id=GetObject',
        'GET /bucket/key?x-id=GetObject',
      ]);
      expect(progress.reduce((a, b) => a + b, 0)).toBe(0);
    } finally {
      sdk.destroy();
      await server.close();
    }
  });

  it('does not time out a body that keeps moving, however slowly in all', async () => {
    const body = Buffer.from('twelve bytes');
    const server = await localServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length), etag: `"${md5(body)}"` });
      let i = 0;
      const timer = setInterval(() => {
        res.write(body.subarray(i, i + 1));
        if (++i === body.length) {
          clearInterval(timer);
          res.end();
        }
      }, 50);
      res.on('close', () => {
        clearInterval(timer);
      });
    });
    const retry = { ...NO_DELAY, maxAttempts: 1 };
    const sdk = createS3Client({
      endpoint: server.endpoint,
      credentials,
      retry,
      timeouts: { idleMs: 250 },
    });
    const temp = path.join(dir, 'slow.tmp');
    try {
      // Twelve bytes 50 ms apart: 600 ms in all, more than the idle timeout.
      const result = await new S3lyncClient(sdk, { retry }).downloadToFile(
        'bucket',
        'key',
        sinkAt(temp),
      );
      expect(result.digest.md5).toBe(md5(body));
      expect(await readFile(temp)).toEqual(body);
      expect(server.requests).toHaveLength(1);
    } finally {
      sdk.destroy();
      await server.close();
    }
  });

  it('reports a reset that the SDK names TimeoutError as a reset, not a timeout', async () => {
    const reset = Object.assign(new Error('socket hang up'), {
      name: 'TimeoutError',
      code: 'ECONNRESET',
    });
    const handler = {
      handle: () => Promise.reject(reset),
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
    };
    const sdk = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      retry: NO_DELAY,
      requestHandler: handler,
    });
    const err: unknown = await new S3lyncClient(sdk, { retry: NO_DELAY })
      .head('bucket', 'key')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ObjectError);
    expect(err).not.toBeInstanceOf(S3TimeoutError);
    expect((err as Error).message).toContain('after 3 attempts');
  });
});

describe('retries through the real SDK middleware (fake HTTP handler)', () => {
  function clientFor(http: FakeHttp, retry: typeof NO_DELAY | { maxAttempts: number } = NO_DELAY) {
    const r = { ...NO_DELAY, ...retry };
    const sdk = createS3Client({
      endpoint: ENDPOINT,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      retry: r,
      requestHandler: http.handler,
    });
    return new S3lyncClient(sdk, { retry: r });
  }

  it('sends a HEAD that always fails with 503 SlowDown exactly maxAttempts times, not maxAttempts²', async () => {
    const http = fakeHttp(() => xmlError('SlowDown', 503, 'Please reduce your request rate.'));
    const err: unknown = await clientFor(http)
      .head('bucket', 'key')
      .catch((e: unknown) => e);
    expect(http.requests).toHaveLength(3);
    expect(http.requests.every((r) => r.method === 'HEAD')).toBe(true);
    expect(err).toBeInstanceOf(S3ObjectError);
    expect(err).not.toBeInstanceOf(NotFoundError);
    const e = err as S3ObjectError;
    expect(e.statusCode).toBe(503);
    expect(e.operation).toBe('HeadObject');
    expect(e.message).toContain('s3://bucket/key');
    expect(e.message).toContain('after 3 attempts');
    expect(e.cause).toBeInstanceOf(S3ServiceException);
  });

  it('honours maxAttempts: 1 (no retry at all)', async () => {
    const http = fakeHttp(() => xmlError('SlowDown', 503));
    await expect(clientFor(http, { maxAttempts: 1 }).head('bucket', 'key')).rejects.toBeInstanceOf(
      S3ObjectError,
    );
    expect(http.requests).toHaveLength(1);
  });

  it('recovers when a retry succeeds', async () => {
    const http = fakeHttp((_r, n) =>
      n < 3 ? xmlError('SlowDown', 503) : { status: 200, headers: { 'content-length': '5' } },
    );
    await expect(clientFor(http).head('bucket', 'key')).resolves.toMatchObject({ size: 5 });
    expect(http.requests).toHaveLength(3);
  });

  it('sends a GET that always fails with 503 exactly maxAttempts times (SDK and s3lync share the budget)', async () => {
    const http = fakeHttp(() => xmlError('SlowDown', 503));
    const temp = path.join(dir, 'out.tmp');
    const err: unknown = await clientFor(http)
      .downloadToFile('bucket', 'key', sinkAt(temp))
      .catch((e: unknown) => e);
    expect(http.requests).toHaveLength(3);
    expect(err).toBeInstanceOf(S3ObjectError);
    expect((err as S3ObjectError).code).toBe('SlowDown');
    expect((err as S3ObjectError).message).toContain('after 3 attempts');
  });

  it('sends a streamed PUT that always fails with 503 exactly maxAttempts times', async () => {
    const file = path.join(dir, 'up.bin');
    await writeFile(file, 'hello');
    const digest = await hashFile(file);
    const http = fakeHttp(() => xmlError('SlowDown', 503));
    await expect(clientFor(http).putFile('bucket', 'key', file, digest)).rejects.toBeInstanceOf(
      S3ObjectError,
    );
    expect(http.requests).toHaveLength(3);
    expect(http.requests.every((r) => r.method === 'PUT')).toBe(true);
  });

  it('retries a GET whose body is cut mid-way (ECONNRESET), within maxAttempts', async () => {
    const body = Buffer.from('0123456789abcdef');
    const http = fakeHttp((_r, n) =>
      n < 3 ? { ...okObject(body), body: dyingBody(body.subarray(0, 4)) } : okObject(body),
    );
    const temp = path.join(dir, 'out.tmp');
    const result = await clientFor(http).downloadToFile('bucket', 'key', sinkAt(temp));
    expect(http.requests).toHaveLength(3);
    expect(result.digest).toEqual({ size: body.length, md5: md5(body) });
    expect(await readFile(temp)).toEqual(body);
  });

  it('gives up on a body cut every time after maxAttempts GETs, keeping the connection error as cause', async () => {
    const body = Buffer.from('0123456789abcdef');
    const http = fakeHttp(() => ({ ...okObject(body), body: dyingBody(body.subarray(0, 4)) }));
    const err: unknown = await clientFor(http)
      .downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp')))
      .catch((e: unknown) => e);
    expect(http.requests).toHaveLength(3);
    expect(err).toBeInstanceOf(S3ObjectError);
    expect((err as S3ObjectError).cause).toMatchObject({ code: 'ECONNRESET' });
  });

  it('counts SDK retries against the budget of the outer retry (503, then cut bodies)', async () => {
    const body = Buffer.from('0123456789abcdef');
    const http = fakeHttp((_r, n) =>
      n === 1
        ? xmlError('SlowDown', 503)
        : { ...okObject(body), body: dyingBody(body.subarray(0, 4)) },
    );
    await expect(
      clientFor(http).downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp'))),
    ).rejects.toBeInstanceOf(S3ObjectError);
    // 1 (503) + 1 (cut, SDK attempt 2) = 2 used; the outer retry has exactly one left.
    expect(http.requests).toHaveLength(3);
  });

  it('retries a GET whose bytes do not match its ETag, then raises HashMismatchError', async () => {
    const body = Buffer.from('the real bytes');
    const http = fakeHttp(() => okObject(body, md5('other bytes')));
    const err: unknown = await clientFor(http)
      .downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp')), {
        verify: (r) => {
          if (r.etag !== `"${r.digest.md5}"`) {
            throw new HashMismatchError('mismatch', {
              expected: r.etag ?? '',
              actual: r.digest.md5 ?? '',
            });
          }
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HashMismatchError);
    expect(http.requests).toHaveLength(3);
  });

  it('sends a non-retryable 403 AccessDenied once and surfaces AccessDeniedError with the SDK error as cause', async () => {
    const http = fakeHttp(() => xmlError('AccessDenied', 403, 'Access Denied'));
    const err: unknown = await clientFor(http)
      .downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp')))
      .catch((e: unknown) => e);
    expect(http.requests).toHaveLength(1);
    expect(err).toBeInstanceOf(AccessDeniedError);
    const e = err as AccessDeniedError;
    expect(e.cause).toBeInstanceOf(S3ServiceException);
    expect((e.cause as S3ServiceException).name).toBe('AccessDenied');
    expect(e.code).toBe('AccessDenied');
    expect(e.statusCode).toBe(403);
    expect(e.operation).toBe('GetObject');
    expect(e.message).not.toContain('after');
  });

  it('maps a 404 HEAD (no body, as servers send it) to undefined, in one request', async () => {
    const http = fakeHttp(() => ({ status: 404 }));
    await expect(clientFor(http).head('bucket', 'key')).resolves.toBeUndefined();
    expect(http.requests).toHaveLength(1);
  });

  it('maps bodiless HEAD errors as servers send them: 403 → AccessDeniedError, 412 → PreconditionFailedError', async () => {
    const forbidden = fakeHttp(() => ({ status: 403 }));
    await expect(clientFor(forbidden).head('bucket', 'key')).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    // The HEAD once (403 is not retried), then one GET of a byte to learn why.
    expect(forbidden.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    expect(forbidden.requests[1]?.headers.range).toBe('bytes=0-0');
    const precondition = fakeHttp(() => ({ status: 412 }));
    await expect(clientFor(precondition).head('bucket', 'key')).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(precondition.requests).toHaveLength(1);
  });

  it('never shows the secret key in errors built from a real SDK failure', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'MYSECRETKEY123' };
    const http = fakeHttp(() =>
      xmlError('SignatureDoesNotMatch', 403, 'The signature does not match'),
    );
    const sdk = createS3Client({
      endpoint: ENDPOINT,
      credentials,
      retry: NO_DELAY,
      requestHandler: http.handler,
    });
    const client = new S3lyncClient(sdk, {
      retry: NO_DELAY,
      describe: (bucket, key) => formatS3Uri({ bucket, key, endpoint: ENDPOINT, credentials }),
    });
    const err: unknown = await client
      .downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp')))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    const e = err as AccessDeniedError;
    expect(e.message).toContain(`s3://***:AKIDEXAMPLE@${ENDPOINT}/bucket/key`);
    // The request was signed (so the secret was used), yet nothing shows it.
    expect(http.requests[0]?.headers.authorization).toContain('AKIDEXAMPLE');
    for (const text of [e.message, String(e), e.stack ?? '', inspect(e, { depth: 10 })]) {
      expect(text).not.toContain('MYSECRETKEY123');
    }
  });
});

describe('putFile() through the real SDK middleware', () => {
  // Files of 2 MiB or more get `Expect: 100-continue`: the SDK's Node handler pipes the body
  // only after the server's "100 Continue", one network round trip later. A body already
  // flowing by then has dropped its first chunks, and the request never completes.
  it('sends every byte of a body that waits for 100-continue', async () => {
    const file = path.join(dir, 'big.bin');
    const content = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < content.length; i += 997) content[i] = i % 256;
    await writeFile(file, content);
    const digest = await hashFile(file);
    const received: Buffer[] = [];
    let flowingBeforeSend: boolean | null | undefined;
    const handler = {
      handle: async (request: SeenRequest & { body?: unknown }) => {
        expect(request.headers.Expect ?? request.headers.expect).toBe('100-continue');
        const body = request.body as Readable;
        flowingBeforeSend = body.readableFlowing;
        // The round trip to the server and back (simulated latency, not an assertion).
        await new Promise((resolve) => setTimeout(resolve, 50));
        const chunks: Buffer[] = [];
        if (!body.readableEnded && !body.destroyed) {
          for await (const chunk of body) chunks.push(chunk as Buffer);
        }
        const bytes = Buffer.concat(chunks);
        received.push(bytes);
        return {
          response: {
            statusCode: 200,
            headers: { etag: `"${md5(bytes)}"` },
            body: Readable.from([]),
          },
        };
      },
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
    };
    const sdk = createS3Client({
      endpoint: ENDPOINT,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      retry: NO_DELAY,
      requestHandler: handler,
    });
    const progress: number[] = [];
    const { etag } = await new S3lyncClient(sdk, { retry: NO_DELAY }).putFile(
      'bucket',
      'key',
      file,
      digest,
      { onBytes: (n) => progress.push(n) },
    );
    expect(received).toHaveLength(1);
    expect(received[0]?.length).toBe(content.length);
    expect(etag).toBe(`"${digest.md5}"`);
    expect(progress.reduce((a, b) => a + b, 0)).toBe(content.length);
    // The deterministic form of the same requirement: nothing reads the body before the
    // transport does.
    expect(flowingBeforeSend).toBeNull();
  });

  it('sends every byte through a real HTTP server that answers 100 Continue after a delay', async () => {
    const file = path.join(dir, 'big.bin');
    const content = Buffer.alloc(3 * 1024 * 1024, 7);
    await writeFile(file, content);
    const digest = await hashFile(file);
    const received: number[] = [];
    const server = createServer((req, res) => {
      const hash = createHash('md5');
      let n = 0;
      req.on('data', (chunk: Buffer) => {
        n += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        received.push(n);
        res.writeHead(200, { ETag: `"${hash.digest('hex')}"` });
        res.end();
      });
    });
    server.on('checkContinue', (req, res) => {
      // A network round trip's worth of delay before "100 Continue" (not an assertion).
      setTimeout(() => {
        res.writeContinue();
        server.emit('request', req, res);
      }, 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const sdk = createS3Client({
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      retry: { ...NO_DELAY, maxAttempts: 1 },
    });
    try {
      const { etag } = await new S3lyncClient(sdk, { retry: NO_DELAY }).putFile(
        'bucket',
        'key',
        file,
        digest,
      );
      expect(received).toEqual([content.length]);
      expect(etag).toBe(`"${digest.md5}"`);
    } finally {
      sdk.destroy();
      server.closeAllConnections();
      server.close();
    }
  }, 10_000);

  it('sends the whole body to AWS through a given client with WHEN_SUPPORTED checksums (aws-chunked, CRC32 trailer)', async () => {
    vi.stubEnv('AWS_REQUEST_CHECKSUM_CALCULATION', 'WHEN_SUPPORTED');
    const file = path.join(dir, 'small.bin');
    await writeFile(file, 'hello world');
    const digest = await hashFile(file);
    const seen: { host: string; headers: Record<string, string>; body: string }[] = [];
    const handler = {
      handle: async (request: SeenRequest & { hostname: string; body?: unknown }) => {
        const chunks: Buffer[] = [];
        for await (const chunk of request.body as Readable)
          chunks.push(Buffer.from(chunk as Buffer));
        seen.push({
          host: request.hostname,
          headers: request.headers,
          body: Buffer.concat(chunks).toString(),
        });
        return {
          response: {
            statusCode: 200,
            headers: { etag: `"${digest.md5}"` },
            body: Readable.from([]),
          },
        };
      },
    };
    const sdk = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
      requestHandler: handler,
    });
    const { etag } = await new S3lyncClient(sdk, { retry: NO_DELAY }).putFile(
      'bucket',
      'key',
      file,
      digest,
    );
    expect(etag).toBe(`"${digest.md5}"`);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.host).toBe('bucket.s3.us-east-1.amazonaws.com');
    expect(seen[0]?.headers).toMatchObject({
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '11',
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'content-md5': createHash('md5').update('hello world').digest('base64'),
    });
    expect(seen[0]?.body).toContain('hello world');
    expect(seen[0]?.body).toContain('x-amz-checksum-crc32:');
  });

  it('fails (does not hang) when the local file cannot be read', async () => {
    const http = fakeHttp(() => ({ status: 200, headers: { etag: '"x"' } }));
    // The fake handler drains bodies: give it one that reports a read error.
    const consuming = {
      ...http.handler,
      handle: async (request: SeenRequest & { body?: unknown }) => {
        const chunks: unknown[] = [];
        for await (const chunk of request.body as Readable) chunks.push(chunk);
        return http.handler.handle(request);
      },
    };
    const sdk = createS3Client({
      endpoint: ENDPOINT,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      retry: NO_DELAY,
      requestHandler: consuming,
    });
    const missing = path.join(dir, 'gone.bin');
    const err: unknown = await new S3lyncClient(sdk, { retry: NO_DELAY })
      .putFile('bucket', 'key', missing, { size: 5, md5: md5('hello') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalPathError);
    expect((err as LocalPathError).path).toBe(missing);
    expect((err as LocalPathError).cause).toMatchObject({ code: 'ENOENT' });
  });
});

/**
 * An SDK client answered by aws-sdk-client-mock (reset before each test) and the s3lync
 * client on it, retrying without delay.
 */
function useMockedS3(): { s3: AwsClientStub<S3Client>; client: S3lyncClient } {
  const sdk = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const s3 = mockClient(sdk);
  beforeEach(() => {
    s3.reset();
  });
  return { s3, client: new S3lyncClient(sdk, { retry: NO_DELAY }) };
}

describe('S3lyncClient error mapping (aws-sdk-client-mock)', () => {
  const { s3, client } = useMockedS3();

  it('head() returns what HEAD says', async () => {
    s3.on(HeadObjectCommand, { Bucket: 'bucket', Key: 'key' }).resolves({
      ContentLength: 5,
      ETag: `"${md5('hello')}"`,
      Metadata: { 's3lync-md5': md5('hello'), other: 'x' },
      LastModified: new Date(0),
    });
    await expect(client.head('bucket', 'key')).resolves.toEqual({
      size: 5,
      etag: `"${md5('hello')}"`,
      fingerprintMd5: md5('hello'),
      opaqueEtag: false,
      lastModified: new Date(0),
      metadata: { 's3lync-md5': md5('hello'), other: 'x' },
    });
  });

  it('head() marks SSE-KMS and SSE-C ETags as opaque', async () => {
    s3.on(HeadObjectCommand)
      .resolvesOnce({ ContentLength: 1, ETag: '"x"', ServerSideEncryption: 'aws:kms' })
      .resolvesOnce({ ContentLength: 1, ETag: '"x"', SSECustomerAlgorithm: 'AES256' })
      .resolvesOnce({ ContentLength: 1, ETag: '"x"', ServerSideEncryption: 'AES256' });
    expect((await client.head('bucket', 'key'))?.opaqueEtag).toBe(true);
    expect((await client.head('bucket', 'key'))?.opaqueEtag).toBe(true);
    expect((await client.head('bucket', 'key'))?.opaqueEtag).toBe(false);
  });

  it('head() returns undefined on 404', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('NotFound', 404));
    await expect(client.head('bucket', 'key')).resolves.toBeUndefined();
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(1);
  });

  it('head() raises NotFoundError naming the bucket on NoSuchBucket', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('NoSuchBucket', 404));
    const err: unknown = await client.head('nobucket', 'key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).message).toContain('the bucket nobucket does not exist');
    expect((err as NotFoundError).message).toContain('s3://nobucket/key');
    expect((err as NotFoundError).code).toBe('NoSuchBucket');
  });

  it('head() raises AccessDeniedError on 403 with the SDK error as cause, sent once', async () => {
    const sdkError = s3Error('AccessDenied', 403, 'Access Denied');
    s3.on(HeadObjectCommand).rejects(sdkError);
    const err: unknown = await client.head('bucket', 'key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as AccessDeniedError).cause).toBe(sdkError);
    expect((err as AccessDeniedError).message).toContain('s3://bucket/key');
    expect((err as AccessDeniedError).message).toContain('check the credentials');
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(1);
  });

  it('maps a bare 403 without a code (HEAD on radosgw) to AccessDeniedError', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('Unknown', 403, 'UnknownError'));
    const err: unknown = await client.head('bucket', 'key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    // radosgw's empty messages become "UnknownError": not worth repeating.
    expect((err as Error).message).not.toContain('UnknownError');
  });

  it('explains a bodiless HEAD 403 with the code of a one-byte GET (wrong key, wrong secret)', async () => {
    for (const code of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied']) {
      s3.reset();
      s3.on(HeadObjectCommand).rejects(s3Error('Unknown', 403, 'UnknownError'));
      s3.on(GetObjectCommand).rejects(s3Error(code, 403, 'denied'));
      const err: unknown = await client.head('bucket', 'key').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect((err as AccessDeniedError).code).toBe(code);
      expect((err as AccessDeniedError).operation).toBe('HeadObject');
      expect((err as Error).message).toContain(code);
      expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input.Range).toBe('bytes=0-0');
    }
    expect((await clientError('InvalidAccessKeyId')).message).toMatch(
      /does not know this access key/,
    );
    expect((await clientError('SignatureDoesNotMatch')).message).toMatch(
      /secret key does not match/,
    );
  });

  async function clientError(code: string): Promise<Error> {
    s3.reset();
    s3.on(HeadObjectCommand).rejects(s3Error('Unknown', 403, 'UnknownError'));
    s3.on(GetObjectCommand).rejects(s3Error(code, 403, 'denied'));
    return (await client.head('bucket', 'key').catch((e: unknown) => e)) as Error;
  }

  it('keeps the HEAD error when the one-byte GET says nothing more', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('Unknown', 403, 'UnknownError'));
    s3.on(GetObjectCommand).rejects(s3Error('InternalError', 500, 'oops'));
    const err: unknown = await client.head('bucket', 'key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as Error).message).toContain('check the credentials and the bucket policy');
  });

  it('maps 412 to PreconditionFailedError', async () => {
    s3.on(HeadObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    await expect(client.head('bucket', 'key')).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('putFile() with ifNoneMatch sends IfNoneMatch * and maps 412 to PreconditionFailedError without retrying', async () => {
    const file = path.join(dir, 'f.txt');
    await writeFile(file, 'hello');
    const digest = await hashFile(file);
    s3.on(PutObjectCommand).rejects(
      s3Error('PreconditionFailed', 412, 'At least one precondition failed'),
    );
    const err: unknown = await client
      .putFile('bucket', 'key', file, digest, { ifNoneMatch: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    const calls = s3.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.IfNoneMatch).toBe('*');
  });

  it('prefixExists() asks for one key and reads KeyCount', async () => {
    s3.on(ListObjectsV2Command).resolvesOnce({ KeyCount: 0 }).resolvesOnce({ KeyCount: 1 });
    await expect(client.prefixExists('bucket', 'dir/')).resolves.toBe(false);
    await expect(client.prefixExists('bucket', 'dir/')).resolves.toBe(true);
    expect(s3.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toEqual({
      Bucket: 'bucket',
      Prefix: 'dir/',
      MaxKeys: 1,
    });
  });

  it('downloadToFile() retries a body cut mid-way and sends at most maxAttempts GETs', async () => {
    const body = Buffer.from('some object content');
    const out = (b: Readable) => ({
      Body: sdkStreamMixin(b),
      ContentLength: body.length,
      ETag: `"${md5(body)}"`,
    });
    s3.on(GetObjectCommand)
      .callsFakeOnce(() => out(dyingBody(body.subarray(0, 5))))
      .callsFakeOnce(() => out(Readable.from([body])));
    const temp = path.join(dir, 'out.tmp');
    const progress: number[] = [];
    const result = await client.downloadToFile('bucket', 'key', sinkAt(temp), {
      onBytes: (n) => progress.push(n),
    });
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(2);
    expect(result.digest.md5).toBe(md5(body));
    expect(await readFile(temp)).toEqual(body);
    // The cut attempt's bytes are taken back, so progress adds up to the object once.
    expect(progress.reduce((a, b) => a + b, 0)).toBe(body.length);
  });

  it('downloadToFile() treats a short body as a cut connection and retries it', async () => {
    const body = Buffer.from('some object content');
    s3.on(GetObjectCommand).callsFake(() => ({
      Body: sdkStreamMixin(Readable.from([body.subarray(0, 4)])),
      ContentLength: body.length,
      ETag: `"${md5(body)}"`,
    }));
    const err: unknown = await client
      .downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp')))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ObjectError);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(3);
  });

  it('downloadToFile() with an aborted signal rejects with its reason', async () => {
    const reason = new Error('stop');
    await expect(
      client.downloadToFile('bucket', 'key', sinkAt(path.join(dir, 'out.tmp')), {
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
    expect(s3.calls()).toHaveLength(0);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('listPages() and listObjects() (aws-sdk-client-mock)', () => {
  const { s3, client } = useMockedS3();

  /** A page of these keys (1 byte each), continued by `next` if given. */
  function page(keys: string[], next?: string) {
    return {
      Contents: keys.map((Key) => ({ Key, Size: 1, ETag: '"e"' })),
      IsTruncated: next !== undefined,
      ...(next !== undefined && { NextContinuationToken: next }),
    };
  }

  /** Every page's keys until the listing ends or throws, and what it threw. */
  async function drain(prefix = 'dir/'): Promise<{ keys: string[][]; error: unknown }> {
    const keys: string[][] = [];
    try {
      for await (const objects of client.listObjects('bucket', prefix)) {
        keys.push(objects.map((o) => o.key));
      }
    } catch (error) {
      return { keys, error };
    }
    return { keys, error: undefined };
  }

  const tokensSent = (): (string | undefined)[] =>
    s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.ContinuationToken);

  it('follows continuation tokens to the end, passing keys out of order within a page as they are', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/a', 'dir/b'], 't1'))
      .resolvesOnce(page(['dir/d', 'dir/c'], 't2'))
      .resolvesOnce(page([], 't3'))
      .resolvesOnce(page(['dir/e']));
    const { keys, error } = await drain();
    expect(error).toBeUndefined();
    expect(keys).toEqual([['dir/a', 'dir/b'], ['dir/d', 'dir/c'], [], ['dir/e']]);
    expect(tokensSent()).toEqual([undefined, 't1', 't2', 't3']);
  });

  it('compares pages in UTF-8 byte order, not UTF-16 code unit order', async () => {
    // U+FF61 sorts before U+1F600 in UTF-8, after its surrogate pair in UTF-16.
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/\uff61'], 't1'))
      .resolvesOnce(page(['dir/\u{1f600}']));
    const { keys, error } = await drain();
    expect(error).toBeUndefined();
    expect(keys).toEqual([['dir/\uff61'], ['dir/\u{1f600}']]);
  });

  it('throws a ListingError when the server repeats a continuation token, without yielding that page', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/a'], 'same'))
      .resolvesOnce(page(['dir/b'], 'same'))
      .resolves(page(['dir/c'], 'never asked for'));
    const { keys, error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect(error).toBeInstanceOf(S3ObjectError);
    expect((error as ListingError).operation).toBe('ListObjectsV2');
    expect((error as ListingError).uri).toBe('s3://bucket/dir/');
    expect((error as ListingError).message).toBe(
      'ListObjectsV2 s3://bucket/dir/: the server repeated the continuation token "same" on page 2: the listing does not advance',
    );
    expect(keys).toEqual([['dir/a']]);
    expect(tokensSent()).toEqual([undefined, 'same']);
  });

  it('throws a ListingError when a token comes back after other tokens', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/a'], 't1'))
      .resolvesOnce(page(['dir/b'], 't2'))
      .resolvesOnce(page(['dir/c'], 't1'))
      .resolves(page(['dir/z']));
    const { keys, error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect((error as Error).message).toContain('repeated the continuation token "t1" on page 3');
    expect(keys).toEqual([['dir/a'], ['dir/b']]);
    expect(tokensSent()).toEqual([undefined, 't1', 't2']);
  });

  it('throws a ListingError when a page goes back to the keys of the page before (new tokens each time)', async () => {
    let n = 0;
    s3.on(ListObjectsV2Command).callsFake(() => page(['dir/a', 'dir/b'], `t${++n}`));
    const { keys, error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect((error as Error).message).toBe(
      'ListObjectsV2 s3://bucket/dir/: page 2 goes back to "dir/a", at or before "dir/b" of page 1: the listing does not advance',
    );
    expect(keys).toEqual([['dir/a', 'dir/b']]);
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(2);
  });

  it('throws a ListingError when a page starts at the last key of the page before', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/a', 'dir/b'], 't1'))
      .resolvesOnce(page([], 't2'))
      .resolvesOnce(page(['dir/b', 'dir/c'], 't3'))
      .resolves(page(['dir/z']));
    const { keys, error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect((error as Error).message).toContain(
      'page 3 goes back to "dir/b", at or before "dir/b" of page 1',
    );
    expect(keys).toEqual([['dir/a', 'dir/b'], []]);
  });

  it('passes pages out of order across pages, as long as each starts after the last key of the page before', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/ok', 'dir/a'], 't1'))
      .resolvesOnce(page(['dir/b', 'dir/ok2']));
    const { keys, error } = await drain();
    expect(error).toBeUndefined();
    expect(keys).toEqual([
      ['dir/ok', 'dir/a'],
      ['dir/b', 'dir/ok2'],
    ]);
  });

  it('throws a ListingError when a page lists only keys of the page before again, in another order', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce(page(['dir/c', 'dir/a', 'dir/b'], 't1'))
      .resolvesOnce(page(['dir/c', 'dir/b', 'dir/a'], 't2'))
      .resolves(page(['dir/z']));
    const { keys, error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect((error as Error).message).toBe(
      'ListObjectsV2 s3://bucket/dir/: page 2 lists only keys of page 1 again: the listing does not advance',
    );
    expect(keys).toEqual([['dir/c', 'dir/a', 'dir/b']]);
  });

  it('throws a ListingError for a truncated page without a continuation token', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'dir/a' }], IsTruncated: true });
    const { keys, error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect((error as Error).message).toBe(
      'ListObjectsV2 s3://bucket/dir/: the server said page 1 is truncated but gave no continuation token: the listing does not advance',
    );
    expect(keys).toEqual([]);
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(1);
  });

  it('cuts a long token in the message', async () => {
    const token = 'x'.repeat(10_000);
    s3.on(ListObjectsV2Command).resolves(page(['dir/a'], token));
    const { error } = await drain();
    expect(error).toBeInstanceOf(ListingError);
    expect((error as Error).message.length).toBeLessThan(400);
  });
});

describe('uploadMultipart() (aws-sdk-client-mock)', () => {
  const { s3, client } = useMockedS3();
  const partSize = 1000;

  /** Deterministic bytes, different in every part. */
  function content(size: number): Buffer {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 8)) % 251;
    return b;
  }

  async function fileOf(data: Buffer): Promise<string> {
    const file = path.join(dir, 'parts.bin');
    await writeFile(file, data);
    return file;
  }

  /**
   * Mocks a server that accepts every part (after `delayMs(part)`), checking Content-MD5
   * as S3 does, and keeps a copy of each part (s3lync reuses the buffers it sends).
   */
  function server(delayMs: (part: number) => number = () => 0) {
    const state = { inFlight: 0, maxInFlight: 0, parts: new Map<number, Buffer>() };
    const arrayBuffers = new Set<ArrayBufferLike>();
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    s3.on(UploadPartCommand).callsFake(async (input: UploadPartCommandInput) => {
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      try {
        const body = input.Body as Buffer;
        arrayBuffers.add(body.buffer);
        const copy = Buffer.from(body);
        expect(input.ContentMD5).toBe(createHash('md5').update(copy).digest('base64'));
        expect(input.ContentLength).toBe(copy.length);
        await new Promise((resolve) => setTimeout(resolve, delayMs(input.PartNumber ?? 0)));
        state.parts.set(input.PartNumber ?? 0, copy);
        return { ETag: `"${md5(copy)}"` };
      } finally {
        state.inFlight--;
      }
    });
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '' });
    s3.on(AbortMultipartUploadCommand).resolves({});
    return { state, arrayBuffers };
  }

  it('sends every part once from one read, in queueSize + 1 reused buffers, at most queueSize in flight', async () => {
    const data = content(5 * partSize + 500);
    const file = await fileOf(data);
    const { state, arrayBuffers } = server((n) => (n % 2) * 5);
    const progress: number[] = [];
    const result = await client.uploadMultipart('bucket', 'key', file, {
      size: data.length,
      partSize,
      queueSize: 2,
      onBytes: (n) => progress.push(n),
    });
    const partMd5s = [0, 1, 2, 3, 4, 5].map((i) =>
      md5(data.subarray(i * partSize, (i + 1) * partSize)),
    );
    const composite = compositeEtag(partMd5s);
    // One MD5 pass: the parts' MD5s; the whole file's would be a second one.
    expect(result.digest).toEqual({
      size: data.length,
      md5: undefined,
      multipartEtag: composite,
      composites: { [partSize]: composite },
    });
    expect(Buffer.concat([1, 2, 3, 4, 5, 6].map((n) => state.parts.get(n)!))).toEqual(data);
    expect(state.parts.get(6)).toHaveLength(500);
    expect(state.maxInFlight).toBe(2);
    expect(arrayBuffers.size).toBeLessThanOrEqual(3);
    expect(progress.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toEqual({
      Bucket: 'bucket',
      Key: 'key',
      Metadata: { 's3lync-part-size': String(partSize) },
    });
    const complete = s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input;
    expect(complete?.UploadId).toBe('u-1');
    expect(complete?.MultipartUpload?.Parts).toEqual(
      partMd5s.map((m, i) => ({ PartNumber: i + 1, ETag: `"${m}"` })),
    );
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
  });

  it('records a known MD5 as the fingerprint, and sends preconditions with CompleteMultipartUpload', async () => {
    const data = content(2 * partSize + 1);
    const file = await fileOf(data);
    server();
    const result = await client.uploadMultipart('bucket', 'key', file, {
      size: data.length,
      partSize,
      queueSize: 4,
      md5: md5(data),
      params: { Metadata: { owner: 'me' } },
      ifMatch: '"abc"',
    });
    // A known MD5 is checked against the bytes read, so it is computed.
    expect(result.digest.md5).toBe(md5(data));
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input.Metadata).toEqual({
      owner: 'me',
      's3lync-md5': md5(data),
      's3lync-part-size': String(partSize),
    });
    const complete = s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input;
    expect(complete?.IfMatch).toBe('"abc"');
    expect(complete?.IfNoneMatch).toBeUndefined();
    s3.resetHistory();
    await client.uploadMultipart('bucket', 'key', file, {
      size: data.length,
      partSize,
      queueSize: 4,
      ifNoneMatch: true,
    });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.IfNoneMatch).toBe('*');
  });

  it('aborts instead of completing when the bytes read do not have the known MD5 (the file changed)', async () => {
    const data = content(2 * partSize + 1);
    const file = await fileOf(data);
    server();
    const err: unknown = await client
      .uploadMultipart('bucket', 'key', file, {
        size: data.length,
        partSize,
        queueSize: 4,
        md5: md5('what the file held when it was hashed'),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HashMismatchError);
    expect((err as HashMismatchError).actual).toBe(md5(data));
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
  });

  it('aborts when the file is shorter than planned', async () => {
    const data = content(2 * partSize);
    const file = await fileOf(data);
    server();
    const err: unknown = await client
      .uploadMultipart('bucket', 'key', file, { size: data.length + 10, partSize, queueSize: 4 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalPathError);
    expect((err as Error).message).toMatch(/changed while it was being uploaded/);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
  });

  it('on a failed part, stops reading, lets the parts in flight settle, then aborts the upload', async () => {
    const data = content(10 * partSize);
    const file = await fileOf(data);
    const { state } = server(() => 20);
    s3.on(UploadPartCommand, { PartNumber: 2 }).rejects(s3Error('AccessDenied', 403));
    let inFlightAtAbort: number | undefined;
    s3.on(AbortMultipartUploadCommand).callsFake(() => {
      inFlightAtAbort = state.inFlight;
      return {};
    });
    const progress: number[] = [];
    const err: unknown = await client
      .uploadMultipart('bucket', 'key', file, {
        size: data.length,
        partSize,
        queueSize: 3,
        onBytes: (n) => progress.push(n),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as AccessDeniedError).operation).toBe('MultipartUpload');
    expect(inFlightAtAbort).toBe(0);
    expect(s3.commandCalls(UploadPartCommand).length).toBeLessThan(10);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input).toEqual({
      Bucket: 'bucket',
      Key: 'key',
      UploadId: 'u-1',
    });
    // Progress is taken back: the upload did not happen.
    expect(progress.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('an abort signal rejects with its reason, after the parts in flight settled and the upload was aborted', async () => {
    const data = content(10 * partSize);
    const file = await fileOf(data);
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const { state } = server(() => 20);
    let inFlightAtAbort: number | undefined;
    s3.on(AbortMultipartUploadCommand).callsFake(() => {
      inFlightAtAbort = state.inFlight;
      return {};
    });
    setTimeout(() => {
      controller.abort(reason);
    }, 5);
    await expect(
      client.uploadMultipart('bucket', 'key', file, {
        size: data.length,
        partSize,
        queueSize: 2,
        signal: controller.signal,
      }),
    ).rejects.toBe(reason);
    expect(inFlightAtAbort).toBe(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it('aborts the upload when CompleteMultipartUpload is refused (412)', async () => {
    const data = content(2 * partSize + 1);
    const file = await fileOf(data);
    server();
    s3.on(CompleteMultipartUploadCommand).rejects(s3Error('PreconditionFailed', 412));
    await expect(
      client.uploadMultipart('bucket', 'key', file, {
        size: data.length,
        partSize,
        queueSize: 4,
        ifNoneMatch: true,
      }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
  });

  it('with checksumAlgorithm, sends each part checksum with the part and with CompleteMultipartUpload', async () => {
    const data = content(2 * partSize + 1);
    const file = await fileOf(data);
    server();
    await client.uploadMultipart('bucket', 'key', file, {
      size: data.length,
      partSize,
      queueSize: 4,
      checksumAlgorithm: 'SHA256',
    });
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('base64');
    const expected = [0, 1, 2].map((i) => sha(data.subarray(i * partSize, (i + 1) * partSize)));
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input.ChecksumAlgorithm).toBe(
      'SHA256',
    );
    const parts = s3
      .commandCalls(UploadPartCommand)
      .map((c) => c.args[0].input)
      .sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    expect(parts.map((p) => p.ChecksumSHA256)).toEqual(expected);
    const complete = s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input;
    expect(complete?.MultipartUpload?.Parts?.map((p) => p.ChecksumSHA256)).toEqual(expected);
  });

  it('fails before creating an upload when the file cannot be opened', async () => {
    server();
    await expect(
      client.uploadMultipart('bucket', 'key', path.join(dir, 'missing.bin'), {
        size: 5000,
        partSize,
        queueSize: 2,
      }),
    ).rejects.toThrow(LocalPathError);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });
});

describe('uploadMultipart() through the real SDK middleware', () => {
  it('sends each part with Content-MD5 and an unsigned payload (no SHA-256 of the body)', async () => {
    const data = Buffer.alloc(2500, 7);
    const file = path.join(dir, 'parts.bin');
    await writeFile(file, data);
    const http = fakeHttp((request, n): Reply => {
      if (request.method === 'PUT') return { status: 200, headers: { etag: `"${md5('p')}"` } };
      return {
        status: 200,
        headers: { 'content-type': 'application/xml' },
        body:
          n === 1
            ? '<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>key</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>'
            : '<CompleteMultipartUploadResult><Bucket>bucket</Bucket><Key>key</Key><ETag>"x-3"</ETag></CompleteMultipartUploadResult>',
      };
    });
    const sdk = createS3Client({
      endpoint: ENDPOINT,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      retry: NO_DELAY,
      requestHandler: http.handler,
    });
    const result = await new S3lyncClient(sdk, { retry: NO_DELAY }).uploadMultipart(
      'bucket',
      'key',
      file,
      { size: data.length, partSize: 1000, queueSize: 1 },
    );
    expect(result.etag).toBe('"x-3"');
    const puts = http.requests.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(3);
    for (const [i, put] of puts.entries()) {
      expect(put.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      const part = data.subarray(i * 1000, (i + 1) * 1000);
      expect(put.headers['content-md5']).toBe(createHash('md5').update(part).digest('base64'));
    }
    // Other requests are signed as usual.
    expect(http.requests[0]?.headers['x-amz-content-sha256']).not.toBe('UNSIGNED-PAYLOAD');
  });
});

describe('downloadRangesToFile() (aws-sdk-client-mock)', () => {
  const { s3, client } = useMockedS3();
  const MiB = 1024 * 1024;

  /**
   * Serves byte ranges of `data` in 64 KiB chunks, range i after `delayMs(i)`, so later
   * ranges can finish before earlier ones.
   */
  function serve(data: Buffer, rangeSize: number, delayMs: (range: number) => number) {
    const etag = `"${md5(data)}"`;
    s3.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
      const [, from, to] = /bytes=(\d+)-(\d+)/.exec(input.Range ?? '') ?? [];
      const start = Number(from);
      const end = Math.min(Number(to), data.length - 1);
      const slice = data.subarray(start, end + 1);
      const chunks: Buffer[] = [];
      for (let i = 0; i < slice.length; i += 64 * 1024)
        chunks.push(slice.subarray(i, i + 64 * 1024));
      const range = start / rangeSize;
      async function* body() {
        await new Promise((resolve) => setTimeout(resolve, delayMs(range)));
        yield* chunks;
      }
      return {
        Body: sdkStreamMixin(Readable.from(body())),
        ContentLength: slice.length,
        ContentRange: `bytes ${start}-${end}/${data.length}`,
        ETag: etag,
      };
    });
    return etag;
  }

  it('reassembles ranges that finish out of order, uneven last range included, and hashes them in order', async () => {
    const rangeSize = 2.5 * MiB;
    const data = Buffer.alloc(6 * MiB + 123);
    for (let i = 0; i < data.length; i += 4093) data[i] = (i >> 12) % 256;
    // The first range is the slowest: the others are written before it and read back.
    const etag = serve(data, rangeSize, (i) => (i === 0 ? 60 : 5 * i));
    const temp = path.join(dir, 'ranged.tmp');
    const progress: number[] = [];
    const result = await client.downloadRangesToFile('bucket', 'key', sinkAt(temp), {
      size: data.length,
      rangeSize,
      concurrency: 3,
      ifMatch: etag,
      onBytes: (n) => progress.push(n),
      hashing: () => ({ candidatePartSizes: [rangeSize] }),
    });
    // Not toEqual: deep equality of megabytes takes vitest seconds.
    expect((await readFile(temp)).equals(data)).toBe(true);
    expect(result.digest.md5).toBe(md5(data));
    expect(result.digest.composites?.[rangeSize]).toBe(
      compositeEtag([0, 1, 2].map((i) => md5(data.subarray(i * rangeSize, (i + 1) * rangeSize)))),
    );
    expect(result.size).toBe(data.length);
    expect(progress.reduce((a, b) => a + b, 0)).toBe(data.length);
    const gets = s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
    expect(gets.map((g) => g.Range)).toEqual([
      `bytes=0-${rangeSize - 1}`,
      `bytes=${rangeSize}-${2 * rangeSize - 1}`,
      `bytes=${2 * rangeSize}-${data.length - 1}`,
    ]);
    expect(new Set(gets.map((g) => g.IfMatch))).toEqual(new Set([etag]));
  });

  it('computes an asked-for checksum of the ranges in order (in this thread)', async () => {
    const rangeSize = MiB;
    const data = Buffer.alloc(3 * MiB + 7);
    for (let i = 0; i < data.length; i += 1021) data[i] = i % 253;
    serve(data, rangeSize, (i) => (i === 0 ? 30 : 0));
    const result = await client.downloadRangesToFile(
      'bucket',
      'key',
      sinkAt(path.join(dir, 'c.tmp')),
      {
        size: data.length,
        rangeSize,
        concurrency: 3,
        hashing: () => ({ checksum: 'SHA256' }),
      },
    );
    expect(result.digest.md5).toBe(md5(data));
    expect(result.receivedChecksum).toBe(createHash('sha256').update(data).digest('base64'));
  });

  it('retries a range cut short, within the attempt budget', async () => {
    const rangeSize = MiB;
    const data = Buffer.alloc(3 * MiB + 5, 3);
    serve(data, rangeSize, () => 0);
    const etag = `"${md5(data)}"`;
    let cut = false;
    s3.on(GetObjectCommand, { Range: `bytes=${MiB}-${2 * MiB - 1}` }).callsFake(() => {
      const full = data.subarray(MiB, 2 * MiB);
      const body = cut ? full : full.subarray(0, 1000);
      cut = true;
      return {
        Body: sdkStreamMixin(Readable.from([body])),
        ContentLength: full.length,
        ContentRange: `bytes ${MiB}-${2 * MiB - 1}/${data.length}`,
        ETag: etag,
      };
    });
    const temp = path.join(dir, 'ranged.tmp');
    const result = await client.downloadRangesToFile('bucket', 'key', sinkAt(temp), {
      size: data.length,
      rangeSize,
      concurrency: 2,
    });
    expect(result.digest.md5).toBe(md5(data));
    expect((await readFile(temp)).equals(data)).toBe(true);
  });
});
