/**
 * Starts the S3 server the integration tests run against: a throwaway Ceph radosgw from
 * scripts/radosgw/ (the default), s3rver in this process with S3LYNC_TEST_SERVER=s3rver
 * (scripts/s3rver/), or the server named by S3LYNC_TEST_ENDPOINT. Under CI=true a missing
 * radosgw fails the run; elsewhere the integration tests are skipped with a loud notice.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import type { TestProject } from 'vitest/node';

import { exclusionTable, parseLacks, SERVER_LACKS, type Capability } from './capabilities.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export interface TestS3 {
  available: boolean;
  /** Which server: `radosgw`, `s3rver`, or `external` (S3LYNC_TEST_ENDPOINT). */
  server?: 'radosgw' | 's3rver' | 'external';
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** radosgw's ceph.conf, for radosgw-admin (absent for an external server). */
  cephConf?: string;
  reason?: string;
  /** What the server lacks (tests/setup/capabilities.ts): tests needing it are excluded. */
  lacks?: readonly Capability[];
  /** Where test workers record the tests they exclude, for the table at the end. */
  exclusions?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: TestS3;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

async function hasRadosgw(): Promise<boolean> {
  try {
    await run('sh', ['-c', 'command -v radosgw && command -v ceph-mon && command -v ceph-osd']);
    return true;
  } catch {
    return false;
  }
}

const INSTALL_HINT =
  'Install radosgw (Debian/Ubuntu, as root):\n' +
  '  apt-get update && apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common\n' +
  'or point the tests at another S3 with S3LYNC_TEST_ENDPOINT, S3LYNC_TEST_ACCESS_KEY_ID and S3LYNC_TEST_SECRET_ACCESS_KEY.';

function banner(text: string): void {
  const line = '!'.repeat(78);
  process.stderr.write(`\n${line}\n${text}\n${line}\n\n`);
}

/**
 * Starts the server, then, when the run ends, stops it and prints the table of the tests
 * excluded for a capability the server lacks.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-matrix-'));
  const exclusions = path.join(dir, 'excluded.jsonl');
  const stop = await startServer((value) => {
    const lacks =
      value.server === 'external'
        ? parseLacks(process.env.S3LYNC_TEST_LACKS)
        : value.server === undefined
          ? []
          : SERVER_LACKS[value.server];
    project.provide('s3', { ...value, lacks, exclusions });
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  return async () => {
    await stop?.();
    const table = exclusionTable(exclusions);
    if (table !== undefined) process.stdout.write(`\n${table}\n\n`);
    await rm(dir, { recursive: true, force: true });
  };
}

type Provide = (value: TestS3) => void;

async function startServer(provide: Provide): Promise<(() => Promise<void>) | undefined> {
  const env = process.env;
  if (env.S3LYNC_TEST_ENDPOINT) {
    provide({
      available: true,
      endpoint: env.S3LYNC_TEST_ENDPOINT,
      region: env.S3LYNC_TEST_REGION ?? 'us-east-1',
      accessKeyId: env.S3LYNC_TEST_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.S3LYNC_TEST_SECRET_ACCESS_KEY ?? '',
      server: 'external',
    });
    return undefined;
  }
  const server = env.S3LYNC_TEST_SERVER?.trim().toLowerCase() || 'radosgw';
  if (server === 's3rver') return startEmbedded(provide);
  if (server !== 'radosgw') {
    throw new Error(`S3LYNC_TEST_SERVER must be radosgw or s3rver, not "${server}"`);
  }
  if (!(await hasRadosgw())) {
    const reason = `No S3 server for the integration tests: radosgw is not installed.\n${INSTALL_HINT}`;
    if (env.CI === 'true' || env.CI === '1') {
      throw new Error(`CI=true and ${reason}`);
    }
    banner(`SKIPPING every integration test.\n${reason}`);
    provide({
      available: false,
      endpoint: '',
      region: '',
      accessKeyId: '',
      secretAccessKey: '',
      reason,
    });
    return () => {
      banner(`The integration tests were SKIPPED: radosgw is not installed.\n${INSTALL_HINT}`);
      return Promise.resolve();
    };
  }

  const base = await mkdtemp(path.join(os.tmpdir(), 's3lync-rgw-'));
  const cluster = path.join(base, 'cluster');
  const [rgwPort, monPort] = [await freePort(), await freePort()];
  const accessKeyId = 'S3LYNCTESTACCESSKEY0';
  const secretAccessKey = 's3lyncTestSecretKey/0000000000000000000000';
  try {
    await run('bash', [path.join(root, 'scripts/radosgw/start-rgw.sh'), cluster], {
      env: {
        ...env,
        RGW_PORT: String(rgwPort),
        MON_PORT: String(monPort),
        AK: accessKeyId,
        SK: secretAccessKey,
      },
      timeout: 120_000,
    });
  } catch (error) {
    await run('bash', [path.join(root, 'scripts/radosgw/stop-rgw.sh'), cluster]).catch(
      () => undefined,
    );
    const e = error as { stderr?: string; message: string };
    throw new Error(`radosgw failed to start: ${e.message}\n${e.stderr ?? ''}`);
  }
  provide({
    available: true,
    endpoint: `http://127.0.0.1:${rgwPort}`,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    cephConf: path.join(cluster, 'ceph.conf'),
    server: 'radosgw',
  });
  return async () => {
    await run('bash', [path.join(root, 'scripts/radosgw/stop-rgw.sh'), cluster]);
    await rm(base, { recursive: true, force: true });
  };
}

/**
 * s3rver, the S3 server npm installs, in a child process (scripts/s3rver/serve.mjs, with
 * the legacy OpenSSL provider its continuation tokens need): no system package needed.
 */
async function startEmbedded(provide: Provide): Promise<() => Promise<void>> {
  const base = await mkdtemp(path.join(os.tmpdir(), 's3lync-s3rver-'));
  const accessKeyId = 'S3LYNCTESTACCESSKEY0';
  const secretAccessKey = 's3lyncTestSecretKey/0000000000000000000000';
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', path.join(root, 'scripts/s3rver/serve.mjs')],
    {
      env: {
        ...process.env,
        S3RVER_DIR: path.join(base, 'data'),
        S3RVER_ACCESS_KEY: accessKeyId,
        S3RVER_SECRET_KEY: secretAccessKey,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const stopped = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  try {
    const exited = stopped.then(() => {
      throw new Error('it exited before listening');
    });
    const listening = once(createInterface({ input: child.stdout }), 'line');
    const [line] = (await Promise.race([listening, exited])) as [string];
    const { endpoint } = JSON.parse(line) as { endpoint: string };
    provide({
      available: true,
      endpoint,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      server: 's3rver',
    });
  } catch (error) {
    child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
    throw new Error(`s3rver failed to start: ${(error as Error).message}`);
  }
  return async () => {
    child.kill('SIGTERM');
    await stopped;
    await rm(base, { recursive: true, force: true });
  };
}
