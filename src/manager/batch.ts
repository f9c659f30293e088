/**
 * How a batch of an `S3ObjectManager` runs: every object settles (a failure does not stop
 * the others), at most `concurrency` at once, each moving through its states.
 *
 * @packageDocumentation
 */
import pLimit from 'p-limit';

import { SyncError } from '../exceptions.js';
import { batchReport, type BatchItem, type BatchReport } from './report.js';
import { IDLE, type BatchOperation, type Entry, type ObjectState } from './state.js';

/** What one object's operation returns to the batch. */
export interface Done {
  readonly item: Pick<BatchItem, 'outcome' | 'result' | 'deleted' | 'exists'>;
  /** The state to enter; `undefined` leaves it alone. */
  readonly state: ObjectState | undefined;
}

/** A batch to run. */
export interface Batch {
  readonly operation: BatchOperation;
  /** A dry run leaves states alone, as `exists` does. */
  readonly dryRun: boolean;
  readonly signal: AbortSignal | undefined;
  /** Objects worked on at once. */
  readonly concurrency: number;
  /** Enters a state and announces it. */
  readonly setState: (entry: Entry, state: ObjectState) => void;
  /** The operation on one object. */
  readonly run: (entry: Entry) => Promise<Done>;
}

/**
 * Runs the batch on every entry, settles them all, then reports. An aborted batch rejects
 * with `signal.reason` once all have settled; the entries that never started get their
 * old state back.
 */
export async function runBatch(entries: readonly Entry[], batch: Batch): Promise<BatchReport> {
  const { operation, dryRun, signal, setState, run } = batch;
  const started = Date.now();
  const stateful = operation !== 'exists' && !dryRun;
  const before = new Map(entries.map((e) => [e, e.state]));
  if (stateful) {
    for (const entry of entries) setState(entry, { status: 'queued', operation });
  }
  const settle = async (entry: Entry): Promise<BatchItem> => {
    const base = { id: entry.id, object: entry.object };
    // Aborted before its turn: it never started, and gets its old state back below.
    if (signal?.aborted === true) return { ...base, outcome: 'failed', error: signal.reason };
    if (stateful) setState(entry, { status: 'transferring', operation });
    try {
      const done = await run(entry);
      if (done.state !== undefined) setState(entry, done.state);
      return { ...base, ...done.item };
    } catch (error) {
      if (stateful) setState(entry, { status: 'failed', operation, error, failedAt: new Date() });
      return {
        ...base,
        outcome: 'failed',
        error,
        ...(error instanceof SyncError && { result: error.result }),
      };
    }
  };
  const objects = pLimit(batch.concurrency);
  const items = await Promise.all(entries.map((entry) => objects(() => settle(entry))));
  if (signal?.aborted === true) {
    for (const entry of entries) {
      if (entry.state.status === 'queued') setState(entry, before.get(entry) ?? IDLE);
    }
    throw signal.reason;
  }
  return batchReport(operation, dryRun, items, started);
}
