/* global process */
/**
 * s3rver as its own process, for the integration tests: prints `{"endpoint": ...}` on one
 * line once it listens, and stops on SIGTERM. Run it with `node --openssl-legacy-provider`:
 * s3rver makes its ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 only
 * has in its legacy provider (without it, every truncated listing page is a 500).
 *
 *   S3RVER_DIR=... S3RVER_ACCESS_KEY=... S3RVER_SECRET_KEY=... node --openssl-legacy-provider serve.mjs
 */
import { startS3rver } from './embedded.mjs';

const { S3RVER_DIR, S3RVER_ACCESS_KEY, S3RVER_SECRET_KEY } = process.env;
if (!S3RVER_DIR || !S3RVER_ACCESS_KEY || !S3RVER_SECRET_KEY) {
  process.stderr.write('serve.mjs needs S3RVER_DIR, S3RVER_ACCESS_KEY and S3RVER_SECRET_KEY\n');
  process.exit(2);
}
const server = await startS3rver({
  directory: S3RVER_DIR,
  accessKey: S3RVER_ACCESS_KEY,
  secretKey: S3RVER_SECRET_KEY,
});
process.stdout.write(`${JSON.stringify({ endpoint: server.endpoint })}\n`);
process.once('SIGTERM', () => {
  void server.close().finally(() => process.exit(0));
});
