/**
 * Where a bucket's requests go, as the SDK decides it: one HeadObject of a probe key runs
 * through the SDK client's own middleware (its endpoint rules, region, path or virtual-host
 * style, auth scheme) and is stopped before it is signed or sent. The lane reuses that
 * decision for every request to the bucket instead of re-deriving AWS's endpoint rules.
 *
 * @packageDocumentation
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { encodeKey, type BucketRoute } from './request.js';

/** The key of the probe: never sent. */
export const PROBE_KEY = 's3lync-endpoint-probe';

/** Why a bucket's requests stay on the SDK. */
export interface SdkOnly {
  readonly sdkOnly: string;
}

/** What the probe stops with: the request as built, and the context it was built in. */
class Probed extends Error {
  constructor(
    readonly request: unknown,
    readonly context: unknown,
  ) {
    super('endpoint probe');
  }
}

interface ProbedRequest {
  protocol?: string;
  hostname?: string;
  port?: number;
  path?: string;
}

interface AuthScheme {
  name?: string;
  signingName?: string;
  signingRegion?: string;
}

/**
 * The route of `bucket` through `sdk`'s endpoint decision, or why the lane must leave it
 * to the SDK: an access-point ARN, S3 Express, an accelerate or unusual endpoint, a
 * signing scheme other than SigV4.
 *
 * @throws what the SDK throws while deciding (a region or credentials it cannot resolve).
 */
export async function resolveRoute(sdk: S3Client, bucket: string): Promise<BucketRoute | SdkOnly> {
  if (bucket.startsWith('arn:')) return { sdkOnly: 'an access-point ARN' };
  if (bucket.endsWith('--x-s3')) return { sdkOnly: 'an S3 Express directory bucket' };
  const config = sdk.config as {
    useAccelerateEndpoint?: unknown;
    requestChecksumCalculation?: unknown;
  };
  if ((await settingOf(config.useAccelerateEndpoint)) === true) {
    return { sdkOnly: 'an accelerate endpoint' };
  }
  const sdkChecksums = (await settingOf(config.requestChecksumCalculation)) === 'WHEN_SUPPORTED';
  const command = new HeadObjectCommand({ Bucket: bucket, Key: PROBE_KEY });
  command.middlewareStack.add(
    (_next, context) => (args) => Promise.reject(new Probed(args.request, context)),
    { step: 'build', priority: 'low', name: 's3lyncEndpointProbe' },
  );
  let probed: Probed;
  try {
    await sdk.send(command);
    return { sdkOnly: 'the endpoint probe was answered' };
  } catch (e) {
    if (!(e instanceof Probed)) throw e;
    probed = e;
  }
  const route = routeOf(probed.request as ProbedRequest, authSchemeOf(probed.context));
  return 'sdkOnly' in route ? route : { ...route, sdkChecksums };
}

/** The SigV4 scheme the endpoint decision chose, if it says. */
function authSchemeOf(context: unknown): AuthScheme | undefined {
  const c = context as {
    endpointV2?: { properties?: { authSchemes?: AuthScheme[] } };
  };
  return c.endpointV2?.properties?.authSchemes?.[0];
}

function routeOf(
  request: ProbedRequest,
  scheme: AuthScheme | undefined,
): Omit<BucketRoute, 'sdkChecksums'> | SdkOnly {
  const { protocol, hostname, path } = request;
  if (protocol !== 'http:' && protocol !== 'https:') return { sdkOnly: `protocol ${protocol}` };
  if (hostname === undefined || path === undefined) return { sdkOnly: 'no host or path' };
  const suffix = `/${encodeKey(PROBE_KEY)}`;
  if (!path.endsWith(suffix)) return { sdkOnly: `an unusual path (${path})` };
  if (scheme === undefined || scheme.name !== 'sigv4') {
    return { sdkOnly: `the auth scheme ${scheme?.name ?? '(none)'}` };
  }
  const { signingName, signingRegion } = scheme;
  if (signingName === undefined || signingRegion === undefined) {
    return { sdkOnly: 'no signing region or name' };
  }
  return {
    protocol,
    hostname,
    port: request.port,
    basePath: path.slice(0, -suffix.length),
    signingRegion,
    signingName,
  };
}

/** A config setting: the SDK keeps some as values, some as providers. */
async function settingOf(setting: unknown): Promise<unknown> {
  return typeof setting === 'function' ? await (setting as () => Promise<unknown>)() : setting;
}
