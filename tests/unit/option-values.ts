/**
 * A valid value for every option of `S3Object` and of its syncs, typed so that an option
 * added to a type and not here fails the build: the tests that iterate the key records of
 * src/options.ts find a value for each key.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';

import type { S3Object, S3ObjectOptions } from '../../src/core.js';
import type { SyncOptions } from '../../src/sync.js';

/** A valid, non-default value for every option of `S3Object`. */
export function objectOptionValues(client: S3Client, localPath: string): Required<S3ObjectOptions> {
  return {
    localPath,
    client,
    excludes: ['\\.tmp$'],
    filters: [{ exclude: '*.bak' }, { include: 'keep.bak' }],
    uploadParams: { CacheControl: 'max-age=60', Metadata: { team: 'data' } },
    guessContentType: false,
    compareParams: ['CacheControl', 'Metadata'],
    progressMode: 'disabled',
    retry: { maxAttempts: 1 },
    timeouts: { connectMs: 1000, idleMs: 2000 },
    region: 'eu-west-1',
    multipartThreshold: 16 * 1024 * 1024,
    partSize: 6 * 1024 * 1024,
    maxConcurrency: 2,
    hashIndex: false,
    rangeThreshold: 1024 * 1024,
    checksumAlgorithm: 'SHA256',
    limiter: pLimit(1),
    lockTimeout: 1000,
    sseCustomerKey: Buffer.alloc(32, 7),
    followSymlinks: true,
    dataLane: false,
    versionId: 'v1',
    maxAge: 60_000,
    offline: true,
    staleIfError: true,
    cacheMaxSize: '10G',
  };
}

/** A valid value for every option of a sync a caller may give. */
export function syncOptionValues(): Required<Omit<SyncOptions, 'expectedEtag'>> {
  return {
    useChecksum: false,
    excludes: ['\\.tmp$'],
    filters: [{ exclude: '*.bak' }],
    uploadParams: ({ key }) => ({ ContentDisposition: `attachment; filename="${key}"` }),
    guessContentType: false,
    compareParams: ['ContentType'],
    progressMode: 'disabled',
    followSymlinks: true,
    mirror: true,
    maxDelete: 10,
    dryRun: true,
    signal: new AbortController().signal,
    onProgress: () => undefined,
    onVerified: () => undefined,
    ifMatch: false,
    limiter: pLimit(1),
  };
}

/** What `obj` shows of its option `key`, where it shows it; `undefined` where it does not. */
export function shownOption(
  obj: S3Object,
  key: keyof S3ObjectOptions,
): { value: unknown } | undefined {
  if (key === 'client') return { value: obj.client.sdk };
  if (key === 'excludes') return { value: obj.getExcludes() };
  return key in obj ? { value: Reflect.get(obj, key) } : undefined;
}

/** The values of `values` under the keys of `record` (an options record of src/options.ts). */
export function valuesFor<T>(values: object, record: Readonly<Record<keyof T, true>>): T {
  return Object.fromEntries(
    Object.keys(record).map((key) => [key, Reflect.get(values, key) as unknown]),
  ) as T;
}

/** The keys of an options record as a message lists them: `` `a`, `b` ``. */
export function quotedKeys(record: object): string {
  return Object.keys(record)
    .map((k) => `\`${k}\``)
    .join(', ');
}
