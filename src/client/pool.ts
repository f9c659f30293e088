/**
 * A bounded pool of tasks that fail together: the ranges of a ranged GET, the parts of a
 * multipart upload. The first failure stops the others (through {@link TaskPool.signal})
 * and is the one that is thrown, once every task has settled.
 *
 * @packageDocumentation
 */

/** Runs at most `size` tasks at once; the first failure stops them all. */
export class TaskPool {
  /** Aborted by the first failure or by the caller's signal: the tasks' signal. */
  readonly signal: AbortSignal;
  readonly #stop = new AbortController();
  readonly #running = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  /**
   * @param size - tasks in flight at once (at least 1).
   * @param signal - the caller's signal, which also stops the tasks. @default none
   */
  constructor(
    private readonly size: number,
    signal?: AbortSignal,
  ) {
    this.signal = signal ? AbortSignal.any([signal, this.#stop.signal]) : this.#stop.signal;
  }

  /** Whether a task (or the caller, through {@link fail}) has failed. */
  get failed(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Stops the pool; the first `error` is the one {@link settle} throws. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#stop.abort();
  }

  /** Waits until fewer than `size` tasks run; `false` once the pool has failed. */
  async ready(): Promise<boolean> {
    while (this.#running.size >= this.size && !this.failed) await Promise.race(this.#running);
    return !this.failed;
  }

  /** Starts `task` now (after {@link ready}); its failure fails the pool. */
  start(task: () => Promise<void>): void {
    const running: Promise<void> = (async () => {
      await task();
    })()
      .catch((error: unknown) => {
        this.fail(error);
      })
      .finally(() => {
        this.#running.delete(running);
      });
    this.#running.add(running);
  }

  /** Waits for every task to settle, then throws the first failure, if any. */
  async settle(): Promise<void> {
    await Promise.all(this.#running);
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}
