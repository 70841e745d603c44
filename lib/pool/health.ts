/**
 * A pool member's health, on the client: whether its local app answers.
 * A visitor's connection that the app refused marks it down at once; then
 * it probes the app every interval (a TCP connect, or `GET <path>` when a
 * health path is given, which it also probes while up) and marks it up
 * when a probe passes. The client tells the server each change (STATE,
 * PROTOCOL.md §6), and the server sends a member that is down nothing new.
 */

/** Milliseconds between probes of the local app (`--health-interval`). */
export const DEFAULT_HEALTH_INTERVAL = 5_000;
/** Largest status line a health probe reads. */
const MAX_STATUS_LINE = 1024;

/** Options of {@linkcode MemberHealth}. */
export interface HealthOptions {
  /** A new connection to the local app. */
  dial: () => Promise<Deno.TcpConn>;
  /** `GET <path>` must answer 2xx or 3xx; else a connect is enough. */
  path: string | undefined;
  /** The Host header of the probe. */
  host: string;
  /** Milliseconds between probes, and each probe's time limit. */
  interval: number;
  /** The state changed: `up`, and why it is down. */
  changed: (up: boolean, why: string) => void;
}

/** See the module doc. */
export class MemberHealth {
  #o: HealthOptions;
  #up = true;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Starts probing at once when a health path is given. */
  constructor(options: HealthOptions) {
    this.#o = options;
    if (options.path !== undefined) this.#schedule(0);
  }

  /** True while the app answers (as far as known). */
  get up(): boolean {
    return this.#up;
  }

  /** A visitor's connection could not reach the app: down until a probe passes. */
  refused(why: string): void {
    if (!this.#up || this.#closed) return;
    this.#set(false, why);
    if (this.#o.path === undefined) this.#schedule(this.#o.interval);
  }

  /** Stops probing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #set(up: boolean, why: string): void {
    if (up === this.#up) return;
    this.#up = up;
    this.#o.changed(up, why);
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(async () => {
      const failed = await this.#probe();
      if (this.#closed) return;
      this.#set(failed === undefined, failed ?? "");
      // Without a path, probing only brings a down member back.
      if (this.#o.path !== undefined || failed !== undefined) {
        this.#schedule(this.#o.interval);
      }
    }, ms);
  }

  /** One probe: undefined if it passed, else why not. */
  async #probe(): Promise<string | undefined> {
    let conn: Deno.TcpConn | undefined;
    const timer = setTimeout(() => {
      try {
        conn?.close();
      } catch { /* closed */ }
    }, this.#o.interval);
    try {
      conn = await this.#o.dial();
      if (this.#o.path === undefined) return undefined;
      const head = `GET ${this.#o.path} HTTP/1.1\r\nHost: ${this.#o.host}\r\n` +
        "User-Agent: groktunnel-health\r\nConnection: close\r\n\r\n";
      await conn.write(new TextEncoder().encode(head));
      const status = await readStatus(conn);
      return status >= 200 && status < 400
        ? undefined
        : `GET ${this.#o.path} answered ${status}`;
    } catch (err) {
      return (err as Error).message;
    } finally {
      clearTimeout(timer);
      try {
        conn?.close();
      } catch { /* closed by the timer */ }
    }
  }
}

/** The status code of an HTTP/1.x answer on `conn`. */
async function readStatus(conn: Deno.TcpConn): Promise<number> {
  const buf = new Uint8Array(MAX_STATUS_LINE);
  let len = 0;
  for (;;) {
    const m = /^HTTP\/1\.[01] ([0-9]{3})[ \r]/.exec(
      new TextDecoder().decode(buf.subarray(0, len)),
    );
    if (m) return Number(m[1]);
    if (len === buf.length) throw new Error("no HTTP status line");
    const n = await conn.read(buf.subarray(len));
    if (n === null) throw new Error("the app closed the connection");
    len += n;
  }
}
