import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { defineConfig } from 'vitest/config';

// Keep every cache and hash index the tests create out of the user's ~/.cache, and remove
// them when the run ends.
const cacheHome = path.join(os.tmpdir(), `s3lync-test-cache-${process.pid}`);
process.once('exit', () => {
  rmSync(cacheHome, { recursive: true, force: true });
});

export default defineConfig({
  test: {
    // The AWS SDK warns once per worker that it will need Node 22 from 2027: not the tests'
    // news, and it buried their output. Other warnings still show. The data lane starts with
    // the first request (by default it waits for a few transfers), so the tests' few requests
    // take it; CI runs the integration tests again with S3LYNC_DATA_LANE=0 (the SDK path).
    env: {
      XDG_CACHE_HOME: cacheHome,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      S3LYNC_DATA_LANE: process.env.S3LYNC_DATA_LANE ?? 'always',
    },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/setup/s3-server.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
