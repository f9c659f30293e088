/**
 * The SDK clients an `S3ObjectManager` builds, shared by its objects.
 *
 * @packageDocumentation
 */
import type { S3Client } from '@aws-sdk/client-s3';

import { createS3Client } from '../client.js';
import type { Connection } from '../object-settings.js';

/** One SDK client per endpoint, credentials, region, retry policy and timeouts. */
export class ClientPool {
  readonly #clients = new Map<string, S3Client>();

  /** The client of `connection`, built on first use. */
  get(connection: Connection): S3Client {
    const { endpoint, credentials, region, retry, timeouts, dataLane, maxConnections } = connection;
    const key = JSON.stringify([
      endpoint ?? '',
      credentials?.accessKeyId ?? '',
      credentials?.secretAccessKey ?? '',
      region ?? '',
      retry,
      timeouts,
      dataLane,
      maxConnections,
    ]);
    let client = this.#clients.get(key);
    if (client === undefined) {
      client = createS3Client(connection);
      this.#clients.set(key, client);
    }
    return client;
  }

  /** Destroys every client built (closing their sockets). */
  destroy(): void {
    for (const client of this.#clients.values()) client.destroy();
    this.#clients.clear();
  }
}
