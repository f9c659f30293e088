/**
 * An embedded S3 server for the demo (and anyone without radosgw): s3rver, a dev
 * dependency, started in this process on a free port with its data in `directory`.
 * No system package and no root needed.
 *
 * s3rver checks that the access key exists but does not verify SigV4 signatures; the
 * key pair is registered anyway so the same keys work with a server that does. Its
 * ListObjectsV2 continuation tokens use DES, which Node's OpenSSL 3 has only with
 * `--openssl-legacy-provider`: without it, a truncated listing page (over 1,000 keys) is a
 * 500. The demo lists fewer; serve.mjs runs it with that flag for the tests.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Starts s3rver on 127.0.0.1 (a free port) with `buckets` created and `accessKey` /
 * `secretKey` accepted. Returns the endpoint and `close()`; the caller removes `directory`.
 */
export async function startS3rver({ directory, accessKey, secretKey, buckets = [] }) {
  const S3rver = require('s3rver');
  // s3rver keeps its accounts in a module-level registry; its one account takes our keys.
  require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** Stops listening and drops idle keep-alive connections, so the process can exit. */
    close: async () => {
      server.httpServer?.closeIdleConnections?.();
      await server.close();
    },
  };
}
