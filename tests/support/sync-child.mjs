/**
 * A separate process for the crash and concurrency tests: it runs one s3lync operation
 * from the build (dist/, which `npm test` builds first) and prints one JSON line with the
 * outcome, so a test can SIGKILL it midway or run two at once.
 *
 *   node tests/support/sync-child.mjs '<json>'
 *
 * json: { op: 'sync', uri, direction, options } runs `new S3Object(uri, options).sync(direction)`;
 *       { op: 'index-loop', file, entries } saves a hash index of `entries` entries over and
 *       over (a fresh record each time), printing "saving" before the first save.
 */
import process from 'node:process';

import { HashIndex } from '../../dist/hash-index.js';
import { S3Object } from '../../dist/index.js';

const job = JSON.parse(process.argv[2] ?? '{}');

function print(outcome) {
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

if (job.op === 'sync') {
  try {
    const obj = new S3Object(job.uri, { progressMode: 'disabled', ...job.options });
    const started = Date.now();
    const result = await obj.sync(job.direction);
    const { transferred, unchanged, failed, hashedFiles, deleted } = result;
    print({
      ok: true,
      transferred,
      unchanged,
      failed,
      hashedFiles,
      deleted,
      started,
      ended: Date.now(),
    });
  } catch (error) {
    print({ ok: false, name: error.name, message: error.message });
    process.exitCode = 1;
  }
} else if (job.op === 'index-loop') {
  const entry = (i) => ({
    size: i,
    mtimeNs: 1_000_000_000n,
    ctimeNs: 1_000_000_000n,
    ino: BigInt(i),
    md5: '0123456789abcdef0123456789abcdef',
    hashedAtNs: 9_000_000_000n,
    ownMtime: false,
  });
  const index = await HashIndex.load(job.file);
  for (let i = 0; i < job.entries; i++) index.record(`dir/file-${i}`, entry(i));
  print({ event: 'saving' });
  for (let round = 0; ; round++) {
    index.record(`round`, entry(round));
    await index.save({ prune: false });
  }
} else {
  print({ ok: false, message: `unknown job ${JSON.stringify(job)}` });
  process.exitCode = 2;
}
