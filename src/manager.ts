/**
 * `S3ObjectManager`: many `S3Object`s, batch operations under one concurrency limit, and
 * the state of each object, as a snapshot and as events.
 *
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';

import type { S3Client } from '@aws-sdk/client-s3';
import pLimit, { type LimitFunction } from 'p-limit';

import { createS3Client, timeoutsFor } from './client.js';
import { parsePositiveInt, readEnvConfig } from './config.js';
import { S3Object, type S3ObjectOptions } from './core.js';
import { ConfigError, S3lyncError, SyncError } from './exceptions.js';
import { getLogger } from './logging.js';
import {
  ProgressBar,
  validateProgressMode,
  type ProgressEvent,
  type ProgressMode,
} from './progress.js';
import { resolveRetryConfig } from './retry.js';
import type { SyncOptions } from './sync.js';
import { parseS3Uri } from './utils.js';
import type { Direction, SyncResult } from './result.js';

const log = getLogger('manager');

/** What a batch does to each object. */
export type BatchOperation = 'download' | 'upload' | 'sync' | 'delete' | 'exists';

/** The operations that change an object's state (`exists` only asks). */
export type StatefulOperation = Exclude<BatchOperation, 'exists'>;

/** Where a managed object stands: the `status` of its {@link ObjectState}. */
export type ObjectStatus = 'idle' | 'queued' | 'transferring' | 'synced' | 'failed';

/**
 * The state of one managed object. `idle` until a batch takes it (and again after it is
 * deleted); `queued` while it waits for its turn; `transferring` while its operation runs;
 * then `synced` or `failed`. Dry runs and `existsAll()` leave states alone.
 */
export type ObjectState =
  | { readonly status: 'idle' }
  | { readonly status: 'queued' | 'transferring'; readonly operation: StatefulOperation }
  | {
      readonly status: 'synced';
      /** Which way the last sync went. */
      readonly direction: Direction;
      /** The object's ETag after the last sync (without quotes); `undefined` for a prefix. */
      readonly etag: string | undefined;
      /** When the last sync finished. */
      readonly syncedAt: Date;
    }
  | {
      readonly status: 'failed';
      readonly operation: StatefulOperation;
      /** Why: a `SyncError` listing each failed file, another s3lync error, or the abort reason. */
      readonly error: unknown;
      /** When it failed. */
      readonly failedAt: Date;
    };

/** One object of a manager, as {@link S3ObjectManager.snapshot} shows it. */
export interface ManagedObjectSnapshot {
  /** Its id in the manager. */
  readonly id: string;
  /** Its URI, with the secret key redacted. */
  readonly uri: string;
  /** Its local file or directory. */
  readonly localPath: string;
  /** Which way `syncAll()` syncs it. */
  readonly direction: Direction;
  /** Its state. */
  readonly state: ObjectState;
}

/** The payload of the manager's `state` event. */
export interface StateChange {
  /** The object's id in the manager. */
  readonly id: string;
  /** The object. */
  readonly object: S3Object;
  /** The new state. */
  readonly state: ObjectState;
  /** The state it left. */
  readonly previous: ObjectState;
}

/** The events of {@link S3ObjectManager}. */
export interface S3ObjectManagerEvents {
  /** An object changed state. */
  state: [change: StateChange];
}

/** Options given to every object a manager creates from a URI. */
export type ManagedObjectDefaults = Omit<S3ObjectOptions, 'localPath' | 'limiter'>;

/** Options of {@link S3ObjectManager}. */
export interface S3ObjectManagerOptions {
  /**
   * Files in flight at once across every object of a batch (a large file's parts add at
   * most `maxConcurrency` of its object); also the number of objects listed and planned at
   * once.
   * @default S3LYNC_MAX_WORKERS, else 8
   */
  concurrency?: number;
  /**
   * How batches are shown: `progress` draws one overall bar for the whole batch (plus one
   * per file of 8 MiB or more), falling back to `compact` off a terminal; `compact` prints
   * a line per finished file; `disabled` nothing.
   * @default 'progress'
   */
  progressMode?: ProgressMode;
  /**
   * Options for every object added by URI; the options given to `add()` override them.
   * Objects with the same endpoint, credentials, region, retry policy and timeouts share one SDK
   * client, unless these give a `client`.
   * @default {}
   */
  defaults?: ManagedObjectDefaults;
}

/** Options of {@link S3ObjectManager.add}: those of `S3Object`, plus `id` and `direction`. */
export interface AddOptions extends Omit<S3ObjectOptions, 'limiter'> {
  /** The object's name in snapshots, events and reports. @default its URI, redacted */
  id?: string;
  /** Which way `syncAll()` syncs it. @default 'download' */
  direction?: Direction;
}

/**
 * Options of a batch sync: those of `S3Object.sync()`, applied to every object.
 * `onProgress` receives the events of every file of the batch, with `overall` counting
 * the whole batch; `progressMode` overrides the manager's for this batch.
 */
export type BatchOptions = Omit<SyncOptions, 'limiter'>;

/** Options of {@link S3ObjectManager.deleteAll}. */
export interface DeleteAllOptions {
  /** Also delete each object's local copy. @default false */
  local?: boolean;
  /** Cancels the batch; it rejects with `signal.reason` once every object has settled. @default none */
  signal?: AbortSignal;
}

/** Options of {@link S3ObjectManager.existsAll}. */
export interface ExistsAllOptions {
  /** Cancels the batch; it rejects with `signal.reason` once every object has settled. @default none */
  signal?: AbortSignal;
}

/**
 * How one object fared in a batch: `succeeded` (it did something, or a dry run found
 * something to do), `skipped` (nothing to do: every file unchanged, nothing to delete),
 * `failed`.
 */
export type BatchOutcome = 'succeeded' | 'skipped' | 'failed';

/** One object of a {@link BatchReport}. */
export interface BatchItem {
  /** The object's id in the manager. */
  readonly id: string;
  /** The object. */
  readonly object: S3Object;
  /** How it fared. */
  readonly outcome: BatchOutcome;
  /** For syncs: what was done (for a failed tree, what did succeed), or the plan of a dry run. */
  readonly result?: SyncResult | undefined;
  /** For `deleteAll()`: how many objects were deleted. */
  readonly deleted?: number | undefined;
  /** For `existsAll()`: whether the object or prefix exists. */
  readonly exists?: boolean | undefined;
  /** For a failure: why (a `SyncError` lists each failed file). */
  readonly error?: unknown;
}

/** What a batch did, object by object and in total. */
export interface BatchReport {
  /** The batch operation. */
  readonly operation: BatchOperation;
  /** Whether it was a dry run (nothing changed). */
  readonly dryRun: boolean;
  /** Every object, in the order they were added. */
  readonly items: readonly BatchItem[];
  /** The objects that did something. */
  readonly succeeded: readonly BatchItem[];
  /** The objects with nothing to do. */
  readonly skipped: readonly BatchItem[];
  /** The objects that failed, each with its `error`. */
  readonly failed: readonly BatchItem[];
  /** Files transferred, over every object (`SyncResult.transferred` summed). */
  readonly transferred: number;
  /** Files found unchanged and skipped. */
  readonly unchanged: number;
  /** Files deleted by mirrors, or objects deleted by `deleteAll()`. */
  readonly deleted: number;
  /** Bytes transferred. */
  readonly bytes: number;
  /** Wall time of the batch in ms. */
  readonly durationMs: number;
}

interface Entry {
  readonly id: string;
  readonly object: S3Object;
  readonly direction: Direction;
  state: ObjectState;
}

/** What one object's operation returns to the batch. */
interface Done {
  item: Pick<BatchItem, 'outcome' | 'result' | 'deleted' | 'exists'>;
  /** The state to enter; `undefined` leaves it alone. */
  state: ObjectState | undefined;
}

const IDLE: ObjectState = Object.freeze({ status: 'idle' });

const MANAGER_OPTIONS: readonly string[] = ['concurrency', 'progressMode', 'defaults'];
const DEFAULT_OPTIONS: readonly string[] = [
  'client',
  'excludes',
  'progressMode',
  'retry',
  'timeouts',
  'region',
  'multipartThreshold',
  'partSize',
  'maxConcurrency',
  'hashIndex',
];

/**
 * Many {@link S3Object}s, each with its own local path and options, synced, deleted or
 * checked in batches. A batch bounds the files in flight across all its objects by one
 * limit (`concurrency`), settles every object (a failure does not stop the others), and
 * reports what each did. Objects added by URI share one SDK client per endpoint and
 * credentials.
 *
 * ```ts
 * const manager = new S3ObjectManager({ concurrency: 16 });
 * manager.add('s3://bucket/models/', { localPath: './models' });
 * manager.add('s3://bucket/config.json', { localPath: './config.json' });
 * manager.add('s3://bucket/uploads/', { localPath: './out', direction: 'upload' });
 * manager.on('state', ({ id, state }) => console.log(id, state.status));
 * const report = await manager.syncAll();
 * for (const item of report.failed) console.error(item.id, item.error);
 * ```
 */
export class S3ObjectManager extends EventEmitter<S3ObjectManagerEvents> {
  /** Files in flight at once across a batch, and objects worked on at once. */
  readonly concurrency: number;
  /** How batches are shown unless a call overrides it. */
  readonly progressMode: ProgressMode;
  readonly #defaults: ManagedObjectDefaults;
  readonly #limiter: LimitFunction;
  readonly #entries = new Map<string, Entry>();
  /** SDK clients this manager built, by endpoint, credentials, region, retry policy and timeouts. */
  readonly #clients = new Map<string, S3Client>();
  #running: BatchOperation | undefined;

  /**
   * @throws {ConfigError} naming the option and the value, for an unknown or invalid option.
   */
  constructor(options: S3ObjectManagerOptions = {}) {
    super();
    checkKeys(options, MANAGER_OPTIONS, 'options of S3ObjectManager');
    this.concurrency =
      options.concurrency === undefined
        ? readEnvConfig().maxWorkers
        : parsePositiveInt(options.concurrency, '`concurrency`');
    this.progressMode = validateProgressMode(options.progressMode ?? 'progress');
    const defaults = options.defaults ?? {};
    checkKeys(defaults, DEFAULT_OPTIONS, '`defaults`', {
      localPath: 'every object would share one local path; give `localPath` to add()',
      limiter: 'the manager bounds every object with its own limiter (`concurrency`)',
    });
    if (defaults.maxConcurrency !== undefined) {
      parsePositiveInt(defaults.maxConcurrency, '`defaults.maxConcurrency`');
    }
    if (defaults.progressMode !== undefined) {
      validateProgressMode(defaults.progressMode, 'defaults.progressMode');
    }
    resolveRetryConfig(defaults.retry);
    timeoutsFor(defaults.timeouts, readEnvConfig());
    this.#defaults = { ...defaults };
    this.#limiter = pLimit(this.concurrency);
  }

  /**
   * Adds an object: a URI (built with the manager's `defaults` and a shared client), or an
   * existing `S3Object` (as it is; only `id` and `direction` apply).
   *
   * @returns the object.
   * @throws {InvalidUriError} for a URI s3lync cannot parse.
   * @throws {ConfigError} for an invalid option, or an `id` already in the manager.
   */
  add(target: string | S3Object, options: AddOptions = {}): S3Object {
    const { id: givenId, direction = 'download', ...objectOptions } = options;
    // Checked at run time too, for callers without types.
    const [dir, name]: unknown[] = [direction, givenId];
    if (dir !== 'download' && dir !== 'upload') {
      throw new ConfigError(
        `Expected \`direction\` to be 'download' or 'upload', got ${JSON.stringify(dir)} (${typeof dir})`,
      );
    }
    if (name !== undefined && (typeof name !== 'string' || name === '')) {
      throw new ConfigError(
        `Expected \`id\` to be a non-empty string, got ${JSON.stringify(name)} (${typeof name})`,
      );
    }
    if (givenId !== undefined && this.#entries.has(givenId)) throw duplicate(givenId);
    let object: S3Object;
    const raw: unknown = target;
    if (raw instanceof S3Object) {
      const extra = Object.keys(objectOptions);
      if (extra.length > 0) {
        throw new ConfigError(
          `Options ${extra.map((k) => `\`${k}\``).join(', ')} cannot apply to an existing S3Object; only \`id\` and \`direction\` can`,
        );
      }
      object = raw;
    } else if (typeof raw === 'string') {
      const merged: S3ObjectOptions = { ...this.#defaults, ...objectOptions };
      object = new S3Object(raw, { ...merged, client: merged.client ?? this.#client(raw, merged) });
    } else {
      throw new ConfigError(
        `Expected an s3:// URI or an S3Object, got ${raw === null ? 'null' : typeof raw}`,
      );
    }
    const id = givenId ?? object.uri;
    if (this.#entries.has(id)) throw duplicate(id);
    this.#entries.set(id, { id, object, direction, state: IDLE });
    return object;
  }

  /** The object with this id. */
  get(id: string): S3Object | undefined {
    return this.#entries.get(id)?.object;
  }

  /** Whether an object has this id. */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /**
   * Removes an object from the manager (nothing is deleted).
   *
   * @returns whether it was there.
   * @throws {S3lyncError} while a batch is working on it.
   */
  remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    if (entry.state.status === 'queued' || entry.state.status === 'transferring') {
      throw new S3lyncError(`Cannot remove ${JSON.stringify(id)}: a batch is working on it`);
    }
    return this.#entries.delete(id);
  }

  /** How many objects the manager holds. */
  get size(): number {
    return this.#entries.size;
  }

  /** The ids, in the order the objects were added. */
  ids(): string[] {
    return [...this.#entries.keys()];
  }

  /** The state of one object. */
  state(id: string): ObjectState | undefined {
    return this.#entries.get(id)?.state;
  }

  /** Every object with its state, in the order they were added. */
  snapshot(): ManagedObjectSnapshot[] {
    return [...this.#entries.values()].map((e) => ({
      id: e.id,
      uri: e.object.uri,
      localPath: e.object.localPath,
      direction: e.direction,
      state: e.state,
    }));
  }

  /** Downloads every object (see `S3Object.download()`). */
  downloadAll(options: BatchOptions = {}): Promise<BatchReport> {
    return this.#syncBatch('download', () => 'download', options);
  }

  /** Uploads every object (see `S3Object.upload()`). */
  uploadAll(options: BatchOptions = {}): Promise<BatchReport> {
    return this.#syncBatch('upload', () => 'upload', options);
  }

  /** Syncs every object in its own direction (the `direction` it was added with). */
  syncAll(options: BatchOptions = {}): Promise<BatchReport> {
    return this.#syncBatch('sync', (e) => e.direction, options);
  }

  /** Deletes every object (or every object under each prefix) from S3; see `S3Object.delete()`. */
  deleteAll(options: DeleteAllOptions = {}): Promise<BatchReport> {
    const { signal, local } = options;
    return this.#batch('delete', false, signal, async (entry) => {
      const deleted = await entry.object.delete({
        local: local ?? false,
        ...(signal && { signal }),
      });
      return { item: { outcome: deleted > 0 ? 'succeeded' : 'skipped', deleted }, state: IDLE };
    });
  }

  /** Checks whether each object (or prefix) exists; states are left alone. */
  existsAll(options: ExistsAllOptions = {}): Promise<BatchReport> {
    const { signal } = options;
    return this.#batch('exists', false, signal, async (entry) => {
      const exists = await entry.object.exists(signal ? { signal } : {});
      return { item: { outcome: 'succeeded', exists }, state: undefined };
    });
  }

  /**
   * Destroys the SDK clients the manager built (closing their sockets). Objects already
   * handed out must not be used afterwards.
   */
  destroy(): void {
    for (const client of this.#clients.values()) client.destroy();
    this.#clients.clear();
  }

  /** The shared SDK client for a URI: one per endpoint, credentials, region, retry policy, timeouts. */
  #client(uri: string, options: S3ObjectOptions): S3Client {
    const parsed = parseS3Uri(uri);
    const env = readEnvConfig();
    const region = options.region ?? env.region;
    const retry = resolveRetryConfig(options.retry);
    const timeouts = timeoutsFor(options.timeouts, env);
    const key = JSON.stringify([
      parsed.endpoint ?? '',
      parsed.credentials?.accessKeyId ?? '',
      parsed.credentials?.secretAccessKey ?? '',
      region ?? '',
      retry,
      timeouts,
    ]);
    let client = this.#clients.get(key);
    if (client === undefined) {
      client = createS3Client({
        endpoint: parsed.endpoint,
        credentials: parsed.credentials,
        region,
        retry,
        timeouts,
      });
      this.#clients.set(key, client);
    }
    return client;
  }

  async #syncBatch(
    operation: 'download' | 'upload' | 'sync',
    directionOf: (entry: Entry) => Direction,
    options: BatchOptions,
  ): Promise<BatchReport> {
    const { signal, onProgress, progressMode, ...syncOptions } = options;
    const dryRun = options.dryRun ?? false;
    const count = this.#entries.size;
    const bar = new BatchProgress(
      new ProgressBar({
        mode: validateProgressMode(progressMode ?? this.progressMode),
        onProgress,
        description: `${operation} ${count} object${count === 1 ? '' : 's'}`,
      }),
    );
    try {
      return await this.#batch(operation, dryRun, signal, async (entry) => {
        const direction = directionOf(entry);
        const result = await entry.object.sync(direction, {
          ...syncOptions,
          ...(signal && { signal }),
          progressMode: 'disabled',
          limiter: this.#limiter,
          onProgress: (event) => {
            bar.event(entry.id, event);
          },
        });
        const active = result.dryRun ? result.actions.length : result.transferred + result.deleted;
        return {
          item: { outcome: active > 0 ? 'succeeded' : 'skipped', result },
          state: dryRun
            ? undefined
            : { status: 'synced', direction, etag: result.etag, syncedAt: new Date() },
        };
      });
    } finally {
      bar.close();
    }
  }

  /**
   * Runs `operation` on every object, at most `concurrency` objects at once, settles them
   * all, then reports. An aborted batch rejects with `signal.reason` once all have settled.
   */
  async #batch(
    operation: BatchOperation,
    dryRun: boolean,
    signal: AbortSignal | undefined,
    run: (entry: Entry) => Promise<Done>,
  ): Promise<BatchReport> {
    signal?.throwIfAborted();
    if (this.#running !== undefined) {
      throw new S3lyncError(
        `Cannot start ${operation}: a ${this.#running} batch is still running on this manager`,
      );
    }
    this.#running = operation;
    const started = Date.now();
    try {
      const entries = [...this.#entries.values()];
      const stateful = operation !== 'exists' && !dryRun;
      const before = new Map(entries.map((e) => [e, e.state]));
      if (stateful) {
        for (const entry of entries) this.#setState(entry, { status: 'queued', operation });
      }
      const objects = pLimit(this.concurrency);
      const items = await Promise.all(
        entries.map((entry) =>
          objects(async (): Promise<BatchItem> => {
            const base = { id: entry.id, object: entry.object };
            // Aborted before its turn: it never started, and gets its old state back below.
            if (signal?.aborted === true) {
              return { ...base, outcome: 'failed', error: signal.reason };
            }
            if (stateful) this.#setState(entry, { status: 'transferring', operation });
            try {
              const done = await run(entry);
              if (done.state !== undefined) this.#setState(entry, done.state);
              return { ...base, ...done.item };
            } catch (error) {
              if (stateful) {
                this.#setState(entry, { status: 'failed', operation, error, failedAt: new Date() });
              }
              return {
                ...base,
                outcome: 'failed',
                error,
                ...(error instanceof SyncError && { result: error.result }),
              };
            }
          }),
        ),
      );
      if (signal?.aborted === true) {
        for (const entry of entries) {
          if (entry.state.status === 'queued') this.#setState(entry, before.get(entry) ?? IDLE);
        }
        throw signal.reason;
      }
      return report(operation, dryRun, items, started);
    } finally {
      this.#running = undefined;
    }
  }

  #setState(entry: Entry, state: ObjectState): void {
    const previous = entry.state;
    entry.state = state;
    try {
      this.emit('state', { id: entry.id, object: entry.object, state, previous });
    } catch (error) {
      // A listener's bug must not leave the batch half-done.
      log.error(`a 'state' listener threw for ${entry.id}:`, error);
    }
  }
}

function duplicate(id: string): ConfigError {
  return new ConfigError(
    `An object with id ${JSON.stringify(id)} is already in the manager; pass another \`id\``,
  );
}

function checkKeys(
  options: unknown,
  known: readonly string[],
  what: string,
  refused: Record<string, string> = {},
): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(
      `Expected the ${what} to be an object, got ${JSON.stringify(options)} (${options === null ? 'null' : typeof options})`,
    );
  }
  for (const key of Object.keys(options)) {
    const why = refused[key];
    if (why !== undefined)
      throw new ConfigError(`Unsupported option \`${key}\` in ${what}: ${why}`);
    if (!known.includes(key)) {
      throw new ConfigError(
        `Unknown option \`${key}\` in the ${what}; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`,
      );
    }
  }
}

function report(
  operation: BatchOperation,
  dryRun: boolean,
  items: BatchItem[],
  started: number,
): BatchReport {
  const sum = (count: (item: BatchItem) => number): number =>
    items.reduce((n, item) => n + count(item), 0);
  return {
    operation,
    dryRun,
    items,
    succeeded: items.filter((i) => i.outcome === 'succeeded'),
    skipped: items.filter((i) => i.outcome === 'skipped'),
    failed: items.filter((i) => i.outcome === 'failed'),
    transferred: sum((i) => i.result?.transferred ?? 0),
    unchanged: sum((i) => i.result?.unchanged ?? 0),
    deleted: sum((i) => (i.result?.deleted ?? 0) + (i.deleted ?? 0)),
    bytes: sum((i) => i.result?.bytes ?? 0),
    durationMs: Date.now() - started,
  };
}

/**
 * Feeds the progress events of every object of a batch into one {@link ProgressBar}, so
 * the batch has one overall bar and `onProgress` sees totals over the batch.
 */
class BatchProgress {
  readonly #bar: ProgressBar;
  /** What each object said it would transfer, as far as the bar already expects it. */
  readonly #expected = new Map<string, { files: number; bytes: number }>();
  readonly #files = new Map<
    string,
    { loaded: number; advance: (n: number) => void; finish: () => void }
  >();

  constructor(bar: ProgressBar) {
    this.#bar = bar;
  }

  event(id: string, e: ProgressEvent): void {
    const seen = this.#expected.get(id) ?? { files: 0, bytes: 0 };
    const { filesTotal, bytesTotal } = e.overall;
    if (filesTotal > seen.files || bytesTotal > seen.bytes) {
      this.#bar.expect(filesTotal - seen.files, bytesTotal - seen.bytes);
      this.#expected.set(id, { files: filesTotal, bytes: bytesTotal });
    }
    const key = `${id}\0${e.path}`;
    let file = this.#files.get(key);
    if (file === undefined) {
      const started = this.#bar.start({
        direction: e.direction,
        key: e.key,
        path: e.path,
        size: e.total,
      });
      file = { loaded: 0, ...started };
      this.#files.set(key, file);
    }
    if (e.loaded > file.loaded) {
      file.advance(e.loaded - file.loaded);
      file.loaded = e.loaded;
    }
    if (e.done) {
      file.finish();
      this.#files.delete(key);
    }
  }

  close(): void {
    this.#bar.close();
  }
}
