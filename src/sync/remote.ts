/**
 * S3 → S3: a sync whose "local side" is a second listing. The source's listing is held
 * (in key order) and the destination's is matched against it page by page with
 * {@link TreeMatcher}; each path is decided by {@link decideEntry} (the source in the
 * place of the local side) and a same-size pair by {@link compareObjects}. Copies run on
 * the server within one endpoint and identity, else stream; `mirror`, `maxDelete`,
 * excludes, filters and `dryRun` behave as for local ↔ S3.
 *
 * @packageDocumentation
 */
import pLimit from 'p-limit';

import { sameServer, type CopyResult } from '../client.js';
import { refuseWrites } from '../cache/freshness.js';
import { ConfigError, NotFoundError, OfflineError, S3lyncError } from '../exceptions.js';
import { compareKeys } from '../keys.js';
import { getLogger } from '../logging.js';
import { checkOptions, type KeyRecord } from '../options.js';
import { decideEntry, deleteAction, type RemoteEntry } from '../plan.js';
import { compareObjects } from '../remote-compare.js';
import type {
  SkippedEntry,
  SyncAction,
  SyncFailure,
  SyncResult,
  TransferReason,
} from '../result.js';
import { maxDeleteOf, scopeOf } from '../sync.js';
import { TreeMatcher, type MatchStep } from '../tree-matcher.js';
import { deleteRemote } from './apply.js';
import { openListing } from './listing.js';
import type { Limiter, Scope, SyncOptions, SyncTarget } from './options.js';
import { newResult, report } from './report.js';
import { MAX_QUEUED_TASKS, TaskGroup } from './tasks.js';

const log = getLogger('sync');

/** Options of an S3 → S3 sync ({@link S3Object.syncTo}). */
export interface CopySyncOptions extends Pick<
  SyncOptions,
  'useChecksum' | 'excludes' | 'filters' | 'mirror' | 'maxDelete' | 'dryRun' | 'signal' | 'limiter'
> {
  /**
   * Replaces each copy's parameters (`MetadataDirective: REPLACE`), s3lync's metadata kept;
   * `localPath` is `''` for a function. @default none: the source's are copied
   */
  uploadParams?: SyncOptions['uploadParams'];
  /**
   * Objects larger than this copy in parts: UploadPartCopy on one server, a multipart
   * upload when streaming. @default 5 GiB (S3's CopyObject limit)
   */
  multipartCopyThreshold?: number;
  /**
   * Called for each source path whose destination is proven to hold its bytes after the
   * run: found equal by content, or copied and verified. Not called in a dry run.
   * @default none
   */
  onVerified?: (path: string) => void;
}

/** The keys of {@link CopySyncOptions}. */
const COPY_OPTION_KEYS = Object.freeze({
  useChecksum: true,
  excludes: true,
  filters: true,
  mirror: true,
  maxDelete: true,
  dryRun: true,
  signal: true,
  limiter: true,
  uploadParams: true,
  multipartCopyThreshold: true,
  onVerified: true,
} as const satisfies KeyRecord<keyof CopySyncOptions>);

/** One side of the run: a single object, or a prefix. */
interface Side {
  tree: boolean;
  prefix: string;
}

/** The action of a decided copy, as the result lists it. */
function actionOf(c: Copy): SyncAction {
  return { op: 'copy', path: c.path, key: c.key, size: c.size, reason: c.reason };
}

/** A decided copy. */
type Copy = Extract<SyncAction, { op: 'copy' }> & { source: RemoteEntry };

/**
 * Refuses a copy the cache options rule out, before any request: to a pinned or offline
 * destination, from an offline source, or from a pinned source (a listing names only the
 * latest versions, so the copy would not be of the pinned one).
 */
function refuseCopy(source: SyncTarget, destination: SyncTarget): void {
  refuseWrites(destination.cache, 'syncTo()', destination.uri);
  if (source.cache?.offline === true) {
    throw new OfflineError(`Refusing syncTo() from ${source.uri}: offline, nothing is sent`);
  }
  if (source.cache?.versionId !== undefined) {
    throw new ConfigError(
      `syncTo() from ${source.uri}, pinned to version ${source.cache.versionId}, is not supported: it would copy the latest version`,
    );
  }
}

/** Runs an S3 → S3 sync from `source` to `destination`. */
export async function runCopySync(
  source: SyncTarget,
  destination: SyncTarget,
  options: CopySyncOptions = {},
): Promise<SyncResult> {
  const started = Date.now();
  checkOptions(options, COPY_OPTION_KEYS, 'options of syncTo()');
  refuseCopy(source, destination);
  options.signal?.throwIfAborted();
  const maxDelete = maxDeleteOf(options);
  const failures: SyncFailure[] = [];
  const skipped: SkippedEntry[] = [];
  const scope = scopeOf(source, options, failures, skipped);
  const result = newResult(source, 'upload', options.dryRun ?? false, skipped);
  result.direction = 'copy';
  result.uri = source.uri;
  result.localPath = destination.uri;
  const run = new CopyRun(source, destination, scope, options, result, failures);
  await run.match();
  if (run.deletes.length > maxDelete) {
    throw new S3lyncError(
      `Refusing to mirror ${source.uri} to ${destination.uri}: it would delete ${run.deletes.length} objects, more than maxDelete (${maxDelete}). Nothing was changed.`,
    );
  }
  await run.finish();
  if (run.undecided.length > 0) result.undecided = run.undecided;
  return report(result, {
    started,
    hashed: { files: 0, bytes: 0, unverified: run.unverified },
    failures,
    root: '',
    etag: run.fileEtag,
    deletesHeld: run.deletes.length > 0 && result.deleted === 0,
  });
}

/** The state of one S3 → S3 sync. */
class CopyRun {
  readonly deletes: SyncAction[] = [];
  readonly undecided: string[] = [];
  unverified = 0;
  fileEtag: string | undefined;
  private readonly tasks = new TaskGroup();
  private readonly planned: Copy[] = [];
  private readonly deferred: boolean;
  private readonly limit: Limiter;
  private readonly rule: { useChecksum: boolean; mirror: boolean };
  private readonly server: Promise<boolean>;
  private src: Side = { tree: true, prefix: '' };
  private dst: Side = { tree: true, prefix: '' };

  constructor(
    private readonly source: SyncTarget,
    private readonly destination: SyncTarget,
    private readonly scope: Scope,
    private readonly options: CopySyncOptions,
    private readonly result: SyncResult,
    private readonly failures: SyncFailure[],
  ) {
    this.rule = { useChecksum: options.useChecksum ?? true, mirror: options.mirror ?? false };
    const finite =
      options.maxDelete !== undefined && options.maxDelete !== Number.POSITIVE_INFINITY;
    this.deferred = result.dryRun || (this.rule.mirror && finite);
    this.limit = options.limiter ?? destination.limiter ?? pLimit(destination.maxConcurrency);
    // Unresolvable credentials fail the first request, with the SDK's own message.
    // A copy on the server would need SSE-C keys as copy-source headers, which it does not
    // send: SSE-C objects stream through the client instead, each side with its own key.
    const keyed =
      source.client.customerKey !== undefined || destination.client.customerKey !== undefined;
    this.server = keyed
      ? Promise.resolve(false)
      : sameServer(source.client.sdk, destination.client.sdk).catch(() => false);
  }

  /** Lists both sides, matches and decides; copies start unless deferred. */
  async match(): Promise<void> {
    const { entries, tree } = await this.sourceEntries();
    this.result.tree = tree;
    const paths = entries.map((e) => e.path);
    const matcher = new TreeMatcher({ local: paths, earlyLocalOnly: true });
    const onStep = (step: MatchStep): void => {
      for (const { remote, local } of step.pairs)
        this.decide(remote.path, local < 0 ? undefined : entries[local], remote);
      for (const row of step.localOnly) {
        const e = entries[row];
        if (e !== undefined) this.decide(e.path, e, undefined);
      }
    };
    try {
      for await (const page of await this.destinationPages(entries)) {
        this.scope.signal?.throwIfAborted();
        onStep(matcher.page(page));
        await this.tasks.below(MAX_QUEUED_TASKS);
        if (this.tasks.failed) break;
      }
      if (!this.tasks.failed) onStep(matcher.end());
      await this.tasks.drain();
    } catch (error) {
      await this.tasks.below(0);
      throw error;
    }
  }

  /** The dry run's plan, or the deferred copies, then the mirror's deletions. */
  async finish(): Promise<void> {
    if (this.result.dryRun) {
      this.result.actions.push(...this.planned.map(actionOf), ...this.deletes);
      return;
    }
    for (const c of this.planned.splice(0)) {
      this.start(c);
      await this.tasks.below(MAX_QUEUED_TASKS);
    }
    await this.tasks.drain();
    if (this.deletes.length === 0) return;
    if (this.failures.length > 0) {
      log.warn(
        `not deleting anything under ${this.destination.uri}: ${this.failures.length} files failed`,
      );
      return;
    }
    await deleteRemote(
      this.destination,
      this.deletes,
      this.result,
      this.failures,
      this.scope.signal,
    );
  }

  /** The source's entries in key order: one object (a HEAD), else the listing of a prefix. */
  private async sourceEntries(): Promise<{ entries: RemoteEntry[]; tree: boolean }> {
    const { client, bucket, key } = this.source;
    if (!key.endsWith('/') && key !== '') {
      const head = await client.head(bucket, key, this.scope.signal);
      if (head !== undefined) {
        const name = key.slice(key.lastIndexOf('/') + 1);
        this.src = { tree: false, prefix: key };
        const dstKey = this.destination.key;
        this.dst = {
          tree: false,
          prefix: dstKey.endsWith('/') || dstKey === '' ? `${dstKey}${name}` : dstKey,
        };
        const entry = {
          path: name,
          key,
          size: head.size,
          etag: head.etag,
          fingerprintMd5: head.fingerprintMd5,
          opaqueEtag: head.opaqueEtag,
        };
        return { entries: [entry], tree: false };
      }
    }
    const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
    const listing = await openListing(client, bucket, prefix, this.scope, false);
    const entries: RemoteEntry[] = [];
    for await (const page of listing.pages) entries.push(...page);
    if (!listing.any) {
      throw new NotFoundError(
        `${this.source.uri} does not exist: it is neither an object nor a prefix`,
        {
          operation: 'copy',
          uri: this.source.uri,
        },
      );
    }
    entries.sort((a, b) => compareKeys(a.path, b.path));
    this.src = { tree: true, prefix };
    const dstKey = this.destination.key;
    this.dst = {
      tree: true,
      prefix: dstKey === '' || dstKey.endsWith('/') ? dstKey : `${dstKey}/`,
    };
    // A listing repeats no key; the matcher needs that to be true.
    return {
      entries: entries.filter((e, i) => i === 0 || entries[i - 1]?.path !== e.path),
      tree: true,
    };
  }

  /** The destination's entries page by page (one HEAD for a single object). */
  private async destinationPages(
    entries: RemoteEntry[],
  ): Promise<AsyncIterable<RemoteEntry[]> | Iterable<RemoteEntry[]>> {
    const { client, bucket } = this.destination;
    if (!this.dst.tree) {
      const head = await client.head(bucket, this.dst.prefix, this.scope.signal);
      this.fileEtag = head?.etag;
      const path = entries[0]?.path ?? '';
      return head === undefined
        ? []
        : [
            [
              {
                path,
                key: this.dst.prefix,
                size: head.size,
                etag: head.etag,
                fingerprintMd5: head.fingerprintMd5,
                opaqueEtag: head.opaqueEtag,
              },
            ],
          ];
    }
    return (await openListing(client, bucket, this.dst.prefix, this.scope, false)).pages;
  }

  private keyOf(path: string): string {
    return this.dst.tree ? `${this.dst.prefix}${path}` : this.dst.prefix;
  }

  /** Acts on {@link decideEntry} for one path: the source in the place of the local side. */
  private decide(path: string, src: RemoteEntry | undefined, dst: RemoteEntry | undefined): void {
    const d = decideEntry('upload', dst, src, this.rule);
    if (d.op === 'unchanged') this.result.unchanged++;
    else if (d.op === 'transfer' && src !== undefined) this.copy(d.reason, src);
    else if (d.op === 'delete' && dst !== undefined) {
      this.deletes.push(deleteAction('remote', path, dst.key, dst.size));
    } else if (d.op === 'compare' && src !== undefined && dst !== undefined) {
      this.compare(src, dst);
    }
  }

  /** A same-size pair: the listed ETags decide, else a HEAD of each side for its fingerprint. */
  private compare(src: RemoteEntry, dst: RemoteEntry): void {
    const listed = compareObjects(src, dst);
    if (listed !== 'unknown') {
      this.settle(src, listed === 'equal');
      return;
    }
    const work = async (): Promise<void> => {
      const { signal } = this.scope;
      const [a, b] = await Promise.all([
        this.source.client.head(this.source.bucket, src.key, signal),
        this.destination.client.head(this.destination.bucket, dst.key, signal),
      ]);
      const verdict = a === undefined || b === undefined ? 'unknown' : compareObjects(a, b);
      if (verdict === 'unknown') this.undecided.push(src.path);
      this.settle(src, verdict === 'equal');
    };
    this.tasks.add(
      this.limit(work).catch((error: unknown) => {
        if (this.scope.signal?.aborted) throw this.scope.signal.reason;
        this.failures.push({ path: src.path, error });
      }),
    );
  }

  private settle(src: RemoteEntry, equal: boolean): void {
    if (!equal) {
      this.copy('checksum', src);
      return;
    }
    this.result.unchanged++;
    if (!this.result.dryRun) this.options.onVerified?.(src.path);
  }

  private copy(reason: TransferReason, source: RemoteEntry): void {
    const c: Copy = {
      op: 'copy',
      path: source.path,
      key: this.keyOf(source.path),
      size: source.size,
      reason,
      source,
    };
    if (this.deferred) this.planned.push(c);
    else this.start(c);
  }

  private start(c: Copy): void {
    const run = async (): Promise<void> => {
      this.scope.signal?.throwIfAborted();
      try {
        const out = await this.send(c);
        if (!this.src.tree) this.fileEtag = out.etag;
        if (out.verified) this.options.onVerified?.(c.path);
        else {
          this.unverified++;
          log.warn(
            `copied ${this.destination.describe(c.key)} without verifying it: its ETag proves nothing about the source's bytes`,
          );
        }
        this.result.transferred++;
        this.result.bytes += c.size;
        this.result.actions.push(actionOf(c));
      } catch (error) {
        if (this.scope.signal?.aborted) throw this.scope.signal.reason;
        this.failures.push({ path: c.path, error });
      }
    };
    this.tasks.add(this.limit(run));
  }

  /** One copy: on the server when both sides share it, else streamed. */
  private async send(c: Copy): Promise<CopyResult> {
    const { source, destination, options } = this;
    const from = { bucket: source.bucket, key: c.source.key };
    const to = { bucket: destination.bucket, key: c.key };
    const common = {
      params: options.uploadParams === undefined ? undefined : destination.paramsFor?.(c.key, ''),
      multipartThreshold: options.multipartCopyThreshold,
      partSize: destination.partSize,
      queueSize: Math.max(1, Math.min(4, destination.maxConcurrency)),
      signal: this.scope.signal,
    };
    if (await this.server) {
      return destination.client.copyObject(from, to, { ...common, source: c.source });
    }
    return destination.client.relayFrom(source.client, from, to, common);
  }
}
