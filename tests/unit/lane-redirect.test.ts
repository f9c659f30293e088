/**
 * A bucket whose server redirects the data lane goes back to the SDK: the redirected
 * request is sent again through the SDK (which follows the client's own rules), and so is
 * every later request of that bucket. A scripted server tells the two paths apart by the
 * SDK's user-agent header, which the lane does not send.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, expect, it } from 'vitest';

import { createS3Client, S3lyncClient } from '../../src/client.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function redirectingServer(): Promise<{ endpoint: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const sdk = req.headers['x-amz-user-agent'] !== undefined;
    seen.push(`${sdk ? 'sdk' : 'lane'} ${req.method ?? ''} ${req.url ?? ''}`);
    if (!sdk) {
      res.writeHead(301, { 'content-type': 'application/xml' });
      res.end(
        '<Error><Code>PermanentRedirect</Code><Message>Use the other endpoint.</Message></Error>',
      );
      return;
    }
    res.writeHead(200, { 'content-length': '5', etag: '"e"' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

it('sends a redirected request again through the SDK, and the rest of its bucket too', async () => {
  const { endpoint, seen } = await redirectingServer();
  const sdk = createS3Client({
    endpoint,
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    retry: { maxAttempts: 1 },
    dataLane: 'always',
  });
  closers.push(() => {
    sdk.destroy();
  });
  const client = new S3lyncClient(sdk, { retry: { maxAttempts: 1 } });
  expect(client.dataLane).toBe(true);
  await expect(client.head('bucket', 'k1')).resolves.toMatchObject({ size: 5, etag: '"e"' });
  await expect(client.head('bucket', 'k2')).resolves.toMatchObject({ size: 5 });
  expect(seen).toEqual(['lane HEAD /bucket/k1', 'sdk HEAD /bucket/k1', 'sdk HEAD /bucket/k2']);
});
