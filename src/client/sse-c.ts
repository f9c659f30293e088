/**
 * A transport for objects encrypted with a customer key (SSE-C): every request that reads
 * or writes an object's bytes or headers carries the key, as S3 requires. One wrapper, so
 * no operation can forget it.
 *
 * @packageDocumentation
 */
import type { CustomerKey } from '../sse-c.js';
import type { Transport } from './transport.js';

/**
 * `transport` with `key` added to HeadObject, GetObject (whole and ranged), PutObject,
 * CreateMultipartUpload and UploadPart. CompleteMultipartUpload does not say the object is
 * SSE-C, so its answer is marked: its ETag is then not taken for an MD5.
 */
export function withCustomerKey(transport: Transport, key: CustomerKey): Transport {
  const fields = key.fields;
  return {
    ...transport,
    headObject: (input, signal) => transport.headObject({ ...input, ...fields }, signal),
    getObject: (input, signal) => transport.getObject({ ...input, ...fields }, signal),
    putObject: (input, signal) => transport.putObject({ ...input, ...fields }, signal),
    createMultipartUpload: (input, signal) =>
      transport.createMultipartUpload({ ...input, ...fields }, signal),
    uploadPart: (input, signal) => transport.uploadPart({ ...input, ...fields }, signal),
    completeMultipartUpload: async (input, signal) => {
      const out = await transport.completeMultipartUpload(input, signal);
      return Object.assign({ SSECustomerAlgorithm: fields.SSECustomerAlgorithm }, out);
    },
  };
}
