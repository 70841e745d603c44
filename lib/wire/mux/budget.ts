/**
 * A process-wide budget for bytes that peers make us buffer: what channels
 * received and their readers have not consumed yet. Past the budget,
 * windows stop growing (a stalled reader keeps what it was granted, no
 * more) and the server refuses new public connections with 503 until
 * readers catch up, so many stalled visitors together cannot exhaust memory.
 */

/** Bytes all channels of a process may hold unread before the budget is spent (128 MiB). */
export const DEFAULT_BUFFER_BUDGET = 128 * 1024 * 1024;

/** Counts buffered bytes against a limit; shared by every session of a process. */
export class BufferBudget {
  /** The limit in bytes. */
  limit: number;
  /** Bytes held now. */
  used = 0;

  /** A budget of `limit` bytes. */
  constructor(limit: number = DEFAULT_BUFFER_BUDGET) {
    if (!(limit > 0)) throw new RangeError(`Budget out of range: ${limit}`);
    this.limit = limit;
  }

  /** True once the bytes held reach the limit. */
  get spent(): boolean {
    return this.used >= this.limit;
  }
}

/** The budget sessions use unless given another: one per process. */
export const PROCESS_BUDGET: BufferBudget = new BufferBudget();
