/**
 * One sync as it runs: each page of the listing matched against the walk and decided
 * (with {@link decideEntry}, the one rule), each decided transfer scheduled at once or kept
 * for later (a dry run, a finite `maxDelete`), and what happened counted in the result.
 *
 * @packageDocumentation
 */
import pLimit from 'p-limit';

import { HashIndex, indexFileFor } from '../hash-index.js';
import type { LocalRoot } from '../local-root.js';
import type { LocalFile } from '../local-tree.js';
import { getLogger } from '../logging.js';
import {
  contentVerdict,
  decideEntry,
  deleteAction,
  type KnownDigest,
  type RemoteEntry,
} from '../plan.js';
import { TreeMatcher, type MatchedPair, type MatchStep } from '../tree-matcher.js';
import type { ProgressBar } from '../progress.js';
import type { Direction, SyncAction, SyncResult, TransferReason } from '../result.js';
import { usesMultipart } from '../transfer.js';
import {
  deleteLocal,
  deleteRemote,
  downloadOne,
  emptyFileDigest,
  hashLocal,
  progressFor,
  resolveUnknown,
  transferContext,
  uploadOne,
  type FileRun,
} from './apply.js';
import {
  putConditional,
  serverEnforces,
  uploadConditions,
  type UploadConditions,
} from './conditions.js';
import type { Layout } from './layout.js';
import { refusedKey } from './listing.js';
import type { Limiter, SyncInternals, SyncOptions, SyncTarget } from './options.js';
import { paramsCheck, type ParamsCheck } from './params-check.js';
import { MAX_QUEUED_TASKS, TaskGroup } from './tasks.js';
import type { SyncFailure } from '../result.js';

const log = getLogger('sync');

/**
 * Matches every key {@link unsafeKeyReason} refuses (an empty, "." or ".." segment, a
 * leading "/", NUL, a Windows separator or drive), and few others: a cheap first test.
 */
const MAYBE_UNSAFE = /(?:^|\/)\.{0,2}(?:\/|$)|[\0\\:]/;

/** A transfer decided by the plan, with what running it needs. */
interface Transfer {
  action: Extract<SyncAction, { op: 'download' | 'upload' }>;
  /** The local file (uploads). */
  file?: LocalFile | undefined;
  /** Its digest, when known (uploads). */
  digest?: KnownDigest | undefined;
  /** The listed ETag (downloads). */
  etag?: string | undefined;
}

/** The state of one sync between its layout and its report. */
export class SyncRun {
  readonly result: SyncResult;
  readonly failures: SyncFailure[];
  /** Deletions the mirror calls for, applied only after the listing and every transfer. */
  readonly deletes: SyncAction[] = [];
  /** What a single object ends up with: the HEAD's ETag, unless a transfer replaces it. */
  fileEtag: string | undefined;
  readonly files: FileRun;
  private readonly tasks = new TaskGroup();
  /** Deferred transfers in plan order; a slot stays empty until its digest decides it. */
  private readonly planned: (Transfer | undefined)[] = [];
  private readonly deferred: boolean;
  /** What {@link decideEntry} needs to know of the options. */
  private readonly rule: { useChecksum: boolean; mirror: boolean };
  private readonly limit: Limiter;
  private readonly largeLimit: Limiter;
  private readonly progress: ProgressBar | undefined;
  private readonly conditions: UploadConditions;
  private readonly signal: AbortSignal | undefined;
  private readonly onVerified: ((path: string) => void) | undefined;
  /** `compareParams` of an upload: an unchanged file's object is HEADed and compared. */
  private readonly paramsCheck: ParamsCheck | undefined;

  private constructor(
    private readonly target: SyncTarget,
    private readonly direction: Direction,
    private readonly layout: Layout,
    readonly door: LocalRoot,
    index: HashIndex,
    options: SyncOptions & SyncInternals & { maxDelete: number },
    result: SyncResult,
    failures: SyncFailure[],
  ) {
    this.result = result;
    this.failures = failures;
    this.signal = options.signal;
    this.rule = { useChecksum: options.useChecksum ?? true, mirror: options.mirror ?? false };
    // A finite maxDelete promises that a refused mirror changes nothing, so transfers wait
    // until the listing is complete and the deletions are counted.
    this.deferred =
      result.dryRun || (this.rule.mirror && options.maxDelete !== Number.POSITIVE_INFINITY);
    const ctx = transferContext(target, door);
    this.onVerified = result.dryRun ? undefined : options.onVerified;
    this.files = {
      ctx,
      index,
      hashed: { files: 0, bytes: 0, unverified: 0 },
      signal: this.signal,
      unverifiedPaths: this.onVerified === undefined ? undefined : new Set(),
    };
    this.limit = options.limiter ?? target.limiter ?? pLimit(target.maxConcurrency);
    this.largeLimit = pLimit(Math.max(1, Math.floor(target.maxConcurrency / ctx.queueSize)));
    this.progress = result.dryRun ? undefined : progressFor(target, options, direction);
    this.conditions =
      direction === 'upload' ? uploadConditions(target, layout, options.expectedEtag) : {};
    this.fileEtag = layout.head?.etag;
    this.paramsCheck = direction === 'upload' ? paramsCheck(target, this.signal) : undefined;
  }

  /** A run of `layout`, its hash index loaded and kept to the files the walk found. */
  static async open(
    target: SyncTarget,
    direction: Direction,
    layout: Layout,
    door: LocalRoot,
    options: SyncOptions & SyncInternals & { maxDelete: number },
    result: SyncResult,
    failures: SyncFailure[],
  ): Promise<SyncRun> {
    const index =
      target.indexDir === undefined
        ? HashIndex.disabled()
        : await HashIndex.load(indexFileFor(target.indexDir, layout.root));
    index.keepSorted(layout.local.paths);
    return new SyncRun(target, direction, layout, door, index, options, result, failures);
  }

  /**
   * Lists, matches and decides page by page; transfers start as they are decided (unless
   * deferred). Rejects (a failed listing, an abort) only once every task has settled, the
   * index saved, so no temp file or request outlives it; nothing is deleted.
   */
  async matchListing(): Promise<void> {
    const matcher = new TreeMatcher({
      local: this.layout.local.paths,
      conflicts: this.direction === 'download' && this.layout.tree,
      earlyLocalOnly: this.direction === 'upload',
    });
    try {
      for await (const page of this.layout.pages) {
        this.signal?.throwIfAborted();
        this.apply(matcher.page(page));
        await this.tasks.below(MAX_QUEUED_TASKS);
        if (this.tasks.failed) break;
      }
      this.signal?.throwIfAborted();
      if (!this.tasks.failed) this.apply(matcher.end());
      if (!matcher.inOrder) log.debug(`${this.target.uri}: the listing was not in key order`);
      await this.tasks.drain();
    } catch (error) {
      await this.tasks.below(0);
      if (!this.result.dryRun) await this.files.index.save({ prune: false });
      this.progress?.close();
      throw error;
    }
  }

  /**
   * A dry run's plan: the transfers it would make, minus those the real run would refuse
   * (a download through a symbolic link), then the deletions.
   */
  async plan(): Promise<void> {
    for (const t of this.planned) {
      if (t === undefined) continue;
      const refused =
        t.action.op === 'download'
          ? await this.door.checkWritable(t.action.path).catch((error: unknown) => error)
          : undefined;
      if (refused === undefined) this.result.actions.push(t.action);
      else this.failures.push({ path: t.action.path, error: refused });
    }
    this.result.actions.push(...this.deletes);
  }

  /** Runs the transfers kept for after the listing, and waits for every one. */
  async runPlanned(): Promise<void> {
    try {
      for (const t of this.planned) {
        if (t === undefined) continue;
        this.start(t);
        await this.tasks.below(MAX_QUEUED_TASKS);
      }
      this.planned.length = 0;
      await this.tasks.drain();
    } catch (error) {
      await this.tasks.below(0);
      await this.files.index.save({ prune: false });
      throw error;
    } finally {
      this.progress?.close();
    }
  }

  /**
   * A mirror's deletions, only if every transfer succeeded; then the index is saved,
   * pruned to the files of a tree.
   */
  async applyDeletes(): Promise<void> {
    this.signal?.throwIfAborted();
    const { deletes, failures, result, signal } = this;
    if (deletes.length > 0) {
      if (failures.length > 0) {
        log.warn(`not deleting anything under ${this.target.uri}: ${failures.length} files failed`);
      } else if (this.direction === 'download') {
        await deleteLocal(this.door, deletes, this.files.index, result, failures, signal);
      } else {
        await deleteRemote(this.target, deletes, result, failures, signal);
      }
    }
    await this.files.index.save({ prune: this.layout.tree });
  }

  /** Closes the progress display (a run that stops before its transfers). */
  close(): void {
    this.progress?.close();
  }

  private apply(step: MatchStep): void {
    for (const r of step.refused) this.failures.push(refusedKey(this.door, r));
    for (const p of step.pairs) this.onPair(p);
    for (const row of step.localOnly) this.onLocalOnly(row);
  }

  private onPair({ remote, local: row }: MatchedPair): void {
    const rel = remote.path;
    if (this.direction === 'download' && this.layout.tree && MAYBE_UNSAFE.test(rel)) {
      try {
        this.door.resolve(rel);
      } catch (error) {
        this.failures.push({ path: rel, error });
        return;
      }
    }
    const local = row < 0 ? undefined : { path: rel, size: this.layout.local.sizeOf(row) };
    this.decide(rel, remote, local, row);
  }

  private onLocalOnly(row: number): void {
    const rel = this.layout.local.paths[row] ?? '';
    this.decide(rel, undefined, { path: rel, size: this.layout.local.sizeOf(row) }, row);
  }

  /** Acts on {@link decideEntry}'s decision for one path. */
  private decide(
    rel: string,
    remote: RemoteEntry | undefined,
    local: { path: string; size: number } | undefined,
    row: number,
  ): void {
    const d = decideEntry(this.direction, remote, local, this.rule);
    if (d.op === 'unchanged') this.same(rel, remote, row);
    else if (d.op === 'transfer') this.transfer(d.reason, rel, remote, row);
    else if (d.op === 'delete') {
      const size = d.side === 'local' ? (local?.size ?? 0) : (remote?.size ?? 0);
      this.deletes.push(deleteAction(d.side, rel, remote?.key ?? this.keyOf(rel), size));
    } else if (d.op === 'compare' && remote !== undefined) this.compare(rel, remote, row);
  }

  /** A same-size pair: the index decides at once, or hashing (and a HEAD) later. */
  private compare(rel: string, remote: RemoteEntry, row: number): void {
    const file = this.layout.local.file(row);
    const cached = this.files.index.lookup(rel, file);
    let known: KnownDigest | undefined =
      cached === undefined
        ? undefined
        : { size: cached.size, md5: cached.md5, syncedEtag: cached.etag };
    let verdict = known === undefined ? 'unknown' : contentVerdict(known, remote);
    if (verdict === 'unknown' && known?.md5 === undefined) {
      // An empty file is decided here too: its digest needs no read (nor a task).
      const empty = emptyFileDigest(this.files, file, this.layout.local.statedFromNs);
      if (empty !== undefined) {
        known = empty;
        verdict = contentVerdict(empty, remote);
      }
    }
    if (verdict === 'unchanged') {
      this.same(rel, remote, row, true);
      return;
    }
    if (verdict === 'checksum') {
      this.transfer('checksum', rel, remote, row, known);
      return;
    }
    const slot = this.deferred ? this.planned.push(undefined) - 1 : undefined;
    const md5 = known?.md5;
    const size = known?.size ?? 0;
    const work = async (): Promise<void> => {
      // An entry without an MD5 (known by an ETag the listing no longer has) is a miss.
      const digest = md5 !== undefined ? { size, md5 } : await hashLocal(this.files, file);
      let equal = contentVerdict(digest, remote);
      // Only a same-size pair the MD5 and the index cannot decide needs the server's help.
      if (equal === 'unknown') {
        const same = await resolveUnknown(this.files, file, remote, digest);
        if (same) this.files.index.setEtag(rel, digest.md5, remote.etag);
        equal = same ? 'unchanged' : 'checksum';
      }
      if (equal === 'unchanged') await this.checkParams(rel, remote, row, slot, true);
      else this.transfer('checksum', rel, remote, row, digest, slot);
    };
    this.tasks.add(this.limit(work).catch(this.failed(rel)));
  }

  /** What a task of `rel` that failed leaves: a failure of that path, unless aborted. */
  private failed(rel: string): (error: unknown) => void {
    return (error) => {
      if (this.signal?.aborted) throw this.signal.reason;
      this.failures.push({ path: rel, error });
    };
  }

  /** Same bytes (`verified`: by content, not size): unchanged, unless {@link checkParams} differs. */
  private same(rel: string, remote: RemoteEntry | undefined, row: number, verified = false): void {
    if (this.paramsCheck === undefined || remote === undefined) {
      this.kept(rel, verified);
      return;
    }
    const slot = this.deferred ? this.planned.push(undefined) - 1 : undefined;
    const work = (): Promise<void> => this.checkParams(rel, remote, row, slot, verified);
    this.tasks.add(this.limit(work).catch(this.failed(rel)));
  }

  /** With `compareParams`, one HEAD: an object whose parameters differ is sent again. */
  private async checkParams(
    rel: string,
    remote: RemoteEntry,
    row: number,
    slot: number | undefined,
    verified: boolean,
  ): Promise<void> {
    const differs = await this.paramsCheck?.(remote.key, this.door.resolve(rel));
    if (differs === undefined) this.kept(rel, verified);
    else this.transfer('params', rel, remote, row, undefined, slot);
  }

  private kept(rel: string, verified: boolean): void {
    this.result.unchanged++;
    if (verified) this.onVerified?.(rel);
  }

  private keyOf(rel: string): string {
    return this.layout.tree ? `${this.layout.prefix}${rel}` : this.layout.prefix;
  }

  private transfer(
    reason: TransferReason,
    rel: string,
    remote: RemoteEntry | undefined,
    row: number,
    digest?: KnownDigest,
    slot?: number,
  ): void {
    let t: Transfer;
    if (this.direction === 'download' && remote !== undefined) {
      const { key, size, etag } = remote;
      t = { action: { op: 'download', path: rel, key, size, reason }, etag };
    } else {
      const file = this.layout.local.file(row);
      const action = { op: 'upload', path: rel, key: this.keyOf(rel), size: file.size, reason };
      t = { action: action as Transfer['action'], file, digest };
    }
    if (!this.deferred) {
      this.start(t);
      return;
    }
    // A dry run keeps only the action: at a million keys the rest would double the plan.
    const kept = this.result.dryRun ? { action: t.action } : t;
    if (slot === undefined) this.planned.push(kept);
    else this.planned[slot] = kept;
  }

  private start(t: Transfer): void {
    const { action } = t;
    this.progress?.expect(1, action.size);
    const run = async (): Promise<void> => {
      this.signal?.throwIfAborted();
      const file = this.progress?.start({
        direction: action.op,
        key: action.key,
        path: this.door.resolve(action.path),
        size: action.size,
      });
      try {
        const etag = await this.send(t, file?.advance ?? (() => undefined));
        if (!this.layout.tree) this.fileEtag = etag;
        file?.finish();
        this.result.transferred++;
        this.result.bytes += action.size;
        this.result.actions.push(action);
        if (!(this.files.unverifiedPaths?.has(action.path) ?? false))
          this.onVerified?.(action.path);
      } catch (error) {
        if (this.signal?.aborted) throw this.signal.reason;
        this.failures.push({ path: action.path, error });
        log.debug(`failed ${action.op} ${action.path}: ${(error as Error).message}`);
      }
    };
    const large = usesMultipart(this.files.ctx, action.size);
    // Large files wait for the part budget before taking a file slot, so they never hold one idle.
    this.tasks.add(large ? this.largeLimit(() => this.limit(run)) : this.limit(run));
  }

  /** Moves one file; resolves to the ETag the object has afterwards. */
  private async send(t: Transfer, onBytes: (n: number) => void): Promise<string | undefined> {
    const { action } = t;
    if (action.op === 'download') {
      const job = { key: action.key, rel: action.path, size: action.size, etag: t.etag, onBytes };
      return downloadOne(this.files, job);
    }
    const { file } = t;
    if (file === undefined) throw new Error('internal: upload of a file the walk did not find');
    const put = (conditions: UploadConditions): Promise<string | undefined> =>
      uploadOne(this.files, { file, known: t.digest, key: action.key, onBytes, conditions });
    const [enforced, etag] = await Promise.all([
      serverEnforces(this.target, this.conditions),
      putConditional(put, this.target, this.conditions, this.signal),
    ]);
    if (enforced !== undefined) this.result.preconditionEnforced = enforced;
    return etag;
  }
}
