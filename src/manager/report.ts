/**
 * What a batch of an `S3ObjectManager` reports: how each object fared, and the totals.
 *
 * @packageDocumentation
 */
import type { S3Object } from '../core.js';
import type { SyncResult } from '../result.js';
import type { BatchOperation } from './state.js';

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

/** The report of a batch started at `started` (ms since the epoch). */
export function batchReport(
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
