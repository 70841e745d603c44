/**
 * A time limit over a run of reads (a head, a handshake's answer, a hop's
 * line, the drain after an error page): each read races the one timer.
 */

/** What {@linkcode Deadline.read} gives once the time is up. */
export const TIMED_OUT = -1;

/** One timer for many reads; {@linkcode Deadline.clear} it when done. */
export class Deadline {
  #timer: ReturnType<typeof setTimeout>;
  #over: Promise<typeof TIMED_OUT>;

  /** A deadline `ms` from now. */
  constructor(ms: number) {
    let timer!: ReturnType<typeof setTimeout>;
    this.#over = new Promise((r) => timer = setTimeout(() => r(TIMED_OUT), ms));
    this.#timer = timer;
  }

  /**
   * Reads from `conn` into `p`: the count, `null` at EOF, or
   * {@linkcode TIMED_OUT}. A read that fails rejects (a read still pending
   * when time is up may fail later: that is ignored).
   */
  read(
    conn: { read(p: Uint8Array): Promise<number | null> },
    p: Uint8Array,
  ): Promise<number | null> {
    const reading = conn.read(p);
    reading.catch(() => {});
    return Promise.race([reading, this.#over]);
  }

  /** Stops the timer. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
