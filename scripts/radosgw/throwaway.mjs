/* global console, process */
/**
 * A throwaway radosgw for the demo and the benchmark: checks it is installed, starts it on
 * free ports with scripts/radosgw/start-rgw.sh, and kills it again synchronously (so it
 * also works from signal handlers).
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = import.meta.dirname;

/** How to install radosgw, for messages. */
export const INSTALL_RADOSGW =
  'apt-get update && apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common bc curl';

/** Whether a command is on PATH. */
export function hasCommand(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

/**
 * Starts radosgw in `cluster` (a directory that must not exist yet) with the given keys.
 * `onChild` receives the start script's process, so a signal handler can kill it.
 */
export async function startRgw({ cluster, accessKey, secretKey, onChild }) {
  const [rgwPort, monPort] = [await freePort(), await freePort()];
  try {
    const starting = run('bash', [path.join(here, 'start-rgw.sh'), cluster], {
      env: {
        ...process.env,
        RGW_PORT: String(rgwPort),
        MON_PORT: String(monPort),
        AK: accessKey,
        SK: secretKey,
      },
      timeout: 120_000,
    });
    onChild?.(starting.child);
    await starting;
  } catch (error) {
    throw new Error(`radosgw failed to start: ${error.message}\n${error.stderr ?? ''}`);
  }
  return `http://127.0.0.1:${rgwPort}`;
}

/**
 * Kills the cluster's daemons outright (the data is throwaway; radosgw takes over 5 s to
 * honour SIGTERM, which stop-rgw.sh would wait for), then lets stop-rgw.sh remove it.
 */
export function killRgw(cluster) {
  for (const name of ['client.rgw.pid', 'osd.0.pid', 'mon.a.pid']) {
    try {
      process.kill(Number(readFileSync(path.join(cluster, 'run', name), 'utf8').trim()), 'SIGKILL');
    } catch {
      // not started, or already gone
    }
  }
  try {
    execFileSync('bash', [path.join(here, 'stop-rgw.sh'), cluster], { stdio: 'ignore' });
  } catch {
    // best effort: the caller removes its temp dir anyway
  }
}

/**
 * Runs `cleanup` (synchronous) and exits with the conventional code on Ctrl-C, SIGTERM or
 * SIGHUP, so no server or temp directory outlives an interrupted run.
 */
export function onExitSignals(cleanup) {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ]) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the S3 server and removing the temp dir...`);
      cleanup();
      process.exit(code);
    });
  }
}
