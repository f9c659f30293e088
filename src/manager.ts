/**
 * `S3ObjectManager`: many `S3Object`s, batch operations under one concurrency limit, and
 * the state of each object, as a snapshot and as events.
 *
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';

import pLimit, { type LimitFunction } from 'p-limit';

import { parsePositiveInt, readEnvConfig } from './config.js';
import { S3Object } from './core.js';
import { ConfigError, S3lyncError } from './exceptions.js';
import { getLogger } from './logging.js';
import { runBatch, type Done } from './manager/batch.js';
import { BatchProgress } from './manager/batch-progress.js';
import { ClientPool } from './manager/client-pool.js';
import type { BatchReport } from './manager/report.js';
import {
  IDLE,
  snapshotOf,
  type BatchOperation,
  type Entry,
  type ManagedObjectSnapshot,
  type ObjectState,
  type S3ObjectManagerEvents,
} from './manager/state.js';
import { resolveObjectSettings } from './object-settings.js';
import {
  ADD_OPTION_KEYS,
  BATCH_OPTION_KEYS,
  checkOptions,
  DELETE_ALL_OPTION_KEYS,
  EXISTS_ALL_OPTION_KEYS,
  MANAGED_DEFAULTS_KEYS,
  MANAGER_OPTION_KEYS,
  NOT_MANAGED_DEFAULTS,
  type AddOptions,
  type BatchOptions,
  type DeleteAllOptions,
  type ExistsAllOptions,
  type ManagedObjectDefaults,
  type S3ObjectManagerOptions,
} from './options.js';
import { ProgressBar, validateProgressMode, type ProgressMode } from './progress.js';
import type { Direction } from './result.js';

export type {
  AddOptions,
  BatchOptions,
  DeleteAllOptions,
  ExistsAllOptions,
  ManagedObjectDefaults,
  S3ObjectManagerOptions,
} from './options.js';
export type { BatchItem, BatchOutcome, BatchReport } from './manager/report.js';
export type {
  BatchOperation,
  ManagedObjectSnapshot,
  ObjectState,
  ObjectStatus,
  S3ObjectManagerEvents,
  StateChange,
  StatefulOperation,
} from './manager/state.js';

const log = getLogger('manager');

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
  readonly #clients = new ClientPool();
  #running: BatchOperation | undefined;

  /**
   * @throws {ConfigError} naming the option and the value, for an unknown or invalid option.
   */
  constructor(options: S3ObjectManagerOptions = {}) {
    super();
    checkOptions(options, MANAGER_OPTION_KEYS, 'options of S3ObjectManager');
    const env = readEnvConfig();
    this.concurrency =
      options.concurrency === undefined
        ? env.maxWorkers
        : parsePositiveInt(options.concurrency, '`concurrency`');
    this.progressMode = validateProgressMode(options.progressMode ?? 'progress');
    const defaults = options.defaults ?? {};
    checkOptions(defaults, MANAGED_DEFAULTS_KEYS, '`defaults`', NOT_MANAGED_DEFAULTS);
    // Checked now, by the objects' own rules, rather than at the first add().
    resolveObjectSettings(defaults, env, 'defaults.');
    this.#defaults = { ...defaults };
    this.#limiter = pLimit(this.concurrency);
  }

  /**
   * Adds an object: a URI (built with the manager's `defaults` and a shared client), or an
   * existing `S3Object` (as it is; only `id` and `direction` apply).
   *
   * @returns the object.
   * @throws {InvalidUriError} for a URI s3lync cannot parse.
   * @throws {ConfigError} for an unknown or invalid option, or an `id` already in the manager.
   */
  add(target: string | S3Object, options: AddOptions = {}): S3Object {
    checkOptions(options, ADD_OPTION_KEYS, 'options of add()');
    const { id: givenId, direction = 'download', ...objectOptions } = options;
    checkEntryOptions(direction, givenId);
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
      object = new S3Object(raw, { ...this.#defaults, ...objectOptions }, (connection) =>
        this.#clients.get(connection),
      );
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
    return [...this.#entries.values()].map(snapshotOf);
  }

  /**
   * Downloads every object (see `S3Object.download()`).
   *
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  downloadAll(options: BatchOptions = {}): Promise<BatchReport> {
    return this.#syncBatch('download', () => 'download', options);
  }

  /**
   * Uploads every object (see `S3Object.upload()`).
   *
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  uploadAll(options: BatchOptions = {}): Promise<BatchReport> {
    return this.#syncBatch('upload', () => 'upload', options);
  }

  /**
   * Syncs every object in its own direction (the `direction` it was added with).
   *
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  syncAll(options: BatchOptions = {}): Promise<BatchReport> {
    return this.#syncBatch('sync', (e) => e.direction, options);
  }

  /**
   * Deletes every object (or every object under each prefix) from S3; see `S3Object.delete()`.
   *
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  async deleteAll(options: DeleteAllOptions = {}): Promise<BatchReport> {
    checkOptions(options, DELETE_ALL_OPTION_KEYS, 'options of deleteAll()');
    const { signal, local } = options;
    return this.#batch('delete', false, signal, async (entry) => {
      const deleted = await entry.object.delete({
        local: local ?? false,
        ...(signal && { signal }),
      });
      return { item: { outcome: deleted > 0 ? 'succeeded' : 'skipped', deleted }, state: IDLE };
    });
  }

  /**
   * Checks whether each object (or prefix) exists; states are left alone.
   *
   * @throws {ConfigError} for an unknown option, before anything is sent.
   */
  async existsAll(options: ExistsAllOptions = {}): Promise<BatchReport> {
    checkOptions(options, EXISTS_ALL_OPTION_KEYS, 'options of existsAll()');
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
    this.#clients.destroy();
  }

  async #syncBatch(
    operation: 'download' | 'upload' | 'sync',
    directionOf: (entry: Entry) => Direction,
    options: BatchOptions,
  ): Promise<BatchReport> {
    checkOptions(options, BATCH_OPTION_KEYS, `options of ${operation}All()`);
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
      return await this.#batch(operation, dryRun, signal, async (entry): Promise<Done> => {
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

  /** Runs a batch over every object, one batch at a time (see {@link runBatch}). */
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
    try {
      return await runBatch([...this.#entries.values()], {
        operation,
        dryRun,
        signal,
        concurrency: this.concurrency,
        setState: (entry, state) => {
          this.#setState(entry, state);
        },
        run,
      });
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

/** Checks, at run time too, the options `add()` takes for the entry itself. */
function checkEntryOptions(direction: unknown, id: unknown): void {
  if (direction !== 'download' && direction !== 'upload') {
    throw new ConfigError(
      `Expected \`direction\` to be 'download' or 'upload', got ${JSON.stringify(direction)} (${typeof direction})`,
    );
  }
  if (id !== undefined && (typeof id !== 'string' || id === '')) {
    throw new ConfigError(
      `Expected \`id\` to be a non-empty string, got ${JSON.stringify(id)} (${typeof id})`,
    );
  }
}

function duplicate(id: string): ConfigError {
  return new ConfigError(
    `An object with id ${JSON.stringify(id)} is already in the manager; pass another \`id\``,
  );
}
