/**
 * What every operation of the client needs: how requests are sent, the retry policy, and
 * how URIs are named in messages.
 *
 * @packageDocumentation
 */
import type { ServerCapabilities } from './capabilities.js';
import type { CustomerKey } from '../sse-c.js';
import type { RetryPolicy } from './retrying.js';
import type { Transport } from './transport.js';
import type { UriFormatter } from './types.js';

/** The client's parts, shared by its operations. */
export interface ClientContext {
  /** Sends each kind of request. */
  readonly transport: Transport;
  /** The retry policy of transfers the SDK cannot replay by itself. */
  readonly retry: RetryPolicy;
  /** Renders URIs (credentials redacted) for messages. */
  readonly describe: UriFormatter;
  /** Records what a response showed the server honours (`client/capabilities`). */
  readonly learn?: ((seen: ServerCapabilities) => void) | undefined;
  /** The SSE-C key every object request carries; its objects' listed ETags are no MD5s. */
  readonly customerKey?: CustomerKey | undefined;
}
