/**
 * The `open('x')` path: an upload that must create a new object.
 *
 * @packageDocumentation
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';

import { refuseWrites } from '../cache/freshness.js';
import { LocalRoot } from '../local-root.js';
import { uploadFile } from '../transfer.js';
import { progressFor, transferContext } from './apply.js';
import { serverEnforces } from './conditions.js';
import type { SyncOptions, SyncTarget } from './options.js';

/**
 * Uploads `sourcePath` to a key that must not exist yet (`If-None-Match: *`): the
 * `open('x')` path. Nothing is compared first; the server decides. Resolves to whether
 * the server enforces that (`false`: it ignores `If-None-Match`, and a warning says so;
 * `undefined`: the probe could not tell).
 *
 * @throws {PreconditionFailedError} when the key exists.
 */
export async function uploadNew(
  target: SyncTarget,
  sourcePath: string,
  options: Pick<SyncOptions, 'signal' | 'onProgress' | 'progressMode'> = {},
): Promise<boolean | undefined> {
  refuseWrites(target.cache, "open('x')", target.uri);
  const { signal } = options;
  const size = (await stat(sourcePath)).size;
  const ctx = transferContext(target, new LocalRoot(path.dirname(target.localPath)));
  const progress = progressFor(target, options, 'upload');
  progress.expect(1, size);
  const file = progress.start({
    direction: 'upload',
    key: target.key,
    path: target.localPath,
    size,
  });
  try {
    // In parallel with the upload: the probe (once per endpoint) adds no latency.
    const enforced = serverEnforces(target, { ifNoneMatch: true }).catch(() => undefined);
    await uploadFile(
      ctx,
      sourcePath,
      target.key,
      { size },
      {
        signal,
        onBytes: file.advance,
        ifNoneMatch: true,
      },
    );
    file.finish();
    return await enforced;
  } finally {
    progress.close();
  }
}
