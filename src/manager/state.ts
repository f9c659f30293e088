/**
 * The state of each object of an `S3ObjectManager`: what it is, and the `state` events
 * that announce its changes.
 *
 * @packageDocumentation
 */
import type { S3Object } from '../core.js';
import type { Direction } from '../result.js';

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

/** One object of a manager, as `S3ObjectManager.snapshot` shows it. */
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

/** The events of `S3ObjectManager`. */
export interface S3ObjectManagerEvents {
  /** An object changed state. */
  state: [change: StateChange];
}

/** One object of a manager, with its state. */
export interface Entry {
  readonly id: string;
  readonly object: S3Object;
  readonly direction: Direction;
  state: ObjectState;
}

/** The state of an object no batch has taken. */
export const IDLE: ObjectState = Object.freeze({ status: 'idle' });

/** What {@link S3ObjectManager.snapshot} shows of an entry. */
export function snapshotOf(entry: Entry): ManagedObjectSnapshot {
  return {
    id: entry.id,
    uri: entry.object.uri,
    localPath: entry.object.localPath,
    direction: entry.direction,
    state: entry.state,
  };
}
