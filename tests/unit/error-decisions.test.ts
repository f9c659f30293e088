/**
 * A LocalPathError is an S3ObjectError (the Python package's contract): the decisions that
 * look at the class must still tell a local failure from an S3 one.
 */
import { DeleteObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';

import { S3lyncClient } from '../../src/client.js';
import { toS3lyncError } from '../../src/client/errors.js';
import { retryDownload } from '../../src/client/retrying.js';
import { LocalPathError, S3ObjectError, UnsafePathError } from '../../src/index.js';
import { isRetryableError } from '../../src/retry.js';

const enoent = Object.assign(new Error('ENOENT: no such file or directory, open'), {
  code: 'ENOENT',
  syscall: 'open',
  path: '/data/gone.bin',
});
const local = (): LocalPathError =>
  new LocalPathError('open /data/gone.bin', '/data/gone.bin', {
    cause: enoent,
  });

describe('a LocalPathError among the decisions on S3ObjectError', () => {
  it('is not retried: another attempt would find the same disk', () => {
    expect(isRetryableError(local())).toBe(false);
    expect(retryDownload(local())).toBe(false);
    expect(retryDownload(new UnsafePathError('m', '/root'))).toBe(false);
  });

  it('passes the typed-error conversion unchanged, not re-wrapped as an S3 failure', () => {
    const error = local();
    const site = { operation: 'GetObject', bucket: 'b', key: 'k' };
    expect(toS3lyncError(error, site, (b, k) => `s3://${b}/${k}`)).toBe(error);
    // A raw fs error becomes one, named by its own path.
    const typed = toS3lyncError(enoent, site, (b, k) => `s3://${b}/${k}`);
    expect(typed).toBeInstanceOf(LocalPathError);
    expect((typed as LocalPathError).path).toBe('/data/gone.bin');
  });

  describe('DeleteObjects', () => {
    const sdk = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const s3 = mockClient(sdk);
    const client = new S3lyncClient(sdk, { retry: { maxAttempts: 1 } });
    beforeEach(() => {
      s3.reset();
    });

    it('fails each key of a batch S3 refused as a whole', async () => {
      s3.on(DeleteObjectsCommand).rejects(
        Object.assign(new Error('denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        }),
      );
      const result = await client.deleteObjects('b', ['x', 'y']);
      expect(result.deleted).toEqual([]);
      expect(result.failed.map((f) => f.key)).toEqual(['x', 'y']);
      expect(result.failed[0]?.error).toBeInstanceOf(S3ObjectError);
    });

    it('stops on a local error instead of blaming each key on S3', async () => {
      const error = local();
      s3.on(DeleteObjectsCommand).rejects(error);
      await expect(client.deleteObjects('b', ['x', 'y'])).rejects.toBe(error);
    });
  });
});
