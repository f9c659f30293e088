/* global process */
/**
 * The ceiling of a no-op sync as a whole process: Node starts, loads the AWS SDK, sends one
 * ListObjectsV2 (the page a no-op sync of 1,000 files needs) and exits. Run by the bench
 * (scenario g) under /usr/bin/time: `node bench/ceil-list.mjs '<spec JSON>'`.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const spec = JSON.parse(process.argv[2] ?? '{}');
const sdk = new S3Client({
  endpoint: spec.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: spec.accessKey, secretAccessKey: spec.secretKey },
});
const page = await sdk.send(new ListObjectsV2Command({ Bucket: spec.bucket, Prefix: spec.prefix }));
if ((page.KeyCount ?? 0) === 0) throw new Error(`nothing listed under ${spec.prefix}`);
sdk.destroy();
