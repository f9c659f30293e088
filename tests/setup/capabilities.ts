/**
 * The test matrix: what each test server lacks of what some integration tests need. A test
 * that needs a capability declares it (`requires(...)` in tests/integration/helpers.ts);
 * on a server that lacks it the test is excluded, recorded, and the run ends with a table
 * capability → server → tests excluded (printed by the global setup's teardown), so that
 * nothing is skipped silently.
 */
import { appendFileSync, readFileSync } from 'node:fs';

/** Capabilities some integration tests need and some S3 servers lack. */
export const CAPABILITIES = {
  signatures: 'checks SigV4 signatures (a wrong secret key is refused)',
  'composite-etag': 'answers a multipart upload with the composite ETag <md5 of part MD5s>-N',
  'content-md5': 'refuses a body that does not match its Content-MD5 or Content-Length',
  'conditional-writes': 'honours If-None-Match: * and If-Match on PUT',
  'abort-multipart': 'has AbortMultipartUpload and ListMultipartUploads',
  'literal-keys': 'stores keys with ".." and "//" segments as sent',
  'nested-common-prefixes': 'rolls keys two levels deep up into CommonPrefixes at the bucket root',
  'object-tagging': 'stores the tags of a PUT (GetObjectTagging)',
  'object-acl': 'stores a canned ACL (GetObjectAcl)',
  'sse-kms': 'encrypts with SSE-KMS',
  'sse-c': 'encrypts with a customer key (SSE-C) and refuses a request without it',
  versioning: 'keeps object versions (PutBucketVersioning, GetObject with versionId)',
  'upload-part-copy': 'copies a range of an object into a part (UploadPartCopy)',
} as const;

export type Capability = keyof typeof CAPABILITIES;

/** What each server lacks. `external` (S3LYNC_TEST_ENDPOINT): S3LYNC_TEST_LACKS, comma-separated. */
export const SERVER_LACKS: Record<'radosgw' | 's3rver', readonly Capability[]> = {
  radosgw: [],
  s3rver: [
    'signatures',
    'composite-etag',
    'content-md5',
    'conditional-writes',
    'abort-multipart',
    'literal-keys',
    'nested-common-prefixes',
    'object-tagging',
    'object-acl',
    'sse-kms',
    'sse-c',
    'versioning',
    'upload-part-copy',
  ],
};

/** The capabilities named in `list` (comma-separated); an unknown name is an error. */
export function parseLacks(list: string | undefined): Capability[] {
  const names = (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(name in CAPABILITIES)) {
      throw new Error(
        `S3LYNC_TEST_LACKS: unknown capability "${name}" (known: ${Object.keys(CAPABILITIES).join(', ')})`,
      );
    }
  }
  return names as Capability[];
}

/** One test excluded on one server for one missing capability. */
export interface Exclusion {
  capability: Capability;
  server: string;
  test: string;
}

/** Records an exclusion (test workers append; the teardown reads). */
export function recordExclusion(file: string, exclusion: Exclusion): void {
  appendFileSync(file, `${JSON.stringify(exclusion)}\n`);
}

/** The table of the exclusions recorded in `file`, or `undefined` when there were none. */
export function exclusionTable(file: string): string | undefined {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const rows = text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Exclusion);
  if (rows.length === 0) return undefined;
  const byCapability = new Map<string, Exclusion[]>();
  for (const row of rows) {
    const key = `${row.capability}\t${row.server}`;
    byCapability.set(key, [...(byCapability.get(key) ?? []), row]);
  }
  const lines = [
    `Tests excluded because the server lacks a capability they declare (${rows.length}):`,
  ];
  lines.push('capability → server → tests excluded');
  for (const [key, group] of [...byCapability].sort(([a], [b]) => a.localeCompare(b))) {
    const [capability, server] = key.split('\t') as [Capability, string];
    lines.push(`${capability} (${CAPABILITIES[capability]}) → ${server} → ${group.length}`);
    for (const test of [...new Set(group.map((g) => g.test))].sort()) lines.push(`    ${test}`);
  }
  return lines.join('\n');
}
