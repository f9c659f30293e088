/**
 * Which failures mean the server could not be reached: what `staleIfError` covers.
 *
 * @packageDocumentation
 */
import {
  AccessDeniedError,
  ListingError,
  LocalPathError,
  NotFoundError,
  PreconditionFailedError,
  S3ObjectError,
  S3TimeoutError,
} from '../exceptions.js';
import { isRetryableError } from '../retry.js';

/**
 * Whether a typed error says the server could not be reached after the retries: a
 * timeout, no response (a refused or dropped connection), or a 5xx. A 403, a 404, a
 * failed precondition, bytes that did not verify or a local error are answers, not this.
 */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof S3TimeoutError) return true;
  if (
    !(error instanceof S3ObjectError) ||
    error instanceof LocalPathError ||
    error instanceof NotFoundError ||
    error instanceof AccessDeniedError ||
    error instanceof PreconditionFailedError ||
    error instanceof ListingError
  ) {
    return false;
  }
  if (error.statusCode !== undefined) return error.statusCode >= 500;
  return isRetryableError(error.cause);
}
