/** The setup the wiring tests share: an SDK client mocked afresh and a temp dir per test. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { S3Client } from '@aws-sdk/client-s3';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach } from 'vitest';

import { forgetCapabilities } from '../../src/client/capabilities.js';

/** The mocked client (`sdk`), its stub (`s3`, reset before each test), and this test's `dir`. */
export interface MockedS3 {
  readonly sdk: S3Client;
  readonly s3: AwsClientStub<S3Client>;
  /** A temp dir made before each test and removed after it. */
  readonly dir: string;
}

/**
 * What the SDK throws for a 304 (a GET whose `If-None-Match` matched): a bodiless client
 * error, named as the SDK names one without an S3 error code.
 */
export function notModified(): Error {
  return Object.assign(new Error('UnknownError'), {
    name: 'Unknown',
    $fault: 'client',
    $metadata: { httpStatusCode: 304 },
  });
}

/** Registers the hooks of a {@link MockedS3}; `name` tells the temp dirs apart. */
export function useMockedS3(name: string): MockedS3 {
  const sdk = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const state = { sdk, s3: mockClient(sdk), dir: '' };
  beforeEach(async () => {
    state.s3.reset();
    // What a server honours is learned per endpoint and process: each test starts unknowing.
    forgetCapabilities();
    state.dir = await mkdtemp(path.join(os.tmpdir(), `s3lync-${name}-`));
  });
  afterEach(async () => {
    await rm(state.dir, { recursive: true, force: true });
  });
  return state;
}
