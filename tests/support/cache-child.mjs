/**
 * A separate process for the cache tests: it opens an object for reading in the default
 * cache (XDG_CACHE_HOME from the environment) from the build (dist/, which `npm test`
 * builds first) and keeps the handle open while another process evicts.
 *
 *   node tests/support/cache-child.mjs <uri>
 *
 * Prints "ready" once the handle is open; on each line "read" from stdin, reads the whole
 * file through the handle and prints its MD5; on "close", closes it and exits.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import process from 'node:process';
import { createInterface } from 'node:readline';

import { S3Object } from '../../dist/index.js';

const [uri] = process.argv.slice(2);
const file = await new S3Object(uri, { progressMode: 'disabled' }).open('r');
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'read') {
    const buffer = Buffer.alloc((await file.stat()).size);
    await file.read(buffer, 0, buffer.length, 0);
    process.stdout.write(`${createHash('md5').update(buffer).digest('hex')}\n`);
  } else if (line === 'close') {
    await file.close();
    process.stdout.write('closed\n');
    break;
  }
}
