/**
 * S3 additional checksums (`x-amz-checksum-*`): reading them from responses and computing
 * them locally, so objects whose ETag is not an MD5 (KMS, SSE-C, other tools' multipart
 * uploads) can still be verified.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';

import { Crc32, Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';

/** The checksum algorithms S3 supports. */
export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

/** Every {@link ChecksumAlgorithm}, strongest last. */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = [
  'CRC32',
  'CRC32C',
  'CRC64NVME',
  'SHA1',
  'SHA256',
];

/** A checksum an object carries. */
export interface ObjectChecksum {
  algorithm: ChecksumAlgorithm;
  /** Base64, as S3 sends it (without a `-N` suffix). */
  value: string;
  /** `FULL_OBJECT`: of the whole content; `COMPOSITE`: of the part checksums. */
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

/** The checksum fields of a HeadObject/GetObject/PutObject response. */
export interface ChecksumFields {
  ChecksumCRC32?: string | undefined;
  ChecksumCRC32C?: string | undefined;
  ChecksumCRC64NVME?: string | undefined;
  ChecksumSHA1?: string | undefined;
  ChecksumSHA256?: string | undefined;
  ChecksumType?: string | undefined;
}

/**
 * The checksum a response carries, if any: the strongest one present. A value ending in
 * `-N`, or `ChecksumType: COMPOSITE`, is a checksum of part checksums.
 */
export function checksumOf(out: ChecksumFields): ObjectChecksum | undefined {
  for (const algorithm of [...CHECKSUM_ALGORITHMS].reverse()) {
    const raw = out[`Checksum${algorithm}`];
    if (raw === undefined || raw === '') continue;
    const composite = /-\d+$/.test(raw) || out.ChecksumType === 'COMPOSITE';
    return {
      algorithm,
      value: raw.replace(/-\d+$/, ''),
      type: composite ? 'COMPOSITE' : 'FULL_OBJECT',
    };
  }
  return undefined;
}

/** An incremental checksum. */
export interface Checksummer {
  update(chunk: Uint8Array): void;
  /** The base64 digest; call once. */
  digest(): Promise<string>;
}

/** Creates a checksummer for `algorithm`. */
export function createChecksummer(algorithm: ChecksumAlgorithm): Checksummer {
  if (algorithm === 'SHA1' || algorithm === 'SHA256') {
    const h = createHash(algorithm === 'SHA1' ? 'sha1' : 'sha256');
    return {
      update: (chunk) => h.update(chunk),
      digest: () => Promise.resolve(h.digest('base64')),
    };
  }
  const c =
    algorithm === 'CRC32' ? new Crc32() : algorithm === 'CRC32C' ? new Crc32c() : new Crc64Nvme();
  return {
    update: (chunk) => {
      c.update(chunk);
    },
    digest: async () => Buffer.from(await c.digest()).toString('base64'),
  };
}
