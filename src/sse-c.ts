/**
 * SSE-C, server-side encryption with a customer key: the key checked once, held so that it
 * is never echoed (not by `toString`, `JSON.stringify`, `util.inspect`, an error message or
 * a log line), and the three request fields S3 wants with every object request.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

import { ConfigError } from './exceptions.js';
import { registerSecret } from './logging.js';

/** The only SSE-C algorithm S3 has. */
export const SSE_C_ALGORITHM = 'AES256';

/** A customer key: 32 bytes, or their base64 (a 32-character string is taken as the bytes). */
export type CustomerKeyInput = string | Uint8Array;

/** The SSE-C fields of a request, as the SDK's inputs name them. */
export interface CustomerKeyFields {
  readonly SSECustomerAlgorithm: typeof SSE_C_ALGORITHM;
  /** The key, base64. */
  readonly SSECustomerKey: string;
  /** The key's MD5, base64: the server checks the key arrived intact. */
  readonly SSECustomerKeyMD5: string;
}

const KEY_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The key's bytes by the SDK's rule: a string that is the base64 of 32 bytes is decoded,
 * any other string is its UTF-8 bytes. `undefined` unless that gives 32 bytes.
 */
export function customerKeyBytes(value: CustomerKeyInput): Buffer | undefined {
  let bytes: Buffer;
  if (typeof value === 'string') {
    const decoded = BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
    bytes = decoded?.length === KEY_BYTES ? decoded : Buffer.from(value, 'utf8');
  } else {
    bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return bytes.length === KEY_BYTES ? bytes : undefined;
}

/** The base64 MD5 of a key's bytes (`x-amz-server-side-encryption-customer-key-MD5`). */
export function customerKeyMd5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}

/** A checked customer key. Its printed forms say only that it is one. */
export class CustomerKey {
  readonly #fields: CustomerKeyFields;

  private constructor(bytes: Buffer) {
    const key = bytes.toString('base64');
    this.#fields = Object.freeze({
      SSECustomerAlgorithm: SSE_C_ALGORITHM,
      SSECustomerKey: key,
      SSECustomerKeyMD5: customerKeyMd5(bytes),
    });
    registerSecret(key);
    const text = bytes.toString('latin1');
    if (/^[\x20-\x7e]+$/.test(text)) registerSecret(text);
  }

  /**
   * Checks a key.
   *
   * @param what - the option in messages, quoted: `` `sseCustomerKey` ``.
   * @throws {ConfigError} naming the option and the length, never the value.
   */
  static of(value: unknown, what: string): CustomerKey {
    if (value instanceof CustomerKey) return value;
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new ConfigError(
        `Expected ${what} to be a string or bytes (a 256-bit key), got ${typeof value}`,
      );
    }
    const bytes = customerKeyBytes(value);
    if (bytes === undefined) {
      const length =
        typeof value === 'string' ? `${value.length} characters` : `${value.byteLength} bytes`;
      throw new ConfigError(
        `Expected ${what} to be a 256-bit key: 32 bytes, or their base64 (44 characters); got ${length}`,
      );
    }
    return new CustomerKey(bytes);
  }

  /** The fields of every request on an object encrypted with this key. */
  get fields(): CustomerKeyFields {
    return this.#fields;
  }

  /** Whether `other` is the same key. */
  equals(other: CustomerKey | undefined): boolean {
    return other !== undefined && other.#fields.SSECustomerKey === this.#fields.SSECustomerKey;
  }

  toString(): string {
    return 'CustomerKey(***)';
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
