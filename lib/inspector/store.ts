/**
 * The capture store: the last {@linkcode MAX_CAPTURES} exchanges, at most
 * {@linkcode MAX_CAPTURE_BYTES} of captured bytes in all (the oldest go
 * first), each with an id; listeners hear of every new one. Adding is O(1)
 * and never waits: when listeners lag, they miss entries, traffic never does.
 */

import type { CaptureSink, Exchange } from "./capture.ts";

/** Exchanges kept. */
export const MAX_CAPTURES = 500;
/** Captured bytes kept in all (heads and bodies). */
export const MAX_CAPTURE_BYTES = 64 * 1024 * 1024;

/** An exchange as stored. */
export interface Capture extends Exchange {
  /** Unique within this client's run: `req_<n>`. */
  id: string;
  /** Set when this exchange was a replay of another. */
  replayOf?: string;
}

/** The store; see the module doc. */
export class CaptureStore implements CaptureSink {
  // Keyed by the id's number: integer keys hash faster than strings.
  #items = new Map<number, Capture>();
  // Oldest first from #head: evicting walks this array, not the Map (a
  // Map's iterator would step over every deleted entry each time).
  #order: Capture[] = [];
  #head = 0;
  #bytes = 0;
  #next = 1;
  #listeners = new Set<(c: Capture, kind: "new" | "closed") => void>();
  #clearListeners = new Set<() => void>();
  /** Exchanges dropped to stay within the limits. */
  dropped = 0;

  /** Stores a finished exchange. */
  exchange(x: Exchange): void {
    const n = this.#next++;
    const c: Capture = Object.assign(x, { id: `req_${n}` });
    this.#items.set(n, c);
    this.#order.push(c);
    this.#bytes += size(c);
    while (
      this.#items.size > MAX_CAPTURES || this.#bytes > MAX_CAPTURE_BYTES
    ) {
      const oldest = this.#order[this.#head++];
      if (!oldest) break;
      this.#items.delete(Number(oldest.id.slice(4)));
      this.#bytes -= size(oldest);
      this.dropped++;
    }
    if (this.#head > 4096) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    for (const l of this.#listeners) l(c, "new");
  }

  /** A WebSocket of a stored exchange closed. */
  upgradedClosed(x: Exchange): void {
    const c = x as Capture;
    if (this.#items.get(Number(c.id.slice(4))) === c) {
      for (const l of this.#listeners) l(c, "closed");
    }
  }

  /** Newest first. */
  list(): Capture[] {
    return this.#order.slice(this.#head).reverse();
  }

  /** One capture. */
  get(id: string): Capture | undefined {
    return /^req_[0-9]+$/.test(id)
      ? this.#items.get(Number(id.slice(4)))
      : undefined;
  }

  /** Forgets every capture. */
  clear(): void {
    for (const l of this.#clearListeners) l();
    this.#items.clear();
    this.#order = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  /** Calls `f` for each new (or closed) capture until the returned function is called. */
  listen(f: (c: Capture, kind: "new" | "closed") => void): () => void {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }

  /** Calls `f` whenever the store is cleared, until the returned function is called. */
  onClear(f: () => void): () => void {
    this.#clearListeners.add(f);
    return () => this.#clearListeners.delete(f);
  }
}

function size(c: Capture): number {
  const q = c.request, r = c.response;
  return 256 + q.rawHead.length + q.rawBody.length +
    (r ? r.rawHead.length + r.rawBody.length : 0);
}
