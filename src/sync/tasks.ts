/**
 * Tasks started and not yet settled, counted; the sync waits on them between pages.
 *
 * @packageDocumentation
 */

/** Tasks started but not settled, at most, before the next page of the listing is asked for. */
export const MAX_QUEUED_TASKS = 1000;

/**
 * Promises started and not yet settled, counted rather than kept, so a sync of a million
 * files does not hold a million promises. Tasks report their own per-file failures; what
 * reaches the group (an abort) is kept and thrown by {@link TaskGroup.drain}.
 */
export class TaskGroup {
  private running = 0;
  private waiters: (() => void)[] = [];
  private error: { reason: unknown } | undefined;

  /** Whether a task rejected. */
  get failed(): boolean {
    return this.error !== undefined;
  }

  add(task: Promise<unknown>): void {
    this.running++;
    task.then(
      () => {
        this.settle();
      },
      (reason: unknown) => {
        this.error ??= { reason };
        this.settle();
      },
    );
  }

  /** Waits until at most `n` tasks are running. */
  async below(n: number): Promise<void> {
    while (this.running > n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Waits for every task; rethrows the first rejection. */
  async drain(): Promise<void> {
    await this.below(0);
    if (this.error !== undefined) throw this.error.reason;
  }

  private settle(): void {
    this.running--;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
