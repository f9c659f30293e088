/**
 * How requests reach S3: one send per request kind s3lync makes. The operations build
 * their requests and read the responses; a {@link Transport} only carries them. The SDK's
 * is {@link sdkTransport}: every request goes through `S3Client.send`, so
 * aws-sdk-client-mock intercepts all of them.
 *
 * @packageDocumentation
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type AbortMultipartUploadCommandInput,
  type CompleteMultipartUploadCommandInput,
  type CompleteMultipartUploadCommandOutput,
  type CopyObjectCommandInput,
  type CopyObjectCommandOutput,
  type CreateMultipartUploadCommandInput,
  type CreateMultipartUploadCommandOutput,
  type DeleteObjectCommandInput,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  type HeadObjectCommandInput,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandInput,
  type PutObjectCommandOutput,
  type S3Client,
  type UploadPartCommandInput,
  type UploadPartCommandOutput,
  type UploadPartCopyCommandInput,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import type { AbsoluteLocation, BuildHandlerOptions, BuildMiddleware } from '@smithy/types';

/**
 * Sends one request of each kind and resolves with the response, or rejects with the
 * transport's error (the client types it). `signal` aborts the request.
 */
export interface Transport {
  /** HeadObject. */
  headObject(input: HeadObjectCommandInput, signal?: AbortSignal): Promise<HeadObjectCommandOutput>;
  /** GetObject; the body streams after the promise resolves. */
  getObject(input: GetObjectCommandInput, signal?: AbortSignal): Promise<GetObjectCommandOutput>;
  /** PutObject, its body unsigned (its `Content-MD5` is checked by the server). */
  putObject(input: PutObjectCommandInput, signal?: AbortSignal): Promise<PutObjectCommandOutput>;
  /** ListObjectsV2: one page. */
  listObjectsV2(
    input: ListObjectsV2CommandInput,
    signal?: AbortSignal,
  ): Promise<ListObjectsV2CommandOutput>;
  /** DeleteObjects: up to 1,000 keys. */
  deleteObjects(
    input: DeleteObjectsCommandInput,
    signal?: AbortSignal,
  ): Promise<DeleteObjectsCommandOutput>;
  /** DeleteObject. */
  deleteObject(input: DeleteObjectCommandInput, signal?: AbortSignal): Promise<unknown>;
  /** CreateMultipartUpload. */
  createMultipartUpload(
    input: CreateMultipartUploadCommandInput,
    signal?: AbortSignal,
  ): Promise<CreateMultipartUploadCommandOutput>;
  /** UploadPart, its body unsigned (its `Content-MD5` is checked by the server). */
  uploadPart(input: UploadPartCommandInput, signal?: AbortSignal): Promise<UploadPartCommandOutput>;
  /** CompleteMultipartUpload. */
  completeMultipartUpload(
    input: CompleteMultipartUploadCommandInput,
    signal?: AbortSignal,
  ): Promise<CompleteMultipartUploadCommandOutput>;
  /** AbortMultipartUpload. */
  abortMultipartUpload(input: AbortMultipartUploadCommandInput): Promise<unknown>;
  /** CopyObject: a server-side copy within one server (no bytes through the client). */
  copyObject(input: CopyObjectCommandInput, signal?: AbortSignal): Promise<CopyObjectCommandOutput>;
  /** UploadPartCopy: one part of a multipart upload copied from a range of another object. */
  uploadPartCopy(
    input: UploadPartCopyCommandInput,
    signal?: AbortSignal,
  ): Promise<UploadPartCopyCommandOutput>;
}

/** The transport of an SDK client: each request is the SDK command of its kind. */
export function sdkTransport(sdk: S3Client): Transport {
  return {
    headObject: (input, signal) => sdk.send(new HeadObjectCommand(input), { abortSignal: signal }),
    getObject: (input, signal) => sdk.send(new GetObjectCommand(input), { abortSignal: signal }),
    putObject: (input, signal) =>
      sdk.send(unsignedPayload(new PutObjectCommand(input)), { abortSignal: signal }),
    listObjectsV2: (input, signal) =>
      sdk.send(new ListObjectsV2Command(input), { abortSignal: signal }),
    deleteObjects: (input, signal) =>
      sdk.send(new DeleteObjectsCommand(input), { abortSignal: signal }),
    deleteObject: (input, signal) =>
      sdk.send(new DeleteObjectCommand(input), { abortSignal: signal }),
    createMultipartUpload: (input, signal) =>
      sdk.send(new CreateMultipartUploadCommand(input), { abortSignal: signal }),
    uploadPart: (input, signal) =>
      sdk.send(unsignedPayload(new UploadPartCommand(input)), { abortSignal: signal }),
    completeMultipartUpload: (input, signal) =>
      sdk.send(new CompleteMultipartUploadCommand(input), { abortSignal: signal }),
    abortMultipartUpload: (input) => sdk.send(new AbortMultipartUploadCommand(input)),
    copyObject: (input, signal) => sdk.send(new CopyObjectCommand(input), { abortSignal: signal }),
    uploadPartCopy: (input, signal) =>
      sdk.send(new UploadPartCopyCommand(input), { abortSignal: signal }),
  };
}

/**
 * Signs a request without hashing its body (`x-amz-content-sha256: UNSIGNED-PAYLOAD`). The
 * SDK otherwise computes a SHA-256 of every Buffer body to sign it: a second digest of
 * every byte, where `Content-MD5` already makes the server check them.
 */
function unsignedPayload<C extends UploadPartCommand | PutObjectCommand>(command: C): C {
  // The two commands' stacks differ only in their input and output types.
  (command.middlewareStack as unknown as { add: BuildAdd }).add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers !== undefined) {
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 's3lyncUnsignedPayload' },
  );
  return command;
}

/** The build-step `add` of a command's middleware stack. */
type BuildAdd = (
  middleware: BuildMiddleware<object, object>,
  options: BuildHandlerOptions & AbsoluteLocation,
) => void;
