/**
 * A separate process for the crash test of `open()`: it opens an object for writing from
 * the build (dist/, which `npm test` builds first), writes some bytes into the temp file
 * and never closes it, so a test can SIGKILL it mid-write.
 *
 *   node tests/support/open-child.mjs <uri> <localPath>
 *
 * Prints "ready" once the bytes are written, then waits for ever.
 */
import process from 'node:process';
import { setInterval } from 'node:timers';

import { S3Object } from '../../dist/index.js';

const [uri, localPath] = process.argv.slice(2);
const file = await new S3Object(uri, { localPath, progressMode: 'disabled' }).open('w');
await file.write('partial bytes of a writer that was killed');
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
